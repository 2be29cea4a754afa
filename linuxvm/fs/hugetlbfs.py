"""Anonymous hugetlbfs mappings on a machine with no huge pages reserved (fs/hugetlbfs/inode.c,
mm/hugetlb.c, arch/x86/mm/hugetlbpage.c).

The model has one hstate (2 MiB) and ``vm.nr_hugepages`` / ``nr_overcommit_hugepages``
of 0, as a default 4.6 boot. So MAP_HUGETLB without MAP_NORESERVE fails with ENOMEM
(hugetlb_reserve_pages), and with it the mapping is made and its first touch raises
SIGBUS: the fault builds the PUD/PMD path (huge_pte_alloc) and alloc_huge_page finds
no page. Unmapping, forking and mprotect walk huge entries that are all empty.
"""

import errno

from ..arch.x86.page_types import PAGE_SIZE, PMD_SIZE, TASK_SIZE, TASK_UNMAPPED_BASE
from .file import File, Inode, VmOperations

HUGETLB_ANON_FILE = "anon_hugepage"
HUGETLBFS_DEV = (0, 13)          # the internal hugetlbfs mount of a typical 4.6 boot
HPAGE_SIZE = PMD_SIZE
HPAGE_MASK = ~(HPAGE_SIZE - 1)

hugetlb_vm_ops = VmOperations("hugetlb_vm_ops")


def hugetlb_file_setup(m, size: int) -> File:
    """An unlinked hugetlbfs file for a MAP_HUGETLB mapping (shows "/anon_hugepage (deleted)")."""
    vfs = m.vfs
    if HUGETLBFS_DEV not in vfs.next_ino:
        vfs.next_ino[HUGETLBFS_DEV] = 1
    path = f"/{HUGETLB_ANON_FILE} (deleted)"
    inode = Inode(vfs._ino(HUGETLBFS_DEV), HUGETLBFS_DEV, size, b"", path,
                  account_dirty=False)
    inode.is_hugetlbfs = True
    return File(inode, 2, path, hugetlbfs_file_mmap)       # O_RDWR


def hugetlbfs_file_mmap(file, vma) -> int:
    """Mark the VMA hugetlb; 0, -EINVAL (pgoff not huge-aligned) or -ENOMEM (no pages to
    reserve, unless VM_NORESERVE)."""
    from ..include.mm import VM_HUGETLB, VM_DONTEXPAND, VM_NORESERVE
    vma.vm_flags |= VM_HUGETLB | VM_DONTEXPAND
    vma.vm_ops = hugetlb_vm_ops
    if vma.vm_pgoff & ((HPAGE_SIZE >> 12) - 1):
        return -errno.EINVAL
    if not vma.vm_flags & VM_NORESERVE:
        return -errno.ENOMEM        # hugetlb_reserve_pages: nr_hugepages is 0
    return 0


def hugetlb_get_unmapped_area(m, mm, file, addr: int, length: int, pgoff: int,
                              flags: int) -> int:
    """A 2 MiB-aligned place for a hugetlb mapping (arch/x86/mm/hugetlbpage.c)."""
    from ..mm.mman import MAP_FIXED
    from ..mm.vma import find_vma, unmapped_area, unmapped_area_topdown
    from ..arch.x86.mmap import arch_get_unmapped_area
    if length & ~HPAGE_MASK:
        return -errno.EINVAL
    if length > TASK_SIZE:
        return -errno.ENOMEM
    if flags & MAP_FIXED:
        if addr & ~HPAGE_MASK:                  # prepare_hugepage_range
            return -errno.EINVAL
        return addr
    if addr:
        addr = (addr + HPAGE_SIZE - 1) & HPAGE_MASK
        vma = find_vma(mm, addr)
        if TASK_SIZE - length >= addr and (vma is None or addr + length <= vma.vm_start):
            return addr
    align = (~(PAGE_SIZE - 1)) & ~HPAGE_MASK
    if mm.get_unmapped_area is arch_get_unmapped_area:
        return unmapped_area(mm, length, mm.mmap_legacy_base, TASK_SIZE, align, 0)
    addr = unmapped_area_topdown(mm, length, PAGE_SIZE, mm.mmap_base, align, 0)
    if addr < 0 or addr & (PAGE_SIZE - 1):
        addr = unmapped_area(mm, length, TASK_UNMAPPED_BASE, TASK_SIZE, align, 0)
    return addr


def huge_pte_offset(m, mm, addr: int):
    """The PMD entry pointer covering ``addr`` if its PUD is present, else None."""
    from ..arch.x86.pgtable import pt_entries, pgd_offset, pud_offset, pmd_offset
    from ..arch.x86.pgtable_types import _PAGE_PRESENT
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
    from ..arch.x86.pgtable import pgd_offset
    from ..mm import memory
    pud = memory.pud_alloc(m, mm, pgd_offset(mm, addr), addr)
    if pud is None:
        return None
    return memory.pmd_alloc(m, mm, pud, addr)


def hugetlb_fault(m, mm, vma, address: int, flags: int) -> int:
    """A fault in a hugetlb VMA: the PMD path is built, then no huge page can be had."""
    from ..arch.x86.pgtable import pt_entries
    from ..mm.memory import VM_FAULT_OOM, VM_FAULT_SIGBUS
    ptr = huge_pte_alloc(m, mm, address & HPAGE_MASK)
    if ptr is None:
        return VM_FAULT_OOM
    if pt_entries(m, ptr[0])[ptr[1]]:
        raise NotImplementedError("hugetlb fault on a present huge PTE: the model never maps "
                                  "huge pages (nr_hugepages is 0)")
    # hugetlb_no_page -> alloc_huge_page: no free, no surplus page -> -ENOSPC -> SIGBUS
    return VM_FAULT_SIGBUS


def huge_entries_present(m, mm, start: int, end: int) -> bool:
    """Whether any huge PTE in [start, end) is set (the model never sets one)."""
    from ..arch.x86.pgtable import pt_entries
    a = start & HPAGE_MASK
    while a < end:
        ptr = huge_pte_offset(m, mm, a)
        if ptr is not None and pt_entries(m, ptr[0])[ptr[1]]:
            return True
        a += HPAGE_SIZE
    return False


def copy_hugetlb_page_range(m, dst_mm, src_mm, vma) -> int:
    """fork: the child gets a PMD path wherever the parent has one (copy_hugetlb_page_range);
    there are no huge entries to copy. 0 or -ENOMEM."""
    a = vma.vm_start
    while a < vma.vm_end:
        if huge_pte_offset(m, src_mm, a) is not None:
            if huge_pte_alloc(m, dst_mm, a) is None:
                return -errno.ENOMEM
        a += HPAGE_SIZE
    if huge_entries_present(m, src_mm, vma.vm_start, vma.vm_end):
        raise NotImplementedError("copy_hugetlb_page_range with mapped huge pages")
    return 0
