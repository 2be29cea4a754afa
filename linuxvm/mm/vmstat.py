"""Reading the vmstat counters (include/linux/vmstat.h, mm/vmstat.c).

4.6 (CONFIG_SMP) folds per-CPU differentials into the counters, so a counter can
dip below zero for a moment; every reader clamps it at 0. The model's counters
are exact, but the readers keep the kernel's clamp.
"""


def zone_page_state(zone, item: int) -> int:
    """A zone counter as /proc shows it: never negative."""
    return max(zone.vm_stat[item], 0)


def global_page_state(m, item: int) -> int:
    """A counter summed over the node's zones (vm_stat[]), never negative."""
    return max(sum(z.vm_stat[item] for z in m.pgdat.node_zones), 0)
