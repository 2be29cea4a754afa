"""The bad-input table: every bad argument and odd sequence issue 11 tried, with what the
model answers (4.6's errno, the façade's TypeError/ValueError, or 4.6's BUG as KernelBug).

The rows are data. tests/test_bad_inputs.py runs every row on a fresh machine and checks
its outcome and then ``m.check()``; docs/bad-inputs.md is rendered from the same rows
(``python tests/bad_inputs.py > docs/bad-inputs.md``) and the test fails when it differs.

A row's ``code`` runs with these names bound (the set-up shown at the top of the doc):
``lv``, ``m`` (a 256M machine, seed 0), ``K = m.kernel``, ``PG = 4096``, ``p`` (a uid-1000
process), ``a`` (16 pages mapped read-write, private, anonymous in ``p``), ``root`` (a
uid-0 process), ``RW``, ``PA`` (MAP_PRIVATE|MAP_ANONYMOUS) and the small readers below.
Its last line is an expression; the outcome is one of:

* ``EINVAL`` etc.: an OSError (SyscallError, or FileNotFoundError from m.proc) with that
  errno;
* ``TypeError: text`` / ``ValueError: text`` / ``KernelBug: text`` / ``HostMemoryError:
  text``: that exception (``A|B`` for either) whose message contains ``text``;
* ``== value``: the last expression's value (a Python literal);
* ``no MemoryError``: any value or exception except a host MemoryError.
"""

import ast
import errno
import sys

import linuxvm as lv
import linuxvm.machine  # noqa: F401  (the rows call lv.machine.check_host_memory)
from linuxvm.helpers import vtop
from linuxvm.mm.page import PG_lru

OTHER = "fixed on branch r1/r2"   # xfail reason for rows another part of issue 11 fixes

SETUP = """\
m = lv.Machine(ram="256M", seed=0)
K, PG = m.kernel, 4096
RW, PA = lv.PROT_READ | lv.PROT_WRITE, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
p = m.spawn("prog", uid=1000)
a = p.mmap(None, 16 * PG, RW, PA)
root = m.spawn("root", uid=0)"""


class Row:
    """One bad input: the area it belongs to, the code, the outcome, and who fixes it
    ("r3": the façade part, this branch; "other": another part of issue 11)."""

    __slots__ = ("area", "code", "outcome", "owner", "note", "corrupts")

    def __init__(self, area, code, outcome, owner="r3", note="", corrupts=False):
        self.area = area
        self.code = code
        self.outcome = outcome
        self.owner = owner
        self.note = note
        # the input corrupts kernel memory as it would on 4.6 (a write after free): the
        # invariant checker must then report it too
        self.corrupts = corrupts

    @property
    def id(self) -> str:
        return "; ".join(self.code.splitlines())


R, O = "r3", "other"
ROWS = [
    # -- the invariant checker on states 4.6 allows ---------------------------------------
    Row("checker", 'm.sysctl["vm.max_map_count"] = 2\np.mprotect(a + PG, PG, lv.PROT_READ)',
        "ENOMEM", O, "the first split stays, as in 4.6; m.check() passes"),
    Row("checker", "p.mlock(a + PG, PG)\np.munlock(a + PG, PG)\np.write(a, b'x')",
        "== None", O, "the fault gives the left VMA its neighbour's anon_vma"),
    Row("checker", "t = 0x7FFF00000000\n"
        "p.mmap(t - 8 * PG, PG, RW, PA | lv.MAP_GROWSDOWN | lv.MAP_FIXED)\n"
        "p.mmap(t - 4 * PG, 4 * PG, RW, PA | lv.MAP_GROWSDOWN | lv.MAP_FIXED)\n"
        "p.sp = t - 4 * PG\np.write(t - 7 * PG, b's')",
        "== None", O, "stack growth reaches a GROWSDOWN neighbour"),
    Row("checker", "p.mlock2(a, 4 * PG, lv.MLOCK_ONFAULT)\np.mlock(a, 4 * PG)\n"
        "c = p.fork()\nc.mm.locked_vm, p.mm.locked_vm", "== (0, 8)", O,
        "dup_mmap starts the child at 0 with VM_LOCKED cleared; the parent keeps 8, as 4.6's "
        "mlock_fixup adds the range again when MLOCK_ONFAULT becomes a plain mlock"),
    # -- 4.6 semantics --------------------------------------------------------------------
    Row("mlock", "p.mlockall(lv.MCL_FUTURE)\nc = p.fork()\nc.mmap(None, 4 * PG, RW, PA)\n"
        "c.mm.locked_vm", "== 0", O,
        "mm_init keeps only VM_INIT_DEF_MASK of def_flags: MCL_FUTURE is not inherited"),
    Row("mremap", "p.madvise(a, 16 * PG, lv.MADV_MERGEABLE)\n"
        "b = p.mremap(a, 4 * PG, 4 * PG, lv.MREMAP_MAYMOVE | lv.MREMAP_FIXED, a + 64 * PG)\n"
        "'mg' in vmflags(p, a + 4 * PG), 'mg' in vmflags(p, b)", "== (True, True)", O,
        "move_vma clears VM_MERGEABLE only in a local copy of the flags"),
    Row("mlock", "p.mlock(a, -1)", "== 0", O, "PAGE_ALIGN(len) wraps to 0"),
    Row("mlock", "p.munlock(a, -1)", "== 0", O, "PAGE_ALIGN(len) wraps to 0"),
    Row("mlock", "p.mlock2(a, -1, 0)", "== 0", O, "PAGE_ALIGN(len) wraps to 0"),
    Row("msync", "p.msync(a, -1, lv.MS_SYNC)", "== 0", O, "the rounded length wraps to 0"),
    Row("mlock", "b = root.mmap(None, 4 * PG, RW, PA)\nroot.mlock(b, 2**64 - PG)", "EINVAL",
        O, "CAP_IPC_LOCK passes the limit; start + len wraps"),
    Row("mlock", "p.mlock(a, 2**64 - PG)", "ENOMEM", R, "over RLIMIT_MEMLOCK without "
        "CAP_IPC_LOCK"),
    Row("mlock", "p.mlock(a, 16 * PG)\np.munlock(a, 16 * PG)\nlru_pages(p, a, 16)", "== 16", O,
        "__munlock_pagevec puts every page back on the LRU at once"),
    Row("sysctl", 'm.sysctl["vm.min_free_kbytes"] = 2**31', "EINVAL", O,
        "proc_dointvec_minmax: the int is negative, below extra1 = 0"),
    Row("sysctl", 'm.sysctl["vm.overcommit_ratio"] = 2**31', "EINVAL", O,
        "proc_dointvec: above INT_MAX"),
    Row("sysctl", 'm.sysctl["vm.max_map_count"] = 2**31', "EINVAL", O,
        "proc_dointvec_minmax: the int is negative, below extra1 = 0"),
    Row("sysctl", 'm.sysctl["vm.mmap_min_addr"] = 2**64\nm.sysctl["vm.mmap_min_addr"]', "== 0",
        O, "simple_strtoul wraps 2^64 to 0 (proc_doulongvec_minmax)"),
    Row("sysctl", 'm.sysctl["vm.dirty_bytes"] = 1\nm.sysctl["vm.dirty_bytes"]', "== 0", O,
        "proc_doulongvec_minmax skips a value below extra1 (2 pages) without an error"),
    Row("sysctl", "m.sysctl[None]", "TypeError: sysctl name must be a str", R),
    Row("sysctl", "m.sysctl[None] = 1", "TypeError: sysctl name must be a str", R),
    Row("sysctl", 'm.sysctl["vm.no_such"]', "KeyError: no_such", R),
    Row("proc", 'm.proc.read("/proc/01/status")', "ENOENT", O,
        "proc_pid_lookup: name_to_int refuses a leading zero"),
    Row("proc", "stat_state(p), status_state(p)", "== ('S', 'S (sleeping)')", O,
        "both from the same task state"),
    Row("open", 'p.open("/dev/zero", -1)', "EINVAL", R,
        "build_open_flags: __O_TMPFILE set with O_CREAT"),
    Row("open", "p.open(None)", "TypeError: path must be a str", R),
    Row("open", 'p.open("/dev/zero", 2**32)', "ValueError: flags", R,
        "open takes an int: no C caller can pass 2^32"),
    # -- the kernel API -------------------------------------------------------------------
    Row("kernel", 'K.free_pages(K.alloc_pages("GFP_KERNEL", 0), 3)',
        "ValueError|KernelBug: ", O),
    Row("kernel", 'K.free_pages(K.alloc_pages("GFP_KERNEL", 3), 1)',
        "ValueError|KernelBug: ", O),
    Row("kernel", 'K.free_pages(K.alloc_pages("GFP_KERNEL|__GFP_COMP", 2), 0)',
        "KernelBug: VM_BUG_ON_PAGE", O),
    Row("kernel", "p.write(a, b'x')\nK.free_pages(lv.helpers.vtop(p.mm, a).pfn, 0)",
        "ValueError: not a block m.kernel.alloc_pages handed out", O,
        "a user-mapped page: 4.6 would only drop a reference its mapper holds (silent "
        "corruption), so the model refuses"),
    Row("kernel", "o = K.kmalloc(64)\nK.free_pages((o - 0xffff880000000000) >> 12, 0)",
        "KernelBug: Bad page state", O, "a slab page"),
    Row("kernel", "o = K.kmalloc(3 * PG)\nK.free_pages((o - 0xffff880000000000) >> 12, 0)",
        "KernelBug: VM_BUG_ON_PAGE", O, "a kmalloc_large block, freed with the wrong order"),
    Row("kernel", "o = K.kmalloc(64)\nK.kfree(o)\nK.kfree(o)", "ValueError: double free", R),
    Row("kernel", "o = K.kmalloc(64)\nK.kfree(o)\nK.krealloc(o, 100)",
        "ValueError|KernelBug: double free", O, "krealloc frees the old object"),
    Row("kernel", 'K.__get_free_pages("GFP_KERNEL", 0) >= 0xffff880000000000', "== True", O),
    Row("kernel", "K.ksize(None)", "TypeError: ksize: address must be an int", R),
    Row("kernel", "o = K.kmalloc(64)\nK.kfree(o)\nK.write_kernel(o, b'\\xff' * 64)\n"
        "[K.kmalloc(64) for _ in range(200)][-1] > 0", "KernelBug: ", O,
        "a use-after-free write corrupts the freelist pointer", corrupts=True),
    Row("kernel", 'K.alloc_pages("GFP_KERNEL", 2**40)', "== None", O,
        "__alloc_pages_slowpath: WARN for order >= MAX_ORDER and NULL"),
    Row("kernel", "K.memset(K.kmalloc(64), 0, 2**40)", "no MemoryError", O),
    Row("proc", 'm.proc.read_bytes(f"/proc/{p.pid}/pagemap")', "no MemoryError", O,
        "read in chunks as the kernel does"),
    # -- the façade: Machine and spawn ----------------------------------------------------
    Row("Machine", 'lv.Machine(ram="256M", cmdline=None)', "TypeError: cmdline must be a str", R),
    Row("Machine", 'lv.Machine(ram="256M", sysctl="x")', "TypeError: sysctl must be a mapping",
        R),
    Row("Machine", 'lv.Machine(ram="256M", sysctl={"vm.nope": 1})',
        "ValueError: unknown sysctl 'vm.nope'", R),
    Row("Machine", 'lv.Machine(ram="8T")', "ValueError: larger than the model supports", R),
    Row("Machine", "lv.machine.check_host_memory(4 << 40, avail=16 << 30)",
        "HostMemoryError: needs about 64.0 GiB of host memory", R,
        "ram='4T' on a host with 16 GiB available; nothing is allocated"),
    Row("spawn", 'm.spawn(rlimits="x")', "TypeError: rlimits must be a mapping", R),
    Row("spawn", 'm.spawn(rlimits={"RLIMIT_STACK": 4.0})', "TypeError: rlimit 'RLIMIT_STACK'", R),
    Row("spawn", 'm.spawn(rlimits={"RLIMIT_NOPE": 1})', "ValueError: unknown or unsupported", R),
    Row("spawn", 'm.spawn(caps=["CAP_BOGUS"])', "ValueError: unknown capability 'CAP_BOGUS'", R),
    Row("spawn", 'm.spawn(caps="CAP_SYS_ADMIN")', "TypeError: caps must be an iterable", R),
    Row("spawn", "m.spawn(uid=-1)", "ValueError: uid must be", R),
    Row("spawn", "m.spawn(gid=2**32)", "ValueError: gid must be", R),
    # -- the façade: Process --------------------------------------------------------------
    Row("access", "p.read(a, None)", "TypeError: n must be an int", R),
    Row("access", "p.read(a, 4.0)", "TypeError: n must be an int", R),
    Row("access", "p.read(a, -1)", "ValueError: n must be from 0", R),
    Row("access", "p.read(None, 1)", "TypeError: addr must be an int", R),
    Row("access", "p.touch(a, 4096.0)", "TypeError: length must be an int", R),
    Row("access", "p.touch(a, -1)", "ValueError: length must be from 0", R),
    Row("access", "p.write(a, 5)", "TypeError: data must be bytes", R,
        "not five zero bytes, as bytes(5) would make"),
    Row("access", "p.write(a, 'text')", "TypeError: data must be bytes", R),
    Row("access", 'p.access(a, "q")', "ValueError: access kind", R),
    Row("access", 'p.access(a, ["r"])', "TypeError: kind must be", R),
    Row("access", "p.read(a + 16 * PG, 1)", "SegmentationFault: ", R, "SIGSEGV, SEGV_MAPERR"),
    Row("syscall", "p.munmap(a, 2**64 + PG)", "ValueError: length 18446744073709555712 does "
        "not fit an unsigned long", R, "no longer wrapped to 4 KiB"),
    Row("syscall", "p.mmap(None, 2**64 + PG, RW, PA)", "ValueError: length", R),
    Row("syscall", "p.mprotect(a, PG, 2**64)", "ValueError: prot", R),
    Row("syscall", "p.mlock(a, -2**63 - 1)", "ValueError: length", R),
    Row("syscall", "p.madvise(a, PG, 2**32)", "ValueError: advice", R, "an int argument"),
    Row("syscall", "p.mmap(None, PG, RW, PA, fd=None)", "TypeError: fd must be an int", R),
    Row("syscall", "p.mmap(None, 0, RW, PA)", "EINVAL", R),
    Row("syscall", "p.mmap(None, -1, RW, PA)", "ENOMEM", R, "PAGE_ALIGN wraps to 0"),
    Row("syscall", "p.munmap(a + 1, PG)", "EINVAL", R),
    Row("syscall", "p.mremap(a, PG, 2 * PG, 4)", "EINVAL", R, "an unknown flag"),
    Row("syscall", "p.madvise(a, PG, 12345)", "EINVAL", R),
    Row("syscall", "p.close(99)", "EBADF", R),
    Row("syscall", "p.mmap(None, PG, RW, lv.MAP_PRIVATE, fd=99)", "EBADF", R),
    Row("lifetime", 'p.exit("x")', "TypeError: code must be an int", R),
    Row("lifetime", "p.exit()\np.exit()", "ValueError: has already exited", R),
    Row("lifetime", "p.exit()\np.mmap(None, PG, RW, PA)", "ValueError: has exited", R),
    Row("lifetime", "p.exit()\nlv.helpers.vtop(p.mm, a)", "TypeError: mm must be an mm_struct",
        R, "an exited process has no mm"),
]


# -- small readers the rows use ------------------------------------------------------------
def vmflags(p, addr) -> str:
    """The VmFlags line of the smaps entry that holds ``addr``."""
    text = p.m.proc.read(f"/proc/{p.pid}/smaps")
    start = None
    for line in text.splitlines():
        head = line.split(" ", 1)[0]
        if "-" in head and ":" not in head:
            lo, hi = (int(x, 16) for x in head.split("-"))
            start = lo <= addr < hi
        elif line.startswith("VmFlags:") and start:
            return line
    return ""


def lru_pages(p, addr, n) -> int:
    """How many of the n pages mapped from ``addr`` have PG_lru set."""
    mm = p.m.mem_map
    return sum(1 for i in range(n) if mm.test(vtop(p.mm, addr + i * 4096).pfn, PG_lru))


def stat_state(p) -> str:
    return p.m.proc.read(f"/proc/{p.pid}/stat").split(") ", 1)[1].split()[0]


def status_state(p) -> str:
    text = p.m.proc.read(f"/proc/{p.pid}/status")
    return next(line.split(":", 1)[1].strip() for line in text.splitlines()
                if line.startswith("State:"))


HELPERS = {"vmflags": vmflags, "lru_pages": lru_pages, "stat_state": stat_state,
           "status_state": status_state}


# -- running a row ---------------------------------------------------------------------------
def run(row):
    """Run ``row`` on a fresh machine: (machine, value, exception)."""
    ns = {"lv": lv, **HELPERS}
    exec(SETUP, ns)
    *body, last = row.code.splitlines()
    try:
        exec("\n".join(body), ns)
        try:
            expr = compile(last, "<row>", "eval")
        except SyntaxError:
            exec(last, ns)
            return ns["m"], None, None
        return ns["m"], eval(expr, ns), None
    except Exception as e:      # noqa: BLE001  (the outcome says which are expected)
        return ns["m"], None, e


def matches(row, value, exc) -> str:
    """'' when the outcome is what the row documents, else what differs."""
    out = row.outcome
    if out == "no MemoryError":
        return f"raised {exc!r}" if isinstance(exc, MemoryError) else ""
    if out.startswith("== "):
        want = ast.literal_eval(out[3:])
        if exc is not None:
            return f"raised {type(exc).__name__}: {exc}"
        same = value == want and isinstance(value, bool) == isinstance(want, bool)
        return "" if same else f"returned {value!r}"
    if out.isupper():
        if not isinstance(exc, OSError) or exc.errno != getattr(errno, out):
            return f"wanted {out}, got " + (f"{type(exc).__name__}: {exc}" if exc is not None
                                           else f"the value {value!r}")
        return ""
    names, _, text = out.partition(": ")
    if exc is None:
        return f"wanted {out}, returned {value!r}"
    if type(exc).__name__ not in names.split("|") or text not in str(exc):
        return f"wanted {out}, got {type(exc).__name__}: {exc}"
    return ""


# -- the doc -------------------------------------------------------------------------------
def render() -> str:
    """docs/bad-inputs.md, from ROWS."""
    out = ["# Bad inputs and what they get",
           "",
           "Generated from `tests/bad_inputs.py` (`python tests/bad_inputs.py > "
           "docs/bad-inputs.md`); `tests/test_bad_inputs.py` runs every row and fails when "
           "an outcome or this file differs. Each row runs on a fresh machine set up as",
           "",
           "```python",
           SETUP,
           "```",
           "",
           "and `m.check()` passes after it. Outcomes: an errno name is an `OSError` "
           "(`lv.SyscallError` from a system call) with that errno; `TypeError`/`ValueError` "
           "is the façade refusing a misuse of the Python API, naming the argument; "
           "`KernelBug` is what 4.6 would BUG or Oops on; `== v` is the value returned.",
           ""]
    areas = {}
    for row in ROWS:                    # grouped by area, in order of first appearance
        areas.setdefault(row.area, []).append(row)
    for area, rows in areas.items():
        out += [f"## {area}", "", "| code | outcome | note |", "|---|---|---|"]
        for row in rows:
            code = "<br>".join(f"`{line}`" for line in
                               row.code.replace("|", "\\|").splitlines())
            outcome = row.outcome.replace("|", " or ")
            out.append(f"| {code} | {outcome} | {row.note} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(render())
