"""Page-table parts of mm/memory.c: building the path on demand, walking it, freeing
page tables (free_pgtables) and zapping ranges through an mmu_gather
(include/asm-generic/tlb.h, arch/x86/include/asm/tlb.h).

Interface (stable; ``m`` is the machine, ``mm`` an MmStruct, pointers are
``(table_pfn, index)`` pairs as in arch/x86/pgtable.py):

* ``__pud_alloc / __pmd_alloc / __pte_alloc`` -> 0 or -ENOMEM, and the wrappers
  ``pud_alloc(m, mm, pgd_ptr, addr)``, ``pmd_alloc(m, mm, pud_ptr, addr)``,
  ``pte_alloc(m, mm, pmd_ptr, addr)`` returning the next pointer or None.
* ``pte_alloc_map(m, mm, addr) -> (pte_table_pfn, index) | None``: the whole path.
* ``walk(mm, va) -> (level, entry)`` with level "pgd"/"pud"/"pmd"/"pte" (the level
  where the walk stopped: a none/non-present entry or a leaf; 2M/1G are leaves).
* ``follow_pte(mm, addr) -> (table_pfn, index)``, raising SyscallError(EINVAL)
  as __follow_pte returns -EINVAL.
* ``tlb_gather_mmu(m, mm, start, end) -> MmuGather``; ``tlb_finish_mmu(tlb, start, end)``.
* ``unmap_page_range(tlb, vma, addr, end, details=None)``, ``unmap_vmas(tlb, vma, start,
  end)``, ``free_pgtables(tlb, vma, floor, ceiling)`` (``vma`` is the first VMA of a
  ``vm_next`` chain, or a list of VMAs in address order).
* ``zap_present_pte`` hands the page side of zapping one present PTE to
  mm/fault.py; ``zap_swap_pte`` and ``zap_huge_pmd`` raise NotImplementedError until
  swap and THP are modelled.
"""

import errno

import numpy as np

from ..arch.x86 import pgalloc
from ..arch.x86 import tlb as x86_tlb
from ..arch.x86.page_types import PAGE_SIZE, PMD_SIZE, PUD_SIZE, PGDIR_SIZE, PAGE_SHIFT
from ..arch.x86.pgtable import (pt_entries, pgd_offset, pud_offset, pmd_offset, pte_offset_map,
                                pgd_none, pud_none, pmd_none, pgd_bad, pud_bad, pmd_bad,
                                pgd_present, pud_present, pmd_present, pte_present,
                                pmd_trans_huge, pmd_devmap, pmd_huge, pud_large, pmd_large,
                                U64)
from ..arch.x86.pgtable_types import _PAGE_TABLE, PTE_PFN_MASK
from ..errors import KernelBug, SyscallError
from . import hugetlb            # hugetlb.c's helpers; it calls back for pud_alloc/pmd_alloc

PMD_MASK = ~(PMD_SIZE - 1) & U64
PUD_MASK = ~(PUD_SIZE - 1) & U64
PGDIR_MASK = ~(PGDIR_SIZE - 1) & U64
_PTE_FLAGS_MASK = ~PTE_PFN_MASK & U64
VM_HUGETLB = 0x00400000


def _machine(mm):
    return mm.machine


def _get(m, ptr):
    return pt_entries(m, ptr[0])[ptr[1]]


def _set(m, ptr, v):
    pt_entries(m, ptr[0])[ptr[1]] = v


def _addr_end(addr: int, end: int, size: int) -> int:
    """pXX_addr_end: the next boundary, or ``end`` (compared as unsigned - 1)."""
    boundary = ((addr + size) & ~(size - 1)) & U64
    return boundary if ((boundary - 1) & U64) < ((end - 1) & U64) else end


# -- building the path -----------------------------------------------------------

def __pud_alloc(m, mm, pgd, address: int) -> int:
    new = pgalloc.pud_alloc_one(m, mm, address)
    if new is None:
        return -errno.ENOMEM
    if pgd_present(_get(m, pgd)):               # another thread populated it first
        pgalloc.pud_free(m, mm, new)
    else:
        _set(m, pgd, (new << PAGE_SHIFT) | _PAGE_TABLE)      # pgd_populate
    return 0


def __pmd_alloc(m, mm, pud, address: int) -> int:
    new = pgalloc.pmd_alloc_one(m, mm, address)
    if new is None:
        return -errno.ENOMEM
    if not pud_present(_get(m, pud)):
        mm.nr_pmds += 1                          # mm_inc_nr_pmds
        _set(m, pud, (new << PAGE_SHIFT) | _PAGE_TABLE)      # pud_populate
    else:
        pgalloc.pmd_free(m, mm, new)
    return 0


def __pte_alloc(m, mm, pmd, address: int) -> int:
    new = pgalloc.pte_alloc_one(m, mm, address)
    if new is None:
        return -errno.ENOMEM
    if pmd_none(_get(m, pmd)):
        mm.nr_ptes += 1
        _set(m, pmd, (new << PAGE_SHIFT) | _PAGE_TABLE)      # pmd_populate
        new = None
    if new is not None:
        pgalloc.pte_free(m, mm, new)
    return 0


def __pte_alloc_kernel(m, pmd, address: int) -> int:
    new = pgalloc.pte_alloc_one_kernel(m, m.init_mm, address)
    if new is None:
        return -errno.ENOMEM
    if pmd_none(_get(m, pmd)):
        _set(m, pmd, (new << PAGE_SHIFT) | _PAGE_TABLE)
    else:
        pgalloc.pte_free_kernel(m, m.init_mm, new)
    return 0


def pud_alloc(m, mm, pgd, address: int):
    if pgd_none(_get(m, pgd)) and __pud_alloc(m, mm, pgd, address):
        return None
    return pud_offset(_get(m, pgd), address)


def pmd_alloc(m, mm, pud, address: int):
    if pud_none(_get(m, pud)) and __pmd_alloc(m, mm, pud, address):
        return None
    return pmd_offset(_get(m, pud), address)


def pte_alloc(m, mm, pmd, address: int) -> int:
    """0, or -ENOMEM (the 4.6 ``pte_alloc`` macro's truth value)."""
    if pmd_none(_get(m, pmd)):
        return __pte_alloc(m, mm, pmd, address)
    return 0


def pte_alloc_map(m, mm, address: int):
    """Allocate whatever is missing down to the PTE for ``address``; the PTE pointer
    ``(table_pfn, index)``, or None when an allocation failed (levels already
    allocated stay, as in __handle_mm_fault)."""
    pud = pud_alloc(m, mm, pgd_offset(mm, address), address)
    if pud is None:
        return None
    pmd = pmd_alloc(m, mm, pud, address)
    if pmd is None:
        return None
    v = _get(m, pmd)
    if pmd_large(v):
        raise KernelBug(f"pte_alloc_map: PMD for {address:#x} is a huge page")
    if pte_alloc(m, mm, pmd, address):
        return None
    return pte_offset_map(_get(m, pmd), address)


# -- walking -------------------------------------------------------------------------

def walk(mm, va: int):
    """(level, entry): where a software walk of ``mm`` for ``va`` ends."""
    m = _machine(mm)
    e = _get(m, pgd_offset(mm, va))
    if not pgd_present(e):
        return "pgd", e
    e2 = _get(m, pud_offset(e, va))
    if not pud_present(e2) or pud_large(e2):
        return "pud", e2
    e3 = _get(m, pmd_offset(e2, va))
    if not pmd_present(e3) or pmd_large(e3):
        return "pmd", e3
    return "pte", _get(m, pte_offset_map(e3, va))


def pte_lookup(m, mm, address: int):
    """The PTE pointer for ``address`` when a PTE table covers it (the entry itself may be
    none), else None; no allocation.

    :raises NotImplementedError: a huge PMD covers it (THP is not modelled yet)
    """
    e = _get(m, pgd_offset(mm, address))
    if not pgd_present(e):
        return None
    e = _get(m, pud_offset(e, address))
    if not pud_present(e) or pud_large(e):
        return None
    e = _get(m, pmd_offset(e, address))
    if not pmd_present(e):
        return None
    if pmd_large(e):
        raise NotImplementedError("huge PMD mapping: transparent huge pages are not "
                                  "modelled yet")
    return pte_offset_map(e, address)


def follow_pte(mm, address: int):
    """The PTE pointer mapping ``address`` (__follow_pte).

    :raises SyscallError: EINVAL when a level is none/bad, the PMD is huge or the
        PTE is not present
    """
    m = _machine(mm)
    e = _get(m, pgd_offset(mm, address))
    if pgd_none(e) or pgd_bad(e):
        raise SyscallError(errno.EINVAL, "follow_pte")
    e = _get(m, pud_offset(e, address))
    if pud_none(e) or pud_bad(e):
        raise SyscallError(errno.EINVAL, "follow_pte")
    e = _get(m, pmd_offset(e, address))
    if pmd_huge(e) or pmd_none(e) or pmd_bad(e):
        raise SyscallError(errno.EINVAL, "follow_pte")
    ptr = pte_offset_map(e, address)
    if not pte_present(_get(m, ptr)):
        raise SyscallError(errno.EINVAL, "follow_pte")
    return ptr


# -- mmu_gather ------------------------------------------------------------------------
MMU_GATHER_BUNDLE = 8
MAX_GATHER_BATCH = (PAGE_SIZE - 16) // 8          # pointers in one batch page
MAX_GATHER_BATCH_COUNT = 10000 // MAX_GATHER_BATCH


class MmuGather:
    """struct mmu_gather: the range to flush and the pages to free after the flush."""

    __slots__ = ("m", "mm", "start", "end", "fullmm", "need_flush_all", "pages", "tables",
                 "nr", "batch_max", "batch_pages", "batch_count")

    def __init__(self, m, mm, start: int, end: int):
        self.m = m
        self.mm = mm
        self.need_flush_all = False
        # what awaits the flush, in gather order: data pages and page-table pages are kept
        # apart (the flush frees the data pages first); nr counts both, as the batches do
        self.pages = []
        self.tables = []
        self.nr = 0
        self.batch_max = MMU_GATHER_BUNDLE
        self.batch_pages = []         # pages allocated to hold more batches
        self.batch_count = 0
        self.fullmm = not (start or end != U64)
        _tlb_reset_range(self)


_TLB_EMPTY_START = (1 << 47) - PAGE_SIZE        # TASK_SIZE


def _tlb_reset_range(tlb) -> None:
    if tlb.fullmm:
        tlb.start = tlb.end = U64
    else:
        tlb.start = _TLB_EMPTY_START
        tlb.end = 0


def tlb_gather_mmu(m, mm, start: int, end: int) -> MmuGather:
    """Start a gather for unmapping [start, end) of ``mm`` (start=0, end=-1: whole mm)."""
    return MmuGather(m, mm, start & U64, end & U64)


def __tlb_adjust_range(tlb, address: int) -> None:
    tlb.start = min(tlb.start, address)
    tlb.end = max(tlb.end, address + PAGE_SIZE)


def tlb_remove_tlb_entry(tlb, ptr, address: int) -> None:
    __tlb_adjust_range(tlb, address)


def _tlb_next_batch(tlb) -> bool:
    from . import gfp as G
    if tlb.batch_count == MAX_GATHER_BATCH_COUNT:
        return False
    pfn = tlb.m.kernel.alloc_pages(G.GFP_NOWAIT | G.__GFP_NOWARN, 0)
    if pfn is None:
        return False
    tlb.batch_count += 1
    tlb.batch_pages.append(pfn)
    tlb.batch_max += MAX_GATHER_BATCH
    return True


def __tlb_remove_page(tlb, pfn: int, is_table: bool = False) -> int:
    """Queue a page to free after the flush; the room left (0 means flush now)."""
    (tlb.tables if is_table else tlb.pages).append(pfn)
    tlb.nr += 1
    if tlb.nr == tlb.batch_max and not _tlb_next_batch(tlb):
        return 0
    return tlb.batch_max - tlb.nr


def tlb_remove_page(tlb, pfn: int, is_table: bool = False) -> None:
    if not __tlb_remove_page(tlb, pfn, is_table):
        tlb_flush_mmu(tlb)


def tlb_flush(tlb) -> None:
    """x86 tlb_flush: the gathered range, or the whole mm."""
    if not tlb.fullmm and not tlb.need_flush_all:
        x86_tlb.flush_tlb_mm_range(tlb.m, tlb.mm, tlb.start, tlb.end, 0)
    else:
        x86_tlb.flush_tlb_mm_range(tlb.m, tlb.mm, 0, x86_tlb.TLB_FLUSH_ALL, 0)


def tlb_flush_mmu_tlbonly(tlb) -> None:
    if not tlb.end:
        return
    tlb_flush(tlb)
    _tlb_reset_range(tlb)


def _gathered(pages):
    """The gathered data pages as one int64 array: the vectorised zap gathers whole
    arrays, the per-entry path single pfns."""
    parts = []
    run = []
    for x in pages:
        if isinstance(x, int):
            run.append(x)
            continue
        if run:
            parts.append(np.array(run, dtype=np.int64))
            run = []
        parts.append(x)
    if run:
        parts.append(np.array(run, dtype=np.int64))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def tlb_flush_mmu_free(tlb) -> None:
    m = tlb.m
    if tlb.pages:
        fault.free_pages_and_swap_cache(m, _gathered(tlb.pages))
        tlb.pages = []
    for pfn in tlb.tables:
        pgalloc.free_pgtable_page(m, pfn)
    tlb.tables = []
    tlb.nr = 0


def tlb_flush_mmu(tlb) -> None:
    tlb_flush_mmu_tlbonly(tlb)
    tlb_flush_mmu_free(tlb)


def tlb_finish_mmu(tlb, start: int = 0, end: int = 0) -> None:
    """Flush what was gathered, free the pages, and give back the batch pages."""
    tlb_flush_mmu(tlb)
    if tlb.batch_pages:
        for pfn in tlb.batch_pages:
            tlb.m.kernel.free_pages(pfn, 0)
        tlb.batch_pages = []
        tlb.batch_max = MMU_GATHER_BUNDLE
        tlb.batch_count = 0


def pte_free_tlb(tlb, pfn: int, address: int) -> None:
    __tlb_adjust_range(tlb, address)
    pgalloc.pgtable_page_dtor(tlb.m, pfn)
    tlb_remove_page(tlb, pfn, True)


def pmd_free_tlb(tlb, pfn: int, address: int) -> None:
    __tlb_adjust_range(tlb, address)
    tlb_remove_page(tlb, pfn, True)


pud_free_tlb = pmd_free_tlb


# -- free_pgtables ------------------------------------------------------------------------

def _clear_bad(m, ptr, what: str) -> None:
    m.log.pr_err(f"mm/pgtable-generic.c: bad {what} ({_get(m, ptr):016x})")
    _set(m, ptr, 0)


_LEVEL = {"pgd": (PGDIR_SIZE, pgd_bad), "pud": (PUD_SIZE, pud_bad), "pmd": (PMD_SIZE, pmd_bad)}


def _populated(m, table: int, addr: int, end: int, what: str, check_bad: bool = True):
    """(ptr, value, addr, next) for each non-none entry of one table over [addr, end);
    a bad one is reported and cleared instead (pXX_none_or_clear_bad).

    The entries are read at once (callers change only lower levels, or the entry they
    are given); with a bad entry in the range, one at a time, so the report and the
    clearing come at its turn."""
    size, bad = _LEVEL[what]
    shift = size.bit_length() - 1
    first = (addr >> shift) & 511
    top = (end - 1) & U64                       # compared as pXX_addr_end does
    vals = pt_entries(m, table)[first:((top >> shift) & 511) + 1].tolist()
    out = []
    a = addr
    for j, v in enumerate(vals, first):
        nxt = (a + size) & ~(size - 1) & U64
        if ((nxt - 1) & U64) >= top:
            nxt = end
        if v:
            if check_bad and bad(v):
                return _populated_one_by_one(m, table, addr, end, what, check_bad)
            out.append(((table, j), v, a, nxt))
        a = nxt
    return out


def _populated_one_by_one(m, table: int, addr: int, end: int, what: str, check_bad: bool):
    size, bad = _LEVEL[what]
    shift = size.bit_length() - 1
    while True:
        nxt = _addr_end(addr, end, size)
        ptr = (table, (addr >> shift) & 511)
        v = _get(m, ptr)
        if v:
            if check_bad and bad(v):
                _clear_bad(m, ptr, what)
            else:
                yield ptr, v, addr, nxt
        addr = nxt
        if addr == end:
            return


def _table_of(v: int) -> int:
    return (v & PTE_PFN_MASK) >> PAGE_SHIFT


def _wholly_inside(start: int, end: int, floor: int, ceiling: int, mask: int) -> bool:
    """The table covering ``start`` (rounded down by ``mask``) lies inside [floor, ceiling)."""
    start &= mask
    if start < floor:
        return False
    if ceiling:
        ceiling &= mask
        if not ceiling:
            return False
    return ((end - 1) & U64) <= ((ceiling - 1) & U64)


def free_pte_range(tlb, pmd, addr: int) -> None:
    m = tlb.m
    token = _table_of(_get(m, pmd))
    _set(m, pmd, 0)
    pte_free_tlb(tlb, token, addr)
    tlb.mm.nr_ptes -= 1


def free_pmd_range(tlb, pud, addr: int, end: int, floor: int, ceiling: int) -> None:
    m = tlb.m
    pudv = _get(m, pud)
    for pmd, _, a, _ in _populated(m, _table_of(pudv), addr, end, "pmd"):
        free_pte_range(tlb, pmd, a)
    if _wholly_inside(addr, end, floor, ceiling, PUD_MASK):
        _set(m, pud, 0)
        pmd_free_tlb(tlb, _table_of(pudv), addr & PUD_MASK)
        tlb.mm.nr_pmds -= 1


def free_pud_range(tlb, pgd, addr: int, end: int, floor: int, ceiling: int) -> None:
    m = tlb.m
    pgdv = _get(m, pgd)
    for pud, _, a, nxt in _populated(m, _table_of(pgdv), addr, end, "pud"):
        free_pmd_range(tlb, pud, a, nxt, floor, ceiling)
    if _wholly_inside(addr, end, floor, ceiling, PGDIR_MASK):
        _set(m, pgd, 0)
        pud_free_tlb(tlb, _table_of(pgdv), addr & PGDIR_MASK)


def free_pgd_bounds(addr: int, end: int, floor: int, ceiling: int):
    """The range free_pgd_range walks: [addr, end) rounded inward to whole PMDs inside
    [floor, ceiling), or None when nothing can be freed (mm/memory.c free_pgd_range)."""
    addr &= PMD_MASK
    if addr < floor:
        addr += PMD_SIZE
        if not addr:
            return None
    if ceiling:
        ceiling &= PMD_MASK
        if not ceiling:
            return None
    if ((end - 1) & U64) > ((ceiling - 1) & U64):
        end -= PMD_SIZE
    if addr > ((end - 1) & U64):
        return None
    return addr, end


def free_pgd_range(tlb, addr: int, end: int, floor: int, ceiling: int) -> None:
    """Free the page tables that lie wholly inside [floor, ceiling) rounded inward."""
    bounds = free_pgd_bounds(addr, end, floor, ceiling)
    if bounds is None:
        return
    addr, end = bounds
    for pgd, _, a, nxt in _populated(tlb.m, tlb.mm.pgd, addr, end, "pgd"):
        free_pud_range(tlb, pgd, a, nxt, floor, ceiling)


def _vma_chain(vma):
    """The VMAs of a vm_next chain, or a list of VMAs in address order, as a sequence."""
    if isinstance(vma, (list, tuple)):
        return vma
    out = []
    while vma is not None:
        out.append(vma)
        vma = vma.vm_next
    return out


def _unlink(m, vma) -> None:
    """unlink_anon_vmas + unlink_file_vma, when those subsystems are present."""
    try:
        chain, file = vma.anon_vma_chain, vma.vm_file
    except AttributeError:          # the page-table tests' VMAs carry neither field
        chain = getattr(vma, "anon_vma_chain", None)
        file = getattr(vma, "vm_file", None)
    if chain:
        rmap.unlink_anon_vmas(m, vma)
    if file is not None:
        from . import mmap as _mmap
        fn = getattr(_mmap, "unlink_file_vma", None)
        if fn is not None:
            fn(m, vma)


def free_pgtables(tlb, vma, floor: int, ceiling: int) -> None:
    """Free the page tables under a run of VMAs (mm/memory.c free_pgtables).

    Neighbouring VMAs closer than PMD_SIZE are freed as one range; ``floor`` is the
    end of the VMA before the run (0 if none) and ``ceiling`` the start of the one
    after (0 = the top). ``vma`` is the first of a ``vm_next`` chain or a list.
    """
    m = tlb.m
    seq = _vma_chain(vma)           # each VMA's successor as it was on entry
    n = len(seq)
    i = 0
    while i < n:
        v = seq[i]
        i += 1
        nxt = seq[i] if i < n else None
        addr = v.vm_start
        _unlink(m, v)
        # x86 has no hugetlb_free_pgd_range of its own: free_pgd_range serves both
        while nxt is not None and nxt.vm_start <= v.vm_end + PMD_SIZE \
                and not nxt.vm_flags & VM_HUGETLB:
            v = nxt
            i += 1
            nxt = seq[i] if i < n else None
            _unlink(m, v)
        free_pgd_range(tlb, addr, v.vm_end, floor, nxt.vm_start if nxt is not None else ceiling)


# -- zap -------------------------------------------------------------------------------------

def zap_present_pte(tlb, vma, addr: int, ptent: int, details) -> bool:
    """The page side of zapping one present PTE: rmap, RSS, dirty/accessed to the page,
    gathering the page (zap_pte_range's body, in mm/fault.py). True forces a flush."""
    return fault.zap_present_page(tlb, vma, addr, ptent, details)


def zap_swap_pte(tlb, vma, addr: int, ptent: int, details) -> None:
    """A non-present, non-none PTE: a swap or migration entry."""
    raise NotImplementedError("zapping swap/migration entries: swap is not modelled yet")


def zap_huge_pmd(tlb, vma, pmd, addr: int) -> bool:
    raise NotImplementedError("zap_huge_pmd: transparent huge pages are not modelled yet")


# Up to this many non-zero entry bytes (a present PTE has four or more: a handful of
# pages), the entry-by-entry loop costs less than NumPy's fixed cost in zap_pte_table.
ZAP_FEW_BYTES = 64


def _nonzero_entry_bytes(table, addr: int, end: int) -> int:
    """How many bytes of the PTEs of [addr, end) in ``table`` are not zero (0: all none)."""
    lo = ((addr >> PAGE_SHIFT) & 511) << 3
    hi = lo + ((end - addr) >> PAGE_SHIFT << 3)
    return hi - lo - table.obj.count(0, lo, hi)


def zap_pte_range(tlb, vma, pmd, addr: int, end: int, details) -> int:
    """Clear the PTEs of [addr, end) under one PMD; when the gather fills up, flush,
    free and carry on (the ``goto again`` of 4.6)."""
    m = tlb.m
    table_pfn = _table_of(_get(m, pmd))
    table = pt_entries(m, table_pfn)
    nonzero = _nonzero_entry_bytes(table, addr, end)
    if not nonzero:
        return end                                  # every entry none: nothing to do
    if details is None and nonzero > ZAP_FEW_BYTES:
        if fault.ZAP_PTE_RANGE_VECTORISED:
            done = fault.zap_pte_table(tlb, vma, table_pfn, addr, end)
            if done is not None:
                return done
    while True:
        force_flush = False
        while addr != end:
            i = (addr >> PAGE_SHIFT) & 511
            ptent = table[i]
            if ptent:
                if pte_present(ptent):
                    table[i] = 0                         # ptep_get_and_clear_full
                    tlb_remove_tlb_entry(tlb, None, addr)
                    if zap_present_pte(tlb, vma, addr, ptent, details):
                        force_flush = True               # the gather is full
                        addr += PAGE_SIZE
                        break
                elif details is None or getattr(details, "check_swap_entries", False):
                    zap_swap_pte(tlb, vma, addr, ptent, details)
                    table[i] = 0                         # pte_clear_not_present_full
            addr += PAGE_SIZE
        if not force_flush:
            return addr
        tlb_flush_mmu_tlbonly(tlb)
        tlb_flush_mmu_free(tlb)
        if addr == end:
            return addr


def zap_pmd_range(tlb, vma, pud, addr: int, end: int, details) -> int:
    m = tlb.m
    pmds = list(_populated(m, _table_of(_get(m, pud)), addr, end, "pmd", False))
    if details is None and len(pmds) > 1:
        if (fault.ZAP_PTE_RANGE_VECTORISED
                and not any(pmd_trans_huge(v) or pmd_devmap(v) or pmd_bad(v)
                            for _, v, _, _ in pmds)
                and fault.zap_pte_tables(tlb, vma, [(_table_of(v), a, nxt)
                                                    for _, v, a, nxt in pmds])):
            return end
    for pmd, v, a, nxt in pmds:
        if pmd_trans_huge(v) or pmd_devmap(v):
            if zap_huge_pmd(tlb, vma, pmd, a):
                continue
            v = _get(m, pmd)
        if pmd_bad(v):
            _clear_bad(m, pmd, "pmd")
        elif v:
            zap_pte_range(tlb, vma, pmd, a, nxt, details)
    return end


def zap_pud_range(tlb, vma, pgd, addr: int, end: int, details) -> int:
    m = tlb.m
    for pud, _, a, nxt in _populated(m, _table_of(_get(m, pgd)), addr, end, "pud"):
        zap_pmd_range(tlb, vma, pud, a, nxt, details)
    return end


def unmap_page_range(tlb, vma, addr: int, end: int, details=None) -> None:
    """Clear the PTEs of [addr, end) in ``vma``, gathering the range to flush."""
    if addr >= end:
        raise KernelBug(f"unmap_page_range: empty range {addr:#x}-{end:#x}")
    m = tlb.m
    if addr >> 21 == (end - 1) >> 21:
        # the range lies under one PMD entry (most small unmaps): straight down to it
        pmd = _pmd_over(m, vma.vm_mm, addr)
        if pmd is not None:
            if pmd:
                zap_pte_range(tlb, vma, pmd, addr, end, details)
            return
    for pgd, _, a, nxt in _populated(m, vma.vm_mm.pgd, addr, end, "pgd"):
        zap_pud_range(tlb, vma, pgd, a, nxt, details)


def _pmd_over(m, mm, addr: int):
    """The PMD entry over ``addr`` when the path down to it is plain tables; 0 when a
    level on the way is none (nothing mapped there); None when the general walk must
    decide (a bad or huge entry, which it reports or handles in its turn)."""
    # an entry whose flags are exactly _PAGE_TABLE is neither bad nor huge at any level,
    # so the predicates run only for anything else
    g = pt_entries(m, mm.pgd)[(addr >> 39) & 511]
    if not g:
        return 0
    if g & _PTE_FLAGS_MASK != _PAGE_TABLE and pgd_bad(g):
        return None
    u = pt_entries(m, (g & PTE_PFN_MASK) >> PAGE_SHIFT)[(addr >> 30) & 511]
    if not u:
        return 0
    if u & _PTE_FLAGS_MASK != _PAGE_TABLE and pud_bad(u):
        return None
    pmd = ((u & PTE_PFN_MASK) >> PAGE_SHIFT, (addr >> 21) & 511)
    v = pt_entries(m, pmd[0])[pmd[1]]
    if not v:
        return 0
    if v & _PTE_FLAGS_MASK != _PAGE_TABLE and (pmd_trans_huge(v) or pmd_devmap(v)
                                               or pmd_bad(v)):
        return None
    return pmd


def zap_finds_nothing(m, mm, addr: int, end: int) -> bool:
    """unmap_page_range over [addr, end) of ``mm`` would meet only none entries; False
    when unsure (the range crosses a PMD boundary, or the walk down meets an entry that
    only the general walk handles)."""
    if addr >> 21 != (end - 1) >> 21:
        return False
    pmd = _pmd_over(m, mm, addr)
    if pmd is None:
        return False
    return not pmd or not _nonzero_entry_bytes(pt_entries(m, _table_of(_get(m, pmd))),
                                               addr, end)


def unmap_single_vma(tlb, vma, start_addr: int, end_addr: int, details=None) -> None:
    start = max(vma.vm_start, start_addr)
    if start >= vma.vm_end:
        return
    end = min(vma.vm_end, end_addr)
    if end <= vma.vm_start:
        return
    if start != end:
        if vma.vm_flags & VM_HUGETLB:
            # __unmap_hugepage_range_final: the model never maps a huge page
            if hugetlb.huge_entries_present(tlb.m, vma.vm_mm, start, end):
                raise NotImplementedError("__unmap_hugepage_range with mapped huge pages")
            return
        unmap_page_range(tlb, vma, start, end, details)


def unmap_vmas(tlb, vma, start_addr: int, end_addr: int) -> None:
    """Zap [start_addr, end_addr) in every VMA of the chain (mm/memory.c unmap_vmas)."""
    if isinstance(vma, (list, tuple)):
        for v in vma:
            if v.vm_start >= end_addr:
                break
            unmap_single_vma(tlb, v, start_addr, end_addr, None)
        return
    while vma is not None and vma.vm_start < end_addr:
        unmap_single_vma(tlb, vma, start_addr, end_addr, None)
        vma = vma.vm_next


def zap_page_range(m, vma, start: int, size: int, details=None) -> None:
    """Remove the user pages of [start, start+size) in ``vma`` and the VMAs after it
    (mm/memory.c zap_page_range, used by MADV_DONTNEED)."""
    from .fault import update_hiwater_rss
    from .swap import lru_add_drain
    mm = vma.vm_mm
    end = start + size
    lru_add_drain(m)
    tlb = tlb_gather_mmu(m, mm, start, end)
    update_hiwater_rss(mm)
    v = vma
    while v is not None and v.vm_start < end:
        unmap_single_vma(tlb, v, start, end, details)
        v = v.vm_next
    tlb_finish_mmu(tlb, start, end)


# -- change_protection (mm/mprotect.c) --------------------------------------------------------

def change_pte_range(m, vma, pmd, addr: int, end: int, newprot: int,
                     dirty_accountable: int) -> int:
    from ..arch.x86.pgtable import (pte_modify, pte_mkwrite, pte_dirty, pte_soft_dirty,
                                    pte_to_swp_entry, swp_entry, swp_type, swp_offset,
                                    swp_entry_to_pte, pte_swp_soft_dirty, pte_swp_mksoft_dirty,
                                    SWP_MIGRATION_WRITE, SWP_MIGRATION_READ)
    VM_SOFTDIRTY = 0x08000000
    table = pt_entries(m, (_get(m, pmd) & PTE_PFN_MASK) >> PAGE_SHIFT)
    pages = 0
    while addr != end:
        i = (addr >> PAGE_SHIFT) & 511
        old = table[i]
        if pte_present(old):
            ptent = pte_modify(old, newprot)
            # known-dirty pages need not take a write fault
            if dirty_accountable and pte_dirty(ptent) and (
                    pte_soft_dirty(ptent) or not vma.vm_flags & VM_SOFTDIRTY):
                ptent = pte_mkwrite(ptent)
            table[i] = ptent
            pages += 1
        elif old:
            entry = pte_to_swp_entry(old)
            if swp_type(entry) == SWP_MIGRATION_WRITE:
                new = swp_entry_to_pte(swp_entry(SWP_MIGRATION_READ, swp_offset(entry)))
                if pte_swp_soft_dirty(old):
                    new = pte_swp_mksoft_dirty(new)
                table[i] = new
                pages += 1
        addr += PAGE_SIZE
    return pages


def change_protection(m, vma, start: int, end: int, newprot: int,
                      dirty_accountable: int = 0, prot_numa: int = 0) -> int:
    """Apply ``newprot`` to the present PTEs of [start, end) and flush the TLB if any
    changed (mm/mprotect.c change_protection); the number of entries changed."""
    if vma.vm_flags & VM_HUGETLB:
        # hugetlb_change_protection: no huge PTE is ever set in the model, nothing changes
        if hugetlb.huge_entries_present(_machine(vma.vm_mm), vma.vm_mm, start, end):
            raise NotImplementedError("hugetlb_change_protection with mapped huge pages")
        return 0
    if prot_numa:
        raise NotImplementedError("change_protection(prot_numa): NUMA balancing is not modelled")
    if start >= end:
        raise KernelBug(f"change_protection: empty range {start:#x}-{end:#x}")
    pages = 0
    for pgd, _, a, pn in _populated(m, vma.vm_mm.pgd, start, end, "pgd"):
        for pud, uv, b, mn in _populated(m, _table_of(_get(m, pgd)), a, pn, "pud"):
            for pmd, v, c, nxt in _populated(m, _table_of(uv), b, mn, "pmd", False):
                if pmd_trans_huge(v) or pmd_devmap(v):
                    raise NotImplementedError("change_huge_pmd: transparent huge pages are "
                                              "not modelled yet")
                if pmd_bad(v):
                    _clear_bad(m, pmd, "pmd")
                else:
                    pages += change_pte_range(m, vma, pmd, c, nxt, newprot, dirty_accountable)
    if pages:
        x86_tlb.flush_tlb_range(m, vma, start, end)
    return pages


# -- move_page_tables (mm/mremap.c) ---------------------------------------------------------
LATENCY_LIMIT = 64 * PAGE_SIZE


def get_old_pmd(m, mm, addr: int):
    e = _get(m, pgd_offset(mm, addr))
    if not e or pgd_bad(e):
        if e:
            _clear_bad(m, pgd_offset(mm, addr), "pgd")
        return None
    pud = pud_offset(e, addr)
    e = _get(m, pud)
    if not e or pud_bad(e):
        if e:
            _clear_bad(m, pud, "pud")
        return None
    pmd = pmd_offset(e, addr)
    return None if pmd_none(_get(m, pmd)) else pmd


def alloc_new_pmd(m, mm, vma, addr: int):
    pud = pud_alloc(m, mm, pgd_offset(mm, addr), addr)
    if pud is None:
        return None
    pmd = pmd_alloc(m, mm, pud, addr)
    if pmd is not None and pmd_trans_huge(_get(m, pmd)):
        raise KernelBug(f"alloc_new_pmd: huge PMD at {addr:#x}")
    return pmd


def move_ptes(m, vma, old_pmd, old_addr: int, old_end: int, new_vma, new_pmd,
              new_addr: int) -> None:
    """Move PTEs one by one, marking them soft-dirty (move_soft_dirty_pte)."""
    from ..arch.x86.pgtable import pte_mksoft_dirty, pte_swp_mksoft_dirty, is_swap_pte
    old = pt_entries(m, (_get(m, old_pmd) & PTE_PFN_MASK) >> PAGE_SHIFT)
    new = pt_entries(m, (_get(m, new_pmd) & PTE_PFN_MASK) >> PAGE_SHIFT)
    while old_addr < old_end:
        i = (old_addr >> PAGE_SHIFT) & 511
        pte = old[i]
        if pte:
            old[i] = 0
            if pte_present(pte):
                pte = pte_mksoft_dirty(pte)
            elif is_swap_pte(pte):
                pte = pte_swp_mksoft_dirty(pte)
            new[(new_addr >> PAGE_SHIFT) & 511] = pte
        old_addr += PAGE_SIZE
        new_addr += PAGE_SIZE


def move_page_tables(m, vma, old_addr: int, new_vma, new_addr: int, length: int,
                     need_rmap_locks: bool = False) -> int:
    """Move the PTEs of [old_addr, old_addr+len) to new_addr (mm/mremap.c); bytes moved."""
    mm = vma.vm_mm
    old_end = old_addr + length
    need_flush = False
    while old_addr < old_end:
        nxt = (old_addr + PMD_SIZE) & PMD_MASK
        extent = min(nxt - old_addr, old_end - old_addr)
        old_pmd = get_old_pmd(m, mm, old_addr)
        if old_pmd is None:
            old_addr += extent
            new_addr += extent
            continue
        new_pmd = alloc_new_pmd(m, mm, vma, new_addr)
        if new_pmd is None:
            break
        if pmd_trans_huge(_get(m, old_pmd)):
            raise NotImplementedError("move_huge_pmd: transparent huge pages are not "
                                      "modelled yet")
        if pte_alloc(m, new_vma.vm_mm, new_pmd, new_addr):
            break
        nxt = (new_addr + PMD_SIZE) & PMD_MASK
        extent = min(extent, nxt - new_addr, LATENCY_LIMIT)
        move_ptes(m, vma, old_pmd, old_addr, old_addr + extent, new_vma, new_pmd, new_addr)
        need_flush = True
        old_addr += extent
        new_addr += extent
    if need_flush:
        x86_tlb.flush_tlb_range(m, vma, old_end - length, old_addr)
    return length + old_addr - old_end


# mm/fault.py imports this module: bound at the end rather than on every call
from . import fault, rmap       # noqa: E402
