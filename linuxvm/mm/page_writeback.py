"""Dirty-memory limits and their sysctls (mm/page-writeback.c).

Only the parts that are observable without a page cache are here:
``global_dirty_limits``, which ``/proc/vmstat`` prints as ``nr_dirty_threshold`` and
``nr_dirty_background_threshold``. The ``vm.dirty_*`` sysctls and their handlers are
rows of kernel/sysctl.py's table.
"""

from ..arch.x86.page_types import PAGE_SIZE
from .vmstat import global_page_state
from ..include.vm_event_item import NR_FREE_PAGES, NR_INACTIVE_FILE, NR_ACTIVE_FILE

# task flag checked by domain_dirty_limits (include/linux/sched.h)
PF_LESS_THROTTLE = 0x00100000


def _div_round_up(a: int, b: int) -> int:
    return -(-a // b)


def global_dirtyable_memory(m) -> int:
    """Free pages above the reserves plus the file LRU pages, at least 1."""
    x = global_page_state(m, NR_FREE_PAGES)
    x -= min(x, m.pgdat.totalreserve_pages)
    x += global_page_state(m, NR_INACTIVE_FILE)
    x += global_page_state(m, NR_ACTIVE_FILE)
    return x + 1         # no highmem on x86-64: nothing to subtract


def global_dirty_limits(m) -> tuple:
    """(background threshold, dirty threshold) in pages (global_dirty_limits and
    domain_dirty_limits for the global domain)."""
    s = m.sysctl
    available = global_dirtyable_memory(m)
    if s["vm.dirty_bytes"]:
        thresh = _div_round_up(s["vm.dirty_bytes"], PAGE_SIZE)
    else:
        thresh = s["vm.dirty_ratio"] * available // 100
    if s["vm.dirty_background_bytes"]:
        bg_thresh = _div_round_up(s["vm.dirty_background_bytes"], PAGE_SIZE)
    else:
        bg_thresh = s["vm.dirty_background_ratio"] * available // 100
    if bg_thresh >= thresh:
        bg_thresh = thresh // 2
    tsk = m.current
    if tsk is not None and (getattr(tsk, "flags", 0) & PF_LESS_THROTTLE
                            or getattr(tsk, "rt_priority", 0) > 0):
        bg_thresh += bg_thresh // 4
        thresh += thresh // 4
    return bg_thresh, thresh
