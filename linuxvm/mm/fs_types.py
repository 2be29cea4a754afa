"""The VFS objects mm holds and the tables through which it calls a filesystem:
struct inode, struct file, struct file_operations, struct super_operations
(include/linux/fs.h).

mm keeps a ``file`` in ``vma->vm_file`` and calls ``file.f_op.get_unmapped_area`` and
``file.f_op.mmap``; shmem (mm/shmem.c) makes the files behind shared anonymous
mappings. The filesystems themselves (linuxvm/fs/) build these objects with their own
tables; mm never imports them.
"""

import errno

from .mman import O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR

__all__ = ["FileOperations", "SuperOperations", "AddressSpaceOperations", "AddressSpace",
           "FileRaState", "Inode", "Dentry", "File", "iput", "alloc_inode", "destroy_inode", "d_alloc_pseudo", "VM_MAX_READAHEAD_PAGES",
           "vfs_fsync_range", "vfs_fsync"]

# include/linux/mm.h VM_MAX_READAHEAD (128 KiB): a block device's default ra_pages
VM_MAX_READAHEAD_PAGES = 32
# include/linux/fs.h: writepage kept the page (locked): reclaim should activate it
AOP_WRITEPAGE_ACTIVATE = 0x80000


class FileOperations:
    """struct file_operations: the calls mm makes on a file (None: the slot is empty).

    :param ident: the C name of the table, for repr only
    """

    __slots__ = ("ident", "mmap", "get_unmapped_area", "read_iter", "write_iter", "fsync",
                 "fallocate")

    def __init__(self, ident: str, *, mmap=None, get_unmapped_area=None, read_iter=None,
                 write_iter=None, fsync=None, fallocate=None):
        self.ident = ident
        self.mmap = mmap                            # (file, vma) -> 0 or -errno
        # (m, mm, file, addr, len, pgoff, flags) -> address or -errno
        self.get_unmapped_area = get_unmapped_area
        # (m, file, pos, n, copy) -> bytes moved or -errno; ``copy`` moves between a page
        # and the caller's buffer (copy_page_to_iter / iov_iter_copy_from_user_atomic)
        self.read_iter = read_iter
        self.write_iter = write_iter
        # (m, file, start, end, datasync) -> 0 or -errno: bytes [start, end] (end -1:
        # to the end of the file), as vfs_fsync_range passes them
        self.fsync = fsync
        self.fallocate = fallocate                  # (m, file, mode, offset, len) -> 0/-errno

    def __repr__(self):
        return f"<file_operations {self.ident}>"


class SuperOperations:
    """struct super_operations: what the inode's filesystem does when it is evicted;
    ``setattr_size`` stands for the size half of the filesystem's inode_operations.setattr
    where it is not the generic one (shmem_setattr); ``inode_cachep`` names the slab
    cache its alloc_inode takes in-core inodes from (None: the VFS's inode_cache).

    ``dput`` stands for the dput of the file's dentry in __fput (fs/file_table.c): the
    model's open files and mappings hold the inode's ``i_count`` where 4.6 holds the
    dentry, so the last of them is the dentry's last use (None: its dentries are pinned).
    """

    __slots__ = ("ident", "evict_inode", "setattr_size", "inode_cachep", "dput")

    def __init__(self, ident: str, *, evict_inode=None, setattr_size=None, inode_cachep=None,
                 dput=None):
        self.ident = ident
        self.evict_inode = evict_inode              # (inode) -> None
        self.setattr_size = setattr_size            # (m, inode, newsize) -> 0 or -errno
        self.inode_cachep = inode_cachep
        self.dput = dput                            # (inode) -> None

    def __repr__(self):
        return f"<super_operations {self.ident}>"


class AddressSpaceOperations:
    """struct address_space_operations: how mm reaches the filesystem that owns a page
    cache (readpage on a miss, writepage for writeback, set_page_dirty).

    :param ident: the C name of the table (``"ext4_aops"``), for repr only
    """

    __slots__ = ("ident", "readpage", "writepage", "set_page_dirty", "write_begin",
                 "write_end", "migratepage")

    def __init__(self, ident: str, *, readpage=None, writepage=None, set_page_dirty=None,
                 write_begin=None, write_end=None, migratepage=None):
        self.ident = ident
        self.readpage = readpage            # (m, file, pfn) -> 0 or -errno; unlocks the page
        self.writepage = writepage          # (m, pfn) -> 0 or -errno
        self.set_page_dirty = set_page_dirty    # (m, pfn) -> True when newly dirtied
        # (m, file, mapping, pos, len) -> the locked page to copy into, or -errno
        self.write_begin = write_begin
        # (m, file, mapping, pos, copied, pfn): up to date, dirty, unlocked, released
        self.write_end = write_end
        # (m, mapping, newpage, page, mode) -> 0 or -errno; None: fallback_migrate_page
        self.migratepage = migratepage

    def __repr__(self):
        return f"<address_space_operations {self.ident}>"


class AddressSpace:
    """struct address_space: an inode's page cache.

    ``i_pages`` is the page_tree radix tree as a dict index → pfn; ``handle`` is what
    ``page->mapping`` of a cached page holds (``handle << 2``, the anon bit clear), the
    model's stand-in for the pointer (0 until the first page is added).
    """

    __slots__ = ("host", "i_pages", "nrpages", "a_ops", "handle", "ra_pages",
                 "account_dirty", "writeback_index", "unevictable", "shadows")

    def __init__(self, host, a_ops=None, ra_pages=VM_MAX_READAHEAD_PAGES,
                 account_dirty=True):
        self.host = host
        self.i_pages = {}
        self.nrpages = 0
        self.a_ops = a_ops
        self.handle = 0
        self.ra_pages = ra_pages            # inode_to_bdi(host)->ra_pages
        self.account_dirty = account_dirty  # mapping_cap_account_dirty
        self.writeback_index = 0            # where range-cyclic writeback goes on from
        self.unevictable = False            # AS_UNEVICTABLE: reclaim must keep its pages
        self.shadows = {}                   # index -> workingset shadow (exceptional entries)

    @property
    def i_mmap(self):
        return self.host.i_mmap

    def __repr__(self):
        return f"<address_space of ino {self.host.i_ino} nrpages={self.nrpages}>"


class FileRaState:
    """struct file_ra_state: one open file's readahead window (include/linux/fs.h)."""

    __slots__ = ("start", "size", "async_size", "ra_pages", "mmap_miss", "prev_pos")

    def __init__(self, ra_pages: int):
        self.start = 0
        self.size = 0
        self.async_size = 0
        self.ra_pages = ra_pages
        self.mmap_miss = 0
        self.prev_pos = -1

    def __repr__(self):
        return (f"<file_ra_state start={self.start} size={self.size} "
                f"async={self.async_size} ra_pages={self.ra_pages}>")


class Inode:
    """struct inode with its address_space (``i_mapping``) and i_mmap (the VMAs mapping it).

    ``s_op`` stands for ``inode->i_sb->s_op`` (the model has no superblock object);
    ``data`` is what the filesystem's backing store holds for the file (the block
    device's bytes for a disk filesystem).
    """

    __slots__ = ("i_ino", "dev", "i_size", "data", "is_append", "is_hugetlbfs",
                 "cap_account_dirty", "mmap_capable", "i_mmap", "path", "s_op",
                 "shmem_acct", "machine", "i_mapping", "i_mode", "i_uid", "i_nlink",
                 "i_count", "sb", "i_state", "dirtied_when", "shmem_info", "i_fop", "i_rdev",
                 "slab_obj", "i_dentry", "i_lru", "i_writecount")

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
        self.i_mapping = AddressSpace(self, account_dirty=account_dirty)
        self.i_mode = 0o100666       # S_IFREG | rw for everyone unless the creator says
        self.i_uid = 0
        self.i_nlink = 1
        self.i_count = 0             # open files and mappings holding the inode (iget)
        self.sb = None               # the filesystem (super_block) the inode lives on
        self.i_state = 0             # I_DIRTY_PAGES, I_SYNC, … (mm/backing_dev.py)
        self.dirtied_when = 0        # jiffies when it was first dirtied (fs-writeback.c)
        self.shmem_info = None       # SHMEM_I(inode) of a shmem/tmpfs inode
        self.i_fop = None            # a device node's own file_operations (def_chr_fops)
        self.i_rdev = None           # a device node's (major, minor)
        # the in-core inode: its slab object (0: only the on-disk inode exists, the
        # cache dropped the in-core one), the dentry that names it, and whether it is on
        # its filesystem's inode LRU (unused, clean, reclaimable)
        self.slab_obj = 0
        self.i_dentry = None
        self.i_lru = False
        # writers (> 0: files open for writing) or deniers (< 0: exec and VM_DENYWRITE
        # mappings), never both (get_write_access / deny_write_access)
        self.i_writecount = 0


class Dentry:
    """struct dentry: a cached name of an inode (fs/dcache.c), backed by an object of the
    dentry cache. ``d_count`` is d_lockref.count less the model's open files and mappings,
    which it reads from the inode's ``i_count``: the children's references, and one for
    a pinned dentry (the root, a mountpoint, a ramfs/tmpfs or device node name)."""

    __slots__ = ("d_name", "d_inode", "d_parent", "d_count", "d_flags", "d_sb", "d_lru",
                 "d_unhashed", "slab_obj")

    def __init__(self, name: str, inode, parent, sb):
        self.d_name = name
        self.d_inode = inode
        self.d_parent = parent
        self.d_count = 0
        self.d_flags = 0
        self.d_sb = sb
        self.d_lru = False           # on the superblock's dentry LRU
        self.d_unhashed = False      # d_drop: the name was unlinked while in use
        self.slab_obj = 0

    def __repr__(self):
        return f"<dentry {self.d_name} count={self.d_count} lru={self.d_lru}>"


def alloc_inode(m, inode, cachep) -> None:
    """Back an inode by an object of its filesystem's inode cache (fs/inode.c alloc_inode
    through s_op->alloc_inode)."""
    slab = m.slab
    if slab is not None:
        inode.slab_obj = slab.alloc_obj(cachep or "inode_cache")


def d_alloc_pseudo(m, sb, inode) -> Dentry:
    """The unhashed dentry of an internal file (fs/dcache.c d_alloc_pseudo); the VFS
    frees it with the file's last reference."""
    dentry = Dentry(inode.path, inode, None, sb)
    dentry.d_unhashed = True
    slab = m.slab
    if slab is not None:
        dentry.slab_obj = slab.alloc_obj("dentry")
    inode.i_dentry = dentry
    return dentry


def destroy_inode(m, inode) -> None:
    """Free the in-core inode's object (fs/inode.c destroy_inode)."""
    slab = m.slab
    if slab is not None and inode.slab_obj:
        s_op = inode.s_op
        slab.free_obj((s_op.inode_cachep if s_op is not None else None) or "inode_cache",
                      inode.slab_obj)
    inode.slab_obj = 0


class File:
    """struct file: an open file description (f_mode, f_count, f_op, the inode)."""

    __slots__ = ("inode", "f_flags", "f_mode_read", "f_mode_write", "f_count", "f_op",
                 "path", "f_pos", "f_ra", "f_mode_random", "private_data", "f_mode_writer")

    def __init__(self, inode, f_flags, path, f_op):
        self.inode = inode
        self.f_flags = f_flags
        acc = f_flags & O_ACCMODE
        self.f_mode_read = acc in (O_RDONLY, O_RDWR)
        self.f_mode_write = acc in (O_WRONLY, O_RDWR)
        self.f_count = 1
        self.f_op = f_op
        self.path = path
        self.f_pos = 0
        self.f_ra = FileRaState(inode.i_mapping.ra_pages)     # file_ra_state_init
        self.f_mode_random = False   # FMODE_RANDOM (POSIX_FADV_RANDOM)
        self.private_data = None     # a driver's own data (a SysV shm attach's segment)
        self.f_mode_writer = False   # FMODE_WRITER: open took i_writecount (get_write_access)
        inode.i_count += 1           # the open file holds the inode

    @property
    def f_mapping(self):
        return self.inode.i_mapping

    def __repr__(self):
        return f"<file {self.path} ino {self.inode.i_ino}>"

    def get_file(self):
        self.f_count += 1
        return self

    def fput(self) -> None:
        """Drop a reference; the last one releases the inode (__fput → iput)."""
        self.f_count -= 1
        if self.f_count == 0:
            if self.f_mode_writer:
                self.inode.i_writecount -= 1         # __fput: put_write_access
            iput(self.inode)


LLONG_MAX = (1 << 63) - 1


def vfs_fsync_range(m, file, start: int, end: int, datasync: bool) -> int:
    """Write bytes [start, end] of ``file`` and its metadata to disk through its fsync
    (fs/sync.c vfs_fsync_range; here because msync calls it and mm never imports fs).
    0 or -errno: EINVAL when the file has no fsync."""
    if file.f_op is None or file.f_op.fsync is None:
        return -errno.EINVAL
    return file.f_op.fsync(m, file, start, end, datasync)


def vfs_fsync(m, file, datasync: bool) -> int:
    """fsync(2) and fdatasync(2) of the whole file (fs/sync.c)."""
    return vfs_fsync_range(m, file, 0, LLONG_MAX, datasync)


def iput(inode) -> None:
    """Drop an inode reference; the last one of an unlinked inode evicts it (fs/inode.c
    iput_final with generic_drop_inode); the last one of a linked inode leaves its
    dentry unused, cached on its filesystem's LRU (``s_op.dput``)."""
    inode.i_count -= 1
    if inode.i_count > 0:
        return
    s_op = inode.s_op
    if s_op is None:
        return
    if s_op.dput is not None and inode.i_dentry is not None:
        s_op.dput(inode)
    elif inode.i_nlink == 0 and s_op.evict_inode is not None:
        s_op.evict_inode(inode)
