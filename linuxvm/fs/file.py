"""The model's VFS: mounts, directories, regular files by path, open/unlink/truncate
(fs/namei.c, fs/open.c, fs/file_table.c), and copying real host files in.

``m.fs`` (also ``m.vfs``) has the disk filesystem (ext4-like, on ``sda1``) mounted at
``/``; ``m.fs.mount("ramfs", "/mnt/ram")`` adds a ramfs. ``m.fs.create(path, size,
data)`` makes a file whose bytes are on the disk (not in the page cache: the first
read is I/O); ``m.fs.import_host(path)`` copies a real file in. The objects (struct
file, inode, address_space) and their tables are mm's (linuxvm/mm/fs_types.py); the
filesystems' operations are linuxvm/fs/ext4.py's.
"""

import errno
import os

from ..mm.backing_dev import BackingDevInfo, bdi_register
from ..mm.fs_types import File, FileOperations, Inode, alloc_inode
from ..mm.mman import (O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_APPEND, O_EXCL,
                       O_TRUNC, O_DIRECTORY)
from ..include.mm import VM_NORESERVE
from ..mm.shmem import (SHMEM_DEV, ShmemSbInfo, shmem_aops, shmem_file_operations, shmem_ops,
                        shmem_init_inode, shmem_default_max_blocks)
from ..mm.truncate import truncate_setsize
from ..block.blk_core import BlockDevice
from .fs_writeback import wb_workfn
from .dcache import d_alloc, d_instantiate, d_delete, dput, dput_inode
from .inode import iget
from .super import register_super_shrinker
from .ext4 import (ext4_aops, ext4_file_operations, ext4_sops, ramfs_aops,
                   ramfs_file_operations, ramfs_ops, generic_file_vm_ops)
from .char_mem import MEM_MAJOR, ZERO_MINOR, zero_fops

__all__ = ["VFS", "File", "Inode", "SuperBlock", "ROOT_DEV", "generic_file_vm_ops"]

ROOT_DEV = (8, 1)                # the model's root filesystem (sda1)
S_IFMT = 0o170000
S_IFREG = 0o100000
S_IFDIR = 0o040000
S_IFCHR = 0o020000
MAY_WRITE, MAY_READ = 2, 4


# include/uapi/asm-generic/fcntl.h
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


class SuperBlock:
    """struct super_block of one mounted filesystem: its type, device, tables and inode
    list (s_inodes, newest first as inode_sb_list_add leaves it)."""

    __slots__ = ("fstype", "dev", "bdev", "a_ops", "f_op", "s_op", "ra_pages",
                 "account_dirty", "inodes", "mountpoint", "s_bdi", "s_fs_info",
                 "s_dentry_lru", "s_inode_lru", "s_shrink", "noexec")

    def __init__(self, fstype, dev, bdev, a_ops, f_op, s_op, ra_pages, account_dirty,
                 mountpoint):
        self.fstype = fstype
        self.dev = dev
        self.bdev = bdev
        self.a_ops = a_ops
        self.f_op = f_op
        self.s_op = s_op
        self.ra_pages = ra_pages
        self.account_dirty = account_dirty
        self.inodes = []
        self.mountpoint = mountpoint
        self.s_bdi = None           # the device's backing_dev_info; None: noop_backing_dev_info
        self.s_fs_info = None       # SHMEM_SB of a tmpfs mount
        # the unused dentries and inodes, oldest first (list_lru s_dentry_lru, s_inode_lru)
        self.s_dentry_lru = {}
        self.s_inode_lru = {}
        self.s_shrink = None        # the slab shrinker of its dentries and inodes
        self.noexec = False         # MNT_NOEXEC of its mount (path_noexec)

    def __repr__(self):
        return f"<super_block {self.fstype} {self.dev[0]}:{self.dev[1]} on {self.mountpoint}>"


# a file made with mmap=False: no mmap operation (mmap answers ENODEV)
nommap_file_operations = FileOperations("nommap_file_operations",
                                        read_iter=ext4_file_operations.read_iter,
                                        write_iter=ext4_file_operations.write_iter,
                                        fsync=ext4_file_operations.fsync)
dir_file_operations = FileOperations("ext4_dir_operations")


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


class VFS:
    """``m.fs`` / ``m.vfs``: the model's mounts, directories and files by path."""

    def __init__(self, m):
        self.m = m
        self.files = {}                 # path -> Inode of each regular file
        self.dirs = {}                  # path -> Inode of each directory
        self.dcache = {}                # path -> its hashed Dentry (dentry_hashtable)
        m.vfs = self                    # vfs_caches_init: the dcache exists from here on
        # the tmpfs inode's dentry is the VFS's (mm's shmem has no dcache of its own)
        shmem_ops.dput = dput_inode
        self.next_ino = {ROOT_DEV: 2, SHMEM_DEV: 1}
        self.mounts = {}                # mountpoint -> SuperBlock
        self.sda = BlockDevice("sda", (8, 0))
        self.all_bdevs = [self.sda]     # fs/block_dev.c all_bdevs
        self.next_anon_dev = 100        # get_anon_bdev minors for ramfs mounts
        root = SuperBlock("ext4", ROOT_DEV, self.sda, ext4_aops, ext4_file_operations,
                          ext4_sops, 32, True, "/")
        root.s_bdi = BackingDevInfo(m, f"{self.sda.dev[0]}:{self.sda.dev[1]}", wb_workfn)
        bdi_register(m, root.s_bdi)
        self.mounts["/"] = root
        register_super_shrinker(m, root)
        # directories the model makes by itself are world-writable and sticky, like
        # /tmp, so that a process of any uid may create files (mkdir gives its own mode)
        self.dirs["/"] = self._new_inode(root, "/", S_IFDIR | 0o1777, 0)
        # shmem_init's kern_mount: the internal tmpfs mount has no size limit
        self.shm_mnt = SuperBlock("tmpfs", SHMEM_DEV, None, shmem_aops, shmem_file_operations,
                                  shmem_ops, 0, False, None)
        m.shm_mnt_sbinfo = self.shm_mnt.s_fs_info = ShmemSbInfo(0, self.shm_mnt)
        register_super_shrinker(m, self.shm_mnt)
        # a distribution's boot: devtmpfs's /dev/zero, and tmpfs on /dev/shm
        self.mknod("/dev/zero", S_IFCHR | 0o666, (MEM_MAJOR, ZERO_MINOR), zero_fops)
        self.mount("tmpfs", "/dev/shm")

    # -- inodes and names ---------------------------------------------------------------
    def _ino(self, dev):
        self.next_ino[dev] += 1
        return self.next_ino[dev]

    def sb_of(self, path: str) -> SuperBlock:
        """The filesystem ``path`` lives on (the longest mountpoint prefix)."""
        best = self.mounts["/"]
        for mp, sb in self.mounts.items():
            if mp != "/" and (path == mp or path.startswith(mp + "/")) and \
                    len(mp) > len(best.mountpoint):
                best = sb
        return best

    def _new_inode(self, sb, path, mode, uid, size=0, data=b"", pinned=False) -> Inode:
        """A new inode named ``path`` on ``sb``, in core with its dentry (a negative
        dentry of the name becomes it)."""
        inode = Inode(self._ino(sb.dev), sb.dev, size, bytearray(data), path,
                      account_dirty=sb.account_dirty, s_op=sb.s_op)
        inode.i_mode = mode
        inode.i_uid = uid
        inode.sb = sb
        inode.machine = self.m
        mapping = inode.i_mapping
        mapping.a_ops = sb.a_ops
        mapping.ra_pages = sb.ra_pages
        if sb.fstype == "ramfs":
            mapping.unevictable = True      # ramfs_get_inode: mapping_set_unevictable
        if sb.fstype == "tmpfs":
            # shmem_mknod → shmem_get_inode(..., VM_NORESERVE): charged page by page
            shmem_init_inode(self.m, inode, VM_NORESERVE, sb.s_fs_info)
        sb.inodes.insert(0, inode)
        alloc_inode(self.m, inode, sb.s_op.inode_cachep)
        pinned = pinned or sb.fstype != "ext4"
        negative = self.dcache.get(path)
        if negative is not None and negative.d_inode is None and not pinned:
            d_instantiate(negative, inode)
        elif path == "/" or path == sb.mountpoint:
            d_alloc(self.m, sb, path, None, inode, True)
        else:
            d_alloc(self.m, sb, path, self._lookup(_parent(path)).i_dentry, inode, pinned)
        return inode

    def _lookup(self, path: str):
        """Walk to ``path``: the inode, read in and given its dentry again if the caches
        had dropped them, or None; a name a disk filesystem does not have is cached as a
        negative dentry (fs/namei.c lookup_fast/lookup_slow → d_alloc, ext4_lookup)."""
        inode = self.files.get(path) or self.dirs.get(path)
        if inode is not None:
            if inode.i_dentry is None:
                parent = None if path == "/" or path == inode.sb.mountpoint \
                    else self._lookup(_parent(path)).i_dentry
                if not inode.slab_obj:
                    iget(self.m, inode.sb, inode)
                d_alloc(self.m, inode.sb, path, parent, inode)
            return inode
        parent_path = _parent(path)
        if path in self.dcache or parent_path not in self.dirs:
            return None
        parent = self._lookup(parent_path)
        if parent.sb.fstype == "ext4" and self.sb_of(path) is parent.sb:
            d_alloc(self.m, parent.sb, path, parent.i_dentry, None)
        return None

    def _path_put(self, path: str) -> None:
        """The end of a path walk's use of its last dentry (path_put → dput)."""
        inode = self.files.get(path) or self.dirs.get(path)
        dentry = inode.i_dentry if inode is not None else self.dcache.get(path)
        if dentry is not None:
            dput(self.m, dentry)

    def _check_path(self, path):
        if not isinstance(path, str) or not path.startswith("/") or \
                (path.endswith("/") and path != "/") or "//" in path:
            raise ValueError(f"path must be absolute and name a file: {path!r}")

    def _mkdirs(self, path: str) -> None:
        """Make ``path`` and its missing parents directories (mkdir -p)."""
        if path in self.dirs:
            return
        if path in self.files:
            raise ValueError(f"{path} is a file, not a directory")
        self._mkdirs(_parent(path))
        self.dirs[path] = self._new_inode(self.sb_of(path), path, S_IFDIR | 0o1777, 0)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        """Make a directory (and its missing parents)."""
        self._check_path(path)
        if path in self.dirs or path in self.files:
            raise ValueError(f"{path} already exists")
        self._mkdirs(path)
        self.dirs[path].i_mode = S_IFDIR | (mode & 0o7777)
        self._path_put(path)

    def mknod(self, path: str, mode: int, rdev: tuple, fops) -> Inode:
        """A device node (vfs_mknod): opening it gives the driver's file_operations."""
        self._check_path(path)
        self._mkdirs(_parent(path))
        inode = self._new_inode(self.sb_of(path), path, mode, 0, pinned=True)
        inode.i_fop = fops
        inode.i_rdev = rdev
        self.files[path] = inode
        return inode

    def mount(self, fstype: str, mountpoint: str, size: int = None, *,
              noexec: bool = False) -> SuperBlock:
        """Mount a new, empty ramfs or tmpfs at ``mountpoint`` (made if missing). A
        tmpfs holds ``size`` bytes (default: half of RAM, as 4.6 mounts it); ``noexec``
        is the mount option (execve of its files gives EACCES)."""
        if fstype not in ("ramfs", "tmpfs"):
            raise ValueError(f"only ramfs and tmpfs can be mounted, not {fstype!r}")
        if size is not None and (fstype != "tmpfs" or not isinstance(size, int) or size < 0):
            raise ValueError(f"size= is a tmpfs mount's byte count, not {size!r}")
        self._check_path(mountpoint)
        if mountpoint in self.mounts:
            raise ValueError(f"something is already mounted on {mountpoint}")
        self._mkdirs(mountpoint)
        dev = (0, self.next_anon_dev)
        self.next_anon_dev += 1
        self.next_ino[dev] = 1
        # noop_backing_dev_info: no readahead, no dirty accounting or writeback
        if fstype == "tmpfs":
            sb = SuperBlock("tmpfs", dev, None, shmem_aops, shmem_file_operations, shmem_ops,
                            0, False, mountpoint)
            # size=N rounds up to pages (shmem_parse_options)
            sb.s_fs_info = ShmemSbInfo(shmem_default_max_blocks(self.m) if size is None
                                       else (size + 4095) >> 12, sb)
        else:
            sb = SuperBlock("ramfs", dev, None, ramfs_aops, ramfs_file_operations, ramfs_ops,
                            0, False, mountpoint)
        sb.noexec = bool(noexec)
        # the mountpoint's own dentry stays, pinned by the mount (DCACHE_MOUNTED)
        under = self._lookup(mountpoint).i_dentry
        under.d_count += 1
        self.mounts[mountpoint] = sb
        register_super_shrinker(self.m, sb)
        self.dirs[mountpoint] = self._new_inode(sb, mountpoint, S_IFDIR | 0o1777, 0)
        return sb

    def create(self, path: str, size: int = 0, data: bytes = None, *, mmap: bool = True,
               append: bool = False, mode: int = 0o666, uid: int = 0) -> Inode:
        """Create a regular file of ``size`` bytes (``data`` at its start, zeros after)
        whose bytes are on its filesystem's storage (for ext4: on the disk, so the first
        access reads them; a ramfs has no storage: give ramfs files their data by
        writing it).

        :param mmap: False makes a file without an mmap operation (mmap → ENODEV)
        :raises ValueError: a bad path or size, or the file exists
        """
        inode = self._create(path, size, data, mmap=mmap, append=append, mode=mode, uid=uid)
        self._path_put(path)
        return inode

    def _create(self, path: str, size: int = 0, data: bytes = None, *, mmap: bool = True,
                append: bool = False, mode: int = 0o666, uid: int = 0) -> Inode:
        self._check_path(path)
        if path in self.files or path in self.dirs:
            raise ValueError(f"{path} already exists")
        data = bytes(data or b"")
        if size is None:
            size = len(data)
        if not isinstance(size, int) or size < 0 or len(data) > size:
            raise ValueError(f"size must be an int >= len(data), not {size!r}")
        sb = self.sb_of(path)
        if sb.fstype in ("ramfs", "tmpfs") and any(data):
            raise ValueError(f"a {sb.fstype} file has no storage for data: write it instead")
        self._mkdirs(_parent(path))
        inode = self._new_inode(sb, path, S_IFREG | (mode & 0o7777), uid, size,
                                data if sb.bdev is not None else b"")
        inode.mmap_capable = mmap
        inode.is_append = append
        self.files[path] = inode
        return inode

    def import_host(self, host_path: str, path: str = None) -> Inode:
        """Copy a real file of the host into the model's disk at ``path`` (default: the
        same path), keeping its permission bits."""
        with open(host_path, "rb") as f:
            data = f.read()
        mode = os.stat(host_path).st_mode & 0o7777
        path = os.path.abspath(host_path) if path is None else path
        return self.create(path, len(data), data, mode=mode)

    # -- system calls' VFS halves ----------------------------------------------------------
    def _permission(self, inode, mask: int, cred) -> int:
        """generic_permission on the owner and other bits (no groups); uid 0 may do
        anything (CAP_DAC_OVERRIDE)."""
        if cred is None or cred.euid == 0:
            return 0
        mode = inode.i_mode
        bits = (mode >> 6) if cred.euid == inode.i_uid else mode
        need = (MAY_READ if mask & MAY_READ else 0) | (MAY_WRITE if mask & MAY_WRITE else 0)
        return 0 if (bits & need) == need else -errno.EACCES

    def open(self, path, flags, mode: int = 0o666, cred=None):
        """do_sys_open's VFS half: a File, or -errno (ENOENT, EEXIST, EISDIR, ENOTDIR,
        EACCES, EPERM)."""
        err = build_open_flags(flags)
        if err:
            return err
        self._lookup(path)
        file = self._open(path, flags, mode, cred)
        self._path_put(path)
        return file

    def _open(self, path, flags, mode, cred):
        acc = flags & O_ACCMODE
        if path in self.dirs:
            if flags & O_CREAT and flags & O_EXCL:
                return -errno.EEXIST
            if acc in (O_WRONLY, O_RDWR) or flags & O_CREAT:
                return -errno.EISDIR
            inode = self.dirs[path]
            err = self._permission(inode, MAY_READ, cred)
            if err:
                return err
            return File(inode, flags, path, dir_file_operations)
        inode = self.files.get(path)
        if inode is None:
            if not flags & O_CREAT:
                return -errno.ENOENT
            parent = _parent(path)
            if parent not in self.dirs:
                return -errno.ENOENT if parent not in self.files else -errno.ENOTDIR
            err = self._permission(self.dirs[parent], MAY_WRITE, cred)
            if err:
                return err
            inode = self._create(path, 0, mode=mode, uid=cred.euid if cred else 0)
        elif flags & O_CREAT and flags & O_EXCL:
            return -errno.EEXIST
        else:
            if flags & O_DIRECTORY:
                return -errno.ENOTDIR
            mask = (MAY_READ if acc in (0, O_RDWR) else 0) | \
                (MAY_WRITE if acc in (O_WRONLY, O_RDWR) or flags & O_TRUNC else 0)
            err = self._permission(inode, mask, cred)
            if err:
                return err
        if inode.is_append and acc in (O_WRONLY, O_RDWR) and not flags & O_APPEND:
            return -errno.EPERM
        writer = acc in (O_WRONLY, O_RDWR) and inode.i_mode & S_IFMT == S_IFREG
        if writer and inode.i_writecount < 0:
            return -errno.ETXTBSY      # get_write_access: it is being executed
        if flags & O_TRUNC and acc in (O_WRONLY, O_RDWR):
            if inode.is_append:
                return -errno.EPERM
            self.truncate(inode, 0)
        if inode.i_fop is not None:
            return File(inode, flags, path, inode.i_fop)      # chrdev_open
        f_op = inode.sb.f_op if inode.mmap_capable else nommap_file_operations
        f = File(inode, flags, path, f_op)
        if writer:
            inode.i_writecount += 1    # do_dentry_open: FMODE_WRITER
            f.f_mode_writer = True
        return f

    def truncate(self, inode, length: int) -> int:
        """Set a file's size (notify_change → ext4_setattr/simple_setattr/shmem_setattr):
        the page cache past it goes, and the blocks past it on the disk. 0 or -errno."""
        setattr_size = inode.s_op.setattr_size if inode.s_op is not None else None
        if setattr_size is not None:
            return setattr_size(self.m, inode, length)
        truncate_setsize(self.m, inode, length)
        if len(inode.data) > length:
            del inode.data[length:]
        return 0

    def unlink(self, path, cred=None) -> int:
        """do_unlinkat: remove the name; the inode lives on while files hold it."""
        if path in self.dirs:
            return -errno.EISDIR
        inode = self._lookup(path)
        if inode is None:
            self._path_put(path)
            return -errno.ENOENT
        err = self._permission(self.dirs.get(_parent(path), self.dirs["/"]), MAY_WRITE, cred)
        if err:
            self._path_put(path)
            return err
        del self.files[path]
        inode.i_nlink = 0
        inode.path = path + " (deleted)"
        d_delete(self.m, inode.i_dentry)
        return 0
