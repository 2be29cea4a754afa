"""The VMA tree: find_vma/find_vma_prev and the gap searches against brute force."""

import random

import linuxvm as lv
from _vm import P, RW, BASE, machine, proc
from linuxvm.mm.vma import (find_vma, find_vma_prev, unmapped_area, unmapped_area_topdown,
                            for_each_vma)


def brute_gaps(mm):
    prev_end = 0
    for v in for_each_vma(mm):
        yield prev_end, v.vm_start
        prev_end = v.vm_end
    yield prev_end, 1 << 64


def test_tree_matches_brute_force():
    m = machine()
    p = proc(m)
    rng = random.Random(7)
    for _ in range(300):
        page = rng.randrange(0, 2000)
        n = rng.randrange(1, 6)
        prot = rng.choice([RW, lv.PROT_READ])
        if rng.random() < 0.3:
            p.munmap(BASE + page * P, n * P)
        else:
            p.mmap(BASE + page * P, n * P, prot, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS | lv.MAP_FIXED)
    m.check()
    vmas = list(for_each_vma(p.mm))
    for _ in range(500):
        addr = BASE + rng.randrange(-10, 2100) * P + rng.randrange(P)
        want = next((v for v in vmas if v.vm_end > addr), None)
        assert find_vma(p.mm, addr) is want
        vma, prev = find_vma_prev(p.mm, addr)
        assert prev is (want.vm_prev if want is not None else vmas[-1])
    for _ in range(200):
        length = rng.randrange(1, 8) * P
        lo = BASE + rng.randrange(0, 1000) * P
        hi = lo + rng.randrange(1, 3000) * P
        fits = [(max(s, lo), min(e, hi)) for s, e in brute_gaps(p.mm)
                if min(e, hi) - max(s, lo) >= length]
        got = unmapped_area(p.mm, length, lo, hi)
        assert got == (fits[0][0] if fits else None)
        got = unmapped_area_topdown(p.mm, length, lo, hi)
        assert got == (fits[-1][1] - length if fits else None)


def test_find_vma_visits_log_n_nodes():
    m = machine()
    p = proc(m, rlimits={})
    m.sysctl["vm.max_map_count"] = 100000
    for i in range(4000):                  # alternate protections so nothing merges
        p.mmap(BASE + 2 * i * P, P, RW if i % 2 else lv.PROT_READ,
               lv.MAP_PRIVATE | lv.MAP_ANONYMOUS | lv.MAP_FIXED)
    assert p.mm.map_count == 4000
    assert p.mm.mm_rb.rb_height <= 1.45 * 12 + 2      # AVL bound for n = 4000
    m.check()
