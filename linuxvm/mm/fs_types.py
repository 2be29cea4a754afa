"""The VFS objects mm holds and the tables through which it calls a filesystem:
struct inode, struct file, struct file_operations, struct super_operations
(include/linux/fs.h).

mm keeps a ``file`` in ``vma->vm_file`` and calls ``file.f_op.get_unmapped_area`` and
``file.f_op.mmap``; shmem (mm/shmem.c) makes the files behind shared anonymous
mappings. The filesystems themselves (linuxvm/fs/) build these objects with their own
tables; mm never imports them.
"""

from .mman import O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR

__all__ = ["FileOperations", "SuperOperations", "Inode", "File"]


class FileOperations:
    """struct file_operations: the calls mm makes on a file (None: the slot is empty).

    :param ident: the C name of the table, for repr only
    """

    __slots__ = ("ident", "mmap", "get_unmapped_area")

    def __init__(self, ident: str, *, mmap=None, get_unmapped_area=None):
        self.ident = ident
        self.mmap = mmap                            # (file, vma) -> 0 or -errno
        # (m, mm, file, addr, len, pgoff, flags) -> address or -errno
        self.get_unmapped_area = get_unmapped_area

    def __repr__(self):
        return f"<file_operations {self.ident}>"


class SuperOperations:
    """struct super_operations: what the inode's filesystem does when it is evicted."""

    __slots__ = ("ident", "evict_inode")

    def __init__(self, ident: str, *, evict_inode=None):
        self.ident = ident
        self.evict_inode = evict_inode              # (inode) -> None

    def __repr__(self):
        return f"<super_operations {self.ident}>"


class Inode:
    """struct inode with its address_space's i_mmap (the VMAs mapping it).

    ``s_op`` stands for ``inode->i_sb->s_op`` (the model has no superblock object).
    """

    __slots__ = ("i_ino", "dev", "i_size", "data", "is_append", "is_hugetlbfs",
                 "cap_account_dirty", "mmap_capable", "i_mmap", "path", "s_op",
                 "shmem_acct", "machine")

    def __init__(self, ino, dev, size, data, path, mmap_capable=True, account_dirty=True,
                 s_op=None):
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
        self.s_op = s_op
        self.shmem_acct = 0          # pages shmem_acct_size charged (shmem inodes)
        self.machine = None          # the machine a charged shmem inode returns them to


class File:
    """struct file: an open file description (f_mode, f_count, f_op, the inode)."""

    __slots__ = ("inode", "f_flags", "f_mode_read", "f_mode_write", "f_count", "f_op",
                 "path")

    def __init__(self, inode, f_flags, path, f_op):
        self.inode = inode
        self.f_flags = f_flags
        acc = f_flags & O_ACCMODE
        self.f_mode_read = acc in (O_RDONLY, O_RDWR)
        self.f_mode_write = acc in (O_WRONLY, O_RDWR)
        self.f_count = 1
        self.f_op = f_op
        self.path = path

    def __repr__(self):
        return f"<file {self.path} ino {self.inode.i_ino}>"

    def get_file(self):
        self.f_count += 1
        return self

    def fput(self) -> None:
        """Drop a reference; the last one of an unlinked file evicts its inode (iput)."""
        self.f_count -= 1
        if self.f_count == 0:
            s_op = self.inode.s_op
            if s_op is not None and s_op.evict_inode is not None:
                s_op.evict_inode(self.inode)
