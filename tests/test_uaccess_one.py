"""The ``user_access`` accelerator (linuxvm/accel/uaccess_one.py) leaves exactly the state
of the reference per-access path (DESIGN §3): one access with its TLB miss, a first read
(the zero page), a first write (a new page) and a COW break after fork taken inline, every
other case handed back. Machines with the accelerator alone (its pure-Python body), with
all of them (the compiled body where built), and with none run the same workloads; their
whole-machine fingerprints must be equal."""

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import linuxvm as lv
from linuxvm.accel import uaccess_one
from linuxvm.accel.fingerprint import assert_same, fingerprint
from linuxvm.arch.x86.pgtable_types import _PAGE_SOFT_DIRTY
from linuxvm.include.vm_event_item import PGFAULT

from test_fault_bulk import rebound
from test_fault_fast import run

PAGE = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS


def w_one_page_accesses(m, step, act):
    p = m.spawn("one")
    a = p.mmap(None, 300 * PAGE, RW, ANON)
    for i in range(0, 150):                          # zero-page read faults, page by page
        act(p, a + i * PAGE + 8, "r")
    for i in range(100, 250):                        # COW of the zero page, then new pages
        act(p, a + i * PAGE, "w")                    # (first write: anon_vma_prepare)
    for i in range(0, 300, 7):                       # TLB hits and STLB refills
        act(p, a + i * PAGE, "r")
    p.write(a + 3 * PAGE + 10, b"bytes to copy")     # a page with host bytes
    c = p.fork()
    for i in range(0, 300, 3):                       # COW breaks (and hits, reuse)
        act(p, a + i * PAGE, "w")
    act(c, a + 3 * PAGE, "w")                        # the child: only it maps it now
    assert c.read(a + 3 * PAGE + 10, 13) == b"bytes to copy"
    step(p, a, 300 * PAGE, True)                     # touch_write hands COW pages over
    c.task.cpu = 1                                   # the child migrates
    for i in range(1, 300, 5):
        act(c, a + i * PAGE, "w")
    act(p, a + 2 * PAGE, "w")                        # the parent ran on CPU 0 all along
    ro = p.mmap(None, 16 * PAGE, lv.PROT_READ, ANON)
    act(p, ro, "r")
    act(p, ro + PAGE, "w")                           # SEGV_ACCERR: handed back
    p.mlock(a, 8 * PAGE)
    act(p, a + 290 * PAGE, "w")
    p.munlock(a, 8 * PAGE)
    g = p.mmap(None, 16 * PAGE, RW, ANON | lv.MAP_GROWSDOWN)
    act(p, g + 4 * PAGE, "w")                        # a stack VMA: the reference's
    c.exit()
    for i in range(0, 300, 11):                      # reuse: only this mm maps them now
        act(p, a + i * PAGE, "w")
    b = p.mmap(None, 8 << 20, RW, ANON)              # many faults: SPLIT_RSS folds
    for i in range(0, 2048, 2):
        act(p, b + i * PAGE, "w" if i % 4 else "r")


def w_cow_with_swap(m, step, act):
    p = m.spawn("swap")
    a = p.mmap(None, 64 * PAGE, RW, ANON)
    step(p, a, 64 * PAGE, True)
    c = p.fork()
    p.madvise(a, 16 * PAGE, lv.MADV_DONTNEED)
    for i in range(0, 64, 2):
        act(p, a + i * PAGE, "w")
        act(c, a + i * PAGE + PAGE, "w")


def _pure_alone(fast):
    """With ``user_access`` alone, its pure-Python body (the compiled core's stands in for
    it where built: tests/test_ccore.py); with every accelerator, the registered one."""
    if fast is True:
        return None
    return lambda m: setattr(m.accel, "user_access", uaccess_one.user_access)


@pytest.mark.parametrize("fast", [{"user_access"}, True], ids=["alone", "all"])
@pytest.mark.parametrize("workload", [w_one_page_accesses, w_cow_with_swap])
def test_user_access_equals_reference(workload, fast):
    slow = run(workload, False)
    quick = run(workload, fast, patch=_pure_alone(fast))
    assert_same(slow, quick)
    assert slow["signals"] == quick["signals"]


@pytest.mark.parametrize("changes", [{"_PG_NEW_ANON": 1 << 3}, {"_D": 0}],
                         ids=["new_page_flags", "dirty_bit"])
def test_comparison_catches_a_broken_user_access(changes):
    slow = run(w_one_page_accesses, False)
    broken = rebound(uaccess_one, "user_access", **changes)

    def patch(m):
        m.accel.user_access = broken

    with pytest.raises(AssertionError):
        assert_same(slow, run(w_one_page_accesses, {"user_access"}, patch=patch))


@pytest.mark.parametrize("fast", [{"user_access"}, True], ids=["alone", "all"])
def test_out_of_memory_in_cow_equals_reference(fast):
    # COW breaks until the allocator runs dry (overcommit always): the OOM killer runs on
    # the reference path, after the same counters and frames
    def one(fast):
        m = lv.Machine(ram="64M", cpus=2, seed=1, sysctl={"vm.overcommit_memory": 1},
                       fast=fast)
        m.spawn("init")
        p = m.spawn("oom")
        a = p.mmap(None, 36 << 20, RW, ANON)
        p.touch(a, 36 << 20, write=True)
        m.check()
        c = p.fork()
        m.check()
        killed = []
        for va in range(a, a + (36 << 20), PAGE):
            try:
                p.access(va, "w")
            except lv.ProcessKilled:
                killed.append(va)
                break
        m.check()
        fp = fingerprint(m)
        fp["killed"] = killed
        fp["child"] = c.pid
        fp["oom"] = [line for line in m.dmesg() if "Killed process" in line]
        return fp
    slow = one(False)
    assert slow["oom"], "the workload must reach the OOM killer"
    assert_same(slow, one(fast))


def w_zero_page_reads(m, step, act):
    # the read fault written out in user_access: every case it takes and hands back
    p = m.spawn("reads")
    a = p.mmap(None, 64 * PAGE, RW, ANON)
    for i in range(0, 64, 3):                        # zero-page read faults
        act(p, a + i * PAGE + 8, "r")
    for i in range(0, 64, 3):                        # TLB hits
        act(p, a + i * PAGE + 16, "r")
    step(p, a + PAGE, PAGE)                          # one page's touch: one access
    step(p, a + 2 * PAGE + 100, 50)
    step(p, a + 4 * PAGE, 2 * PAGE)
    x = p.mmap(None, 8 * PAGE, lv.PROT_EXEC, ANON)   # VM_EXEC alone: a read maps it too
    act(p, x, "r")
    act(p, x + PAGE, "x")                            # a fetch: handed back
    wo = p.mmap(None, 8 * PAGE, lv.PROT_WRITE, ANON)
    act(p, wo + PAGE, "r")
    none = p.mmap(None, 8 * PAGE, lv.PROT_NONE, ANON)
    act(p, none, "r")                                # SIGSEGV: the reference's
    sh = p.mmap(None, 8 * PAGE, RW, lv.MAP_SHARED | lv.MAP_ANONYMOUS)
    act(p, sh + PAGE, "r")                           # shmem: the reference's
    p.mprotect(a, 32 * PAGE, lv.PROT_READ)
    act(p, a + 5 * PAGE, "r")
    p.task.cpu = 1                                   # another CPU's TLB
    act(p, a + 7 * PAGE, "r")
    b = p.mmap(None, 4 << 20, RW, ANON)              # new PTE tables; SPLIT_RSS folds
    for i in range(0, 1024):
        act(p, b + i * PAGE, "r")
    act(p, b + 3 * PAGE, "w")                        # a write over the zero page
    step(p, b + 5 * PAGE, PAGE, True)


@pytest.mark.parametrize("fast", [{"user_access"}, True], ids=["alone", "all"])
def test_zero_page_reads_equal_reference(fast):
    slow = run(w_zero_page_reads, False)
    assert any(isinstance(s, tuple) and s[0] == "SegmentationFault" for s in slow["signals"])
    quick = run(w_zero_page_reads, fast, patch=_pure_alone(fast))
    assert_same(slow, quick)
    assert slow["signals"] == quick["signals"]


def _soft_dirty_zero_entry(m, prot):
    zero_pfn, leaf, plain = uaccess_one._zero_entry(m, prot)
    return zero_pfn, leaf | _PAGE_SOFT_DIRTY, plain


@pytest.mark.parametrize("changes", [{"_zero_entry": _soft_dirty_zero_entry,
                                      "_zero_cache": {}},
                                     {"PGFAULT": PGFAULT + 1}],
                         ids=["zero_pte", "fault_event"])
def test_comparison_catches_a_broken_zero_page_read(changes):
    slow = run(w_zero_page_reads, False)
    broken = rebound(uaccess_one, "user_access", **changes)

    def patch(m):
        m.accel.user_access = broken

    with pytest.raises(AssertionError):
        assert_same(slow, run(w_zero_page_reads, {"user_access"}, patch=patch))


# random histories of one-page accesses: reads and writes of two processes that share
# pages after fork, CPU moves, kernel allocations that empty the pcp lists (refills, the
# slow allocation), unmaps and remaps, write-protection, and the child's exit
_op = st.one_of(
    st.tuples(st.just("r"), st.integers(0, 1), st.integers(0, 255)),
    st.tuples(st.just("w"), st.integers(0, 1), st.integers(0, 255)),
    st.tuples(st.just("cpu"), st.integers(0, 1), st.integers(0, 1)),
    st.tuples(st.just("kalloc"), st.integers(0, 1), st.integers(1, 300)),
    st.tuples(st.just("kfree"), st.integers(0, 1), st.integers(1, 300)),
    st.tuples(st.just("remap"), st.integers(0, 1), st.integers(0, 255)),
    st.tuples(st.just("ro"), st.integers(0, 1), st.integers(0, 255)),
    st.tuples(st.just("exit"), st.just(1), st.just(0)),
)


def _history(ops):
    def workload(m, step, act):
        p = m.spawn("parent")
        a = p.mmap(None, 256 * PAGE, RW, ANON)
        step(p, a, 64 * PAGE, True)
        procs = [p, p.fork()]
        held = []
        for kind, who, x in ops:
            q = procs[who]
            if q is None:
                continue
            if kind in ("r", "w"):
                act(q, a + x * PAGE + 8, kind)
            elif kind == "cpu":
                q.task.cpu = x
            elif kind == "kalloc":
                for _ in range(x):
                    pfn = m.kernel.alloc_pages("GFP_HIGHUSER_MOVABLE|__GFP_NOWARN", 0,
                                               cpu=who)
                    if pfn is not None:
                        held.append(pfn)
            elif kind == "kfree":
                for pfn in held[:x]:
                    m.kernel.free_pages(pfn, 0, cpu=who)
                del held[:x]
            elif kind == "remap":
                n = min(16, 256 - x)
                q.munmap(a + x * PAGE, n * PAGE)
                q.mmap(a + x * PAGE, n * PAGE, RW, ANON | lv.MAP_FIXED)
            elif kind == "ro":
                q.mprotect(a + x * PAGE, min(8, 256 - x) * PAGE, lv.PROT_READ)
            elif kind == "exit":
                q.exit()
                procs[who] = None
            m.check()
    return workload


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(_op, min_size=1, max_size=24))
def test_random_histories_both_bodies_equal_reference(ops):
    w = _history(ops)
    slow = run(w, False)
    for patch in (None, _pure_alone(set())):       # the registered body, the pure one
        quick = run(w, True, patch=patch)
        assert_same(slow, quick)
        assert slow["signals"] == quick["signals"]
