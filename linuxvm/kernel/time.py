"""The model's clock: what moves it, the CPU time it accounts, and the timer tick that
runs deferred work (kernel/time/timer.c run_timer_softirq, kernel/time/tick-*.c,
kernel/sched/cputime.c tick-based accounting).

The clock is ``m.clock_ns`` (nanoseconds since boot; jiffies and the log's stamps are read
from it, linuxvm/include/jiffies.py). Two things move it:

* **Work done.** After every system call, user access, kernel entry point and kernel
  thread run, the façade calls ``account_work``, which charges a nominal cost for the
  work the vm event counters say was done since the last charge: SYSCALL_NS per system
  call, PGFAULT_NS per page fault (``pgfault``) and PGALLOC_NS per page allocated (the
  ``pgalloc_*`` counters, 512 for a huge page). The costs are a model choice (round
  figures of the right order for a 4.6-era x86-64 machine), not measurements; they are
  read from counters the accelerators leave exactly as the reference code does, so
  ``fast=True`` and ``fast=False`` machines keep bit-identical clocks. The time is system
  time of the CPU the work ran on (``m.current_cpu``).
* **Time let pass.** ``m.tick()`` moves the clock to the next jiffy and ``m.run_for(s)``
  by ``s`` seconds; the CPUs are idle meanwhile except for the kernel threads the ticks
  wake. Moving ``m.clock_ns`` by hand moves the clock and runs nothing.

Deferred work runs only on the ticks of ``m.tick()`` and ``m.run_for()``: a timer that
falls due while a system call works waits for the next tick the user lets happen, so a
workload's figures never change behind its back (4.6 would run it on the tick that
interrupted the call). At each tick every timer due runs once, in registration order
(linuxvm/kernel/kthreads.py registers them: the flusher, khugepaged, kswapd); a timer
still due after it ran waits for the next tick. ``run_for`` jumps from one due timer to
the next instead of stepping each idle tick (as a NO_HZ kernel does): nothing else can
happen on an idle tick, so the result is the same.

CPU time is counted as CONFIG_TICK_CPU_ACCOUNTING does, in whole ticks: a tick that
passes while a CPU works is a system tick of that CPU, every other tick is an idle tick
(the model runs no user code, has no interrupts and no I/O wait, so the other columns
of /proc/stat stay 0).
"""

from ..include.jiffies import TICK_NSEC, NSEC_PER_SEC, jiffies, jiffies_to_ns
from ..include.vm_event_item import PGALLOC, PGFAULT

# the nominal costs of work (a model choice: docs/deviations.md, "The clock")
SYSCALL_NS = 100             # entering and leaving the kernel
PGFAULT_NS = 1_000           # a page fault's exception, walk and handling
PGALLOC_NS = 250             # a page from the buddy allocator, cleared or filled
_NR_ZONES = 4                # pgalloc_dma .. pgalloc_movable
_PGALLOC0, _PGALLOC1, _PGALLOC2, _PGALLOC3 = range(PGALLOC, PGALLOC + _NR_ZONES)


class Timer:
    """A timer of the model's tick (struct timer_list / delayed_work): ``expires(m)`` is
    the jiffy it falls due at (None: not armed), ``function(m)`` its work."""

    __slots__ = ("name", "expires", "function")

    def __init__(self, name: str, expires, function):
        self.name = name
        self.expires = expires
        self.function = function

    def __repr__(self):
        return f"<timer {self.name}>"


class TimeState:
    """The clock's bookkeeping: per-CPU system ticks (kernel_cpustat), the counters last
    charged, and the timers the tick runs."""

    __slots__ = ("system_ticks", "faults_seen", "allocs_seen", "timers")

    def __init__(self, nr_cpus: int):
        self.system_ticks = [0] * nr_cpus     # cpustat[CPUTIME_SYSTEM] of each CPU
        self.faults_seen = 0
        self.allocs_seen = 0
        self.timers = []


def _counters(m) -> tuple:
    ev = m.pgdat.vm_events
    return ev[PGFAULT], sum(ev[PGALLOC:PGALLOC + _NR_ZONES])


def time_init(m) -> None:
    """Start the clock's accounting at the end of boot: the work boot did is not charged
    (the model's clock reads 0 when boot ends)."""
    t = TimeState(m.nr_cpus)
    t.faults_seen, t.allocs_seen = _counters(m)
    m.time = t


def add_timer(m, timer: Timer) -> None:
    m.time.timers.append(timer)


def account_system_time(m, cpu: int, ns: int) -> None:
    """``cpu`` worked ``ns`` nanoseconds: the clock moves on, and the ticks it passes are
    that CPU's system ticks."""
    t0 = m.clock_ns
    t1 = t0 + ns
    m.clock_ns = t1
    m.time.system_ticks[cpu] += t1 // TICK_NSEC - t0 // TICK_NSEC


def work_cost_ns(syscalls: int, faults: int, allocs: int) -> int:
    """The nominal time of ``syscalls`` system calls, ``faults`` page faults and
    ``allocs`` pages allocated."""
    return syscalls * SYSCALL_NS + faults * PGFAULT_NS + allocs * PGALLOC_NS


def account_work(m, syscalls: int = 0, cpu=None) -> None:
    """Charge the work done since the last charge (``syscalls`` system calls, and the page
    faults and page allocations the vm event counters recorded) to ``cpu`` (default: the
    current CPU)."""
    t = m.time
    if t is None:
        return                             # still booting
    # _counters, work_cost_ns and account_system_time written out: this runs after every
    # user access, and the calls cost more than the sums
    ev = m.pgdat.vm_events
    faults = ev[PGFAULT]
    allocs = ev[_PGALLOC0] + ev[_PGALLOC1] + ev[_PGALLOC2] + ev[_PGALLOC3]
    ns = syscalls * SYSCALL_NS
    if faults > t.faults_seen:
        ns += (faults - t.faults_seen) * PGFAULT_NS
    if allocs > t.allocs_seen:
        ns += (allocs - t.allocs_seen) * PGALLOC_NS
    t.faults_seen = faults
    t.allocs_seen = allocs
    if ns:
        t0 = m.clock_ns
        t1 = t0 + ns
        m.clock_ns = t1
        t.system_ticks[m.current_cpu if cpu is None else cpu] += (t1 // TICK_NSEC
                                                                  - t0 // TICK_NSEC)


def idle_ticks(m, cpu: int) -> int:
    """cpustat[CPUTIME_IDLE] of ``cpu``: every tick since boot it did not work."""
    return m.clock_ns // TICK_NSEC - m.time.system_ticks[cpu]


def next_expiry(m):
    """The earliest jiffy a timer falls due at, None when none is armed."""
    best = None
    for timer in m.time.timers:
        e = timer.expires(m)
        if e is not None and (best is None or e < best):
            best = e
    return best


def run_timers(m, now: int) -> None:
    """The tick at jiffy ``now``: run each timer due by then once (run_timer_softirq),
    charging its work to the current CPU (a kernel thread's system time)."""
    for timer in list(m.time.timers):
        e = timer.expires(m)
        if e is not None and e <= now:
            timer.function(m)
            account_work(m)


def tick(m) -> None:
    """Let one jiffy pass: the clock moves to the next tick, whose due timers run."""
    account_work(m)
    nxt = jiffies(m) + 1
    m.clock_ns = jiffies_to_ns(nxt)
    run_timers(m, nxt)


def seconds_to_ns(seconds) -> int:
    """A run_for argument in nanoseconds.

    :raises TypeError: not an int or float
    :raises ValueError: negative, not finite, or past what 64-bit jiffies hold
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"seconds must be an int or a float, not {seconds!r}")
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ValueError(f"seconds must be finite, not {seconds!r}")
    if seconds < 0:
        raise ValueError(f"seconds must not be negative, not {seconds!r}")
    if seconds > 1 << 40:
        raise ValueError(f"seconds {seconds!r} is more than the model's clock runs")
    if isinstance(seconds, int):
        return seconds * NSEC_PER_SEC
    return round(seconds * NSEC_PER_SEC)


def run_for(m, seconds) -> None:
    """Let ``seconds`` pass: tick by tick, each tick running the timers due by then; the
    clock ends ``seconds`` later (or later still if the last tick's work went past)."""
    ns = seconds_to_ns(seconds)
    account_work(m)
    end = m.clock_ns + ns
    while True:
        e = next_expiry(m)
        if e is None:
            break
        # timers run on ticks, and a timer already due runs on the next one
        j = max(e, jiffies(m) + 1)
        when = jiffies_to_ns(j)
        if when > end:
            break
        m.clock_ns = max(m.clock_ns, when)
        run_timers(m, j)
    m.clock_ns = max(m.clock_ns, end)
