"""A minimal in-memory VFS: regular files that can be opened and mmapped, and the shmem
files behind shared anonymous mappings (fs/open.c, fs/file_table.c, mm/shmem.c
shmem_zero_setup).

``m.vfs.create(path, size, data)`` makes a regular file; ``p.open(path, flags)`` gives an
fd. Only what mmap needs is modelled: access modes, append-only, whether the file
has an ``mmap`` operation, and the device and inode shown in /proc/PID/maps.
"""

import errno

from ..mm.mman import O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_APPEND

ROOT_DEV = (8, 1)                # the model's root filesystem (sda1)
SHMEM_DEV = (0, 5)               # shm_mnt: the internal tmpfs mount of 4.6


class VmOperations:
    """struct vm_operations_struct: which hooks a mapping type has."""

    __slots__ = ("name", "open", "close", "page_mkwrite")

    def __init__(self, name, page_mkwrite=False):
        self.name = name
        self.open = None
        self.close = None
        self.page_mkwrite = page_mkwrite


generic_file_vm_ops = VmOperations("generic_file_vm_ops", page_mkwrite=True)
shmem_vm_ops = VmOperations("shmem_vm_ops")


class Inode:
    """struct inode with its address_space's i_mmap (the VMAs mapping it)."""

    __slots__ = ("i_ino", "dev", "i_size", "data", "is_append", "is_hugetlbfs",
                 "cap_account_dirty", "mmap_capable", "i_mmap", "path", "__dict__")

    def __init__(self, ino, dev, size, data, path, mmap_capable=True, account_dirty=True):
        self.i_ino = ino
        self.dev = dev
        self.i_size = size
        self.data = data
        self.path = path
        self.is_append = False
        self.is_hugetlbfs = False
        self.cap_account_dirty = account_dirty
        self.mmap_capable = mmap_capable
        self.i_mmap = set()


def generic_file_mmap(file, vma) -> int:
    vma.vm_ops = generic_file_vm_ops
    return 0


def shmem_mmap(file, vma) -> int:
    vma.vm_ops = shmem_vm_ops
    return 0


class File:
    """struct file: an open file description (f_mode, f_count, the inode)."""

    __slots__ = ("inode", "f_flags", "f_mode_read", "f_mode_write", "f_count", "f_op_mmap",
                 "path")

    def __init__(self, inode, f_flags, path, f_op_mmap):
        self.inode = inode
        self.f_flags = f_flags
        acc = f_flags & O_ACCMODE
        self.f_mode_read = acc in (O_RDONLY, O_RDWR)
        self.f_mode_write = acc in (O_WRONLY, O_RDWR)
        self.f_count = 1
        self.f_op_mmap = f_op_mmap
        self.path = path

    def get_file(self):
        self.f_count += 1
        return self

    def fput(self) -> None:
        self.f_count -= 1
        if self.f_count == 0 and self.inode.__dict__.get("shmem_acct"):
            shmem_evict_inode(self.inode)


class VFS:
    """``m.vfs``: the model's files by path."""

    def __init__(self, m):
        self.m = m
        self.files = {}
        self.next_ino = {ROOT_DEV: 2, SHMEM_DEV: 1}

    def _ino(self, dev):
        self.next_ino[dev] += 1
        return self.next_ino[dev]

    def create(self, path: str, size: int = 0, data: bytes = None, *, mmap: bool = True,
               append: bool = False) -> Inode:
        """Create a regular file of ``size`` bytes (``data`` at its start, zeros after).

        :param mmap: False makes a file without an mmap operation (mmap → ENODEV)
        :raises ValueError: a bad path or size, or the file exists
        """
        if not isinstance(path, str) or not path.startswith("/") or path.endswith("/"):
            raise ValueError(f"path must be absolute and name a file: {path!r}")
        if path in self.files:
            raise ValueError(f"{path} already exists")
        data = bytes(data or b"")
        if size is None:
            size = len(data)
        if not isinstance(size, int) or size < 0 or len(data) > size:
            raise ValueError(f"size must be an int >= len(data), not {size!r}")
        inode = Inode(self._ino(ROOT_DEV), ROOT_DEV, size, data, path, mmap_capable=mmap)
        inode.is_append = append
        self.files[path] = inode
        return inode

    def open(self, path, flags) -> File:
        inode = self.files.get(path)
        if inode is None:
            if not flags & O_CREAT:
                return -errno.ENOENT
            inode = self.create(path, 0)
        if inode.is_append and flags & O_ACCMODE in (O_WRONLY, O_RDWR) and \
                not flags & O_APPEND:
            return -errno.EPERM
        return File(inode, flags, path, generic_file_mmap if inode.mmap_capable else None)


def shmem_zero_setup(m, vma) -> int:
    """Back a shared anonymous mapping with a new unlinked shmem file "dev/zero"; 0 or
    -ENOMEM when its size cannot be committed (shmem_acct_size)."""
    from ..include.mm import VM_NORESERVE
    from ..mm.util import security_vm_enough_memory_mm
    size = vma.vm_end - vma.vm_start
    pages = (size + 4095) >> 12
    if not vma.vm_flags & VM_NORESERVE:
        if security_vm_enough_memory_mm(m, vma.vm_mm, pages):
            return -errno.ENOMEM
    vfs = m.vfs
    inode = Inode(vfs._ino(SHMEM_DEV), SHMEM_DEV, size, b"", "/dev/zero (deleted)",
                  account_dirty=False)
    if not vma.vm_flags & VM_NORESERVE:
        # charged until the inode is evicted with its last reference
        inode.shmem_acct = pages
        inode.machine = m
        m.committed_outside_vmas = getattr(m, "committed_outside_vmas", 0) + pages
    file = File(inode, O_RDWR, "/dev/zero (deleted)", shmem_mmap)
    vma.vm_file = file
    vma.vm_ops = shmem_vm_ops
    return 0


def shmem_evict_inode(inode) -> None:
    """The last reference to a shmem file is gone: return its commit (shmem_unacct_size)."""
    from ..mm.util import vm_unacct_memory
    m = inode.machine
    pages = inode.shmem_acct
    inode.shmem_acct = 0
    vm_unacct_memory(m, pages)
    m.committed_outside_vmas -= pages
