"""The per-access accelerators leave exactly the state of the reference paths (DESIGN §3).

``translate_user`` (linuxvm/accel/mmu.py: a full TLB miss walked inline) and ``touch_write``
(linuxvm/accel/uaccess.py: the first write of a plain anonymous page taken inline) stand in
for parts of the one-access-at-a-time route (CPU → TLB → walk → #PF → handle_mm_fault →
retry). Two machines run the same workload, one with no accelerator (``fast=False``) and
one with that accelerator alone (or all of them), and the whole-machine fingerprints
(linuxvm.accel.fingerprint) must be equal -- also for the signals each step raised."""

import random

import pytest

import linuxvm as lv
from linuxvm.accel import mmu as accel_mmu, uaccess as accel_uaccess
from linuxvm.accel.fingerprint import fingerprint, assert_same
from linuxvm.arch.x86 import uaccess

from test_fault_bulk import (rebound, w_write_range, w_read_then_write, w_holes_and_fork,
                             w_many_vmas, w_cross_cpu_free, w_exit_and_munmap, w_fork_copy)

PAGE = 4096

# the per-access accelerators, each compared alone; True is all of them together
PER_ACCESS = ["translate_user", "touch_write", "user_access", True]


def _fast(name):
    return name if name is True else {name}


def run(workload, fast, patch=None):
    """Run ``workload`` on a fresh machine with accelerators ``fast`` (``patch(m)`` may
    replace one first); returns the fingerprint with the signals the steps raised."""
    m = lv.Machine(ram="512M", cpus=2, seed=11, fast=fast)
    if patch is not None:
        patch(m)
    signals = []

    def step(p, a, n, w=False):
        try:
            uaccess.touch(m, p.task, a, n, w)
        except lv.Signal as s:
            signals.append((type(s).__name__, s.signo, s.code, s.addr))
        m.check()

    def act(p, a, kind):
        try:
            signals.append(p.access(a, kind))
        except lv.Signal as s:
            signals.append((type(s).__name__, s.signo, s.code, s.addr))
        m.check()

    step.log = signals                  # what a workload wants compared besides the state
    workload(m, step, act)
    m.check()
    fp = fingerprint(m)
    fp["signals"] = signals
    return fp


def w_bulk_workloads(m, step, act):
    # the bulk tests' workloads, all through the per-access path
    for w in (w_write_range, w_read_then_write, w_holes_and_fork, w_many_vmas,
              w_cross_cpu_free, w_exit_and_munmap, w_fork_copy):
        w(m, step)


def w_signals_and_odd_walks(m, step, act):
    p = m.spawn("odd")
    a = p.mmap(None, 64 * PAGE, 3, 0x22)
    step(p, a, 16 * PAGE, True)
    step(p, a + 4 * PAGE, 8 * PAGE, True)           # again: L1 TLB hits
    big = p.mmap(None, 2100 * PAGE, 3, 0x22)
    step(p, big, 2100 * PAGE, True)
    step(p, big, 2100 * PAGE, True)                 # STLB hits, and walks of evicted pages
    p.mprotect(a, 8 * PAGE, 1)                      # read-only: a write is SEGV_ACCERR
    act(p, a + PAGE, "w")
    act(p, a + PAGE, "r")
    act(p, a + PAGE, "x")                           # NX: ACCERR
    # PROT_NONE over untouched pages (m.check does not count protnone PTEs as mapped)
    p.mprotect(a + 56 * PAGE, 4 * PAGE, 0)
    act(p, a + 57 * PAGE, "r")
    p.mprotect(a + 56 * PAGE, 4 * PAGE, 7)
    act(p, a + 57 * PAGE, "x")
    act(p, a + 57 * PAGE, "w")
    p.munmap(a + 32 * PAGE, 8 * PAGE)
    step(p, a + 30 * PAGE, 4 * PAGE, True)          # SEGV_MAPERR half way
    act(p, 0xffff880000001000, "r")                 # the direct map: large pages, not user
    act(p, 0xffffffff81000000, "x")
    act(p, 0x0000800000000000, "r")                 # non-canonical: #GP
    act(p, 0x1000, "r")                             # nothing mapped: no PUD at all
    p.write(a + 20 * PAGE + 100, b"hello" * 2000)   # crosses pages
    assert p.read(a + 20 * PAGE + 100, 10) == b"hellohello"
    c = p.fork()
    step(c, a, 16 * PAGE)                           # fork left old PTEs: the walk sets A
    act(c, a + 20 * PAGE, "w")                      # COW
    act(p, a + 21 * PAGE, "w")
    c.task.cpu = 1
    step(c, a + 12 * PAGE, 20 * PAGE, True)
    p.mlock(a + 40 * PAGE, 8 * PAGE)
    step(p, a + 40 * PAGE, 24 * PAGE, True)
    p.munlock(a + 40 * PAGE, 8 * PAGE)
    p.madvise(a + 40 * PAGE, 16 * PAGE, 4)          # MADV_DONTNEED
    step(p, a + 36 * PAGE, 28 * PAGE)
    step(p, a + 36 * PAGE, 28 * PAGE, True)
    # a MAP_GROWSDOWN mapping grows below its start within the window under sp
    g = p.mmap(None, 16 * PAGE, 3, 0x22 | 0x100)
    p.sp = g + 2 * PAGE
    step(p, g - 4 * PAGE, 8 * PAGE, True)
    act(p, g - 40 * PAGE, "w")                       # more than 64 KiB below sp


@pytest.mark.parametrize("name", PER_ACCESS)
@pytest.mark.parametrize("workload", [w_bulk_workloads, w_signals_and_odd_walks])
def test_accelerator_equals_reference(workload, name):
    slow = run(workload, False)
    fast = run(workload, _fast(name))
    assert_same(slow, fast)
    assert slow["signals"] == fast["signals"]


@pytest.mark.parametrize("module,name,changes", [
    (accel_mmu, "translate_user", {"_A": 0}),               # a walk that forgets accessed bits
    (accel_uaccess, "touch_write", {"_PG_NEW_ANON": 1 << 3}),  # a new page missing PG_active
], ids=["translate_user_no_accessed", "touch_write_no_active"])
def test_comparison_catches_a_broken_accelerator(module, name, changes):
    slow = run(w_signals_and_odd_walks, False)
    broken = rebound(module, name, **changes)

    def patch(m):
        setattr(m.accel, name, broken)

    with pytest.raises(AssertionError):
        assert_same(slow, run(w_signals_and_odd_walks, {name}, patch=patch))


@pytest.mark.parametrize("name", PER_ACCESS)
def test_out_of_memory_mid_touch_equals_reference(name):
    # the allocator runs dry half way (overcommit always): the fault runs the OOM killer,
    # which kills the faulting task (pid 2: init is never chosen), after the same
    # counters, frames, pagevec drains and OOM report
    def one(fast):
        m = lv.Machine(ram="64M", cpus=2, seed=1, sysctl={"vm.overcommit_memory": 1},
                       fast=fast)
        m.spawn("init")
        p = m.spawn("oom")
        a = p.mmap(None, 80 << 20, 3, 0x22)
        with pytest.raises(lv.ProcessKilled):
            uaccess.touch(m, p.task, a, 80 << 20, True)
        m.check()
        return fingerprint(m)
    assert_same(one(False), one(_fast(name)))


def _random_workload(seed):
    def workload(m, step, act):
        rnd = random.Random(seed)
        procs = [m.spawn("r0")]
        maps = {0: []}                              # proc index -> [(addr, pages)]
        errors = step.log

        def call(fn, *args):
            try:
                return fn(*args)
            except lv.SyscallError as e:
                errors.append(("errno", e.errno))
            finally:
                m.check()

        for _ in range(60):
            i = rnd.randrange(len(procs))
            p = procs[i]
            regions = maps[i]
            op = rnd.choice(["mmap", "mmap", "touch", "touch", "touch", "read", "munmap",
                             "mprotect", "fork", "exit", "mlock", "dontneed"])
            if op == "mmap" or not regions:
                n = rnd.choice([3, 40, 513, 1100])
                a = call(p.mmap, None, n * PAGE, 3, 0x22)
                if a is not None:
                    regions.append((a, n))
                continue
            a, n = rnd.choice(regions)
            lo = rnd.randrange(n)
            cnt = rnd.randrange(1, n - lo + 1)
            if op == "touch":
                step(p, a + lo * PAGE, cnt * PAGE, True)
            elif op == "read":
                step(p, a + lo * PAGE, cnt * PAGE)
            elif op == "munmap":
                call(p.munmap, a + lo * PAGE, cnt * PAGE)
            elif op == "mprotect":
                call(p.mprotect, a + lo * PAGE, cnt * PAGE, rnd.choice([1, 3]))
            elif op == "mlock":
                call(p.mlock, a + lo * PAGE, min(cnt, 16) * PAGE)
            elif op == "dontneed":
                call(p.madvise, a + lo * PAGE, cnt * PAGE, 4)
            elif op == "fork" and len(procs) < 4:
                procs.append(p.fork())
                maps[len(procs) - 1] = list(regions)
            elif op == "exit" and i:
                p.exit()
                procs.pop(i)
                maps = {j - (j > i): r for j, r in maps.items() if j != i}
            m.check()
        act(procs[0], 0, "r")                       # and a last signal
    return workload


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_workloads_equal_reference(seed):
    w = _random_workload(seed)
    assert_same(run(w, False), run(w, True))
