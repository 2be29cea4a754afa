"""vma_merge: every case of mm/mmap.c's comment, and split/merge through mprotect."""

import pytest

from _vm import P, RW, R, RX, BASE, machine, proc, layout, fixed


def _mmap_new(prot):
    return lambda p: fixed(p, 4, 4, prot)


def _mprotect(first, n, prot):
    def op(p):
        p.mprotect(BASE + first * P, n * P, prot)
    return op


CASES = [
    # (name, setup [(first, n, prot)], operation, expected layout)
    #   0123456789ab
    #   PPPP    NNNN     the new range A fills the hole between two compatible VMAs
    #   PPPPPPPPPPPP     case 1: prev, A and next become one VMA
    ("case1", [(0, 4, RW), (8, 4, RW)], _mmap_new(RW), [(0, 12, "rw-")]),
    #   PPPP    NNNN     next differs (read-only)
    #   PPPPPPPPNNNN     case 2: A extends prev
    ("case2", [(0, 4, RW), (8, 4, R)], _mmap_new(RW), [(0, 8, "rw-"), (8, 12, "r--")]),
    #   PPPP    NNNN     prev differs
    #   PPPPNNNNNNNN     case 3: A extends next downwards
    ("case3", [(0, 4, R), (8, 4, RW)], _mmap_new(RW), [(0, 4, "r--"), (4, 12, "rw-")]),
    #   PPPPPPPPNNNN     mprotect the tail of prev (pages 4-7) to next's protection
    #   PPPPNNNNNNNN     case 4: prev shrinks, next grows down
    ("case4", [(0, 8, RW), (8, 4, R)], _mprotect(4, 4, R), [(0, 4, "rw-"), (4, 12, "r--")]),
    #   PPPPNNNNNNNN     mprotect the head of next (pages 4-7) to prev's protection
    #   PPPPPPPPNNNN     case 5: prev grows, next shrinks
    ("case5", [(0, 4, RW), (4, 8, R)], _mprotect(4, 4, RW), [(0, 8, "rw-"), (8, 12, "r--")]),
    #   PPPPNNNNXXXX     mprotect all of N like P and X
    #   PPPPPPPPPPPP     case 6: three VMAs become one
    ("case6", [(0, 4, RW), (4, 4, R), (8, 4, RW)], _mprotect(4, 4, RW), [(0, 12, "rw-")]),
    #   PPPPNNNNXXXX     N becomes like P; X differs
    #   PPPPPPPPXXXX     case 7: prev absorbs N
    ("case7", [(0, 4, RW), (4, 4, R), (8, 4, RX)], _mprotect(4, 4, RW),
     [(0, 8, "rw-"), (8, 12, "r-x")]),
    #   PPPPNNNNXXXX     N becomes like X; P differs
    #   PPPPXXXXXXXX     case 8: X absorbs N
    ("case8", [(0, 4, RX), (4, 4, R), (8, 4, RW)], _mprotect(4, 4, RW),
     [(0, 4, "r-x"), (4, 12, "rw-")]),
    #   PPPPPPPPPPPP     mprotect the middle of one VMA: nothing to merge with
    #   PPPPAAAAPPPP     split into three
    ("split3", [(0, 12, RW)], _mprotect(4, 4, R),
     [(0, 4, "rw-"), (4, 8, "r--"), (8, 12, "rw-")]),
    #   PPPP    NNNN     A differs from both
    #   PPPPAAAANNNN     cannot merge: three VMAs
    ("nomerge", [(0, 4, RW), (8, 4, RW)], _mmap_new(R),
     [(0, 4, "rw-"), (4, 8, "r--"), (8, 12, "rw-")]),
]


@pytest.mark.parametrize("name,setup,op,expect", CASES, ids=[c[0] for c in CASES])
def test_vma_merge_cases(name, setup, op, expect):
    m = machine()
    p = proc(m)
    for first, n, prot in setup:
        # created writable then restricted, so every VMA carries VM_ACCOUNT alike
        fixed(p, first, n, RW)
        if prot != RW:
            p.mprotect(BASE + first * P, n * P, prot)
    op(p)
    m.check()
    assert layout(p) == expect
    assert p.mm.map_count == len(expect)


def test_mprotect_middle_splits_then_merges():
    #   0123456789ab
    #   AAAAAAAAAAAA       one RW mapping
    #   AAAABBBBAAAA       mprotect(4, 4, R): split into three
    #   AAAAAAAAAAAA       mprotect back to RW: merged again (vma_merge case 6)
    m = machine()
    p = proc(m)
    fixed(p, 0, 12)
    p.mprotect(BASE + 4 * P, 4 * P, R)
    m.check()
    assert p.mm.map_count == 3
    p.mprotect(BASE + 4 * P, 4 * P, RW)
    m.check()
    assert layout(p) == [(0, 12, "rw-")]


def test_two_hintless_mmaps_are_adjacent_and_merge():
    # the second lands directly below the first and extends it (case 3)
    m = machine(aslr=False)
    p = proc(m)
    a = p.mmap(None, P, RW, 0x22)
    b = p.mmap(None, P, RW, 0x22)
    m.check()
    assert b == a - P
    assert p.mm.map_count == 1


def test_mergeable_except_pgoff_stays_apart():
    #   AAAA moved by mremap keeps its pgoff once it has an anon_vma; without one the
    #   moved VMA takes pgoff = addr >> 12 and merges with an adjacent neighbour
    m = machine()
    p = proc(m)
    fixed(p, 0, 4)
    a = fixed(p, 20, 4)
    b = p.mremap(a, 4 * P, 4 * P, 3, BASE + 4 * P)    # MREMAP_MAYMOVE|MREMAP_FIXED
    m.check()
    assert b == BASE + 4 * P
    assert layout(p) == [(0, 8, "rw-")]


def test_shared_anonymous_mappings_never_merge():
    # each MAP_SHARED|MAP_ANONYMOUS mapping gets its own shmem file
    import linuxvm as lv
    m = machine()
    p = proc(m)
    fixed(p, 0, 4, RW, lv.MAP_SHARED | lv.MAP_ANONYMOUS | lv.MAP_FIXED)
    fixed(p, 4, 4, RW, lv.MAP_SHARED | lv.MAP_ANONYMOUS | lv.MAP_FIXED)
    assert p.mm.map_count == 2
