"""Reading the vmstat counters (include/linux/vmstat.h, mm/vmstat.c).

4.6 (CONFIG_SMP) folds per-CPU differentials into the counters, so a counter can
dip below zero for a moment; every reader clamps it at 0. The model's counters
are exact, but the readers keep the kernel's clamp.
"""

from ..include.vm_event_item import (NR_ACTIVE_FILE, NR_INACTIVE_FILE, NR_ISOLATED_FILE,
                                     NR_ACTIVE_ANON, NR_INACTIVE_ANON, NR_ISOLATED_ANON,
                                     NR_PAGES_SCANNED)
from .mmzone import MAX_ORDER


def zone_page_state(zone, item: int) -> int:
    """A zone counter as /proc shows it: never negative."""
    return max(zone.vm_stat[item], 0)


def global_page_state(m, item: int) -> int:
    """A counter summed over the node's zones (vm_stat[]), never negative."""
    return max(sum(z.vm_stat[item] for z in m.pgdat.node_zones), 0)


def zone_reclaimable_pages(m, zone) -> int:
    """The pages reclaim could free in a zone: the file LRUs, and the anon ones while
    there is swap to put them in (mm/vmscan.c zone_reclaimable_pages; kept beside the
    zone counters so that the allocator's show_free_areas reaches it too)."""
    st = zone.vm_stat
    nr = st[NR_ACTIVE_FILE] + st[NR_INACTIVE_FILE] + st[NR_ISOLATED_FILE]
    if m.nr_swap_pages > 0:
        nr += st[NR_ACTIVE_ANON] + st[NR_INACTIVE_ANON] + st[NR_ISOLATED_ANON]
    return nr


def zone_reclaimable(m, zone) -> bool:
    """Reclaim has not yet scanned the zone's reclaimable pages six times over
    (mm/vmscan.c zone_reclaimable)."""
    return zone.vm_stat[NR_PAGES_SCANNED] < zone_reclaimable_pages(m, zone) * 6


def fill_contig_page_info(zone, suitable_order: int) -> tuple:
    """(free_pages, free_blocks_total, free_blocks_suitable) for ``suitable_order``
    (mm/vmstat.c fill_contig_page_info)."""
    free_pages = free_blocks_total = free_blocks_suitable = 0
    for order in range(MAX_ORDER):
        blocks = zone.free_area[order].nr_free
        free_blocks_total += blocks
        free_pages += blocks << order
        if order >= suitable_order:
            free_blocks_suitable += blocks << (order - suitable_order)
    return free_pages, free_blocks_total, free_blocks_suitable


def __fragmentation_index(order: int, info: tuple) -> int:
    """0 (failure from lack of memory) to 1000 (from fragmentation); -1000 when the
    request would succeed (mm/vmstat.c __fragmentation_index)."""
    free_pages, total, suitable = info
    if not total:
        return 0
    if suitable:
        return -1000
    return 1000 - (1000 + free_pages * 1000 // (1 << order)) // total


def fragmentation_index(zone, order: int) -> int:
    """How far a failure of an order-``order`` request in ``zone`` would be due to
    fragmentation rather than lack of memory (mm/vmstat.c fragmentation_index)."""
    return __fragmentation_index(order, fill_contig_page_info(zone, order))
