"""Memory-management helpers with drgn's names (drgn.helpers.linux.mm): VMAs, page-table
lookups, ``struct page`` pointers and their flags, ``dump_page`` and per-task figures.

A ``Page`` stands for a ``struct page *`` in the vmemmap (``0xffffea0000000000 + pfn *
64``) and reads the model's ``mem_map`` arrays each time, so it always shows the page's
current state.

>>> page = follow_page(p.mm, addr)
>>> page
(struct page *)0xffffea0000076f80
>>> decode_page_flags(page)
'PG_uptodate|PG_lru|PG_active|PG_swapbacked'
"""

from collections import namedtuple

from ..arch.x86.page_types import PAGE_OFFSET, PAGE_SHIFT, VMEMMAP_START
from ..fs.proc.base import proc_pid_cmdline_read, environ_read
from ..kernel.sched import TaskStruct
from ..mm.mm_types import MmStruct, MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES, MM_SWAPENTS
from ..mm.memory.rss import get_mm_counter
from ..mm.page import PAGEFLAG_NAMES, __NR_PAGEFLAGS, NULL
from ..mm.page_alloc import dump_page_lines
from ..mm import vma as _vma
from .vtop import vtop

STRUCT_PAGE_SIZE = 64          # sizeof(struct page) on x86-64

__all__ = ["Page", "for_each_vma", "find_vma", "follow_page", "follow_pfn", "follow_phys",
           "vtop", "page_to_pfn", "pfn_to_page", "virt_to_page", "virt_to_pfn",
           "page_to_virt", "page_to_phys", "pfn_to_virt", "decode_page_flags", "dump_page",
           "TaskRss", "task_rss", "cmdline", "environ"]


class Page:
    """A ``struct page *``: frame ``pfn`` of machine ``m``. Fields read ``mem_map`` live.

    >>> pfn_to_page(m, 0)._count
    1
    """

    __slots__ = ("m", "pfn")

    def __init__(self, m, pfn: int):
        if isinstance(pfn, bool) or not isinstance(pfn, int):
            raise TypeError(f"pfn must be an int, not {pfn!r}")
        if not 0 <= pfn < m.mem_map.nr_frames:
            raise ValueError(f"pfn {pfn:#x} has no struct page on this machine")
        self.m = m
        self.pfn = pfn

    def value_(self) -> int:
        """The pointer's value, as drgn's Object.value_()."""
        return VMEMMAP_START + self.pfn * STRUCT_PAGE_SIZE

    @property
    def flags(self) -> int:
        return int(self.m.mem_map.f[self.pfn])

    @property
    def _count(self) -> int:
        """page->_count (renamed _refcount in 4.7)."""
        return int(self.m.mem_map.rc[self.pfn])

    @property
    def _mapcount(self) -> int:
        return int(self.m.mem_map.mc[self.pfn])

    @property
    def mapping(self) -> int:
        return int(self.m.mem_map.mapping[self.pfn]) & 0xFFFFFFFFFFFFFFFF

    @property
    def index(self) -> int:
        return int(self.m.mem_map.idx[self.pfn]) & 0xFFFFFFFFFFFFFFFF

    @property
    def private(self) -> int:
        return int(self.m.mem_map.priv[self.pfn])

    @property
    def compound_head(self) -> int:
        """The head's struct page address with bit 0 set on a tail page, else 0."""
        head = int(self.m.mem_map.compound_head[self.pfn])
        return 0 if head == NULL else (VMEMMAP_START + head * STRUCT_PAGE_SIZE) | 1

    def __eq__(self, other):
        return isinstance(other, Page) and other.m is self.m and other.pfn == self.pfn

    def __hash__(self):
        return hash(self.pfn)

    def __repr__(self):
        return f"(struct page *){self.value_():#x}"

    def __str__(self):
        """The structure as drgn prints ``*page``.

        >>> print(pfn_to_page(m, 0))  # doctest: +NORMALIZE_WHITESPACE
        *(struct page *)0xffffea0000000000 = {
        	.flags = (unsigned long)1024,
        	.mapping = (struct address_space *)0x0,
        	.index = (pgoff_t)0,
        	._mapcount = (atomic_t){ .counter = (int)-1 },
        	._count = (atomic_t){ .counter = (int)1 },
        	.private = (unsigned long)0,
        	.compound_head = (unsigned long)0,
        }
        """
        return "\n".join([
            f"*{self!r} = {{",
            f"\t.flags = (unsigned long){self.flags},",
            f"\t.mapping = (struct address_space *){self.mapping:#x},",
            f"\t.index = (pgoff_t){self.index},",
            f"\t._mapcount = (atomic_t){{ .counter = (int){self._mapcount} }},",
            f"\t._count = (atomic_t){{ .counter = (int){self._count} }},",
            f"\t.private = (unsigned long){self.private},",
            f"\t.compound_head = (unsigned long){self.compound_head},",
            "}"])


def _mm(mm):
    if not isinstance(mm, MmStruct):
        hint = " (an exited process or a kernel thread has no mm)" if mm is None else ""
        raise TypeError(f"mm must be an mm_struct, not {mm!r}{hint}")
    return mm


def _addr(addr) -> int:
    if isinstance(addr, bool) or not isinstance(addr, int) or not 0 <= addr < 1 << 64:
        raise ValueError(f"address {addr!r} is not a 64-bit value")
    return addr


def _page(page) -> Page:
    if not isinstance(page, Page):
        raise TypeError(f"expected a struct page * (Page), not {page!r}")
    return page


# -- VMAs --------------------------------------------------------------------------------

def for_each_vma(mm):
    """Yield the ``struct vm_area_struct``s of ``mm`` in address order (drgn's
    for_each_vma; the kernel walks mm->mmap and vm_next).

    >>> [(hex(v.vm_start), hex(v.vm_end)) for v in for_each_vma(p.mm)]
    [('0x7f7937823000', '0x7f7937833000')]
    """
    vma = _mm(mm).mmap
    while vma is not None:
        yield vma
        vma = vma.vm_next


def find_vma(mm, addr: int):
    """The VMA containing ``addr``, or None (drgn's find_vma). Unlike the kernel's
    find_vma, which returns the first VMA ending above ``addr``, an address in a gap gives
    None.

    >>> find_vma(p.mm, addr).vm_start == addr
    True
    >>> find_vma(p.mm, 0x1000) is None
    True
    """
    vma = _vma.find_vma(_mm(mm), _addr(addr))
    if vma is None or vma.vm_start > addr:
        return None
    return vma


# -- page-table lookups (read only: no fault, no accessed bit) ------------------------------

def follow_phys(mm, addr: int):
    """The physical address ``addr`` maps to in ``mm``, or None when nothing present is
    mapped there (drgn's follow_phys; the kernel's follow_phys walks the same tables).

    >>> hex(follow_phys(p.mm, addr + 5))
    '0x1dbe005'
    """
    return vtop(_mm(mm), _addr(addr)).phys


def follow_pfn(mm, addr: int):
    """The page frame number ``addr`` maps to in ``mm``, or None (drgn's follow_pfn).

    >>> hex(follow_pfn(p.mm, addr))
    '0x1dbe'
    """
    phys = follow_phys(mm, addr)
    return None if phys is None else phys >> PAGE_SHIFT


def follow_page(mm, addr: int):
    """The ``struct page *`` mapped at ``addr`` in ``mm``, or None (drgn's follow_page;
    unlike mm/gup.c follow_page it never marks the page accessed).

    >>> follow_page(p.mm, addr) == pfn_to_page(m, follow_pfn(p.mm, addr))
    True
    """
    pfn = follow_pfn(mm, addr)
    if pfn is None or not mm.machine.pfn_valid(pfn):
        return None
    return Page(mm.machine, pfn)


# -- struct page conversions ----------------------------------------------------------------

def pfn_to_page(m, pfn: int) -> Page:
    """The ``struct page *`` of frame ``pfn`` (pfn_to_page: vmemmap + pfn).

    >>> pfn_to_page(m, 0x1b1)
    (struct page *)0xffffea0000006c40
    """
    return Page(m, pfn)


def page_to_pfn(page: Page) -> int:
    """The frame number of ``page`` (page_to_pfn).

    >>> hex(page_to_pfn(pfn_to_page(m, 0x1b1)))
    '0x1b1'
    """
    return _page(page).pfn


def page_to_phys(page: Page) -> int:
    """The physical address of ``page``'s frame (page_to_phys).

    >>> hex(page_to_phys(pfn_to_page(m, 0x1b1)))
    '0x1b1000'
    """
    return _page(page).pfn << PAGE_SHIFT


def pfn_to_virt(pfn: int) -> int:
    """The direct-map address of frame ``pfn`` (pfn_to_virt, __va(pfn << PAGE_SHIFT)).

    >>> hex(pfn_to_virt(0x1b1))
    '0xffff8800001b1000'
    """
    return PAGE_OFFSET + (pfn << PAGE_SHIFT)


def page_to_virt(page: Page) -> int:
    """The direct-map address of ``page``'s frame (page_address / page_to_virt).

    >>> hex(page_to_virt(pfn_to_page(m, 0x1b1)))
    '0xffff8800001b1000'
    """
    return pfn_to_virt(_page(page).pfn)


def virt_to_pfn(addr: int) -> int:
    """The frame of a direct-map address (virt_to_pfn, __pa(addr) >> PAGE_SHIFT).

    >>> hex(virt_to_pfn(0xffff8800001b1234))
    '0x1b1'
    """
    if not PAGE_OFFSET <= _addr(addr) < PAGE_OFFSET + (1 << 46):
        raise ValueError(f"{addr:#x} is not a direct-map address")
    return (addr - PAGE_OFFSET) >> PAGE_SHIFT


def virt_to_page(m, addr: int) -> Page:
    """The ``struct page *`` of a direct-map address (virt_to_page).

    >>> virt_to_page(m, 0xffff8800001b1234)
    (struct page *)0xffffea0000006c40
    """
    return Page(m, virt_to_pfn(addr))


def decode_page_flags(page: Page) -> str:
    """The page-flag bits of ``page->flags`` by their enum pageflags names, '|'-separated
    (drgn's decode_page_flags; the zone bits above them are left out).

    >>> decode_page_flags(pfn_to_page(m, 0))
    'PG_reserved'
    """
    flags = _page(page).flags
    return "|".join(f"PG_{PAGEFLAG_NAMES[b]}" for b in range(__NR_PAGEFLAGS)
                    if flags & (1 << b))


def dump_page(page: Page, reason: str = "") -> str:
    """The lines 4.6's dump_page prints for ``page`` (mm/debug.c __dump_page: the same text
    a bad-page report logs), as a string; nothing is logged.

    >>> print(dump_page(follow_page(p.mm, addr), "example"), end="")
    page:ffffea0000076f80 count:1 mapcount:1 mapping:0000000000000005 index:0x7f7937823
    flags: 0x4000000000040068(uptodate|lru|active|swapbacked)
    page dumped because: example
    """
    page = _page(page)
    return "\n".join(dump_page_lines(page.m.mem_map, page.pfn, reason)) + "\n"


# -- per-task figures ------------------------------------------------------------------------

class TaskRss(namedtuple("TaskRss", "file anon shmem swap")):
    """RSS of a task in pages by kind (drgn's TaskRss); ``total`` = file + anon + shmem."""

    __slots__ = ()

    @property
    def total(self) -> int:
        return self.file + self.anon + self.shmem


def task_rss(task) -> TaskRss:
    """The task's RSS counters (drgn's task_rss): the mm's counters plus the task's own
    not-yet-folded SPLIT_RSS_COUNTING deltas, which /proc/PID/status leaves out.

    >>> task_rss(p.task)
    TaskRss(file=0, anon=16, shmem=0, swap=0)
    """
    if not isinstance(task, TaskStruct):
        raise TypeError(f"task must be a task_struct, not {task!r}")
    mm = task.mm
    if mm is None:
        return TaskRss(0, 0, 0, 0)
    delta = task.rss_stat.count

    def one(member):
        return max(get_mm_counter(mm, member) + delta[member], 0)
    return TaskRss(one(MM_FILEPAGES), one(MM_ANONPAGES), one(MM_SHMEMPAGES),
                   one(MM_SWAPENTS))


def _strings(text: str) -> list:
    data = text.encode("utf-8", "surrogateescape")
    if not data:
        return []
    return data.rstrip(b"\0").split(b"\0") if data.endswith(b"\0") else data.split(b"\0")


def cmdline(task):
    """The task's argument strings as a list of bytes, None without an mm (drgn's cmdline;
    read as /proc/PID/cmdline reads them). A spawned task has no argument area yet.

    >>> cmdline(p.task)
    []
    """
    if not isinstance(task, TaskStruct):
        raise TypeError(f"task must be a task_struct, not {task!r}")
    if task.mm is None:
        return None
    return _strings(proc_pid_cmdline_read(task.mm.machine, task))


def environ(task):
    """The task's environment strings as a list of bytes, None without an mm (drgn's
    environ; read as /proc/PID/environ reads them).

    >>> environ(p.task)
    []
    """
    if not isinstance(task, TaskStruct):
        raise TypeError(f"task must be a task_struct, not {task!r}")
    if task.mm is None:
        return None
    return _strings(environ_read(task.mm.machine, task))

