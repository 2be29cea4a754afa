"""``linuxvm replay-strace LOG``: replay a real program's memory system calls in the model.

The log is what ``strace -f -e trace=memory,process,desc -o LOG PROGRAM`` writes: one call
a line, with a pid prefix (``1234 `` or ``[pid 1234] ``) under ``-f``, calls split into
``<unfinished ...>`` and ``<... NAME resumed>`` halves when processes interleave, and
return values with errno (``= -1 ENOENT (No such file or directory)``). ``parse`` reads
the whole log first (every mistake is a ``ReplayError`` ``FILE:LINE: reason``);
``replay`` then runs the calls it knows through the façade (``Process.mmap`` …) and
counts the rest.

Addresses. The model picks its own addresses, so each replayed process keeps a
translation table from the real ranges the log shows to the model's ranges: an mmap,
mremap or brk adds the range it returned, munmap removes it, and every address argument
is looked up there (a range that spans several real mappings becomes one call per model
piece). An address the table does not know -- the program and loader that execve mapped,
which strace does not show -- is not replayed and is counted.

Files. A file the log opens successfully that the model's filesystem lacks is *created*
there (zero-filled, as long as the largest offset the log maps or truncates it to), so a
file mapping stays a file mapping; a mapping of an fd the replay does not track (stdio, a
dup, a directory) becomes an anonymous mapping and is counted. /proc, /sys and /dev paths
are not created. Paths are taken from the model's root (it has no working directory).

Processes. The first pid is a fresh process (uid 0); fork, vfork and clone without
CLONE_VM fork it (a vfork child gets a copy, not the parent's mm), clone with CLONE_VM is a
thread and shares its parent's process. execve of a program this host has (and
``exec_host``) imports it and its loader (``m.fs.import_host``) and execs it; otherwise the
process is replaced by a fresh one, and counted.
"""

import errno
import os
import re
from collections import Counter
from dataclasses import dataclass, field

from ..errors import ProcessKilled, SyscallError
from ..mm import mman
from .autopsy import host_interpreter, AutopsyError
from .strace_log import (ReplayError, Call, parse, PAGE, PROT, MAP, MAP_SHARED_VALIDATE,
                         MAP_NEWER, MREMAP, MADV, MS, MCL, MLOCK, O_FLAGS, O_CREAT,
                         O_DIRECTORY, O_CLOEXEC, CLONE_VM, CLONE_VFORK, CLONE_FLAGS, AT_FDCWD,
                         SPECIAL_DIRS, FORKS, KNOWN, strip_comments, arg_int, arg_flags,
                         arg_string, page_align)

__all__ = ["ReplayError", "Call", "parse", "replay", "Replay", "format_summary"]

# -- the per-process translation table ----------------------------------------------------

class Space:
    """Real ranges -> model ranges of one address space: sorted [rstart, rend, mstart]."""

    __slots__ = ("ranges", "brk_real", "brk_model")

    def __init__(self):
        self.ranges = []
        self.brk_real = self.brk_model = None

    def copy(self) -> "Space":
        s = Space()
        s.ranges = [list(r) for r in self.ranges]
        s.brk_real, s.brk_model = self.brk_real, self.brk_model
        return s

    def carve(self, start: int, end: int) -> None:
        out = []
        for rs, re_, ms in self.ranges:
            if re_ <= start or rs >= end:
                out.append([rs, re_, ms])
                continue
            if rs < start:
                out.append([rs, start, ms])
            if re_ > end:
                out.append([end, re_, ms + (end - rs)])
        self.ranges = out

    def add(self, start: int, end: int, mstart: int) -> None:
        self.carve(start, end)
        self.ranges.append([start, end, mstart])
        self.ranges.sort()

    def pieces(self, addr: int, length: int):
        """(model address, length) pieces of [addr, addr+length) and whether they cover it
        all; consecutive pieces contiguous in the model too are joined."""
        end = addr + max(length, 1)
        out = []
        covered = 0
        for rs, re_, ms in self.ranges:
            lo, hi = max(rs, addr), min(re_, end)
            if lo >= hi:
                continue
            covered += hi - lo
            ma = ms + (lo - rs)
            if out and out[-1][0] + out[-1][1] == ma:
                out[-1][1] += hi - lo
            else:
                out.append([ma, hi - lo])
        if length == 0 and out:
            out[0][1] = 0
        return [tuple(p) for p in out], covered >= end - addr

    def point(self, addr: int):
        for rs, re_, ms in self.ranges:
            if rs <= addr < re_:
                return ms + (addr - rs)
        return None


class Proc:
    """One replayed process: its model Process, address translation and fd table."""

    __slots__ = ("p", "space", "fds", "cloexec", "alive")

    def __init__(self, p, space=None, fds=None, cloexec=None):
        self.p = p
        self.space = space or Space()
        self.fds = fds or {}
        self.cloexec = cloexec or set()
        self.alive = True


@dataclass
class Replay:
    """What a replay did: counters and the calls whose model outcome differs from the log."""
    path: str
    calls: int = 0
    replayed: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)        # unknown system calls
    not_replayed: Counter = field(default_factory=Counter)   # known calls, by reason
    notes: Counter = field(default_factory=Counter)          # approximations made
    unknown_flags: Counter = field(default_factory=Counter)
    errors: list = field(default_factory=list)               # outcome mismatches
    procs: dict = field(default_factory=dict)                 # real pid -> Proc
    created: list = field(default_factory=list)               # files created in the model


def model_path(path: str) -> str:
    """The model's path for a path of the log (relative ones from its root)."""
    return os.path.normpath(path if path.startswith("/") else "/" + path)


def _file_sizes(calls):
    """Pre-pass: the length each path needs (largest mapped or truncated end), and the
    paths that are directories (another opened path lies under them)."""
    fdpath = {}
    need = Counter()
    dirs = set()
    for c in calls:
        try:
            if c.name in ("open", "openat", "creat") and c.ret is not None and c.ret >= 0:
                path = model_path(arg_string(c, "", 1 if c.name == "openat" else 0))
                fdpath[c.ret] = path
                parent = os.path.dirname(path)
                while parent not in dirs and parent != "/":
                    dirs.add(parent)
                    parent = os.path.dirname(parent)
            elif c.name == "mmap" and len(c.args) == 6 and c.ret is not None and c.ret >= 0:
                fd = int(strip_comments(c.args[4]), 0)
                if fd in fdpath:
                    end = int(strip_comments(c.args[5]), 0) + int(strip_comments(c.args[1]), 0)
                    need[fdpath[fd]] = max(need[fdpath[fd]], end)
            elif c.name == "ftruncate" and c.ret == 0:
                fd = int(strip_comments(c.args[0]), 0)
                if fd in fdpath:
                    need[fdpath[fd]] = max(need[fdpath[fd]], int(strip_comments(c.args[1]), 0))
        except (ReplayError, ValueError, IndexError):
            pass
    return need, dirs


class _Replayer:
    def __init__(self, m, calls, path, exec_host, exits=True):
        self.exits = exits
        self.m = m
        self.calls = calls
        self.path = path
        self.exec_host = exec_host
        self.r = Replay(path)
        self.procs = self.r.procs
        self.forking = {}       # parent pid -> (child pid once seen, or None)
        self.need, self.dirs = _file_sizes(calls)

    # -- helpers ---------------------------------------------------------------------
    def fail(self, c, msg):
        raise ReplayError(f"{self.path}:{c.line}: {c.name}: {msg}")

    def outcome(self, c, fn, *args):
        """Run one model call; compare success/errno with the log; the model's result."""
        try:
            ret = fn(*args)
            err = None
        except SyscallError as e:
            ret, err = None, e.errno
        except ProcessKilled:
            ret, err = None, "killed"
        real = c.errno
        model = None if err is None else (err if isinstance(err, str) else _errname(err))
        if real != model:
            self.r.errors.append(f"{self.path}:{c.line}: {c.name}: log "
                                 f"{real or 'succeeded'}, model {model or 'succeeded'}")
        return ret, err

    def proc_of(self, pid, c):
        pr = self.procs.get(pid)
        if pr is not None:
            return pr
        # a pid seen first while its parent's fork-family call is unfinished: the fork
        # happened, the child ran first
        for parent, child in self.forking.items():
            if child is None:
                self.forking[parent] = pid
                return self.do_fork(self.procs[parent], pid, self.fork_flags.get(parent, 0))
        p = self.m.spawn("replay", uid=0)
        if self.procs:
            self.r.notes["process not forked in the log: spawned fresh"] += 1
        pr = self.procs[pid] = Proc(p)
        return pr

    def do_fork(self, parent, child_pid, flags):
        if flags & CLONE_VM and not flags & CLONE_VFORK:
            self.procs[child_pid] = parent          # a thread: the same process
            self.r.notes["clone(CLONE_VM) thread: shares its parent's process"] += 1
            return parent
        if flags & CLONE_VFORK:
            self.r.notes["vfork: the child gets a copy of the mm"] += 1
        try:
            child = parent.p.fork()
        except SyscallError as e:
            # the real fork succeeded: the child's calls go to a fresh process
            self.r.errors.append(f"{self.path}: fork of pid {child_pid}: log succeeded, "
                                 f"model {_errname(e.errno)}")
            child = self.m.spawn("replay", uid=0)
        pr = Proc(child, parent.space.copy(), dict(parent.fds), set(parent.cloexec))
        self.procs[child_pid] = pr
        return pr

    # -- the calls ---------------------------------------------------------------------
    def run(self):
        self.fork_flags = {}
        for c in self.calls:
            if c.name == "+++":
                pr = self.procs.get(c.pid)
                if not self.exits:
                    continue
                if pr is not None and pr.alive and pr.p.mm is not None:
                    pr.p.exit(c.exited[1] if c.exited[0] == "exited" else 0)
                    pr.alive = False
                continue
            pr = self.proc_of(c.pid, c)
            if c.name == "<unfinished>":
                if c.exited in FORKS:
                    self.forking[c.pid] = None
                    mo = re.search(r"flags=([A-Z0-9_|x]+)", c.args[0])
                    self.fork_flags[c.pid] = (CLONE_VM | CLONE_VFORK if c.exited == "vfork"
                                              else self._clone_flags(c, mo.group(1)) if mo
                                              else 0)
                continue
            self.r.calls += 1
            if c.name not in KNOWN:
                self.r.skipped[c.name] += 1
                continue
            if not pr.alive or pr.p.mm is None:
                self.r.not_replayed["process gone in the model"] += 1
                continue
            getattr(self, "sys_" + c.name, self.sys_range)(c, pr)
        return self.r

    def replayed(self, c):
        self.r.replayed[c.name] += 1

    def skip(self, c, why):
        self.r.not_replayed[why] += 1

    def sys_mmap(self, c, pr):
        addr = arg_int(c, self.path, 0)
        length = arg_int(c, self.path, 1)
        prot = arg_flags(c, self.path, 2, PROT, self.r.unknown_flags)
        flags = arg_flags(c, self.path, 3, MAP, self.r.unknown_flags)
        fd = arg_int(c, self.path, 4)
        off = arg_int(c, self.path, 5)
        p, sp = pr.p, pr.space
        if flags & MAP_NEWER:
            self.r.notes["mmap flags newer than 4.6 dropped"] += 1
            flags &= ~MAP_NEWER
        if flags & 0xF == MAP_SHARED_VALIDATE:
            flags = (flags & ~0xF) | mman.MAP_SHARED
        mfd = -1
        if not flags & mman.MAP_ANONYMOUS:
            mfd = pr.fds.get(fd)
            if mfd is None:
                if c.errno is not None:
                    return self.skip(c, "failed in the log (fd not tracked)")
                self.r.notes["mmap of an untracked fd: anonymous instead"] += 1
                flags |= mman.MAP_ANONYMOUS
                mfd, off = -1, 0
        alen = page_align(length)
        maddr = None
        if flags & mman.MAP_FIXED:
            pieces, whole = sp.pieces(addr, alen)
            if whole and len(pieces) == 1:
                maddr = pieces[0][0]
            else:
                # the real range was (partly) unknown: drop what the model has there and
                # let it choose the address
                if c.errno is None:
                    for ma, ml in pieces:
                        self.outcome_quiet(p.munmap, ma, ml)
                flags &= ~mman.MAP_FIXED
                self.r.notes["MAP_FIXED at an unknown address: model's choice"] += 1
        elif addr:
            maddr = sp.point(addr)
        ret, err = self.outcome(c, p.mmap, maddr, length, prot, flags, mfd, off)
        self.replayed(c)
        if err is None and c.errno is None and c.ret is not None:
            sp.add(c.ret, c.ret + alen, ret)
        elif err is None and c.errno is not None:
            self.outcome_quiet(p.munmap, ret, alen)     # the log has no such mapping
        elif c.errno is None and c.ret is not None:
            sp.carve(c.ret, c.ret + alen)

    def outcome_quiet(self, fn, *args):
        try:
            return fn(*args)
        except SyscallError:
            return None

    def sys_range(self, c, pr):
        """munmap, mprotect, madvise, mlock, mlock2, munlock, msync: one call per piece."""
        addr = arg_int(c, self.path, 0)
        length = arg_int(c, self.path, 1)
        extra = ()
        name = c.name
        if name in ("mprotect", "pkey_mprotect"):
            extra = (arg_flags(c, self.path, 2, PROT, self.r.unknown_flags),)
            name = "mprotect"
            if c.name == "pkey_mprotect":
                self.r.notes["pkey_mprotect replayed as mprotect"] += 1
        elif name == "madvise":
            extra = (arg_flags(c, self.path, 2, MADV, self.r.unknown_flags),)
        elif name == "msync":
            extra = (arg_flags(c, self.path, 2, MS, self.r.unknown_flags),)
        elif name == "mlock2":
            extra = (arg_flags(c, self.path, 2, MLOCK, self.r.unknown_flags),)
        pieces, whole = pr.space.pieces(addr, length)
        if not pieces:
            return self.skip(c, "address not translated (not mapped by a replayed call)")
        if not whole:
            self.r.notes["range partly translated: known pieces replayed"] += 1
        fn = getattr(pr.p, name)
        results = [self.outcome_call(fn, ma, ml, *extra) for ma, ml in pieces]
        err = next((e for e in results if e is not None), None)
        self.compare(c, err)
        self.replayed(c)
        if c.name == "munmap" and c.errno is None:
            pr.space.carve(addr & ~(PAGE - 1), addr + page_align(length))

    def outcome_call(self, fn, *args):
        try:
            fn(*args)
        except SyscallError as e:
            return e.errno
        return None

    def compare(self, c, err):
        model = None if err is None else _errname(err)
        if model != c.errno:
            self.r.errors.append(f"{self.path}:{c.line}: {c.name}: log "
                                 f"{c.errno or 'succeeded'}, model {model or 'succeeded'}")

    def sys_mremap(self, c, pr):
        old = arg_int(c, self.path, 0)
        old_len = arg_int(c, self.path, 1)
        new_len = arg_int(c, self.path, 2)
        flags = arg_flags(c, self.path, 3, MREMAP, self.r.unknown_flags)
        new = arg_int(c, self.path, 4, default=0) if flags & 2 else None
        sp = pr.space
        pieces, whole = sp.pieces(old, old_len)
        if not (whole and len(pieces) == 1):
            return self.skip(c, "address not translated (not mapped by a replayed call)")
        mnew = None
        if new is not None:
            np_, nwhole = sp.pieces(new, new_len)
            if nwhole and len(np_) == 1:
                mnew = np_[0][0]
            else:
                flags &= ~2
                self.r.notes["MREMAP_FIXED to an unknown address: model's choice"] += 1
        ret, err = self.outcome(c, pr.p.mremap, pieces[0][0], old_len, new_len, flags, mnew)
        self.replayed(c)
        if err is None and c.errno is None:
            sp.carve(old, old + page_align(old_len))
            sp.add(c.ret, c.ret + page_align(new_len), ret)

    def sys_brk(self, c, pr):
        addr = arg_int(c, self.path, 0)
        sp = pr.space
        if addr == 0:
            ret, _ = self.outcome(c, pr.p.brk, 0)
            self.replayed(c)
            if sp.brk_real is None and c.ret:
                sp.brk_real, sp.brk_model = c.ret, ret
            return
        if sp.brk_real is None:
            return self.skip(c, "brk before brk(NULL): heap base unknown")
        ret, _ = self.outcome(c, pr.p.brk, addr - sp.brk_real + sp.brk_model)
        self.replayed(c)
        if ret - sp.brk_model != c.ret - sp.brk_real:
            self.r.errors.append(f"{self.path}:{c.line}: brk: log moved the break by "
                                 f"{c.ret - sp.brk_real:#x}, model by {ret - sp.brk_model:#x}")
        sp.carve(sp.brk_real, max(addr, c.ret, sp.brk_real) + PAGE)
        if c.ret > sp.brk_real:
            sp.add(sp.brk_real, page_align(c.ret), sp.brk_model)

    def sys_mlockall(self, c, pr):
        flags = arg_flags(c, self.path, 0, MCL, self.r.unknown_flags)
        self.compare(c, self.outcome_call(pr.p.mlockall, flags))
        self.replayed(c)

    def sys_munlockall(self, c, pr):
        self.compare(c, self.outcome_call(pr.p.munlockall))
        self.replayed(c)

    # -- files -----------------------------------------------------------------------
    def _open(self, c, pr, path, flags, mode):
        if c.errno is not None and c.errno != "ENOENT":
            return self.skip(c, "failed in the log")
        path = model_path(path)
        if path.startswith(SPECIAL_DIRS) or path in ("/proc", "/sys", "/dev"):
            return self.skip(c, "/proc, /sys or /dev file (not created)")
        if flags & O_DIRECTORY or path in self.dirs:
            return self.skip(c, "directory")
        fs = self.m.fs
        if c.errno is None and path not in fs.files:
            parent = os.path.dirname(path)
            if parent not in fs.dirs and parent in fs.files:
                return self.skip(c, "path under a file")
            if not flags & O_CREAT:
                fs.create(path, self.need.get(path, 0))
                self.r.created.append(path)
            elif parent not in fs.dirs:
                fs.mkdir(parent)
        ret, err = self.outcome(c, pr.p.open, path, flags & ~O_CLOEXEC, mode)
        self.replayed(c)
        if err is None:
            if c.errno is not None:
                self.outcome_quiet(pr.p.close, ret)
                return
            old = pr.fds.pop(c.ret, None)
            if old is not None:
                self.outcome_quiet(pr.p.close, old)
            pr.fds[c.ret] = ret
            if flags & O_CLOEXEC:
                pr.cloexec.add(c.ret)
            else:
                pr.cloexec.discard(c.ret)

    def sys_open(self, c, pr):
        mode = arg_int(c, self.path, 2, default=0o666) if len(c.args) > 2 else 0o666
        self._open(c, pr, arg_string(c, self.path, 0),
                   arg_flags(c, self.path, 1, O_FLAGS, self.r.unknown_flags), mode)

    def sys_openat(self, c, pr):
        dirfd = strip_comments(c.args[0]) if c.args else ""
        path = arg_string(c, self.path, 1)
        if dirfd != AT_FDCWD and not path.startswith("/"):
            return self.skip(c, "openat relative to a directory fd")
        mode = arg_int(c, self.path, 3) if len(c.args) > 3 else 0o666
        self._open(c, pr, path, arg_flags(c, self.path, 2, O_FLAGS, self.r.unknown_flags),
                   mode)

    def sys_creat(self, c, pr):
        self._open(c, pr, arg_string(c, self.path, 0), 0o1101, arg_int(c, self.path, 1))

    def sys_close(self, c, pr):
        fd = arg_int(c, self.path, 0)
        mfd = pr.fds.pop(fd, None)
        pr.cloexec.discard(fd)
        if mfd is None:
            return self.skip(c, "fd not tracked")
        self.outcome(c, pr.p.close, mfd)
        self.replayed(c)

    def sys_ftruncate(self, c, pr):
        fd = arg_int(c, self.path, 0)
        if fd not in pr.fds:
            return self.skip(c, "fd not tracked")
        self.outcome(c, pr.p.ftruncate, pr.fds[fd], arg_int(c, self.path, 1))
        self.replayed(c)

    # -- processes ---------------------------------------------------------------------
    def _fork(self, c, pr, flags):
        seen = self.forking.pop(c.pid, None)
        self.fork_flags.pop(c.pid, None)
        if c.errno is not None or c.ret is None:
            return self.skip(c, "failed in the log")
        if seen == c.ret or c.ret in self.procs:
            self.replayed(c)            # forked when the child's first line came
            return
        self.do_fork(pr, c.ret, flags)
        self.replayed(c)

    def sys_fork(self, c, pr):
        self._fork(c, pr, 0)

    def sys_vfork(self, c, pr):
        self._fork(c, pr, CLONE_VM | CLONE_VFORK)

    def sys_clone(self, c, pr):
        flags = 0
        for a in c.args:
            if strip_comments(a).startswith("flags="):
                flags = self._clone_flags(c, strip_comments(a)[6:])
        self._fork(c, pr, flags)

    def sys_clone3(self, c, pr):
        mo = re.search(r"flags=([A-Z0-9_|x]+)", c.args[0] if c.args else "")
        self._fork(c, pr, self._clone_flags(c, mo.group(1)) if mo else 0)

    def _clone_flags(self, c, text):
        v = 0
        for part in text.split("|"):
            if part in CLONE_FLAGS:
                v |= CLONE_FLAGS[part]
            elif re.fullmatch(r"0x[0-9a-f]+|\d+", part):
                v |= int(part, 0)
        return v

    def sys_execve(self, c, pr):
        if c.errno is not None:
            return self.skip(c, "failed in the log")
        path = arg_string(c, self.path, 0 if c.name == "execve" else 1)
        if self.exec_host and os.path.isfile(path) and self.exec_model(pr, path):
            self.replayed(c)
        else:
            # a fresh process stands in for the program the model cannot exec
            pr.p.exit(0)
            pr.p = self.m.spawn(os.path.basename(path)[:15] or "replay", uid=0)
            self.r.notes["execve of a program the model cannot load: fresh process"] += 1
            self.replayed(c)
        pr.space = Space()
        for fd in list(pr.cloexec):
            mfd = pr.fds.pop(fd, None)
            if mfd is not None and pr.p.mm is not None:
                self.outcome_quiet(pr.p.close, mfd)
        pr.cloexec.clear()

    sys_execveat = sys_execve

    def exec_model(self, pr, path) -> bool:
        """Import ``path`` and its loader into the model and execve it; False if it fails."""
        try:
            interp = host_interpreter(path)
        except AutopsyError:
            return False
        fs = self.m.fs
        for hp in (path, interp):
            if hp is not None and hp not in fs.files:
                fs.import_host(os.path.realpath(hp), hp)
        try:
            pr.p.execve(path, [path], ["HOME=/"])
        except SyscallError:
            return False
        except ProcessKilled:
            pr.p = self.m.spawn("replay", uid=0)
            return False
        return True

    def sys_exit_group(self, c, pr):
        code = arg_int(c, self.path, 0)
        if not self.exits:
            return self.skip(c, "exit left out (exits=False): the process stays")
        pr.p.exit(code & 0xFF)
        pr.alive = False
        self.replayed(c)

    def sys_exit(self, c, pr):
        # a thread's exit leaves its process; the last one's exit ends it
        if sum(1 for q in self.procs.values() if q is pr) > 1:
            self.procs.pop(c.pid)
            self.replayed(c)
            return
        self.sys_exit_group(c, pr)


def _errname(err: int) -> str:
    return errno.errorcode.get(err, str(err))


def replay(m, calls, path: str = "LOG", exec_host: bool = True, exits: bool = True) -> Replay:
    """Replay parsed ``calls`` (from ``parse``) in machine ``m``; what was done.

    :param exec_host: execve programs this host has (imported into the model); False
        replaces each exec'ing process by a fresh one (deterministic on any host)
    :param exits: False leaves exit and exit_group out, so every process stays to be
        looked at (its /proc/PID/maps is the address space the log ends with)
    :raises ReplayError: a known call whose arguments cannot be read
    """
    return _Replayer(m, calls, path, exec_host, exits).run()


def format_summary(r: Replay) -> str:
    """The replay's summary: calls replayed, skipped by name, not replayed by reason,
    approximations, and the calls whose outcome differs."""
    out = [f"{r.path}: {r.calls} system calls, {sum(r.replayed.values())} replayed, "
           f"{sum(r.skipped.values())} skipped, {sum(r.not_replayed.values())} not "
           f"replayed, {len(r.errors)} errors"]
    if r.replayed:
        out.append("replayed: " + ", ".join(f"{k} {v}" for k, v in sorted(r.replayed.items())))
    if r.skipped:
        out.append("skipped (not modelled): " + ", ".join(
            f"{k} {v}" for k, v in sorted(r.skipped.items())))
    for why, n in sorted(r.not_replayed.items()):
        out.append(f"not replayed: {n} x {why}")
    for why, n in sorted(r.notes.items()):
        out.append(f"note: {n} x {why}")
    if r.unknown_flags:
        out.append("flags ignored: " + ", ".join(
            f"{k} {v}" for k, v in sorted(r.unknown_flags.items())))
    for path in r.created[:10]:
        out.append(f"created file: {path}")
    if len(r.created) > 10:
        out.append(f"created files: {len(r.created) - 10} more")
    for e in r.errors:
        out.append(f"error: {e}")
    return "\n".join(out) + "\n"
