"""read/write/pread64/pwrite64/lseek (fs/read_write.c), ftruncate (fs/open.c),
fsync/fdatasync (fs/sync.c) and unlink (fs/namei.c) on the model's file descriptors.

Bytes move between a file and the calling task's user memory as the real calls move
them: copy_to_user/copy_from_user through the model's user-access path (the MMU walk
and the page-fault handler), so a read into an untouched buffer faults it in and a
bad buffer gives EFAULT (or a short count after a partial copy).
"""

import errno

from ..arch.x86 import uaccess
from ..arch.x86.page_types import PAGE_SIZE, TASK_SIZE
from ..errors import Signal
from ..mm.fadvise import sys_fadvise64_64
from ..mm.fs_types import vfs_fsync
from ..mm.mman import O_APPEND, SEEK_SET, SEEK_CUR, SEEK_END
from .file import S_IFMT, S_IFDIR, S_IFREG

MAX_RW_COUNT = 0x7FFFF000            # INT_MAX & PAGE_MASK
LOFF_MAX = (1 << 63) - 1


def copy_to_user(m, task, addr: int, data: bytes) -> int:
    """Copy ``data`` to user ``addr``; the bytes copied before a fault."""
    done = 0
    n = len(data)
    while done < n:
        va = addr + done
        chunk = min(n - done, PAGE_SIZE - (va & (PAGE_SIZE - 1)))
        saved = task.thread_cr2, task.thread_error_code
        try:
            uaccess.write_user(m, task, va, data[done:done + chunk])
        except Signal:
            # a kernel-mode fault the exception table fixes up: no signal, no cr2
            task.thread_cr2, task.thread_error_code = saved
            break
        done += chunk
    return done


def copy_from_user(m, task, addr: int, n: int) -> bytes:
    """Read ``n`` user bytes at ``addr``; fewer when a page faults."""
    out = bytearray()
    while len(out) < n:
        va = addr + len(out)
        chunk = min(n - len(out), PAGE_SIZE - (va & (PAGE_SIZE - 1)))
        saved = task.thread_cr2, task.thread_error_code
        try:
            out += uaccess.read_user(m, task, va, chunk)
        except Signal:
            task.thread_cr2, task.thread_error_code = saved
            break
    return bytes(out)


def access_ok(addr: int, size: int) -> bool:
    return addr + size <= TASK_SIZE + PAGE_SIZE and addr + size >= addr


def _fdget(task, fd: int):
    return task.files.get(fd)


def _is_dir(file) -> bool:
    return file.inode.i_mode & S_IFMT == S_IFDIR


def vfs_read(m, task, file, buf: int, count: int, pos: int) -> int:
    """fs/read_write.c vfs_read with rw_verify_area; bytes read or -errno."""
    if not file.f_mode_read:
        return -errno.EBADF
    if _is_dir(file):
        return -errno.EISDIR                       # generic_read_dir
    if file.f_op.read_iter is None:
        return -errno.EINVAL
    if not access_ok(buf, count):
        return -errno.EFAULT
    if pos < 0 or pos + count > LOFF_MAX:
        return -errno.EINVAL
    count = min(count, MAX_RW_COUNT)
    state = {"off": 0}

    def copy(pfn: int, offset: int, nr: int) -> int:
        page = m.page_contents.get(pfn)
        data = bytes(page[offset:offset + nr]) if page is not None else bytes(nr)
        got = copy_to_user(m, task, buf + state["off"], data)
        state["off"] += got
        return got
    return file.f_op.read_iter(m, file, pos, count, copy)


def vfs_write(m, task, file, buf: int, count: int, pos: int) -> int:
    """fs/read_write.c vfs_write; bytes written or -errno."""
    if not file.f_mode_write:
        return -errno.EBADF
    if file.f_op.write_iter is None:
        return -errno.EINVAL
    if not access_ok(buf, count):
        return -errno.EFAULT
    if pos < 0 or pos + count > LOFF_MAX:
        return -errno.EINVAL
    count = min(count, MAX_RW_COUNT)
    state = {"off": 0}

    def fetch(n: int) -> bytes:
        data = copy_from_user(m, task, buf + state["off"], n)
        state["off"] += len(data)
        return data
    return file.f_op.write_iter(m, file, pos, count, fetch)


def sys_read(m, task, fd: int, buf: int, count: int) -> int:
    file = _fdget(task, fd)
    if file is None:
        return -errno.EBADF
    ret = vfs_read(m, task, file, buf, count, file.f_pos)
    if ret > 0:
        file.f_pos += ret
    return ret


def sys_write(m, task, fd: int, buf: int, count: int) -> int:
    file = _fdget(task, fd)
    if file is None:
        return -errno.EBADF
    pos = file.f_pos
    if file.f_mode_write and file.f_flags & O_APPEND:
        pos = file.inode.i_size                    # generic_write_checks
    ret = vfs_write(m, task, file, buf, count, pos)
    if ret > 0:
        file.f_pos = pos + ret
    return ret


def sys_pread64(m, task, fd: int, buf: int, count: int, pos: int) -> int:
    if pos < 0:
        return -errno.EINVAL
    file = _fdget(task, fd)
    if file is None:
        return -errno.EBADF
    return vfs_read(m, task, file, buf, count, pos)


def sys_pwrite64(m, task, fd: int, buf: int, count: int, pos: int) -> int:
    if pos < 0:
        return -errno.EINVAL
    file = _fdget(task, fd)
    if file is None:
        return -errno.EBADF
    if file.f_mode_write and file.f_flags & O_APPEND:
        pos = file.inode.i_size                    # Linux appends even with pwrite
    return vfs_write(m, task, file, buf, count, pos)


def sys_lseek(m, task, fd: int, offset: int, whence: int) -> int:
    """generic_file_llseek: the new offset, or -errno (EINVAL for a bad whence or a
    negative result)."""
    file = _fdget(task, fd)
    if file is None:
        return -errno.EBADF
    if whence == SEEK_SET:
        new = offset
    elif whence == SEEK_CUR:
        new = file.f_pos + offset
    elif whence == SEEK_END:
        new = file.inode.i_size + offset
    else:
        return -errno.EINVAL
    if new < 0 or new > LOFF_MAX:
        return -errno.EINVAL
    file.f_pos = new
    return new


def do_sys_ftruncate(m, task, fd: int, length: int) -> int:
    """fs/open.c do_sys_ftruncate: EINVAL for a negative length, a file not open for
    writing or not regular; EPERM for an append-only file."""
    if length < 0:
        return -errno.EINVAL
    file = _fdget(task, fd)
    if file is None:
        return -errno.EBADF
    inode = file.inode
    if inode.i_mode & S_IFMT != S_IFREG or not file.f_mode_write:
        return -errno.EINVAL
    if inode.is_append:
        return -errno.EPERM
    return m.vfs.truncate(inode, length)


def do_fsync(m, task, fd: int, datasync: bool) -> int:
    """fs/sync.c do_fsync: EBADF, EINVAL when the file has no fsync."""
    file = _fdget(task, fd)
    if file is None:
        return -errno.EBADF
    return vfs_fsync(m, file, datasync)


def sys_unlink(m, task, path: str) -> int:
    return m.vfs.unlink(path, task.cred)


def sys_fadvise64(m, task, fd: int, offset: int, length: int, advice: int) -> int:
    return sys_fadvise64_64(m, _fdget(task, fd), offset, length, advice)
