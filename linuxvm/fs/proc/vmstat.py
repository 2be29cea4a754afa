"""/proc/buddyinfo, pagetypeinfo, zoneinfo and vmstat, and debugfs extfrag/* (mm/vmstat.c).

Each renderer is a pure function of the machine's state. As in 4.6, the zone
files walk only populated zones (walk_zones_in_node skips empty ones).
"""

from ...mm.mmzone import MAX_ORDER, MIGRATE_TYPES, migratetype_names, pageblock_order, \
    pageblock_nr_pages
from ...mm.page_alloc_init import calculate_normal_threshold
from ...mm.page_writeback import global_dirty_limits
from ...mm.vmstat import (global_page_state, zone_page_state, zone_reclaimable,
                           fill_contig_page_info, __fragmentation_index)
from ...include.vm_event_item import (ZONE_STAT_NAMES, WRITEBACK_STAT_NAMES, VM_EVENT_NAMES,
                                VM_EVENT, NR_VM_ZONE_STAT_ITEMS, NR_FREE_PAGES,
                                NR_PAGES_SCANNED)

EXTFRAG_DIR = "/sys/kernel/debug/extfrag"


def populated_zones(m):
    """The zones walk_zones_in_node visits: the node's populated zones, in index order."""
    return [z for z in m.pgdat.node_zones if z.populated_zone()]


# --- /proc/buddyinfo ---------------------------------------------------------------

def frag_show(m) -> str:
    """One line per populated zone: nr_free at each order (frag_show_print)."""
    nid = m.pgdat.node_id
    return "".join(f"Node {nid}, zone {z.name:>8} "
                   + "".join(f"{z.free_area[o].nr_free:6d} " for o in range(MAX_ORDER)) + "\n"
                   for z in populated_zones(m))


# --- /proc/pagetypeinfo ------------------------------------------------------------

def pagetypeinfo_showfree(m) -> str:
    """Blocks on each free list, counted by walking the list (pagetypeinfo_showfree)."""
    mm = m.mem_map
    nid = m.pgdat.node_id
    out = [f"{'Free pages count per migrate type at order':<43} "
           + "".join(f"{o:6d} " for o in range(MAX_ORDER)) + "\n"]
    for z in populated_zones(m):
        for mt in range(MIGRATE_TYPES):
            counts = "".join(f"{mm.list_count(z.free_area[o].free_list[mt]):6d} "
                             for o in range(MAX_ORDER))
            out.append(f"Node {nid:4d}, zone {z.name:>8}, type {migratetype_names[mt]:>12} "
                       f"{counts}\n")
    return "".join(out)


def pageblock_type_counts(m, zone) -> list:
    """Pageblocks of each migratetype whose first frame is valid, in [start, end) steps
    of pageblock_nr_pages from zone_start_pfn (pagetypeinfo_showblockcount_print)."""
    count = [0] * MIGRATE_TYPES
    pb = zone.pb
    for pfn in range(zone.zone_start_pfn, zone.zone_end_pfn, pageblock_nr_pages):
        if not m.pfn_valid(pfn):
            continue
        mt = pb.get_pageblock_migratetype(pfn)
        if mt < MIGRATE_TYPES:
            count[mt] += 1
    return count


def pagetypeinfo_showblockcount(m) -> str:
    nid = m.pgdat.node_id
    out = [f"\n{'Number of blocks type ':<23}"
           + "".join(f"{name:>12} " for name in migratetype_names) + "\n"]
    for z in populated_zones(m):
        out.append(f"Node {nid}, zone {z.name:>8} "
                   + "".join(f"{c:12d} " for c in pageblock_type_counts(m, z)) + "\n")
    return "".join(out)


def pagetypeinfo_show(m) -> str:
    """The whole file; the "mixed blocks" section needs CONFIG_PAGE_OWNER's page_owner
    to be enabled at boot, which a typical kernel leaves off, so it is not printed."""
    if not populated_zones(m):
        return ""                        # memoryless node
    return (f"Page block order: {pageblock_order}\n"
            f"Pages per block:  {pageblock_nr_pages}\n\n"
            + pagetypeinfo_showfree(m) + pagetypeinfo_showblockcount(m))


# --- /proc/zoneinfo ----------------------------------------------------------------

def zoneinfo_show_print(m, zone) -> str:
    out = [f"Node {m.pgdat.node_id}, zone {zone.name:>8}"
           f"\n  pages free     {zone_page_state(zone, NR_FREE_PAGES)}"
           f"\n        min      {zone.watermark[0]}"
           f"\n        low      {zone.watermark[1]}"
           f"\n        high     {zone.watermark[2]}"
           f"\n        scanned  {zone_page_state(zone, NR_PAGES_SCANNED)}"
           f"\n        spanned  {zone.spanned_pages}"
           f"\n        present  {zone.present_pages}"
           f"\n        managed  {zone.managed_pages}"]
    for i in range(NR_VM_ZONE_STAT_ITEMS):
        out.append(f"\n    {ZONE_STAT_NAMES[i]:<12} {zone_page_state(zone, i)}")
    out.append("\n        protection: (" + ", ".join(str(r) for r in zone.lowmem_reserve)
               + ")\n  pagesets")
    # refresh_zone_stat_thresholds gives every online CPU the same threshold
    threshold = calculate_normal_threshold(zone, m.nr_cpus)
    for cpu, ps in enumerate(zone.pageset):
        pcp = ps.pcp
        out.append(f"\n    cpu: {cpu}"
                   f"\n              count: {pcp.count}"
                   f"\n              high:  {pcp.high}"
                   f"\n              batch: {pcp.batch}"
                   f"\n  vm stats threshold: {threshold}")
    out.append(f"\n  all_unreclaimable: {int(not zone_reclaimable(m, zone))}"
               f"\n  start_pfn:         {zone.zone_start_pfn}"
               f"\n  inactive_ratio:    {zone.inactive_ratio}\n")
    return "".join(out)


def zoneinfo_show(m) -> str:
    return "".join(zoneinfo_show_print(m, z) for z in populated_zones(m))


# --- /proc/vmstat ------------------------------------------------------------------

def vmstat_values(m) -> list:
    """(name, value) for every line, in vmstat_text order (vmstat_start)."""
    zone_stats = [global_page_state(m, i) for i in range(NR_VM_ZONE_STAT_ITEMS)]
    bg_thresh, thresh = global_dirty_limits(m)
    events = list(m.pgdat.vm_events)
    # the counters are kept in 512-byte sectors; /proc/vmstat shows kbytes
    events[VM_EVENT["pgpgin"]] //= 2
    events[VM_EVENT["pgpgout"]] //= 2
    values = zone_stats + [thresh, bg_thresh] + events
    names = ZONE_STAT_NAMES + WRITEBACK_STAT_NAMES + VM_EVENT_NAMES
    return list(zip(names, values))


def vmstat_show(m) -> str:
    return "".join(f"{name} {value}\n" for name, value in vmstat_values(m))


# --- debugfs extfrag/unusable_index and extfrag_index --------------------------------

def unusable_free_index(order: int, info: tuple) -> int:
    """Thousandths of the free memory that cannot serve an order-``order`` request."""
    free_pages, _, suitable = info
    if free_pages == 0:
        return 1000
    return (free_pages - (suitable << order)) * 1000 // free_pages


def _c_div_mod(a: int, b: int) -> tuple:
    """C's truncating ``a / b`` and ``a % b``."""
    q = abs(a) // b * (1 if a >= 0 else -1)
    return q, a - q * b


def _frag_line(m, zone, index_fn) -> str:
    parts = []
    for order in range(MAX_ORDER):
        q, r = _c_div_mod(index_fn(order, fill_contig_page_info(zone, order)), 1000)
        parts.append(f"{q}.{r:03d} ")
    return f"Node {m.pgdat.node_id}, zone {zone.name:>8} " + "".join(parts) + "\n"


def unusable_show(m) -> str:
    return "".join(_frag_line(m, z, unusable_free_index) for z in populated_zones(m))


def extfrag_show(m) -> str:
    return "".join(_frag_line(m, z, __fragmentation_index) for z in populated_zones(m))


def register(procfs):
    m = procfs.m
    procfs.add_text("/proc/buddyinfo", lambda: frag_show(m))
    procfs.add_text("/proc/pagetypeinfo", lambda: pagetypeinfo_show(m))
    procfs.add_text("/proc/zoneinfo", lambda: zoneinfo_show(m))
    procfs.add_text("/proc/vmstat", lambda: vmstat_show(m))
    procfs.add_text(f"{EXTFRAG_DIR}/unusable_index", lambda: unusable_show(m))
    procfs.add_text(f"{EXTFRAG_DIR}/extfrag_index", lambda: extfrag_show(m))
