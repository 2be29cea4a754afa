"""The accelerators of mm/memory (linuxvm/accel/memory.py) leave exactly the state their
reference functions leave: the same workload on ``Machine(fast={name})`` (that one
accelerator alone), on ``Machine(fast=True)`` and on ``Machine(fast=False)`` gives equal
whole-machine fingerprints, page-table contents included. A deliberately wrong
accelerator must make the comparison fail, so it can.

The workload reaches every accelerator (test_workload_reaches_every_accelerator):

    a: 12000 pages written (24 PTE tables)       per-access faults, then bulk
    b: 600 pages, 300 of them read               zero-page PTEs
    fork; child writes 2000 pages of a           copy_page_range of 24+ tables, COW
    mprotect R / RW over half of a               change_protection over populated tables
    mremap 3000 pages of a to a new place        move_page_tables
    MADV_DONTNEED over b; munmap of 3 pages      a few entries: the entry-by-entry zap
    munmap of an untouched mapping               an all-none range
    child exits, then the parent: > 10,000       the gather fills, batches, flushes
    pages in one gather                          mid-zap
    a second parent and child that stay          their page tables are compared
"""

import pytest

import linuxvm as lv
from linuxvm.accel import memory as accel_memory
from linuxvm.accel.fingerprint import fingerprint, assert_same
from linuxvm.arch.x86 import uaccess
from linuxvm.arch.x86.pgtable import pt_entries
from linuxvm.arch.x86.pgtable_types import PTE_PFN_MASK
from linuxvm.mm.memory import pte_lookup, FAULT_FLAG_WRITE
from linuxvm.mm.mman import MREMAP_MAYMOVE, MADV_DONTNEED

PAGE = 4096
RW, R = lv.PROT_READ | lv.PROT_WRITE, lv.PROT_READ
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
NAMES = ["handle_mm_fault", "none_or_clear_bad_entries", "unmap_page_range",
         "zap_pmd_range", "zap_pte_range", "copy_pte_range"]


def workload(m) -> None:
    def step(fn, *args):
        fn(*args)
        m.check()

    p = m.spawn("w")
    a = p.mmap(None, 12000 * PAGE, RW, ANON)
    m.check()
    step(uaccess.touch, m, p.task, a, 40 * PAGE, True)       # one access at a time
    step(p.touch, a, 12000 * PAGE, True)
    b = p.mmap(None, 600 * PAGE, RW, ANON)
    step(uaccess.touch, m, p.task, b, 300 * PAGE, False)       # zero page
    c = p.fork()
    m.check()
    step(uaccess.touch, m, c.task, a + 100 * PAGE, 50 * PAGE, True)    # COW breaks
    step(c.touch, a + 200 * PAGE, 2000 * PAGE, True)
    step(uaccess.touch, m, p.task, b + 250 * PAGE, 100 * PAGE, True)
    step(p.mprotect, a, 6000 * PAGE, R)
    step(p.mprotect, a, 6000 * PAGE, RW)
    moved = p.mremap(a + 6000 * PAGE, 3000 * PAGE, 4000 * PAGE, MREMAP_MAYMOVE)
    m.check()
    step(uaccess.touch, m, p.task, moved, 10 * PAGE, True)
    step(p.madvise, b, 600 * PAGE, MADV_DONTNEED)
    step(p.munmap, a + PAGE, 3 * PAGE)                    # a few entries
    e = p.mmap(None, 64 * PAGE, RW, ANON)
    step(p.munmap, e, 64 * PAGE)                          # nothing was ever mapped there
    step(p.munmap, b + 10 * PAGE, 20 * PAGE)              # tables there, entries none
    step(c.exit)
    step(p.exit)                                          # > 10,000 pages in one gather
    # a family that stays: its page tables are in the fingerprint
    q = m.spawn("q")
    d = q.mmap(None, 1100 * PAGE, RW, ANON)
    m.check()
    step(uaccess.touch, m, q.task, d, 600 * PAGE, False)
    step(uaccess.touch, m, q.task, d + 300 * PAGE, 700 * PAGE, True)
    cq = q.fork()
    m.check()
    step(uaccess.touch, m, cq.task, d + 500 * PAGE, 40 * PAGE, True)
    step(q.mprotect, d + 100 * PAGE, 600 * PAGE, R)
    step(q.mremap, d + 900 * PAGE, 100 * PAGE, 100 * PAGE, MREMAP_MAYMOVE)
    step(cq.munmap, d + 510 * PAGE, 600 * PAGE)


def run(fast, broken=None) -> dict:
    m = lv.Machine(ram="256M", cpus=2, seed=3, fast=fast)
    if broken is not None:
        name, fn = broken
        setattr(m.accel, name, fn)
    workload(m)
    m.check()
    return fingerprint(m)


@pytest.fixture(scope="module")
def reference():
    return run(False)


@pytest.mark.parametrize("name", NAMES)
def test_accelerator_alone_equals_reference(name, reference):
    assert_same(reference, run({name}))


def test_all_accelerators_together_equal_reference(reference):
    assert_same(reference, run(True))


def test_workload_reaches_every_accelerator():
    m = lv.Machine(ram="256M", cpus=2, seed=3, fast=True)
    calls = dict.fromkeys(NAMES, 0)
    for name in NAMES:
        real = getattr(m.accel, name)

        def counted(*args, _real=real, _name=name):
            calls[_name] += 1
            return _real(*args)
        setattr(m.accel, name, counted)
    workload(m)
    assert all(calls.values()), calls


# -- broken on purpose: each comparison can fail -------------------------------------------------

def _read_fault_allocates(m, mm, vma, address, flags):
    # a read of an absent PTE handled as a write: a new page instead of the zero page
    ptr = pte_lookup(m, mm, address)
    if ptr is not None and not pt_entries(m, ptr[0])[ptr[1]]:
        flags |= FAULT_FLAG_WRITE
    return accel_memory.handle_mm_fault(m, mm, vma, address, flags)


def _drops_last_entry(m, table, addr, end, what, check_bad=True):
    out = list(accel_memory.none_or_clear_bad_entries(m, table, addr, end, what, check_bad))
    return out[:-1] if len(out) > 1 else out


def _skips_the_zap(tlb, vma, addr, end, details=None):
    # claims the one-PMD range done without zapping it
    return addr >> 21 == (end - 1) >> 21 and accel_memory._pmd_over(tlb.m, vma.vm_mm,
                                                                    addr) is not None


def _gathers_backwards(tlb, vma, pud, addr, end, details):
    before = len(tlb.pages)
    done = accel_memory.zap_pmd_range(tlb, vma, pud, addr, end, details)
    if len(tlb.pages) > before:
        tlb.pages[before:] = [p[::-1] for p in reversed(tlb.pages[before:])]
    return done


def _gathers_backwards_one_table(tlb, vma, pmd, addr, end, details):
    before = len(tlb.pages)
    done = accel_memory.zap_pte_range(tlb, vma, pmd, addr, end, details)
    if len(tlb.pages) > before:
        tlb.pages[before:] = [p[::-1] for p in reversed(tlb.pages[before:])]
    return done


def _child_keeps_accessed_bits(m, segs, vma, rss):
    # copies, then marks the child's entries young again (pte_mkold forgotten)
    ok = accel_memory.copy_pte_range(m, segs, vma, rss)
    if ok:
        for _, d, lo, hi, _ in segs:
            t = pt_entries(m, d)
            for i in range(lo, hi):
                if t[i]:
                    t[i] |= 0x20
    return ok


BROKEN = {"handle_mm_fault": _read_fault_allocates,
          "none_or_clear_bad_entries": _drops_last_entry,
          "unmap_page_range": _skips_the_zap,
          "zap_pmd_range": _gathers_backwards,
          "zap_pte_range": _gathers_backwards_one_table,
          "copy_pte_range": _child_keeps_accessed_bits}


@pytest.mark.parametrize("name", NAMES)
def test_comparison_catches_a_broken_accelerator(name, reference):
    try:
        broken = run({name}, (name, BROKEN[name]))
    except (lv.KernelBug, AssertionError):
        return                  # so broken that the invariant checks already object
    with pytest.raises(AssertionError):
        assert_same(reference, broken)


def test_bad_entries_reported_at_their_turn_equal_reference():
    # a bad PMD entry under an unmapped range: the walk reports and clears it in its turn
    # (the one-slice read falls back to the entry-at-a-time loop)
    def one(fast):
        m = lv.Machine(ram="128M", cpus=1, seed=5, fast=fast)
        p = m.spawn("bad")
        a = p.mmap(None, 4 << 20, RW, ANON)
        m.check()
        p.touch(a, 8 * PAGE, True)
        m.check()
        top = (a + (2 << 20)) & ~((2 << 20) - 1)          # the next 2 MiB slot
        pmd = pmd_of(m, p.mm, a)
        pt_entries(m, pmd[0])[(top >> 21) & 511] = (0x1234 << 12) | 0x1   # bad: not _KERNPG_TABLE
        p.munmap(a, 4 << 20)
        m.check()
        return fingerprint(m)
    ref = one(False)
    assert any("bad pmd" in line for line in ref["log"])
    for fast in (True, {"none_or_clear_bad_entries"}):
        assert_same(ref, one(fast))


def pmd_of(m, mm, addr):
    """The PMD entry pointer over ``addr`` (the path exists)."""
    e = pt_entries(m, mm.pgd)[(addr >> 39) & 511]
    e = pt_entries(m, (e & PTE_PFN_MASK) >> 12)[(addr >> 30) & 511]
    return ((e & PTE_PFN_MASK) >> 12, (addr >> 21) & 511)
