"""fork's copy of the page tables in mm/memory.c: copy_page_range and copy_one_pte,
write-protecting copy-on-write pages in parent and child."""

import errno

from ...arch.x86.page_types import PAGE_SHIFT, PMD_SIZE, PUD_SIZE, PGDIR_SIZE
from ...arch.x86.pgtable import (pt_entries, pgd_offset, pud_offset, pmd_offset, pte_present,
                                 pte_wrprotect, pte_mkold, pte_mkclean, pmd_trans_huge)
from ...arch.x86.pgtable_types import PTE_PFN_MASK
from ...include.mm import VM_SHARED, VM_MAYWRITE, VM_HUGETLB, VM_PFNMAP, VM_MIXEDMAP
from .. import hugetlb
from .. import huge_memory
from ..page import NULL
from .pgtable import pte_alloc_map, vm_normal_page, pud_alloc, pmd_alloc
from .rss import mm_counter
from ..mm_types import MM_SWAPENTS
from ..swapfile import swap_duplicate
from ...arch.x86.pgtable import (pte_to_swp_entry, non_swap_entry, swp_type, SWP_MIGRATION_READ,
                                 SWP_MIGRATION_WRITE)
from ...errors import KernelBug


def is_cow_mapping(flags: int) -> bool:
    """A private, may-write mapping: its pages are shared copy-on-write after fork."""
    return (flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE


def copy_one_pte(m, dst_mm, src_mm, src_table, si: int, dst_table, di: int, vma, addr: int,
                 rss: list) -> None:
    """Copy one PTE into the child, write-protecting a COW page in both; a swap entry
    gains a reference on its slot (mm/memory.c copy_one_pte)."""
    pte = src_table[si]
    vm_flags = vma.vm_flags
    if not pte_present(pte):
        entry = pte_to_swp_entry(pte)
        if non_swap_entry(entry):
            if swp_type(entry) in (SWP_MIGRATION_READ, SWP_MIGRATION_WRITE):
                raise KernelBug("copy_one_pte of a migration entry: the model's "
                                "migrate_pages completes within one call, so no PTE "
                                "holds a migration entry between calls")
            raise NotImplementedError("copy_one_pte of a hwpoison entry: memory failure "
                                      "is not modelled")
        swap_duplicate(m, entry)            # the continuation count never runs out here
        rss[MM_SWAPENTS] += 1
        dst_table[di] = pte
        return
    if is_cow_mapping(vm_flags):
        src_table[si] = pte_wrprotect(pte)
        pte = pte_wrprotect(pte)
    if vm_flags & VM_SHARED:
        pte = pte_mkclean(pte)
    pte = pte_mkold(pte)
    page = vm_normal_page(m, vma, addr, pte)
    if page != NULL:
        mem_map = m.mem_map
        mem_map.rc[mem_map.compound_head_pfn(page)] += 1      # get_page
        mem_map.mc[page] += 1                      # page_dup_rmap
        rss[mm_counter(m, page)] += 1
    dst_table[di] = pte


def copy_pte_range(m, dst_mm, src_mm, vma, seg, rss: list) -> None:
    """copy_one_pte for each non-none entry of one PTE table segment ``seg`` = (src table,
    dst table, first index, end index, address of the first) (mm/memory.c copy_pte_range).

    Accelerator: ``copy_pte_range`` in linuxvm/accel/memory.py, which takes every segment
    of the VMA at once (copy_page_range hands it the list).
    """
    src_pfn, dst_pfn, lo, hi, a = seg
    src_table = pt_entries(m, src_pfn)
    dst_table = pt_entries(m, dst_pfn)
    for i in range(lo, hi):
        if src_table[i]:
            copy_one_pte(m, dst_mm, src_mm, src_table, i, dst_table, i, vma,
                         a + ((i - lo) << PAGE_SHIFT), rss)


def copy_page_range(m, dst_mm, src_mm, vma) -> int:
    """Copy the PTEs of ``vma`` into the child, write-protecting COW pages in both
    (mm/memory.c copy_page_range); 0 or -ENOMEM."""
    if not vma.vm_flags & (VM_HUGETLB | VM_PFNMAP | VM_MIXEDMAP) and vma.anon_vma is None:
        return 0            # a fault will fill these in correctly
    if vma.vm_flags & VM_HUGETLB:
        return hugetlb.copy_hugetlb_page_range(m, dst_mm, src_mm, vma)
    # First the walk, allocating the child's tables; then the entries. Copying an entry
    # touches only the page it maps, never the allocator, so doing the tables first
    # leaves the state the interleaved order of copy_pud_range/copy_pmd_range leaves.
    segs = []                       # (src table, dst table, first index, end index, addr)
    err = 0
    addr = vma.vm_start
    end = vma.vm_end
    get = lambda ptr: pt_entries(m, ptr[0])[ptr[1]]   # noqa: E731
    while addr < end:
        pgd = pgd_offset(src_mm, addr)
        if not get(pgd):
            addr = min((addr + PGDIR_SIZE) & ~(PGDIR_SIZE - 1), end)
            continue
        pud = pud_offset(get(pgd), addr)
        if not get(pud):
            addr = min((addr + PUD_SIZE) & ~(PUD_SIZE - 1), end)
            continue
        pmd = pmd_offset(get(pud), addr)
        pmdv = get(pmd)
        next_pmd = min((addr + PMD_SIZE) & ~(PMD_SIZE - 1), end)
        if not pmdv:
            addr = next_pmd
            continue
        if pmd_trans_huge(pmdv):
            # copy_pmd_range: the child's PMD, then copy_huge_pmd (-EAGAIN cannot happen:
            # nothing splits the PMD meanwhile)
            dst_pud = pud_alloc(m, dst_mm, pgd_offset(dst_mm, addr), addr)
            dst_pmd = None if dst_pud is None else pmd_alloc(m, dst_mm, dst_pud, addr)
            if dst_pmd is None or huge_memory.copy_huge_pmd(m, dst_mm, src_mm, dst_pmd, pmd,
                                                             addr, vma):
                err = -errno.ENOMEM
                break
            addr = next_pmd
            continue
        dst_ptr = pte_alloc_map(m, dst_mm, addr)
        if dst_ptr is None:
            err = -errno.ENOMEM
            break
        lo = (addr >> PAGE_SHIFT) & 511
        segs.append((int((pmdv & PTE_PFN_MASK) >> PAGE_SHIFT), dst_ptr[0], lo,
                     lo + ((next_pmd - addr) >> PAGE_SHIFT), addr))
        addr = next_pmd
    rss = [0, 0, 0, 0]
    fast = m.accel.copy_pte_range
    if not (fast is not None and segs and fast(m, segs, vma, rss)):
        for seg in segs:
            copy_pte_range(m, dst_mm, src_mm, vma, seg, rss)
    add_mm_rss_vec(dst_mm, rss)
    return err


def add_mm_rss_vec(mm, rss) -> None:
    """Add the counts copy_page_range gathered to the child's counters (add_mm_rss_vec)."""
    for i, v in enumerate(rss):
        mm.rss_stat[i] += v
