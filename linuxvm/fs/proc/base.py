"""/proc/<pid>/: the per-process directory and oom_score_adj / oom_adj (fs/proc/base.c)."""

import errno

from ...errors import SyscallError
from ...include.oom import OOM_SCORE_ADJ_MAX, OOM_SCORE_ADJ_MIN
from . import Node
from .array import render_status, render_stat
from .clear_refs import clear_refs_read, clear_refs_write
from .task_mmu import render_maps, render_smaps, render_statm, file_d_path
from ...arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE, TASK_SIZE
from ...mm.oom_kill import oom_badness, totalpages_of
from ...arch.x86.pgtable import MAX_SWAPFILES, MAX_SWAPFILES_SHIFT
from ...mm.pagewalk import PM_ENTRY_BYTES, PM_PFRAME_MASK, PM_PRESENT, PM_SWAP, pagemap_read

SWP_TYPE_MASK = (1 << MAX_SWAPFILES_SHIFT) - 1     # a pagemap swap entry's type bits
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
    tp = m.tp.oom_score_adj_update
    if tp is not None:
        tp(task.pid, task.comm, sig.oom_score_adj)


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


def _vma_at(mm, va: int):
    """The VMA holding ``va``, found by walking the list (find_vma would touch the
    vmacache, and a renderer changes nothing)."""
    v = mm.mmap
    while v is not None and v.vm_end <= va:
        v = v.vm_next
    return v if v is not None and v.vm_start <= va else None


def read_resident(m, task, addr: int, n: int) -> bytes:
    """Up to ``n`` bytes of ``task``'s memory at ``addr``: what access_remote_vm would copy
    for a /proc reader, read without its side effects. A present page gives its frame's
    bytes, a swapped one its slot's, an anonymous page never faulted zeros (the zero page
    the fault would map); the copy stops short at an address no VMA covers, as
    access_remote_vm does.

    :raises NotImplementedError: a file page not in the page tables (reading it would need
        the page cache lookup and fault a renderer must not make), or a migration entry
    """
    out = bytearray()
    end = addr + n
    va = addr
    while va < end:
        chunk = min(end, (va & ~(PAGE_SIZE - 1)) + PAGE_SIZE) - va
        vma = _vma_at(task.mm, va)
        if vma is None:
            break
        entry = int.from_bytes(pagemap_read(m, task, (va >> PAGE_SHIFT) * PM_ENTRY_BYTES,
                                            PM_ENTRY_BYTES), "little")
        frame = entry & PM_PFRAME_MASK
        if entry & PM_PRESENT:
            data = m.page_contents.get(frame)
        elif entry & PM_SWAP and frame & SWP_TYPE_MASK < MAX_SWAPFILES:
            si = m.swap.swap_info[frame & SWP_TYPE_MASK]
            data = si.slots.get(frame >> MAX_SWAPFILES_SHIFT, (0, None))[1]
        elif not entry & PM_SWAP and vma.vm_file is None:
            data = None
        else:
            raise NotImplementedError(f"/proc/{task.pid}: reading the page at {va:#x} would "
                                      f"need a fault (access_remote_vm), which a /proc "
                                      f"renderer must not make")
        off = va & (PAGE_SIZE - 1)
        out += data[off:off + chunk] if data is not None else bytes(chunk)
        va += chunk
    return bytes(out)


def proc_pid_cmdline_read(m, task) -> str:
    """The argument strings, NUL-separated (fs/proc/base.c proc_pid_cmdline_read): empty for
    a task without an mm or whose mm has no argument area yet (``env_end`` 0, as for every
    spawned task). When the last byte of the area is not a NUL (the process wrote over its
    argv, as setproctitle does), the first string is read on into the environment area up
    to its NUL, as 4.6 does."""
    mm = task.mm
    if mm is None or not mm.env_end:
        return ""
    if mm.arg_end <= mm.arg_start:
        return ""
    args = read_resident(m, task, mm.arg_start, mm.arg_end - mm.arg_start)
    if not args:
        return ""
    if args[-1] != 0:
        nul = args.find(0)
        if nul >= 0:
            args = args[:nul]
        elif mm.env_end > mm.env_start:
            env = read_resident(m, task, mm.env_start, mm.env_end - mm.env_start)
            nul = env.find(0)
            args += env if nul < 0 else env[:nul]
    return args.decode("utf-8", "surrogateescape")      # the bytes, as text


def environ_read(m, task) -> str:
    """The environment strings as the process left them (fs/proc/base.c environ_read):
    empty while the mm has no environment area (``env_end`` 0)."""
    mm = task.mm
    if mm is None or not mm.env_end or mm.env_end <= mm.env_start:
        return ""
    return read_resident(m, task, mm.env_start, mm.env_end - mm.env_start).decode(
        "utf-8", "surrogateescape")


def proc_self_task(m):
    """The task /proc/self names (proc_self_get_link reads current's tgid). The model has no
    reading process of its own: it is ``m.current`` while a system call runs, else the
    oldest live task (the lowest pid), as if that process read /proc; None with no tasks."""
    if m.current is not None and m.current.pid in m.tasks:
        return m.current
    return m.tasks[min(m.tasks)] if m.tasks else None


PID_FILES = {
    "cmdline": (proc_pid_cmdline_read, None),
    "comm": (lambda m, t: f"{t.comm}\n", None),
    "environ": (environ_read, None),
    "maps": (render_maps, None),
    "smaps": (render_smaps, None),
    "statm": (render_statm, None),
    "status": (render_status, None),
    "stat": (render_stat, None),
    "oom_score": (proc_oom_score, None),
    "oom_score_adj": (lambda m, t: f"{t.signal.oom_score_adj}\n", oom_score_adj_write),
    "oom_adj": (lambda m, t: oom_adj_read(t), oom_adj_write),
    "clear_refs": (clear_refs_read, clear_refs_write),
}


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
PID_BYTES_FILES = {"auxv": proc_pid_auxv}


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
        if parts[0] == "self":
            me = proc_self_task(m)
            if me is None:
                return None
            if len(parts) == 1:
                return Node("link", target=str(me.tgid))
            parts[0] = str(me.tgid)
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
        if parts and parts[0] == "self" and proc_self_task(m) is not None:
            parts[0] = str(proc_self_task(m).tgid)
        if not parts:
            return [str(pid) for pid in sorted(m.tasks)] + \
                (["self"] if proc_self_task(m) is not None else [])
        task = task_of(parts[0]) if len(parts) == 1 else None
        if task is not None:
            # exe only for a task with a program (4.6 lists it always; readlink of a
            # process without one fails with ENOENT, which the model's lookup gives)
            exe = ["exe"] if proc_exe_link(task) is not None else []
            return sorted(list(PID_FILES) + list(PID_BYTES_FILES) + ["pagemap"] + exe)
        return None

    procfs.add_provider("/proc", resolve, lister)
