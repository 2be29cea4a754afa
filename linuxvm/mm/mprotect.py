"""mprotect (mm/mprotect.c): change a range's access bits, splitting or merging VMAs."""

import errno

from ..arch.x86 import tlb as x86_tlb
from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE, PMD_SIZE
from ..arch.x86.pgtable import (pt_entries, pte_present, pte_modify, pte_mkwrite, pte_dirty,
                                pte_soft_dirty, pte_to_swp_entry, swp_entry, swp_type,
                                swp_offset, swp_entry_to_pte, pte_swp_soft_dirty,
                                pte_swp_mksoft_dirty, pmd_trans_huge, pmd_devmap, pmd_bad,
                                SWP_MIGRATION_WRITE, SWP_MIGRATION_READ)
from ..arch.x86.pgtable_types import PTE_PFN_MASK
from ..errors import KernelBug
from ..include.personality import READ_IMPLIES_EXEC
from . import hugetlb
from . import huge_memory
from .memory.pgtable import _get, _table_of, _clear_bad, none_or_clear_bad_entries
from ..include.mm import (VM_READ, VM_WRITE, VM_EXEC, VM_SHARED, VM_ACCOUNT, VM_HUGETLB,
                       VM_NORESERVE, VM_LOCKED, VM_GROWSDOWN, VM_GROWSUP, VM_SOFTDIRTY)
from .gup import mm_populate
from .mman import PROT_READ, PROT_WRITE, PROT_EXEC, PROT_SEM, PROT_GROWSDOWN, PROT_GROWSUP
from .mmap import (may_expand_vm, vma_modify_flags, vma_set_page_prot, vm_stat_account,
                   vma_wants_writenotify, calc_vm_prot_bits, page_align, fixup_vma_range)
from .util import security_vm_enough_memory_mm, vm_unacct_memory
from .vma import find_vma


def change_pte_range(m, vma, pmd, addr: int, end: int, newprot: int,
                     dirty_accountable: int) -> int:
    """Apply ``newprot`` to the PTEs of [addr, end) under one PMD; how many changed."""
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


def change_pmd_range(m, vma, pud_val: int, addr: int, end: int, newprot: int,
                     dirty_accountable: int) -> int:
    """change_pte_range for each PTE table under one PUD entry."""
    pages = 0
    for pmd, v, a, nxt in none_or_clear_bad_entries(m, _table_of(pud_val), addr, end, "pmd",
                                                    False):
        if pmd_trans_huge(v) or pmd_devmap(v):
            if nxt - a != PMD_SIZE:
                huge_memory.split_huge_pmd(m, vma, pmd, a)
            else:
                nr = huge_memory.change_huge_pmd(m, vma, pmd, a, newprot)
                if nr:
                    if nr == huge_memory.HPAGE_PMD_NR:
                        pages += huge_memory.HPAGE_PMD_NR
                    continue
            v = _get(m, pmd)
        if pmd_bad(v):
            _clear_bad(m, pmd, "pmd")
        else:
            pages += change_pte_range(m, vma, pmd, a, nxt, newprot, dirty_accountable)
    return pages


def change_pud_range(m, vma, pgd, addr: int, end: int, newprot: int,
                     dirty_accountable: int) -> int:
    """change_pmd_range for each PMD table under one PGD entry."""
    pages = 0
    for _, v, a, nxt in none_or_clear_bad_entries(m, _table_of(_get(m, pgd)), addr, end,
                                                  "pud"):
        pages += change_pmd_range(m, vma, v, a, nxt, newprot, dirty_accountable)
    return pages


def change_protection_range(m, vma, start: int, end: int, newprot: int,
                            dirty_accountable: int) -> int:
    """change_pud_range for each PGD entry over [start, end), then one TLB flush if any
    entry changed."""
    if start >= end:
        raise KernelBug(f"change_protection: empty range {start:#x}-{end:#x}")
    pages = 0
    for pgd, _, a, nxt in none_or_clear_bad_entries(m, vma.vm_mm.pgd, start, end, "pgd"):
        pages += change_pud_range(m, vma, pgd, a, nxt, newprot, dirty_accountable)
    if pages:
        x86_tlb.flush_tlb_range(m, vma, start, end)
    return pages


def change_protection(m, vma, start: int, end: int, newprot: int,
                      dirty_accountable: int = 0, prot_numa: int = 0) -> int:
    """Apply ``newprot`` to the present PTEs of [start, end) and flush the TLB if any
    changed (mm/mprotect.c change_protection); the number of entries changed."""
    if vma.vm_flags & VM_HUGETLB:
        # hugetlb_change_protection: no huge PTE is ever set in the model, nothing changes
        if hugetlb.huge_entries_present(m, vma.vm_mm, start, end):
            raise NotImplementedError("hugetlb_change_protection with mapped huge pages")
        return 0
    if prot_numa:
        raise NotImplementedError("change_protection(prot_numa): NUMA balancing is not modelled")
    return change_protection_range(m, vma, start, end, newprot, dirty_accountable)


def mprotect_fixup(m, vma, prev, start, end, newflags):
    """Give [start, end) of ``vma`` the flags ``newflags``; ``(prev, err)``."""
    mm = vma.vm_mm
    oldflags = vma.vm_flags
    nrpages = (end - start) >> PAGE_SHIFT
    if newflags == oldflags:
        return vma, 0
    charged = 0
    if newflags & VM_WRITE:
        if not may_expand_vm(m, mm, newflags, nrpages) and may_expand_vm(m, mm, oldflags,
                                                                           nrpages):
            return prev, -errno.ENOMEM
        if not oldflags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE):
            charged = nrpages
            if security_vm_enough_memory_mm(m, mm, charged):
                return prev, -errno.ENOMEM
            newflags |= VM_ACCOUNT
    vma, prev, err = vma_modify_flags(m, mm, vma, prev, start, end, newflags)
    if err:
        vm_unacct_memory(m, charged)
        return prev, err
    vma.vm_flags = newflags
    dirty_accountable = vma_wants_writenotify(vma)
    vma_set_page_prot(vma)
    change_protection(m, vma, start, end, vma.vm_page_prot, dirty_accountable)
    vm_stat_account(mm, oldflags, -nrpages)
    vm_stat_account(mm, newflags, nrpages)
    if (oldflags & (VM_WRITE | VM_SHARED | VM_LOCKED)) == VM_LOCKED and newflags & VM_WRITE:
        # break COW of the locked pages now (4.6 does this before the stats; nothing here
        # reads them, and the VMA state is complete if population cannot proceed)
        mm_populate(m, start, end - start)
    return prev, 0


def sys_mprotect(m, start, length, prot) -> int:
    """The mprotect system call; 0 or -errno."""
    task = m.current
    grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP)
    prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP)
    if grows == (PROT_GROWSDOWN | PROT_GROWSUP):
        return -errno.EINVAL
    if start & (PAGE_SIZE - 1):
        return -errno.EINVAL
    if not length:
        return 0
    length = page_align(length)
    end = start + length
    if end <= start or end >= 1 << 64:
        return -errno.ENOMEM
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM):
        return -errno.EINVAL
    if prot & PROT_READ and task.personality & READ_IMPLIES_EXEC:
        prot |= PROT_EXEC
    vma = find_vma(task.mm, start)
    if vma is None:
        return -errno.ENOMEM
    prev = vma.vm_prev
    if grows & PROT_GROWSDOWN:
        if vma.vm_start >= end:
            return -errno.ENOMEM
        start = vma.vm_start
        if not vma.vm_flags & VM_GROWSDOWN:
            return -errno.EINVAL
    else:
        if vma.vm_start > start:
            return -errno.ENOMEM
        if grows & PROT_GROWSUP:
            end = vma.vm_end
            if not vma.vm_flags & VM_GROWSUP:
                return -errno.EINVAL
    if start > vma.vm_start:
        prev = vma

    def fixup(vma, prev, lo, hi):
        newflags = calc_vm_prot_bits(prot) | (vma.vm_flags & ~(VM_READ | VM_WRITE | VM_EXEC))
        if (newflags & ~(newflags >> 4)) & (VM_READ | VM_WRITE | VM_EXEC):
            return prev, -errno.EACCES
        return mprotect_fixup(m, vma, prev, lo, hi, newflags)
    return fixup_vma_range(vma, prev, start, end, fixup)
