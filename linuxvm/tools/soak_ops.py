"""The soak's operations (linuxvm.tools.soak): ``Run`` holds one machine and what the
soak keeps about it, and offers one ``op_<kind>(r)`` per kind of step; each draws its
arguments from ``r`` and the current state, logs the call as a line of the reproducer
and says which exceptions the call may raise.

Also here: the known-issue list (patterns disabled until their fix is merged) and
``frame_census``, the frame accounting the end-of-run leak check compares.
"""

from collections import Counter
from random import Random

from ..arch.x86.page_types import PAGE_OFFSET, PAGE_SIZE, TASK_SIZE, THREAD_SIZE_ORDER
from ..errors import (BusError, KernelBug, OutOfMemory, ProcessKilled, SegmentationFault,
                      SyscallError)
from ..include.mm import VM_LOCKED
from ..include.vm_event_item import (NR_FILE_PAGES, NR_FREE_PAGES, NR_KERNEL_STACK,
                                     NR_PAGETABLE, NR_SLAB_RECLAIMABLE, NR_SLAB_UNRECLAIMABLE)
from ..kernel.sysctl import (DOINTVEC_JIFFIES, DOINTVEC_MINMAX, DOULONGVEC_MINMAX, HZ,
                              NO_PARSE, TMPBUFLEN)
from ..machine import Machine
from ..mm import mman as M

P = PAGE_SIZE
BASE = 0x10000000            # a quiet arena where MAP_FIXED layouts collide often
ARENA_PAGES = 64
MAX_PROCS = 8
MAX_HELD = 64                # kernel pages / objects the soak holds at once
MAX_HELD_PAGES = 8192        # and at most 32 MiB of pages among them
U64 = (1 << 64) - 1

# -- patterns left out -------------------------------------------------------------------
# Argument patterns the soak generates (so the random stream does not change) but does not
# execute while their key is in DISABLED; the summary counts how often each was skipped,
# and ``--enable KEY`` runs them. A key names an open bug, or a pattern the soak cannot go
# on from.
KNOWN_ISSUES = {
    "slab_overrun":
        "a write past a slab object's end corrupts its neighbour (and the freelist pointer) as "
        "it does on 4.6, which notices only later (SLUB debug, or an Oops); the model's "
        "checker then reports the corruption, correctly, and the run cannot go on from it "
        "(tests/test_bad_inputs.py covers the report)",
}
DISABLED = set(KNOWN_ISSUES)

PROTS = [M.PROT_NONE, M.PROT_READ, M.PROT_READ | M.PROT_WRITE, M.PROT_READ | M.PROT_EXEC,
         M.PROT_READ | M.PROT_WRITE | M.PROT_EXEC, M.PROT_WRITE]
MAP_MODS = [M.MAP_FIXED, M.MAP_NORESERVE, M.MAP_POPULATE, M.MAP_LOCKED, M.MAP_GROWSDOWN,
            M.MAP_STACK, M.MAP_NONBLOCK, M.MAP_DENYWRITE, M.MAP_EXECUTABLE]
ADVICE = [M.MADV_NORMAL, M.MADV_RANDOM, M.MADV_SEQUENTIAL, M.MADV_WILLNEED, M.MADV_DONTNEED,
          M.MADV_FREE, M.MADV_REMOVE, M.MADV_DONTFORK, M.MADV_DOFORK, M.MADV_MERGEABLE,
          M.MADV_UNMERGEABLE, M.MADV_HUGEPAGE, M.MADV_NOHUGEPAGE, M.MADV_DONTDUMP,
          M.MADV_DODUMP, M.MADV_HWPOISON, M.MADV_SOFT_OFFLINE, 5, 7, 99, 0xFFFFFFFF]
GFPS = ["GFP_KERNEL", "GFP_ATOMIC", "GFP_NOWAIT", "GFP_KERNEL|__GFP_ZERO",
        "GFP_KERNEL|__GFP_COMP", "GFP_HIGHUSER_MOVABLE", "GFP_DMA", "GFP_DMA32",
        "GFP_KERNEL|__GFP_NOWARN", "GFP_TEMPORARY", "GFP_USER|__GFP_COMP|__GFP_ZERO"]
SLAB_GFPS = ["GFP_KERNEL", "GFP_ATOMIC", "GFP_NOWAIT", "GFP_KERNEL|__GFP_ZERO", "GFP_DMA"]
CACHE_FLAGS = [0, "SLAB_HWCACHE_ALIGN", "SLAB_RECLAIM_ACCOUNT", "SLAB_POISON|SLAB_RED_ZONE",
               "SLAB_CONSISTENCY_CHECKS|SLAB_STORE_USER", "SLAB_PANIC"]
KERNEL_CACHES = ["kmalloc-64", "kmalloc-1024", "vm_area_struct", "anon_vma", "radix_tree_node"]
RLIMITS = ["RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_DATA", "RLIMIT_STACK"]

# sysctl values: sensible ones per name (anything else gets small numbers), and invalid
# text every entry should refuse
SYSCTL_VALUES = {
    "vm.overcommit_memory": [0, 1, 2], "vm.overcommit_ratio": [0, 50, 100, 1000],
    "vm.overcommit_kbytes": [0, 1024, 1 << 20], "vm.min_free_kbytes": [128, 1024, 4096, 8192],
    "vm.watermark_scale_factor": [1, 10, 100, 1000], "vm.max_map_count": [64, 1000, 65530],
    "vm.mmap_min_addr": [0, 4096, 65536], "vm.lowmem_reserve_ratio": ["256 256 32", "1 1 1",
                                                                     "0 0 0", "32"],
    "vm.percpu_pagelist_fraction": [0, 8, 100], "vm.user_reserve_kbytes": [0, 131072],
    "vm.admin_reserve_kbytes": [0, 8192], "vm.dirty_bytes": [0, 8192, 1 << 20],
    "vm.dirty_background_bytes": [0, 1, 1 << 20], "vm.mmap_rnd_bits": [28, 30, 32],
    "vm.mmap_rnd_compat_bits": [8, 16],
}
SYSCTL_BAD = ["", "x", "-", "1x", "0x10", " ", "1 2 3 4", "-1", "-2147483649",
              "99999999999999999999999", "18446744073709551616", "\n", "2147483648"]
INT_MAX = (1 << 31) - 1

EXC_NAMES = {SyscallError: "lv.SyscallError", OutOfMemory: "lv.OutOfMemory",
             SegmentationFault: "lv.SegmentationFault", BusError: "lv.BusError",
             KernelBug: "lv.KernelBug"}

SYSCALL = (SyscallError, OutOfMemory, ProcessKilled, NotImplementedError)
ACCESS = (SegmentationFault, BusError, OutOfMemory, ProcessKilled, NotImplementedError)
BAD_KAPI = (ValueError, KernelBug)
# populating (MAP_POPULATE, MAP_LOCKED, mlock, a locked VMA's growth) beyond this only
# measures the host: 4.6 walks those pages too, a thousand times faster
POPULATE_MAX = 1 << 26


def _mapped_bytes(mm, start: int, end: int) -> int:
    """How much of [start, end) the VMAs of ``mm`` cover."""
    total = 0
    v = mm.mmap
    while v is not None and v.vm_start < end:
        total += max(0, min(v.vm_end, end) - max(v.vm_start, start))
        v = v.vm_next
    return total


def _locks(mm) -> bool:
    """Whether growth in ``mm`` is populated: mlockall(MCL_FUTURE), or a VM_LOCKED VMA."""
    if mm.def_flags & VM_LOCKED:
        return True
    v = mm.mmap
    while v is not None:
        if v.vm_flags & VM_LOCKED:
            return True
        v = v.vm_next
    return False


class AcceptedBadCall(Exception):
    """A deliberately invalid call returned instead of failing."""


class Skip(Exception):
    """The step has nothing to act on (no process, no held object): it does nothing."""


def frame_census(m) -> dict:
    """Where the frames that boot left free are now: free (buddy), pcp lists, slab pages,
    PTE pages (NR_PAGETABLE; with no live process there are no other user page tables),
    kernel stacks, page cache, and the PGDs of dead mms CPUs still hold
    lazily (an exited task's mm stays loaded until its CPU switches to another mm)."""
    pcp = sum(ps.pcp.count for z in m.zones for ps in z.pageset)
    lazy = {id(c.active_mm): c.active_mm for c in m.cpus
            if c.active_mm is not m.init_mm and c.active_mm.mm_users == 0}
    return {"free": m.global_page_state(NR_FREE_PAGES), "pcp": pcp,
            "slab": m.global_page_state(NR_SLAB_RECLAIMABLE)
            + m.global_page_state(NR_SLAB_UNRECLAIMABLE),
            "pagetables": m.global_page_state(NR_PAGETABLE),
            "kernel_stack": m.global_page_state(NR_KERNEL_STACK) << THREAD_SIZE_ORDER,
            "file": m.global_page_state(NR_FILE_PAGES),
            "lazy_pgds": len(lazy)}


def census_total(c: dict) -> int:
    return sum(c.values())


def _fmt(v) -> str:
    if isinstance(v, bool) or not isinstance(v, int):
        return repr(v)
    if v < 0:
        return f"-{-v:#x}" if v <= -4096 else str(v)
    return f"{v:#x}" if v >= 4096 else str(v)


class Pattern(bytes):
    """Bytes ``bytes([v]) * n`` that print that way in the reproducer."""

    def __repr__(self):
        return f"bytes([{self[0]}]) * {len(self)}" if self else "b''"


class Run:
    """One machine and the state the soak keeps about it; ``step(op, step_seed)`` runs one
    operation and logs it as a line of the reproducer."""

    def __init__(self, seed: int, ram="256M", enabled=()):
        self.seed, self.ram = seed, ram
        self.disabled = DISABLED - set(enabled)
        self.m = Machine(ram=ram, cpus=2, seed=seed)
        self.K = self.m.kernel
        self.lines = ["import linuxvm as lv", "from contextlib import suppress",
                      "from linuxvm.tools.soak import frame_census, census_total",
                      f"m = lv.Machine(ram={ram!r}, cpus=2, seed={seed})", "K = m.kernel"]
        self.boot = frame_census(self.m)
        self.m.vfs.create("/soak", 64 * P, b"soak")
        self.m.vfs.create("/dev/shm/soak", 64 * P)          # a tmpfs file: all holes
        self.lines += ["boot = census_total(frame_census(m))",
                       "m.vfs.create('/soak', 0x40000, b'soak')",
                       "m.vfs.create('/dev/shm/soak', 0x40000)"]
        self.procs = []          # [Process, var name, [(addr, len)…], fds, brk0]
        self.nvar = 0
        self.pages = []          # (pfn, order) from alloc_pages
        self.objs = []           # (addr, size, cache var or None, cache)
        self.caches = []         # (cache, var, objects allocated from it are in objs)
        self.counts = Counter()
        self.expected = Counter()
        self.known = Counter()
        self.op = None

    # -- plumbing ----------------------------------------------------------------------
    def var(self, prefix):
        self.nvar += 1
        return f"{prefix}{self.nvar}"

    def call(self, target, fn, *args, expect=(), assign=None, must_fail=False, **kw):
        """Call ``fn``, log the line; an exception in ``expect`` is counted and swallowed
        (returns None), anything else propagates (a failure). ``must_fail``: a
        deliberately invalid call that returns is itself a failure (it was accepted)."""
        src = f"{target}({', '.join([_fmt(a) for a in args] + [f'{k}={_fmt(v)}' for k, v in kw.items()])})"
        try:
            ret = fn(*args, **kw)
        except expect as e:
            cls = type(e)
            self.lines.append(f"with suppress({EXC_NAMES.get(cls, cls.__name__)}): {src}")
            self.expected[f"{self.op}: {cls.__name__}"
                          + (f" {e.errno}" if isinstance(e, SyscallError) else "")] += 1
            return None
        except BaseException:
            self.lines.append(src)
            raise
        self.lines.append(f"{assign} = {src}" if assign else src)
        if must_fail:
            raise AcceptedBadCall(f"{src} returned {ret!r}: 4.6 refuses it")
        return ret

    def known_issue(self, key) -> bool:
        """True (and counted) when ``key``'s pattern is disabled: the caller skips it."""
        if key in self.disabled:
            self.known[key] += 1
            return True
        return False

    def proc(self, r):
        # a process the OOM killer killed is gone: it raised ProcessKilled and exited
        self.procs = [pr for pr in self.procs if pr[0].task.mm is not None]
        if not self.procs:
            raise Skip
        return r.choice(self.procs)

    def addr(self, r, pr, hint_ok=False):
        k = r.random()
        maps = pr[2]
        if k < 0.35 and maps:
            a, n = r.choice(maps)
            # (a C pointer wraps past the top of the address space; Python ints do not)
            return (a + r.randrange(max(1, min(n // P, 64)) + 2) * P) & U64
        if k < 0.75:
            return BASE + r.randrange(ARENA_PAGES) * P
        if k < 0.82:
            return 0 if hint_ok else BASE
        return r.choice([BASE + r.randrange(1, P), TASK_SIZE - P, TASK_SIZE, 1 << 47,
                         U64 - P + 1, -P, 1 << 63, r.getrandbits(64), P, 0,
                         BASE - P * r.randrange(1, 4)])

    def length(self, r):
        k = r.random()
        if k < 0.78:
            return r.randrange(17) * P
        if k < 0.9:
            return r.randrange(17, 1024) * P
        return r.choice([0, 1, P - 1, P + 1, -1, -P, U64 - P + 1, 1 << 63, 1 << 40, 1 << 47,
                         r.getrandbits(64), 3 * P + 17])

    # -- system calls --------------------------------------------------------------------
    def op_mmap(self, r):
        pr = self.proc(r)
        p, name = pr[0], pr[1]
        addr = self.addr(r, pr, hint_ok=True)
        length = self.length(r)
        prot = r.choice(PROTS) if r.random() < 0.9 else r.getrandbits(32)
        anon = r.random() < 0.8
        flags = r.choice([M.MAP_PRIVATE, M.MAP_SHARED]) | (M.MAP_ANONYMOUS if anon else 0)
        for mod in MAP_MODS:
            if r.random() < (0.3 if mod == M.MAP_FIXED else 0.06):
                flags |= mod
        if r.random() < 0.05:
            flags |= M.MAP_HUGETLB | (M.MAP_NORESERVE if r.random() < 0.8 else 0)
        if r.random() < 0.05:
            flags = r.getrandbits(32)
        fd, off = -1, 0
        if not anon or r.random() < 0.05:
            fd = r.choice(sorted(pr[3]) * 4 + [-1, 99]) if pr[3] else r.choice([-1, 3, 99])
            off = r.choice([0, P, 2 * P, 17, 1 << 63, -P, r.randrange(64) * P])
        if (flags & (M.MAP_POPULATE | M.MAP_LOCKED) or _locks(p.mm)) and \
                (length & U64) > POPULATE_MAX:
            length = r.randrange(17) * P       # populating GiBs only measures the host
        ret = self.call(f"{name}.mmap", p.mmap, addr, length, prot, flags, fd, off,
                        expect=SYSCALL)
        if ret is not None:
            pr[2].append((ret, length & U64))
            del pr[2][:-16]

    def _range_call(self, r, what, *extra):
        pr = self.proc(r)
        p, name = pr[0], pr[1]
        addr, length = self.addr(r, pr), self.length(r)
        if what in ("mlock", "mlock2") and \
                _mapped_bytes(p.mm, addr & U64 & ~(P - 1), (addr + length) & U64) > POPULATE_MAX:
            raise Skip
        self.call(f"{name}.{what}", getattr(p, what), addr, length, *extra, expect=SYSCALL)

    def op_munmap(self, r):
        self._range_call(r, "munmap")

    def op_mprotect(self, r):
        prot = r.choice(PROTS + [M.PROT_READ | M.PROT_GROWSDOWN, M.PROT_GROWSUP,
                                 M.PROT_SEM | M.PROT_READ, r.getrandbits(32)])
        self._range_call(r, "mprotect", prot)

    def op_madvise(self, r):
        self._range_call(r, "madvise", r.choice(ADVICE))

    def op_mlock(self, r):
        self._range_call(r, "mlock")

    def op_mlock2(self, r):
        flags = r.choice([0, M.MLOCK_ONFAULT, M.MLOCK_ONFAULT, 2, r.getrandbits(32)])
        self._range_call(r, "mlock2", flags)

    def op_munlock(self, r):
        self._range_call(r, "munlock")

    def op_msync(self, r):
        self._range_call(r, "msync", r.choice([M.MS_ASYNC, M.MS_SYNC, M.MS_INVALIDATE,
                                               M.MS_ASYNC | M.MS_SYNC, 0, 8, r.getrandbits(32)]))

    def op_mremap(self, r):
        pr = self.proc(r)
        p, name = pr[0], pr[1]
        flags = r.choice([0, M.MREMAP_MAYMOVE, M.MREMAP_MAYMOVE, M.MREMAP_MAYMOVE |
                          M.MREMAP_FIXED, M.MREMAP_FIXED, 4, r.getrandbits(32)])
        new = self.addr(r, pr) if flags & M.MREMAP_FIXED else None
        old = self.addr(r, pr)
        args = [old, self.length(r), self.length(r), flags] + ([new] if new is not None else [])
        if _locks(p.mm) and args[2] & U64 > POPULATE_MAX:
            args[2] = r.randrange(17) * P      # a locked VMA's growth is populated
        ret = self.call(f"{name}.mremap", p.mremap, *args, expect=SYSCALL)
        if ret is not None:
            pr[2].append((ret, args[2] & U64))
            del pr[2][:-16]

    def op_mlockall(self, r):
        pr = self.proc(r)
        flags = r.choice([M.MCL_CURRENT, M.MCL_FUTURE, M.MCL_CURRENT | M.MCL_FUTURE,
                          M.MCL_ONFAULT | M.MCL_CURRENT, M.MCL_ONFAULT | M.MCL_FUTURE,
                          M.MCL_ONFAULT, 0, 8, r.getrandbits(32)])
        if flags & M.MCL_CURRENT and pr[0].mm.total_vm * P > POPULATE_MAX:
            raise Skip
        self.call(f"{pr[1]}.mlockall", pr[0].mlockall, flags, expect=SYSCALL)

    def op_munlockall(self, r):
        pr = self.proc(r)
        self.call(f"{pr[1]}.munlockall", pr[0].munlockall, expect=SYSCALL)

    def op_brk(self, r):
        pr = self.proc(r)
        brk0 = pr[4]
        v = r.choice([0, brk0, brk0 + r.randrange(-4, 64) * P, brk0 + r.randrange(1, P),
                      brk0 - (1 << 30), brk0 + (1 << 30), U64 - P + 1, 1 << 47])
        if _locks(pr[0].mm) and v & U64 > brk0 + POPULATE_MAX:
            raise Skip                          # mlockall(MCL_FUTURE) populates brk growth
        self.call(f"{pr[1]}.brk", pr[0].brk, v, expect=SYSCALL)

    def op_open(self, r):
        pr = self.proc(r)
        path = r.choice(["/soak", "/soak", "/missing", f"/new{r.randrange(4)}",
                         "/dev/shm/soak", f"/dev/shm/new{r.randrange(4)}", "/dev/zero"])
        flags = r.choice([M.O_RDONLY, M.O_RDWR, M.O_WRONLY, M.O_RDWR | M.O_CREAT])
        fd = self.call(f"{pr[1]}.open", pr[0].open, path, flags, expect=SYSCALL)
        if fd is not None:
            pr[3].add(fd)

    def op_close(self, r):
        pr = self.proc(r)
        fd = r.choice(sorted(pr[3]) + [99, 0]) if pr[3] else r.choice([3, 99])
        self.call(f"{pr[1]}.close", pr[0].close, fd, expect=SYSCALL)
        pr[3].discard(fd)

    # -- accesses ----------------------------------------------------------------------
    def op_touch(self, r):
        pr = self.proc(r)
        n = r.choice([P, r.randrange(1, 65) * P, r.randrange(1, 4 * P)])
        write = r.random() < 0.6
        a = self.addr(r, pr)
        self.call(f"{pr[1]}.touch", pr[0].touch, a, n, write=write,
                  bulk=r.random() < 0.5, expect=ACCESS)

    def op_read(self, r):
        pr = self.proc(r)
        a = self.addr(r, pr)
        self.call(f"{pr[1]}.read", pr[0].read, a, r.randrange(0, 3 * P), expect=ACCESS)

    def op_write(self, r):
        pr = self.proc(r)
        data = Pattern(bytes([r.randrange(256)]) * r.randrange(1, 3 * P))
        a = self.addr(r, pr)
        self.call(f"{pr[1]}.write", pr[0].write, a, data, expect=ACCESS)

    def op_access(self, r):
        pr = self.proc(r)
        kind = r.choice("rrwx")
        a = self.addr(r, pr)
        self.call(f"{pr[1]}.access", pr[0].access, a, kind, expect=ACCESS)

    def op_clear_refs(self, r):
        """/proc/PID/clear_refs: 1-5 as 4.6 takes them, or a value it refuses (EINVAL)."""
        pr = self.proc(r)
        value = r.choice(["1", "2", "3", "4", "5", "4\n", "0", "6", "x", "-1", ""])
        bad = value.strip() not in ("1", "2", "3", "4", "5")
        self.call("m.proc.write", self.m.proc.write, f"/proc/{pr[0].pid}/clear_refs", value,
                  expect=(SyscallError,) if bad else (), must_fail=bad)

    def op_run_for(self, r):
        """Let time pass (the flusher, khugepaged and kswapd run when due), or a duration
        m.run_for refuses."""
        if r.random() < 0.05:
            bad = r.choice([-1, float("nan"), float("inf"), "1", True])
            self.call("m.run_for", self.m.run_for, bad, expect=(TypeError, ValueError),
                      must_fail=True)
            return
        if r.random() < 0.3:
            self.call("m.tick", self.m.tick)
            return
        self.call("m.run_for", self.m.run_for, r.choice([0, 0.004, 0.1, 1, 5, 11, 31, 61]))

    # -- processes -----------------------------------------------------------------------
    def op_spawn(self, r):
        if len(self.procs) >= MAX_PROCS:
            raise Skip
        uid = r.choice([1000, 1000, 0])
        rl = None
        if r.random() < 0.3:
            lim = r.choice([0, P, 64 << 10, 1 << 20, 1 << 30, U64])
            rl = {r.choice(RLIMITS): lim}
        v = self.var("p")
        p = self.call("m.spawn", self.m.spawn, "soak", uid=uid, rlimits=rl, assign=v,
                      expect=(OutOfMemory,))
        if p is not None:
            fd = self.call(f"{v}.open", p.open, "/soak", M.O_RDWR)
            self.procs.append([p, v, [], {fd}, p.brk(0)])

    def op_fork(self, r):
        pr = self.proc(r)
        if len(self.procs) >= MAX_PROCS:
            raise Skip
        v = self.var("p")
        c = self.call(f"{pr[1]}.fork", pr[0].fork, assign=v, expect=SYSCALL)
        if c is not None:
            self.procs.append([c, v, list(pr[2]), set(pr[3]), pr[4]])

    def op_exit(self, r):
        pr = self.proc(r)
        self.procs.remove(pr)
        self.call(f"{pr[1]}.exit", pr[0].exit)

    # -- sysctl ----------------------------------------------------------------------------
    def op_sysctl(self, r):
        name = r.choice(self.m.sysctl.keys())
        if r.random() < 0.6:
            value = r.choice(SYSCTL_VALUES.get(name, [0, 1, 2, 10, 100]))
        else:
            value = r.choice(SYSCTL_BAD + [r.getrandbits(40), -r.randrange(1 << 31), INT_MAX,
                                           1 << 64, 1])
        as_text = r.random() < 0.5
        iv = value if isinstance(value, int) else None
        if iv is None:
            try:
                iv = int(str(value).split()[0]) if str(value).split() else None
            except ValueError:
                iv = None
        entry = self.m.sysctl.entry(name)
        kind = entry.kind
        # m.sysctl parses an int's text as /proc/sys does: proc_get_long refuses a number
        # of more than 21 characters; simple_strtoul wraps the digits at 2**64 (the sign
        # is read apart). Then proc_doulongvec_minmax skips a negative or out-of-range
        # value without an error (dirty_bytes below two pages), proc_dointvec_minmax cuts
        # to an int before its range check, proc_dointvec_jiffies refuses beyond
        # LONG_MAX / HZ, proc_dointvec beyond INT_MAX.
        words = str(value).split()
        if iv is None or kind == NO_PARSE or entry.handler in (
                "dirty_writeback_centisecs_handler", "lowmem_reserve_ratio_sysctl_handler"):
            bad_range = False           # (these two handlers drop proc_dointvec's error)
        elif len(words[0]) > TMPBUFLEN - 1:
            bad_range = True
        else:
            mag = abs(iv) & U64
            if kind == DOINTVEC_MINMAX:
                t = (-mag if iv < 0 else mag) & 0xFFFFFFFF
                t = t - (1 << 32) if t >> 31 else t
                bad_range = (entry.lo is not None and t < entry.lo) or \
                    (entry.hi is not None and t > entry.hi)
            elif kind == DOULONGVEC_MINMAX:
                bad_range = False
            elif kind == DOINTVEC_JIFFIES:
                bad_range = mag > (1 << 63) // HZ     # LONG_MAX / HZ; the int then wraps
            else:
                bad_range = mag > INT_MAX + (1 if iv < 0 else 0)
        if iv is not None and name in ("vm.min_free_kbytes", "vm.panic_on_oom"):
            # legal, but the machine's end: a reserve above 16 MiB (after the int cut:
            # "-2147483649" stores INT_MAX) fails every allocation of a 256M machine until
            # 4.6 panics for want of a killable task; panic_on_oom makes the first OOM one
            cut = (-(abs(iv) & U64) if iv < 0 else iv & U64) & 0xFFFFFFFF
            cut = cut - (1 << 32) if cut >> 31 else cut
            if cut > 16384 if name == "vm.min_free_kbytes" else cut != 0:
                raise Skip
        if as_text:
            self.call("m.proc.write", self.m.proc.write, f"/proc/sys/{name.replace('.', '/')}",
                      str(value), expect=SYSCALL, must_fail=bad_range and kind != NO_PARSE)
        else:
            self.call("m.sysctl.__setitem__", self.m.sysctl.__setitem__, name, value,
                      expect=SYSCALL + ((ValueError,) if bad_range else ()), must_fail=bad_range and kind != NO_PARSE)

    # -- /proc and /sys -------------------------------------------------------------------
    def op_proc_read(self, r):
        if r.random() < 0.05:
            pid = r.choice(self.procs)[0].pid if self.procs else 1
            path = r.choice([f"/proc/0{pid}/status", f"/proc/+{pid}/maps", f"/proc/{pid}x"])
            self.call("m.proc.read", self.m.proc.read, path, expect=(FileNotFoundError,),
                      must_fail=True)
            return
        path = "/"
        node = None
        for _ in range(8):
            names = self.m.proc.listdir(path)
            if not names:
                raise Skip
            path = path.rstrip("/") + "/" + r.choice(names)
            node = self.m.proc._follow(path)
            if node.kind != "dir":
                break
        if node is None or node.kind == "dir":
            raise Skip
        if node.kind == "binary":
            off = r.choice([0, r.randrange(1 << 20) * 8, r.randrange(1 << 40),
                            (len(self.m.mem_map.flags) - 1) * 8, 1 << 60])
            n = r.choice([0, 8, 64, r.randrange(4096), 4096])
            if r.random() < 0.02:
                off, n = 0, None        # the whole file: refused past 256 MiB (m.proc.open)
            self.call("m.proc.read_bytes", self.m.proc.read_bytes, path, off, n,
                      expect=(SyscallError, ValueError) if n is None else (SyscallError,))
        else:
            self.call("m.proc.read", self.m.proc.read, path, expect=(SyscallError,))

    # -- kernel API ------------------------------------------------------------------------
    def op_alloc_pages(self, r):
        if len(self.pages) >= MAX_HELD:
            return self.op_free_pages(r)
        order = r.choice([0, 0, 0, 1, 2, 3, r.randrange(4, 11), r.randrange(11, 65), -1,
                          1 << 40])
        if 0 <= order <= 10 and \
                sum(1 << o for _, o, _ in self.pages) + (1 << order) > MAX_HELD_PAGES:
            # held kernel memory the OOM killer cannot take back: with no killable task
            # left, 4.6 panics ("Out of memory and no killable processes")
            return self.op_free_pages(r)
        gfp = r.choice(GFPS)
        invalid = order < 0
        if r.random() < 0.03:
            if not 0 <= order <= 10:
                raise Skip
            va = self.call('getattr(K, "__get_free_pages")', getattr(self.K, "__get_free_pages"),
                           gfp, order, expect=(KernelBug,) if "HIGH" in gfp else (),
                           must_fail="HIGH" in gfp)
            if va:
                self.pages.append(((va - PAGE_OFFSET) >> 12, order, "__GFP_COMP" in gfp))
            return
        pfn = self.call("K.alloc_pages", self.K.alloc_pages, gfp, order,
                        expect=BAD_KAPI if invalid else (), must_fail=invalid)
        if pfn is not None:
            self.pages.append((pfn, order, "__GFP_COMP" in gfp))

    def op_free_pages(self, r):
        if not self.pages:
            raise Skip
        pfn, order, comp = self.pages.pop(r.randrange(len(self.pages)))
        self.call("K.free_pages", self.K.free_pages, pfn, order)
        if r.random() < 0.2:            # an immediate double free
            self.call("K.free_pages", self.K.free_pages, pfn, order, expect=BAD_KAPI,
                      must_fail=True)

    def op_free_pages_bad(self, r):
        kind = r.choice(["pfn", "pfn", "order", "unaligned", "wrong_order", "comp0", "user",
                         "slab"])
        nframes = len(self.m.mem_map.flags)
        if kind == "pfn":
            args = (r.choice([-1, nframes, nframes + 5, 1 << 60]), 0)
        elif kind == "order":
            args = (r.choice(self.pages)[0] if self.pages else 1, r.choice([-1, 11, 64]))
        elif kind == "unaligned":
            held = [h for h in self.pages if h[1] >= 1]
            if not held:
                raise Skip
            pfn, order, _ = r.choice(held)
            args = (pfn + 1, order)
        elif kind == "wrong_order":
            held = [h for h in self.pages if 1 <= h[1] <= 9]
            if not held:
                raise Skip
            pfn, order, _ = r.choice(held)
            args = (pfn, order + r.choice([-1, 1]) if not pfn & (1 << order) else order - 1)
        elif kind == "comp0":
            held = [h for h in self.pages if h[1] >= 1 and h[2]]
            if not held:
                raise Skip
            args = (r.choice(held)[0], 0)
        elif kind == "user":
            pr = self.proc(r)
            if not pr[2]:
                raise Skip
            a = r.choice(pr[2])[0]
            phys = self.call(f"{pr[1]}.access", pr[0].access, a, "r", expect=ACCESS)
            if phys is None:
                raise Skip
            args = (phys >> 12, 0)
        else:
            if not self.objs:
                raise Skip
            args = ((r.choice(self.objs)[0] - PAGE_OFFSET) >> 12, 0)
        self.call("K.free_pages", self.K.free_pages, *args, expect=BAD_KAPI, must_fail=True)

    def op_drain_all_pages(self, r):
        self.call("K.drain_all_pages", self.K.drain_all_pages)

    def op_kmalloc(self, r):
        if len(self.objs) >= MAX_HELD:
            return self.op_kfree(r)
        size = r.choice([0, 1, 8, 24, 100, 256, 1000, 4096, 8192, r.randrange(1, 8193),
                         r.randrange(8193, 1 << 17), 1 << 23, 1 << 40, -1])
        gfp = r.choice(SLAB_GFPS + ["GFP_HIGHUSER"])
        fn = r.choice(["kmalloc", "kzalloc"])
        invalid = size < 0 or gfp == "GFP_HIGHUSER"
        a = self.call(f"K.{fn}", getattr(self.K, fn), size, gfp,
                      expect=BAD_KAPI if invalid else (), must_fail=invalid)
        if a and a > 16:               # not NULL, not ZERO_SIZE_PTR
            self.objs.append((a, size, None, None))

    def _free_obj(self, r, a, cvar, cache):
        if cache is None:
            self.call("K.kfree", self.K.kfree, a)
        else:
            self._cache_call("kmem_cache_free", cvar, cache, a)

    def _cache_call(self, fn, cvar, cache, *args, expect=()):
        """A call with a cache argument logged by its variable name."""
        src_args = ", ".join([cvar] + [_fmt(a) for a in args])
        try:
            ret = getattr(self.K, fn)(cache, *args)
        except expect as e:
            cls = type(e)
            self.lines.append(f"with suppress({EXC_NAMES.get(cls, cls.__name__)}): "
                              f"K.{fn}({src_args})")
            self.expected[f"{self.op}: {cls.__name__}"] += 1
            return None
        except BaseException:
            self.lines.append(f"K.{fn}({src_args})")
            raise
        self.lines.append(f"K.{fn}({src_args})")
        return ret

    def op_kfree(self, r):
        if not self.objs or r.random() < 0.15:
            bad = r.choice([0, 16, PAGE_OFFSET + 8, 1 << 63, PAGE_OFFSET - P])
            self.call("K.kfree", self.K.kfree, bad,
                      expect=() if bad in (0, 16) else BAD_KAPI, must_fail=bad not in (0, 16))
            return
        a, size, cvar, cache = self.objs.pop(r.randrange(len(self.objs)))
        self._free_obj(r, a, cvar, cache)
        if r.random() < 0.2:             # an immediate double free
            if cache is None:
                self.call("K.kfree", self.K.kfree, a, expect=BAD_KAPI, must_fail=True)
            else:
                self._cache_call("kmem_cache_free", cvar, cache, a, expect=BAD_KAPI)

    def op_krealloc(self, r):
        kmallocd = [o for o in self.objs if o[3] is None]
        if r.random() < 0.1:
            a = self.call("K.kmalloc", self.K.kmalloc, 100)
            self.call("K.kfree", self.K.kfree, a)
            self.call("K.krealloc", self.K.krealloc, a, 200, expect=BAD_KAPI, must_fail=True)
            return
        if not kmallocd:
            raise Skip
        o = r.choice(kmallocd)
        size = r.choice([0, 1, 64, 500, 4096, 9000, r.randrange(1, 1 << 16)])
        a = self.call("K.krealloc", self.K.krealloc, o[0], size, expect=(OutOfMemory,))
        if a is None:
            return
        self.objs.remove(o)
        if a > 16:
            self.objs.append((a, size, None, None))

    def op_ksize(self, r):
        if self.objs and r.random() < 0.8:
            a = r.choice(self.objs)[0]
            self.call("K.ksize", self.K.ksize, a)
        else:
            self.call("K.ksize", self.K.ksize, r.choice([PAGE_OFFSET + 8, 1 << 63, 4096]),
                      expect=BAD_KAPI, must_fail=True)

    def op_kernel_rw(self, r):
        if not self.objs:
            raise Skip
        a, size, cvar, cache = r.choice(self.objs)
        usable = self.K.ksize(a) if cache is None else cache.object_size
        if r.random() < 0.1:
            if self.known_issue("slab_overrun"):
                raise Skip
            # past the object's end: 4.6 notices only later (SLUB debug, or an Oops)
            self.call("K.write_kernel", self.K.write_kernel, a + usable,
                      Pattern(bytes([r.randrange(256)]) * 16), expect=BAD_KAPI)
            return
        n = r.randrange(0, max(1, usable) + 1)
        off = r.randrange(0, usable - n + 1) if usable > n else 0
        kind = r.choice(["read", "write", "memset"])
        if kind == "read":
            self.call("K.read_kernel", self.K.read_kernel, a + off, n)
        elif kind == "write":
            self.call("K.write_kernel", self.K.write_kernel, a + off,
                      Pattern(bytes([r.randrange(256)]) * n) if n else b"")
        else:
            if r.random() < 0.05:
                self.call("K.memset", self.K.memset, a, 0, 1 << 40, expect=BAD_KAPI,
                          must_fail=True)
                return
            self.call("K.memset", self.K.memset, a + off, r.randrange(256), n)

    def op_kmem_cache_create(self, r):
        if len(self.caches) >= 8:
            return self.op_kmem_cache_destroy(r)
        size = r.choice([1, 8, 24, 100, 192, 500, 4096, 5000, r.randrange(1, 9000), 0,
                         -1, 1 << 40])
        align = r.choice([0, 0, 8, 64, 4096, 3])
        flags = r.choice(CACHE_FLAGS)
        # 4.6 refuses sizes below sizeof(void *) or above KMALLOC_MAX_SIZE (WARN, NULL)
        invalid = size < 8 or size > 1 << 23 or align == 3
        v = self.var("c")
        c = self.call("K.kmem_cache_create", self.K.kmem_cache_create, f"soak_{v}", size,
                      align, flags, assign=v, expect=BAD_KAPI if invalid else ())
        if c is not None:
            self.caches.append((c, v))

    def op_kmem_cache_alloc(self, r):
        if len(self.objs) >= MAX_HELD:
            return self.op_kfree(r)
        gfp = r.choice(SLAB_GFPS + ["GFP_DMA32"])
        bad = gfp == "GFP_DMA32"
        if self.caches and r.random() < 0.7:
            c, v = r.choice(self.caches)
            a = self._cache_call("kmem_cache_alloc", v, c, gfp,
                                 expect=BAD_KAPI if bad else ())
        else:
            name = r.choice(KERNEL_CACHES)
            c, v = self.m.slab.find_cache(name), repr(name)    # logged by its name
            a = self._cache_call("kmem_cache_alloc", v, c, gfp,
                                 expect=BAD_KAPI if bad else ())
        if a:
            self.objs.append((a, c.object_size, v, c))

    def op_kmem_cache_destroy(self, r):
        if not self.caches:
            self.call("K.kmem_cache_destroy", self.K.kmem_cache_destroy, "kmalloc-64",
                      expect=BAD_KAPI, must_fail=True)
            return
        c, v = self.caches.pop(r.randrange(len(self.caches)))
        for o in [o for o in self.objs if o[3] is c]:
            self.objs.remove(o)
            self._free_obj(r, o[0], o[2], o[3])
        self._cache_call("kmem_cache_destroy", v, c)

    def op_kmem_cache_shrink(self, r):
        if self.caches and r.random() < 0.7:
            c, v = r.choice(self.caches)
            self._cache_call("kmem_cache_shrink", v, c)
        else:
            self.call("K.kmem_cache_shrink", self.K.kmem_cache_shrink,
                      r.choice(KERNEL_CACHES))

    # -- the run ----------------------------------------------------------------------------
    def step(self, op, step_seed):
        self.op = op
        try:
            getattr(self, "op_" + op)(Random(step_seed))
        except Skip:
            self.counts["(skipped)"] += 1
            return
        self.counts[op] += 1

    def teardown(self):
        """Every process exits and the soak gives back what it holds."""
        self.op = "teardown"
        for pr in list(self.procs):
            self.procs.remove(pr)
            self.call(f"{pr[1]}.exit", pr[0].exit)
        for pfn, order, _ in self.pages:
            self.call("K.free_pages", self.K.free_pages, pfn, order)
        self.pages = []
        for a, _, cvar, cache in self.objs:
            self._free_obj(None, a, cvar, cache)
        self.objs = []
        for c, v in self.caches:
            self._cache_call("kmem_cache_destroy", v, c)
        self.caches = []


# kind: weight (a step's op is drawn with these weights)
OPS = {
    "mmap": 14, "munmap": 6, "mprotect": 6, "mremap": 5, "madvise": 5, "mlock": 3,
    "mlock2": 2, "munlock": 2, "mlockall": 1, "munlockall": 1, "msync": 2, "brk": 3,
    "open": 1, "close": 1,
    "touch": 10, "read": 4, "write": 4, "access": 3,
    "spawn": 2, "fork": 2, "exit": 2,
    "sysctl": 3, "proc_read": 6, "clear_refs": 1, "run_for": 1,
    "alloc_pages": 3, "free_pages": 2, "free_pages_bad": 1, "drain_all_pages": 1,
    "kmalloc": 3, "kfree": 2, "krealloc": 1, "ksize": 1, "kernel_rw": 2,
    "kmem_cache_create": 1, "kmem_cache_alloc": 2, "kmem_cache_destroy": 1,
    "kmem_cache_shrink": 1,
}
