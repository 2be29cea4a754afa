"""Overcommit limits and reserves (mm/util.c vm_commit_limit, mm/mmap.c reserves).

The address-space code adds ``__vm_enough_memory`` here.
"""

import errno

from ..errors import SyscallError

OVERCOMMIT_GUESS = 0
OVERCOMMIT_ALWAYS = 1
OVERCOMMIT_NEVER = 2


def register_sysctls(m) -> None:
    """vm.overcommit_* and the admin/user reserves (kernel/sysctl.c vm_table)."""
    s = m.sysctl
    s.register_int("vm.overcommit_memory", OVERCOMMIT_GUESS, 0, 2)
    s.register_int("vm.overcommit_ratio", 50)
    s.values["vm.overcommit_kbytes"] = 0

    # overcommit_ratio_handler / overcommit_kbytes_handler: setting one clears the other
    def set_ratio(value):
        from ..kernel.sysctl import _parse_ints
        (v,) = _parse_ints(value)[:1]
        if v < 0:
            raise SyscallError(errno.EINVAL, "write")
        s.values["vm.overcommit_ratio"] = v
        s.values["vm.overcommit_kbytes"] = 0

    def set_kbytes(value):
        from ..kernel.sysctl import _parse_ints
        (v,) = _parse_ints(value)[:1]
        if v < 0:
            raise SyscallError(errno.EINVAL, "write")
        s.values["vm.overcommit_kbytes"] = v
        if v:
            s.values["vm.overcommit_ratio"] = 0

    s.register("vm.overcommit_ratio", lambda: s.values["vm.overcommit_ratio"], set_ratio)
    s.register("vm.overcommit_kbytes", lambda: s.values["vm.overcommit_kbytes"], set_kbytes)
    free_kbytes = m.nr_free_pages() * 4
    s.register_int("vm.user_reserve_kbytes", min(free_kbytes // 32, 1 << 17), 0)
    s.register_int("vm.admin_reserve_kbytes", min(free_kbytes // 32, 1 << 13), 0)


def vm_commit_limit(m) -> int:
    """CommitLimit in pages: ratio (or kbytes) of RAM plus swap."""
    s = m.sysctl
    if s["vm.overcommit_kbytes"]:
        allowed = s["vm.overcommit_kbytes"] >> 2
    else:
        allowed = (m.totalram_pages() - m.hugetlb_total_pages()) * s["vm.overcommit_ratio"] // 100
    return allowed + m.total_swap_pages
