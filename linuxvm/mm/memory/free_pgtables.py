"""Freeing page tables in mm/memory.c: free_pgtables and free_pgd_range down to
free_pte_range, freeing only tables that lie wholly inside [floor, ceiling).

``free_pgtables(tlb, vma, floor, ceiling)``: ``vma`` is the first VMA of a ``vm_next``
chain, or a list of VMAs in address order.
"""

from ...arch.x86.page_types import PMD_SIZE
from ...arch.x86.pgtable import U64
from ...include.mm import VM_HUGETLB
from ..rmap import unlink_anon_vmas
from .gather import pte_free_tlb, pmd_free_tlb, pud_free_tlb
from .pgtable import (PMD_MASK, PUD_MASK, PGDIR_MASK, _get, _set, _table_of,
                      none_or_clear_bad_entries)


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
    for pmd, _, a, _ in none_or_clear_bad_entries(m, _table_of(pudv), addr, end, "pmd"):
        free_pte_range(tlb, pmd, a)
    if _wholly_inside(addr, end, floor, ceiling, PUD_MASK):
        _set(m, pud, 0)
        pmd_free_tlb(tlb, _table_of(pudv), addr & PUD_MASK)
        tlb.mm.nr_pmds -= 1


def free_pud_range(tlb, pgd, addr: int, end: int, floor: int, ceiling: int) -> None:
    m = tlb.m
    pgdv = _get(m, pgd)
    for pud, _, a, nxt in none_or_clear_bad_entries(m, _table_of(pgdv), addr, end, "pud"):
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
    for pgd, _, a, nxt in none_or_clear_bad_entries(tlb.m, tlb.mm.pgd, addr, end, "pgd"):
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
    """What free_pgtables detaches from each VMA before freeing its tables:
    unlink_anon_vmas, and unlink_file_vma (out of its file's i_mmap)."""
    try:
        chain = vma.anon_vma_chain
    except AttributeError:          # the page-table tests' VMAs carry none
        return
    if chain:
        unlink_anon_vmas(m, vma)
    if vma.vm_file is not None:
        vma.vm_file.inode.i_mmap.discard(vma)       # unlink_file_vma


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
