"""/proc/meminfo (fs/proc/meminfo.c meminfo_proc_show, mm/hugetlb.c hugetlb_report_meminfo,
arch/x86/mm/pageattr.c arch_report_meminfo).

The config is a typical x86-64 distribution kernel's: MMU, no HIGHMEM, no
QUICKLIST, MEMORY_FAILURE, TRANSPARENT_HUGEPAGE, HUGETLB_PAGE, no CMA, and a CPU
with 1 GiB pages (so DirectMap1G is printed).
"""

import sys

import numpy as np

from ...arch.x86.page_types import VMALLOC_START, VMALLOC_END, THREAD_SIZE
from ...mm.page import PG_swapcache, PG_hwpoison
from ...mm.swap import (LRU_INACTIVE_ANON, LRU_ACTIVE_ANON, LRU_INACTIVE_FILE,
                        LRU_ACTIVE_FILE, LRU_UNEVICTABLE, NR_LRU_LISTS)
from ...mm.vmstat import global_page_state
from ...mm.util import vm_commit_limit, get_nr_swap_pages
from ...include.vm_event_item import (NR_FREE_PAGES, NR_FILE_PAGES, NR_LRU_BASE, NR_MLOCK,
                                NR_FILE_DIRTY, NR_WRITEBACK, NR_ANON_PAGES, NR_FILE_MAPPED,
                                NR_SHMEM, NR_SLAB_RECLAIMABLE, NR_SLAB_UNRECLAIMABLE,
                                NR_KERNEL_STACK, NR_PAGETABLE, NR_UNSTABLE_NFS, NR_BOUNCE,
                                NR_WRITEBACK_TEMP, NR_ANON_TRANSPARENT_HUGEPAGES)

HPAGE_PMD_NR = 512
HUGETLB_PAGE_ORDER = 9
VMALLOC_TOTAL = VMALLOC_END - VMALLOC_START
PG_LEVEL_4K, PG_LEVEL_2M, PG_LEVEL_1G = 1, 2, 3


def _flag_count(m, bit: int) -> int:
    """Frames with page flag ``bit`` set, counted on the one byte of each flags word
    that holds it (a byte-strided view is 8 times less work than the u64 words)."""
    byte = bit >> 3 if sys.byteorder == "little" else 7 - (bit >> 3)
    flag_bytes = m.mem_map.flags.view(np.uint8)[byte::8]
    return int(np.count_nonzero(flag_bytes & np.uint8(1 << (bit & 7))))


def total_swapcache_pages(m) -> int:
    """Pages in the swap cache: the frames with PG_swapcache (swapper_spaces' nrpages)."""
    return _flag_count(m, PG_swapcache)


def num_poisoned_pages(m) -> int:
    """Frames marked PG_hwpoison (memory_failure's num_poisoned_pages)."""
    return _flag_count(m, PG_hwpoison)


def nr_blockdev_pages(m) -> int:
    """Pages in the page caches of the block devices' own inodes: /proc/meminfo's Buffers
    (fs/block_dev.c nr_blockdev_pages over all_bdevs)."""
    vfs = getattr(m, "vfs", None)
    if vfs is None:
        return 0
    return sum(bdev.bd_inode.i_mapping.nrpages for bdev in vfs.all_bdevs)


def si_mem_available(m) -> int:
    """Pages a new workload could get without swapping (mm/page_alloc.c)."""
    pages = [global_page_state(m, NR_LRU_BASE + lru) for lru in range(NR_LRU_LISTS)]
    wmark_low = sum(z.watermark[1] for z in m.pgdat.node_zones)
    available = global_page_state(m, NR_FREE_PAGES) - m.pgdat.totalreserve_pages
    pagecache = pages[LRU_ACTIVE_FILE] + pages[LRU_INACTIVE_FILE]
    pagecache -= min(pagecache // 2, wmark_low)
    available += pagecache
    slab = global_page_state(m, NR_SLAB_RECLAIMABLE)
    available += slab - min(slab // 2, wmark_low)
    return max(available, 0)


def meminfo_proc_show(m) -> str:
    def g(item):
        return global_page_state(m, item)

    def K(pages):
        return pages << 2

    bufferram = nr_blockdev_pages(m)
    swapcache = total_swapcache_pages(m)
    cached = max(g(NR_FILE_PAGES) - swapcache - bufferram, 0)
    pages = [g(NR_LRU_BASE + lru) for lru in range(NR_LRU_LISTS)]
    committed = max(m.vm_committed_as, 0)       # percpu_counter_read_positive
    rows = [
        ("MemTotal", K(m.totalram_pages())),
        ("MemFree", K(g(NR_FREE_PAGES))),
        ("MemAvailable", K(si_mem_available(m))),
        ("Buffers", K(bufferram)),
        ("Cached", K(cached)),
        ("SwapCached", K(swapcache)),
        ("Active", K(pages[LRU_ACTIVE_ANON] + pages[LRU_ACTIVE_FILE])),
        ("Inactive", K(pages[LRU_INACTIVE_ANON] + pages[LRU_INACTIVE_FILE])),
        ("Active(anon)", K(pages[LRU_ACTIVE_ANON])),
        ("Inactive(anon)", K(pages[LRU_INACTIVE_ANON])),
        ("Active(file)", K(pages[LRU_ACTIVE_FILE])),
        ("Inactive(file)", K(pages[LRU_INACTIVE_FILE])),
        ("Unevictable", K(pages[LRU_UNEVICTABLE])),
        ("Mlocked", K(g(NR_MLOCK))),
        ("SwapTotal", K(m.total_swap_pages)),
        ("SwapFree", K(get_nr_swap_pages(m))),
        ("Dirty", K(g(NR_FILE_DIRTY))),
        ("Writeback", K(g(NR_WRITEBACK))),
        ("AnonPages", K(g(NR_ANON_PAGES))),
        ("Mapped", K(g(NR_FILE_MAPPED))),
        ("Shmem", K(g(NR_SHMEM))),
        ("Slab", K(g(NR_SLAB_RECLAIMABLE) + g(NR_SLAB_UNRECLAIMABLE))),
        ("SReclaimable", K(g(NR_SLAB_RECLAIMABLE))),
        ("SUnreclaim", K(g(NR_SLAB_UNRECLAIMABLE))),
        # NR_KERNEL_STACK counts stacks, not pages
        ("KernelStack", g(NR_KERNEL_STACK) * THREAD_SIZE // 1024),
        ("PageTables", K(g(NR_PAGETABLE))),
        ("NFS_Unstable", K(g(NR_UNSTABLE_NFS))),
        ("Bounce", K(g(NR_BOUNCE))),
        ("WritebackTmp", K(g(NR_WRITEBACK_TEMP))),
        ("CommitLimit", K(vm_commit_limit(m))),
        ("Committed_AS", K(committed)),
        ("VmallocTotal", VMALLOC_TOTAL >> 10),
        ("VmallocUsed", 0),                   # 4.6 stopped computing vmalloc use
        ("VmallocChunk", 0),
    ]
    out = [f"{name + ':':<16}{value:8d} kB\n" for name, value in rows]
    out.append(f"HardwareCorrupted: {K(num_poisoned_pages(m)):5d} kB\n")
    out.append(f"AnonHugePages:  {K(g(NR_ANON_TRANSPARENT_HUGEPAGES) * HPAGE_PMD_NR):8d} kB\n")
    out.append(hugetlb_report_meminfo(m))
    out.append(arch_report_meminfo(m))
    return "".join(out)


def hugetlb_report_meminfo(m) -> str:
    """The default hstate (2 MiB): the model reserves no hugetlbfs pool, so the pool,
    free, reserved and surplus counts are those of an empty pool."""
    nr_huge_pages = m.hugetlb_total_pages() >> HUGETLB_PAGE_ORDER
    free_huge_pages = resv_huge_pages = surplus_huge_pages = 0
    return (f"HugePages_Total:   {nr_huge_pages:5d}\n"
            f"HugePages_Free:    {free_huge_pages:5d}\n"
            f"HugePages_Rsvd:    {resv_huge_pages:5d}\n"
            f"HugePages_Surp:    {surplus_huge_pages:5d}\n"
            f"Hugepagesize:   {1 << (HUGETLB_PAGE_ORDER + 12 - 10):8d} kB\n")


def arch_report_meminfo(m) -> str:
    """Direct-map coverage by page size, as the paging code counted it."""
    d = m.direct_pages_count
    return (f"DirectMap4k:    {d[PG_LEVEL_4K] << 2:8d} kB\n"
            f"DirectMap2M:    {d[PG_LEVEL_2M] << 11:8d} kB\n"
            + (f"DirectMap1G:    {d[PG_LEVEL_1G] << 20:8d} kB\n"
               if m.direct_gbpages else ""))   # not with nogbpages


def register(procfs):
    m = procfs.m
    procfs.add_text("/proc/meminfo", lambda: meminfo_proc_show(m))
