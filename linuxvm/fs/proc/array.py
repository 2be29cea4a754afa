"""/proc/PID/status and /proc/PID/stat (fs/proc/array.c)."""

from ...arch.x86.page_types import PAGE_SHIFT
from .task_mmu import task_mem, get_mm_rss

RLIM_INFINITY = (1 << 64) - 1


def render_status(m, task) -> str:
    """The status lines up to the memory block, then Threads (the signal/capability lines
    that follow are not modelled)."""
    cred = task.cred
    name = task.comm.replace("\\", "\\\\").replace("\n", "\\n")
    state = "R (running)" if task.mm is not None else "X (dead)"
    fdsize = 64
    out = [f"Name:\t{name}\n",
           f"State:\t{state}\n",
           f"Tgid:\t{task.tgid}\n",
           "Ngid:\t0\n",
           f"Pid:\t{task.pid}\n",
           "PPid:\t0\n",
           "TracerPid:\t0\n",
           f"Uid:\t{cred.uid}\t{cred.euid}\t{cred.euid}\t{cred.euid}\n",
           f"Gid:\t{cred.gid}\t{cred.egid}\t{cred.egid}\t{cred.egid}\n",
           f"FDSize:\t{fdsize}\n",
           "Groups:\t\n",
           f"NStgid:\t{task.tgid}\n",
           f"NSpid:\t{task.pid}\n",
           f"NSpgid:\t{task.pid}\n",
           f"NSsid:\t{task.pid}\n"]
    if task.mm is not None:
        out.append(task_mem(task, task.mm))
    out.append("Threads:\t1\n")
    return "".join(out)


def render_stat(m, task) -> str:
    """/proc/PID/stat: 52 fields; minflt, majflt, vsize, rss and rsslim come from the model,
    the scheduling fields that are not modelled read 0."""
    mm = task.mm
    vsize = mm.total_vm << PAGE_SHIFT if mm is not None else 0
    rss = get_mm_rss(task, mm) if mm is not None else 0
    rsslim = RLIM_INFINITY
    state = "R" if mm is not None else "X"
    f = [task.pid, f"({task.comm})", state, 0, task.pid, task.pid, 0, -1, 0x400000,
         task.min_flt, 0, task.maj_flt, 0, 0, 0, 0, 0, 20, 0, 1, 0, 0,
         vsize, rss, rsslim]
    if mm is not None:
        f += [mm.start_code, mm.end_code, mm.start_stack]
    else:
        f += [0, 0, 0]
    f += [0, 0, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0]
    if mm is not None:
        f += [mm.start_data, mm.end_data, mm.start_brk, mm.arg_start, mm.arg_end,
              mm.env_start, mm.env_end]
    else:
        f += [0] * 7
    f.append(0)
    return " ".join(str(x) for x in f) + "\n"
