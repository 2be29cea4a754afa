"""The hacks repository's user tool ``pagetables [pid]`` run against the model's debugfs
(linux-vm-hacks pagetables/pagetables-usr.c, with its compile-time defaults HIDE_KERNEL=1,
HIDE_USER=0, STATS_ONLY=0, MAX_LEVEL=PTE).

The tool writes the pid (default "0": itself) to ``pid``, then walks: it reads a table
eight bytes at a time through stdio (one 4096-byte read(2) fills the buffer; a failed
read is tried again by the next fread), skips zero entries, prints the rest, and for a
present non-PSE entry above the PTE level writes ``vaddr`` (``"0x%lx"``, the chosen
indices at their shifts) and descends. The PGD walk stops before index 271
(KERNEL_PGD_BOUNDARY - 1). Its quirks are kept:

* the address mask clears only the low 9 bits (``~(512 - 1)``), so the software bits
  9-11 (SPECIAL, SOFT_DIRTY) show in the printed address and print as 0 in the flags;
* an unreadable table (EINVAL) leaves ``entry = 0``: the entry at index 0 prints as a
  valid not-present entry, the others as ``<INVALID>``, and none is counted (the
  statistics return for a non-present entry before counting invalid ones);
* flag totals count huge and gigantic leaves as one 4 KiB page each.

Output goes to ``stdout``; errors the C program reports go to ``stderr`` with exit
status 1.
"""

import errno
import os
from dataclasses import dataclass

from ..errors import SyscallError

_PAGE_PRESENT, _PAGE_RW, _PAGE_USER = 1 << 0, 1 << 1, 1 << 2
_PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PSE, _PAGE_GLOBAL = 1 << 5, 1 << 6, 1 << 7, 1 << 8
_PAGE_NX = 1 << 63
MAX_PHYS_MASK = (1 << 46) - 1
U64 = (1 << 64) - 1
PAGE_SIZE = 4096
HUGE_PAGE_SIZE = 1 << 21
GIGA_PAGE_SIZE = 1 << 30
KERNEL_PGD_BOUNDARY = 272
FLAGS_MIN_BITS = 12

DEBUGFS_PATH = "/sys/kernel/debug/pagetables/"
VADDR_PATH = DEBUGFS_PATH + "vaddr"
TARGET_PID_PATH = DEBUGFS_PATH + "pid"

PGD_LEVEL, PUD_LEVEL, PMD_LEVEL, PTE_LEVEL, PHYS_4K_LEVEL = range(5)
MAX_LEVEL = PTE_LEVEL
LEVEL_NAME = ("PGD", "PUD", "PMD", "PTE", "4K Phys")
LEVEL_PATH = tuple(DEBUGFS_PATH + n for n in ("pgd", "pud", "pmd", "pte"))
LEVEL_SIZE = (512, 512, 512, 512)
LEVEL_SHIFT = (39, 30, 21, 12)
FLAGS = (("R/W", _PAGE_RW), ("User", _PAGE_USER), ("Accessed", _PAGE_ACCESSED),
         ("Dirty", _PAGE_DIRTY), ("Global", _PAGE_GLOBAL), ("NX", _PAGE_NX))
HUMAN_SUFFIX = ("", "KiB", "MiB", "GiB", "TiB")


@dataclass
class ToolResult:
    """What the program printed and its exit status."""
    stdout: str
    stderr: str
    status: int


class _Exit(Exception):
    pass


def human_bytes(nbytes: int) -> str:
    """``"%6.1f %s"`` after dividing by 1024 while above 1024 (print_human_bytes)."""
    i = 0
    f = float(nbytes)
    while f > 1024 and i < len(HUMAN_SUFFIX) - 1:
        i += 1
        f /= 1024
    return "%6.1f %s" % (f, HUMAN_SUFFIX[i])


def print_bin(val: int, length: int) -> str:
    return "".join("1" if val >> i & 1 else "0" for i in range(length - 1, -1, -1))


class _Stream:
    """A FILE opened "r" on a debugfs table: fread of 8 bytes served from a 4096-byte
    buffer that one read(2) fills; a failed read(2) leaves the offset where it was."""

    def __init__(self, proc, path):
        self.f = proc.open(path)
        self.buf = b""
        self.pos = 0

    def fread_word(self):
        """(entry, 0) or (None, errno)."""
        if self.pos + 8 > len(self.buf):
            try:
                self.buf = self.buf[self.pos:] + self.f.read(PAGE_SIZE)
            except SyscallError as e:
                return None, e.errno
            self.pos = 0
            if len(self.buf) < 8:
                return None, 0              # end of file: fread short, errno unchanged
        word = int.from_bytes(self.buf[self.pos:self.pos + 8], "little")
        self.pos += 8
        return word, 0

    def close(self):
        self.f.close()


class PagetablesUsr:
    """One run of the tool (its statics: vaddr, page_count[], pte_count[], …)."""

    def __init__(self, proc):
        self.proc = proc
        self.out = []
        self.err = []
        self.vaddr = 0
        self.page_count = [0] * 5
        self.pte_count = [0] * len(FLAGS)
        self.gigantic_page_count = 0
        self.huge_page_count = 0
        self.invalid_entry_count = 0
        self.errno = 0

    def _fail(self, msg):
        self.err.append(msg)
        raise _Exit()

    def _write_file(self, path, text, what):
        try:
            self.proc.write(path, text)
        except FileNotFoundError:
            self._fail(f"pagetables: {what}: error opening {path}: "
                       f"{os.strerror(errno.ENOENT)}\n")
        except SyscallError:
            self._fail(f"pagetables: {what}: write error at {path}\n"
                       if what == "set_target_pid" else f"pagetables: write error at {path}\n")

    def set_target_pid(self, pid_str: str):
        self._write_file(TARGET_PID_PATH, pid_str, "set_target_pid")

    def update_sync_vaddr(self, level, index):
        mask = (LEVEL_SIZE[level] - 1) << LEVEL_SHIFT[level]
        self.vaddr = (self.vaddr & ~mask & U64) | (index << LEVEL_SHIFT[level])
        self._write_file(VADDR_PATH, "0x%x" % self.vaddr, "sync_vaddr")

    def print_entry(self, index, level, entry):
        phys_mask = ~(LEVEL_SIZE[level] - 1) & MAX_PHYS_MASK
        phys = entry & phys_mask
        flags = entry & ~phys_mask & U64
        line = "   " * level + "%03d " % abs(index)
        if index < 0:
            self.out.append(line + "       <INVALID>\n")
            return
        line += "   <not present> " if not flags & _PAGE_PRESENT else "%016x " % phys
        line += print_bin(flags, FLAGS_MIN_BITS)
        if flags & _PAGE_NX:
            line += " NX"
        if flags & _PAGE_PSE:
            line += " H"
        self.out.append(line + "\n")

    def update_stats(self, level, entry, valid):
        huge = entry & _PAGE_PSE
        if not entry & _PAGE_PRESENT:
            return
        if not valid:
            self.invalid_entry_count += 1
            return
        if huge:
            if level == PUD_LEVEL:
                self.gigantic_page_count += 1
            elif level == PMD_LEVEL:
                self.huge_page_count += 1
            else:
                self.err.append(f"WARNING: Unrecognised huge page at {LEVEL_NAME[level]} level\n")
        else:
            self.page_count[level + 1] += 1         # each entry is a page of the next level
        if level == PTE_LEVEL or huge:
            for i, (_, bit) in enumerate(FLAGS):
                if entry & bit:
                    self.pte_count[i] += 1

    def print_pagetable(self, level):
        path = LEVEL_PATH[level]
        try:
            stream = _Stream(self.proc, path)
        except FileNotFoundError:
            self._fail(f"pagetables: error opening {path}: {os.strerror(errno.ENOENT)}\n")
        count = KERNEL_PGD_BOUNDARY - 1 if level == PGD_LEVEL else LEVEL_SIZE[level]
        try:
            for i in range(count):
                valid = True
                entry, err = stream.fread_word()
                if entry is None:
                    if err == errno.EINVAL:
                        entry, valid = 0, False
                    else:
                        self._fail(f"pagetables: error: read error: {os.strerror(err)}\n")
                if valid and not entry:
                    continue
                present = entry & _PAGE_PRESENT
                huge = entry & _PAGE_PSE
                self.print_entry(i if valid else -i, level, entry)
                self.update_stats(level, entry, valid)
                if present and not huge and level < MAX_LEVEL:
                    self.update_sync_vaddr(level, i)
                    self.print_pagetable(level + 1)
        finally:
            stream.close()

    def print_counts(self):
        o = self.out
        o.append("\n== Page Counts ==\n\n")
        o.append("PGD pages:\t       1 (   4.0 KiB)\n")
        total, total_bytes = 1, PAGE_SIZE
        for i in range(1, 5):
            c = self.page_count[i]
            o.append("%s pages:\t%8d (%s)\n" % (LEVEL_NAME[i], c, human_bytes(c * PAGE_SIZE)))
            total += c
            total_bytes += c * PAGE_SIZE
        if self.gigantic_page_count:
            c = self.gigantic_page_count
            o.append("Giga Phys pages:%8d (%s)\n" % (c, human_bytes(c * GIGA_PAGE_SIZE)))
            total += c
            total_bytes += c * GIGA_PAGE_SIZE
        if self.huge_page_count:
            c = self.huge_page_count
            o.append("Huge Phys pages:%8d (%s)\n" % (c, human_bytes(c * HUGE_PAGE_SIZE)))
            total += c
            total_bytes += c * HUGE_PAGE_SIZE
        o.append("TOTAL:\t\t%8d (%s)\n\n" % (total, human_bytes(total_bytes)))
        if self.invalid_entry_count:
            o.append("!!! Invalid (unreadable) entries: %d\n\n" % self.invalid_entry_count)
        ptes = self.page_count[PHYS_4K_LEVEL] + self.huge_page_count + self.gigantic_page_count
        for (name, _), c in zip(FLAGS, self.pte_count):
            if c:
                o.append("%s PTEs:\t%8d/%d (%s)\n" % (name, c, ptes, human_bytes(c * PAGE_SIZE)))

    def main(self, argv) -> int:
        try:
            self.set_target_pid(argv[1] if len(argv) > 1 else "0")
            self.print_pagetable(PGD_LEVEL)
            self.print_counts()
        except _Exit:
            return 1
        return 0


def pagetables_usr(m, pid=None, reader=None) -> ToolResult:
    """Run ``./pagetables [pid]`` on machine ``m``.

    >>> r = pagetables_usr(m, p.pid); print(r.stdout)

    :param pid: the argument (an int or the string as typed); None runs it without one,
        so it writes "0" and dumps the reading process
    :param reader: the Process the tool runs as (``current`` during its reads); None reads
        as whatever task is current on the machine (the last one that ran), and with no
        current task (a kernel thread) pid 0 has no mm: ESRCH
    """
    argv = ["pagetables"] if pid is None else ["pagetables", str(pid)]
    tool = PagetablesUsr(m.proc)
    if reader is None:
        status = tool.main(argv)
    else:
        # the tool's reads run in its own task's context, so pid 0 is the tool itself
        status = reader._as_current(lambda _m: tool.main(argv))
    return ToolResult("".join(tool.out), "".join(tool.err), status)
