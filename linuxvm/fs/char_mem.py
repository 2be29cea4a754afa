"""/dev/zero (drivers/char/mem.c zero_fops): reads give zeros, writes are swallowed, a
private mapping is plain anonymous memory and a shared one is shmem.

``mmap_zero`` leaves a private mapping's ``vm_ops`` empty, so its faults are anonymous
(do_anonymous_page: the zero page for a read) while ``vm_file`` still names /dev/zero;
a shared mapping gets a new unlinked shmem file (shmem_zero_setup), whose size is the
mapping's whatever the offset, so pages past it from a nonzero offset are SIGBUS.
"""

import errno

from ..arch.x86.page_types import PAGE_SIZE
from ..include.mm import VM_SHARED
from ..mm.fs_types import FileOperations
from ..mm.shmem import shmem_zero_setup

MEM_MAJOR, ZERO_MINOR = 1, 5            # devlist[5] = { "zero", 0666, &zero_fops }


def read_iter_zero(m, file, pos: int, count: int, copy) -> int:
    """Copy zeros a page at a time; -EFAULT if the first page faults."""
    written = 0
    while count:
        chunk = min(count, PAGE_SIZE)
        n = copy(m.zero_pfn, 0, chunk)        # iov_iter_zero
        if not n:
            return written if written else -errno.EFAULT
        written += n
        count -= n
        if n < chunk:
            break
    return written


def write_iter_zero(m, file, pos: int, count: int, fetch) -> int:
    """write_iter_null: every byte is accepted without being read."""
    return count


def mmap_zero(file, vma) -> int:
    """Shared: shmem_zero_setup; private: nothing to do, the VMA stays anonymous."""
    if vma.vm_flags & VM_SHARED:
        return shmem_zero_setup(file.inode.machine, vma)
    return 0


zero_fops = FileOperations("zero_fops", mmap=mmap_zero, read_iter=read_iter_zero,
                           write_iter=write_iter_zero)
