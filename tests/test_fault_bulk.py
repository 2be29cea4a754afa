"""The bulk touch (accelerator ``touch_bulk``) and the batched ``release_pages`` leave exactly
the state the one-access-at-a-time reference leaves (DESIGN §3: fast paths must equal slow
paths). Two machines run the same workload, one with only that accelerator on
(``Machine(fast={name})``), one with none (``fast=False``); the whole-machine fingerprints
of linuxvm.accel.fingerprint -- every struct page array, free list, pcp and LRU list,
page-table byte, TLB set and counter, RSS figure, content tag and log line -- must then be
equal."""

import types

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import linuxvm as lv
from linuxvm.accel import swap as accel_swap, uaccess as accel_uaccess
from linuxvm.accel.fingerprint import fingerprint, assert_same   # noqa: F401 (test_mmap_fast)
from linuxvm.arch.x86 import uaccess

PAGE = 4096


def rebound(module, name, **changes):
    """A copy of ``module.name`` that sees ``changes`` in place of some of its module's
    globals (the module itself is left alone): the way to build a broken-on-purpose
    accelerator for one machine (``m.accel.NAME = rebound(...)``). The module's functions
    and classes it reaches are copied too, so a change deep in a call chain takes effect."""
    own = vars(module)
    ns = dict(own)
    ns.update(changes)

    def copy(f):
        g = types.FunctionType(f.__code__, ns, f.__name__, f.__defaults__, f.__closure__)
        g.__kwdefaults__ = f.__kwdefaults__
        return g

    for k, v in own.items():
        if k in changes:
            continue
        if isinstance(v, types.FunctionType) and v.__globals__ is own:
            ns[k] = copy(v)
        elif isinstance(v, type) and v.__module__ == module.__name__:
            ns[k] = type(v.__name__, (v,), {a: copy(f) for a, f in vars(v).items()
                                            if isinstance(f, types.FunctionType)})
    return ns[name]


# touch_bulk writes take their frames from alloc_pages_order0_batch, which makes segments
# only while the order-0 allocator's accelerator is on too: alone, each page of a write is
# one access and the bulk path is never reached
BULK = {"touch_bulk", "alloc_order0"}


def run(workload, fast, ram="512M", patch=None):
    """Run ``workload`` on a fresh machine with accelerators ``fast``, touching with
    ``bulk`` asked for (so ``touch_bulk`` runs when it is on); ``patch(m)`` may replace an
    accelerator first. Returns the fingerprint."""
    m = lv.Machine(ram=ram, cpus=2, seed=7, fast=fast)
    if patch is not None:
        patch(m)

    def step(p, a, n, w=False):
        uaccess.touch(m, p.task, a, n, w, bulk=True)
        m.check()                       # read-only: both runs stay comparable

    workload(m, step)
    m.check()
    return fingerprint(m)


def w_write_range(m, touch):
    #   one 3 MiB region written end to end: a PTE table per 2 MiB, pagevec drains every 14
    p = m.spawn("a")
    m.check()
    a = p.mmap(None, 3 << 20, 3, 0x22)
    m.check()
    touch(p, a + 5 * PAGE, (3 << 20) - 5 * PAGE, True)


def w_read_then_write(m, touch):
    p = m.spawn("b")
    m.check()
    a = p.mmap(None, 600 * PAGE, 3, 0x22)
    m.check()
    touch(p, a, 300 * PAGE)                     # zero page
    touch(p, a + 100 * PAGE, 400 * PAGE, True)  # COW of zero-page PTEs, then fresh faults


def w_holes_and_fork(m, touch):
    p = m.spawn("c")
    m.check()
    a = p.mmap(None, 256 * PAGE, 3, 0x22)
    m.check()
    touch(p, a, 10 * PAGE, True)
    touch(p, a + 50 * PAGE, 100 * PAGE, True)
    c = p.fork()
    m.check()
    touch(c, a, 256 * PAGE, True)               # COW breaks and fresh faults, interleaved
    touch(p, a, 256 * PAGE)
    b = p.mmap(None, 64 * PAGE, 1, 0x22)        # read-only VMA
    m.check()
    touch(p, b, 64 * PAGE)
    c.exit()
    m.check()


def w_many_vmas(m, touch):
    p = m.spawn("d")
    m.check()
    addrs = [p.mmap(None, 37 * PAGE, 3, 0x22) for _ in range(5)]
    m.check()
    p.mprotect(addrs[2], 10 * PAGE, 1)
    m.check()
    for a in addrs:
        touch(p, a, 37 * PAGE, a != addrs[2])
    # a range spanning several VMAs and a hole
    touch(p, addrs[-1], 37 * PAGE, True)


def w_cross_cpu_free(m, touch):
    # pages wait in CPU 0's pagevec; the task moves to CPU 1 and unmaps them (the zap drains
    # only CPU 1's pagevec), so CPU 0's next drain frees them between two allocations
    p = m.spawn("x")
    m.check()
    a = p.mmap(None, 40 * PAGE, 3, 0x22)
    m.check()
    touch(p, a, 5 * PAGE, True)
    p.task.cpu = 1
    m.check()
    p.munmap(a, 5 * PAGE)
    m.check()
    p.task.cpu = 0
    m.check()
    touch(p, a + 8 * PAGE, 30 * PAGE, True)


def w_fair_zones(m, touch):
    #   16 MiB written from an unaligned start: the fair-zone batches of DMA32 and DMA run
    #   out and are reset several times, refills alternate between the zones, and each
    #   2 MiB takes a PTE table from the unmovable pcp list between data pages; the content
    #   tags wrap to 1 on the way
    m.content_seq = 0xFFFFFFFF - 700
    p = m.spawn("f")
    m.check()
    a = p.mmap(None, 16 << 20, 3, 0x22)
    m.check()
    touch(p, a + 4 * PAGE + 123, (16 << 20) - 9 * PAGE, True)
    touch(p, a, 16 << 20)                                 # all present now: TLB hits


def w_fragmented(m, touch):
    #   free memory cut into small blocks first: every other page of 3000 freed, then
    #   drained, so the movable lists start with many order-0 and order-1 blocks; the pcp
    #   lists of both CPUs are left non-empty
    held = [m.kernel.alloc_pages("GFP_HIGHUSER_MOVABLE", 0, cpu=i & 1) for i in range(3000)]
    for pfn in held[::2]:
        m.kernel.free_pages(pfn, 0, cpu=0)
    m.kernel.drain_all_pages()
    m.check()
    for pfn in held[1::4]:
        m.kernel.free_pages(pfn, 0, cpu=1)
    for pfn in held[3::8]:
        m.kernel.free_pages(pfn, 0, cpu=0)
    m.check()
    p = m.spawn("g")
    m.check()
    a = p.mmap(None, 4000 * PAGE, 3, 0x22)
    m.check()
    touch(p, a, 1500 * PAGE, True)
    p.task.cpu = 1
    m.check()
    touch(p, a + 1500 * PAGE, 2500 * PAGE, True)


def w_pcp_refilled_by_frees(m, touch):
    #   pages freed by munmap wait on the pcp list and are the next ones handed out, then
    #   the faults refill from buddy; two processes on the two CPUs
    p = m.spawn("h")
    q = m.spawn("i")
    q.task.cpu = 1
    m.check()
    a = p.mmap(None, 1200 * PAGE, 3, 0x22)
    b = q.mmap(None, 1200 * PAGE, 3, 0x22)
    m.check()
    touch(p, a, 600 * PAGE, True)
    touch(q, b, 600 * PAGE, True)
    p.munmap(a + 100 * PAGE, 150 * PAGE)
    m.check()
    touch(q, b + 600 * PAGE, 300 * PAGE, True)
    p.mmap(a + 100 * PAGE, 150 * PAGE, 3, 0x32)           # MAP_FIXED back in place
    m.check()
    touch(p, a, 1200 * PAGE, True)
    touch(q, b, 1200 * PAGE)


def w_mlocked(m, touch):
    #   an mlocked VMA between plain ones: its pages go to the unevictable list, one access
    #   at a time, inside a range the bulk path handles on both sides
    p = m.spawn("l", uid=0)                              # no RLIMIT_MEMLOCK cap
    m.check()
    a = p.mmap(None, 300 * PAGE, 3, 0x22)
    m.check()
    p.mlock(a + 100 * PAGE, 50 * PAGE)
    m.check()
    touch(p, a, 300 * PAGE, True)
    b = p.mmap(None, 80 * PAGE, 3, 0x2022)                # MAP_LOCKED
    m.check()
    touch(p, b, 80 * PAGE)
    touch(p, b, 80 * PAGE, True)


def w_zero_page_then_write(m, touch):
    #   read faults map the zero page (no RSS, the SPLIT_RSS events still count), then
    #   write faults copy it; RSS folds into the mm every 64 events throughout
    p = m.spawn("z")
    m.check()
    a = p.mmap(None, 1100 * PAGE, 3, 0x22)
    m.check()
    touch(p, a + 10 * PAGE, 1000 * PAGE)
    touch(p, a, 1100 * PAGE, True)
    touch(p, a, 1100 * PAGE)


def w_cached_translations(m, touch):
    #   translations the TLB holds for pages whose PTEs are none (stale entries, put there
    #   by hand): the accesses use them without faulting, so a run stops before them -- a
    #   4 KiB entry in the middle of a written range, a 2 MiB entry over a read range
    p = m.spawn("t")
    m.check()
    a = p.mmap(None, 3 << 20, 3, 0x22)
    m.check()
    touch(p, a, PAGE, True)
    tlb = m.cpus[p.task.cpu].tlb
    e = tlb.stlb.sets[(a >> 12) & tlb.stlb.mask][a >> 12]
    tlb.fill(a + 20 * PAGE, 12, e)
    touch(p, a, 600 * PAGE, True)
    r2 = (a + (2 << 20)) & ~((2 << 20) - 1)
    tlb.fill(r2, 21, e)
    touch(p, r2 - 8 * PAGE, a + (3 << 20) - r2 + 8 * PAGE)


@pytest.mark.parametrize("workload", [w_write_range, w_read_then_write, w_holes_and_fork,
                                      w_many_vmas, w_cross_cpu_free, w_fair_zones,
                                      w_fragmented, w_pcp_refilled_by_frees, w_mlocked,
                                      w_zero_page_then_write, w_cached_translations])
def test_bulk_touch_equals_per_access(workload):
    assert_same(run(workload, False), run(workload, BULK))


def w_until_oom(m, touch):
    #   near the watermarks: kernel allocations take memory down close to the low mark,
    #   then the faults go through the slow path (min mark), the movable lists run dry and
    #   refills steal other pageblocks, and the last fault fails
    m.sysctl["vm.overcommit_memory"] = 1
    held = []
    while m.nr_free_pages() > sum(z.watermark[2] for z in m.zones) + 3000:
        held.append(m.kernel.alloc_pages("GFP_KERNEL", 0, cpu=0))
    for pfn in held[::3]:
        m.kernel.free_pages(pfn, 0, cpu=1)
    m.check()
    init = m.spawn("init")       # pid 1: the OOM killer never chooses init
    p = m.spawn("o")
    m.check()
    a = p.mmap(None, 8000 * PAGE, 3, 0x22)
    m.check()
    # 4.6 kills the only killable task, the one faulting: the fault that ran the killer
    # ends with the SIGKILL (the reaper and the exit give its memory back)
    with pytest.raises(lv.ProcessKilled):
        touch(p, a, 8000 * PAGE, True)
    m.check()
    # init alone runs the machine dry: nothing left to kill, 4.6 panics
    b = init.mmap(None, 40000 * PAGE, 3, 0x22)
    m.check()
    with pytest.raises(lv.OutOfMemoryPanic):
        touch(init, b, 40000 * PAGE, True)
    m.check()
    with pytest.raises(lv.KernelPanic):
        init.mmap(None, PAGE, 3, 0x22)


def w_three_zones(m, touch):
    #   above 4 GiB the zonelist is Normal, DMA32, DMA: the fair batches send refills to
    #   all three in turn
    p = m.spawn("n")
    m.check()
    a = p.mmap(None, 20 << 20, 3, 0x22)
    m.check()
    touch(p, a, 20 << 20, True)


def test_bulk_touch_equals_per_access_with_three_zones():
    assert_same(run(w_three_zones, False, "5G"), run(w_three_zones, BULK, "5G"))


def test_bulk_touch_equals_per_access_down_to_oom():
    assert_same(run(w_until_oom, False, "64M"), run(w_until_oom, BULK, "64M"))


# deliberately broken variants of the bulk path: the comparison must tell them apart
_real_rss_faults = accel_uaccess._rss_faults


@pytest.mark.parametrize("changes", [
    {"PAGEVEC_SIZE": 15},                                       # drains at other points
    {"_rss_faults": lambda task, n, member: _real_rss_faults(task, n, None)},  # RSS lost
    {"fill_new_4k": lambda tlb, newest_first: None},            # no TLB fills
], ids=["pagevec_size", "rss_lost", "no_tlb_fills"])
def test_broken_bulk_path_is_caught(changes):
    slow = run(w_write_range, False)
    broken = rebound(accel_uaccess, "touch_bulk", **changes)

    def patch(m):
        m.accel.touch_bulk = broken

    with pytest.raises((AssertionError, lv.KernelBug)):        # a difference, or m.check()
        assert_same(slow, run(w_write_range, BULK, patch=patch))


def test_machine_without_accelerators_takes_the_reference_touch():
    # Process.touch(bulk=True) on Machine(fast=False) is the per-page loop: a bulk
    # accelerator that would break the state is never reached
    def explode(*args):
        raise AssertionError("an accelerator ran on Machine(fast=False)")

    m = lv.Machine(ram="256M", cpus=1, seed=2, fast=False)
    for name in ("touch_bulk", "touch_write"):
        assert getattr(m.accel, name) is None
    p = m.spawn("ref")
    a = p.mmap(None, 64 * PAGE, 3, 0x22)
    p.touch(a, 64 * PAGE, write=True)
    m.check()
    assert p.task.min_flt == 64
    m.accel.touch_bulk = explode
    with pytest.raises(AssertionError):
        p.touch(a, 64 * PAGE, write=True)
    p.touch(a, 64 * PAGE, write=True, bulk=False)     # bulk not asked for: not reached


def test_bulk_touch_segfaults_like_per_access():
    m = lv.Machine(ram="256M", cpus=1, seed=2)
    p = m.spawn("s")
    a = p.mmap(None, 8 * PAGE, 3, 0x22)
    p.munmap(a + 4 * PAGE, 4 * PAGE)
    assert m.accel.touch_bulk is not None
    with pytest.raises(lv.SegmentationFault) as e:
        p.touch(a, 8 * PAGE, True)
    assert (e.value.code, e.value.addr) == (1, a + 4 * PAGE)
    m.check()
    assert p.task.min_flt >= 4


def w_exit_and_munmap(m, touch):
    p = m.spawn("z")
    m.check()
    a = p.mmap(None, 3000 * PAGE, 3, 0x22)
    m.check()
    touch(p, a, 1200 * PAGE)
    touch(p, a + 100 * PAGE, 2800 * PAGE, True)         # > one gather batch (510 pages)
    c = p.fork()
    m.check()
    touch(c, a + 500 * PAGE, 300 * PAGE, True)
    p.munmap(a + 7 * PAGE, 1100 * PAGE)                  # partial tables at both ends
    m.check()
    p.madvise(a + 2000 * PAGE, 600 * PAGE, 4)            # MADV_DONTNEED
    m.check()
    c.exit()
    m.check()
    p.exit()
    m.check()


def w_fork_copy(m, touch):
    w_holes_and_fork(m, touch)
    p = m.spawn("forker")
    m.check()
    a = p.mmap(None, 700 * PAGE, 3, 0x22)
    m.check()
    touch(p, a, 300 * PAGE)
    touch(p, a + 200 * PAGE, 500 * PAGE, True)
    p.mprotect(a + 600 * PAGE, 50 * PAGE, 1)
    m.check()
    c = p.fork()
    m.check()
    c.fork()
    m.check()
    touch(c, a, 600 * PAGE, True)


def w_big_exit(m, touch):
    """More pages than the gather holds (8 + 19 * 510), so flushes are forced mid-zap;
    zero-page entries, an mlocked stretch (per-entry fallback) and a COW split."""
    p = m.spawn("big")
    a = p.mmap(None, 12000 * PAGE, 3, 0x22)
    m.check()
    touch(p, a, 12000 * PAGE, True)
    p.munmap(a + 5000 * PAGE, 40 * PAGE)
    b = p.mmap(a + 5000 * PAGE, 40 * PAGE, 3, 0x32)     # MAP_FIXED: read faults map zero pages
    touch(p, b, 40 * PAGE)
    m.check()
    p.mlock(a + 7000 * PAGE, 12 * PAGE)
    m.check()
    c = p.fork()
    m.check()
    touch(c, a + 100 * PAGE, 2000 * PAGE, True)
    c.exit()                                             # shared pages: references only
    m.check()
    p.munmap(a + 1000 * PAGE, 10500 * PAGE)              # frees, several forced flushes
    m.check()
    p.exit()
    m.check()


# the batched release_pages (pagevec drains, zap gathers, exit) and the one-page-at-a-time
# loop it must equal, through the per-access path
@pytest.mark.parametrize("workload", [w_fork_copy, w_exit_and_munmap, w_big_exit])
def test_release_pages_equals_one_at_a_time(workload):
    assert_same(run(workload, False), run(workload, {"release_pages"}))


def test_fingerprint_catches_a_wrong_free_order():
    """A release_pages that frees its pages in the wrong order leaves the pcp and buddy
    lists in another order; the comparison above must see that (so it can fail)."""
    real = accel_swap.release_pages

    def reversed_frees(m, pfns, cold=False, cpu=None):
        return real(m, list(pfns)[::-1], cold, cpu)

    def patch(m):
        m.accel.release_pages = reversed_frees

    good = run(w_big_exit, False)
    with pytest.raises(AssertionError):
        assert_same(good, run(w_big_exit, {"release_pages"}, patch=patch))


# random histories: kernel allocations and frees on both CPUs, maps and unmaps, CPU
# moves, then touches (read or write) of random sub-ranges, per access or in bulk
_op = st.one_of(
    st.tuples(st.just("kalloc"), st.integers(1, 400), st.integers(0, 1)),
    st.tuples(st.just("kfree"), st.integers(1, 400), st.integers(0, 1)),
    st.tuples(st.just("drain"), st.just(0), st.just(0)),
    st.tuples(st.just("cpu"), st.integers(0, 1), st.just(0)),
    st.tuples(st.just("touch"), st.integers(0, 2047), st.integers(1, 1200)),
    st.tuples(st.just("read"), st.integers(0, 2047), st.integers(1, 1200)),
    st.tuples(st.just("munmap"), st.integers(0, 2047), st.integers(1, 300)),
)


def _random_workload(ops):
    def workload(m, touch):
        p = m.spawn("r")
        m.check()
        a = p.mmap(None, 2048 * PAGE, 3, 0x22)
        m.check()
        held = []
        for kind, x, y in ops:
            if kind == "kalloc":
                for _ in range(x):
                    pfn = m.kernel.alloc_pages("GFP_HIGHUSER_MOVABLE|__GFP_NOWARN", 0, cpu=y)
                    if pfn is not None:
                        held.append(pfn)
            elif kind == "kfree":
                for pfn in held[y::2][:x]:
                    m.kernel.free_pages(pfn, 0, cpu=y)
                    held.remove(pfn)
            elif kind == "drain":
                m.kernel.drain_all_pages()
            elif kind == "cpu":
                p.task.cpu = x
            elif kind == "munmap":
                p.munmap(a + x * PAGE, min(y, 2048 - x) * PAGE)
                p.mmap(a + x * PAGE, min(y, 2048 - x) * PAGE, 3, 0x32)
            else:
                touch(p, a + x * PAGE, min(y, 2048 - x) * PAGE, kind == "touch")
            m.check()
    return workload


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(_op, min_size=1, max_size=8))
def test_random_histories(ops):
    w = _random_workload(ops)
    assert_same(run(w, False, "128M"), run(w, BULK, "128M"))
