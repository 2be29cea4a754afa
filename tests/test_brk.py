"""brk: grow, shrink, the one-page gap rule, limits, [heap]."""

import linuxvm as lv
from _vm import P, RW, machine, proc


def test_brk_grow_shrink_pictures():
    #   start_brk
    #   |H          brk(start+1): one heap page
    #   |HHH        brk(start+3P): the heap VMA grows (merged)
    #   |H          brk(start+P): shrinks by munmap
    m = machine(aslr=False)
    p = proc(m)
    s = p.brk(0)
    assert s == p.mm.start_brk
    assert p.brk(s + 1) == s + 1
    m.check()
    assert p.mm.map_count == 1 and p.mm.total_vm == 1
    assert p.brk(s + 3 * P) == s + 3 * P
    m.check()
    assert p.mm.map_count == 1 and p.mm.total_vm == 3 and m.vm_committed_as == 3
    assert p.brk(s + P) == s + P
    m.check()
    assert p.mm.total_vm == 1 and m.vm_committed_as == 1
    assert "[heap]" in m.proc.read(f"/proc/{p.pid}/maps")


def test_brk_failures_return_the_old_break():
    m = machine(aslr=False)
    p = proc(m)
    s = p.brk(0)
    assert p.brk(s - 1) == s                          # below start_brk
    # a mapping one page above the heap end blocks growth (the extra guard page)
    p.mmap(s + 2 * P, P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS | lv.MAP_FIXED)
    assert p.brk(s + P) == s + P
    assert p.brk(s + 2 * P) == s + P
    m.check()


def test_brk_rlimit_data():
    m = machine()
    p = proc(m, rlimits={"RLIMIT_DATA": 2 * P})
    s = p.brk(0)
    assert p.brk(s + 2 * P) == s + 2 * P
    assert p.brk(s + 3 * P) == s + 2 * P
    m.check()


def test_brk_is_randomised_with_aslr():
    a = proc(machine(seed=3)).mm.start_brk
    b = proc(machine(seed=4)).mm.start_brk
    c = proc(machine(aslr=False)).mm.start_brk
    assert a != b and c == 0x555555554000
    assert a % P == 0


def test_mlockall_future_locks_brk_growth():
    m = machine()
    p = proc(m, uid=0)
    p.mlockall(lv.MCL_FUTURE)
    s = p.brk(0)
    p.brk(s + 2 * P)
    assert p.mm.locked_vm == 2
    m.check()
