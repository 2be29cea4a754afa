"""Overcommit limits and reserves (mm/util.c vm_commit_limit, mm/mmap.c reserves).

The ``vm.overcommit_*`` and reserve sysctls are rows of kernel/sysctl.py's table; the
reserves' boot-time defaults are computed here.

The address-space code adds ``__vm_enough_memory`` here.
"""

import errno

from ..include.vm_event_item import NR_FREE_PAGES, NR_FILE_PAGES, NR_SHMEM, NR_SLAB_RECLAIMABLE

OVERCOMMIT_GUESS = 0
OVERCOMMIT_ALWAYS = 1
OVERCOMMIT_NEVER = 2


def init_user_reserve(m) -> None:
    """vm.user_reserve_kbytes at boot: 3% of free memory, at most 128 MiB
    (mm/mmap.c init_user_reserve)."""
    free_kbytes = m.nr_free_pages() * 4
    m.sysctl.values["vm.user_reserve_kbytes"] = min(free_kbytes // 32, 1 << 17)


def init_admin_reserve(m) -> None:
    """vm.admin_reserve_kbytes at boot: 3% of free memory, at most 8 MiB
    (mm/mmap.c init_admin_reserve)."""
    free_kbytes = m.nr_free_pages() * 4
    m.sysctl.values["vm.admin_reserve_kbytes"] = min(free_kbytes // 32, 1 << 13)


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
    # free swap pages, as __vm_enough_memory's guess counts them
    return m.nr_swap_pages


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
