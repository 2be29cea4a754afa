"""The residency helpers over a process of the machine we run on, and a live process's
shape as the start of a model run.

``LiveProcess(pid)`` reads the real /proc/PID/maps, /proc/PID/pagemap, /proc/kpageflags
and /proc/kpagecount through the same reading interface as a model process
(helpers/residency.py), so ``residency(LiveProcess(pid))`` and ``residency(p)`` are the same
code. ``snapshot(pid)`` records a live process's mappings (ranges, permissions, kind, file
names) and resident pages; ``spawn_from_snapshot(m, snap)`` builds a model process with
those mappings at the same addresses and touches the same pages, so a what-if run can
start from a real process's shape.

>>> with LiveProcess(os.getpid()) as me:
...     r = residency(me)
>>> r.kernel.startswith("this machine")
True
"""

import errno
import os
from collections import namedtuple

import numpy as np

from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from ..errors import SyscallError, Signal
from ..fs.proc.page import KPF_ZERO_PAGE, KPF_THP, KPMSIZE
from ..mm.mman import (PROT_READ, PROT_WRITE, PROT_EXEC, PROT_NONE, MAP_PRIVATE, MAP_SHARED,
                       MAP_ANONYMOUS, MAP_FIXED, MAP_NORESERVE, MADV_HUGEPAGE,
                       MADV_NOHUGEPAGE, MADV_DONTFORK, MADV_DONTDUMP, MADV_DONTNEED,
                       MREMAP_MAYMOVE, MREMAP_FIXED)
from ..mm.pagewalk import PM_ENTRY_BYTES, PM_PFRAME_MASK, PM_FILE, PM_PRESENT, PM_SWAP
from .residency import (parse_maps, parse_vmflags, pagemap_entries, proc_source,
                        _read_kpage)

__all__ = ["LiveProcess", "SnapVma", "Snapshot", "snapshot", "SeedResult",
           "spawn_from_snapshot", "SPECIAL_NAMES"]

# mappings the kernel makes for itself: not re-created in a model process
SPECIAL_NAMES = ("[vvar]", "[vvar_vclock]", "[vdso]", "[vsyscall]", "[uprobes]")
O_RDONLY, O_RDWR = 0, 2
# smaps VmFlags mnemonics a madvise() gives a model mapping
VMFLAG_ADVICE = (("hg", MADV_HUGEPAGE), ("nh", MADV_NOHUGEPAGE), ("dc", MADV_DONTFORK),
                 ("dd", MADV_DONTDUMP))


class LiveProcess:
    """A process of this machine, read through its /proc files (the reading interface of
    helpers/residency.py). PFNs read 0 and kpageflags cannot be opened without
    CAP_SYS_ADMIN; the residency helpers then mark those figures unavailable.

    >>> LiveProcess(os.getpid()).comm
    'python'

    :param pid: a process id of this machine
    :param proc: where procfs is mounted
    :raises ProcessLookupError: no such process
    """

    def __init__(self, pid: int, proc: str = "/proc"):
        if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
            raise TypeError(f"pid must be a positive int, not {pid!r}")
        self.pid = pid
        self.proc = proc
        if not os.path.isdir(f"{proc}/{pid}"):
            raise ProcessLookupError(errno.ESRCH, f"no process {pid}")
        self._fds = {}
        self.kernel = f"this machine (Linux {os.uname().release})"

    def __repr__(self):
        return f"<LiveProcess {self.pid}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Close the /proc files held open."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def _fd(self, path: str) -> int:
        fd = self._fds.get(path)
        if fd is None:
            fd = self._fds[path] = os.open(path, os.O_RDONLY)
        return fd

    @property
    def comm(self) -> str:
        with open(f"{self.proc}/{self.pid}/comm") as f:
            return f.read().rstrip("\n")

    def read_maps(self) -> str:
        with open(f"{self.proc}/{self.pid}/maps") as f:
            return f.read()

    def read_smaps(self) -> str:
        with open(f"{self.proc}/{self.pid}/smaps") as f:
            return f.read()

    def read_pagemap(self, vaddr: int, n: int) -> bytes:
        """``n`` pagemap entries from ``vaddr`` (fewer where the kernel stops: the task
        size)."""
        return os.pread(self._fd(f"{self.proc}/{self.pid}/pagemap"), n * PM_ENTRY_BYTES,
                        (vaddr >> PAGE_SHIFT) * PM_ENTRY_BYTES)

    def read_kpage(self, name: str, pfn: int, n: int) -> bytes:
        """``n`` entries of /proc/kpageflags or /proc/kpagecount from ``pfn``.

        :raises PermissionError: the reader lacks CAP_SYS_ADMIN (the files are 0400 root)
        """
        return os.pread(self._fd(f"{self.proc}/{name}"), n * KPMSIZE, pfn * KPMSIZE)


# -- snapshots ------------------------------------------------------------------------------

TOUCH_READ, TOUCH_WRITE = 1, 2


class SnapVma(namedtuple("SnapVma", "start end perms offset name kind resident touch "
                         "swapped thp vmflags")):
    """One mapping of a snapshot: [start, end), "rw-p", file offset, name, kind ("anon",
    "file", "shared-anon", "heap", "stack" or "special"), the resident pages (page
    indices into the mapping), how the model should touch each (TOUCH_READ: page cache or
    zero page; TOUCH_WRITE: an anonymous page), the pages swapped out, the THP pages and
    the smaps VmFlags mnemonics ("nr", "hg", "dc", … : flags maps does not show)."""

    __slots__ = ()

    @property
    def pages(self) -> int:
        return (self.end - self.start) >> PAGE_SHIFT

    @property
    def prot(self) -> int:
        p = self.perms
        return ((PROT_READ if p[0] == "r" else 0) | (PROT_WRITE if p[1] == "w" else 0)
                | (PROT_EXEC if p[2] == "x" else 0)) or PROT_NONE

    @property
    def shared(self) -> bool:
        return self.perms[3] == "s"


Snapshot = namedtuple("Snapshot", "pid comm kernel vmas exact_touch note")
Snapshot.__doc__ = """A process's shape: its SnapVmas; ``exact_touch`` says whether the zero
page could be told from anonymous pages (kpageflags readable), ``note`` why not."""


def _kind(name: str) -> str:
    if name in SPECIAL_NAMES:
        return "special"
    if name == "[heap]":
        return "heap"
    if name.startswith("[stack"):
        return "stack"
    if name.startswith("/") and not name.endswith(" (deleted)") and \
            not name.startswith(("/dev/", "/proc/", "/sys/", "/memfd:", "/SYSV")):
        return "file"
    return "anon"


def snapshot(proc) -> Snapshot:
    """The mappings and resident pages of a live process (a pid or a LiveProcess) or of a
    model process (anything residency() takes).

    >>> snap = snapshot(os.getpid())
    >>> sum(len(v.resident) for v in snap.vmas) > 0
    True
    """
    own = isinstance(proc, int) and not isinstance(proc, bool)
    src = LiveProcess(proc) if own else proc_source(proc)
    try:
        return _snapshot(src)
    finally:
        if own:
            src.close()


def _snapshot(src) -> Snapshot:
    vmas, per_vma = [], []
    any_pfn = False
    maps = parse_maps(src.read_maps())
    vmflags = parse_vmflags(src.read_smaps()) if hasattr(src, "read_smaps") else {}
    for mp in maps:
        kind = _kind(mp.name)
        if kind == "anon" and mp.perms[3] == "s":
            kind = "shared-anon"
        idx, vals, swapped = [], [], 0
        for vaddr, e in pagemap_entries(src, mp.start, mp.end):
            present = np.flatnonzero(e & np.uint64(PM_PRESENT))
            idx.append(present + ((vaddr - mp.start) >> PAGE_SHIFT))
            vals.append(e[present])
            swapped += int(((e & np.uint64(PM_SWAP)) != 0).sum())
        idx = np.concatenate(idx) if idx else np.zeros(0, np.int64)
        vals = np.concatenate(vals) if vals else np.zeros(0, np.uint64)
        any_pfn |= bool((vals & np.uint64(PM_PFRAME_MASK)).any())
        per_vma.append((mp, kind, idx, vals, swapped))
    kflags = None
    note = ""
    if any_pfn:
        pfns = np.unique(np.concatenate([v[3] for v in per_vma]) & np.uint64(PM_PFRAME_MASK))
        try:
            kflags = (pfns, _read_kpage(src, "kpageflags", pfns))
        except OSError as e:
            note = f"/proc/kpageflags cannot be read ({e.strerror})"
    else:
        note = "PFNs read 0 (no CAP_SYS_ADMIN)"
    if note:
        note += ": zero-page reads are taken for anonymous pages, THP pages for small ones"
    for mp, kind, idx, vals, swapped in per_vma:
        touch = np.full(len(idx), TOUCH_READ, np.uint8)
        thp = 0
        if kind in ("anon", "heap", "stack") or (kind == "file" and mp.perms[3] == "p"):
            anon = (vals & np.uint64(PM_FILE)) == 0
            if kflags is not None:
                f = kflags[1][np.searchsorted(kflags[0], vals & np.uint64(PM_PFRAME_MASK))]
                anon &= ((f >> np.uint64(KPF_ZERO_PAGE)) & np.uint64(1)) == 0
                thp = int(((f >> np.uint64(KPF_THP)) & np.uint64(1)).sum())
            touch[anon] = TOUCH_WRITE
        elif kflags is not None:
            f = kflags[1][np.searchsorted(kflags[0], vals & np.uint64(PM_PFRAME_MASK))]
            thp = int(((f >> np.uint64(KPF_THP)) & np.uint64(1)).sum())
        vmas.append(SnapVma(mp.start, mp.end, mp.perms, mp.offset, mp.name, kind,
                            idx.astype(np.int64), touch, swapped, thp,
                            vmflags.get(mp.start, ())))
    return Snapshot(src.pid, src.comm, src.kernel, vmas, kflags is not None, note)


# -- seeding a model process ----------------------------------------------------------------

SeedResult = namedtuple("SeedResult", "process mapped skipped as_anon notes")
SeedResult.__doc__ = """spawn_from_snapshot's result: the model Process, the SnapVmas mapped,
those skipped (the kernel's own: vdso, vvar, vsyscall), the file mappings made anonymous
(with the reason), and notes on what was not reproduced."""


def _runs(idx: np.ndarray, touch: np.ndarray):
    """(first page, page count, touch) of each run of consecutive pages touched alike."""
    if not len(idx):
        return
    cut = np.flatnonzero((np.diff(idx) != 1) | (np.diff(touch) != 0)) + 1
    starts = np.concatenate([[0], cut])
    ends = np.concatenate([cut, [len(idx)]])
    for s, e in zip(starts.tolist(), ends.tolist()):
        yield int(idx[s]), e - s, int(touch[s])


def _model_file(m, p, path: str, size: int, shared_write: bool):
    """An fd of the model file ``path``, made (sparse, zeros) or grown to ``size``."""
    if path not in m.fs.files:
        m.fs.create(path, size, mode=0o755)
    fd = p.open(path, O_RDWR if shared_write else O_RDONLY)
    if m.fs.files[path].i_size < size:
        fd2 = p.open(path, O_RDWR)
        p.ftruncate(fd2, size)
        p.close(fd2)
    return fd


def spawn_from_snapshot(m, snap: Snapshot, files: str = "create", comm: str = None,
                        uid: int = 0) -> SeedResult:
    """A model process with the snapshot's mappings at the same addresses and its resident
    pages touched. File mappings map model files of the same path, made sparse (zeros) and
    as long as the mappings need (``files="create"``), or become anonymous mappings
    (``files="anon"``); a file the model cannot map that way becomes anonymous too (the
    result says which). [heap] and [stack] are anonymous mappings named as before (the
    mm's brk range and start_stack are set to them, as execve sets them); the kernel's own
    mappings ([vdso], [vvar], [vsyscall]) are left out. Pages swapped out live are not
    reproduced; with kpageflags readable, zero-page reads stay reads and mappings holding
    THPs are advised MADV_HUGEPAGE first.

    >>> seeded = spawn_from_snapshot(m, snapshot(pid))
    >>> len(seeded.mapped) == len(snapshot(pid).vmas) - len(seeded.skipped)
    True

    :raises ValueError: ``files`` is neither "create" nor "anon"
    """
    if files not in ("create", "anon"):
        raise ValueError(f"files must be 'create' or 'anon', not {files!r}")
    p = m.spawn((comm or snap.comm)[:15], uid=uid)
    mapped, as_anon, notes = [], [], []
    sizes = {}
    for v in snap.vmas:
        if v.kind == "file":
            sizes[v.name] = max(sizes.get(v.name, 0), v.offset + (v.end - v.start))
    vmas = [v for v in snap.vmas if v.kind != "special"]
    skipped = [v for v in snap.vmas if v.kind == "special"]
    # neighbours the model would merge but the live kernel kept apart (their anon_vmas
    # differ) get an anon_vma each, the second one away from its place, then moved there
    apart = [i > 0 and _would_merge(vmas[i - 1], v, files) for i, v in enumerate(vmas)]
    for i, v in enumerate(vmas):
        flags = (MAP_SHARED if v.shared else MAP_PRIVATE)
        if "nr" in v.vmflags:
            flags |= MAP_NORESERVE
        # a read-only private mapping that was writable once (a RELRO region: VmFlags
        # "ac", anonymous pages under r--p) is mapped writable, written, then protected,
        # as ld.so does, so that it is accounted and one mapping as it was live
        prot = v.prot
        if not v.shared and not prot & PROT_WRITE and (
                "ac" in v.vmflags or (v.touch == TOUCH_WRITE).any()):
            prot |= PROT_WRITE
        own = apart[i] or (i + 1 < len(vmas) and apart[i + 1])
        if own and not prot & PROT_WRITE:
            notes.append(f"{v.start:#x}-{v.end:#x}: not writable, so it cannot be kept "
                         f"apart from its neighbour")
            own = False
        at = None if own and apart[i] else v.start
        addr = _map_one(m, p, v, prot, flags, at, files, sizes, as_anon, notes)
        if own:
            p.touch(addr, PAGE_SIZE, write=True)        # anon_vma_prepare
            p.madvise(addr, PAGE_SIZE, MADV_DONTNEED)
            if addr != v.start:
                p.mremap(addr, v.end - v.start, v.end - v.start,
                         MREMAP_MAYMOVE | MREMAP_FIXED, v.start)
        if v.kind == "heap":
            p.mm.start_brk, p.mm.brk = v.start, v.end
        elif v.kind == "stack":
            p.mm.start_stack = v.end - PAGE_SIZE
        mapped.append(v)
        if v.swapped:
            notes.append(f"{v.start:#x}-{v.end:#x}: {v.swapped} pages swapped out live are "
                         f"not reproduced")
        for name, advice in VMFLAG_ADVICE:
            if name in v.vmflags:
                p.madvise(v.start, v.end - v.start, advice)
        if v.thp and not v.shared and "hg" not in v.vmflags and "nh" not in v.vmflags:
            p.madvise(v.start, v.end - v.start, MADV_HUGEPAGE)
            notes.append(f"{v.start:#x}-{v.end:#x}: advised MADV_HUGEPAGE for its "
                         f"{v.thp} THP pages")
        _touch(p, v, notes)
        if prot != v.prot:
            p.mprotect(v.start, v.end - v.start, v.prot)
        if "lo" in v.vmflags:
            p.mlock(v.start, v.end - v.start)
    n_model = len(p.m.proc.read(f"/proc/{p.pid}/maps").splitlines())
    if n_model != len(mapped):
        notes.append(f"{len(mapped)} mappings became {n_model} in the model: neighbours "
                     f"that differ only in what maps and VmFlags do not show (their "
                     f"anon_vma) merged")
    if snap.note:
        notes.append(snap.note)
    return SeedResult(p, mapped, skipped, as_anon, notes)


def _would_merge(prev: SnapVma, v: SnapVma, files: str) -> bool:
    """Whether the model's vma_merge would join ``v`` to ``prev`` when both are fresh."""
    if prev.end != v.start or prev.perms != v.perms or prev.vmflags != v.vmflags or \
            v.shared:
        return False
    pfile = prev.kind == "file" and files == "create"
    vfile = v.kind == "file" and files == "create"
    if pfile != vfile:
        return False
    return not vfile or (prev.name == v.name and
                         v.offset == prev.offset + (prev.end - prev.start))


def _map_one(m, p, v: SnapVma, prot: int, flags: int, at, files, sizes, as_anon, notes):
    """Map ``v`` at ``at`` (MAP_FIXED), or anywhere for None; the address."""
    if at is not None:
        flags |= MAP_FIXED
    length = v.end - v.start
    if v.kind == "file" and files == "create":
        try:
            fd = _model_file(m, p, v.name, sizes[v.name], v.shared and "w" in v.perms)
            try:
                return p.mmap(at, length, prot, flags, fd, v.offset)
            finally:
                p.close(fd)
        except (SyscallError, ValueError) as e:
            as_anon.append((v, f"{e}"))
    elif v.kind == "file":
        as_anon.append((v, "files='anon'"))
    try:
        return p.mmap(at, length, prot, flags | MAP_ANONYMOUS)
    except SyscallError as e:
        if e.errno != errno.ENOMEM:
            raise
    notes.append(f"{v.start:#x}-{v.end:#x} mapped MAP_NORESERVE (the model would not "
                 f"commit it)")
    return p.mmap(at, length, prot, flags | MAP_ANONYMOUS | MAP_NORESERVE)


def _touch(p, v: SnapVma, notes: list) -> None:
    """Touch the resident pages of ``v``; then, under a file or shared mapping, zap the
    pages the read faults' fault-around mapped beside them (do_fault_around maps pages
    already in the page cache), which were not resident live."""
    for first, n, how in _runs(v.resident, v.touch):
        a = v.start + (first << PAGE_SHIFT)
        length = n << PAGE_SHIFT
        try:
            p.touch(a, length, write=how == TOUCH_WRITE)
        except (Signal, SyscallError) as e:
            notes.append(f"{a:#x}+{length:#x}: touch failed ({e})")
    if v.kind == "file" or v.shared:
        edges = np.concatenate([[-1], v.resident, [v.pages]])
        for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist()):
            if hi - lo > 1:
                p.madvise(v.start + ((lo + 1) << PAGE_SHIFT), (hi - lo - 1) << PAGE_SHIFT,
                          MADV_DONTNEED)
