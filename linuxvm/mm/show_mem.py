"""The memory report printed on allocation failure and OOM: show_free_areas and show_mem
(mm/page_alloc.c show_free_areas, lib/show_mem.c show_mem).

Each function returns the lines; callers write them to the kernel log.
"""

from ..arch.x86.page_types import THREAD_SIZE
from .mmzone import MAX_ORDER, MIGRATE_TYPES, WMARK_MIN, WMARK_LOW, WMARK_HIGH, \
    migratetype_letters
from .util import get_nr_swap_pages
from .vmstat import zone_reclaimable
from ..include.vm_event_item import (NR_FREE_PAGES, NR_PAGES_SCANNED, NR_ACTIVE_ANON, NR_INACTIVE_ANON,
                           NR_ISOLATED_ANON, NR_ACTIVE_FILE, NR_INACTIVE_FILE,
                           NR_ISOLATED_FILE, NR_UNEVICTABLE, NR_FILE_DIRTY, NR_WRITEBACK,
                           NR_UNSTABLE_NFS, NR_SLAB_RECLAIMABLE, NR_SLAB_UNRECLAIMABLE,
                           NR_FILE_MAPPED, NR_SHMEM, NR_PAGETABLE, NR_BOUNCE,
                           NR_FREE_CMA_PAGES, NR_MLOCK, NR_KERNEL_STACK, NR_WRITEBACK_TEMP,
                           NR_FILE_PAGES)



def zone_free_pcp(zone) -> int:
    """Pages on every CPU's pcp lists of ``zone`` (show_free_areas' ``free_pcp``)."""
    return sum(ps.pcp.count for ps in zone.pageset)


def show_free_areas(pgdat) -> list:
    """The lines of show_free_areas: global counters, one summary and one lowmem_reserve
    line per zone, the free blocks per order (``Node 0 DMA: 1*4kB (U) … = 15644kB``),
    hugepages, page cache and swap cache (mm/page_alloc.c)."""
    mm = pgdat.mem_map
    m = pgdat.machine
    zones = [z for z in pgdat.node_zones if z.populated_zone()]

    def gps(item):
        return sum(z.vm_stat[item] for z in pgdat.node_zones)

    free_pcp = sum(zone_free_pcp(z) for z in zones)
    out = [f"active_anon:{gps(NR_ACTIVE_ANON)} inactive_anon:{gps(NR_INACTIVE_ANON)} "
           f"isolated_anon:{gps(NR_ISOLATED_ANON)}",
           f" active_file:{gps(NR_ACTIVE_FILE)} inactive_file:{gps(NR_INACTIVE_FILE)} "
           f"isolated_file:{gps(NR_ISOLATED_FILE)}",
           f" unevictable:{gps(NR_UNEVICTABLE)} dirty:{gps(NR_FILE_DIRTY)} "
           f"writeback:{gps(NR_WRITEBACK)} unstable:{gps(NR_UNSTABLE_NFS)}",
           f" slab_reclaimable:{gps(NR_SLAB_RECLAIMABLE)} "
           f"slab_unreclaimable:{gps(NR_SLAB_UNRECLAIMABLE)}",
           f" mapped:{gps(NR_FILE_MAPPED)} shmem:{gps(NR_SHMEM)} "
           f"pagetables:{gps(NR_PAGETABLE)} bounce:{gps(NR_BOUNCE)}",
           f" free:{gps(NR_FREE_PAGES)} free_pcp:{free_pcp} free_cma:{gps(NR_FREE_CMA_PAGES)}"]
    for zone in zones:
        v = zone.vm_stat
        out.append(
            f"Node 0 {zone.name} free:{v[NR_FREE_PAGES] * 4}kB "
            f"min:{zone.watermark[WMARK_MIN] * 4}kB low:{zone.watermark[WMARK_LOW] * 4}kB "
            f"high:{zone.watermark[WMARK_HIGH] * 4}kB active_anon:{v[NR_ACTIVE_ANON] * 4}kB "
            f"inactive_anon:{v[NR_INACTIVE_ANON] * 4}kB active_file:{v[NR_ACTIVE_FILE] * 4}kB "
            f"inactive_file:{v[NR_INACTIVE_FILE] * 4}kB unevictable:{v[NR_UNEVICTABLE] * 4}kB "
            f"isolated(anon):{v[NR_ISOLATED_ANON] * 4}kB "
            f"isolated(file):{v[NR_ISOLATED_FILE] * 4}kB present:{zone.present_pages * 4}kB "
            f"managed:{zone.managed_pages * 4}kB mlocked:{v[NR_MLOCK] * 4}kB "
            f"dirty:{v[NR_FILE_DIRTY] * 4}kB writeback:{v[NR_WRITEBACK] * 4}kB "
            f"mapped:{v[NR_FILE_MAPPED] * 4}kB shmem:{v[NR_SHMEM] * 4}kB "
            f"slab_reclaimable:{v[NR_SLAB_RECLAIMABLE] * 4}kB "
            f"slab_unreclaimable:{v[NR_SLAB_UNRECLAIMABLE] * 4}kB "
            f"kernel_stack:{v[NR_KERNEL_STACK] * THREAD_SIZE // 1024}kB "
            f"pagetables:{v[NR_PAGETABLE] * 4}kB unstable:{v[NR_UNSTABLE_NFS] * 4}kB "
            f"bounce:{v[NR_BOUNCE] * 4}kB free_pcp:{zone_free_pcp(zone) * 4}kB "
            f"local_pcp:{zone.pageset[m.current_cpu].pcp.count * 4}kB "
            f"free_cma:{v[NR_FREE_CMA_PAGES] * 4}kB writeback_tmp:{v[NR_WRITEBACK_TEMP] * 4}kB "
            f"pages_scanned:{v[NR_PAGES_SCANNED] * 4} "
            f"all_unreclaimable? {'no' if zone_reclaimable(m, zone) else 'yes'}")
        out.append("lowmem_reserve[]:" + "".join(f" {x}" for x in zone.lowmem_reserve))
    for zone in zones:
        parts = []
        total = 0
        for order in range(MAX_ORDER):
            area = zone.free_area[order]
            nr = area.nr_free
            total += nr << order
            types = "".join(migratetype_letters[t] for t in range(MIGRATE_TYPES)
                            if not mm.list_empty(area.free_list[t]))
            parts.append(f"{nr}*{4 << order}kB " + (f"({types}) " if nr else ""))
        out.append(f"Node 0 {zone.name}: " + "".join(parts) + f"= {total * 4}kB")
    # hugetlb_show_meminfo: the default 2 MiB hstate, no pages reserved
    out.append(f"Node 0 hugepages_total={m.hugetlb_total_pages()} hugepages_free=0 "
               f"hugepages_surp=0 hugepages_size=2048kB")
    out.append(f"{gps(NR_FILE_PAGES)} total pagecache pages")
    # show_swap_cache_info
    out.append(f"{m.total_swapcache_pages} pages in swap cache")
    st = m.swap_cache_info
    out.append(f"Swap cache stats: add {st[0]}, delete {st[1]}, find {st[2]}/{st[3]}")
    out.append(f"Free swap  = {get_nr_swap_pages(m) * 4}kB")
    out.append(f"Total swap = {m.total_swap_pages * 4}kB")
    return out


def show_mem(pgdat) -> list:
    """The lines of show_mem: ``Mem-Info:``, show_free_areas and page totals
    (lib/show_mem.c; CONFIG_MEMORY_FAILURE, no CONFIG_CMA)."""
    zones = [z for z in pgdat.node_zones if z.populated_zone()]
    total = sum(z.present_pages for z in zones)
    reserved = sum(z.present_pages - z.managed_pages for z in zones)
    return (["Mem-Info:"] + show_free_areas(pgdat)
            + [f"{total} pages RAM", "0 pages HighMem/MovableOnly",
               f"{reserved} pages reserved",
               f"{getattr(pgdat.machine, 'num_poisoned_pages', 0)} pages hwpoisoned"])
