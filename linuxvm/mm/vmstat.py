"""Reading the vmstat counters (include/linux/vmstat.h, mm/vmstat.c).

4.6 (CONFIG_SMP) folds per-CPU differentials into the counters, so a counter can
dip below zero for a moment; every reader clamps it at 0. The model's counters
are exact, but the readers keep the kernel's clamp.
"""

from ..include.vm_event_item import (NR_ACTIVE_FILE, NR_INACTIVE_FILE, NR_ISOLATED_FILE,
                                     NR_ACTIVE_ANON, NR_INACTIVE_ANON, NR_ISOLATED_ANON,
                                     NR_PAGES_SCANNED)


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
