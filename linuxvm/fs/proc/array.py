"""/proc/PID/status and /proc/PID/stat (fs/proc/array.c)."""

from ...arch.x86.page_types import PAGE_SHIFT, THREAD_SIZE
from ...include.resource import RLIM_INFINITY
from .task_mmu import task_mem, get_mm_rss


# capability numbers mm consults (include/uapi/linux/capability.h); CAP_LAST_CAP is 37
CAP_BITS = {"CAP_IPC_LOCK": 14, "CAP_SYS_RAWIO": 17, "CAP_SYS_ADMIN": 21,
            "CAP_SYS_RESOURCE": 24}
CAP_FULL_SET = (1 << 38) - 1
NR_OPEN_DEFAULT = 64


def cap_mask(task) -> int:
    """The effective set as a bitmask: uid 0 holds every capability."""
    if task.cred.uid == 0 and task.cred.cap_effective >= set(CAP_BITS):
        return CAP_FULL_SET
    return sum(1 << CAP_BITS[c] for c in task.cred.cap_effective if c in CAP_BITS)


def fdsize(task) -> int:
    """files->fdt->max_fds: 64, then alloc_fdtable's power-of-two multiples of 128."""
    top = max(task.files, default=0)
    if top < NR_OPEN_DEFAULT:
        return NR_OPEN_DEFAULT
    n = top // 128 + 1
    return 128 * (1 << (n - 1).bit_length())


def rlimit_sigpending(m) -> int:
    """INIT's RLIMIT_SIGPENDING: max_threads / 2, from fork_init's RAM (before the
    __init sections are freed)."""
    b, e = m.kernel_sections["init"]
    totalram = m.totalram_pages() - ((e - b) >> PAGE_SHIFT)
    max_threads = max(totalram * 4096 // (THREAD_SIZE * 8), 20)
    return max_threads // 2


def bitmap_list(n: int) -> str:
    return "0" if n == 1 else f"0-{n - 1}"


def get_task_state(m, task) -> str:
    """The task's state as status prints it; stat prints its first letter (fs/proc/array.c
    get_task_state). A task that is not on a CPU is sleeping."""
    if task.mm is None and not m.tasks.get(task.pid):
        return "X (dead)"
    return "R (running)" if m.current is task else "S (sleeping)"


def render_status(m, task) -> str:
    """/proc/PID/status in 4.6's order (proc_pid_status): state, ids, memory, signals,
    capabilities, seccomp, CPU and memory-node masks, context switches."""
    cred = task.cred
    name = task.comm.replace("\\", "\\\\").replace("\n", "\\n")
    state = get_task_state(m, task)
    parent = getattr(task, "real_parent", None)
    ppid = parent.tgid if parent is not None else 0
    out = [f"Name:\t{name}\n",
           f"State:\t{state}\n",
           f"Tgid:\t{task.tgid}\n",
           "Ngid:\t0\n",
           f"Pid:\t{task.pid}\n",
           f"PPid:\t{ppid}\n",
           "TracerPid:\t0\n",
           f"Uid:\t{cred.uid}\t{cred.euid}\t{cred.euid}\t{cred.euid}\n",
           f"Gid:\t{cred.gid}\t{cred.egid}\t{cred.egid}\t{cred.egid}\n",
           f"FDSize:\t{fdsize(task)}\n",
           "Groups:\t\n",
           f"NStgid:\t{task.tgid}\n",
           f"NSpid:\t{task.pid}\n",
           f"NSpgid:\t{task.pid}\n",
           f"NSsid:\t{task.pid}\n"]
    if task.mm is not None:
        out.append(task_mem(task, task.mm))
    caps = cap_mask(task)
    ncpus = m.nr_cpus
    out += ["Threads:\t1\n",
            f"SigQ:\t0/{rlimit_sigpending(m)}\n",
            "SigPnd:\t0000000000000000\n",
            "ShdPnd:\t0000000000000000\n",
            "SigBlk:\t0000000000000000\n",
            "SigIgn:\t0000000000000000\n",
            "SigCgt:\t0000000000000000\n",
            "CapInh:\t0000000000000000\n",
            f"CapPrm:\t{caps:016x}\n",
            f"CapEff:\t{caps:016x}\n",
            f"CapBnd:\t{CAP_FULL_SET:016x}\n",
            "CapAmb:\t0000000000000000\n",
            "Seccomp:\t0\n",
            f"Cpus_allowed:\t{cpumask_hex(ncpus)}\n",
            f"Cpus_allowed_list:\t{bitmap_list(ncpus)}\n",
            "Mems_allowed:\t1\n",                  # !CONFIG_NUMA: MAX_NUMNODES is 1
            "Mems_allowed_list:\t0\n",
            f"voluntary_ctxt_switches:\t{getattr(task, 'nvcsw', 0)}\n",
            f"nonvoluntary_ctxt_switches:\t{getattr(task, 'nivcsw', 0)}\n"]
    return "".join(out)


def cpumask_hex(n: int) -> str:
    """%*pb of a mask with the first ``n`` CPUs set: 32-bit groups, comma separated."""
    mask = (1 << n) - 1
    groups = []
    for i in range((n + 31) // 32):
        width = min(32, n - 32 * i)
        groups.append(f"{(mask >> (32 * i)) & 0xFFFFFFFF:0{(width + 3) // 4}x}")
    return ",".join(reversed(groups))


def render_stat(m, task) -> str:
    """/proc/PID/stat: 52 fields; minflt, majflt, vsize, rss and rsslim come from the model,
    the scheduling fields that are not modelled read 0."""
    mm = task.mm
    vsize = mm.total_vm << PAGE_SHIFT if mm is not None else 0
    rss = get_mm_rss(task, mm) if mm is not None else 0
    rsslim = RLIM_INFINITY
    state = get_task_state(m, task)[0]
    parent = getattr(task, "real_parent", None)
    ppid = parent.tgid if parent is not None else 0
    f = [task.pid, f"({task.comm})", state, ppid, task.pid, task.pid, 0, -1, task.flags,
         task.min_flt, 0, task.maj_flt, 0, 0, 0, 0, 0, 20, 0, 1, 0, 0,
         vsize, rss, rsslim]
    if mm is not None:
        f += [mm.start_code, mm.end_code, mm.start_stack]
    else:
        f += [0, 0, 0]
    # kstkesp kstkeip signal blocked sigignore sigcatch wchan nswap cnswap exit_signal,
    # then task_cpu() and rt_priority policy delayacct_blkio guest_time cguest_time
    f += [0, 0, 0, 0, 0, 0, 0, 0, 0, 17, task.cpu, 0, 0, 0, 0, 0]
    if mm is not None:
        f += [mm.start_data, mm.end_data, mm.start_brk, mm.arg_start, mm.arg_end,
              mm.env_start, mm.env_end]
    else:
        f += [0] * 7
    f.append(0)
    return " ".join(str(x) for x in f) + "\n"
