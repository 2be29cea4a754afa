"""mremap: shrink, grow in place, move, MREMAP_FIXED, and the errno paths."""

import errno

import linuxvm as lv
from _vm import P, RW, R, BASE, machine, proc, layout, fixed, errno_of

MAYMOVE, FIXEDMV = lv.MREMAP_MAYMOVE, lv.MREMAP_MAYMOVE | lv.MREMAP_FIXED


def test_shrink_unmaps_the_tail():
    #   AAAAAAAA  →  AAAA
    m = machine()
    p = proc(m)
    fixed(p, 0, 8)
    assert p.mremap(BASE, 8 * P, 4 * P, 0) == BASE
    m.check()
    assert layout(p) == [(0, 4, "rw-")]
    assert m.vm_committed_as == 4


def test_grow_in_place_then_blocked_then_moved():
    #   AAAA....BB   grow A to 6 pages in place
    #   AAAAAA..BB
    #   AAAAAA..BB   growing to 10 would overlap B: ENOMEM without MAYMOVE
    #   ......  BB AAAAAAAAAA (elsewhere)  with MAYMOVE it moves
    m = machine()
    p = proc(m)
    fixed(p, 0, 4)
    fixed(p, 8, 2, R)
    assert p.mremap(BASE, 4 * P, 6 * P, 0) == BASE
    m.check()
    assert layout(p) == [(0, 6, "rw-"), (8, 10, "r--")]
    assert m.vm_committed_as == 6
    assert errno_of(p.mremap, BASE, 6 * P, 10 * P, 0) == errno.ENOMEM
    new = p.mremap(BASE, 6 * P, 10 * P, MAYMOVE)
    m.check()
    assert new != BASE
    assert layout(p) == [(8, 10, "r--")]
    assert layout(p, new, 10) == [(0, 10, "rw-")]
    assert m.vm_committed_as == 10 and p.mm.total_vm == 12


def test_grow_in_place_up_to_a_neighbour_does_not_merge():
    #   AAAA..BBBB  →  AAAAAABBBB   vma_adjust does not merge (4.6 leaves two VMAs)
    m = machine()
    p = proc(m)
    fixed(p, 0, 4)
    p.mprotect(BASE, 4 * P, RW)
    fixed(p, 6, 4)
    p.mremap(BASE, 4 * P, 6 * P, 0)
    m.check()
    assert p.mm.map_count == 2


def test_mremap_fixed_moves_part_of_a_vma():
    #   AAAAAAAA          move pages 2-3 to page 20
    #   AA..AAAA    AA
    m = machine()
    p = proc(m)
    fixed(p, 0, 8)
    assert p.mremap(BASE + 2 * P, 2 * P, 2 * P, FIXEDMV, BASE + 20 * P) == BASE + 20 * P
    m.check()
    assert layout(p) == [(0, 2, "rw-"), (4, 8, "rw-"), (20, 22, "rw-")]
    assert m.vm_committed_as == 8


def test_mremap_errno_paths():
    m = machine()
    p = proc(m)
    fixed(p, 0, 4)
    cases = [
        ((BASE, P, P, 4), errno.EINVAL),                          # unknown flag
        ((BASE, P, P, lv.MREMAP_FIXED, BASE + 10 * P), errno.EINVAL),
        ((BASE + 1, P, P, 0), errno.EINVAL),
        ((BASE, P, 0, 0), errno.EINVAL),                          # new_len 0
        ((BASE + 10 * P, P, 2 * P, 0), errno.EFAULT),             # nothing there
        ((BASE, 8 * P, 10 * P, 0), errno.EFAULT),                 # old_len beyond the vma
        ((BASE, 4 * P, 4 * P, FIXEDMV, BASE + 2 * P), errno.EINVAL),   # overlapping ranges
        ((BASE, 4 * P, 4 * P, FIXEDMV, BASE + 10 * P + 1), errno.EINVAL),
    ]
    for args, err in cases:
        assert errno_of(p.mremap, *args) == err, args
        m.check()
    assert layout(p) == [(0, 4, "rw-")]


def test_mremap_locked_growth_over_memlock_is_eagain():
    m = machine()
    p = proc(m)                                   # RLIMIT_MEMLOCK 64 KiB = 16 pages
    fixed(p, 0, 8)
    p.mlock(BASE, 8 * P)
    assert errno_of(p.mremap, BASE, 8 * P, 20 * P, MAYMOVE) == errno.EAGAIN
    assert p.mremap(BASE, 8 * P, 12 * P, MAYMOVE) == BASE
    assert p.mm.locked_vm == 12
    m.check()
