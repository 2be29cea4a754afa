"""madvise: flag advice splits/merges VMAs; range advice; the errno paths."""

import errno

import pytest

import linuxvm as lv
from _vm import P, RW, R, BASE, machine, proc, layout, fixed, errno_of
from linuxvm.include import mm as F

FLAG_ADVICE = [
    (lv.MADV_RANDOM, F.VM_RAND_READ), (lv.MADV_SEQUENTIAL, F.VM_SEQ_READ),
    (lv.MADV_DONTFORK, F.VM_DONTCOPY), (lv.MADV_DONTDUMP, F.VM_DONTDUMP),
    (lv.MADV_HUGEPAGE, F.VM_HUGEPAGE), (lv.MADV_NOHUGEPAGE, F.VM_NOHUGEPAGE),
    (lv.MADV_MERGEABLE, F.VM_MERGEABLE),
]
UNDO = {lv.MADV_RANDOM: lv.MADV_NORMAL, lv.MADV_SEQUENTIAL: lv.MADV_NORMAL,
        lv.MADV_DONTFORK: lv.MADV_DOFORK, lv.MADV_DONTDUMP: lv.MADV_DODUMP,
        lv.MADV_HUGEPAGE: lv.MADV_NOHUGEPAGE, lv.MADV_MERGEABLE: lv.MADV_UNMERGEABLE}


@pytest.mark.parametrize("advice,flag", FLAG_ADVICE)
def test_flag_advice_splits_and_merges_back(advice, flag):
    #   AAAAAAAA    advise pages 2-5
    #   AABBBBAA    split into three, the middle with the flag
    #   AAAAAAAA    undo: merged again (except NOHUGEPAGE, which is a flag itself)
    m = machine()
    p = proc(m)
    fixed(p, 0, 8)
    p.madvise(BASE + 2 * P, 4 * P, advice)
    m.check()
    assert p.mm.map_count == 3
    assert p.mm.mmap.vm_next.vm_flags & flag
    if advice in UNDO and advice != lv.MADV_HUGEPAGE:
        p.madvise(BASE + 2 * P, 4 * P, UNDO[advice])
        m.check()
        assert p.mm.map_count == 1


def test_madvise_errno_paths():
    m = machine()
    p = proc(m)
    fixed(p, 0, 4)
    fixed(p, 6, 2)
    shm = p.mmap(0, 2 * P, RW, lv.MAP_SHARED | lv.MAP_ANONYMOUS)
    cases = [
        ((BASE, P, 5), errno.EINVAL),                   # not an advice
        ((BASE, P, 6), errno.EINVAL),
        ((BASE, P, 99), errno.EINVAL),
        ((BASE + 1, P, lv.MADV_NORMAL), errno.EINVAL),
        ((BASE, (1 << 64) - 1, lv.MADV_NORMAL), errno.EINVAL),   # rounds to 0
        ((BASE + 30 * P, P, lv.MADV_NORMAL), errno.ENOMEM),
        ((BASE, 8 * P, lv.MADV_NORMAL), errno.ENOMEM),           # hole, rest still done
        ((BASE, P, lv.MADV_HWPOISON), errno.EPERM),
        ((shm, P, lv.MADV_HUGEPAGE), errno.EINVAL),             # VM_NO_THP in 4.6
        ((BASE, P, lv.MADV_REMOVE), errno.EINVAL),              # anonymous private
    ]
    for args, err in cases:
        assert errno_of(p.madvise, *args) == err, args
        m.check()
    assert p.madvise(BASE, 0, lv.MADV_NORMAL) == 0
    assert p.madvise(shm, P, lv.MADV_REMOVE) == 0
    p.mlock(BASE, P)
    assert errno_of(p.madvise, BASE, P, lv.MADV_DONTNEED) == errno.EINVAL
    assert errno_of(p.madvise, BASE, P, lv.MADV_FREE) == errno.EINVAL
    assert p.madvise(BASE + P, P, lv.MADV_DONTNEED) == 0
    assert p.madvise(BASE + P, P, lv.MADV_WILLNEED) == 0


def test_split_failure_becomes_eagain():
    m = machine()
    p = proc(m)
    fixed(p, 0, 4)
    m.sysctl["vm.max_map_count"] = 1
    assert errno_of(p.madvise, BASE + P, P, lv.MADV_RANDOM) == errno.EAGAIN
    m.check()
