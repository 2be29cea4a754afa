"""The unmap_region accelerators (linuxvm/accel/mmap.py) leave exactly the state the
reference leaves (DESIGN §3: fast paths must equal slow paths). Each workload runs on
two machines, one with only that accelerator on and one with none, and the shared
whole-machine fingerprint (linuxvm.accel.fingerprint: pages, VMAs, the VMA tree's shape,
the mm counters, Committed_AS, SLUB state, TLBs) must be equal."""

import random

import pytest

import linuxvm as lv
from linuxvm.accel.fingerprint import fingerprint, assert_same
from linuxvm.errors import SyscallError
from linuxvm.include.mm import VM_SOFTDIRTY
from linuxvm.mm.vma import find_vma

PAGE = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
ACCELERATORS = ["unmap_region_empty_range", "unmap_region_no_tables", "do_mmap_anon",
                "do_munmap_one_vma"]


def w_pairs(m):
    #   the benchmark's loop: 64 KiB below a row of small neighbours, merged, split, unmapped
    p = m.spawn("pairs")
    for i in range(16):
        p.mmap(None, PAGE, RW if i % 2 else lv.PROT_READ, ANON)
    m.check()
    for _ in range(50):
        a = p.mmap(None, 16 * PAGE, RW, ANON)
        m.check()
        p.munmap(a, 16 * PAGE)
        m.check()
    q = p.fork()                        # a child that never touches anything exits:
    m.check()                           # exit_mmap's whole-mm gather still flushes
    q.exit()
    m.check()
    p.munmap(0, (1 << 47) - PAGE)       # munmap of everything is a whole-mm gather too
    m.check()


def w_pairs_read(m):
    #   the benchmark's loop with its neighbours read, so a PTE table lies under the pairs;
    #   then pairs whose pages are touched, that cross a PMD boundary, that stand alone
    p = m.spawn("pairs")
    for i in range(16):
        a = p.mmap(None, PAGE, RW if i % 2 else lv.PROT_READ, ANON)
        p.touch(a, PAGE)
    m.check()
    for k in range(40):
        a = p.mmap(None, 16 * PAGE, RW, ANON)
        if k % 4 == 1:
            p.touch(a + 3 * PAGE, 2 * PAGE, write=True)         # pages to zap
        elif k % 4 == 2:
            p.touch(a + 15 * PAGE, PAGE)                        # the zero page
        m.check()
        p.munmap(a, 16 * PAGE) if k % 3 else p.munmap(a + 4 * PAGE, 8 * PAGE)
        m.check()
    #   ....|AAAA....    a mapping across a PMD boundary, then one alone in its PMD
    b = p.mmap(0x40200000 - 4 * PAGE, 8 * PAGE, RW, ANON | lv.MAP_FIXED)
    p.touch(b, PAGE)
    p.munmap(b + 4 * PAGE, 2 * PAGE)
    m.check()
    p.munmap(b, PAGE)
    m.check()
    c = p.mmap(0x40600000, 8 * PAGE, RW, ANON | lv.MAP_FIXED)
    p.touch(c + PAGE, PAGE)
    p.munmap(c + 2 * PAGE, 2 * PAGE)                            # tables stay: neighbours
    m.check()
    p.munmap(c, 8 * PAGE)                                       # alone: frees its tables
    m.check()
    c = p.mmap(0x40600000, 8 * PAGE, RW, ANON | lv.MAP_FIXED)
    p.touch(c, PAGE)
    p.munmap(c, PAGE)
    m.check()
    p.munmap(c + PAGE, 7 * PAGE)                # alone, nothing mapped, tables to free
    m.check()
    q = p.fork()
    m.check()
    q.munmap(b, 8 * PAGE)
    q.exit()
    m.check()


def w_tables_and_holes(m):
    #   AAAA....BBBB....CCCC     touched and untouched VMAs, unmapped across the holes
    p = m.spawn("holes")
    a = p.mmap(None, 64 * PAGE, RW, ANON)
    p.touch(a + 10 * PAGE, 4 * PAGE, write=True)
    m.check()
    p.munmap(a + 20 * PAGE, 8 * PAGE)                # untouched, tables under it
    m.check()
    p.munmap(a + 8 * PAGE, 8 * PAGE)                 # touched pages
    m.check()
    b = p.mmap(0x40000000, 32 * PAGE, RW, ANON | lv.MAP_FIXED)   # a PGD slot of its own
    m.check()
    p.munmap(b, 32 * PAGE)                           # no table in its PGD slot
    m.check()
    b = p.mmap(0x40000000, 32 * PAGE, RW, ANON | lv.MAP_FIXED)
    p.touch(b, PAGE, write=True)
    p.munmap(b + PAGE, 8 * PAGE)                     # tables, no pages in the range
    m.check()
    p.munmap(0x40000000 - 4 * PAGE, 64 * PAGE)       # the rest: frees the tables
    m.check()
    c = p.fork()
    m.check()
    c.munmap(a, 64 * PAGE)
    m.check()
    c.exit()
    m.check()
    p.exit()
    m.check()


def w_random(m):
    rng = random.Random(5)
    p = m.spawn("rnd")
    q = m.spawn("root", uid=0)
    base = 0x20000000
    for _ in range(300):
        t = rng.choice([p, q])
        page = rng.randrange(0, 600)
        n = rng.randrange(1, 40)
        op = rng.random()
        try:
            if op < 0.35:
                t.mmap(base + page * PAGE, n * PAGE, rng.choice([RW, lv.PROT_READ]),
                       ANON | lv.MAP_FIXED)
            elif op < 0.5:
                t.mmap(None, n * PAGE, RW, ANON | (lv.MAP_NORESERVE if rng.random() < .2 else 0))
            elif op < 0.75:
                t.munmap(base + page * PAGE, n * PAGE)
            elif op < 0.85:
                t.touch(base + page * PAGE, n * PAGE, write=rng.random() < 0.5)
            elif op < 0.92:
                t.mprotect(base + page * PAGE, n * PAGE, rng.choice([RW, lv.PROT_READ]))
            else:
                t.mremap(base + page * PAGE, n * PAGE, rng.randrange(1, 60) * PAGE,
                         lv.MREMAP_MAYMOVE)
        except (SyscallError, lv.SegmentationFault):
            pass
        m.check()
    q.exit()
    m.check()


def w_mmap_munmap_cases(m):
    #   the fused mmap and munmap against every case they hand back or fail
    p = m.spawn("cases")
    a = p.mmap(None, 16 * PAGE, RW, ANON)               # alone: allocated and linked
    b = p.mmap(None, 16 * PAGE, RW, ANON)               # BBBBAAAA: merges with the next
    c = p.mmap(None, 4 * PAGE, lv.PROT_READ, ANON)      # CBBBBAAAA: not mergeable
    m.check()
    p.munmap(c, 4 * PAGE)                               # one whole VMA
    m.check()
    p.munmap(b, 8 * PAGE)                               # ..BBAAAA: the lower part
    m.check()
    p.touch(b + 8 * PAGE, 4 * PAGE, write=True)         # anon_vma: the split is handed back
    p.munmap(b + 8 * PAGE, 2 * PAGE)
    m.check()
    p.munmap(b + 12 * PAGE, 8 * PAGE)                   # starts inside a VMA
    m.check()
    p.munmap(a + 8 * PAGE, 8 * PAGE)                    # the upper part, whole VMA above
    m.check()
    d = p.mmap(None, 3 * PAGE + 5, lv.PROT_READ | lv.PROT_EXEC, ANON)   # exec, unaligned len
    e = p.mmap(None, 8 * PAGE, lv.PROT_NONE, ANON)
    p.munmap(e, 8 * PAGE + 1)
    p.munmap(d, 4 * PAGE)
    m.check()
    f = p.mmap(None, 8 * PAGE, RW, ANON | lv.MAP_NORESERVE)
    g = p.mmap(None, 8 * PAGE, RW, lv.MAP_SHARED | lv.MAP_ANONYMOUS)
    h = p.mmap(None, 8 * PAGE, RW, ANON | lv.MAP_POPULATE)
    i = p.mmap(0x30000000, 8 * PAGE, RW, ANON)          # a hint
    p.munmap(h, 4 * PAGE)
    p.munmap(g, 4 * PAGE)                               # shared: the split is handed back
    p.munmap(g + 4 * PAGE, 4 * PAGE)                    # shared, whole
    p.munmap(f, 8 * PAGE)
    p.munmap(i, 8 * PAGE)
    m.check()
    fd = p.open("/f", lv.O_RDWR | lv.O_CREAT, 0o600)
    p.ftruncate(fd, 16 * PAGE)
    j = p.mmap(None, 16 * PAGE, lv.PROT_READ, lv.MAP_PRIVATE, fd, 0)
    p.touch(j, 16 * PAGE)
    p.munmap(j, 8 * PAGE)                               # file: the split is handed back
    p.munmap(j + 8 * PAGE, 8 * PAGE)                    # file, whole
    m.check()
    k = p.mmap(None, 8 * PAGE, RW, ANON | lv.MAP_LOCKED)
    p.munmap(k, 8 * PAGE)                               # locked: handed back
    m.check()
    for bad in ((1, PAGE), (0, 0), (1 << 47, PAGE)):
        try:
            p.munmap(*bad)
        except SyscallError:
            pass
    p.munmap(0x10000000, PAGE)                          # nothing there
    for args in ((None, 0, RW, ANON), (None, 1 << 48, RW, ANON), (None, PAGE, RW, 0x20)):
        try:
            p.mmap(*args)
        except SyscallError:
            pass
    m.check()
    #   Committed_AS refused: the accounting failure comes back as ENOMEM
    m.sysctl["vm.overcommit_memory"] = 2
    m.sysctl["vm.overcommit_ratio"] = 1
    try:
        p.mmap(None, 200 << 20, RW, ANON)
    except SyscallError:
        pass
    m.check()
    m.sysctl["vm.overcommit_memory"] = 0
    #   RLIMIT_DATA overrun (the warning) and RLIMIT_AS refusal, from a limited process
    q = m.spawn("lim", rlimits={"RLIMIT_DATA": 64 * PAGE, "RLIMIT_AS": 1 << 30})
    x = q.mmap(None, 128 * PAGE, RW, ANON)
    try:
        q.mmap(None, 2 << 30, lv.PROT_READ, ANON)
    except SyscallError:
        pass
    q.munmap(x, 128 * PAGE)
    m.check()
    #   a THP-backed VMA whose lower part is unmapped: the huge PMD is split first
    r = m.spawn("thp")
    t = r.mmap(None, 8 << 20, RW, ANON)
    r.madvise(t, 8 << 20, lv.MADV_HUGEPAGE)
    r.touch(t + (2 << 20), 4 << 20, write=True)
    u = r.mmap(None, 4 << 20, RW, ANON)
    r.madvise(u, 4 << 20, lv.MADV_HUGEPAGE)
    r.munmap(u, 3 << 20)
    m.check()
    #   a personality with READ_IMPLIES_EXEC is handed back
    r.personality(0x0400000)
    v = r.mmap(None, 4 * PAGE, lv.PROT_READ, ANON)
    r.munmap(v, 4 * PAGE)
    m.check()
    r.exit()
    q.exit()
    p.exit()
    m.check()


def w_split_below(m):
    #   A.B.C.D...   many unmergeable VMAs; their lower parts unmapped in random order, so
    #   the new lower piece's leaf insertion rotates the tree in some and not in others
    rng = random.Random(7)
    p = m.spawn("split")
    base = 0x20000000
    left = {}                           # pages still mapped, and the first of them
    first = {}
    for i in range(120):
        left[i] = rng.randrange(4, 12)
        first[i] = base + i * 16 * PAGE
        p.mmap(first[i], left[i] * PAGE, RW if i % 2 else lv.PROT_READ, ANON | lv.MAP_FIXED)
    m.check()
    for _ in range(300):
        i = rng.randrange(120)
        if left[i] > 1:
            k = rng.randrange(1, left[i])
            p.munmap(first[i], k * PAGE)
            first[i] += k * PAGE
            left[i] -= k
        elif rng.random() < 0.5:
            p.mmap(None, rng.randrange(1, 6) * PAGE, lv.PROT_READ, ANON)
        m.check()


def run(workload, fast):
    m = lv.Machine(ram="256M", cpus=2, seed=11, fast=fast)
    workload(m)
    m.check()
    return fingerprint(m)


WORKLOADS = [w_pairs, w_pairs_read, w_tables_and_holes, w_random, w_mmap_munmap_cases,
             w_split_below]


@pytest.mark.parametrize("name", ACCELERATORS)
@pytest.mark.parametrize("workload", WORKLOADS)
def test_accelerator_equals_reference(name, workload):
    assert_same(run(workload, False), run(workload, {name}))


def test_accelerators_together_equal_reference():
    for workload in WORKLOADS:
        assert_same(run(workload, False), run(workload, set(ACCELERATORS)))


def _skip_unlinking(m, mm, vmas, prev, nxt, start, end):
    """A wrong accelerator: claims every range is empty and skips even the unlinking."""
    return True


def _skip_tlb_flush(m, mm, vmas, prev, nxt, start, end):
    """A wrong accelerator: zaps and frees like the reference but never flushes the TLB."""
    from linuxvm.mm import memory
    from linuxvm.mm.swap import lru_add_drain
    if start == 0:
        return False
    lru_add_drain(m)
    tlb = memory.tlb_gather_mmu(m, mm, start, end)
    memory.unmap_vmas(tlb, vmas, start, end)
    memory.free_pgtables(tlb, vmas, prev.vm_end if prev is not None else 0,
                         nxt.vm_start if nxt is not None else 0)
    tlb.start, tlb.end = 0, 0           # forget the range: tlb_finish_mmu flushes nothing
    memory.tlb_finish_mmu(tlb, start, end)
    return True


def w_small(m):
    p = m.spawn("w")
    a = p.mmap(None, 64 * PAGE, RW, ANON)
    p.touch(a, 8 * PAGE, write=True)
    p.touch(a, 8 * PAGE)                            # the TLB holds the pages
    p.munmap(a, 8 * PAGE)
    b = p.mmap(None, 16 * PAGE, RW, ANON)
    p.touch(b, PAGE)
    p.munmap(b, 16 * PAGE)


@pytest.mark.parametrize("broken", [_skip_unlinking, _skip_tlb_flush])
def test_comparison_catches_a_wrong_accelerator(broken):
    m = lv.Machine(ram="256M", cpus=2, seed=11, fast=False)
    m.accel.unmap_region_no_tables = broken            # on this machine only
    w_small(m)
    with pytest.raises(AssertionError):
        assert_same(run(w_small, False), fingerprint(m))


def test_vma_copy_sets_every_field_init_sets():
    from linuxvm.mm.vma import VmAreaStruct
    v = VmAreaStruct(object(), 0x1000, 0x3000, 0x73, 5, None)
    v.vm_page_prot, v.anon_vma, v.vm_ops, v.vm_policy = 7, object(), object(), object()
    c = v.copy()
    for name in VmAreaStruct.__slots__:
        if name == "__dict__":
            continue
        assert hasattr(c, name), name                     # no slot left unset
        if name in ("vm_next", "vm_prev", "rb_left", "rb_right", "rb_parent"):
            assert getattr(c, name) is None
        elif name == "anon_vma_chain":
            assert c.anon_vma_chain == [] and c.anon_vma_chain is not v.anon_vma_chain
        elif name not in ("rb_height", "rb_subtree_gap", "slab_obj"):
            assert getattr(c, name) is getattr(v, name), name


def test_empty_range_accelerator_is_taken_and_refused():
    #   RrRrRrRr..      read neighbours: a PTE table lies under the new mapping
    #   AAAARrRrRr      64 KiB merged below them, untouched: munmap needs no gather
    #   AAAARrRrRr      the same with a page written: the gather path
    m = lv.Machine(ram="256M", seed=11, fast={"unmap_region_empty_range"})
    taken = []
    real = m.accel.unmap_region_empty_range
    m.accel.unmap_region_empty_range = lambda *a: taken.append(real(*a)) or taken[-1]
    p = m.spawn("pairs")
    for i in range(16):
        a = p.mmap(None, PAGE, RW if i % 2 else lv.PROT_READ, ANON)
        p.touch(a, PAGE)
    a = p.mmap(None, 16 * PAGE, RW, ANON)
    p.munmap(a, 16 * PAGE)
    assert taken == [True]
    a = p.mmap(None, 16 * PAGE, RW, ANON)
    p.touch(a, PAGE, write=True)
    p.munmap(a, 16 * PAGE)
    assert taken == [True, False]
    m.check()


def _mmap_without_softdirty(real):
    """A wrong do_mmap_anon: the new mapping lacks VM_SOFTDIRTY."""
    def wrong(m, *args):
        ret = real(m, *args)
        if ret is not None and ret[0] >= 0:
            find_vma(m.current.mm, ret[0]).vm_flags &= ~VM_SOFTDIRTY
        return ret
    return wrong


def _munmap_stale_gap(real):
    """A wrong do_munmap_one_vma: the VMA above the hole keeps its old gap."""
    def wrong(m, mm, start, length):
        above = find_vma(mm, start + length)
        old = above.rb_subtree_gap if above is not None else None
        ret = real(m, mm, start, length)
        if ret is not None and above is not None and above.rb_left is None and \
                above.rb_right is None:
            above.rb_subtree_gap = old          # a leaf: its gap is its own
        return ret
    return wrong


@pytest.mark.parametrize("name,broken", [("do_mmap_anon", _mmap_without_softdirty),
                                         ("do_munmap_one_vma", _munmap_stale_gap)])
def test_comparison_catches_a_wrong_syscall_accelerator(name, broken):
    workload = w_split_below if name == "do_munmap_one_vma" else w_random
    m = lv.Machine(ram="256M", cpus=2, seed=11, fast={name})
    setattr(m.accel, name, broken(getattr(m.accel, name)))     # on this machine only
    with pytest.raises((AssertionError, lv.KernelBug)):      # m.check() or the fingerprint
        workload(m)
        assert_same(run(workload, False), fingerprint(m))


def test_syscall_accelerators_are_taken():
    #   the fused paths run on the benchmark's pairs (not only handed back)
    m = lv.Machine(ram="256M", seed=11, fast={"do_mmap_anon", "do_munmap_one_vma"})
    taken = []

    def recording(name, real):
        def rec(*args):
            ret = real(*args)
            taken.append((name, ret is not None))
            return ret
        return rec
    for name in ("do_mmap_anon", "do_munmap_one_vma"):
        setattr(m.accel, name, recording(name, getattr(m.accel, name)))
    p = m.spawn("pairs")
    for i in range(4):
        p.touch(p.mmap(None, PAGE, RW if i % 2 else lv.PROT_READ, ANON), PAGE)
    a = p.mmap(None, 16 * PAGE, RW, ANON)               # merged into its neighbour
    p.munmap(a, 16 * PAGE)                              # split off and unmapped
    b = p.mmap(None, 16 * PAGE, lv.PROT_READ, ANON)     # alone
    p.munmap(b, 16 * PAGE)                              # the whole VMA
    assert taken == [("do_mmap_anon", True)] * 5 + [("do_munmap_one_vma", True),
                                                    ("do_mmap_anon", True),
                                                    ("do_munmap_one_vma", True)]
    m.check()
