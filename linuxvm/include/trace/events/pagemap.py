"""The pagemap events: pages going onto an LRU list (include/trace/events/pagemap.h)."""

from ....lib.tracepoint import TRACE_EVENT
from .mmflags import pfn_to_page

PAGEMAP_MAPPED = 0x0001
PAGEMAP_ANONYMOUS = 0x0002
PAGEMAP_FILE = 0x0004
PAGEMAP_SWAPCACHE = 0x0008
PAGEMAP_SWAPBACKED = 0x0010
PAGEMAP_MAPPEDDISK = 0x0020
PAGEMAP_BUFFERS = 0x0040


def _lru_insertion(pfn, lru, flags):
    return (f"page={pfn_to_page(pfn)} pfn={pfn} lru={lru} flags="
            + ("M" if flags & PAGEMAP_MAPPED else " ")
            + ("a" if flags & PAGEMAP_ANONYMOUS else "f")
            + ("s" if flags & PAGEMAP_SWAPCACHE else " ")
            + ("b" if flags & PAGEMAP_SWAPBACKED else " ")
            + ("d" if flags & PAGEMAP_MAPPEDDISK else " ")
            + ("B" if flags & PAGEMAP_BUFFERS else " "))


mm_lru_insertion = TRACE_EVENT("pagemap", "mm_lru_insertion", "pfn lru flags",
                               _lru_insertion)
