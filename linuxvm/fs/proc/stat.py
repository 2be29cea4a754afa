"""/proc/stat, /proc/uptime and /proc/loadavg (fs/proc/stat.c, uptime.c, loadavg.c).

The model keeps no interrupt, context-switch or load-average accounting, so those
figures read 0; what it does keep is shown: the clock (``m.clock_ns``, the time since
boot), the CPUs' system and idle ticks (linuxvm/kernel/time.py), the tasks (running,
blocked, total forks) and the last pid.
"""

from ...include.jiffies import TICK_NSEC, NSEC_PER_SEC, jiffies_64_to_clock_t
from ...kernel.time import idle_ticks

NR_SOFTIRQS = 10              # HI TIMER NET_TX NET_RX BLOCK BLOCK_IOPOLL TASKLET SCHED
                              # HRTIMER RCU (kernel/softirq.c softirq_to_name)
NR_VECTORS = 256
NR_IRQS_LEGACY = 16
GSI_TOP = 24                  # one IO-APIC with 24 pins, as on a PC
NR_CPUS = 512                 # CONFIG_NR_CPUS of a typical distribution config
MAX_IO_APICS = 128
CPU_STAT_FIELDS = 10          # user nice system idle iowait irq softirq steal guest guest_nice


def nr_irqs(m) -> int:
    """The interrupt count /proc/stat's intr line lists (arch_probe_nr_irqs, CONFIG_PCI_MSI):
    NR_IRQS cut to NR_VECTORS per CPU and to the legacy, IO-APIC and MSI lines."""
    n = NR_VECTORS + max(64 * NR_CPUS, 32 * MAX_IO_APICS)
    n = min(n, NR_VECTORS * m.nr_cpus)
    nr = GSI_TOP + NR_IRQS_LEGACY + 8 * m.nr_cpus
    nr += 8 * m.nr_cpus if GSI_TOP <= NR_IRQS_LEGACY else GSI_TOP * 16
    return min(n, nr)


def nr_running(m) -> int:
    """Tasks in state R (kernel/sched/core.c nr_running): the model runs one task at a time,
    the one in a system call (``m.current``), so this is 0 or 1."""
    return sum(1 for t in m.tasks.values() if t is m.current)


def nr_iowait(m) -> int:
    """Tasks blocked on I/O: the model's I/O completes synchronously, so none."""
    return 0


def total_forks(m) -> int:
    """Tasks created since boot (kernel/fork.c total_forks): every spawn and fork takes the
    next pid, and pids are never reused."""
    return m.next_pid - 1


def last_pid(m) -> int:
    """The pid handed out last (pid_namespace.last_pid), 0 before the first task."""
    return m.next_pid - 1


def cpu_times(m, cpu: int) -> list:
    """The ten cpustat columns of ``cpu`` in ticks: user nice system idle iowait irq
    softirq steal guest guest_nice (only system and idle move in the model)."""
    return [0, 0, m.time.system_ticks[cpu], idle_ticks(m, cpu), 0, 0, 0, 0, 0, 0]


def boot_time_seconds(m) -> int:
    """getboottime: the wall-clock time at boot, in seconds. The model's wall clock
    reads the epoch when boot ends and then runs with ``m.clock_ns``, so this is 0."""
    wall_ns = m.clock_ns                  # realtime: the epoch plus the time since boot
    return (wall_ns - m.clock_ns) // NSEC_PER_SEC


def show_stat(m) -> str:
    """/proc/stat in 4.6's layout (fs/proc/stat.c show_stat).

    From the model: the system and idle columns of the ``cpu``/``cpuN`` lines (ticks in
    USER_HZ units, as tick-based accounting without NO_HZ idle counts them: the model's
    /proc/stat and /proc/uptime read the same cpustat), ``btime`` (the wall-clock second
    of boot: the model's wall clock starts at the epoch when it boots, so 0),
    ``processes`` (total_forks), ``procs_running`` (nr_running) and ``procs_blocked``
    (nr_iowait). Zero because the model does not account them: user, nice, iowait, irq,
    softirq, steal and guest time, the ``intr`` total and its per-interrupt counts
    (nr_irqs of them), ``ctxt`` and the ``softirq`` counts.
    """
    rows = [cpu_times(m, i) for i in range(m.nr_cpus)]
    total = [sum(col) for col in zip(*rows)]
    out = ["cpu  " + " ".join(str(jiffies_64_to_clock_t(x)) for x in total) + "\n"]
    out += [f"cpu{i} " + " ".join(str(jiffies_64_to_clock_t(x)) for x in row) + "\n"
            for i, row in enumerate(rows)]
    out.append("intr 0" + " 0" * nr_irqs(m) + "\n")
    out.append("ctxt 0\n"
               f"btime {boot_time_seconds(m)}\n"
               f"processes {total_forks(m)}\n"
               f"procs_running {nr_running(m)}\n"
               f"procs_blocked {nr_iowait(m)}\n")
    out.append("softirq 0" + " 0" * NR_SOFTIRQS + "\n")
    return "".join(out)


def uptime_proc_show(m) -> str:
    """/proc/uptime: seconds since boot from the model's clock, and the idle time of all
    CPUs added up (their idle ticks, fs/proc/uptime.c)."""
    ns = m.clock_ns
    idle = sum(idle_ticks(m, i) for i in range(m.nr_cpus)) * TICK_NSEC
    return (f"{ns // NSEC_PER_SEC}.{ns % NSEC_PER_SEC // 10**7:02d} "
            f"{idle // NSEC_PER_SEC}.{idle % NSEC_PER_SEC // 10**7:02d}\n")


def loadavg_proc_show(m) -> str:
    """/proc/loadavg: the three load averages (0.00: the model has no scheduler tick),
    nr_running/nr_threads and the last pid (fs/proc/loadavg.c)."""
    return (f"0.00 0.00 0.00 {nr_running(m)}/{len(m.tasks)} {last_pid(m)}\n")


def register(procfs) -> None:
    m = procfs.m
    procfs.add_text("/proc/stat", lambda: show_stat(m))
    procfs.add_text("/proc/uptime", lambda: uptime_proc_show(m))
    procfs.add_text("/proc/loadavg", lambda: loadavg_proc_show(m))
