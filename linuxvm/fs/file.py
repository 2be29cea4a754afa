"""A minimal in-memory VFS: regular files that can be opened and mmapped (fs/open.c,
fs/file_table.c, mm/filemap.c generic_file_mmap).

``m.vfs.create(path, size, data)`` makes a regular file; ``p.open(path, flags)`` gives an
fd. Only what mmap needs is modelled: access modes, append-only, whether the file
has an ``mmap`` operation, and the device and inode shown in /proc/PID/maps. The objects
(struct file, struct inode) and their operation tables are mm's (linuxvm/mm/fs_types.py);
the shmem files behind shared anonymous mappings are mm/shmem.py's.
"""

import errno

from ..mm.fs_types import File, FileOperations, Inode
from ..mm.mman import O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_APPEND
from ..mm.shmem import SHMEM_DEV
from ..mm.vm_ops import VmOperationsStruct

__all__ = ["VFS", "File", "Inode", "ROOT_DEV", "generic_file_vm_ops"]

ROOT_DEV = (8, 1)                # the model's root filesystem (sda1)


# include/uapi/asm-generic/fcntl.h
O_DIRECTORY = 0o200000
__O_TMPFILE = 0o20000000
O_TMPFILE = __O_TMPFILE | O_DIRECTORY
O_TMPFILE_MASK = __O_TMPFILE | O_DIRECTORY | O_CREAT


def build_open_flags(flags: int) -> int:
    """0, or -EINVAL for __O_TMPFILE without O_DIRECTORY, with O_CREAT, or with O_RDONLY
    (ACC_MODE gives every other access mode, even 3, MAY_WRITE) (fs/open.c:build_open_flags;
    other unknown bits are ignored). open(path, -1) sets them all: EINVAL."""
    if flags & __O_TMPFILE:
        if flags & O_TMPFILE_MASK != O_TMPFILE or flags & O_ACCMODE == O_RDONLY:
            return -errno.EINVAL
    return 0


def filemap_fault(vma, vmf):
    """Read the page at a faulting file offset into the page cache (mm/filemap.c)."""
    raise NotImplementedError("filemap_fault: faults on file-backed mappings are not "
                              "modelled yet")


def filemap_page_mkwrite(vma, vmf):
    """A shared file page is about to be written (mm/filemap.c)."""
    raise NotImplementedError("filemap_page_mkwrite: writes to shared file mappings are "
                              "not modelled yet")


generic_file_vm_ops = VmOperationsStruct("generic_file_vm_ops", fault=filemap_fault,
                                         page_mkwrite=filemap_page_mkwrite)


def generic_file_mmap(file, vma) -> int:
    """file_operations.mmap of an ordinary file (mm/filemap.c)."""
    vma.vm_ops = generic_file_vm_ops
    return 0


# the model's root filesystem: a file either has an mmap operation or (mmap=False in
# VFS.create) none, which mmap answers with ENODEV
generic_file_operations = FileOperations("ext4_file_operations", mmap=generic_file_mmap)
nommap_file_operations = FileOperations("nommap_file_operations")


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
        err = build_open_flags(flags)
        if err:
            return err
        inode = self.files.get(path)
        if inode is None:
            if not flags & O_CREAT:
                return -errno.ENOENT
            inode = self.create(path, 0)
        if inode.is_append and flags & O_ACCMODE in (O_WRONLY, O_RDWR) and \
                not flags & O_APPEND:
            return -errno.EPERM
        return File(inode, flags, path, generic_file_operations if inode.mmap_capable
                    else nommap_file_operations)
