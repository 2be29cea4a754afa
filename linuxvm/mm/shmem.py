"""The shmem files behind shared anonymous mappings (mm/shmem.c shmem_zero_setup).

A MAP_SHARED|MAP_ANONYMOUS mapping is backed by an unlinked file "dev/zero" on the
internal tmpfs mount. Its size is charged to Committed_AS when the file is made
(shmem_acct_size) unless the mapping is VM_NORESERVE, and returned when the last
reference goes (shmem_evict_inode). Faults on it are not modelled yet.
"""

import errno

from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from .fs_types import File, FileOperations, Inode, SuperOperations
from ..include.mm import VM_NORESERVE
from .mman import O_RDWR
from .util import security_vm_enough_memory_mm, vm_unacct_memory
from .vm_ops import VmOperationsStruct

SHMEM_DEV = (0, 5)               # shm_mnt: the internal tmpfs mount of 4.6
SHMEM_ZERO_PATH = "/dev/zero (deleted)"


def shmem_fault(vma, vmf):
    """Find or allocate the shmem page at a faulting offset (mm/shmem.c shmem_fault)."""
    raise NotImplementedError("shmem_fault: faults on shared anonymous mappings are not "
                              "modelled yet")


def shmem_mmap(file, vma) -> int:
    """file_operations.mmap of a shmem file (mm/shmem.c)."""
    vma.vm_ops = shmem_vm_ops
    return 0


def shmem_evict_inode(inode) -> None:
    """The last reference to a shmem file is gone: return its commit (shmem_unacct_size)."""
    pages = inode.shmem_acct
    if not pages:
        return                  # VM_NORESERVE: nothing was charged
    m = inode.machine
    inode.shmem_acct = 0
    vm_unacct_memory(m, pages)
    m.committed_outside_vmas -= pages


shmem_vm_ops = VmOperationsStruct("shmem_vm_ops", fault=shmem_fault)
shmem_file_operations = FileOperations("shmem_file_operations", mmap=shmem_mmap)
shmem_ops = SuperOperations("shmem_ops", evict_inode=shmem_evict_inode)


def shmem_zero_setup(m, vma) -> int:
    """Back a shared anonymous mapping with a new unlinked shmem file "dev/zero"; 0 or
    -ENOMEM when its size cannot be committed (shmem_acct_size)."""
    size = vma.vm_end - vma.vm_start
    pages = (size + PAGE_SIZE - 1) >> PAGE_SHIFT
    if not vma.vm_flags & VM_NORESERVE:
        if security_vm_enough_memory_mm(m, vma.vm_mm, pages):
            return -errno.ENOMEM
    inode = Inode(m.vfs._ino(SHMEM_DEV), SHMEM_DEV, size, b"", SHMEM_ZERO_PATH,
                  account_dirty=False, s_op=shmem_ops)
    inode.i_nlink = 0            # an unlinked file: the last fput evicts it
    if not vma.vm_flags & VM_NORESERVE:
        # charged until the inode is evicted with its last reference
        inode.shmem_acct = pages
        inode.machine = m
        m.committed_outside_vmas = m.committed_outside_vmas + pages
    file = File(inode, O_RDWR, SHMEM_ZERO_PATH, shmem_file_operations)
    vma.vm_file = file
    vma.vm_ops = shmem_vm_ops
    return 0
