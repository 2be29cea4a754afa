"""The model's /proc, /sys and debugfs: a path table of pure renderers over model state.

Renderers never change state. A text file's renderer returns ``str``; a binary
file's renderer takes ``(offset, count)`` and returns ``bytes`` so that large
files (``/proc/kpageflags`` of a 64 GiB machine) are produced only for the range
read. A binary file also says how far a read from offset 0 goes (its ``size``:
256 GiB for a pagemap), so that a read "to the end" is refused, clearly, when it
could not fit in host memory; ``m.proc.open(path)`` gives a file object to read such
a file in chunks, as a program reads the kernel's. Modules register their files in
``register(procfs)``; the list of modules is ``PROC_MODULES`` below.
"""

import errno
import importlib
import io
import os
import posixpath

from ...errors import SyscallError
from . import export

# Modules (under linuxvm.fs.proc) that contribute files; each has register(procfs).
PROC_MODULES = ["meminfo", "vmstat", "page", "sysctl_files", "base", "pagetables",
                "slabinfo", "swaps", "stat", "cpuinfo", "thp_sysfs"]


# the most one read returns (read_bytes, or read() of a file from m.proc.open): a bigger
# read would need that much host memory at once
MAX_READ = 256 << 20


class Node:
    __slots__ = ("kind", "render", "write", "target", "size", "mode")

    def __init__(self, kind, render=None, write=None, target=None, size=None, mode=None):
        self.kind = kind            # "text", "binary", "dir" or "link"
        self.render = render
        self.write = write
        self.target = target
        self.size = size            # binary: () -> bytes a read from 0 to the end returns
        self.mode = mode            # permission bits where a file records them (debugfs)


def text_bytes(text: str) -> bytes:
    """A text file's bytes: UTF-8, with the bytes a renderer passed through undecoded (a
    process's argv, as surrogate escapes) given back unchanged."""
    return text.encode("utf-8", "surrogateescape")


def _check_offset(offset, n):
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise TypeError(f"offset must be an int, not {offset!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int)):
        raise TypeError(f"n must be an int or None, not {n!r}")


def _read_node(node, path: str, offset: int, n, text_cache=None) -> bytes:
    """``n`` bytes (None: to the end) of a file at ``offset``, at most MAX_READ of them."""
    if offset < 0 or (n is not None and n < 0):
        raise SyscallError(errno.EINVAL, "pread")
    if node.kind == "binary":
        if n is None:
            n = max(node.size() - offset, 0) if node.size is not None else None
        if n is None or n > MAX_READ:
            what = "the rest of the file" if n is None else f"{n} bytes"
            raise ValueError(f"{path}: a read of {what} at offset {offset} is more than the "
                             f"model returns at once ({MAX_READ >> 20} MiB): read a range, "
                             f"read_bytes(path, offset, n), or read it in chunks from "
                             f"m.proc.open(path)")
        return node.render(offset, n)
    data = text_cache if text_cache is not None else text_bytes(node.render())
    return data[offset:] if n is None else data[offset:offset + n]


class ProcFile(io.RawIOBase):
    """A /proc file opened for reading (``m.proc.open(path)``): read, seek and tell as on a
    real one. Binary files render only the range each read asks for; text files render
    on the first read from offset 0 (as seq_file does) and read from that text."""

    def __init__(self, procfs, path: str, node):
        super().__init__()
        self._path = path
        self._node = node
        self._pos = 0
        self._text = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """mem_lseek / seq_lseek: SEEK_SET and SEEK_CUR; SEEK_END is EINVAL."""
        _check_offset(offset, None)
        if whence == os.SEEK_CUR:
            offset += self._pos
        elif whence != os.SEEK_SET:
            raise SyscallError(errno.EINVAL, "lseek")
        if offset < 0:
            raise SyscallError(errno.EINVAL, "lseek")
        self._pos = offset
        return offset

    def read(self, size: int = -1) -> bytes:
        if self.closed:
            raise ValueError("read of a closed file")
        _check_offset(0, size)
        n = None if size is None or size < 0 else size
        if self._node.kind == "text" and (self._text is None or self._pos == 0):
            self._text = text_bytes(self._node.render())
        data = _read_node(self._node, self._path, self._pos, n, self._text)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


class ProcFS:
    """``m.proc``: read, read_bytes, write and listdir over the registered files."""

    def __init__(self, machine):
        self.m = machine
        # whether the reader has CAP_SYS_ADMIN (pagemap shows PFNs only to such readers)
        self.privileged = True
        self._files = {}
        self._providers = []        # (prefix, resolve(path) -> Node|None, list(path) -> names|None)
        for name in PROC_MODULES:
            importlib.import_module(f"{__name__}.{name}").register(self)

    # -- registration ---------------------------------------------------------
    def add_text(self, path, render, write=None, mode=None):
        self._files[path] = Node("text", render, write, mode=mode)

    def add_binary(self, path, render, size=None, write=None, mode=None):
        """A binary file; ``write(bytes)``, when given, serves write(2) on it."""
        self._files[path] = Node("binary", render, write, size=size, mode=mode)

    def add_provider(self, prefix, resolve, lister):
        """Files below ``prefix`` that depend on state (``/proc/<pid>/…``)."""
        self._providers.append((prefix, resolve, lister))

    # -- lookup ---------------------------------------------------------------
    @staticmethod
    def _norm(path):
        if not isinstance(path, str) or not path.startswith("/"):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        parts = [p for p in path.split("/") if p and p != "."]
        return "/" + "/".join(parts)

    def lookup(self, path):
        path = self._norm(path)
        node = self._files.get(path)
        if node is not None:
            return node
        for prefix, resolve, _ in self._providers:
            if path == prefix or path.startswith(prefix + "/"):
                node = resolve(path)
                if node is not None:
                    return node
        if self.listdir_or_none(path) is not None:
            return Node("dir")
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)

    def read(self, path) -> str:
        node = self._follow(path)
        if node.kind == "dir":
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        if node.kind == "binary":
            raise ValueError(f"{path} is a binary file: use read_bytes(path, offset, n)")
        return node.render()

    def read_bytes(self, path, offset: int = 0, n: int = None) -> bytes:
        """``n`` bytes at ``offset`` (None: to the end of the file), as one pread.

        :raises ValueError: the read would return more than MAX_READ bytes (a pagemap read
            to its end is 256 GiB): read a range, or in chunks from ``open(path)``
        """
        _check_offset(offset, n)
        node = self._follow(path)
        if node.kind == "dir":
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        return _read_node(node, path, offset, n)

    def open(self, path) -> ProcFile:
        """A file object over a /proc file for reading in chunks (read, seek, tell).

        >>> with m.proc.open(f"/proc/{p.pid}/pagemap") as f:
        ...     f.seek((addr >> 12) * 8); entry = f.read(8)
        """
        node = self._follow(path)
        if node.kind == "dir":
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        return ProcFile(self, self._norm(path), node)

    def write(self, path, data) -> None:
        node = self._follow(path)
        if node.kind not in ("text", "binary") or node.write is None:
            raise SyscallError(errno.EACCES, "open", f"{path} is not writable")
        if node.kind == "binary":
            node.write(data.encode() if isinstance(data, str) else bytes(data))
            return
        if isinstance(data, bytes):
            data = data.decode()
        node.write(data)

    def mode(self, path):
        """The permission bits a file was created with (debugfs files record theirs), or
        None where the model does not record them."""
        return self._follow(path).mode

    def _follow(self, path):
        path = self._norm(path)
        node = self.lookup(path)
        hops = 0
        while node.kind == "link":
            hops += 1
            if hops > 8:
                raise SyscallError(errno.ELOOP, "open")
            # a relative target ("/proc/self" -> "42") is relative to the link's directory
            path = posixpath.join(posixpath.dirname(path), node.target)
            node = self.lookup(path)
        return node

    def readlink(self, path) -> str:
        node = self.lookup(path)
        if node.kind != "link":
            raise SyscallError(errno.EINVAL, "readlink")
        return node.target

    def listdir_or_none(self, path):
        path = self._norm(path)
        prefix = "" if path == "/" else path
        names = set()
        for f in self._files:
            if f.startswith(prefix + "/"):
                names.add(f[len(prefix) + 1:].split("/")[0])
        for pfx, _, lister in self._providers:
            if pfx.startswith(prefix + "/") and pfx != path:
                names.add(pfx[len(prefix) + 1:].split("/")[0])
            elif path == pfx or path.startswith(pfx + "/"):
                got = lister(path)
                if got is not None:
                    names.update(got)
        return sorted(names) if names else None

    def listdir(self, path) -> list:
        names = self.listdir_or_none(path)
        if names is None:
            node = self.lookup(path)       # raises FileNotFoundError when absent
            if node.kind != "dir":
                raise NotADirectoryError(errno.ENOTDIR, "Not a directory", path)
            return []
        return names

    def export(self, dirpath):
        """Write the model's /proc and /sys as real files under ``dirpath`` (``dirpath/proc``,
        ``dirpath/sys``), for real tools to read in a mount namespace (fs/proc/export.py).

        >>> m.proc.export("/tmp/model")
        <export /tmp/model: 1380 files, 54 dirs, 38 links, 79 unreadable>

        :param dirpath: a directory that is absent, empty, or holds an earlier export
        :raises TypeError: ``dirpath`` is not a str or os.PathLike
        :raises FileNotFoundError: the parent of ``dirpath`` does not exist
        :raises NotADirectoryError: ``dirpath`` is a file
        :raises FileExistsError: ``dirpath`` holds files that are not an earlier export
        :raises PermissionError: ``dirpath`` cannot be written
        """
        if not isinstance(dirpath, (str, os.PathLike)):
            raise TypeError(f"dirpath must be a str or os.PathLike, not {dirpath!r}")
        return export.export_tree(self, os.fspath(dirpath))

    def exists(self, path) -> bool:
        try:
            self.lookup(path)
            return True
        except FileNotFoundError:
            return False
