"""msync (mm/msync.c): validate the range; MS_SYNC writes back shared file mappings."""

import errno

from ..arch.x86.page_types import PAGE_SIZE
from ..include.mm import VM_LOCKED, VM_SHARED
from .mman import MS_ASYNC, MS_INVALIDATE, MS_SYNC
from .vma import find_vma

_U64 = (1 << 64) - 1


def sys_msync(m, start, length, flags) -> int:
    """The msync system call; 0 or -errno (ENOMEM for holes, EBUSY for locked+INVALIDATE)."""
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
    unmapped_error = 0
    vma = find_vma(m.current.mm, start)
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
        start = vma.vm_end
        if flags & MS_SYNC and vma.vm_file is not None and vma.vm_flags & VM_SHARED:
            # vfs_fsync_range: the model's files have no dirty page cache yet
            if start >= end:
                return unmapped_error
        elif start >= end:
            return unmapped_error
        vma = vma.vm_next
