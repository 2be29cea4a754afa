"""Zone sizing, struct page initialisation and handing boot memory to the buddy allocator
(mm/page_alloc.c free_area_init_nodes / memmap_init_zone, mm/nobootmem.c free_all_bootmem)."""

import numpy as np

from ..arch.x86.page_types import (PAGE_SHIFT, PAGE_SIZE, MAX_DMA_PFN, MAX_DMA32_PFN,
                                   PAGES_PER_SECTION)
from .gfp import MAX_NR_ZONES
from .mmzone import (MAX_ORDER, MIGRATE_TYPES, MIGRATE_PCPTYPES, MIGRATE_MOVABLE,
                     pageblock_nr_pages, pageblock_order, FreeArea, PerCpuPages,
                     PerCpuPageset, PageblockFlags, migratetype_names)
from .page import MemMap, PG_reserved, ZONES_PGSHIFT
from .page_alloc import BadPageState, RatelimitState
from .page_alloc_init import __free_pages_memory, pageset_set_high_and_batch, zone_batchsize


SECTION_PFN_SHIFT = PAGES_PER_SECTION.bit_length() - 1


def pfn_valid(m, pfn: int) -> bool:
    """Whether ``pfn`` has a struct page: its 128 MiB section holds memory (SPARSEMEM)."""
    return 0 <= pfn < m.max_pfn and bool(m.section_present[pfn >> SECTION_PFN_SHIFT])


def zone_boundaries(max_pfn: int) -> list:
    """arch_zone_{lowest,highest}_possible_pfn for DMA, DMA32, Normal, Movable."""
    return [(0, MAX_DMA_PFN), (MAX_DMA_PFN, MAX_DMA32_PFN), (MAX_DMA32_PFN, max_pfn),
            (max_pfn, max_pfn)]


def free_area_init_nodes(m) -> None:
    """Size the zones, build ``mem_map`` and the free lists (zones start empty)."""
    pgdat = m.pgdat
    mb = m.memblock
    mem = [(b >> PAGE_SHIFT, e >> PAGE_SHIFT) for b, e, _ in mb.memory.regions]
    node_start = (mb.memory.regions[0][0] + PAGE_SIZE - 1) >> PAGE_SHIFT
    node_end = m.max_pfn
    pgdat.node_start_pfn = node_start
    pgdat.node_spanned_pages = node_end - node_start
    # the page allocator's state: the machine's accelerator table (the zones share it),
    # the alloc_context cache, and the report limiters of bad_page, warn_alloc_failed and
    # the WARN_ON_ONCE()s
    pgdat.accel = m.accel
    pgdat.ac_cache = {}
    pgdat.bad_page_state = BadPageState()
    pgdat.nopage_rs = RatelimitState()
    pgdat.page_alloc_warned = set()
    nr_cpus = m.nr_cpus
    nsec = (node_end + PAGES_PER_SECTION - 1) // PAGES_PER_SECTION
    m.section_present = np.zeros(nsec, dtype=bool)
    for b, e in mem:
        m.section_present[b >> SECTION_PFN_SHIFT:((e - 1) >> SECTION_PFN_SHIFT) + 1] = True
    nr_heads = MAX_NR_ZONES * (MAX_ORDER * MIGRATE_TYPES + nr_cpus * MIGRATE_PCPTYPES)
    mm = MemMap(node_end, nr_heads)
    pgdat.mem_map = mm
    pb = PageblockFlags(node_end)
    pgdat.pageblock_flags = pb
    # every frame starts reserved with a reference, as memmap_init_zone and
    # reserve_bootmem_region leave it; free_all_bootmem releases the free ranges
    mm.flags[:] = 1 << PG_reserved
    mm._refcount[:] = 1
    nr_kernel_pages = 0
    for zone, (lo, hi) in zip(pgdat.node_zones, zone_boundaries(node_end)):
        lo = max(lo, node_start)
        hi = min(hi, node_end)
        zone.mem_map = mm
        zone.pb = pb
        zone.accel = m.accel
        zone.zone_start_pfn = lo if hi > lo else 0
        zone.spanned_pages = max(0, hi - lo)
        zone.present_pages = sum(max(0, min(e, hi) - max(b, lo)) for b, e in mem)
        if zone.present_pages:
            memmap_pages = (zone.present_pages * 64 + PAGE_SIZE - 1) >> PAGE_SHIFT
            nr_kernel_pages += zone.present_pages - memmap_pages
        zone.managed_pages = 0
        zone.free_area = []
        for order in range(MAX_ORDER):
            heads = mm.reserve_list_heads(
                [f"{zone.name}.free_area[{order}].free_list[{migratetype_names[t]}]"
                 for t in range(MIGRATE_TYPES)])
            zone.free_area.append(FreeArea(heads))
        zone.pageset = []
        for cpu in range(nr_cpus):
            heads = mm.reserve_list_heads([f"{zone.name}.pageset[{cpu}].lists[{t}]"
                                           for t in range(MIGRATE_PCPTYPES)])
            zone.pageset.append(PerCpuPageset(PerCpuPages(heads)))
        if zone.spanned_pages:
            mm.flags[lo:hi] |= zone.idx << ZONES_PGSHIFT
            # memmap_init_zone marks each pageblock that starts inside the zone MOVABLE
            first_block = (lo + pageblock_nr_pages - 1) >> pageblock_order
            last_block = (hi - 1) >> pageblock_order
            blocks = pb.bits[first_block:last_block + 1]
            valid = m.section_present[(np.arange(first_block, last_block + 1)
                                       << pageblock_order) >> SECTION_PFN_SHIFT]
            blocks[valid] = MIGRATE_MOVABLE
    # frames beyond the node's span (pfn 0 before node_start) keep zone 0 bits
    pgdat.node_present_pages = sum(z.present_pages for z in pgdat.node_zones)
    pgdat.nr_zones = max((z.idx + 1 for z in pgdat.node_zones if z.present_pages), default=0)
    pgdat.zonelist = [z for z in reversed(pgdat.node_zones) if z.present_pages]
    m.nr_kernel_pages = nr_kernel_pages
    m.nr_all_pages = nr_kernel_pages
    for zone in pgdat.node_zones:
        if zone.present_pages:
            m.log.pr_info(f"  {zone.name:<8} zone: {zone.present_pages} pages, LIFO batch:"
                          f"{_batch_estimate(zone)}")


def _batch_estimate(zone) -> int:
    # the boot message uses the estimate managed = present - memmap before bootmem frees
    saved = zone.managed_pages
    zone.managed_pages = zone.present_pages - ((zone.present_pages * 64 + PAGE_SIZE - 1)
                                               >> PAGE_SHIFT)
    b = zone_batchsize(zone)
    zone.managed_pages = saved
    return b


def free_all_bootmem(m) -> int:
    """Release every free memblock range to the buddy allocator; returns pages freed."""
    pgdat = m.pgdat
    total = 0
    for start, end in m.memblock.free_ranges():
        spfn = (start + PAGE_SIZE - 1) >> PAGE_SHIFT
        epfn = min(end >> PAGE_SHIFT, m.max_pfn)
        if spfn < epfn:
            # a range never crosses a zone boundary in a way that matters: blocks are
            # aligned, and zone boundaries (4096, 1<<20) are MAX_ORDER-aligned
            __free_pages_memory(pgdat, spfn, epfn)
            total += epfn - spfn
    return total


def setup_per_cpu_pageset(m) -> None:
    for zone in m.pgdat.node_zones:
        for ps in zone.pageset:
            pageset_set_high_and_batch(zone, ps.pcp, m.sysctl.percpu_pagelist_fraction)
