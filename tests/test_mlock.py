"""mlock family: RLIMIT_MEMLOCK, CAP_IPC_LOCK, MCL_* and MLOCK_ONFAULT."""

import errno

import linuxvm as lv
from _vm import P, RW, BASE, machine, proc, layout, fixed, errno_of
from linuxvm.include import mm as F


def test_mlock_splits_and_munlock_merges():
    #   AAAAAAAA → AALLLLAA → AAAAAAAA   (MLOCK_ONFAULT: nothing is faulted in)
    m = machine()
    p = proc(m)
    fixed(p, 0, 8)
    p.mlock2(BASE + 2 * P + 5, 3 * P, lv.MLOCK_ONFAULT)   # start rounded down, length up
    m.check()
    assert p.mm.map_count == 3 and p.mm.locked_vm == 4
    p.munlock(BASE + 2 * P, 4 * P)
    m.check()
    assert p.mm.map_count == 1 and p.mm.locked_vm == 0


def test_mlock_limits():
    m = machine()
    p = proc(m)
    fixed(p, 0, 20)
    assert errno_of(p.mlock, BASE, 17 * P) == errno.ENOMEM        # 64 KiB = 16 pages
    assert p.mlock(BASE, 16 * P) == 0
    assert errno_of(p.mlock, BASE + 16 * P, P) == errno.ENOMEM
    assert errno_of(p.mlock, BASE + 40 * P, P) == errno.ENOMEM     # unmapped
    assert errno_of(p.mlock2, BASE, P, 2) == errno.EINVAL
    root = proc(m, uid=0)
    root.mmap(BASE, 40 * P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS | lv.MAP_FIXED)
    assert root.mlock(BASE, 40 * P) == 0                           # CAP_IPC_LOCK
    z = proc(m, rlimits={"RLIMIT_MEMLOCK": 0})
    assert errno_of(z.mlock, BASE, P) == errno.EPERM
    assert errno_of(z.mlockall, lv.MCL_CURRENT) == errno.EPERM
    m.check()


def test_mlock2_onfault_and_mlockall():
    m = machine()
    p = proc(m)
    fixed(p, 0, 4)
    p.mlock2(BASE, 2 * P, lv.MLOCK_ONFAULT)
    assert p.mm.mmap.vm_flags & F.VM_LOCKONFAULT
    assert errno_of(p.mlockall, 0) == errno.EINVAL
    assert errno_of(p.mlockall, 8) == errno.EINVAL
    p.munlockall()
    m.check()
    assert p.mm.map_count == 1 and p.mm.locked_vm == 0
    assert p.mlockall(lv.MCL_CURRENT | lv.MCL_FUTURE) == 0
    assert p.mm.locked_vm == 4 and p.mm.def_flags & F.VM_LOCKED
    a = p.mmap(0, P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    assert p.mm.locked_vm == 5
    p.munmap(a, P)
    assert p.mm.locked_vm == 4
    p.munlockall()
    assert p.mm.def_flags == 0 and p.mm.locked_vm == 0
    m.check()


def test_mlockall_current_over_limit_is_enomem():
    m = machine()
    p = proc(m)
    fixed(p, 0, 17)
    assert errno_of(p.mlockall, lv.MCL_CURRENT) == errno.ENOMEM
    assert p.mlockall(lv.MCL_FUTURE) == 0


def test_msync():
    m = machine()
    p = proc(m)
    fixed(p, 0, 4)
    assert p.msync(BASE, 4 * P, lv.MS_SYNC) == 0
    assert errno_of(p.msync, BASE, P, lv.MS_SYNC | lv.MS_ASYNC) == errno.EINVAL
    assert errno_of(p.msync, BASE + 1, P, lv.MS_SYNC) == errno.EINVAL
    assert errno_of(p.msync, BASE, P, 8) == errno.EINVAL
    assert errno_of(p.msync, BASE, 8 * P, lv.MS_ASYNC) == errno.ENOMEM
    p.mlock(BASE, P)
    assert errno_of(p.msync, BASE, P, lv.MS_INVALIDATE) == errno.EBUSY


def test_populated_locked_middle_keeps_its_anon_vma_apart():
    #   AAAAAAAA → AALLLLAA   mlock faults pages 2-5 in: only that VMA gets an anon_vma
    #   AAMMMMAA              munlock: 4.6 does not merge a VMA that has an anon_vma with
    #                         neighbours that have none (is_mergeable_anon_vma)
    m = machine()
    p = proc(m)
    fixed(p, 0, 8)
    p.mlock(BASE + 2 * P, 4 * P)
    m.check()
    p.munlock(BASE + 2 * P, 4 * P)
    m.check()
    assert p.mm.map_count == 3 and p.mm.locked_vm == 0


def test_relocking_an_onfault_range_counts_twice_as_in_46():
    # mlock2(MLOCK_ONFAULT) then mlock(): 4.6's mlock_fixup adds the pages to locked_vm
    # again (fixed in 5.4 by b155b4fde5bd); docs/deviations.md records the difference
    m = machine()
    p = proc(m)
    fixed(p, 0, 4)
    p.mlock2(BASE, 4 * P, lv.MLOCK_ONFAULT)
    p.mlock(BASE, 4 * P)
    m.check()
    assert p.mm.locked_vm == 8
    assert "VmLck:\t      32 kB" in m.proc.read(f"/proc/{p.pid}/status")


def test_mlockall_onfault_alone_unlocks_everything_in_46():
    # 4.6 accepts MCL_ONFAULT without MCL_CURRENT/MCL_FUTURE and, adding nothing, acts
    # like munlockall; later kernels answer EINVAL (see docs/deviations.md)
    m = machine()
    p = proc(m)
    fixed(p, 0, 4)
    p.mlockall(lv.MCL_CURRENT | lv.MCL_FUTURE)
    assert p.mm.locked_vm == 4
    assert p.mlockall(lv.MCL_ONFAULT) == 0
    assert p.mm.locked_vm == 0 and p.mm.def_flags == 0
    m.check()
