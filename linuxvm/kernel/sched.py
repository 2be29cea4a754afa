"""struct task_struct and what memory management reads from it (include/linux/sched.h,
include/linux/cred.h). The constants mm reads from a task (RLIMIT_*, PF_*, personality
bits, oom_score_adj bounds) live in linuxvm/include/, below mm.

A task carries its credentials (uid/euid and the three capabilities mm checks),
the signal struct (rlimits, ``oom_score_adj``), fault counters and the per-task
RSS cache of SPLIT_RSS_COUNTING.
"""

from ..include.resource import (RLIM_INFINITY, RLIMIT_NAMES, INIT_RLIMITS)
from ..mm.mm_types import NR_MM_COUNTERS

ROOT_CAPS = frozenset(("CAP_SYS_ADMIN", "CAP_IPC_LOCK", "CAP_SYS_RESOURCE", "CAP_SYS_RAWIO"))


class Cred:
    """struct cred: the ids and the effective capability set mm consults."""

    __slots__ = ("uid", "euid", "gid", "egid", "cap_effective")

    def __init__(self, uid: int, gid: int = None, caps=None):
        self.uid = self.euid = uid
        self.gid = self.egid = uid if gid is None else gid
        self.cap_effective = set(ROOT_CAPS if uid == 0 else ()) if caps is None else set(caps)


class SignalStruct:
    """struct signal_struct: the process-wide rlimits and OOM adjustments."""

    __slots__ = ("rlim", "oom_score_adj", "oom_score_adj_min")

    def __init__(self):
        self.rlim = dict(INIT_RLIMITS)
        self.oom_score_adj = 0
        self.oom_score_adj_min = 0


class TaskRssStat:
    """struct task_rss_stat: per-thread RSS deltas folded into the mm every TASK_RSS_EVENTS_THRESH events."""

    __slots__ = ("events", "count")

    def __init__(self):
        self.events = 0
        self.count = [0] * NR_MM_COUNTERS


class TaskStruct:
    """struct task_struct (the memory-management part)."""

    __slots__ = ("pid", "tgid", "comm", "mm", "active_mm", "cred", "real_cred", "signal",
                 "flags", "personality", "min_flt", "maj_flt", "rss_stat",
                 "brk_randomized", "files", "exit_state", "slab_obj", "cpu", "sp", "real_parent",
                 "stack", "thread_cr2", "thread_error_code", "ip",
                 "memdie", "sigkill", "nr_dirtied", "nr_dirtied_pause", "dirty_paused_when")

    def __init__(self, pid: int, comm: str, cred: Cred):
        self.pid = self.tgid = pid
        self.comm = comm[:15]                   # TASK_COMM_LEN 16 with the NUL
        self.mm = self.active_mm = None
        self.cred = self.real_cred = cred
        self.signal = SignalStruct()
        self.flags = 0
        self.personality = 0
        self.min_flt = self.maj_flt = 0
        self.rss_stat = TaskRssStat()
        self.brk_randomized = False
        self.files = {}                          # fd -> File
        self.exit_state = 0
        self.slab_obj = 0
        self.cpu = 0                             # task_cpu(): where it is scheduled
        self.sp = 0                              # user %rsp, for the stack-growth check
        self.ip = 0                              # user %rip (exec's start_thread: the entry)
        self.real_parent = None
        self.stack = None                        # the kernel stack (fork_stack)
        self.thread_cr2 = 0                      # thread.cr2, thread.error_code: the last fault
        self.thread_error_code = 0
        self.memdie = False                      # TIF_MEMDIE: an OOM victim on its way out
        self.sigkill = False                     # SIGKILL pending (fatal_signal_pending)
        # balance_dirty_pages' per-task state, as copy_process sets it
        self.nr_dirtied = 0                      # pages dirtied since the last check
        self.nr_dirtied_pause = 128 >> 2         # check after this many (128 KiB)
        self.dirty_paused_when = 0

    def __repr__(self):
        return f"<task {self.pid} {self.comm}>"

    def capable(self, cap: str) -> bool:
        return cap in self.cred.cap_effective

    def rlimit(self, resource: int) -> int:
        """The soft limit (include/linux/sched.h rlimit())."""
        return self.signal.rlim[resource][0]

    def rlimit_max(self, resource: int) -> int:
        return self.signal.rlim[resource][1]


def parse_rlimits(rlimits) -> dict:
    """``{"RLIMIT_STACK": soft | (soft, hard), …}`` (names or numbers) → {resource: (soft, hard)}.

    :raises ValueError: an unknown resource, or soft above hard (setrlimit's EINVAL)
    """
    out = {}
    for key, val in (rlimits or {}).items():
        res = RLIMIT_NAMES.get(key, key) if isinstance(key, str) else key
        if res not in INIT_RLIMITS:
            raise ValueError(f"unknown or unsupported rlimit {key!r} "
                             f"(one of {', '.join(RLIMIT_NAMES)})")
        soft, hard = (val, val) if isinstance(val, int) else tuple(val)
        if soft is None:
            soft = RLIM_INFINITY
        if hard is None:
            hard = RLIM_INFINITY
        if not (0 <= soft <= RLIM_INFINITY and 0 <= hard <= RLIM_INFINITY) or soft > hard:
            raise ValueError(f"rlimit {key!r}: need 0 <= soft <= hard, got {val!r}")
        out[res] = (soft, hard)
    return out
