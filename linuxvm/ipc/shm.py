"""System V shared memory (ipc/shm.c, ipc/util.c): shmget, shmat, shmdt, shmctl
(IPC_STAT, IPC_RMID) over shmem files.

A segment is a shmem file "SYSV<key>" (charged by size unless SHM_NORESERVE) whose inode
number is the shmid, as /proc/PID/maps shows it. shmat maps a new struct file over the
segment's inode with shm_vm_ops, whose open/close count the attaches (shm_nattch); a
segment marked for removal (IPC_RMID while attached: SHM_DEST, key made private) goes
when the last attach does. shmid = seq * 32768 + idr index, as ipc_buildid makes it.
SHM_HUGETLB segments, IPC_SET, IPC_INFO, SHM_INFO, SHM_STAT and SHM_LOCK are not
modelled.
"""

import errno

from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from ..include.mm import VM_NORESERVE
from ..mm.fs_types import File, FileOperations
from ..mm.mman import (O_RDONLY, O_RDWR, PROT_READ, PROT_WRITE, PROT_EXEC, MAP_SHARED,
                       MAP_FIXED)
from ..mm.gup import mm_populate
from ..mm.mmap import do_mmap, do_munmap
from ..mm.shmem import shmem_file_setup, shmem_fault
from ..mm.util import OVERCOMMIT_NEVER
from ..mm.vm_ops import VmOperationsStruct
from ..mm.vma import find_vma

# include/uapi/linux/ipc.h, shm.h
IPC_PRIVATE = 0
IPC_CREAT, IPC_EXCL, IPC_NOWAIT = 0o1000, 0o2000, 0o4000
IPC_RMID, IPC_SET, IPC_STAT, IPC_INFO = 0, 1, 2, 3
SHM_LOCK, SHM_UNLOCK, SHM_STAT, SHM_INFO = 11, 12, 13, 14
SHM_HUGETLB, SHM_NORESERVE = 0o4000, 0o10000
SHM_DEST, SHM_LOCKED = 0o1000, 0o2000
SHM_RDONLY, SHM_RND, SHM_REMAP, SHM_EXEC = 0o10000, 0o20000, 0o40000, 0o100000
SHMMIN = 1
SHMMNI = 4096
SHMMAX = SHMALL = (1 << 64) - 1 - (1 << 24)
IPCMNI = SEQ_MULTIPLIER = 32768
IPCID_SEQ_MAX = ((1 << 31) - 1) // SEQ_MULTIPLIER
SHMLBA = PAGE_SIZE
S_IRWXUGO = 0o777
S_IRUGO, S_IWUGO, S_IXUGO = 0o444, 0o222, 0o111


class KernIpcPerm:
    """struct kern_ipc_perm: key, owner and creator, mode (with SHM_DEST), id, seq."""

    __slots__ = ("key", "uid", "gid", "cuid", "cgid", "mode", "id", "seq")

    def __init__(self, key, uid, gid, mode):
        self.key = key
        self.uid = self.cuid = uid
        self.gid = self.cgid = gid
        self.mode = mode
        self.id = -1
        self.seq = 0

    def __repr__(self):
        return f"<kern_ipc_perm key={self.key:#x} id={self.id} mode={self.mode:o}>"


class ShmidKernel:
    """struct shmid_kernel: one segment."""

    __slots__ = ("shm_perm", "shm_file", "shm_segsz", "shm_nattch", "shm_cprid",
                 "shm_lprid", "shm_atim", "shm_dtim", "shm_ctim")

    def __init__(self, perm, file, size, cpid):
        self.shm_perm = perm
        self.shm_file = file
        self.shm_segsz = size
        self.shm_nattch = 0
        self.shm_cprid = cpid
        self.shm_lprid = 0
        self.shm_atim = self.shm_dtim = self.shm_ctim = 0

    def __repr__(self):
        return (f"<shmid_kernel id={self.shm_perm.id} size={self.shm_segsz} "
                f"nattch={self.shm_nattch}>")


class ShmidDs:
    """What IPC_STAT copies out (struct shmid64_ds), as a read-only record."""

    __slots__ = ("shm_perm", "shm_segsz", "shm_nattch", "shm_cpid", "shm_lpid",
                 "shm_atime", "shm_dtime", "shm_ctime")

    def __init__(self, shp):
        perm = shp.shm_perm
        self.shm_perm = KernIpcPerm(perm.key, perm.uid, perm.gid, perm.mode)
        self.shm_perm.cuid, self.shm_perm.cgid = perm.cuid, perm.cgid
        self.shm_perm.id, self.shm_perm.seq = perm.id, perm.seq
        self.shm_segsz = shp.shm_segsz
        self.shm_nattch = shp.shm_nattch
        self.shm_cpid = shp.shm_cprid
        self.shm_lpid = shp.shm_lprid
        self.shm_atime, self.shm_dtime, self.shm_ctime = shp.shm_atim, shp.shm_dtim, \
            shp.shm_ctim

    def __repr__(self):
        return (f"<shmid_ds key={self.shm_perm.key:#x} segsz={self.shm_segsz} "
                f"nattch={self.shm_nattch} mode={self.shm_perm.mode:o}>")


class IpcIds:
    """struct ipc_ids of the one IPC namespace's shm: the idr (index → segment), the
    next sequence number and shm_tot (pages of every segment)."""

    __slots__ = ("idr", "seq", "shm_tot")

    def __init__(self):
        self.idr = {}
        self.seq = 0
        self.shm_tot = 0


def shm_ids(m) -> IpcIds:
    if m.shm_ids is None:
        m.shm_ids = IpcIds()
    return m.shm_ids


def _sysctl(m, name):
    return m.sysctl.values["kernel." + name]


def _tgid(m) -> int:
    return m.current.tgid if m.current is not None else 0


class ShmFileData:
    """struct shm_file_data: which segment an attach file stands for."""

    __slots__ = ("id", "file")

    def __init__(self, shmid, file):
        self.id = shmid
        self.file = file


# -- ipc/util.c -------------------------------------------------------------------------------

def ipc_addid(m, ids, shp, size: int) -> int:
    """Give a segment the lowest free index and the next sequence number; the id or
    -ENOSPC."""
    size = min(size, IPCMNI)
    if len(ids.idr) >= size:
        return -errno.ENOSPC
    idx = 0
    while idx in ids.idr:
        idx += 1
    if idx >= IPCMNI:
        return -errno.ENOSPC
    ids.idr[idx] = shp
    perm = shp.shm_perm
    perm.seq = ids.seq
    ids.seq += 1
    if ids.seq > IPCID_SEQ_MAX:
        ids.seq = 0
    perm.id = SEQ_MULTIPLIER * perm.seq + idx
    return perm.id


def shm_obtain_object_check(m, shmid: int):
    """The segment of ``shmid`` or -EINVAL (no such index, or a stale sequence)."""
    shp = shm_ids(m).idr.get(shmid % SEQ_MULTIPLIER)
    if shp is None or shmid // SEQ_MULTIPLIER != shp.shm_perm.seq:
        return -errno.EINVAL
    return shp


def ipcperms(m, perm, flag: int) -> int:
    """0 if the current task may access with ``flag``'s rwx bits, else -1 (owner or
    creator: the user bits; group: the group bits; CAP_IPC_OWNER overrides)."""
    cred = m.current.cred
    requested = (flag >> 6) | (flag >> 3) | flag
    granted = perm.mode
    if cred.euid in (perm.cuid, perm.uid):
        granted >>= 6
    elif cred.egid in (perm.cgid, perm.gid):
        granted >>= 3
    if requested & ~granted & 0o7 and not m.current.capable("CAP_IPC_OWNER"):
        return -1
    return 0


# -- segments ----------------------------------------------------------------------------------

def newseg(m, key: int, shmflg: int, size: int) -> int:
    """Make a segment (ipc/shm.c newseg): its id, or EINVAL (size), ENOSPC (shmall,
    shmmni), ENOMEM (its size cannot be committed)."""
    ids = shm_ids(m)
    numpages = (size + PAGE_SIZE - 1) >> PAGE_SHIFT
    if size < SHMMIN or size > _sysctl(m, "shmmax"):
        return -errno.EINVAL
    if numpages << PAGE_SHIFT < size:
        return -errno.ENOSPC
    if ids.shm_tot + numpages > _sysctl(m, "shmall"):
        return -errno.ENOSPC
    if shmflg & SHM_HUGETLB:
        raise NotImplementedError("shmget(SHM_HUGETLB): hugetlbfs segments are not modelled")
    cred = m.current.cred
    perm = KernIpcPerm(key, cred.euid, cred.egid, shmflg & S_IRWXUGO)
    acctflag = 0
    if shmflg & SHM_NORESERVE and m.sysctl.values["vm.overcommit_memory"] != OVERCOMMIT_NEVER:
        acctflag = VM_NORESERVE
    file = shmem_file_setup(m, f"/SYSV{key & 0xFFFFFFFF:08x}", size, acctflag)
    if isinstance(file, int):
        return file
    shp = ShmidKernel(perm, file, size, _tgid(m))
    shmid = ipc_addid(m, ids, shp, _sysctl(m, "shmmni"))
    if shmid < 0:
        file.fput()
        return shmid
    file.inode.i_ino = shmid              # the shmid is the inode number maps shows
    ids.shm_tot += numpages
    return shmid


def sys_shmget(m, key: int, size: int, shmflg: int) -> int:
    """shmget(2) (ipcget: ipcget_new for IPC_PRIVATE, ipcget_public otherwise)."""
    key = key & 0xFFFFFFFF
    if key == IPC_PRIVATE:
        return newseg(m, key, shmflg, size)
    ids = shm_ids(m)
    shp = next((s for s in ids.idr.values() if s.shm_perm.key == key), None)
    if shp is None:
        if not shmflg & IPC_CREAT:
            return -errno.ENOENT
        return newseg(m, key, shmflg, size)
    if shmflg & IPC_CREAT and shmflg & IPC_EXCL:
        return -errno.EEXIST
    if shp.shm_segsz < size:                        # shm_more_checks
        return -errno.EINVAL
    if ipcperms(m, shp.shm_perm, shmflg):
        return -errno.EACCES
    return shp.shm_perm.id


def shm_may_destroy(m, shp) -> bool:
    return shp.shm_nattch == 0 and (_sysctl(m, "shm_rmid_forced") or
                                    shp.shm_perm.mode & SHM_DEST)


def shm_destroy(m, shp) -> None:
    """Free a segment: out of the idr, shm_tot down, its file's last reference dropped
    (the shmem inode is evicted with its pages and its commit charge)."""
    ids = shm_ids(m)
    ids.shm_tot -= (shp.shm_segsz + PAGE_SIZE - 1) >> PAGE_SHIFT
    del ids.idr[shp.shm_perm.id % SEQ_MULTIPLIER]
    file = shp.shm_file
    shp.shm_file = None
    file.fput()


def __shm_open(vma) -> int:
    sfd = vma.vm_file.private_data
    m = vma.vm_file.inode.machine
    shp = shm_obtain_object_check(m, sfd.id)
    if isinstance(shp, int):
        return shp
    shp.shm_lprid = _tgid(m)
    shp.shm_nattch += 1
    return 0


def shm_open(vma) -> None:
    """vm_ops.open: one attach more (fork, a VMA split or moved)."""
    if __shm_open(vma):
        vma.vm_file.inode.machine.log.pr_warn("WARNING: shm_open: the segment is gone")


def shm_close(vma) -> None:
    """vm_ops.close: one attach less; the last one of a removed segment frees it."""
    sfd = vma.vm_file.private_data
    m = vma.vm_file.inode.machine
    shp = shm_obtain_object_check(m, sfd.id)
    if isinstance(shp, int):
        m.log.pr_warn("WARNING: shm_close: the segment is gone")
        return
    shp.shm_lprid = _tgid(m)
    shp.shm_nattch -= 1
    if shm_may_destroy(m, shp):
        shm_destroy(m, shp)


def shm_fault(vma, vmf) -> int:
    """The segment's own fault handler: shmem's (ipc/shm.c shm_fault)."""
    return shmem_fault(vma, vmf)


def shm_mmap(file, vma) -> int:
    """file_operations.mmap of an attach: count it, let shmem set the VMA up, then put
    shm_vm_ops in front (ipc/shm.c shm_mmap)."""
    err = __shm_open(vma)
    if err:
        return err
    vma.vm_ops = shm_vm_ops
    return 0


# 4.6 shm_vm_ops has no map_pages: no fault-around on SysV shm
shm_vm_ops = VmOperationsStruct("shm_vm_ops", open=shm_open, close=shm_close, fault=shm_fault)
shm_file_operations = FileOperations("shm_file_operations", mmap=shm_mmap)


def do_shmat(m, shmid: int, shmaddr: int, shmflg: int) -> int:
    """shmat(2): the attach address, or EINVAL (bad id, unaligned address without
    SHM_RND, SHM_REMAP without an address, an address range already mapped), EACCES,
    ENOMEM."""
    if shmid < 0:
        return -errno.EINVAL
    addr = shmaddr
    if addr:
        if addr & (SHMLBA - 1):
            if shmflg & SHM_RND:
                addr &= ~(SHMLBA - 1)
            else:
                return -errno.EINVAL
        flags = MAP_SHARED | MAP_FIXED
    else:
        if shmflg & SHM_REMAP:
            return -errno.EINVAL
        flags = MAP_SHARED
    if shmflg & SHM_RDONLY:
        prot, acc_mode, f_flags = PROT_READ, S_IRUGO, O_RDONLY
    else:
        prot, acc_mode, f_flags = PROT_READ | PROT_WRITE, S_IRUGO | S_IWUGO, O_RDWR
    if shmflg & SHM_EXEC:
        prot |= PROT_EXEC
        acc_mode |= S_IXUGO
    shp = shm_obtain_object_check(m, shmid)
    if isinstance(shp, int):
        return shp
    if ipcperms(m, shp.shm_perm, acc_mode):
        return -errno.EACCES
    shp.shm_nattch += 1
    inode = shp.shm_file.inode
    size = inode.i_size
    file = File(inode, f_flags, inode.path, shm_file_operations)
    file.private_data = ShmFileData(shp.shm_perm.id, shp.shm_file)
    mm = m.current.mm
    err = 0
    if addr and not shmflg & SHM_REMAP:
        if addr + size > (1 << 64) - 1 or _intersects(mm, addr, addr + size):
            err = -errno.EINVAL
    if not err:
        ret, populate = do_mmap(m, file, addr, size, prot, flags, 0, 0)
        err = ret if ret < 0 else 0
        addr = ret
        if not err and populate:
            mm_populate(m, ret, populate)
    file.fput()
    shp.shm_nattch -= 1
    if shm_may_destroy(m, shp):
        shm_destroy(m, shp)
    return err if err else addr


def _intersects(mm, start: int, end: int) -> bool:
    vma = find_vma(mm, start)
    return vma is not None and vma.vm_start < end


def sys_shmdt(m, shmaddr: int) -> int:
    """shmdt(2): unmap the attach that starts at ``shmaddr`` and the fragments of the
    same segment after it; EINVAL if none starts there."""
    if shmaddr & (PAGE_SIZE - 1):
        return -errno.EINVAL
    mm = m.current.mm
    retval = -errno.EINVAL
    vma = find_vma(mm, shmaddr)
    file = None
    size = 0
    while vma is not None:
        nxt = vma.vm_next
        if vma.vm_ops is shm_vm_ops and (vma.vm_start - shmaddr) // PAGE_SIZE == vma.vm_pgoff:
            file = vma.vm_file
            size = file.inode.i_size
            do_munmap(m, mm, vma.vm_start, vma.vm_end - vma.vm_start)
            retval = 0
            vma = nxt
            break
        vma = nxt
    size = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    while vma is not None and vma.vm_end - shmaddr <= size:
        nxt = vma.vm_next
        if vma.vm_ops is shm_vm_ops and \
                (vma.vm_start - shmaddr) // PAGE_SIZE == vma.vm_pgoff and vma.vm_file is file:
            do_munmap(m, mm, vma.vm_start, vma.vm_end - vma.vm_start)
        vma = nxt
    return retval


def sys_shmctl(m, shmid: int, cmd: int):
    """shmctl(2) for IPC_STAT (a ShmidDs) and IPC_RMID (0); -errno: EINVAL (bad id or
    cmd), EACCES (IPC_STAT without read permission), EPERM (IPC_RMID by neither owner,
    creator nor CAP_SYS_ADMIN)."""
    if cmd < 0 or shmid < 0:
        return -errno.EINVAL
    if cmd in (IPC_SET, IPC_INFO, SHM_INFO, SHM_STAT, SHM_LOCK, SHM_UNLOCK):
        raise NotImplementedError(f"shmctl cmd {cmd}: only IPC_STAT and IPC_RMID are "
                                  f"modelled")
    if cmd not in (IPC_STAT, IPC_RMID):
        return -errno.EINVAL
    shp = shm_obtain_object_check(m, shmid)
    if isinstance(shp, int):
        return shp
    if cmd == IPC_STAT:
        if ipcperms(m, shp.shm_perm, S_IRUGO):
            return -errno.EACCES
        return ShmidDs(shp)
    euid = m.current.cred.euid
    perm = shp.shm_perm
    if euid not in (perm.cuid, perm.uid) and not m.current.capable("CAP_SYS_ADMIN"):
        return -errno.EPERM
    # do_shm_rmid
    if shp.shm_nattch:
        perm.mode |= SHM_DEST
        perm.key = IPC_PRIVATE              # not found by its key any more
    else:
        shm_destroy(m, shp)
    return 0
