"""The read touch of file mappings (accelerator ``touch_file_read``) leaves exactly the state
the one-access-at-a-time reference leaves (DESIGN §3). Two machines run the same workload,
one with that accelerator on (alone, or with every accelerator), one with none
(``fast=False``); the whole-machine fingerprints (linuxvm.accel.fingerprint: PTEs and
their accessed bits, refcounts, mapcounts, NR_FILE_MAPPED, RSS caches and their sync
points, pgfault and min_flt, mmap_miss, TLB sets and counters, content tags, the log) must
be equal."""

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

import linuxvm as lv
from linuxvm.accel import uaccess_filemap
from linuxvm.accel.fingerprint import fingerprint, assert_same
from linuxvm.arch.x86 import uaccess
from test_fault_bulk import rebound

PAGE = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
ALONE = {"touch_file_read"}


def run(workload, fast, ram="256M", patch=None):
    """Run ``workload`` on a fresh machine with accelerators ``fast``, touching with
    ``bulk`` asked for, ``m.check()`` after every touch; the fingerprint, with what the
    touches returned (a signal's name)."""
    m = lv.Machine(ram=ram, cpus=2, seed=11, fast=fast)
    if patch is not None:
        patch(m)
    log = []

    def touch(p, a, n, write=False):
        try:
            uaccess.touch(m, p.task, a, n, write, bulk=True)
            log.append(None)
        except lv.Signal as e:                          # ProcessKilled is one too
            log.append((type(e).__name__, e.addr))
        m.check()

    workload(m, touch)
    m.check()
    fp = fingerprint(m)
    fp["returned"] = log
    return fp


def _cached_file(p, path: str, pages: int, buf: int) -> int:
    """A file of ``pages`` pages written with write(2), all cached; its fd."""
    fd = p.open(path, lv.O_RDWR | lv.O_CREAT, 0o600)
    left = pages
    while left:
        n = min(left, 64)
        p.sys_write(fd, buf, n * PAGE)
        left -= n
    return fd


def _writer(m):
    p = m.spawn("w")
    buf = p.mmap(None, 64 * PAGE, RW, ANON)
    p.touch(buf, 64 * PAGE, write=True)
    return p, buf


def w_big_private(m, touch):
    #   |ffffffffffffffff|ffffffffffffffff|ffff    2100 cached pages, three PTE tables,
    #   |f.f.ffff..ffffff|                         touched whole (the RSS cache syncs many
    #                                              times), then again with COW copies among
    #                                              them and the TLB refilled meanwhile
    p, buf = _writer(m)
    fd = _cached_file(p, "/f", 2100, buf)
    a = p.mmap(None, 2100 * PAGE, RW, lv.MAP_PRIVATE, fd, 0)
    touch(p, a, 2100 * PAGE)
    for i in range(0, 2100, 37):
        p.write(a + i * PAGE, b"c")
    b = p.mmap(None, 1800 * PAGE, RW, ANON)
    touch(p, b, 1800 * PAGE)
    touch(p, a + 5, 2100 * PAGE - 5)


def w_windows_and_vma_edges(m, touch):
    #   ..fff|f..          a VMA starting off a window and a PMD boundary, at a file
    #   fff.fff            offset; touches starting mid-window, ending mid-window, a
    #   fffff####          shared mapping running past EOF (SIGBUS), a touch into a gap
    p, buf = _writer(m)
    fd = _cached_file(p, "/f", 600, buf)
    a = p.mmap(0x7f00001f9000, 500 * PAGE, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED,
               fd, 3 * PAGE)
    touch(p, a + 9 * PAGE + 100, 3 * PAGE)
    touch(p, a + 2 * PAGE, 30 * PAGE)
    touch(p, a, 500 * PAGE)
    touch(p, a + 490 * PAGE, 40 * PAGE)
    s = p.mmap(None, 640 * PAGE, lv.PROT_READ, lv.MAP_SHARED, fd, 0)
    touch(p, s + 590 * PAGE, 50 * PAGE)
    touch(p, s, 640 * PAGE)


def w_partly_cached(m, touch):
    #   f.f..fff?ff      a disk file partly cached (read(2) leaves a readahead marker),
    #                    pages dropped with fadvise, a truncate, random and sequential
    #                    advice: faults fault-around cannot serve go the reference way
    p, buf = _writer(m)
    m.fs.create("/d", size=900 * PAGE + 10, data=bytes(range(256)) * 16)
    fd = p.open("/d", lv.O_RDONLY)
    p.pread(fd, buf, 16 * PAGE, 300 * PAGE)
    p.pread(fd, buf, 4 * PAGE, 700 * PAGE)
    a = p.mmap(None, 920 * PAGE, lv.PROT_READ, lv.MAP_PRIVATE, fd, 0)
    touch(p, a + 280 * PAGE, 80 * PAGE)
    touch(p, a, 920 * PAGE)
    p.munmap(a, 920 * PAGE)
    p.posix_fadvise(fd, 100 * PAGE, 50 * PAGE, lv.POSIX_FADV_DONTNEED)
    b = p.mmap(None, 900 * PAGE, lv.PROT_READ, lv.MAP_PRIVATE, fd, 0)
    p.madvise(b, 450 * PAGE, lv.MADV_RANDOM)
    p.madvise(b + 450 * PAGE, 450 * PAGE, lv.MADV_SEQUENTIAL)
    touch(p, b, 900 * PAGE)
    fd2 = _cached_file(p, "/t", 300, buf)
    c = p.mmap(None, 300 * PAGE, lv.PROT_READ, lv.MAP_SHARED, fd2, 0)
    touch(p, c, 40 * PAGE)
    p.ftruncate(fd2, 100 * PAGE + 7)
    touch(p, c, 300 * PAGE)


def w_mixed_vmas_tmpfs_fork(m, touch):
    #   aaaaffffsssslll   anonymous, file, tmpfs and mlocked file VMAs in one touch; a
    #                     child on the other CPU refaults the file pages
    p, buf = _writer(m)
    fd = _cached_file(p, "/f", 200, buf)
    sfd = p.open("/dev/shm/x", lv.O_RDWR | lv.O_CREAT, 0o600)
    p.sys_write(sfd, buf, 64 * PAGE)
    a = p.mmap(None, 400 * PAGE, RW, ANON)
    p.mmap(a + 100 * PAGE, 100 * PAGE, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
    p.mmap(a + 200 * PAGE, 64 * PAGE, lv.PROT_READ, lv.MAP_SHARED | lv.MAP_FIXED, sfd, 0)
    p.mmap(a + 300 * PAGE, 100 * PAGE, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED, fd,
           100 * PAGE)
    p.mlock(a + 300 * PAGE, 8 * PAGE)
    touch(p, a + 50 * PAGE, 350 * PAGE)
    c = p.fork()
    c.task.cpu = 1
    touch(c, a, 400 * PAGE)
    touch(p, a, 400 * PAGE)
    c.exit()


def w_window_sizes(m, touch):
    #   fault_around_bytes of one page (no fault-around), 8 pages, a whole PTE table
    p, buf = _writer(m)
    fd = _cached_file(p, "/f", 1200, buf)
    for size in (4096, 32768, 1 << 21, 65536):
        m.fault_around_bytes = size
        a = p.mmap(None, 1100 * PAGE, lv.PROT_READ, lv.MAP_PRIVATE, fd, 50 * PAGE)
        touch(p, a + 30 * PAGE, 1000 * PAGE)
        p.munmap(a, 1100 * PAGE)


def w_low_memory(m, touch):
    #   free memory near the watermarks: the page-table allocations might reach the slow
    #   path, so the held TLB fills go in first; then a table allocation that needs the
    #   OOM killer, which the per-access path runs (it kills the toucher)
    init = m.spawn("init")                 # pid 1: never the OOM killer's victim
    p, buf = _writer(m)
    fd = _cached_file(p, "/f", 3000, buf)
    p.fsync(fd)
    held = []
    while m.nr_free_pages() > sum(z.watermark[2] for z in m.zones) + 300:
        pfn = m.kernel.alloc_pages("GFP_KERNEL", 0)
        if pfn is None:
            break
        held.append(pfn)
    m.check()
    for off in (0, 1000, 2000):
        a = p.mmap(None, 1000 * PAGE, lv.PROT_READ, lv.MAP_PRIVATE, fd, off * PAGE)
        touch(p, a, 1000 * PAGE)
    while True:
        pfn = m.kernel.alloc_pages("GFP_KERNEL|__GFP_NORETRY|__GFP_NOWARN", 0)
        if pfn is None:
            break
        held.append(pfn)
    m.check()
    a = p.mmap(0x7f0000000000, 1000 * PAGE, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
    touch(p, a, 1000 * PAGE)
    for pfn in held:
        m.kernel.free_pages(pfn, 0)
    init.exit()


WORKLOADS = [w_big_private, w_windows_and_vma_edges, w_partly_cached,
             w_mixed_vmas_tmpfs_fork, w_window_sizes]


@pytest.mark.parametrize("workload", WORKLOADS)
def test_file_read_touch_equals_per_access(workload):
    ref = run(workload, False)
    assert_same(run(workload, ALONE), ref)
    assert_same(run(workload, True), ref)


def test_file_read_touch_equals_per_access_near_the_watermarks():
    ref = run(w_low_memory, False, "64M")
    assert_same(run(w_low_memory, ALONE, "64M"), ref)
    assert_same(run(w_low_memory, True, "64M"), ref)


@pytest.mark.parametrize("changes", [
    {"TASK_RSS_EVENTS_THRESH": 63},                     # the RSS cache syncs elsewhere
    {"_fill_runs": lambda lv, runs: None},              # the retried walks' TLB fills lost
    {"NR_FILE_MAPPED": 0},                              # first mappings counted elsewhere
], ids=["rss_sync", "no_tlb_fills", "file_mapped"])
def test_broken_file_touch_is_caught(changes):
    w, ram = w_big_private, "256M"
    slow = run(w, False, ram)
    broken = rebound(uaccess_filemap, "touch_file_read", **changes)

    def patch(m):
        m.accel.touch_file_read = broken

    with pytest.raises((AssertionError, lv.KernelBug)):        # a difference, or m.check()
        assert_same(slow, run(w, ALONE, ram, patch=patch))


def test_switched_off_by_name_and_by_fast_false():
    def explode(*args):
        raise AssertionError("touch_file_read ran while switched off")

    for m in (lv.Machine(ram="128M", fast=False),
              lv.Machine(ram="128M", fast={"touch_bulk"})):
        assert m.accel.touch_file_read is None
    m = lv.Machine(ram="128M")
    assert m.accel.touch_file_read is not None
    m.accel.set("touch_file_read", False)
    assert m.accel.touch_file_read is None
    m.accel.set("touch_file_read", True)
    p, buf = _writer(m)
    fd = _cached_file(p, "/f", 64, buf)
    a = p.mmap(None, 64 * PAGE, lv.PROT_READ, lv.MAP_PRIVATE, fd, 0)
    m.accel.touch_file_read = explode
    with pytest.raises(AssertionError):
        p.touch(a, 64 * PAGE)
    p.touch(a, 64 * PAGE, bulk=False)                  # bulk not asked for: not reached
    p.touch(a, 64 * PAGE, write=False, bulk=False)
    m.check()
    assert p.task.min_flt >= 4


_op = st.one_of(
    st.tuples(st.just("touch"), st.integers(0, 1199), st.integers(1, 900)),
    st.tuples(st.just("write"), st.integers(0, 1199), st.integers(1, 3)),
    st.tuples(st.just("zap"), st.integers(0, 1199), st.integers(1, 200)),
    st.tuples(st.just("drop"), st.integers(0, 1199), st.integers(1, 200)),
    st.tuples(st.just("truncate"), st.integers(0, 1199), st.just(0)),
    st.tuples(st.just("cpu"), st.integers(0, 1), st.just(0)),
)


def _random_workload(ops):
    def workload(m, touch):
        p, buf = _writer(m)
        fd = _cached_file(p, "/f", 1200, buf)
        a = p.mmap(None, 1200 * PAGE, RW, lv.MAP_PRIVATE, fd, 0)
        s = p.mmap(None, 1200 * PAGE, lv.PROT_READ, lv.MAP_SHARED, fd, 0)
        for kind, x, y in ops:
            n = min(y, 1200 - x) * PAGE
            if kind == "touch":
                touch(p, (a, s)[x & 1] + x * PAGE, n)
            elif kind == "write":
                try:
                    p.write(a + x * PAGE, b"w" * y)
                except lv.BusError:                     # past a truncated end
                    pass
            elif kind == "zap":
                p.madvise(a + x * PAGE, n, lv.MADV_DONTNEED)
            elif kind == "drop":
                p.posix_fadvise(fd, x * PAGE, n, lv.POSIX_FADV_DONTNEED)
            elif kind == "truncate":
                p.ftruncate(fd, x * PAGE + 123)
            else:
                p.task.cpu = x
            m.check()
    return workload


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(_op, min_size=1, max_size=6))
def test_random_histories(ops):
    w = _random_workload(ops)
    assert_same(run(w, ALONE, "128M"), run(w, False, "128M"))
