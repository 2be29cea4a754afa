"""``vtop``: translate a virtual address by walking an mm's tables, crash-style, showing
every level's entry, the frame and its struct page flags."""

from ..arch.x86.page_types import PAGE_OFFSET
from ..arch.x86.pgtable import (read_table, decode_entry, pgd_index, pud_index, pmd_index,
                                pte_index, pte_present, pte_none)
from ..arch.x86.pgtable_types import (_PAGE_PRESENT, _PAGE_PSE, PTE_PFN_MASK,
                                      PHYSICAL_PMD_PAGE_MASK, PHYSICAL_PUD_PAGE_MASK)
from ..mm.mm_types import MmStruct
from ..mm.page import decode_page_flags

LEVELS = (("PGD", 39, pgd_index), ("PUD", 30, pud_index), ("PMD", 21, pmd_index),
          ("PTE", 12, pte_index))


class VtopResult:
    """The walk: ``steps`` = [(level, table_pfn, index, entry)], ``phys`` (None when not
    mapped), ``page_size``, ``pfn`` and its struct page flags text."""

    __slots__ = ("addr", "steps", "phys", "page_size", "pfn", "page_flags", "reason")

    def __init__(self, addr):
        self.addr = addr
        self.steps = []
        self.phys = None
        self.page_size = 0
        self.pfn = None
        self.page_flags = ""
        self.reason = ""

    def __str__(self):
        a = self.addr
        out = [f"VIRTUAL           PHYSICAL",
               f"{a:<16x}  " + (f"{self.phys:x}" if self.phys is not None
                                 else f"({self.reason})"), ""]
        for lvl, tpfn, idx, e in self.steps:
            vaddr = PAGE_OFFSET + (tpfn << 12) + idx * 8
            out.append(f"{lvl:>5}: {vaddr:x} => {e:x}  {decode_entry(e, lvl.lower())}")
        if self.pfn is not None:
            out.append("")
            out.append(f" PAGE: {self.pfn << 12:x}" + (f"  ({self.page_size >> 20}MB)"
                                                      if self.page_size > 4096 else ""))
            out.append(f"  PFN: {self.pfn:#x}  flags: {self.page_flags}")
        return "\n".join(out) + "\n"


def vtop(mm, addr: int) -> VtopResult:
    """Walk ``mm``'s page tables for ``addr`` (crash's ``vtop``); never changes state.

    >>> print(vtop(m.init_mm, 0xffff880000001000), end="")
    VIRTUAL           PHYSICAL
    ffff880000001000  1000
    <BLANKLINE>
      PGD: ffff880001b00880 => 1f23067  (PRESENT|RW|USER|ACCESSED|DIRTY)
      PUD: ffff880001f23000 => 1f24067  (PRESENT|RW|USER|ACCESSED|DIRTY)
      PMD: ffff880001f24000 => 1f25067  (PRESENT|RW|USER|ACCESSED|DIRTY)
      PTE: ffff880001f25008 => 8000000000001163  (PRESENT|RW|ACCESSED|DIRTY|GLOBAL|NX)
    <BLANKLINE>
     PAGE: 1000
      PFN: 0x1  flags: 0x400(reserved)

    :param mm: ``struct mm_struct *`` (``m.init_mm`` for kernel addresses)
    :param addr: virtual address
    :raises TypeError: ``mm`` is not an mm_struct (None: an exited process has no mm)
    :raises ValueError: ``addr`` is not a 64-bit value
    """
    if not isinstance(mm, MmStruct):
        hint = " (an exited process or a kernel thread has no mm)" if mm is None else ""
        raise TypeError(f"mm must be an mm_struct, not {mm!r}{hint}")
    if isinstance(addr, bool) or not isinstance(addr, int) or not 0 <= addr < 1 << 64:
        raise ValueError(f"address {addr!r} is not a 64-bit value")
    m = mm.machine
    r = VtopResult(addr)
    pfn = mm.pgd
    for lvl, shift, index in LEVELS:
        if pfn not in m.pgtables:
            r.reason = f"{lvl} table frame {pfn:#x} holds no table"
            return r
        i = index(addr)
        e = read_table(m, pfn)[i]
        r.steps.append((lvl, pfn, i, e))
        if lvl == "PTE":
            if not e & _PAGE_PRESENT:
                r.reason = "not mapped" if pte_none(e) else (
                    "PROT_NONE" if pte_present(e) else "swapped or migrating")
                return r
            r.page_size = 1 << 12
            base = e & PTE_PFN_MASK
            break
        if not e & _PAGE_PRESENT:
            r.reason = "not mapped"
            return r
        if e & _PAGE_PSE and lvl in ("PUD", "PMD"):
            mask = PHYSICAL_PUD_PAGE_MASK if lvl == "PUD" else PHYSICAL_PMD_PAGE_MASK
            r.page_size = 1 << shift
            base = e & mask
            break
        pfn = (e & PTE_PFN_MASK) >> 12
    r.phys = base | (addr & (r.page_size - 1))
    r.pfn = r.phys >> 12
    if m.pfn_valid(r.pfn):
        r.page_flags = decode_page_flags(int(m.mem_map.flags[r.pfn]))
    else:
        r.page_flags = "(no struct page)"
    return r
