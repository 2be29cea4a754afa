"""show_gfp_flags and the struct page pointer the mm events print
(include/trace/events/mmflags.h).

The gfp names are 4.6's table (linuxvm/include/gfp.py, which linuxvm/mm/gfp.py prints by
too).
"""

from ....lib.tracepoint import print_flags, pointer
from ...gfp import gfpflag_names

# __def_gfpflag_names: composite masks first, most bits set first
GFP_FLAG_NAMES = tuple(gfpflag_names)


def show_gfp_flags(flags: int) -> str:
    """The gfp mask by name, as 4.6's trace output shows it ("none" for 0)."""
    return print_flags(flags, "|", GFP_FLAG_NAMES) if flags else "none"


# the vmemmap: struct page of frame pfn (arch/x86 VMEMMAP_START, sizeof(struct page) 64)
VMEMMAP_START = 0xFFFFEA0000000000
STRUCT_PAGE_SIZE = 64
PAGE_OFFSET = 0xFFFF880000000000


def pfn_to_page(pfn: int) -> str:
    """The %p of ``pfn_to_page(pfn)``."""
    return pointer(VMEMMAP_START + pfn * STRUCT_PAGE_SIZE)
