"""Dirty-memory limits and their sysctls (mm/page-writeback.c).

Only the parts that are observable without a page cache are here: the
``vm.dirty_*`` sysctls and ``global_dirty_limits``, which ``/proc/vmstat``
prints as ``nr_dirty_threshold`` and ``nr_dirty_background_threshold``.
"""

import errno

from ..arch.x86.page_types import PAGE_SIZE
from ..errors import SyscallError
from ..kernel.sysctl import _parse_ints
from .vmstat import global_page_state
from ..include.vm_event_item import NR_FREE_PAGES, NR_INACTIVE_FILE, NR_ACTIVE_FILE

# task flag checked by domain_dirty_limits (include/linux/sched.h)
PF_LESS_THROTTLE = 0x00100000


def _div_round_up(a: int, b: int) -> int:
    return -(-a // b)


def register_sysctls(m) -> None:
    """vm.dirty_ratio, dirty_background_ratio, dirty_bytes, dirty_background_bytes with
    4.6's handlers: setting a ratio clears the matching bytes value and vice versa."""
    s = m.sysctl
    if "vm.dirty_ratio" in s:
        return
    v = s.values

    def int_setter(name, other, only_if_changed):
        # proc_dointvec_minmax: out of [0, 100] is EINVAL; then dirty_ratio_handler
        # clears dirty_bytes when the ratio changed, dirty_background_ratio_handler always
        def set_(value):
            (val,) = _parse_ints(value)[:1]
            if not 0 <= val <= 100:
                raise SyscallError(errno.EINVAL, "write")
            old = v[name]
            v[name] = val
            if not only_if_changed or val != old:
                v[other] = 0
        return set_

    def ulong_setter(name, minimum, other, only_if_changed):
        # proc_doulongvec_minmax skips an out-of-range value silently and succeeds;
        # dirty_bytes_handler clears the ratio when the value changed,
        # dirty_background_bytes_handler after every successful write
        def set_(value):
            (val,) = _parse_ints(value)[:1]
            if val < 0:
                raise SyscallError(errno.EINVAL, "write")
            old = v[name]
            if val >= minimum:
                v[name] = val
            if not only_if_changed or v[name] != old:
                v[other] = 0
        return set_

    for name, default in (("vm.dirty_ratio", 20), ("vm.dirty_background_ratio", 10),
                          ("vm.dirty_bytes", 0), ("vm.dirty_background_bytes", 0)):
        v[name] = default
    s.register("vm.dirty_ratio", lambda: v["vm.dirty_ratio"],
               int_setter("vm.dirty_ratio", "vm.dirty_bytes", True))
    s.register("vm.dirty_background_ratio", lambda: v["vm.dirty_background_ratio"],
               int_setter("vm.dirty_background_ratio", "vm.dirty_background_bytes", False))
    s.register("vm.dirty_bytes", lambda: v["vm.dirty_bytes"],
               ulong_setter("vm.dirty_bytes", 2 * PAGE_SIZE, "vm.dirty_ratio", True))
    s.register("vm.dirty_background_bytes", lambda: v["vm.dirty_background_bytes"],
               ulong_setter("vm.dirty_background_bytes", 1, "vm.dirty_background_ratio",
                            False))


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
    register_sysctls(m)
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
