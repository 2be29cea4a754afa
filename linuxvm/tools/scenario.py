"""Scenario files (issue 18 part 2): a TOML description of a machine, its processes and
their steps, run through the façade (``lv.Machine``, ``Process``, ``m.proc``, ``m.fs``).

The format is documented field by field in docs/scenarios.md. In short::

    [machine]                 ram, cpus, swap, seed, aslr, thp, cmdline, [machine.sysctl]
    [[process]]               name, uid (spawned at the start, in file order)
    [[step]]                  op = "mmap" | "munmap" | "touch" | ... ; process = "name"
    [[snapshot]]              files = [...], after = "label" | step number (default: end)

``load`` reads and checks the whole file before anything boots; every mistake is a
``ScenarioError`` whose text is ``FILE:LINE: reason``. ``run`` boots the machine and runs
the steps in file order.
"""

import errno
import os
import re
import tomllib
from dataclasses import dataclass, field

from ..errors import KernelPanic, OutOfMemory, Signal, SyscallError
from ..kernel.sysctl import Sysctl
from ..machine import Machine
from ..mm import mman
from ..mm.gfp import parse_gfp
from ..units import parse_size
from .autopsy import AutopsyError, host_interpreter

TOP_KEYS = {"machine", "process", "step", "snapshot", "description"}
MACHINE_KEYS = {"ram", "cpus", "swap", "seed", "aslr", "thp", "cmdline", "sysctl"}
PROCESS_KEYS = {"name", "uid"}
SNAPSHOT_KEYS = {"files", "after", "name"}
COMMON = {"op", "process", "label", "repeat", "on_error"}
RANGE = {"region", "offset", "length"}
# op -> (required fields, optional fields, runs in a process)
OPS = {
    "mmap": ({"size"}, {"region", "prot", "flags", "fd", "file_offset"}, True),
    "munmap": ({"region"}, {"offset", "length", "stride"}, True),
    "touch": ({"region"}, {"offset", "length", "write", "stride"}, True),
    "write": ({"region"}, {"offset", "length", "data", "fd"}, True),
    "read": ({"region"}, {"offset", "length", "fd"}, True),
    "brk": (set(), {"grow", "shrink"}, True),
    "madvise": ({"region", "advice"}, {"offset", "length", "stride"}, True),
    "mprotect": ({"region", "prot"}, {"offset", "length"}, True),
    "mlock": ({"region"}, {"offset", "length"}, True),
    "munlock": ({"region"}, {"offset", "length"}, True),
    "fork": ({"child"}, set(), True),
    "exit": (set(), {"code"}, True),
    "exec": ({"host"}, {"path", "argv", "envp"}, True),
    "open": ({"path", "fd"}, {"flags", "mode"}, True),
    "close": ({"fd"}, set(), True),
    "sleep": ({"seconds"}, set(), False),
    "sysctl": ({"name", "value"}, set(), False),
    "kernel_alloc": ({"order"}, {"gfp", "count"}, False),
}
ON_ERROR = ("fail", "stop", "continue")
DEFAULT_FLAGS = "MAP_PRIVATE|MAP_ANONYMOUS"
_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\"-]+)\s*\]\]?")


class ScenarioError(Exception):
    """A bad scenario file: ``FILE:LINE: reason``."""

    def __init__(self, path, line, reason):
        # line 0: about the file as a whole (unreadable) or an override from the command line
        super().__init__(f"{path}:{line}: {reason}" if line else f"{path}: {reason}")
        self.path, self.line, self.reason = path, line, reason


class StepFailed(Exception):
    """A step the model refused (with ``on_error = "fail"``): ``FILE:LINE: reason``;
    ``result`` is the run so far (its machine as the failure left it), ``step`` the
    failed [[step]]'s number."""

    def __init__(self, message, result=None, step=0):
        super().__init__(message)
        self.result, self.step = result, step


@dataclass
class Step:
    op: str
    process: str            # None for the machine-wide ops
    args: dict
    line: int
    number: int             # 1-based position among the [[step]] tables
    label: str
    on_error: str
    iteration: int = 0


@dataclass
class Scenario:
    path: str
    machine: dict           # Machine() keyword arguments
    sysctl: dict            # dotted name -> value, applied at boot
    processes: list         # (name, uid)
    steps: list             # Step, repeats expanded
    snapshots: list         # (name, after step number or None for the end, files, line)
    description: str = ""


@dataclass
class Result:
    """What ``run`` leaves: the machine, the processes by name, the event log, the
    snapshots (name, path, text) and the failed-step count."""
    machine: Machine
    procs: dict
    log: list = field(default_factory=list)
    snapshots: list = field(default_factory=list)
    failed: int = 0
    kernel_allocs: list = field(default_factory=list)     # (order, ["pfn 0x..." | "failed"])


# -- where a key sits in the text (tomllib gives lines only for syntax errors) -----------
class _Lines:
    def __init__(self, text):
        self.lines = text.splitlines()
        self.headers = []          # (0-based line, path, is_array)
        for i, l in enumerate(self.lines):
            mt = _HEADER.match(l)
            if mt:
                self.headers.append((i, mt.group(2).replace('"', ""), mt.group(1) == "[["))

    def block(self, path, index=None):
        """(first, end) 0-based lines of the table ``path`` (its ``index``-th if an array)."""
        n = -1
        for k, (i, p, arr) in enumerate(self.headers):
            if p == path:
                n += 1
                if index is None or n == index:
                    end = self.headers[k + 1][0] if k + 1 < len(self.headers) else len(self.lines)
                    return i, end
        return None

    def find(self, path, index=None, key=None) -> int:
        """1-based line of ``key`` in the table, else of the table's header, else 1."""
        if path is None:          # top level: before the first header
            end = self.headers[0][0] if self.headers else len(self.lines)
            rng, hdr = (0, end), None
        else:
            b = self.block(path, index)
            if b is None:
                return 1
            rng, hdr = b, b[0]
        if key is not None:
            pat = re.compile(r'^\s*"?' + re.escape(str(key)) + r'"?\s*=')
            for i in range(*rng):
                if pat.match(self.lines[i]):
                    return i + 1
            for i in range(*rng):
                if str(key) in self.lines[i]:
                    return i + 1
        return (hdr if hdr is not None else 0) + 1


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _bits(text, prefix, what):
    """'PROT_READ|PROT_WRITE' (or 'READ|WRITE', or an int) -> the value."""
    if isinstance(text, bool) or not isinstance(text, (int, str)):
        raise ValueError(f"{what} must be a string of {prefix}* names, not {text!r}")
    if isinstance(text, int):
        return text
    v = 0
    for part in text.split("|"):
        name = part.strip().upper()
        if not name.startswith(prefix):
            name = prefix + name
        if not hasattr(mman, name):
            raise ValueError(f"unknown {what} {part.strip()!r}")
        v |= getattr(mman, name)
    return v


def _prot(text):
    """'rw', 'r-x', 'none' or 'PROT_READ|PROT_WRITE'."""
    if isinstance(text, str) and re.fullmatch(r"[rwx-]{1,3}", text):
        return ((mman.PROT_READ if "r" in text else 0) | (mman.PROT_WRITE if "w" in text else 0)
                | (mman.PROT_EXEC if "x" in text else 0))
    if text == "none":
        return mman.PROT_NONE
    return _bits(text, "PROT_", "prot")


def _size(v, what):
    if isinstance(v, int) and not isinstance(v, bool) and v < 0:
        raise ValueError(f"{what} must not be negative, not {v}")
    try:
        return parse_size(v)
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None


class _Checker:
    """Checks a parsed file, expanding repeats, before anything boots."""

    def __init__(self, path, text, doc):
        self.path, self.lines, self.doc = path, _Lines(text), doc

    def err(self, line, reason):
        raise ScenarioError(self.path, line, reason)

    def check(self) -> Scenario:
        doc, L = self.doc, self.lines
        for k in doc:
            if k not in TOP_KEYS:
                self.err(L.find(None, None, k) if L.find(None, None, k) > 1 or
                         L.block(k) is None else L.block(k)[0] + 1,
                         f"unknown top-level key {k!r} (expected one of "
                         f"{', '.join(sorted(TOP_KEYS))})")
        machine, sysctl = self.check_machine(doc.get("machine", {}))
        procs = self.check_processes(doc.get("process", []))
        steps = self.check_steps(doc.get("step", []), procs)
        snaps = self.check_snapshots(doc.get("snapshot", []), steps, procs)
        return Scenario(self.path, machine, sysctl, [(n, u) for n, u in procs],
                        steps, snaps, str(doc.get("description", "")))

    def check_machine(self, mc):
        L = self.lines
        if not isinstance(mc, dict):
            self.err(L.find(None, None, "machine"), "[machine] must be a table")
        kw = {}
        for k, v in mc.items():
            line = L.find("machine", None, k)
            if k not in MACHINE_KEYS:
                self.err(line, f"unknown [machine] key {k!r} (expected one of "
                               f"{', '.join(sorted(MACHINE_KEYS))})")
            if k in ("ram", "swap"):
                try:
                    _size(v, k)
                except ValueError as e:
                    self.err(line, str(e))
                kw[k] = v
            elif k in ("cpus", "seed"):
                if isinstance(v, bool) or not isinstance(v, int):
                    self.err(line, f"{k} must be an integer, not {v!r}")
                kw[k] = v
            elif k == "aslr":
                if not isinstance(v, bool):
                    self.err(line, f"aslr must be true or false, not {v!r}")
                kw[k] = v
            elif k in ("thp", "cmdline"):
                if not isinstance(v, str):
                    self.err(line, f"{k} must be a string, not {v!r}")
                kw[k] = v
        sysctl = {}
        raw = mc.get("sysctl", {})
        if not isinstance(raw, dict):
            self.err(L.find("machine", None, "sysctl"), "sysctl must be a table of NAME = VALUE")
        for name, value in _flatten(raw).items():
            self.check_sysctl(name, value, L.find("machine.sysctl", None, name)
                              if L.block("machine.sysctl") else L.find("machine", None, name))
            sysctl[name] = value
        try:   # the Machine's own argument checks, without booting
            parse_size(kw.get("ram", "1G"))
            if not 1 <= kw.get("cpus", 1) <= 256:
                raise ValueError(f"cpus must be from 1 to 256, not {kw['cpus']}")
            if kw.get("thp", "madvise") not in ("always", "madvise", "never"):
                raise ValueError(f"thp must be always, madvise or never, not {kw['thp']!r}")
        except ValueError as e:
            self.err(L.find("machine"), str(e))
        return kw, sysctl

    def check_sysctl(self, name, value, line):
        if name not in Sysctl(None):
            self.err(line, f"unknown sysctl {name!r}")
        if isinstance(value, (dict, list)) or isinstance(value, float):
            self.err(line, f"sysctl {name} wants an integer or a string, not {value!r}")

    def check_processes(self, plist):
        L = self.lines
        procs = []
        for i, pr in enumerate(plist):
            hdr = L.find("process", i)
            if not isinstance(pr, dict):
                self.err(hdr, "[[process]] must be a table")
            for k in pr:
                if k not in PROCESS_KEYS:
                    self.err(L.find("process", i, k), f"unknown [[process]] key {k!r} "
                                                      f"(expected name, uid)")
            name = pr.get("name")
            if not isinstance(name, str) or not name:
                self.err(hdr, "[[process]] needs a name (a string)")
            if name in [n for n, _ in procs]:
                self.err(L.find("process", i, "name"), f"process {name!r} is declared twice")
            uid = pr.get("uid", 1000)
            if isinstance(uid, bool) or not isinstance(uid, int) or not 0 <= uid < 1 << 32:
                self.err(L.find("process", i, "uid"), f"uid must be an integer, not {uid!r}")
            procs.append((name, uid))
        return procs

    def check_steps(self, slist, procs):
        L = self.lines
        # the static state: name -> regions {name: size} (None once the process exits)
        state = {n: {} for n, _ in procs}
        fds = {n: set() for n, _ in procs}
        out = []
        for i, st in enumerate(slist):
            hdr = L.find("step", i)
            if not isinstance(st, dict):
                self.err(hdr, "[[step]] must be a table")
            op = st.get("op")
            if op is None:
                self.err(hdr, "step has no op (one of " + ", ".join(OPS) + ")")
            if op not in OPS:
                self.err(L.find("step", i, "op"), f"unknown step op {op!r} (one of "
                                                  + ", ".join(OPS) + ")")
            req, opt, in_proc = OPS[op]
            for k in st:
                if k not in COMMON | req | opt:
                    self.err(L.find("step", i, k), f"{op} step: unknown field {k!r}")
            for k in sorted(req):
                if k not in st:
                    self.err(hdr, f"{op} step: missing required field {k!r}")
            if op == "brk" and ("grow" in st) == ("shrink" in st):
                self.err(hdr, "brk step: give exactly one of grow, shrink")
            on_error = st.get("on_error", "fail")
            if on_error not in ON_ERROR:
                self.err(L.find("step", i, "on_error"),
                         f"on_error must be one of {', '.join(ON_ERROR)}, not {on_error!r}")
            repeat = st.get("repeat", 1)
            if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 100000:
                self.err(L.find("step", i, "repeat"), f"repeat must be an integer from 1 to "
                                                      f"100000, not {repeat!r}")
            label = st.get("label", "")
            if not isinstance(label, str):
                self.err(L.find("step", i, "label"), "label must be a string")
            pname = st.get("process")
            if in_proc:
                if pname is None:
                    self.err(hdr, f"{op} step: missing required field 'process'")
                if pname not in state:
                    self.err(L.find("step", i, "process"), f"unknown process name {pname!r}")
            elif pname is not None:
                self.err(L.find("step", i, "process"), f"{op} step runs in no process")
            for it in range(repeat):
                args = {k: (v.replace("{i}", str(it)) if isinstance(v, str) else v)
                        for k, v in st.items() if k not in COMMON}
                args = self.check_args(op, args, pname, state, fds, i)
                out.append(Step(op, pname, args, L.find("step", i), i + 1, label,
                                on_error, it))
        return out

    def _range(self, args, regions, i):
        """Check region/offset/length against the region's size: (offset, length)."""
        L = self.lines
        name = args["region"]
        if name not in regions:
            self.err(L.find("step", i, "region"),
                     f"region {name!r} is used before it is defined (by an mmap step of "
                     f"this process)")
        size = regions[name]
        try:
            off = _size(args.get("offset", 0), "offset")
        except ValueError as e:
            self.err(L.find("step", i, "offset"), str(e))
        try:
            length = _size(args["length"], "length") if "length" in args else size - off
        except ValueError as e:
            self.err(L.find("step", i, "length"), str(e))
        if off + length > size:
            self.err(L.find("step", i, "length" if "length" in args else "offset"),
                     f"offset {off} + length {length} is past the end of region {name!r} "
                     f"({size} bytes)")
        args["offset"], args["length"] = off, length
        if "stride" in args:
            try:
                stride = _size(args["stride"], "stride")
            except ValueError as e:
                self.err(L.find("step", i, "stride"), str(e))
            if stride < max(length, 1):
                self.err(L.find("step", i, "stride"), f"stride {stride} is shorter than "
                                                      f"length {length}")
            args["stride"] = stride
        return off, length

    def check_args(self, op, args, pname, state, fds, i):
        L = self.lines
        regions = state.get(pname)
        if pname is not None and regions is None:
            self.err(L.find("step", i, "process"), f"process {pname!r} has exited (or was "
                                                   f"never started) at this step")
        try:
            if op == "mmap":
                args["size"] = _size(args["size"], "size")
                if args["size"] == 0:
                    raise ValueError("size must not be 0")
                args["prot"] = _prot(args.get("prot", "rw"))
                if "fd" in args and args["fd"] not in fds[pname]:
                    raise KeyError("fd")
                dflt = "MAP_SHARED" if "fd" in args else DEFAULT_FLAGS
                args["flags"] = _bits(args.get("flags", dflt), "MAP_", "flag")
                args["file_offset"] = _size(args.get("file_offset", 0), "file_offset")
                if "region" in args:
                    regions[args["region"]] = args["size"]
            elif op in ("munmap", "touch", "madvise", "mprotect", "mlock", "munlock",
                        "read", "write"):
                off, length = self._range(args, regions, i)
                if op == "munmap" and off == 0 and length == regions[args["region"]] \
                        and "stride" not in args:
                    del regions[args["region"]]
                if op == "mprotect":
                    args["prot"] = _prot(args["prot"])
                if op == "madvise":
                    args["advice"] = _bits(args["advice"], "MADV_", "advice")
                if op == "touch":
                    args["write"] = bool(args.get("write", False))
                if op in ("read", "write") and "fd" in args and args["fd"] not in fds[pname]:
                    raise KeyError("fd")
                if op == "write" and "data" in args and not isinstance(args["data"], str):
                    raise ValueError(f"data must be a string, not {args['data']!r}")
            elif op == "brk":
                k = "grow" if "grow" in args else "shrink"
                args[k] = _size(args[k], k)
            elif op == "fork":
                child = args["child"]
                if not isinstance(child, str) or child in state:
                    self.err(L.find("step", i, "child"),
                             f"fork: child name {child!r} is already taken")
                state[child] = dict(regions)
                fds[child] = set(fds[pname])
            elif op == "exit":
                state[pname] = None
                code = args.get("code", 0)
                if isinstance(code, bool) or not isinstance(code, int):
                    raise ValueError(f"code must be an integer, not {code!r}")
            elif op == "exec":
                host = args["host"]
                if not isinstance(host, str) or not os.path.isfile(host):
                    self.err(L.find("step", i, "host"),
                             f"exec: host file {host!r} does not exist on this machine")
                try:
                    args["interp"] = host_interpreter(host)
                except AutopsyError as e:
                    self.err(L.find("step", i, "host"), f"exec: {e}")
                args.setdefault("path", os.path.abspath(host))
                args.setdefault("argv", [os.path.basename(host)])
                args.setdefault("envp", ["HOME=/", "PATH=/usr/bin:/bin"])
                regions.clear()
            elif op == "open":
                args["flags"] = _bits(args.get("flags", "O_RDWR|O_CREAT"), "O_", "open flag")
                args["mode"] = args.get("mode", 0o644)
                fds[pname].add(args["fd"])
            elif op == "close":
                if args["fd"] not in fds[pname]:
                    raise KeyError("fd")
                fds[pname].discard(args["fd"])
            elif op == "sleep":
                s = args["seconds"]
                if isinstance(s, bool) or not isinstance(s, (int, float)) or s < 0:
                    raise ValueError(f"seconds must be a non-negative number, not {s!r}")
            elif op == "sysctl":
                self.check_sysctl(args["name"], args["value"], L.find("step", i, "name"))
            elif op == "kernel_alloc":
                o = args["order"]
                if isinstance(o, bool) or not isinstance(o, int) or o < 0:
                    raise ValueError(f"order must be a non-negative integer, not {o!r}")
                args["gfp_text"] = args.get("gfp", "GFP_KERNEL")
                args["gfp"] = parse_gfp(args["gfp_text"])
                c = args.get("count", 1)
                if isinstance(c, bool) or not isinstance(c, int) or c < 1:
                    raise ValueError(f"count must be a positive integer, not {c!r}")
                args["count"] = c
        except KeyError as e:
            key = e.args[0]
            self.err(L.find("step", i, key), f"{op} step: file descriptor "
                                             f"{args.get(key)!r} is not open in {pname!r}")
        except ValueError as e:
            msg = str(e)
            key = next((k for k in args if msg.startswith(k) or f"{k}:" in msg), None)
            self.err(L.find("step", i, key), f"{op} step: {msg}")
        return args

    def check_snapshots(self, slist, steps, procs):
        L = self.lines
        labels = {}
        for s in steps:
            if s.label:
                labels[s.label] = s.number
        last = steps[-1].number if steps else 0
        names = {n for n, _ in procs} | {s.args["child"] for s in steps if s.op == "fork"}
        out = []
        for i, sn in enumerate(slist):
            hdr = L.find("snapshot", i)
            for k in sn:
                if k not in SNAPSHOT_KEYS:
                    self.err(L.find("snapshot", i, k), f"unknown [[snapshot]] key {k!r} "
                                                       f"(expected files, after, name)")
            files = sn.get("files")
            if not isinstance(files, list) or not files or \
                    not all(isinstance(f, str) for f in files):
                self.err(L.find("snapshot", i, "files") if files is not None else hdr,
                         "snapshot needs files = [\"/proc/...\", ...]")
            for f in files:
                for ref in re.findall(r"\{([^}]*)\}", f):
                    if ref not in names:
                        self.err(L.find("snapshot", i, "files"),
                                 f"snapshot file {f!r}: unknown process name {ref!r}")
            after = sn.get("after")
            if isinstance(after, str):
                if after not in labels:
                    self.err(L.find("snapshot", i, "after"), f"no step is labelled {after!r}")
                after = labels[after]
            elif after is not None and (isinstance(after, bool) or not isinstance(after, int)
                                        or not 1 <= after <= last):
                self.err(L.find("snapshot", i, "after"),
                         f"after must be a step label or a step number from 1 to {last}")
            name = sn.get("name") or (f"after step {after}" if after else "end")
            out.append((str(name), after, files, hdr))
        return out


def loads(text: str, path="<scenario>", overrides=None) -> Scenario:
    """Parse and check scenario text; ``overrides`` (name -> value) replace its sysctls.

    :raises ScenarioError: the first mistake, as ``FILE:LINE: reason``
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        mt = re.search(r"\(at line (\d+), column \d+\)", str(e))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
        raise ScenarioError(path, int(mt.group(1)) if mt else 1,
                            f"TOML syntax error: {reason}") from None
    scn = _Checker(path, text, doc).check()
    for name, value in (overrides or {}).items():
        if name not in Sysctl(None):
            raise ScenarioError(path, 0, f"override: unknown sysctl {name!r}")
        scn.sysctl[name] = value
    return scn


def load(path: str, overrides=None) -> Scenario:
    """Read and check a scenario file (see ``loads``)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ScenarioError(path, 0, e.strerror or str(e)) from None
    except UnicodeDecodeError as e:
        raise ScenarioError(path, 1, f"not UTF-8 text ({e.reason})") from None
    return loads(text, path, overrides)


# -- running -------------------------------------------------------------------------------
def boot(scn: Scenario) -> Machine:
    """The scenario's machine (sysctls checked by Machine before it boots).

    :raises ScenarioError: a value the machine refuses
    """
    try:
        return Machine(sysctl=scn.sysctl, **scn.machine)
    except (ValueError, TypeError, MemoryError, OSError) as e:
        raise ScenarioError(scn.path, 1, f"[machine]: {e}") from None


def _do(m, procs, regions, fds, st: Step, res: Result):
    a = st.args
    p = procs.get(st.process)
    reg = regions.get(st.process)
    op = st.op
    if op == "mmap":
        addr = p.mmap(None, a["size"], a["prot"], a["flags"],
                      fds[st.process][a["fd"]] if "fd" in a else -1, a["file_offset"])
        if "region" in a:
            reg[a["region"]] = (addr, a["size"])
        return f"{a.get('region', 'mmap')} at {addr:#x}"
    if "region" in a:
        base = reg[a["region"]][0] + a["offset"]
        n = a["length"]
        if "stride" in a:       # the op on ``length`` bytes every ``stride`` bytes
            start, size = reg[a["region"]]
            one = dict(a)
            del one["stride"]
            nr = 0
            for off in range(a["offset"], size - n + 1, a["stride"]):
                one["offset"] = off
                _do(m, procs, regions, fds, Step(op, st.process, one, st.line, st.number,
                                                 st.label, st.on_error), res)
                nr += 1
            return f"{nr} ranges of {n} bytes every {a['stride']} bytes"
    if op == "munmap":
        p.munmap(base, n)
        if a["offset"] == 0 and n == reg[a["region"]][1]:
            del reg[a["region"]]
    elif op == "touch":
        p.touch(base, n, write=a["write"])
    elif op == "write" and "fd" in a:
        return f"wrote {p.sys_write(fds[st.process][a['fd']], base, n)} bytes"
    elif op == "write":
        data = (a.get("data", "x") or "x").encode()
        p.write(base, (data * (n // len(data) + 1))[:n])
    elif op == "read" and "fd" in a:
        return f"read {p.sys_read(fds[st.process][a['fd']], base, n)} bytes"
    elif op == "read":
        p.read(base, n)
    elif op == "brk":
        cur = p.brk(0)
        new = cur + a["grow"] if "grow" in a else cur - a["shrink"]
        got = p.brk(new)
        return f"brk {cur:#x} -> {got:#x}"
    elif op == "madvise":
        p.madvise(base, n, a["advice"])
    elif op == "mprotect":
        p.mprotect(base, n, a["prot"])
    elif op == "mlock":
        p.mlock(base, n)
    elif op == "munlock":
        p.munlock(base, n)
    elif op == "fork":
        c = p.fork()
        procs[a["child"]] = c
        regions[a["child"]] = dict(reg)
        fds[a["child"]] = dict(fds[st.process])
        return f"{a['child']} is pid {c.pid}"
    elif op == "exit":
        p.exit(a.get("code", 0))
    elif op == "exec":
        for path in (a["path"], a["interp"]):
            if path is not None and path not in m.fs.files:
                src = a["host"] if path == a["path"] else path
                m.fs.import_host(os.path.realpath(src), path)
        p.execve(a["path"], a["argv"], a["envp"])
        reg.clear()
    elif op == "open":
        fds[st.process][a["fd"]] = p.open(a["path"], a["flags"], a["mode"])
    elif op == "close":
        p.close(fds[st.process].pop(a["fd"]))
    elif op == "sleep":
        # the machine idles: the deferred work that falls due runs on its ticks
        written = vmstat(m)["nr_written"]
        m.run_for(a["seconds"])
        return f"flusher wrote {vmstat(m)['nr_written'] - written} pages"
    elif op == "sysctl":
        m.sysctl[a["name"]] = a["value"]
    elif op == "kernel_alloc":
        got = []
        for _ in range(a["count"]):
            pfn = m.kernel.alloc_pages(a["gfp"], a["order"])
            got.append("failed" if pfn is None else f"pfn {pfn:#x}")
            if pfn is None:
                break
        res.kernel_allocs.append((a["order"], got))
        ok = len(got) - (got[-1] == "failed")
        return (f"order-{a['order']} {a['gfp_text']}: {ok} of {a['count']} allocated"
                + (f" ({', '.join(got[:4])}{', ...' if ok > 4 else ''})" if ok else "")
                + (", then failed" if got[-1] == "failed" else ""))
    return None


def _expand(path, procs):
    return re.sub(r"\{([^}]*)\}", lambda mt: str(procs[mt.group(1)].pid)
                  if mt.group(1) in procs else "?", path)


def _snapshot(m, res, name, files):
    for f in files:
        path = _expand(f, res.procs)
        try:
            text = m.proc.read(path)
        except (OSError, ValueError) as e:
            text = f"({path}: {getattr(e, 'strerror', None) or e})\n"
        res.snapshots.append((name, path, text))


def run(scn: Scenario, check=False, progress=None, on_boot=None) -> Result:
    """Boot the scenario's machine and run its steps in file order, taking the snapshots.

    :param check: ``m.check()`` after every step and at the end
    :param progress: called as ``progress(done, total, text)`` after each step
    :param on_boot: called as ``on_boot(m)`` once the machine and its processes exist,
        before the first step (``linuxvm trace`` turns tracing on there)
    :raises ScenarioError: the machine refuses its [machine] values
    :raises StepFailed: a step failed whose ``on_error`` is "fail"
    """
    m = boot(scn)
    res = Result(m, {})
    regions, fds = {}, {}
    for name, uid in scn.processes:
        res.procs[name] = m.spawn(name[:15], uid=uid)
        regions[name], fds[name] = {}, {}
    if check:
        m.check()
    if on_boot is not None:
        on_boot(m)
    by_step = {}
    for name, after, files, _ in scn.snapshots:
        by_step.setdefault(after, []).append((name, files))
    stopped = set()          # step numbers whose repeat ended at an error
    total = len(scn.steps)
    for k, st in enumerate(scn.steps):
        where = f"step {st.number}" + (f" #{st.iteration}" if st.iteration else "")
        what_step = f"{where} {st.op}" + (f" {st.process}" if st.process else "")
        if st.number not in stopped:
            try:
                note = _do(m, res.procs, regions, fds, st, res)
                if note and (st.iteration == 0 or st.op == "fork"):
                    res.log.append(f"{what_step}: {note}")   # repeats: the first says it
            except (SyscallError, Signal, OutOfMemory, KernelPanic, ValueError) as e:
                what = (errno.errorcode.get(e.errno, str(e.errno))
                        if isinstance(e, SyscallError) else f"{type(e).__name__}: {e}")
                res.log.append(f"{what_step}: failed: {what}")
                res.failed += 1
                if st.on_error == "fail":
                    raise StepFailed(f"{scn.path}:{st.line}: {where} ({st.op}) failed: "
                                     f"{what}", res, st.number) from None
                if st.on_error == "stop":
                    stopped.add(st.number)
        if check:
            m.check()
        last_of_step = k + 1 == total or scn.steps[k + 1].number != st.number
        if last_of_step:
            for name, files in by_step.get(st.number, ()):
                _snapshot(m, res, name, files)
        if progress is not None:
            progress(k + 1, total, f"{where} {st.op}")
    for name, files in by_step.get(None, ()):
        _snapshot(m, res, name, files)
    if check:
        m.check()
    return res


def _field(text, key):
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def summary(res: Result):
    """(process rows, machine rows): per live process name, pid, VSZ, RSS, swap (kB); the
    machine's MemFree, Cached, SwapUsed (kB), OOM kills and major faults."""
    m = res.machine
    rows = []
    for name, p in res.procs.items():
        if p.task.mm is None:
            rows.append((name, p.pid, None, None, None))
            continue
        st = m.proc.read(f"/proc/{p.pid}/status")
        rows.append((name, p.pid, _field(st, "VmSize"), _field(st, "VmRSS"),
                     _field(st, "VmSwap")))
    mi = m.proc.read("/proc/meminfo")
    vm = m.proc.read("/proc/vmstat")
    majflt = next((int(l.split()[1]) for l in vm.splitlines() if l.startswith("pgmajfault ")), 0)
    kills = sum(1 for l in m.dmesg() if "Killed process" in l)
    mach = [("MemFree", f"{_field(mi, 'MemFree')} kB"), ("Cached", f"{_field(mi, 'Cached')} kB"),
            ("SwapUsed", f"{_field(mi, 'SwapTotal') - _field(mi, 'SwapFree')} kB"),
            ("OOM kills", str(kills)), ("major faults", str(majflt))]
    return rows, mach


def vmstat(m) -> dict:
    """/proc/vmstat as name -> value."""
    out = {}
    for line in m.proc.read("/proc/vmstat").splitlines():
        k, _, v = line.partition(" ")
        out[k] = int(v)
    return out
