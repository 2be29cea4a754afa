"""The model's clock (linuxvm/kernel/time.py): jiffies, m.tick and m.run_for, the work
that moves the clock, /proc/uptime and /proc/stat CPU time, dmesg stamps, and the deferred
work 4.6 runs on the tick (linuxvm/kernel/kthreads.py): the flusher's periodic writeback,
khugepaged's scans and kswapd going round again."""

import re

import pytest

import linuxvm as lv
from linuxvm.accel.fingerprint import assert_same, fingerprint
from linuxvm.include.jiffies import HZ, INITIAL_JIFFIES, TICK_NSEC
from linuxvm.include.vm_event_item import NR_FILE_DIRTY
from linuxvm.kernel.time import SYSCALL_NS, PGFAULT_NS, PGALLOC_NS, work_cost_ns

P = 4096
M = 2 << 20
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
SYS = "/sys/kernel/mm/transparent_hugepage"


def _vmstat(m):
    return {k: int(v) for k, v in (ln.split() for ln in m.proc.read("/proc/vmstat").splitlines())}


def _stamp(line: str) -> float:
    return float(line[1:line.index("]")])


# -- jiffies, tick, run_for ------------------------------------------------------------------

def test_jiffies_start_five_minutes_before_the_32_bit_wrap_and_tick_by_4ms():
    m = lv.Machine(ram="128M")
    assert HZ == 250 and TICK_NSEC == 4_000_000
    assert m.clock_ns == 0 and m.jiffies == INITIAL_JIFFIES == 2**32 - 300 * HZ
    m.tick()
    m.check()
    assert m.clock_ns == 4_000_000 and m.jiffies == INITIAL_JIFFIES + 1
    m.run_for(1)
    m.check()
    assert m.clock_ns == 1_004_000_000 and m.jiffies == INITIAL_JIFFIES + 251
    m.run_for(0.0005)                       # less than a tick: the clock moves, no tick
    m.check()
    assert m.clock_ns == 1_004_500_000 and m.jiffies == INITIAL_JIFFIES + 251
    m.tick()                                # to the next tick, not 4 ms on
    assert m.clock_ns == 1_008_000_000
    m.run_for(299)                          # 64-bit jiffies run on past the 32-bit wrap
    m.check()
    assert m.jiffies == 2**32 + 2 and m.jiffies & 0xFFFFFFFF == 2


@pytest.mark.parametrize("bad, exc", [(-1, ValueError), (float("nan"), ValueError),
                                      (float("inf"), ValueError), ("1", TypeError),
                                      (True, TypeError), (None, TypeError)])
def test_run_for_refuses_what_is_not_a_duration(bad, exc):
    m = lv.Machine(ram="128M")
    with pytest.raises(exc):
        m.run_for(bad)
    assert m.clock_ns == 0
    m.check()


def test_uptime_and_stat_count_idle_and_system_ticks():
    m = lv.Machine(ram="128M", cpus=2)
    m.run_for(2)
    m.check()
    # two idle CPUs for two seconds: 500 idle ticks each
    assert m.proc.read("/proc/uptime") == "2.00 4.00\n"
    lines = m.proc.read("/proc/stat").splitlines()
    assert lines[0] == "cpu  0 0 0 400 0 0 0 0 0 0"        # USER_HZ: 2 s = 200 each
    assert lines[1:3] == ["cpu0 0 0 0 200 0 0 0 0 0 0", "cpu1 0 0 0 200 0 0 0 0 0 0"]
    assert "btime 0" in lines
    # 24 MiB written: 6144 faults and pages, 7.68 ms of system time on the task's CPU
    p = m.spawn("w")
    a = p.mmap(None, 24 << 20, RW, ANON)
    before = m.clock_ns
    ev = _vmstat(m)
    p.touch(a, 24 << 20, write=True)
    m.check()
    faults = _vmstat(m)["pgfault"] - ev["pgfault"]
    allocs = sum(_vmstat(m)[f"pgalloc_{z}"] - ev[f"pgalloc_{z}"]
                 for z in ("dma", "dma32", "normal", "movable"))
    assert faults >= 6144 and allocs >= 6144
    assert m.clock_ns - before == faults * PGFAULT_NS + allocs * PGALLOC_NS
    cpu = p.task.cpu
    system = m.time.system_ticks[cpu]
    assert system == m.clock_ns // TICK_NSEC - before // TICK_NSEC >= 1
    up, idle = (float(x) for x in m.proc.read("/proc/uptime").split())
    ticks = m.clock_ns // TICK_NSEC
    assert idle == pytest.approx((2 * ticks - system) * TICK_NSEC / 1e9, abs=0.01)
    cpu_line = m.proc.read("/proc/stat").splitlines()[1 + cpu].split()
    assert int(cpu_line[3]) == system * 2 // 5                 # ticks to USER_HZ
    assert int(cpu_line[4]) == (ticks - system) * 2 // 5


def test_each_system_call_costs_its_nominal_time():
    m = lv.Machine(ram="128M")
    p = m.spawn("s")
    a = p.mmap(None, 4 * P, RW, ANON)
    t0 = m.clock_ns
    assert p.brk(0) > 0                               # no fault, no page
    assert m.clock_ns - t0 == SYSCALL_NS
    p.personality()
    assert m.clock_ns - t0 == 2 * SYSCALL_NS
    with pytest.raises(lv.SyscallError):
        p.munmap(a + 1, P)                            # EINVAL still entered the kernel
    assert m.clock_ns - t0 == 3 * SYSCALL_NS
    p.write(a, b"x")                                  # the page tables, the anon_vma
    t1 = m.clock_ns
    p.write(a + P, b"x")                              # a user store: a fault, a page
    assert m.clock_ns - t1 == work_cost_ns(0, 1, 1) == PGFAULT_NS + PGALLOC_NS
    t2 = m.clock_ns
    p.read(a + P, 1)                                  # mapped already: no kernel work
    assert m.clock_ns == t2
    m.check()


def test_dmesg_stamps_follow_the_clock():
    m = lv.Machine(ram="128M")
    assert all(line.startswith("[    0.000000] ") for line in m.dmesg())
    m.run_for(2.5)
    m.sysctl["vm.drop_caches"] = 3
    m.run_for(10)
    m.sysctl["vm.drop_caches"] = 1
    m.check()
    stamps = [_stamp(line) for line in m.dmesg() if "drop_caches" in line]
    assert len(stamps) == 2 and 2.5 <= stamps[0] < 2.6 and 12.5 <= stamps[1] < 12.6
    assert all(_stamp(a) <= _stamp(b) for a, b in zip(m.dmesg(), m.dmesg()[1:]))
    line = [x for x in m.dmesg() if "drop_caches" in x][1]
    assert re.match(r"\[   12\.50\d{4}\] ", line)               # [%5lu.%06lu]


# -- the flusher's periodic writeback ------------------------------------------------------

def test_flusher_writes_expired_dirty_pages_after_30_seconds_of_run_for():
    m = lv.Machine(ram="256M", aslr=False)
    p = m.spawn("sh")
    m.fs.create("/f", 4 * P, data=b"A" * 4 * P)
    fd = p.open("/f", lv.O_RDWR)
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    p.write(a, b"old")
    m.check()
    assert m.global_page_state(NR_FILE_DIRTY) == 1
    wb = m.fs.files["/f"].sb.s_bdi.wb
    assert wb.dwork_expires == INITIAL_JIFFIES + 5 * HZ        # dirty_writeback_centisecs
    m.run_for(29)                                  # the flusher woke every 5 s: too young
    m.check()
    assert m.global_page_state(NR_FILE_DIRTY) == 1
    assert bytes(m.fs.files["/f"].data[:3]) == b"AAA"
    m.run_for(2)                                   # 30 s: dirty_expire_centisecs passed
    m.check()
    assert m.global_page_state(NR_FILE_DIRTY) == 0
    assert bytes(m.fs.files["/f"].data[:3]) == b"old"
    assert wb.dwork_expires is None                # clean: the flusher sleeps
    m.run_for(60)
    assert m.global_page_state(NR_FILE_DIRTY) == 0
    m.check()


def test_flusher_periodic_writeback_follows_the_sysctls():
    m = lv.Machine(ram="256M", aslr=False,
                   sysctl={"vm.dirty_expire_centisecs": 1000,
                           "vm.dirty_writeback_centisecs": 200})
    p = m.spawn("sh")
    m.fs.create("/f", 4 * P, data=b"A" * 4 * P)
    fd = p.open("/f", lv.O_RDWR)
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    p.write(a, b"new")
    m.run_for(9.9)
    m.check()
    assert m.global_page_state(NR_FILE_DIRTY) == 1
    m.run_for(0.2)                                 # 10 s: the wake-up at 10 s writes it
    m.check()
    assert m.global_page_state(NR_FILE_DIRTY) == 0


# -- khugepaged ------------------------------------------------------------------------------

def test_khugepaged_scans_when_woken_then_every_scan_sleep_millisecs():
    m = lv.Machine(ram="1G", thp="always")
    p = m.spawn("k")
    size = 64 << 20
    a = p.mmap(None, size + M, RW, ANON)
    b = (a + M - 1) & ~(M - 1)
    p.madvise(a, size + M, lv.MADV_NOHUGEPAGE)    # small pages while it is written
    p.touch(b, size, write=True)
    c = p.mmap(None, 32 * P, RW, ANON)            # fills the pagevec: the pages above
    p.touch(c, 32 * P, write=True)                # reach the LRU
    p.madvise(a, size + M, lv.MADV_HUGEPAGE)      # eligible again: the mm registers
    m.check()
    assert _vmstat(m)["nr_anon_transparent_hugepages"] == 0
    m.run_for(1)                                  # the registration woke it: one pass
    m.check()
    first = int(m.proc.read(f"{SYS}/khugepaged/pages_collapsed"))
    # a pass scans pages_to_scan (4096) pages: 8 of the 32 huge ranges
    assert first == 8 and _vmstat(m)["nr_anon_transparent_hugepages"] == 8
    m.run_for(8.9)                                # asleep for scan_sleep_millisecs (10 s)
    assert int(m.proc.read(f"{SYS}/khugepaged/pages_collapsed")) == first
    m.run_for(0.2)
    m.check()
    assert int(m.proc.read(f"{SYS}/khugepaged/pages_collapsed")) == 16
    m.run_for(30)
    m.check()
    assert _vmstat(m)["nr_anon_transparent_hugepages"] == size // M
    assert p.read(b + size - P, 1) == b"\0"
    m.check()


def test_khugepaged_sleeps_alloc_sleep_millisecs_after_a_failed_allocation():
    m = lv.Machine(ram="1G", thp="always")
    p = m.spawn("k")
    a = p.mmap(None, 8 << 20, RW, ANON)
    b = (a + M - 1) & ~(M - 1)
    p.madvise(a, 8 << 20, lv.MADV_NOHUGEPAGE)
    p.touch(b, 4 << 20, write=True)
    p.touch(p.mmap(None, 32 * P, RW, ANON), 32 * P, write=True)
    # no order-9 block left: khugepaged's allocation fails
    held = []
    while True:
        pfn = m.kernel.alloc_pages("GFP_KERNEL|__GFP_NORETRY|__GFP_NOWARN", 9)
        if pfn is None:
            break
        held.append(pfn)
    p.madvise(a, 8 << 20, lv.MADV_HUGEPAGE)
    m.run_for(1)
    m.check()
    assert _vmstat(m)["thp_collapse_alloc_failed"] == 2      # the try and its one retry
    for pfn in held:
        m.kernel.free_pages(pfn, 9)
    m.run_for(60)                 # alloc_sleep_millisecs (60 s) plus scan_sleep (10 s)
    assert int(m.proc.read(f"{SYS}/khugepaged/pages_collapsed")) == 0
    m.run_for(10)
    m.check()
    assert int(m.proc.read(f"{SYS}/khugepaged/pages_collapsed")) == 2


# -- fast and reference paths keep the same clock ----------------------------------------------

def _workload(fast):
    m = lv.Machine(ram="512M", cpus=2, swap="64M", thp="always", fast=fast, seed=3)
    m.check()
    p = m.spawn("w")
    a = p.mmap(None, 16 << 20, RW, ANON)
    p.touch(a, 16 << 20, write=True)
    m.check()
    c = p.fork()
    c.touch(a, 1 << 20, write=True)
    m.check()
    m.fs.create("/f", 64 * P, data=b"z" * 64 * P)
    fd = p.open("/f", lv.O_RDWR)
    f = p.mmap(None, 64 * P, RW, lv.MAP_SHARED, fd, 0)
    p.touch(f, 64 * P, write=True)
    m.check()
    m.run_for(12)
    m.check()
    b = p.mmap(None, 8 << 20, RW, ANON)
    p.madvise(b, 8 << 20, lv.MADV_NOHUGEPAGE)
    p.touch(b, 8 << 20, write=True)
    p.madvise(b, 8 << 20, lv.MADV_HUGEPAGE)
    c.exit()
    m.check()
    m.run_for(35)
    m.check()
    return m


def test_fast_and_reference_paths_keep_identical_clocks():
    fast, slow = _workload(True), _workload(False)
    assert fast.clock_ns == slow.clock_ns > 47 * 10**9
    assert fast.time.system_ticks == slow.time.system_ticks
    assert fast.proc.read("/proc/uptime") == slow.proc.read("/proc/uptime")
    assert fast.proc.read("/proc/stat") == slow.proc.read("/proc/stat")
    assert_same(fingerprint(fast), fingerprint(slow))


# -- kswapd ------------------------------------------------------------------------------------

def test_kswapd_goes_round_again_on_the_next_tick_after_a_premature_sleep():
    m = lv.Machine(ram="128M")
    k = m.pgdat.kswapd
    k.again = (0, m.pgdat.nr_zones - 1)           # as a pass that left the node unbalanced
    runs = _vmstat(m)["pageoutrun"]
    m.tick()
    m.check()
    assert k.again is None and k.trace[-1][1] == "sleep"
    # the node is balanced: kswapd_run found nothing to do, and sleeps again
    assert _vmstat(m)["pageoutrun"] == runs + 1
    m.run_for(1)
    assert _vmstat(m)["pageoutrun"] == runs + 1
    m.check()


def test_tick_and_run_for_refuse_a_panicked_machine():
    m = lv.Machine(ram="128M", sysctl={"vm.panic_on_oom": 1})
    p = m.spawn("hog")
    a = p.mmap(None, 200 << 20, RW, ANON | lv.MAP_NORESERVE)
    with pytest.raises(lv.KernelPanic):
        p.touch(a, 200 << 20, write=True)
    with pytest.raises(lv.KernelPanic):
        m.tick()
    with pytest.raises(lv.KernelPanic):
        m.run_for(1)


def test_the_oom_killers_one_jiffy_wait_moves_the_clock_and_the_reaper_runs_in_it():
    """After a kill, out_of_memory's caller sleeps one jiffy (schedule_timeout_killable):
    the OOM reaper runs at its start, and the clock ends on the next tick."""
    m = lv.Machine(ram="256M", cpus=1, seed=0)
    m.spawn("init", uid=0)
    a = m.spawn("a")
    va = a.mmap(None, 40 << 20, lv.PROT_READ | lv.PROT_WRITE, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    a.touch(va, 40 << 20, write=True)
    m.check()
    m.run_for(1.001)                      # between two ticks
    before = m.clock_ns
    n = len(m.dmesg())
    m.sysrq("f")
    m.check()
    log = m.dmesg()[n:]
    reaped = [x for x in log if "oom_reaper: reaped process" in x]
    next_tick = (before // TICK_NSEC + 1) * TICK_NSEC
    assert len(reaped) == 1 and before / 1e9 <= _stamp(reaped[0]) < next_tick / 1e9
    assert m.clock_ns == next_tick
