"""/proc/<pid>/: the per-process directory and oom_score_adj / oom_adj (fs/proc/base.c)."""

import errno

from ...errors import SyscallError
from ...include.oom import OOM_SCORE_ADJ_MAX, OOM_SCORE_ADJ_MIN
from . import Node
from .array import render_status, render_stat
from .task_mmu import render_maps, render_smaps, render_statm, file_d_path
from ...arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE, TASK_SIZE
from ...arch.x86.pgtable import pt_entries, pte_present, pte_pfn
from ...mm.memory import pte_lookup
from ...mm.oom_kill import oom_badness, totalpages_of
from ...mm.pagewalk import PM_ENTRY_BYTES, pagemap_read

OOM_DISABLE = -17
OOM_ADJUST_MIN = -17
OOM_ADJUST_MAX = 15


def _parse_int(text: str) -> int:
    try:
        return int(text.strip(), 10)
    except ValueError:
        raise SyscallError(errno.EINVAL, "write") from None


def __set_oom_adj(m, task, oom_adj: int, legacy: bool) -> None:
    writer = m.current if m.current is not None else task
    sig = task.signal
    if legacy:
        if oom_adj < sig.oom_score_adj and not writer.capable("CAP_SYS_RESOURCE"):
            raise SyscallError(errno.EACCES, "write")
        if not m._oom_adj_warned:
            m._oom_adj_warned = True
            m.log.pr_warn(f"{writer.comm} ({writer.pid}): /proc/{task.pid}/oom_adj is "
                          f"deprecated, please use /proc/{task.pid}/oom_score_adj instead.")
    elif oom_adj < sig.oom_score_adj_min and not writer.capable("CAP_SYS_RESOURCE"):
        raise SyscallError(errno.EACCES, "write")
    sig.oom_score_adj = oom_adj
    if not legacy and writer.capable("CAP_SYS_RESOURCE"):
        sig.oom_score_adj_min = oom_adj


def proc_oom_score(m, task) -> str:
    """oom_badness scaled to 0..1000 of RAM + swap (fs/proc/base.c proc_oom_score)."""
    totalpages = totalpages_of(m)
    return f"{oom_badness(task, totalpages) * 1000 // totalpages}\n"


def oom_score_adj_write(m, task, text: str) -> None:
    v = _parse_int(text)
    if not OOM_SCORE_ADJ_MIN <= v <= OOM_SCORE_ADJ_MAX:
        raise SyscallError(errno.EINVAL, "write")
    __set_oom_adj(m, task, v, False)


def oom_adj_read(task) -> str:
    adj = task.signal.oom_score_adj
    if adj == OOM_SCORE_ADJ_MAX:
        return f"{OOM_ADJUST_MAX}\n"
    return f"{int(adj * -OOM_DISABLE / OOM_SCORE_ADJ_MAX)}\n"


def oom_adj_write(m, task, text: str) -> None:
    v = _parse_int(text)
    if not OOM_ADJUST_MIN <= v <= OOM_ADJUST_MAX:
        raise SyscallError(errno.EINVAL, "write")
    if v == OOM_ADJUST_MAX:
        v = OOM_SCORE_ADJ_MAX
    else:
        v = int(v * OOM_SCORE_ADJ_MAX / -OOM_DISABLE)
    __set_oom_adj(m, task, v, True)


PID_FILES = {
    "maps": (render_maps, None),
    "smaps": (render_smaps, None),
    "statm": (render_statm, None),
    "status": (render_status, None),
    "stat": (render_stat, None),
    "oom_score": (proc_oom_score, None),
    "oom_score_adj": (lambda m, t: f"{t.signal.oom_score_adj}\n", oom_score_adj_write),
    "oom_adj": (lambda m, t: oom_adj_read(t), oom_adj_write),
}


def access_remote_vm(m, mm, addr: int, n: int) -> bytes:
    """``n`` bytes of ``mm``'s memory at ``addr`` as /proc reads them (mm/memory.c
    access_remote_vm), from the frames mapped there.

    :raises NotImplementedError: a page of the range is not present (4.6 would fault it
        in, swapping it back; a /proc renderer here never changes state)
    """
    out = bytearray()
    va, end = addr, addr + n
    while va < end:
        chunk = min(end, (va & ~(PAGE_SIZE - 1)) + PAGE_SIZE) - va
        ptr = pte_lookup(m, mm, va)
        pte = pt_entries(m, ptr[0])[ptr[1]] if ptr is not None else 0
        if not pte_present(pte):
            raise NotImplementedError(f"reading {va:#x} of another process through /proc: "
                                      f"the page is not present (access_remote_vm would "
                                      f"fault it in)")
        data = m.page_contents.get(pte_pfn(pte))
        off = va & (PAGE_SIZE - 1)
        out += data[off:off + chunk] if data is not None else bytes(chunk)
        va += chunk
    return bytes(out)


def proc_pid_cmdline(m, task) -> bytes:
    """The argument strings between arg_start and arg_end, or, when the last byte there
    is not a NUL (a program rewrote its arguments), the string running on into the
    environment (fs/proc/base.c proc_pid_cmdline_read)."""
    mm = task.mm
    if mm is None or mm.arg_end == mm.arg_start:
        return b""
    args = access_remote_vm(m, mm, mm.arg_start, mm.arg_end - mm.arg_start)
    if args[-1:] == b"\0":
        return args
    cut = args.find(b"\0")
    if cut >= 0:
        return args[:cut]               # the first string, without its NUL
    env = access_remote_vm(m, mm, mm.env_start, mm.env_end - mm.env_start)
    cut = env.find(b"\0")
    return args + (env[:cut] if cut >= 0 else env)


def proc_pid_environ(m, task) -> bytes:
    """The environment strings between env_start and env_end (environ_read)."""
    mm = task.mm
    if mm is None or not mm.env_end:
        return b""
    return access_remote_vm(m, mm, mm.env_start, mm.env_end - mm.env_start)


def proc_pid_auxv(m, task) -> bytes:
    """saved_auxv up to and including AT_NULL, as 8-byte words (proc_pid_auxv)."""
    mm = task.mm
    if mm is None:
        return b""
    auxv = mm.saved_auxv
    nwords = 0
    while nwords + 2 <= len(auxv):
        nwords += 2
        if auxv[nwords - 2] == 0:
            break
    return b"".join(w.to_bytes(8, "little") for w in auxv[:nwords])


def proc_exe_link(task):
    """The executed file's path (proc_exe_link → get_mm_exe_file), or None (ENOENT)."""
    mm = task.mm
    if mm is None or mm.exe_file is None:
        return None
    return file_d_path(mm.exe_file)


# binary files rendered whole (small): name -> renderer(m, task) -> bytes
PID_BYTES_FILES = {"cmdline": proc_pid_cmdline, "environ": proc_pid_environ,
                   "auxv": proc_pid_auxv}


def pagemap_size(task) -> int:
    """How far a pagemap read goes: one entry per page below the task size (pagemap_read
    stops at mm->task_size), nothing for a task without an mm."""
    return (TASK_SIZE >> PAGE_SHIFT) * PM_ENTRY_BYTES if task.mm is not None else 0


def register(procfs) -> None:
    m = procfs.m

    def task_of(part):
        # name_to_int: plain ASCII decimal, no leading zero, below UINT_MAX
        if not part or len(part) > 10 or not part.isascii() or not part.isdigit() or \
                (len(part) > 1 and part[0] == "0") or int(part) >= 0xFFFFFFFF:
            return None
        return m.tasks.get(int(part))

    def resolve(path):
        parts = path.split("/")[2:]           # "", "proc", pid, file
        if not parts or len(parts) > 2:
            return None
        task = task_of(parts[0])
        if task is None:
            return None
        if len(parts) == 1:
            return Node("dir")
        if parts[1] == "pagemap":
            return Node("binary", lambda off, n: pagemap_read(m, task, off, n,
                                                              procfs.privileged),
                        size=lambda: pagemap_size(task))
        if parts[1] in PID_BYTES_FILES:
            render = PID_BYTES_FILES[parts[1]]
            return Node("binary", lambda off, n: render(m, task)[off:off + n],
                        size=lambda: len(render(m, task)))
        if parts[1] == "exe":
            target = proc_exe_link(task)
            return Node("link", target=target) if target is not None else None
        entry = PID_FILES.get(parts[1])
        if entry is None:
            return None
        render, write = entry
        return Node("text", lambda: render(m, task),
                    (lambda text: write(m, task, text)) if write else None)

    def lister(path):
        parts = path.split("/")[2:]
        if not parts:
            return [str(pid) for pid in sorted(m.tasks)]
        task = task_of(parts[0]) if len(parts) == 1 else None
        if task is not None:
            # exe only for a task with a program (4.6 lists it always; readlink of a
            # process without one fails with ENOENT, which the model's lookup gives)
            exe = ["exe"] if proc_exe_link(task) is not None else []
            return sorted(list(PID_FILES) + list(PID_BYTES_FILES) + ["pagemap"] + exe)
        return None

    procfs.add_provider("/proc", resolve, lister)
