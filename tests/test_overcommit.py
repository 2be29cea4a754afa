"""Overcommit: __vm_enough_memory modes 0/1/2 with 4.6's formulas, Committed_AS, CommitLimit."""

import errno

import linuxvm as lv
from _vm import P, RW, machine, proc, errno_of
from linuxvm.mm.util import vm_commit_limit
from linuxvm.include.vm_event_item import NR_FREE_PAGES, NR_FILE_PAGES, NR_SHMEM, NR_SLAB_RECLAIMABLE

ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS


def guess_free(m, admin: bool) -> int:
    free = (m.global_page_state(NR_FREE_PAGES) + m.global_page_state(NR_FILE_PAGES)
            - m.global_page_state(NR_SHMEM) + m.global_page_state(NR_SLAB_RECLAIMABLE))
    free -= m.pgdat.totalreserve_pages
    if not admin:
        free -= m.sysctl["vm.admin_reserve_kbytes"] // 4
    return free


def test_guess_mode_boundary_is_this_request_alone():
    m = machine()
    p = proc(m)
    limit = guess_free(m, admin=False)
    # exactly `free - 1` pages pass, `free` pages fail: free > pages
    a = p.mmap(0, (limit - 1) * P, RW, ANON)
    assert errno_of(p.mmap, 0, limit * P, RW, ANON) == errno.ENOMEM
    # earlier commitments do not count in mode 0 (recomputed: the VMA came from SLUB)
    limit2 = guess_free(m, admin=False)
    p.mmap(0, (limit2 - 1) * P, RW, ANON)
    assert m.vm_committed_as == limit - 1 + limit2 - 1
    root = proc(m, uid=0)
    root.mmap(0, (guess_free(m, admin=True) - 1) * P, RW, ANON)   # no admin reserve for root
    m.check()


def test_always_mode_accepts_anything():
    m = machine(sysctl={"vm.overcommit_memory": 1})
    p = proc(m)
    p.mmap(0, 1 << 40, RW, ANON)
    assert m.vm_committed_as == (1 << 40) // P
    m.check()


def test_never_mode_commit_limit():
    m = machine(sysctl={"vm.overcommit_memory": 2})
    p = proc(m)
    allowed = vm_commit_limit(m) - m.sysctl["vm.admin_reserve_kbytes"] // 4
    # total_vm is 0, so the user reserve term is 0: Committed_AS (incl. new) < allowed
    a = p.mmap(0, (allowed - 1) * P, RW, ANON)
    assert errno_of(p.mmap, 0, P, RW, ANON) == errno.ENOMEM
    # MAP_NORESERVE is ignored in mode 2
    assert errno_of(p.mmap, 0, P, RW, ANON | lv.MAP_NORESERVE) == errno.ENOMEM
    p.munmap(a, (allowed - 1) * P)
    assert m.vm_committed_as == 0
    m.check()


def test_never_mode_user_reserve_term():
    m = machine(sysctl={"vm.overcommit_memory": 2})
    p = proc(m)
    big = 64 * 32
    p.mmap(0, big * P, lv.PROT_READ, ANON)           # total_vm = 2048, not accounted
    allowed = (vm_commit_limit(m) - m.sysctl["vm.admin_reserve_kbytes"] // 4
               - min(big // 32, m.sysctl["vm.user_reserve_kbytes"] // 4))
    p.mmap(0, (allowed - 1) * P, RW, ANON)
    assert errno_of(p.mmap, 0, P, RW, ANON) == errno.ENOMEM


def test_ratio_and_kbytes_sysctls_and_meminfo_limit():
    m = machine()
    base = vm_commit_limit(m)
    assert base == m.totalram_pages() * 50 // 100
    m.sysctl["vm.overcommit_kbytes"] = 4096
    assert m.sysctl["vm.overcommit_ratio"] == 0 and vm_commit_limit(m) == 1024
    m.sysctl["vm.overcommit_ratio"] = 50
    assert m.sysctl["vm.overcommit_kbytes"] == 0 and vm_commit_limit(m) == base


def test_brk_and_mprotect_are_charged_in_never_mode():
    m = machine(sysctl={"vm.overcommit_memory": 2})
    p = proc(m)
    s = p.brk(0)
    p.brk(s + 4 * P)
    assert m.vm_committed_as == 4
    a = p.mmap(0, 4 * P, lv.PROT_READ, ANON)
    p.mprotect(a, 4 * P, RW)
    assert m.vm_committed_as == 8
    m.check()
