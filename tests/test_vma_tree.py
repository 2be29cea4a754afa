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


# -- the iterative tree code against the recursive AVL it replaced ---------------------------

def _ref_compute(v):
    prev = v.vm_prev
    g = v.vm_start - prev.vm_end if prev is not None else v.vm_start
    h = 0
    for c in (v.rb_left, v.rb_right):
        if c is not None:
            h = max(h, c.rb_height)
            g = max(g, c.rb_subtree_gap)
    v.rb_height, v.rb_subtree_gap = h + 1, g


def _ref_h(n):
    return n.rb_height if n is not None else 0


def _ref_rot(n, left):
    if left:
        top = n.rb_right
        n.rb_right, top.rb_left = top.rb_left, n
    else:
        top = n.rb_left
        n.rb_left, top.rb_right = top.rb_right, n
    _ref_compute(n)
    _ref_compute(top)
    return top


def _ref_balance(n):
    _ref_compute(n)
    b = _ref_h(n.rb_left) - _ref_h(n.rb_right)
    if b > 1:
        if _ref_h(n.rb_left.rb_left) < _ref_h(n.rb_left.rb_right):
            n.rb_left = _ref_rot(n.rb_left, True)
        return _ref_rot(n, False)
    if b < -1:
        if _ref_h(n.rb_right.rb_right) < _ref_h(n.rb_right.rb_left):
            n.rb_right = _ref_rot(n.rb_right, False)
        return _ref_rot(n, True)
    return n


def _ref_insert(n, v):
    if n is None:
        v.rb_left = v.rb_right = None
        _ref_compute(v)
        return v
    if v.vm_start < n.vm_start:
        n.rb_left = _ref_insert(n.rb_left, v)
    else:
        n.rb_right = _ref_insert(n.rb_right, v)
    return _ref_balance(n)


def _ref_pop_min(n):
    if n.rb_left is None:
        return n.rb_right, n
    rest, low = _ref_pop_min(n.rb_left)
    n.rb_left = rest
    return _ref_balance(n), low


def _ref_erase(n, v):
    if n is v:
        if n.rb_left is None or n.rb_right is None:
            return n.rb_left if n.rb_right is None else n.rb_right
        rest, low = _ref_pop_min(n.rb_right)
        low.rb_left, low.rb_right = n.rb_left, rest
        return _ref_balance(low)
    if v.vm_start < n.vm_start:
        n.rb_left = _ref_erase(n.rb_left, v)
    else:
        n.rb_right = _ref_erase(n.rb_right, v)
    return _ref_balance(n)


def _ref_unlink(mm, v):
    """The reference's __vma_unlink: erase from the tree, unlink from the list, refresh
    the next VMA's gap."""
    mm.mm_rb = _ref_erase(mm.mm_rb, v)
    prev, nxt = v.vm_prev, v.vm_next
    if nxt is not None:
        nxt.vm_prev = prev
    if prev is not None:
        prev.vm_next = nxt
    else:
        mm.mmap = nxt
    if nxt is not None:
        _ref_gap_update(mm, nxt)


def _ref_gap_update(mm, v):
    path, n = [], mm.mm_rb
    while n is not v:
        path.append(n)
        n = n.rb_left if v.vm_start < n.vm_start else n.rb_right
    for n in [v] + path[::-1]:
        _ref_compute(n)


class _Mm:
    def __init__(self):
        self.mm_rb = self.mmap = None
        self.highest_vm_end = 0
        self.vmacache_seqnum = 0


def _shape(n):
    if n is None:
        return None
    return (n.vm_start, n.vm_end, n.rb_height, n.rb_subtree_gap, _shape(n.rb_left),
            _shape(n.rb_right))


def _parents_ok(n, parent):
    return n is None or (n.rb_parent is parent and _parents_ok(n.rb_left, n)
                         and _parents_ok(n.rb_right, n))


def test_tree_updates_equal_the_recursive_avl():
    #   the same links, unlinks and boundary moves on two trees: the model's iterative
    #   code (with its early stops) and the recursive AVL with full-path gap refreshes
    from linuxvm.mm import vma as V
    rng = random.Random(3)
    mms = (_Mm(), _Mm())
    nodes = ({}, {})                    # slot -> VMA, one per tree
    removed = []
    for step in range(3000):
        slot = rng.randrange(400)
        op = rng.random()
        low = rng.choice([0, 1])
        other = rng.randrange(400) if rng.random() < 0.5 else None
        for k, (mm, byslot) in enumerate(zip(mms, nodes)):
            if slot not in byslot and op < 0.6:
                v = V.VmAreaStruct(mm, (2 * slot + 1) * P, (2 * slot + 2) * P, 0)
                prev = max((s for s in byslot if s < slot), default=None)
                V.__vma_link_list(mm, v, byslot[prev] if prev is not None else None)
                byslot[slot] = v
                if k == 0:
                    V.__vma_link_rb(mm, v)
                else:
                    if v.vm_next is not None:
                        _ref_gap_update(mm, v.vm_next)
                    mm.mm_rb = _ref_insert(mm.mm_rb, v)
            elif slot in byslot and op < 0.85:
                v = byslot.pop(slot)
                if k == 0:
                    V.__vma_unlink(mm, v)
                    removed.append(v)
                else:
                    _ref_unlink(mm, v)
            elif slot in byslot:
                # move the start down or up inside its slot (stack growth, vma_adjust)
                v = byslot[slot]
                v.vm_start = (2 * slot + low) * P
                if other is not None and other != slot and other in byslot:
                    # vma_adjust's removals: another VMA goes before the moved one's refresh
                    w = byslot.pop(other)
                    if k == 0:
                        V.__vma_unlink(mm, w)
                        removed.append(w)
                    else:
                        _ref_unlink(mm, w)
                (V.vma_gap_update if k == 0 else _ref_gap_update)(mm, v)
        assert _shape(mms[0].mm_rb) == _shape(mms[1].mm_rb), f"step {step}"
        assert _parents_ok(mms[0].mm_rb, None)
        assert all(v.rb_parent is None for v in removed)
        removed.clear()
