"""``m.proc.export(DIR)``: the model's /proc and /sys written out as real files.

``DIR/proc`` and ``DIR/sys`` get every file the model renders, so that real tools
read the model when those directories are bind-mounted over /proc and /sys in a
private mount namespace::

    unshare -m sh -c 'mount --bind DIR/proc /proc && mount --bind DIR/sys /sys && free'

Text files are rendered once. Binary files: /proc/kpageflags and /proc/kpagecount
are written in full (8 bytes per frame, sized by RAM); a /proc/PID/pagemap covers the
whole user address space (256 GiB of entries), so it is written as a sparse file of
that size with only the entries of the task's VMAs stored (entries outside every VMA
are 0 in 4.6, so the holes read back exactly). Links are written as relative
symlinks, as sysfs and /proc/self are. Files whose read fails in the model (a
write-only sysctl, a SLUB attribute 4.6 answers with ENOSYS) are written empty and
listed in the result's ``skipped``.
"""

import errno
import os
import posixpath
import re
import shutil

from ...arch.x86.page_types import PAGE_SHIFT
from ...errors import SyscallError
from ...mm.pagewalk import PM_ENTRY_BYTES

MARKER = ".linuxvm-export"      # marks a directory an earlier export wrote (replaced freely)
CHUNK = 32 << 20                # bytes of a binary file rendered at a time
_PAGEMAP = re.compile(r"^/proc/(\d+)/pagemap$")


class ExportResult:
    """What an export wrote: counts, and the files left empty with the reason."""

    __slots__ = ("root", "files", "dirs", "links", "skipped")

    def __init__(self, root: str):
        self.root = root
        self.files = self.dirs = self.links = 0
        self.skipped = []           # (model path, reason)

    def __repr__(self):
        return (f"<export {self.root}: {self.files} files, {self.dirs} dirs, {self.links} "
                f"links, {len(self.skipped)} unreadable>")


def prepare_dir(root: str) -> None:
    """Make ``root`` ready: created if absent, emptied of an earlier export.

    :raises FileNotFoundError: the parent of ``root`` does not exist
    :raises NotADirectoryError: ``root`` (or a parent) is a file
    :raises FileExistsError: ``root`` holds other files than an earlier export's
    :raises PermissionError: ``root`` cannot be written
    """
    if os.path.lexists(root) and not os.path.isdir(root):
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", root)
    if not os.path.isdir(root):
        os.mkdir(root)                  # its parent must exist, as for mkdir(1)
    names = os.listdir(root)
    if names and MARKER not in names:
        raise FileExistsError(errno.EEXIST, "not empty and not an earlier export", root)
    if not os.access(root, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "Permission denied", root)
    for name in ("proc", "sys"):
        p = os.path.join(root, name)
        if os.path.islink(p) or os.path.isfile(p):
            os.unlink(p)
        elif os.path.isdir(p):
            shutil.rmtree(p)
    with open(os.path.join(root, MARKER), "w") as f:
        f.write("written by linuxvm export-proc; the next export replaces proc/ and sys/\n")


def _write_binary(procfs, path: str, node, host: str) -> None:
    size = node.size() if node.size is not None else 0
    with open(host, "wb") as f:
        match = _PAGEMAP.match(path)
        if match:
            task = procfs.m.tasks[int(match.group(1))]
            f.truncate(size)            # a sparse file: the holes read as zero entries
            vma = task.mm.mmap if task.mm is not None else None
            while vma is not None:
                lo = (vma.vm_start >> PAGE_SHIFT) * PM_ENTRY_BYTES
                hi = (vma.vm_end >> PAGE_SHIFT) * PM_ENTRY_BYTES
                for off in range(lo, hi, CHUNK):
                    data = procfs.read_bytes(path, off, min(CHUNK, hi - off))
                    if data.count(0) != len(data):
                        f.seek(off)
                        f.write(data)
                vma = vma.vm_next
            return
        for off in range(0, size, CHUNK):
            f.write(procfs.read_bytes(path, off, min(CHUNK, size - off)))


def export_tree(procfs, root: str) -> ExportResult:
    """Write every file of ``procfs`` under ``root`` (see the module docstring)."""
    root = os.path.abspath(root)
    prepare_dir(root)
    result = ExportResult(root)
    stack = ["/proc", "/sys"]
    while stack:
        path = stack.pop()
        host = root + path
        node = procfs.lookup(path)
        if node.kind == "dir":
            os.makedirs(host, exist_ok=True)
            result.dirs += 1
            stack.extend(posixpath.join(path, name) for name in procfs.listdir(path))
        elif node.kind == "link":
            target = node.target
            if target.startswith("/"):
                target = posixpath.relpath(target, posixpath.dirname(path))
            os.symlink(target, host)
            result.links += 1
        elif node.kind == "binary":
            try:
                _write_binary(procfs, path, node, host)
            except (SyscallError, NotImplementedError) as e:
                # a read the kernel refuses (debugfs pagetables below a missing level)
                with open(host, "wb"):
                    pass
                result.skipped.append((path, str(e)))
            result.files += 1
        else:
            try:
                data = node.render().encode("utf-8", "surrogateescape")   # as text_bytes
            except (SyscallError, NotImplementedError) as e:
                data = b""
                result.skipped.append((path, str(e)))
            with open(host, "wb") as f:
                f.write(data)
            result.files += 1
    return result
