"""The mm RSS counters (mm/memory.c SPLIT_RSS_COUNTING, include/linux/mm.h): each task
caches its deltas and folds them into its mm now and then."""

from ..mm_types import MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES
from ..page import PAGE_MAPPING_ANON, PG_swapbacked
from ..rmap import rmap_callbacks

TASK_RSS_EVENTS_THRESH = 64


def inc_mm_counter_fast(m, mm, member: int, value: int = 1) -> None:
    """Count in the current task's cache when it owns ``mm``, else in the mm itself
    (add_mm_counter_fast)."""
    task = m.current
    if task is not None and task.mm is mm:
        task.rss_stat.count[member] += value
    else:
        mm.rss_stat[member] += value


def dec_mm_counter_fast(m, mm, member: int) -> None:
    """dec_mm_counter_fast: one page less in ``member``."""
    inc_mm_counter_fast(m, mm, member, -1)


def sync_mm_rss(mm, task) -> None:
    """Fold a task's cached RSS deltas into its mm (mm/memory.c sync_mm_rss)."""
    c = task.rss_stat.count
    for i in range(len(c)):
        if c[i]:
            mm.rss_stat[i] += c[i]
            c[i] = 0
    task.rss_stat.events = 0


def check_sync_rss_stat(m, task) -> None:
    """Fold the current task's cache every TASK_RSS_EVENTS_THRESH faults (check_sync_rss_stat)."""
    if task is None or task is not m.current:
        return
    ev = task.rss_stat.events
    task.rss_stat.events = ev + 1
    if ev > TASK_RSS_EVENTS_THRESH:
        sync_mm_rss(task.mm, task)


def get_mm_counter(mm, member: int) -> int:
    """One RSS counter of ``mm``, never negative (get_mm_counter)."""
    v = mm.rss_stat[member]
    return v if v > 0 else 0       # a lagging cache can drive the mm's value negative


def get_mm_rss(mm) -> int:
    """File, anonymous and shmem pages mapped by ``mm`` (get_mm_rss)."""
    return (get_mm_counter(mm, MM_FILEPAGES) + get_mm_counter(mm, MM_ANONPAGES)
            + get_mm_counter(mm, MM_SHMEMPAGES))


def update_hiwater_rss(mm) -> None:
    """Raise ``mm.hiwater_rss`` to the current RSS (update_hiwater_rss)."""
    rss = get_mm_rss(mm)
    if mm.hiwater_rss < rss:
        mm.hiwater_rss = rss


def mm_counter(m, pfn: int) -> int:
    """The RSS counter a page counts in: anonymous, else shmem for a swap-backed page-cache
    page, else file (include/linux/mm.h mm_counter, mm_counter_file)."""
    if m.mem_map.mapping[pfn] & PAGE_MAPPING_ANON:
        return MM_ANONPAGES
    if m.mem_map.f[pfn] & (1 << PG_swapbacked):
        return MM_SHMEMPAGES
    return MM_FILEPAGES


rmap_callbacks.update_hiwater_rss = update_hiwater_rss
