"""What a process has resident, read the way a user-space tool reads it: /proc/PID/maps,
/proc/PID/pagemap, /proc/kpageflags and /proc/kpagecount (Documentation/vm/pagemap.txt,
tools/vm/page-types.c). The same functions serve a model process and a process of the
machine we run on: each takes a *source* with one reading interface,

* ``ModelSource`` — a model process (a ``Process``, ``task_struct`` or ``mm_struct`` is
  turned into one by :func:`proc_source`), reading the model's ``m.proc``;
* ``LiveProcess`` (helpers/live.py) — a real process, reading the real /proc.

Without CAP_SYS_ADMIN a pagemap's PFN field reads 0 (and /proc/kpageflags cannot be
opened), so the kpageflags-based columns — zero page, THP, page types, map counts — are
marked unavailable rather than guessed.

>>> r = residency(p)
>>> r.total.present, r.total.exclusive
(16, 16)
>>> print(format_residency(r).splitlines()[0])
pid 1 (prog) on the model (Linux 4.6): 1 mappings, 16 pages, 16 present (64 kB)
"""

import errno
from collections import Counter, namedtuple

import numpy as np

from ..arch.x86.page_types import PAGE_SHIFT
from ..fs.proc.page import decode_kpageflags, KPF_ZERO_PAGE, KPF_THP, KPF_ANON, KPMSIZE
from ..kernel.sched import TaskStruct
from ..mm.mm_types import MmStruct
from ..mm.pagewalk import (PM_ENTRY_BYTES, PM_PFRAME_MASK, PM_SOFT_DIRTY, PM_MMAP_EXCLUSIVE,
                           PM_FILE, PM_SWAP, PM_PRESENT)
from ..process import Process

__all__ = ["Mapping", "ModelSource", "proc_source", "parse_maps", "pagemap_entries",
           "VmaResidency", "Residency", "parse_vmflags", "residency", "page_types", "format_residency",
           "UNAVAILABLE"]

CHUNK = 1 << 16            # pagemap entries read at once (512 KiB)
UNAVAILABLE = None         # a figure the reader's privileges do not let it see


class Mapping(namedtuple("Mapping", "start end perms offset dev inode name")):
    """One line of /proc/PID/maps: [start, end), "rw-p", file offset, "08:01", inode and
    the path or [heap]/[stack]/… ("" for an anonymous mapping)."""

    __slots__ = ()

    @property
    def pages(self) -> int:
        return (self.end - self.start) >> PAGE_SHIFT


def parse_maps(text: str) -> list:
    """The Mappings of a /proc/PID/maps text (4.6's or a newer kernel's: same layout).

    >>> parse_maps("00400000-00401000 r-xp 00000000 08:01 12 /bin/true\\n")[0].name
    '/bin/true'
    """
    out = []
    for line in text.splitlines():
        fields = line.split(None, 5)
        lo, hi = fields[0].split("-")
        out.append(Mapping(int(lo, 16), int(hi, 16), fields[1], int(fields[2], 16),
                           fields[3], int(fields[4]), fields[5] if len(fields) > 5 else ""))
    return out


class ModelSource:
    """The reading interface over a model process: its /proc files from ``m.proc``.

    >>> ModelSource(m, p.pid).kernel
    'the model (Linux 4.6)'
    """

    __slots__ = ("m", "pid")
    kernel = "the model (Linux 4.6)"

    def __init__(self, m, pid: int):
        if pid not in m.tasks:
            raise ValueError(f"no process {pid} on this machine")
        self.m = m
        self.pid = pid

    @property
    def comm(self) -> str:
        return self.m.tasks[self.pid].comm

    def read_maps(self) -> str:
        return self.m.proc.read(f"/proc/{self.pid}/maps")

    def read_smaps(self) -> str:
        return self.m.proc.read(f"/proc/{self.pid}/smaps")

    def read_pagemap(self, vaddr: int, n: int) -> bytes:
        return self.m.proc.read_bytes(f"/proc/{self.pid}/pagemap",
                                      (vaddr >> PAGE_SHIFT) * PM_ENTRY_BYTES,
                                      n * PM_ENTRY_BYTES)

    def read_kpage(self, name: str, pfn: int, n: int) -> bytes:
        """``n`` entries of /proc/kpageflags or /proc/kpagecount from ``pfn``; PermissionError
        for a reader without CAP_SYS_ADMIN (``m.proc.privileged`` False: the file is 0400)."""
        if not self.m.proc.privileged:
            raise PermissionError(errno.EACCES, "Permission denied", f"/proc/{name}")
        return self.m.proc.read_bytes(f"/proc/{name}", pfn * KPMSIZE, n * KPMSIZE)


def parse_vmflags(smaps: str) -> dict:
    """{start address: VmFlags mnemonics} of a /proc/PID/smaps text."""
    out, start = {}, None
    for line in smaps.splitlines():
        head = line.split(" ", 1)[0]
        if "-" in head and not head.endswith(":"):
            start = int(head.split("-")[0], 16)
        elif head == "VmFlags:" and start is not None:
            out[start] = tuple(line.split()[1:])
    return out


def proc_source(obj):
    """The reading interface for ``obj``: a model ``Process``, ``task_struct`` or
    ``mm_struct``, or a source already (ModelSource, LiveProcess, or anything with
    read_maps/read_pagemap/read_kpage).

    :raises TypeError: something else
    :raises ValueError: an mm no task uses
    """
    if isinstance(obj, Process):
        return ModelSource(obj.m, obj.pid)
    if isinstance(obj, TaskStruct):
        if obj.mm is None:
            raise ValueError(f"task {obj.pid} has no mm")
        return ModelSource(obj.mm.machine, obj.pid)
    if isinstance(obj, MmStruct):
        m = obj.machine
        for pid in sorted(m.tasks):
            if m.tasks[pid].mm is obj:
                return ModelSource(m, pid)
        raise ValueError("no task uses this mm_struct")
    if all(hasattr(obj, a) for a in ("read_maps", "read_pagemap", "read_kpage", "pid")):
        return obj
    raise TypeError(f"expected a model Process, task_struct or mm_struct, or a LiveProcess, "
                    f"not {obj!r}")


def pagemap_entries(src, start: int, end: int):
    """The pagemap entries of [start, end) as uint64 arrays of at most CHUNK entries (what
    the kernel does not return — a range above the task size — reads as 0)."""
    vaddr = start
    while vaddr < end:
        n = min(CHUNK, (end - vaddr) >> PAGE_SHIFT)
        data = src.read_pagemap(vaddr, n)
        got = np.frombuffer(data[:len(data) // 8 * 8], dtype="<u8").astype(np.uint64)
        if len(got) < n:
            got = np.concatenate([got, np.zeros(n - len(got), np.uint64)])
        yield vaddr, got
        vaddr += n << PAGE_SHIFT


def _read_kpage(src, name: str, pfns: np.ndarray) -> np.ndarray:
    """The entries of ``name`` for sorted unique ``pfns``, read in runs of consecutive
    frames."""
    out = np.zeros(len(pfns), dtype=np.uint64)
    if not len(pfns):
        return out
    breaks = np.flatnonzero(np.diff(pfns) != 1) + 1
    for lo, hi in zip(np.concatenate([[0], breaks]), np.concatenate([breaks, [len(pfns)]])):
        first = int(pfns[lo])
        data = src.read_kpage(name, first, int(hi - lo))
        vals = np.frombuffer(data[:len(data) // 8 * 8], dtype="<u8")
        out[lo:lo + len(vals)] = vals
    return out


_U = np.uint64


class VmaResidency(namedtuple("VmaResidency", "mapping pages present swapped soft_dirty "
                              "exclusive file zero thp anon shared")):
    """Page counts of one mapping (or of all of them): present, swapped out, soft-dirty
    (bit 55), mapped only here (bit 56), file page or shared anon (bit 61); from
    kpageflags the zero page, THP and anonymous pages, from kpagecount the pages mapped
    more than once. A kpage figure is UNAVAILABLE (None) when the reader cannot see PFNs."""

    __slots__ = ()


class Residency(namedtuple("Residency", "pid comm kernel vmas total page_types "
                           "pfns_visible kpageflags note")):
    """residency()'s result: per-mapping rows, their total, the page-types table
    (kpageflags value → present pages; None when unavailable), whether PFNs were visible
    and kpageflags readable, and a note saying why not."""

    __slots__ = ()


def _zero_row(mp, kpage: bool):
    n = None if not kpage else 0
    return [mp, mp.pages if mp is not None else 0, 0, 0, 0, 0, 0, n, n, n, n]


def residency(proc) -> Residency:
    """The residency breakdown of a model or live process (see the module's docstring).

    >>> residency(p).vmas[0].present
    16

    :param proc: a model ``Process``/``task_struct``/``mm_struct`` or a ``LiveProcess``
    """
    src = proc_source(proc)
    maps = parse_maps(src.read_maps())
    rows, pfn_lists, any_present, any_pfn = [], [], False, False
    for mp in maps:
        r = _zero_row(mp, False)
        pfns = []
        for _, e in pagemap_entries(src, mp.start, mp.end):
            present = (e & _U(PM_PRESENT)) != 0
            r[2] += int(present.sum())
            r[3] += int(((e & _U(PM_SWAP)) != 0).sum())
            r[4] += int(((e & _U(PM_SOFT_DIRTY)) != 0).sum())
            r[5] += int(((e & _U(PM_MMAP_EXCLUSIVE)) != 0).sum())
            r[6] += int(((e & _U(PM_FILE)) != 0).sum())
            p = e[present] & _U(PM_PFRAME_MASK)
            any_present |= bool(present.any())
            any_pfn |= bool(p.any())
            pfns.append(p)
        rows.append(r)
        pfn_lists.append(np.concatenate(pfns) if pfns else np.zeros(0, np.uint64))
    pfns_visible = any_pfn or not any_present
    kflags = kcount = None
    note = ""
    if not pfns_visible:
        note = ("PFNs read 0 (the reader lacks CAP_SYS_ADMIN): zero-page, THP, anon, shared "
                "and page-types figures are unavailable")
    else:
        allp = np.unique(np.concatenate(pfn_lists)) if pfn_lists else np.zeros(0, np.uint64)
        try:
            kflags = _read_kpage(src, "kpageflags", allp)
            kcount = _read_kpage(src, "kpagecount", allp)
        except OSError as e:
            note = (f"/proc/kpageflags cannot be read ({e.strerror}): zero-page, THP, anon, "
                    f"shared and page-types figures are unavailable")
            kflags = kcount = None
    types = None
    if kflags is not None:
        types = Counter()
        for r, p in zip(rows, pfn_lists):
            idx = np.searchsorted(allp, p)
            f, c = kflags[idx], kcount[idx]
            r[7] = int(((f >> _U(KPF_ZERO_PAGE)) & _U(1)).sum())
            r[8] = int(((f >> _U(KPF_THP)) & _U(1)).sum())
            r[9] = int(((f >> _U(KPF_ANON)) & _U(1)).sum())
            r[10] = int((c > 1).sum())
            vals, counts = np.unique(f, return_counts=True)
            for v, n in zip(vals.tolist(), counts.tolist()):
                types[v] += n
    vmas = [VmaResidency(*r) for r in rows]
    total = [None, sum(v.pages for v in vmas)]
    for i in range(2, 11):
        col = [v[i] for v in vmas]
        total.append(None if kflags is None and i >= 7 else sum(col))
    return Residency(src.pid, src.comm, src.kernel, vmas, VmaResidency(*total), types,
                     pfns_visible, kflags is not None, note)


def page_types(proc) -> list:
    """tools/vm/page-types -p PID's table: (kpageflags value, present pages, KPF names) per
    distinct value, most pages first; None when kpageflags cannot be read.

    >>> page_types(p)[0][2]
    ['UPTODATE', 'LRU', 'ACTIVE', 'MMAP', 'ANON', 'SWAPBACKED']
    """
    r = proc if isinstance(proc, Residency) else residency(proc)
    if r.page_types is None:
        return None
    return [(v, n, decode_kpageflags(v))
            for v, n in sorted(r.page_types.items(), key=lambda t: (-t[1], t[0]))]


def _kb(pages) -> str:
    return "-" if pages is None else str(pages << PAGE_SHIFT >> 10)


def format_residency(r: Residency, max_rows: int = None) -> str:
    """The report ``linuxvm live PID`` prints: a summary line, one row per mapping (kB),
    the total, and the page-types table."""
    t = r.total
    out = [f"pid {r.pid} ({r.comm}) on {r.kernel}: {len(r.vmas)} mappings, {t.pages} pages, "
           f"{t.present} present ({_kb(t.present)} kB)"]
    if r.note:
        out.append(f"note: {r.note}")
    hdr = (f"{'START':>16} {'END':>16} PERM {'SIZE':>9} {'RSS':>8} {'SWAP':>7} {'SDIRTY':>7} "
           f"{'EXCL':>8} {'FILE':>8} {'ZERO':>6} {'THP':>8} {'ANON':>8} {'SHARED':>7}  NAME")
    out.append("(kB)")
    out.append(hdr)
    rows = r.vmas if max_rows is None else r.vmas[:max_rows]
    for v in rows:
        mp = v.mapping
        out.append(f"{mp.start:16x} {mp.end:16x} {mp.perms} {_kb(v.pages):>9} "
                   f"{_kb(v.present):>8} {_kb(v.swapped):>7} {_kb(v.soft_dirty):>7} "
                   f"{_kb(v.exclusive):>8} {_kb(v.file):>8} {_kb(v.zero):>6} {_kb(v.thp):>8} "
                   f"{_kb(v.anon):>8} {_kb(v.shared):>7}  {mp.name}".rstrip())
    if len(rows) < len(r.vmas):
        out.append(f"... {len(r.vmas) - len(rows)} more mappings")
    out.append(f"{'total':>33} {_kb(t.pages):>9} {_kb(t.present):>8} {_kb(t.swapped):>7} "
               f"{_kb(t.soft_dirty):>7} {_kb(t.exclusive):>8} {_kb(t.file):>8} "
               f"{_kb(t.zero):>6} {_kb(t.thp):>8} {_kb(t.anon):>8} {_kb(t.shared):>7}")
    out.append("")
    types = page_types(r)
    if types is None:
        out.append("page types: unavailable (kpageflags needs CAP_SYS_ADMIN and visible PFNs)")
    else:
        out.append(f"{'flags':>18} {'page-count':>10} {'MB':>8}  symbolic-flags")
        for v, n, names in types:
            out.append(f"{v:#018x} {n:10d} {n << PAGE_SHIFT >> 20:8d}  "
                       f"{','.join(names).lower() or '-'}")
    return "\n".join(out) + "\n"
