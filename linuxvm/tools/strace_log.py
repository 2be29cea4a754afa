"""Reading an ``strace -f`` log (for ``linuxvm replay-strace``, tools/replay_strace.py).

``parse`` turns the log into ``Call`` records in completion order: the pid prefix
(``1234 `` or ``[pid 1234] ``) and timestamps stripped, ``<unfinished ...>`` and
``<... NAME resumed>`` halves joined, top-level arguments split (strings, arrays, structs
and ``/* comments */`` kept whole), the return value and errno read. ``--- SIG ---`` lines
are dropped and ``+++ exited/killed +++`` lines kept as exits. The argument helpers read
numbers and ``A|B`` flag words with strace's names for them (x86-64 values). Every mistake
is a ``ReplayError`` ``FILE:LINE: reason``.
"""

import re
from collections import Counter
from dataclasses import dataclass

from ..mm import mman

PAGE = 4096

# strace's names for the flag words of the calls replayed (x86-64 values)
PROT = {"PROT_NONE": 0, "PROT_READ": 1, "PROT_WRITE": 2, "PROT_EXEC": 4,
        "PROT_SEM": 8, "PROT_GROWSDOWN": 0x01000000, "PROT_GROWSUP": 0x02000000}
MAP = {n: getattr(mman, n) for n in dir(mman) if n.startswith("MAP_")
       and isinstance(getattr(mman, n), int) and n not in ("MAP_TYPE",)}
MAP.update({"MAP_SHARED_VALIDATE": 0x03, "MAP_UNINITIALIZED": 0x4000000,
            "MAP_FIXED_NOREPLACE": 0x100000, "MAP_SYNC": 0x80000})
MAP_SHARED_VALIDATE = 0x03
# flags 4.6 does not know: MAP_FIXED_NOREPLACE is a hint there, the others are dropped
MAP_NEWER = 0x100000 | 0x80000 | 0x4000000
MREMAP = {"MREMAP_MAYMOVE": 1, "MREMAP_FIXED": 2, "MREMAP_DONTUNMAP": 4}
MADV = {n: getattr(mman, n) for n in dir(mman) if n.startswith("MADV_")}
MADV.update({"MADV_COLD": 20, "MADV_PAGEOUT": 21, "MADV_POPULATE_READ": 22,
             "MADV_POPULATE_WRITE": 23, "MADV_WIPEONFORK": 18, "MADV_KEEPONFORK": 19})
MS = {"MS_ASYNC": 1, "MS_INVALIDATE": 2, "MS_SYNC": 4}
MCL = {"MCL_CURRENT": 1, "MCL_FUTURE": 2, "MCL_ONFAULT": 4}
MLOCK = {"MLOCK_ONFAULT": 1}
O_FLAGS = {"O_RDONLY": 0, "O_WRONLY": 1, "O_RDWR": 2, "O_CREAT": 0o100, "O_EXCL": 0o200,
           "O_NOCTTY": 0o400, "O_TRUNC": 0o1000, "O_APPEND": 0o2000, "O_NONBLOCK": 0o4000,
           "O_DSYNC": 0o10000, "O_ASYNC": 0o20000, "O_DIRECT": 0o40000,
           "O_LARGEFILE": 0o100000, "O_DIRECTORY": 0o200000, "O_NOFOLLOW": 0o400000,
           "O_NOATIME": 0o1000000, "O_CLOEXEC": 0o2000000, "O_SYNC": 0o4010000,
           "O_PATH": 0o10000000, "O_TMPFILE": 0o20200000, "O_NDELAY": 0o4000}
O_CREAT, O_DIRECTORY, O_CLOEXEC = 0o100, 0o200000, 0o2000000
CLONE_VM, CLONE_VFORK = 0x100, 0x4000
CLONE_FLAGS = {"CLONE_VM": 0x100, "CLONE_FS": 0x200, "CLONE_FILES": 0x400,
               "CLONE_SIGHAND": 0x800, "CLONE_PIDFD": 0x1000, "CLONE_PTRACE": 0x2000,
               "CLONE_VFORK": 0x4000, "CLONE_PARENT": 0x8000, "CLONE_THREAD": 0x10000,
               "CLONE_NEWNS": 0x20000, "CLONE_SYSVSEM": 0x40000, "CLONE_SETTLS": 0x80000,
               "CLONE_PARENT_SETTID": 0x100000, "CLONE_CHILD_CLEARTID": 0x200000,
               "CLONE_DETACHED": 0x400000, "CLONE_UNTRACED": 0x800000,
               "CLONE_CHILD_SETTID": 0x1000000, "CLONE_NEWCGROUP": 0x2000000,
               "CLONE_NEWUTS": 0x4000000, "CLONE_NEWIPC": 0x8000000,
               "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
               "CLONE_NEWNET": 0x40000000, "CLONE_IO": 0x80000000}
AT_FDCWD = "AT_FDCWD"
SPECIAL_DIRS = ("/proc/", "/sys/", "/dev/")

FORKS = {"fork", "vfork", "clone", "clone3"}
EXECS = {"execve", "execveat"}
RANGE_CALLS = {"munmap", "mprotect", "madvise", "mlock", "mlock2", "munlock", "msync",
               "pkey_mprotect"}
KNOWN = ({"mmap", "mremap", "brk", "open", "openat", "creat", "close", "ftruncate",
          "exit", "exit_group", "mlockall", "munlockall"} | FORKS | EXECS | RANGE_CALLS)


class ReplayError(Exception):
    """A log the replay cannot read: ``FILE:LINE: reason``."""


@dataclass
class Call:
    """One complete system call of the log (its two halves joined)."""
    line: int
    pid: int
    name: str
    args: list
    ret: object            # int, or None for "= ?"
    errno: str = None      # "ENOENT" when the call failed
    exited: object = None  # ("exited", code) / ("killed", signame) for +++ lines


# -- parsing ------------------------------------------------------------------------------

_PREFIX = re.compile(r"^(?:\[pid\s+(\d+)\]\s*|(\d+)\s+)?"
                     r"(?:\d\d:\d\d:\d\d(?:\.\d+)?\s+|\d+\.\d+\s+)?(.*)$")
_NAME = re.compile(r"([a-z_][a-z0-9_]*)\(")
_RESUMED = re.compile(r"<\.\.\.\s+([a-z_][a-z0-9_]*)\s+resumed>\s?(.*)$")
_RET = re.compile(r"^\s*=\s*(\?|0x[0-9a-fA-F]+|-?\d+)(?:\s+(E[A-Z0-9]+|ERESTART\w+))?")
_EXIT = re.compile(r"^\+\+\+ (?:exited with (\d+)|killed by (SIG\w+))")


def _scan(text: str, start: int):
    """Index of the ``)`` closing the argument list that starts at ``start``, or -1; and
    the top-level argument strings."""
    depth = 0
    args = []
    cur = start
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 1
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                if c != ")":
                    return -2, args
                if text[cur:i].strip():
                    args.append(text[cur:i].strip())
                return i, args
            depth -= 1
        elif c == "," and depth == 0:
            args.append(text[cur:i].strip())
            cur = i + 1
        i += 1
    return -1, args


def _split_call(path, lineno, pid, body):
    """``name(args) = ret ...`` -> Call."""
    mo = _NAME.match(body)
    if mo is None:
        raise ReplayError(f"{path}:{lineno}: not a system call line: {body[:60]!r}")
    end, args = _scan(body, mo.end())
    if end < 0:
        raise ReplayError(f"{path}:{lineno}: unbalanced brackets in {mo.group(1)}(...)")
    rm = _RET.match(body[end + 1:])
    if rm is None:
        raise ReplayError(f"{path}:{lineno}: {mo.group(1)}: no return value (\"= ...\")")
    r = rm.group(1)
    ret = None if r == "?" else int(r, 0)
    return Call(lineno, pid, mo.group(1), args, ret, rm.group(2))


def parse(path: str) -> list:
    """Every system call and exit of an ``strace -f`` log, in completion order.

    :raises ReplayError: an unreadable file or a line that is none of strace's forms
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise ReplayError(f"{path}: {e.strerror}") from None
    calls = []
    pending = {}        # pid -> (lineno, text before "<unfinished ...>")
    for lineno, raw in enumerate(lines, 1):
        line = raw.rstrip()
        if not line.strip():
            continue
        mo = _PREFIX.match(line)
        pid = int(mo.group(1) or mo.group(2) or 0)
        body = mo.group(3)
        if body.startswith(("---", "strace: ", "????")):
            continue
        em = _EXIT.match(body)
        if em is not None:
            how = ("exited", int(em.group(1))) if em.group(1) is not None \
                else ("killed", em.group(2))
            calls.append(Call(lineno, pid, "+++", [], None, None, how))
            continue
        if body.startswith("+++"):
            continue
        if body.endswith("<unfinished ...>"):
            if pid in pending:
                raise ReplayError(f"{path}:{lineno}: pid {pid} starts a call while "
                                  f"line {pending[pid][0]} is unfinished")
            if _NAME.match(body) is None:
                raise ReplayError(f"{path}:{lineno}: not a system call line: {body[:60]!r}")
            pending[pid] = (lineno, body[:-len("<unfinished ...>")])
            calls.append(Call(lineno, pid, "<unfinished>", [body], None, None,
                              _NAME.match(body).group(1)))
            continue
        rm = _RESUMED.match(body)
        if rm is not None:
            if pid not in pending:
                raise ReplayError(f"{path}:{lineno}: {rm.group(1)} resumed but pid {pid} "
                                  f"has no unfinished call")
            first, text = pending.pop(pid)
            if _NAME.match(text).group(1) != rm.group(1):
                raise ReplayError(f"{path}:{lineno}: {rm.group(1)} resumed but line "
                                  f"{first} left {_NAME.match(text).group(1)} unfinished")
            body = text + rm.group(2)
        calls.append(_split_call(path, lineno, pid, body))
    if not any(c.name not in ("+++", "<unfinished>") for c in calls):
        raise ReplayError(f"{path}:{len(lines)}: no system calls in the log")
    return calls


# -- argument values ----------------------------------------------------------------------

def strip_comments(arg: str) -> str:
    return re.sub(r"/\*.*?\*/", "", arg).strip()


def arg_int(call, path, i, default=None):
    if i >= len(call.args):
        if default is not None:
            return default
        raise ReplayError(f"{path}:{call.line}: {call.name}: argument {i + 1} missing")
    a = strip_comments(call.args[i])
    if a == "NULL":
        return 0
    try:
        if re.fullmatch(r"0[0-7]+", a):
            return int(a, 8)            # strace prints modes in octal
        return int(a, 0)
    except ValueError:
        raise ReplayError(f"{path}:{call.line}: {call.name}: argument {i + 1} "
                          f"is not a number: {a!r}") from None


def arg_flags(call, path, i, table, unknown: Counter):
    """A ``A|B|0x40`` flag word; names strace knows and we do not are counted, not fatal."""
    if i >= len(call.args):
        raise ReplayError(f"{path}:{call.line}: {call.name}: argument {i + 1} missing")
    a = strip_comments(call.args[i])
    v = 0
    for part in a.split("|"):
        part = part.strip()
        if part in table:
            v |= table[part]
            continue
        try:
            v |= int(part, 0)
        except ValueError:
            if not re.fullmatch(r"[A-Z][A-Z0-9_]*", part):
                raise ReplayError(f"{path}:{call.line}: {call.name}: bad flag word "
                                  f"{a!r}") from None
            unknown[part] += 1
    return v


def arg_string(call, path, i):
    if i >= len(call.args):
        raise ReplayError(f"{path}:{call.line}: {call.name}: argument {i + 1} missing")
    a = call.args[i]
    if not (a.startswith('"') and a.rstrip(".").endswith('"')):
        raise ReplayError(f"{path}:{call.line}: {call.name}: argument {i + 1} is not a "
                          f"string: {a[:40]!r}")
    return a.rstrip(".")[1:-1].encode().decode("unicode_escape", "replace")


def page_align(n: int) -> int:
    return (n + PAGE - 1) & ~(PAGE - 1)
