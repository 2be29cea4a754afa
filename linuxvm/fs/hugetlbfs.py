"""The hugetlbfs file behind a MAP_HUGETLB mapping, and its mmap and
get_unmapped_area (fs/hugetlbfs/inode.c, arch/x86/mm/hugetlbpage.c).

The model has no huge pages reserved (linuxvm/mm/hugetlb.py), so MAP_HUGETLB without
MAP_NORESERVE fails with ENOMEM (hugetlb_reserve_pages) and with it the mapping is made
and its first touch raises SIGBUS.
"""

import errno

from ..arch.x86.mmap import arch_get_unmapped_area
from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE, TASK_SIZE, TASK_UNMAPPED_BASE
from ..mm.fs_types import File, FileOperations, Inode
from ..mm.hugetlb import HPAGE_SIZE, HPAGE_MASK, hugetlb_vm_ops
from ..include.mm import VM_HUGETLB, VM_DONTEXPAND, VM_NORESERVE
from ..mm.mman import MAP_FIXED, O_RDWR
from ..mm.vma import find_vma, unmapped_area, unmapped_area_topdown

__all__ = ["hugetlb_file_setup", "hugetlbfs_file_operations", "HPAGE_SIZE"]

HUGETLB_ANON_FILE = "anon_hugepage"
HUGETLBFS_DEV = (0, 13)          # the internal hugetlbfs mount of a typical 4.6 boot


def hugetlbfs_file_mmap(file, vma) -> int:
    """Mark the VMA hugetlb; 0, -EINVAL (pgoff not huge-aligned) or -ENOMEM (no pages to
    reserve, unless VM_NORESERVE)."""
    vma.vm_flags |= VM_HUGETLB | VM_DONTEXPAND
    vma.vm_ops = hugetlb_vm_ops
    if vma.vm_pgoff & ((HPAGE_SIZE >> PAGE_SHIFT) - 1):
        return -errno.EINVAL
    if not vma.vm_flags & VM_NORESERVE:
        return -errno.ENOMEM        # hugetlb_reserve_pages: nr_hugepages is 0
    return 0


def hugetlb_get_unmapped_area(m, mm, file, addr: int, length: int, pgoff: int,
                              flags: int) -> int:
    """A 2 MiB-aligned place for a hugetlb mapping (arch/x86/mm/hugetlbpage.c)."""
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


hugetlbfs_file_operations = FileOperations("hugetlbfs_file_operations",
                                           mmap=hugetlbfs_file_mmap,
                                           get_unmapped_area=hugetlb_get_unmapped_area)


def hugetlb_file_setup(m, size: int) -> File:
    """An unlinked hugetlbfs file for a MAP_HUGETLB mapping (shows "/anon_hugepage (deleted)")."""
    vfs = m.vfs
    if HUGETLBFS_DEV not in vfs.next_ino:
        vfs.next_ino[HUGETLBFS_DEV] = 1
    path = f"/{HUGETLB_ANON_FILE} (deleted)"
    inode = Inode(vfs._ino(HUGETLBFS_DEV), HUGETLBFS_DEV, size, b"", path,
                  account_dirty=False)
    inode.is_hugetlbfs = True
    return File(inode, O_RDWR, path, hugetlbfs_file_operations)
