"""Every accelerator leaves exactly the state its reference function leaves (DESIGN §3).

Generic over the registry (linuxvm/lib/accel_registry.REGISTRY): each accelerator runs
alone (``Machine(fast={name})``) and all of them together (``fast=True``) against the
reference code everywhere (``fast=False``) on workloads that reach every fast path, and
the whole-machine fingerprints (linuxvm/accel/fingerprint.py) must be equal. Each
kernel-named module's own test file adds workloads aimed at its accelerators and the
broken-on-purpose variants; this file checks the layer's rules for all of them.
"""

import importlib
import io

import pytest

import linuxvm as lv
from linuxvm.accel.fingerprint import fingerprint, assert_same, diff
from linuxvm.lib.accel_registry import REGISTRY, AccelTable
from linuxvm.workloads.demo import run_demo

PAGE = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS


def _signal(fn, *args):
    try:
        return fn(*args)
    except (lv.Signal, lv.SyscallError, lv.OutOfMemory) as e:
        return type(e).__name__


def w_process_life(m):
    #   AAAAAAAAAAAA....   3 MiB written (bulk), then read, COW after fork, mprotect,
    #   AAAABBBBAAAA....   mremap, munmap in the middle, page-at-a-time accesses, exit
    log = []
    p = m.spawn("life")
    m.check()
    for i in range(8):                                   # small neighbours, as a program has
        p.mmap(None, PAGE, RW if i % 2 else lv.PROT_READ, ANON)
        m.check()
    a = p.mmap(None, 3 << 20, RW, ANON)
    m.check()
    p.touch(a, 3 << 20, write=True)                      # bulk first touch
    m.check()
    b = p.mmap(None, 600 * PAGE, RW, ANON)
    p.touch(b, 300 * PAGE)                               # zero page
    m.check()
    for i in range(100, 180):                            # one page at a time: COW of zero page
        log.append(_signal(p.access, b + i * PAGE, "w"))
    m.check()
    # a recorded trace's accesses: TLB hits, zero-page COW faults, dirty-bit walks
    log.append(_signal(p.access_batch, [b + (i % 97) * PAGE + (i * 8) % PAGE
                                        for i in range(3000)], "rrw" * 1000))
    m.check()
    c = p.fork()
    m.check()
    c.touch(a, 1 << 20, write=True)                      # COW breaks
    m.check()
    for i in range(300, 340):
        log.append(_signal(c.access, a + i * PAGE, "w"))
    m.check()
    log.append(_signal(p.mprotect, a + 64 * PAGE, 64 * PAGE, lv.PROT_READ))
    m.check()
    log.append(_signal(p.access, a + 70 * PAGE, "w"))    # SIGSEGV, ACCERR
    log.append(_signal(p.mremap, b, 600 * PAGE, 900 * PAGE, lv.MREMAP_MAYMOVE))
    m.check()
    log.append(_signal(p.munmap, a + PAGE * 200, PAGE * 300))
    m.check()
    p.write(a + 5, b"hello")
    log.append(p.read(a + 5, 5))
    m.check()
    for _ in range(30):                                  # mmap+munmap pairs over tables
        x = p.mmap(None, 16 * PAGE, RW, ANON)
        p.touch(x, PAGE, write=True)
        p.munmap(x, 16 * PAGE)
    m.check()
    # file read faults with fault-around: cached pages, a disk file read on a miss (its
    # readahead marker skipped), a private COW write, a second mapping of the same pages
    fd = p.open("/cached", lv.O_RDWR | lv.O_CREAT, 0o600)
    log.append(p.sys_write(fd, a, 40 * PAGE))
    m.fs.create("/disk", size=70 * PAGE + 100, data=bytes(range(256)) * 16)
    fd2 = p.open("/disk", lv.O_RDONLY)
    f1 = p.mmap(None, 48 * PAGE, RW, lv.MAP_PRIVATE, fd, 0)
    f2 = p.mmap(None, 40 * PAGE, lv.PROT_READ, lv.MAP_SHARED, fd, 0)
    f3 = p.mmap(None, 80 * PAGE, lv.PROT_READ, lv.MAP_PRIVATE, fd2, 0)
    for i in (3, 20, 21, 39):
        log.append(_signal(p.access, f1 + i * PAGE, "r"))
    log.append(_signal(p.access, f1 + 44 * PAGE, "r"))   # past EOF: SIGBUS
    p.write(f1 + 5 * PAGE, b"cow")
    c2 = p.fork()
    c2.touch(f2, 40 * PAGE)
    for i in (0, 30, 50, 71, 75):
        log.append(_signal(p.access, f3 + i * PAGE, "r"))
    m.check()
    c2.exit()
    log.append(_signal(p.munmap, f1, 48 * PAGE))
    m.check()
    c.exit()
    m.check()
    log.append(_signal(p.madvise, a, 64 * PAGE, lv.MADV_DONTNEED))
    m.check()
    p.exit()
    m.check()
    return log


def w_kernel_allocations(m):
    #   order-0 runs through the pcp lists, high orders through the buddy lists, kmalloc,
    #   frees on the other CPU, then allocation until the zones are exhausted
    k = m.kernel
    log = []
    held = [k.alloc_pages("GFP_KERNEL", 0) for _ in range(700)]
    m.check()
    for pfn in held[::2]:
        k.free_pages(pfn, 0, cpu=1)
    m.check()
    big = [k.alloc_pages("GFP_KERNEL|__GFP_COMP", o) for o in (1, 3, 5, 9)]
    m.check()
    objs = [k.kmalloc(s) for s in (8, 96, 192, 1024, 4096) for _ in range(40)]
    m.check()
    for o in objs[::3]:
        k.kfree(o)
    m.check()
    for pfn in held[1::2]:
        k.free_pages(pfn, 0)
    for o, pfn in zip((1, 3, 5, 9), big):
        if pfn is not None:
            k.free_pages(pfn, o)
    m.check()
    init = m.spawn("init")                               # pid 1: never an OOM victim
    p = m.spawn("hog")
    a = p.mmap(None, 256 << 20, RW, ANON | lv.MAP_NORESERVE)
    log.append(_signal(p.touch, a, 256 << 20, True))    # runs the 128M machine dry: OOM kill
    m.check()
    pfn = k.alloc_pages("GFP_KERNEL", 4)                 # the victim's memory is back
    log.append(pfn)
    k.free_pages(pfn, 4)
    log.append(_signal(p.exit))                          # ProcessKilled: it is gone
    init.exit()
    m.check()
    log.append(m.dmesg()[-40:])
    return log


def w_file_touch(m):
    #   ...ffff|ffff...   a cached file mapped private at an address off its fault-around
    #        ^ PMD        windows, crossing a PMD: touched from an unaligned address, again
    #   ffffffff....      (translations cached), shared past EOF (SIGBUS), a partly cached
    #   aaaaffff          disk file (readahead markers, misses), anonymous and file VMAs in
    #                     one touch, tmpfs, mlock, MADV_RANDOM, a fork, other window sizes
    log = []
    p = m.spawn("ftouch")
    buf = p.mmap(None, 64 * PAGE, RW, ANON)
    p.touch(buf, 64 * PAGE, write=True)
    fd = p.open("/big", lv.O_RDWR | lv.O_CREAT, 0o600)
    for _ in range(12):
        log.append(p.sys_write(fd, buf, 64 * PAGE))     # 768 cached pages
    m.check()
    f1 = p.mmap(0x7f00001f3000, 700 * PAGE, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED,
                fd, 5 * PAGE)
    log.append(_signal(p.touch, f1 + 3 * PAGE + 17, 600 * PAGE))
    m.check()
    log.append(_signal(p.touch, f1, 700 * PAGE))       # present now, partly in the TLB
    log.append(_signal(p.touch, f1 + 690 * PAGE, 20 * PAGE))    # on into a gap: SIGSEGV
    m.check()
    ws = p.mmap(None, 700 * PAGE, RW, lv.MAP_SHARED, fd, 0)
    log.append(_signal(p.touch, ws, 700 * PAGE, True))
    big = p.mmap(None, 2000 * PAGE, RW, ANON)
    log.append(_signal(p.touch, big, 2000 * PAGE))     # the written pages leave the TLB
    log.append(_signal(p.touch, ws, 760 * PAGE))       # dirty, writable PTEs read back
    m.check()
    f2 = p.mmap(None, 800 * PAGE, lv.PROT_READ, lv.MAP_SHARED, fd, 0)
    log.append(_signal(p.touch, f2 + 7 * PAGE, 2 * PAGE))   # a window's middle first
    log.append(_signal(p.touch, f2, 800 * PAGE))       # SIGBUS at EOF (page 768)
    m.check()
    m.fs.create("/disk", size=300 * PAGE + 100, data=bytes(range(256)) * 64)
    fd2 = p.open("/disk", lv.O_RDONLY)
    log.append(p.pread(fd2, buf, 8 * PAGE, 100 * PAGE))   # readahead: a marker page
    f3 = p.mmap(None, 310 * PAGE, lv.PROT_READ, lv.MAP_PRIVATE, fd2, 0)
    log.append(_signal(p.touch, f3 + 90 * PAGE, 40 * PAGE))
    m.check()
    log.append(_signal(p.touch, f3, 310 * PAGE))       # misses, then SIGBUS past page 300
    m.check()
    g = p.mmap(None, 64 * PAGE, RW, ANON)
    p.mmap(g + 32 * PAGE, 32 * PAGE, RW, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
    p.write(g + 40 * PAGE, b"cow")                     # a private copy among file pages
    log.append(_signal(p.touch, g, 64 * PAGE))
    m.check()
    fd3 = p.open("/dev/shm/seg", lv.O_RDWR | lv.O_CREAT, 0o600)
    log.append(p.sys_write(fd3, buf, 40 * PAGE))
    f4 = p.mmap(None, 48 * PAGE, lv.PROT_READ, lv.MAP_SHARED, fd3, 0)
    log.append(_signal(p.touch, f4, 40 * PAGE))
    m.check()
    f5 = p.mmap(None, 40 * PAGE, lv.PROT_READ, lv.MAP_PRIVATE, fd, 0)
    log.append(_signal(p.madvise, f5, 40 * PAGE, lv.MADV_RANDOM))
    log.append(_signal(p.touch, f5 + 20 * PAGE, 20 * PAGE))
    log.append(_signal(p.mlock, f5, 8 * PAGE))
    log.append(_signal(p.touch, f5, 40 * PAGE))
    m.check()
    c = p.fork()
    c.touch(f1 + 400 * PAGE, 300 * PAGE)               # the child refaults file pages
    m.check()
    for size in (4096, 32768, 1 << 21):
        m.fault_around_bytes = size
        f6 = p.mmap(None, 100 * PAGE, lv.PROT_READ, lv.MAP_PRIVATE, fd, 60 * PAGE)
        log.append(_signal(p.touch, f6 + 30 * PAGE, 70 * PAGE))
        m.check()
        log.append(_signal(p.munmap, f6, 100 * PAGE))
    m.fault_around_bytes = 65536
    log.append(_signal(p.ftruncate, fd, 100 * PAGE))
    log.append(_signal(p.touch, f1, 200 * PAGE))       # SIGBUS past the new EOF
    m.check()
    c.exit()
    p.exit()
    m.check()
    return log


WORKLOADS = {"process_life": (w_process_life, "256M"),
             "file_touch": (w_file_touch, "256M"),
             "kernel_allocations": (w_kernel_allocations, "128M")}


def run(workload: str, fast) -> dict:
    fn, ram = WORKLOADS[workload]
    m = lv.Machine(ram=ram, cpus=2, seed=3, fast=fast)
    log = fn(m)
    m.check()
    fp = fingerprint(m)
    fp["returned"] = log
    return fp


_reference = {}


def reference(workload: str) -> dict:
    if workload not in _reference:
        _reference[workload] = run(workload, False)
    return _reference[workload]


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_all_accelerators_together_equal_reference(workload):
    assert_same(run(workload, True), reference(workload))


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_accelerator_alone_equals_reference(name, workload):
    assert_same(run(workload, {name}), reference(workload))


def _run_with_wrong(workload: str, name: str) -> dict:
    # the accelerator alone, wrapped so that every call also leaves one stray change behind
    # (an event count bumped): what a subtly wrong fast path would leave
    fn, ram = WORKLOADS[workload]
    m = lv.Machine(ram=ram, cpus=2, seed=3, fast={name})
    real = getattr(m.accel, name)
    events = m.pgdat.vm_events

    def wrong(*args, **kw):
        result = real(*args, **kw)
        events[0] += 1
        return result
    setattr(m.accel, name, wrong)
    log = fn(m)
    fp = fingerprint(m)
    fp["returned"] = log
    return fp


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_workloads_reach_and_catch_a_wrong_accelerator(name):
    # proves both that some workload here reaches the accelerator and that the comparison
    # sees a change made inside it
    caught = [w for w in sorted(WORKLOADS)
              if diff(_run_with_wrong(w, name), reference(w))]
    assert caught, f"no workload reaches accelerator {name}, or its change goes unseen"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_reference_names_its_accelerator(name):
    # the reference function exists where its kernel file's module is, and its docstring
    # names the accelerator, so a reader of the kernel-shaped code finds the fast path
    acc = REGISTRY[name]
    module, _, attr = acc.reference.rpartition(".")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    assert name in (obj.__doc__ or ""), f"{acc.reference} does not name accelerator {name}"
    assert acc.function.__module__.startswith("linuxvm.accel."), acc.function.__module__
    assert acc.summary, f"accelerator {name} has no one-line docstring"


def test_fast_switch_values():
    assert lv.Machine(ram="64M", fast=False).accel.enabled() == []
    assert lv.Machine(ram="64M").accel.enabled() == sorted(REGISTRY)
    with pytest.raises(ValueError, match="no accelerator named 'bogus'"):
        lv.Machine(ram="64M", fast={"bogus"})
    with pytest.raises(TypeError):
        AccelTable(fast="yes")
    if REGISTRY:
        name = sorted(REGISTRY)[0]
        m = lv.Machine(ram="64M", fast={name})
        assert m.accel.enabled() == [name]
        m.accel.set(name, False)
        assert m.accel.enabled() == []


def _proc_snapshot(m, pids):
    files = ["/proc/meminfo", "/proc/vmstat", "/proc/buddyinfo", "/proc/zoneinfo",
             "/proc/pagetypeinfo", "/proc/slabinfo"]
    for pid in pids:
        files += [f"/proc/{pid}/{f}" for f in ("maps", "smaps", "status", "statm", "stat")]
    return {f: m.proc.read(f) for f in files if m.proc.exists(f)}


def _demo_and_fork_exit(fast):
    m = lv.Machine(ram="1G", cpus=2, seed=0, fast=fast)
    out = io.StringIO()
    run_demo(m, out)
    p = m.spawn("bench")
    a = p.mmap(None, 32 << 20, RW, ANON)
    p.touch(a, 32 << 20, write=True)
    m.check()
    c = p.fork()
    c.touch(a, 8 << 20, write=True)
    snap = _proc_snapshot(m, [p.pid, c.pid])
    c.exit()
    m.check()
    snap["after_exit"] = _proc_snapshot(m, [p.pid])
    return out.getvalue(), snap, m.dmesg()


def test_fast_false_runs_demo_and_fork_exit_with_identical_proc():
    fast = _demo_and_fork_exit(True)
    slow = _demo_and_fork_exit(False)
    assert fast[0] == slow[0]                 # the demo's whole output
    assert fast[1] == slow[1]                 # every /proc file, file by file
    assert fast[2] == slow[2]                 # the kernel log
