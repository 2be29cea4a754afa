"""The hacks repository's ``pagetables`` module: raw page-table pages through debugfs
(linux-vm-hacks pagetables/pagetables.c, an out-of-tree module for 4.6).

``/sys/kernel/debug/pagetables/``:

* ``vaddr`` (x64, 0600) and ``pid`` (u32, 0600): the address and task the table files
  look at; pid 0 means the task doing the read (``current``);
* ``pgd``, ``pud``, ``pmd``, ``pte`` (0400): the whole 4096-byte table of that level for
  ``vaddr`` in the target's mm, as simple_read_from_buffer returns it. A none or bad
  entry on the way down gives EINVAL (a PSE PMD is pmd_bad, so ``pte`` under a huge
  leaf is EINVAL; a PSE PUD is pud_bad); a target without an mm (no such pid, an
  exited task, or a read from outside any task) gives ESRCH. The module takes no lock.

Each read re-walks from the PGD with the values current at that moment, as the module
does on every read(2) call.
"""

import errno

from ...arch.x86.pgtable import (pgd_offset, pud_offset, pmd_offset, get_entry, read_table,
                                 pgd_none, pgd_bad, pud_none, pud_bad, pmd_none, pmd_bad,
                                 pgd_pfn, pud_pfn, pmd_pfn)
from ...errors import SyscallError
from .file import DebugfsValue, debugfs_create_attr, fmt_u32, fmt_x64

DIR = "/sys/kernel/debug/pagetables"
TABLE_BYTES = 8 * 512               # sizeof(unsigned long) * PTRS_PER_*


class PagetablesModule:
    """The module's statics: ``u64 vaddr`` and ``pid_t target_pid_nr``."""
    __slots__ = ("vaddr", "target_pid_nr")

    def __init__(self):
        self.vaddr = DebugfsValue(64)
        self.target_pid_nr = DebugfsValue(32)


def get_mm(m, mod: PagetablesModule):
    """The target's mm, or None (pagetables.c:get_mm): pid 0 is current->mm; otherwise
    find_vpid then pid_task, reading the u32 as a pid_t."""
    nr = mod.target_pid_nr.value
    if nr == 0:
        cur = m.current
        return cur.mm if cur is not None else None      # a kernel thread has no mm
    if nr >= 1 << 31:
        return None                                     # a negative pid_t: find_vpid fails
    task = m.tasks.get(nr)
    return task.mm if task is not None else None


def simple_read_from_buffer(table, offset: int, n: int) -> bytes:
    """Bytes [offset, offset+n) of the 4096-byte table, clipped at its end (fs/libfs.c)."""
    if offset >= TABLE_BYTES or n <= 0:
        return b""
    return bytes(memoryview(table).cast("B")[offset:min(offset + n, TABLE_BYTES)])


def _table_pfn(m, mod, level: int) -> int:
    """Frame of the ``level`` table (0 pgd … 3 pte) for vaddr, or raise ESRCH/EINVAL
    (pgd_read, pud_read, pmd_read, pte_read)."""
    mm = get_mm(m, mod)
    if mm is None:
        raise SyscallError(errno.ESRCH, "read")
    vaddr = mod.vaddr.value
    if level == 0:
        return mm.pgd
    pgd = get_entry(m, pgd_offset(mm, vaddr))
    if pgd_none(pgd) or pgd_bad(pgd):
        raise SyscallError(errno.EINVAL, "read")
    if level == 1:
        return pgd_pfn(pgd)                 # pgd_page_vaddr
    pud = get_entry(m, pud_offset(pgd, vaddr))
    if pud_none(pud) or pud_bad(pud):
        raise SyscallError(errno.EINVAL, "read")
    if level == 2:
        return pud_pfn(pud)                 # pud_page_vaddr
    pmd = get_entry(m, pmd_offset(pud, vaddr))
    if pmd_none(pmd) or pmd_bad(pmd):
        raise SyscallError(errno.EINVAL, "read")
    return pmd_pfn(pmd)                     # pmd_page_vaddr


def _write_einval(data: bytes):
    """The table files have no write method: vfs_write refuses with EINVAL (root may open
    a 0400 file for writing; without CAP_DAC_OVERRIDE the open itself is EACCES)."""
    raise SyscallError(errno.EINVAL, "write")


def pagetables_init(procfs) -> PagetablesModule:
    """Create the directory and its six files (pagetables.c:pagetables_init)."""
    m = procfs.m
    mod = PagetablesModule()
    debugfs_create_attr(procfs, f"{DIR}/vaddr", mod.vaddr, fmt_x64, 0o600)
    debugfs_create_attr(procfs, f"{DIR}/pid", mod.target_pid_nr, fmt_u32, 0o600)
    for level, name in enumerate(("pgd", "pud", "pmd", "pte")):
        def render(offset, n, level=level):
            pfn = _table_pfn(m, mod, level)
            return simple_read_from_buffer(read_table(m, pfn), offset, n)
        procfs.add_binary(f"{DIR}/{name}", render, size=lambda: TABLE_BYTES,
                          write=_write_einval, mode=0o400)
    return mod


def register(procfs) -> None:
    pagetables_init(procfs)
