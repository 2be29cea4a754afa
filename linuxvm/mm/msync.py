"""msync (mm/msync.c): validate the range; MS_SYNC writes back the file range behind each
VM_SHARED file mapping (vfs_fsync_range). MS_ASYNC does nothing more since 2.6.19 (the
dirty pages are already tracked through the PTEs and go out with the flusher), and
MS_INVALIDATE only fails with EBUSY on a locked mapping: 4.6 invalidates nothing."""

import errno

from ..arch.x86.page_types import PAGE_SIZE, PAGE_SHIFT
from ..include.mm import VM_LOCKED, VM_SHARED
from .fs_types import vfs_fsync_range
from .mman import MS_ASYNC, MS_INVALIDATE, MS_SYNC
from .vma import find_vma

_U64 = (1 << 64) - 1


def sys_msync(m, start, length, flags) -> int:
    """The msync system call; 0 or -errno (ENOMEM for holes, EBUSY for locked+INVALIDATE,
    the fsync's error for MS_SYNC)."""
    if flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC):
        return -errno.EINVAL
    if start & (PAGE_SIZE - 1):
        return -errno.EINVAL
    if flags & MS_ASYNC and flags & MS_SYNC:
        return -errno.EINVAL
    # size_t arithmetic: a length within a page of 2**64 rounds to 0
    length = (length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1) & _U64
    end = (start + length) & _U64
    if end < start:
        return -errno.ENOMEM
    if end == start:
        return 0
    mm = m.current.mm
    unmapped_error = 0
    vma = find_vma(mm, start)
    while True:
        if vma is None:
            return -errno.ENOMEM
        if start < vma.vm_start:
            start = vma.vm_start
            if start >= end:
                return -errno.ENOMEM
            unmapped_error = -errno.ENOMEM
        if flags & MS_INVALIDATE and vma.vm_flags & VM_LOCKED:
            return -errno.EBUSY
        file = vma.vm_file
        fstart = (start - vma.vm_start) + (vma.vm_pgoff << PAGE_SHIFT)
        fend = fstart + (min(end, vma.vm_end) - start) - 1
        start = vma.vm_end
        if flags & MS_SYNC and file is not None and vma.vm_flags & VM_SHARED:
            # 4.6 drops mmap_sem around the fsync and looks the next VMA up again
            file.get_file()
            error = vfs_fsync_range(m, file, fstart, fend, True)
            file.fput()
            if error or start >= end:
                return error or unmapped_error
            vma = find_vma(mm, start)
        else:
            if start >= end:
                return unmapped_error
            vma = vma.vm_next
