"""The model's /proc, /sys and debugfs: a path table of pure renderers over model state.

Renderers never change state. A text file's renderer returns ``str``; a binary
file's renderer takes ``(offset, count)`` and returns ``bytes`` so that large
files (``/proc/kpageflags`` of a 64 GiB machine) are produced only for the range
read. Modules register their files in ``register(procfs)``; the list of modules
is ``PROC_MODULES`` below.
"""

import errno
import importlib

from ...errors import SyscallError

# Modules (under linuxvm.fs.proc) that contribute files; each has register(procfs).
PROC_MODULES = ["meminfo", "vmstat", "page", "sysctl_files", "base", "pagetables",
                "slabinfo"]


class Node:
    __slots__ = ("kind", "render", "write", "target")

    def __init__(self, kind, render=None, write=None, target=None):
        self.kind = kind            # "text", "binary", "dir" or "link"
        self.render = render
        self.write = write
        self.target = target


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
    def add_text(self, path, render, write=None):
        self._files[path] = Node("text", render, write)

    def add_binary(self, path, render):
        self._files[path] = Node("binary", render)

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
        node = self._follow(path)
        if node.kind == "dir":
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        if offset < 0 or (n is not None and n < 0):
            raise SyscallError(errno.EINVAL, "pread")
        if node.kind == "binary":
            return node.render(offset, n)
        data = node.render().encode()
        return data[offset:] if n is None else data[offset:offset + n]

    def write(self, path, data) -> None:
        node = self._follow(path)
        if node.kind != "text" or node.write is None:
            raise SyscallError(errno.EACCES, "open", f"{path} is not writable")
        if isinstance(data, bytes):
            data = data.decode()
        node.write(data)

    def _follow(self, path):
        node = self.lookup(path)
        hops = 0
        while node.kind == "link":
            hops += 1
            if hops > 8:
                raise SyscallError(errno.ELOOP, "open")
            node = self.lookup(node.target)
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

    def exists(self, path) -> bool:
        try:
            self.lookup(path)
            return True
        except FileNotFoundError:
            return False
