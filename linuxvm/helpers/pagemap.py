"""Decoding the binary /proc files: pagemap, kpageflags and kpagecount entries as tables
(the formats of Documentation/vm/pagemap.txt in 4.6).

>>> print(format_kpageflags(m.proc.read_bytes("/proc/kpageflags", 0, 16), 0), end="")
PFN                 KPAGEFLAGS          FLAGS
0x0000000000000000  0x0000000100000000  RESERVED
0x0000000000000001  0x0000000100000000  RESERVED
"""

import struct

from ..fs.proc.page import decode_kpageflags, KPMSIZE
from ..mm.pagewalk import (PM_ENTRY_BYTES, PM_PFRAME_MASK, PM_SOFT_DIRTY, PM_MMAP_EXCLUSIVE,
                           PM_FILE, PM_SWAP, PM_PRESENT)
from ..arch.x86.page_types import PAGE_SHIFT
from ..arch.x86.pgtable import MAX_SWAPFILES_SHIFT

PM_FLAG_NAMES = [(PM_SOFT_DIRTY, "soft-dirty"), (PM_MMAP_EXCLUSIVE, "exclusive"),
                 (PM_FILE, "file/shared")]


def decode_pagemap_entry(value: int) -> dict:
    """The fields of one /proc/PID/pagemap entry.

    >>> decode_pagemap_entry(0x8180000000012345)["pfn"]
    74565

    Bits 0-54 are the PFN of a present page (0 for a reader without CAP_SYS_ADMIN), or of a
    swapped one the swap type (bits 0-4) and offset (bits 5-54); bit 55 soft-dirty, 56
    exclusively mapped, 61 file page or shared anon, 62 swapped, 63 present.
    """
    present = bool(value & PM_PRESENT)
    swapped = bool(value & PM_SWAP)
    frame = value & PM_PFRAME_MASK
    return {"present": present, "swapped": swapped,
            "pfn": frame if present else None,
            "swap_type": frame & ((1 << MAX_SWAPFILES_SHIFT) - 1) if swapped else None,
            "swap_offset": frame >> MAX_SWAPFILES_SHIFT if swapped else None,
            "soft_dirty": bool(value & PM_SOFT_DIRTY),
            "exclusive": bool(value & PM_MMAP_EXCLUSIVE),
            "file": bool(value & PM_FILE)}


def _u64s(data: bytes) -> list:
    return list(struct.unpack(f"<{len(data) // 8}Q", data[:len(data) // 8 * 8]))


def pagemap_lines(data: bytes, first_vaddr: int) -> list:
    """One table row per entry of ``data`` (pagemap bytes read at the entry of
    ``first_vaddr``)."""
    out = []
    for i, v in enumerate(_u64s(data)):
        e = decode_pagemap_entry(v)
        if e["present"]:
            where = f"pfn {e['pfn']:#x}"
        elif e["swapped"]:
            where = f"swap {e['swap_type']}:{e['swap_offset']:#x}"
        else:
            where = "-"
        flags = ",".join(n for bit, n in PM_FLAG_NAMES if v & bit) or "-"
        out.append(f"{first_vaddr + (i << PAGE_SHIFT):#018x}  {v:#018x}  "
                   f"{int(e['present'])}       {int(e['swapped'])}       {where:<24}  {flags}")
    return out


PAGEMAP_HEADER = ("VADDR               ENTRY               PRESENT SWAPPED PFN/SWAP(type:offset)"
                  "     FLAGS")


def maps_ranges(procfs, pid) -> list:
    """The (start, end) of each mapping of ``pid``, from /proc/PID/maps."""
    out = []
    for line in procfs.read(f"/proc/{pid}/maps").splitlines():
        lo, hi = line.split()[0].split("-")
        out.append((int(lo, 16), int(hi, 16)))
    return out


def format_pagemap(procfs, path: str, ranges, max_entries: int = None) -> str:
    """A table of the pagemap entries of each (start, end) virtual range in ``ranges``,
    at most ``max_entries`` rows in all (a last line says how many were left out)."""
    lines = [PAGEMAP_HEADER]
    left = max_entries
    skipped = 0
    for start, end in ranges:
        n = (end - start) >> PAGE_SHIFT
        take = n if left is None else min(n, left)
        if take:
            data = procfs.read_bytes(path, (start >> PAGE_SHIFT) * PM_ENTRY_BYTES,
                                     take * PM_ENTRY_BYTES)
            lines += pagemap_lines(data, start)
        if left is not None:
            left -= take
        skipped += n - take
    if skipped:
        lines.append(f"... {skipped} more entries (use --bytes)")
    return "\n".join(lines) + "\n"


def format_kpageflags(data: bytes, first_pfn: int) -> str:
    """A table of /proc/kpageflags entries: PFN, the value and its KPF_* names."""
    lines = ["PFN                 KPAGEFLAGS          FLAGS"]
    for i, v in enumerate(_u64s(data)):
        names = " ".join(decode_kpageflags(v)) or "-"
        lines.append(f"{first_pfn + i:#018x}  {v:#018x}  {names}")
    return "\n".join(lines) + "\n"


def format_kpagecount(data: bytes, first_pfn: int) -> str:
    """A table of /proc/kpagecount entries: PFN and the map count (signed: a free buddy
    head reads -127 in 4.6)."""
    lines = ["PFN                 COUNT"]
    for i, v in enumerate(_u64s(data)):
        signed = v - (1 << 64) if v >> 63 else v
        lines.append(f"{first_pfn + i:#018x}  {signed}")
    return "\n".join(lines) + "\n"



def format_binary(procfs, path: str, offset: int = None, nbytes: int = None) -> str:
    """A binary /proc file as a table: a pagemap's entries for the task's mappings (or for
    ``nbytes`` at ``offset``), kpageflags with KPF names, kpagecount; another binary file
    as hex u64s. ``nbytes`` defaults to 64 (8 entries); a pagemap read by mapping shows at
    most 1024 entries unless ``nbytes`` says otherwise.

    >>> print(format_binary(m.proc, "/proc/kpagecount", 8 * 4096, 8), end="")
    PFN                 COUNT
    0x0000000000001000  0
    """
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if name == "pagemap":
        if offset is None:
            pid = path.split("/")[2]
            limit = nbytes // PM_ENTRY_BYTES if nbytes is not None else 1024
            return format_pagemap(procfs, path, maps_ranges(procfs, pid), limit)
        first = offset // PM_ENTRY_BYTES << PAGE_SHIFT
        n = (nbytes if nbytes is not None else 64) // PM_ENTRY_BYTES
        return format_pagemap(procfs, path, [(first, first + (n << PAGE_SHIFT))])
    offset = offset or 0
    data = procfs.read_bytes(path, offset, nbytes if nbytes is not None else 64)
    if name == "kpageflags":
        return format_kpageflags(data, offset // KPMSIZE)
    if name == "kpagecount":
        return format_kpagecount(data, offset // KPMSIZE)
    return "\n".join(f"{v:#018x}" for v in _u64s(data)) + "\n"
