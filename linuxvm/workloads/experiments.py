"""The notes' experiment programs as programs of the model (linux-vm-hacks experiments/ and
the "Process Autopsy" program of linux-vm-notes).

Each program runs in a process created by ``m.spawn`` (an empty address space: no exec,
so no text, libraries or [vdso]); ``start_process`` gives it the stack an exec would
leave: a 132 KiB MAP_GROWSDOWN mapping ending at STACK_TOP (0x7ffffffff000, the no-ASLR
top) with its top page written and ``sp`` just below. Without exec ``mm->start_stack``
stays 0, so maps does not label that mapping ``[stack]``. The heap is the process's brk
area, driven by the glibc malloc model (workloads/malloc.py); prompts go through the
stdio model (workloads/libio.py).

Each program is a generator of ``Step``: it stops where the C program waits for
return (or, for programs that do not wait, after each phase), with the text printed
since the last stop and the figures read from the model's /proc at that moment:
``/proc/PID/status`` (the Vm*/Rss* lines), the maps lines of the addresses the program
is working on, and /proc/meminfo. ``run_example`` prints a whole run.
"""

import re
from dataclasses import dataclass, field

from ..errors import SyscallError
from ..mm.mman import (PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS, MAP_FIXED,
                       MAP_GROWSDOWN)
from .libio import Stdio
from .malloc import GLIBC_2_23, MallocState

PAGE_SIZE = 4096
STACK_TOP = 0x7FFFFFFFF000
INITIAL_STACK = 33 * PAGE_SIZE          # setup_arg_pages: a page of strings + 128 KiB
INITIAL_STACK_USED = 512                # argv, envp, auxv and strings on the top page
STATUS_FIELDS = ("VmPeak", "VmSize", "VmLck", "VmHWM", "VmRSS", "RssAnon", "RssFile",
                 "RssShmem", "VmData", "VmStk", "VmPTE", "VmPMD", "VmSwap")
SHOWN_STATUS = ("VmSize", "VmRSS", "RssAnon", "VmData", "VmStk", "VmPTE")
MEMINFO_FIELDS = ("MemFree", "AnonPages", "PageTables", "CommitLimit", "Committed_AS")
STRERROR_ENOMEM = "Cannot allocate memory"


@dataclass
class Step:
    """One stop of a program: what it printed since the last stop, and the /proc figures."""
    label: str
    output: str
    status: dict            # /proc/PID/status field -> kB
    maps: list              # the maps lines of the watched addresses
    meminfo: dict           # /proc/meminfo field -> kB
    values: dict = field(default_factory=dict)    # program variables (ptr, …)
    region: tuple = None    # (first page address, pages) whose presence is shown
    present: list = None    # indices of the region's pages present in /proc/PID/pagemap

    def render(self, pid: int) -> str:
        lines = [self.output.rstrip("\n")] if self.output else []
        lines.append(f"  [{self.label}]")
        lines.append(f"  /proc/{pid}/status: " + ", ".join(
            f"{k} {self.status[k]} kB" for k in SHOWN_STATUS if k in self.status))
        for ln in self.maps:
            lines.append(f"  /proc/{pid}/maps: {ln}")
        if self.region is not None:
            start, n = self.region
            which = (" (" + ",".join(map(str, self.present)) + ")"
                     if self.present and len(self.present) <= 16 else "")
            lines.append(f"  /proc/{pid}/pagemap: {len(self.present)} of the {n} pages "
                         f"from {start:#x} present{which}")
        lines.append("  /proc/meminfo: " + ", ".join(
            f"{k} {self.meminfo[k]} kB" for k in MEMINFO_FIELDS if k in self.meminfo))
        return "\n".join(lines) + "\n"


def parse_kb(text: str, names) -> dict:
    """``{name: kB}`` of ``Name:   123 kB`` lines."""
    out = {}
    for name in names:
        mt = re.search(rf"^{name}:\s+(\d+) kB$", text, re.M)
        if mt:
            out[name] = int(mt.group(1))
    return out


def maps_lines_for(maps_text: str, addrs) -> list:
    """The maps lines whose range holds one of ``addrs``."""
    out = []
    for ln in maps_text.splitlines():
        lo, hi = (int(x, 16) for x in ln.split()[0].split("-"))
        if any(lo <= a < hi for a in addrs) and ln not in out:
            out.append(ln)
    return out


def start_process(m, comm: str, uid: int = 1000, rlimits=None):
    """A process with the stack an exec would have left it (see the module docstring)."""
    p = m.spawn(comm, uid=uid, rlimits=rlimits)
    base = STACK_TOP - INITIAL_STACK
    p.mmap(base, INITIAL_STACK, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN)
    p.sp = STACK_TOP - INITIAL_STACK_USED
    p.write(p.sp, bytes(INITIAL_STACK_USED))
    return p


class Program:
    """A running experiment: its process, libc and the text it printed."""

    def __init__(self, m, comm, glibc=GLIBC_2_23, stdout="tty", stdin="tty", uid=1000,
                 rlimits=None):
        self.m = m
        self.p = start_process(m, comm, uid, rlimits)
        self.libc = MallocState(self.p, glibc)
        self.stdio = Stdio(self.libc, stdout, stdin)
        self.stderr = []
        self._shown = 0

    def stop(self, label: str, watch=(), region=None, **values) -> Step:
        m, pid = self.m, self.p.pid
        text = "".join(self.stdio.text[self._shown:]) + "".join(self.stderr)
        self._shown = len(self.stdio.text)
        self.stderr = []
        status = parse_kb(m.proc.read(f"/proc/{pid}/status"), STATUS_FIELDS)
        maps = maps_lines_for(m.proc.read(f"/proc/{pid}/maps"), [a for a in watch if a])
        meminfo = parse_kb(m.proc.read("/proc/meminfo"), MEMINFO_FIELDS)
        present = None
        if region is not None:
            start, n = region
            data = m.proc.read_bytes(f"/proc/{pid}/pagemap", (start >> 12) * 8, n * 8)
            present = [i for i in range(n)
                       if int.from_bytes(data[8 * i:8 * i + 8], "little") >> 63]
        # VmRSS and Rss* lag behind the faults: 4.6 counts them per task and folds them
        # into the mm every 64 faults (SPLIT_RSS_COUNTING); pagemap does not lag
        return Step(label, text, status, maps, meminfo, dict(values), region, present)

    def block(self, label, watch=(), region=None, **values):
        """``yield from``: the program waits for return in getchar (stdin's buffer is
        allocated by then); we stop there, and on resuming the line read lands in the
        buffer."""
        self.stdio.getchar_wait()
        yield self.stop(label, watch, region, **values)
        self.stdio.getchar()

    def heap_watch(self):
        """The heap's first address, once brk has grown it (the [heap] line)."""
        mm = self.p.mm
        return mm.start_brk if mm.brk > mm.start_brk else None


def print_addr(stdio: Stdio, addr: int) -> None:
    """multi_page_alloc.c's print_addr: the address and its table indices."""
    stdio.printf(f"Address = {addr:016x}\n")
    stdio.printf("PGD/PUD/PMD/PTE/offset=%d/%d/%d/%d/%d\n" % (
        addr >> 39, (addr >> 30) & 511, (addr >> 21) & 511, (addr >> 12) & 511, addr & 4095))


def multi_page_alloc(m, glibc=GLIBC_2_23, stdout="tty", stdin="tty", uid=1000):
    """experiments/multi_page_alloc.c: malloc(11 pages) from the brk heap, touch pages
    0, 1 and 7, memset it all, free; a stop after each step."""
    size = PAGE_SIZE * 11
    prog = Program(m, "multi_page_alloc", glibc, stdout, stdin, uid)
    io, libc, p = prog.stdio, prog.libc, prog.p
    io.puts("Before alloc.")
    yield from prog.block("before alloc", [prog.heap_watch()])
    ptr = libc.malloc(size)
    io.puts("Alloc'ed.")
    print_addr(io, ptr)
    # the pages the 11-page block spans (12: it starts 16 bytes into a page)
    region = (ptr & ~(PAGE_SIZE - 1), (ptr + size - 1) // PAGE_SIZE - ptr // PAGE_SIZE + 1)
    yield from prog.block("malloc", [ptr], region, ptr=ptr)
    p.write(ptr, b"1")
    io.puts("Touched 1st page.")
    yield from prog.block("touch page 0", [ptr], region, ptr=ptr)
    p.write(ptr + PAGE_SIZE, b"2")
    io.puts("Touched 2nd page.")
    yield from prog.block("touch page 1", [ptr], region, ptr=ptr)
    p.write(ptr + PAGE_SIZE * 7, b"7")
    io.puts("Touched 7th page.")
    yield from prog.block("touch page 7", [ptr], region, ptr=ptr)
    p.write(ptr, b"x" * size)
    io.puts("Memset.")
    yield from prog.block("memset", [ptr], region, ptr=ptr)
    libc.free(ptr)
    io.puts("Freed.")
    yield from prog.block("free", [ptr, prog.heap_watch()], region, ptr=ptr)
    p.exit(0)


# gcc -O0 x86-64 frame of stack_alloc_recur: return address, saved %rbp, then
# ``sub $1040, %rsp`` (dummy[1024] at -1024(%rbp), the int argument at -1028(%rbp))
RECUR_LOCALS = 1040


def simple_alloc(m, glibc=GLIBC_2_23, uid=1000, pages=1025, additional=69,
                 stack_count=7000, rlimits=None):
    """experiments/simple_alloc.c: malloc(1025 pages + 69), filled byte by byte and
    freed, then a 7000-deep recursion with 1 KiB frames (about 7 MiB of stack grown
    through expand_stack). The program prints nothing; it stops after each phase."""
    prog = Program(m, "simple_alloc", glibc, uid=uid, rlimits=rlimits)
    libc, p = prog.libc, prog.p
    nbytes = pages * PAGE_SIZE + additional
    yield prog.stop("start", [p.sp])
    buf = libc.malloc(nbytes)
    region = (buf & ~(PAGE_SIZE - 1), (buf + nbytes - 1) // PAGE_SIZE - buf // PAGE_SIZE + 1)
    yield prog.stop("heap_alloc: malloc", [buf], region, buf=buf)
    p.write(buf, b"x" * nbytes)
    yield prog.stop("heap_alloc: filled", [buf], region, buf=buf)
    libc.free(buf)
    yield prog.stop("heap_alloc: freed", [buf], region, buf=buf)
    # stack_alloc() calls stack_alloc_recur(7000): every call pushes the return address
    # and %rbp, stores its argument and (count > 0) dummy[0]; unwinding stores dummy[1023]
    sp0 = p.sp
    frames = []
    count = stack_count
    sp = sp0 - 16                                   # stack_alloc's own return address, %rbp
    p.sp = sp
    p.write(sp, bytes(16))
    while True:
        sp -= 16                                    # call; push %rbp
        p.sp = sp
        p.write(sp, bytes(16))
        rbp = sp
        sp -= RECUR_LOCALS
        p.sp = sp
        p.write(rbp - 1028, count.to_bytes(4, "little", signed=True))
        if count <= 0:
            break
        p.write(rbp - 1024, b"x")
        frames.append(rbp)
        count -= 1
    deepest = sp
    region = (deepest & ~(PAGE_SIZE - 1), (STACK_TOP - (deepest & ~(PAGE_SIZE - 1))) // PAGE_SIZE)
    yield prog.stop("stack_alloc: deepest call", [deepest], region, depth=stack_count,
                    sp=deepest)
    for rbp in reversed(frames):
        p.sp = rbp - RECUR_LOCALS
        p.write(rbp - 1, p.read(rbp - 1024, 1))
    p.sp = sp0
    yield prog.stop("stack_alloc: returned", [deepest], region, depth=stack_count, sp=deepest)
    p.exit(0)


CRAZY_SIZE = 8 << 30


def crazy_alloc(m, modes=(0, 1, 2), glibc=GLIBC_2_23, uid=1000):
    """experiments/crazy_alloc.c under each vm.overcommit_memory mode in ``modes``:
    malloc(8 GiB), perror("malloc") and exit 1 when it fails. Each mode runs a fresh
    process; the sysctl is restored afterwards."""
    saved = m.sysctl["vm.overcommit_memory"]
    try:
        for mode in modes:
            m.sysctl["vm.overcommit_memory"] = mode
            prog = Program(m, "crazy_alloc", glibc, uid=uid)
            prog.stdio.text.append(f"# vm.overcommit_memory = {mode}\n")
            yield prog.stop(f"mode {mode}: start", [], mode=mode)
            ptr = prog.libc.malloc(CRAZY_SIZE)
            if not ptr:
                prog.stderr.append(f"malloc: {STRERROR_ENOMEM}\n")
            yield prog.stop(f"mode {mode}: malloc", [ptr], mode=mode, ptr=ptr,
                            syscalls=list(prog.libc.syscalls),
                            exit_status=0 if ptr else 1)
            prog.p.exit(0 if ptr else 1)
    finally:
        m.sysctl["vm.overcommit_memory"] = saved


AUTOPSY_SIZE = 10 << 20


def autopsy(m, uid=1000, stdout="tty", stdin="tty", glibc=GLIBC_2_23):
    """The notes' Process Autopsy program: mmap 10 MiB, write its first and last byte,
    memset it all, with a prompt and a stop after each step."""
    prog = Program(m, "autopsy", glibc, stdout, stdin, uid)
    io, p = prog.stdio, prog.p
    try:
        ptr = p.mmap(None, AUTOPSY_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    except SyscallError:
        prog.stderr.append(f"mmap: {STRERROR_ENOMEM}\n")
        yield prog.stop("mmap failed", [])
        p.exit(1)
        return
    region = (ptr, AUTOPSY_SIZE // PAGE_SIZE)
    io.puts("mmap        <hit ret>")
    yield from prog.block("mmap", [ptr], region, ptr=ptr)
    p.write(ptr, b"x")
    p.write(ptr + AUTOPSY_SIZE - 1, b"y")
    io.puts("0, SIZE - 1 <hit ret>")
    yield from prog.block("0, SIZE - 1", [ptr], region, ptr=ptr)
    p.write(ptr, b"x" * AUTOPSY_SIZE)
    io.puts("memset      <hit ret>")
    yield from prog.block("memset", [ptr], region, ptr=ptr)
    p.exit(0)


EXAMPLES = {
    "multi_page_alloc": multi_page_alloc,
    "simple_alloc": simple_alloc,
    "crazy_alloc": crazy_alloc,
    "autopsy": autopsy,
}


def run_example(m, name: str, out, **kw) -> list:
    """Run experiment ``name`` to its end, writing each stop to ``out``; the steps."""
    if name not in EXAMPLES:
        raise ValueError(f"unknown example {name!r} (one of {', '.join(EXAMPLES)})")
    steps = []
    gen = EXAMPLES[name](m, **kw)
    pid = None
    for step in gen:
        if pid is None or step.label.endswith(": start"):
            pid = max(m.tasks) if m.tasks else pid
            out.write(f"$ ./{name}    # pid {pid}\n")
        out.write(step.render(pid))
        steps.append(step)
    return steps
