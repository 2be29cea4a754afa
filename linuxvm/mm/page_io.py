"""Swap I/O (mm/page_io.c): writing an anon page to its slot and reading it back.

The slot's block keeps what the page held: its content tag and, if it had any, its
bytes. The model's I/O completes at once, so PG_writeback is set and cleared within
``swap_writepage``, with NR_WRITEBACK and NR_WRITTEN counted as 4.6 counts them.
"""

from ..arch.x86.pgtable import swp_type, swp_offset
from ..block.blk_core import submit_bio, READ, WRITE, SECTORS_PER_PAGE
from ..errors import KernelBug
from ..include.vm_event_item import VM_EVENT
from . import swapfile
from .page import PG_locked, PG_uptodate, PG_swapcache
from . import page_writeback                # (it reaches swap through rmap)

_U64 = 0xFFFFFFFFFFFFFFFF


def _unlock(m, pfn: int) -> None:
    f = m.mem_map.f
    f[pfn] = f[pfn] & ~(1 << PG_locked) & _U64


def swap_writepage(m, pfn: int) -> int:
    """address_space_operations.writepage of the swap cache: a page whose slot nobody
    refers to any more is just dropped from the cache; otherwise its contents go to
    the slot (mm/page_io.c swap_writepage → __swap_writepage). 0."""
    if swapfile.try_to_free_swap(m, pfn):
        _unlock(m, pfn)
        return 0
    return __swap_writepage(m, pfn)


def __swap_writepage(m, pfn: int) -> int:
    mem_map = m.mem_map
    if not mem_map.f[pfn] & (1 << PG_swapcache):
        raise KernelBug("__swap_writepage of a page not in the swap cache")
    entry = int(mem_map.priv[pfn])
    si = m.swap.swap_info[swp_type(entry)]
    data = m.page_contents.get(pfn)
    si.slots[swp_offset(entry)] = (int(mem_map.contv[pfn]),
                                   bytes(data) if data is not None else None)
    page_writeback.set_page_writeback(m, pfn)
    _unlock(m, pfn)
    m.pgdat.vm_events[VM_EVENT["pswpout"]] += 1
    submit_bio(m, si.bdev, WRITE, SECTORS_PER_PAGE)
    page_writeback.end_page_writeback(m, pfn)   # end_swap_bio_write: the I/O is done
    return 0


def swap_readpage(m, pfn: int) -> int:
    """Fill a locked swap-cache page from its slot, mark it up to date and unlock it
    (mm/page_io.c swap_readpage). 0."""
    mem_map = m.mem_map
    f = mem_map.f
    if not f[pfn] & (1 << PG_locked) or f[pfn] & (1 << PG_uptodate):
        raise KernelBug("swap_readpage: the page must be locked and not up to date")
    entry = int(mem_map.priv[pfn])
    si = m.swap.swap_info[swp_type(entry)]
    tag, data = si.slots.get(swp_offset(entry), (0, None))
    mem_map.contv[pfn] = tag
    if data is not None:
        m.page_contents[pfn] = bytearray(data)
    else:
        m.page_contents.pop(pfn, None)
    m.pgdat.vm_events[VM_EVENT["pswpin"]] += 1
    submit_bio(m, si.bdev, READ, SECTORS_PER_PAGE)
    f[pfn] = (f[pfn] | (1 << PG_uptodate)) & ~(1 << PG_locked) & _U64
    return 0
