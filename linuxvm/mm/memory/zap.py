"""Zapping in mm/memory.c: clearing the PTEs of a range and dropping the pages behind them
through an mmu_gather (unmap_vmas, unmap_page_range, zap_pud_range, zap_pmd_range,
zap_pte_range, zap_page_range).

* ``unmap_page_range(tlb, vma, addr, end, details=None)``, ``unmap_vmas(tlb, vma, start,
  end)`` (``vma`` is the first VMA of a ``vm_next`` chain, or a list of VMAs in address
  order), ``zap_page_range(m, vma, start, size)``.
* ``zap_huge_pmd`` unmaps a whole huge PMD; a range covering part of one splits it first.
"""

from ...arch.x86.page_types import PAGE_SIZE, PAGE_SHIFT, PMD_SIZE
from ...arch.x86.pgalloc import pte_free
from ...arch.x86.pgtable import (pte_to_swp_entry, non_swap_entry, swp_type, SWP_MIGRATION_READ,
                                 SWP_MIGRATION_WRITE)
from ...arch.x86.pgtable import (pt_entries, pte_present, pte_dirty, pte_young,
                                 pmd_trans_huge, pmd_devmap, pmd_bad)
from ...errors import KernelBug
from ...include.mm import VM_HUGETLB, VM_SEQ_READ
from .. import hugetlb
from .. import huge_memory
from ..page import NULL, PAGE_MAPPING_ANON
from ..page_writeback import set_page_dirty
from ..swap import lru_add_drain, mark_page_accessed
from ..rmap import page_remove_rmap
from ..mm_types import MM_SWAPENTS, MM_ANONPAGES
from ..swapfile import free_swap_and_cache
from .gather import (tlb_gather_mmu, tlb_finish_mmu, tlb_remove_tlb_entry, __tlb_remove_page,
                     tlb_remove_page, __tlb_adjust_range,
                     tlb_flush_mmu_tlbonly, tlb_flush_mmu_free)
from .pgtable import _get, _table_of, _clear_bad, none_or_clear_bad_entries, vm_normal_page, \
    print_bad_pte
from .rss import mm_counter, update_hiwater_rss


def zap_present_pte(tlb, vma, addr: int, ptent: int, details) -> bool:
    """The page side of zapping one present PTE (zap_pte_range's body): dirty and
    accessed to the page, RSS, rmap, and gathering the page. True: the gather is full."""
    m = tlb.m
    page = vm_normal_page(m, vma, addr, ptent)
    if page == NULL:
        return False
    mem_map = m.mem_map
    if not mem_map.mapping[page] & PAGE_MAPPING_ANON:
        if pte_dirty(ptent):
            set_page_dirty(m, page)         # through the mapping's a_ops
        if pte_young(ptent) and not vma.vm_flags & VM_SEQ_READ:
            mark_page_accessed(m, page)
    vma.vm_mm.rss_stat[mm_counter(m, page)] -= 1
    page_remove_rmap(m, page)
    if mem_map.mc[page] < -1:
        print_bad_pte(m, vma, addr, ptent, page)
    return not __tlb_remove_page(tlb, page)


class ZapDetails:
    """struct zap_details: ``check_mapping`` (a ``page->mapping`` value, or 0) limits a
    zap to that file's pages, leaving private COW copies (unmap_mapping_range without
    even_cows)."""

    __slots__ = ("check_mapping", "check_swap_entries")

    def __init__(self, check_mapping: int = 0):
        self.check_mapping = check_mapping
        self.check_swap_entries = False


def _other_mapping(m, vma, addr: int, ptent: int, details) -> bool:
    page = vm_normal_page(m, vma, addr, ptent)
    return page != NULL and int(m.mem_map.mapping[page]) != details.check_mapping


def zap_swap_pte(tlb, vma, addr: int, ptent: int, details) -> None:
    """A non-present, non-none PTE: drop a swap entry's hold on its slot (and the
    swap-cache page, if that was the last), as zap_pte_range does."""
    m = tlb.m
    entry = pte_to_swp_entry(ptent)
    if not non_swap_entry(entry):
        vma.vm_mm.rss_stat[MM_SWAPENTS] -= 1
    elif swp_type(entry) in (SWP_MIGRATION_READ, SWP_MIGRATION_WRITE):
        raise KernelBug("zapping a migration entry: the model's migrate_pages "
                        "completes within one call, so no PTE holds a migration entry "
                        "between calls")
    if not free_swap_and_cache(m, entry):
        print_bad_pte(m, vma, addr, ptent, NULL)


def zap_huge_pmd(tlb, vma, pmd, addr: int) -> bool:
    """Unmap a whole huge PMD: drop the THP's compound mapping and RSS (or the huge zero
    page's reference) and free the deposited table (mm/huge_memory.c zap_huge_pmd)."""
    m = tlb.m
    mm = tlb.mm
    orig = _get(m, pmd)
    if not pmd_trans_huge(orig):
        return False
    pt_entries(m, pmd[0])[pmd[1]] = 0            # pmdp_huge_get_and_clear_full
    __tlb_adjust_range(tlb, addr)                # tlb_remove_pmd_tlb_entry
    pte_free(m, mm, huge_memory.pgtable_trans_huge_withdraw(m, pmd))
    mm.nr_ptes -= 1
    if huge_memory.is_huge_zero_pmd(m, orig):
        huge_memory.put_huge_zero_page(m)        # tlb_remove_page of the huge zero page
        return True
    page = _table_of(orig)
    huge_memory.page_remove_anon_compound_rmap(m, page)
    if huge_memory.page_mapcount(m.mem_map, page) < 0:
        raise KernelBug(f"VM_BUG_ON_PAGE(page_mapcount(page) < 0): pfn {page:#x}")
    mm.rss_stat[MM_ANONPAGES] -= huge_memory.HPAGE_PMD_NR
    tlb_remove_page(tlb, page)
    return True


def zap_pte_range(tlb, vma, pmd, addr: int, end: int, details) -> int:
    """Clear the PTEs of [addr, end) under one PMD; when the gather fills up, flush,
    free and carry on (the ``goto again`` of 4.6 zap_pte_range). The new ``addr``.

    Accelerator: ``zap_pte_range`` in linuxvm/accel/memory.py.
    """
    m = tlb.m
    fast = m.accel.zap_pte_range
    if fast is not None:
        done = fast(tlb, vma, pmd, addr, end, details)
        if done is not None:
            return done
    table = pt_entries(m, _table_of(_get(m, pmd)))
    while True:
        force_flush = False
        while addr != end:
            i = (addr >> PAGE_SHIFT) & 511
            ptent = table[i]
            if ptent:
                if pte_present(ptent):
                    if details is not None and details.check_mapping and \
                            _other_mapping(m, vma, addr, ptent, details):
                        addr += PAGE_SIZE                # not this file's page: kept
                        continue
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
    """zap_pte_range for each PTE table under one PUD entry (4.6 zap_pmd_range).

    Accelerator: ``zap_pmd_range`` in linuxvm/accel/memory.py.
    """
    m = tlb.m
    fast = m.accel.zap_pmd_range
    if fast is not None and fast(tlb, vma, pud, addr, end, details):
        return end
    for pmd, v, a, nxt in none_or_clear_bad_entries(m, _table_of(_get(m, pud)), addr, end,
                                                    "pmd", False):
        if pmd_trans_huge(v) or pmd_devmap(v):
            if nxt - a != PMD_SIZE:
                huge_memory.split_huge_pmd(m, vma, pmd, a)
            elif zap_huge_pmd(tlb, vma, pmd, a):
                continue
            v = _get(m, pmd)
        if pmd_bad(v):
            _clear_bad(m, pmd, "pmd")
        elif v:
            zap_pte_range(tlb, vma, pmd, a, nxt, details)
    return end


def zap_pud_range(tlb, vma, pgd, addr: int, end: int, details) -> int:
    """zap_pmd_range for each PMD table under one PGD entry."""
    m = tlb.m
    for pud, _, a, nxt in none_or_clear_bad_entries(m, _table_of(_get(m, pgd)), addr, end,
                                                    "pud"):
        zap_pmd_range(tlb, vma, pud, a, nxt, details)
    return end


def unmap_page_range(tlb, vma, addr: int, end: int, details=None) -> None:
    """Clear the PTEs of [addr, end) in ``vma``, gathering the range to flush.

    Accelerator: ``unmap_page_range`` in linuxvm/accel/memory.py.
    """
    if addr >= end:
        raise KernelBug(f"unmap_page_range: empty range {addr:#x}-{end:#x}")
    m = tlb.m
    fast = m.accel.unmap_page_range
    if fast is not None and fast(tlb, vma, addr, end, details):
        return
    for pgd, _, a, nxt in none_or_clear_bad_entries(m, vma.vm_mm.pgd, addr, end, "pgd"):
        zap_pud_range(tlb, vma, pgd, a, nxt, details)


def unmap_single_vma(tlb, vma, start_addr: int, end_addr: int, details=None) -> None:
    """unmap_page_range over the part of [start_addr, end_addr) inside ``vma``."""
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


def zap_page_range_single(m, vma, address: int, size: int, details=None) -> None:
    """Remove the user pages of [address, address+size) in this one VMA (mm/memory.c
    zap_page_range_single, used by unmap_mapping_range)."""
    mm = vma.vm_mm
    end = address + size
    lru_add_drain(m)
    tlb = tlb_gather_mmu(m, mm, address, end)
    update_hiwater_rss(mm)
    unmap_single_vma(tlb, vma, address, end, details)
    tlb_finish_mmu(tlb, address, end)
