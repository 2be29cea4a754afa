"""/sys/kernel/mm/transparent_hugepage and its khugepaged directory (mm/huge_memory.c
hugepage_attr_group, khugepaged_attr_group): each file's text and what a write does
come from linuxvm/mm/huge_memory.py."""

import errno

from ...errors import SyscallError
from ...mm import huge_memory

DIR = "/sys/kernel/mm/transparent_hugepage"


def register(procfs) -> None:
    m = procfs.m
    for name, show, store in huge_memory.sysfs_files(m):
        procfs.add_text(f"{DIR}/{name}", show, None if store is None else _errno(store))


def _errno(store):
    """A store's -EINVAL as the write's SyscallError (sysfs returns the store's error)."""
    def write(text):
        try:
            store(text)
        except OSError as e:
            raise SyscallError(e.errno or errno.EINVAL, "write") from None
    return write
