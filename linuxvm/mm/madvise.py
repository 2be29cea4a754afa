"""madvise (mm/madvise.c): advice flags on VMAs, and the range operations DONTNEED, FREE,
REMOVE and WILLNEED."""

import errno

from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from ..include.mm import (VM_RAND_READ, VM_SEQ_READ, VM_DONTCOPY, VM_IO, VM_DONTDUMP,
                       VM_SPECIAL, VM_MERGEABLE, VM_SHARED, VM_MAYSHARE, VM_PFNMAP,
                       VM_DONTEXPAND, VM_HUGETLB, VM_MIXEDMAP, VM_HUGEPAGE, VM_NOHUGEPAGE,
                       VM_LOCKED, VM_WRITE)
from .readahead import force_page_cache_readahead
from .shmem import FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE
from .mman import (MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED,
                   MADV_FREE, MADV_REMOVE, MADV_DONTFORK, MADV_DOFORK, MADV_MERGEABLE,
                   MADV_UNMERGEABLE, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_DONTDUMP,
                   MADV_DODUMP, MADV_HWPOISON, MADV_SOFT_OFFLINE)
from .memory import zap_page_range
from .mmap import vma_modify_flags, khugepaged_enter_vma_merge
from .util import get_nr_swap_pages
from .vma import find_vma, find_vma_prev, vma_is_anonymous

VALID_BEHAVIOURS = frozenset((
    MADV_DOFORK, MADV_DONTFORK, MADV_NORMAL, MADV_SEQUENTIAL, MADV_RANDOM, MADV_REMOVE,
    MADV_WILLNEED, MADV_DONTNEED, MADV_FREE, MADV_MERGEABLE, MADV_UNMERGEABLE,
    MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_DONTDUMP, MADV_DODUMP))
VM_NO_THP = VM_SPECIAL | VM_HUGETLB | VM_SHARED | VM_MAYSHARE     # 4.6: no shmem THP yet
KSM_NEVER = (VM_MERGEABLE | VM_SHARED | VM_MAYSHARE | VM_PFNMAP | VM_IO | VM_DONTEXPAND
             | VM_HUGETLB | VM_MIXEDMAP)


def madvise_behavior(m, vma, prev, start, end, behavior):
    new_flags = vma.vm_flags
    err = 0
    if behavior == MADV_NORMAL:
        new_flags &= ~(VM_RAND_READ | VM_SEQ_READ)
    elif behavior == MADV_SEQUENTIAL:
        new_flags = (new_flags & ~VM_RAND_READ) | VM_SEQ_READ
    elif behavior == MADV_RANDOM:
        new_flags = (new_flags & ~VM_SEQ_READ) | VM_RAND_READ
    elif behavior == MADV_DONTFORK:
        new_flags |= VM_DONTCOPY
    elif behavior == MADV_DOFORK:
        if vma.vm_flags & VM_IO:
            return prev, -errno.EINVAL
        new_flags &= ~VM_DONTCOPY
    elif behavior == MADV_DONTDUMP:
        new_flags |= VM_DONTDUMP
    elif behavior == MADV_DODUMP:
        if new_flags & VM_SPECIAL:
            return prev, -errno.EINVAL
        new_flags &= ~VM_DONTDUMP
    elif behavior == MADV_MERGEABLE:
        if not new_flags & KSM_NEVER:
            new_flags |= VM_MERGEABLE
    elif behavior == MADV_UNMERGEABLE:
        new_flags &= ~VM_MERGEABLE
    elif behavior in (MADV_HUGEPAGE, MADV_NOHUGEPAGE):
        if new_flags & VM_NO_THP:
            return prev, -errno.EINVAL
        if behavior == MADV_HUGEPAGE:
            new_flags = (new_flags & ~VM_NOHUGEPAGE) | VM_HUGEPAGE
            khugepaged_enter_vma_merge(m, vma, new_flags)
        else:
            new_flags = (new_flags & ~VM_HUGEPAGE) | VM_NOHUGEPAGE
    if new_flags == vma.vm_flags:
        return vma, 0
    vma, prev, err = vma_modify_flags(m, vma.vm_mm, vma, prev, start, end, new_flags)
    if not err:
        vma.vm_flags = new_flags
    if err == -errno.ENOMEM:
        err = -errno.EAGAIN
    return prev, err


def madvise_vma(m, vma, prev, start, end, behavior):
    if behavior == MADV_REMOVE:
        if vma.vm_flags & VM_LOCKED:
            return None, -errno.EINVAL
        if vma.vm_file is None:
            return None, -errno.EINVAL
        if (vma.vm_flags & (VM_SHARED | VM_WRITE)) != (VM_SHARED | VM_WRITE):
            return None, -errno.EACCES
        f = vma.vm_file
        if f.f_op.fallocate is None:
            # a filesystem the model gives no fallocate: the range's PTEs go, as before
            zap_page_range(m, vma, start, end - start)
            return None, 0
        # vfs_fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) at the file offset
        if not f.f_mode_write:
            return None, -errno.EBADF
        offset = (start - vma.vm_start) + (vma.vm_pgoff << PAGE_SHIFT)
        f.get_file()
        err = f.f_op.fallocate(m, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset,
                               end - start)
        f.fput()
        return None, err
    if behavior == MADV_WILLNEED:
        return vma, madvise_willneed(m, vma, start, end)
    if behavior == MADV_FREE and get_nr_swap_pages(m) > 0:
        if vma.vm_flags & (VM_LOCKED | VM_HUGETLB | VM_PFNMAP):
            return vma, -errno.EINVAL
        if not vma_is_anonymous(vma):
            return vma, -errno.EINVAL
        # madvise_free_single_vma: MADV_FREE with swap marks the pages lazily freeable
        # (madvise_free_page_range), which the model does not do yet; the pages stay
        # mapped, as they do in 4.6 until reclaim comes for them
        return vma, 0
    if behavior in (MADV_FREE, MADV_DONTNEED):
        # without swap, MADV_FREE behaves as MADV_DONTNEED
        if vma.vm_flags & (VM_LOCKED | VM_HUGETLB | VM_PFNMAP):
            return vma, -errno.EINVAL
        zap_page_range(m, vma, start, end - start)
        return vma, 0
    return madvise_behavior(m, vma, prev, start, end, behavior)


def sys_madvise(m, start, len_in, behavior) -> int:
    """The madvise system call; 0 or -errno."""
    task = m.current
    if behavior in (MADV_HWPOISON, MADV_SOFT_OFFLINE):
        if not task.capable("CAP_SYS_ADMIN"):
            return -errno.EPERM
        raise NotImplementedError("MADV_HWPOISON/MADV_SOFT_OFFLINE (memory-failure) "
                                  "are not modelled")
    if behavior not in VALID_BEHAVIOURS:
        return -errno.EINVAL
    if start & (PAGE_SIZE - 1):
        return -errno.EINVAL
    length = (len_in + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1) & ((1 << 64) - 1)
    if len_in and not length:
        return -errno.EINVAL
    end = start + length
    if end >= 1 << 64:
        return -errno.EINVAL
    if end == start:
        return 0
    mm = task.mm
    vma, prev = find_vma_prev(mm, start)
    if vma is not None and start > vma.vm_start:
        prev = vma
    unmapped_error = 0
    while True:
        if vma is None:
            return -errno.ENOMEM
        if start < vma.vm_start:
            unmapped_error = -errno.ENOMEM
            start = vma.vm_start
            if start >= end:
                return -errno.ENOMEM
        tmp = min(vma.vm_end, end)
        prev, err = madvise_vma(m, vma, prev, start, tmp, behavior)
        if err:
            return err
        start = tmp
        if prev is not None and start < prev.vm_end:
            start = prev.vm_end
        if start >= end:
            return unmapped_error
        vma = prev.vm_next if prev is not None else find_vma(mm, start)


def madvise_willneed(m, vma, start: int, end: int) -> int:
    """Read a file mapping's range into the page cache (mm/madvise.c madvise_willneed);
    anonymous and shmem ranges would be swapped in, and nothing is swapped out."""
    file = vma.vm_file
    if file is None:
        return 0
    mapping = file.f_mapping
    if mapping.a_ops is None or mapping.a_ops.readpage is None:
        return 0                    # shmem, hugetlbfs: no page cache reads to start
    first = ((start - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
    end = min(end, vma.vm_end)
    last = ((end - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
    force_page_cache_readahead(m, mapping, file, first, last - first)
    return 0
