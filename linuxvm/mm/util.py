"""Overcommit limits and reserves (mm/util.c vm_commit_limit, mm/mmap.c reserves).

The address-space code adds ``__vm_enough_memory`` here.
"""

import errno

from ..errors import SyscallError
from ..include.vm_event_item import NR_FREE_PAGES, NR_FILE_PAGES, NR_SHMEM, NR_SLAB_RECLAIMABLE

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
    def setter(name, other):
        def set_(value):
            from ..kernel.sysctl import _parse_ints
            (v,) = _parse_ints(value)[:1]
            if v < 0:
                raise SyscallError(errno.EINVAL, "write")
            s.values[name] = v
            s.values[other] = 0
        return set_

    set_ratio = setter("vm.overcommit_ratio", "vm.overcommit_kbytes")
    set_kbytes = setter("vm.overcommit_kbytes", "vm.overcommit_ratio")

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


# -- commit accounting (mm/util.c, security/commoncap.c) ----------------------------------

def vm_acct_memory(m, pages: int) -> None:
    m.vm_committed_as += pages


def vm_unacct_memory(m, pages: int) -> None:
    m.vm_committed_as -= pages


def get_nr_swap_pages(m) -> int:
    # free swap pages: swap is not modelled yet, so all of it (0) is free
    return getattr(m, "nr_swap_pages", m.total_swap_pages)


def vm_memory_committed(m) -> int:
    """Committed_AS in pages (the percpu counter's sum)."""
    return m.vm_committed_as


def __vm_enough_memory(m, mm, pages: int, cap_sys_admin: bool) -> int:
    """Charge ``pages`` to Committed_AS if the overcommit policy allows: 0 or -ENOMEM."""
    vm_acct_memory(m, pages)
    s = m.sysctl.values
    mode = s["vm.overcommit_memory"]
    if mode == OVERCOMMIT_ALWAYS:
        return 0
    if mode == OVERCOMMIT_GUESS:
        free = get_nr_swap_pages(m)
        for zone in m.zones:                 # one pass for the four global counters
            vs = zone.vm_stat
            free += vs[NR_FREE_PAGES] + vs[NR_FILE_PAGES] - vs[NR_SHMEM] + \
                vs[NR_SLAB_RECLAIMABLE]
        reserve = m.pgdat.totalreserve_pages
        if free > reserve:
            free -= reserve
            if not cap_sys_admin:
                free -= s["vm.admin_reserve_kbytes"] >> 2
            if free > pages:
                return 0
    else:
        allowed = vm_commit_limit(m)
        if not cap_sys_admin:
            allowed -= s["vm.admin_reserve_kbytes"] >> 2
        if mm is not None:
            allowed -= min(mm.total_vm // 32, s["vm.user_reserve_kbytes"] >> 2)
        if max(m.vm_committed_as, 0) < allowed:
            return 0
    vm_unacct_memory(m, pages)
    return -errno.ENOMEM


def security_vm_enough_memory_mm(m, mm, pages: int) -> int:
    """cap_vm_enough_memory: CAP_SYS_ADMIN decides the admin reserve, then __vm_enough_memory."""
    task = m.current
    cap_sys_admin = task is not None and task.capable("CAP_SYS_ADMIN")
    return __vm_enough_memory(m, mm, pages, cap_sys_admin)
