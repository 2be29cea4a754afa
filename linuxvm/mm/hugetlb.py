"""hugetlb pages on a machine with none reserved: the fault, the page-table helpers and
the fork/unmap/mprotect hooks (mm/hugetlb.c, include/linux/hugetlb.h).

The model has one hstate (2 MiB) and ``vm.nr_hugepages`` / ``nr_overcommit_hugepages``
of 0, as a default 4.6 boot. A hugetlb VMA's first touch builds the PUD/PMD path
(huge_pte_alloc) and then alloc_huge_page finds no page: SIGBUS. Unmapping, forking
and mprotect walk huge entries that are all empty. The hugetlbfs file behind such a
VMA is linuxvm/fs/hugetlbfs.py's.
"""

import errno

from ..arch.x86.page_types import PGDIR_SIZE, PMD_SHIFT, PMD_SIZE, PUD_SIZE
from ..arch.x86.pgtable import (pt_entries, pgd_offset, pud_offset, pmd_offset, pmd_index,
                                 pud_index)
from ..arch.x86.pgtable_types import _PAGE_PRESENT
from ..errors import KernelBug
from . import memory             # pud_alloc/pmd_alloc; memory.py calls back into this module
from .vm_ops import VmOperationsStruct, VM_FAULT_OOM, VM_FAULT_SIGBUS

HPAGE_SIZE = PMD_SIZE
HPAGE_MASK = ~(HPAGE_SIZE - 1)


def is_file_hugepages(file) -> bool:
    """Whether ``file`` is a hugetlbfs file (include/linux/hugetlb.h)."""
    return file.inode.is_hugetlbfs


def hugetlb_vm_op_fault(vma, vmf):
    """Never called: handle_mm_fault sends hugetlb VMAs to hugetlb_fault (mm/hugetlb.c)."""
    raise KernelBug("hugetlb_vm_op_fault called")


# open/close keep the reservation map of a private mapping: with no huge page ever
# reserved there is none to keep, so the model leaves both empty
hugetlb_vm_ops = VmOperationsStruct("hugetlb_vm_ops", fault=hugetlb_vm_op_fault)


def huge_pte_offset(m, mm, addr: int):
    """The PMD entry pointer covering ``addr`` if its PUD is present, else None."""
    pgd = pgd_offset(mm, addr)
    e = pt_entries(m, pgd[0])[pgd[1]]
    if not e & _PAGE_PRESENT:
        return None
    pud = pud_offset(e, addr)
    e2 = pt_entries(m, pud[0])[pud[1]]
    if not e2 & _PAGE_PRESENT:
        return None
    return pmd_offset(e2, addr)


def huge_pte_alloc(m, mm, addr: int):
    """Build the path down to the PMD entry for a 2 MiB page (private: no PMD sharing)."""
    pud = memory.pud_alloc(m, mm, pgd_offset(mm, addr), addr)
    if pud is None:
        return None
    return memory.pmd_alloc(m, mm, pud, addr)


def hugetlb_fault(m, mm, vma, address: int, flags: int) -> int:
    """A fault in a hugetlb VMA: the PMD path is built, then no huge page can be had."""
    ptr = huge_pte_alloc(m, mm, address & HPAGE_MASK)
    if ptr is None:
        return VM_FAULT_OOM
    if pt_entries(m, ptr[0])[ptr[1]]:
        raise NotImplementedError("hugetlb fault on a present huge PTE: the model never maps "
                                  "huge pages (nr_hugepages is 0)")
    # hugetlb_no_page -> alloc_huge_page: no free, no surplus page -> -ENOSPC -> SIGBUS
    return VM_FAULT_SIGBUS


def huge_pmd_tables(m, mm, start: int, end: int):
    """(lo, hi, PMD table frame) for each part of [start, end) whose PGD and PUD entries
    are present, in address order: the walk skips an absent PGD entry (512 GiB) or PUD
    entry (1 GiB) in one step, so its cost follows what is mapped, not the span (the
    p?d_none_or_clear_bad skips of 4.6's page-table walks)."""
    a = start & HPAGE_MASK
    while a < end:
        pgd = pgd_offset(mm, a)
        e = pt_entries(m, pgd[0])[pgd[1]]
        pgd_end = min((a + PGDIR_SIZE) & ~(PGDIR_SIZE - 1), end)
        if e & _PAGE_PRESENT:
            puds = pt_entries(m, pud_offset(e, a)[0])     # one read of the PUD table
            while a < pgd_end:
                nxt = (a + PUD_SIZE) & ~(PUD_SIZE - 1)
                e2 = puds[pud_index(a)]
                if e2 & _PAGE_PRESENT:
                    yield a, min(nxt, end), pmd_offset(e2, a)[0]
                a = nxt
        a = pgd_end


def huge_entries_present(m, mm, start: int, end: int) -> bool:
    """Whether any huge PTE in [start, end) is set (the model never sets one)."""
    for lo, hi, table in huge_pmd_tables(m, mm, start, end):
        i0 = pmd_index(lo)
        i1 = i0 + ((hi - lo + HPAGE_SIZE - 1) >> PMD_SHIFT)
        if any(pt_entries(m, table)[i0:i1]):
            return True
    return False


def copy_hugetlb_page_range(m, dst_mm, src_mm, vma) -> int:
    """fork: the child gets a PMD path wherever the parent has one (copy_hugetlb_page_range);
    there are no huge entries to copy. 0 or -ENOMEM.

    4.6 calls huge_pte_alloc at every 2 MiB step where the parent has a PUD; the first
    call in each 1 GiB builds the child's path and the others find it, so one call per
    present parent PUD builds the same tables."""
    for lo, _hi, _table in huge_pmd_tables(m, src_mm, vma.vm_start, vma.vm_end):
        if huge_pte_alloc(m, dst_mm, lo) is None:
            return -errno.ENOMEM
    if huge_entries_present(m, src_mm, vma.vm_start, vma.vm_end):
        raise NotImplementedError("copy_hugetlb_page_range with mapped huge pages")
    return 0
