"""show_gfp_flags and the struct page pointer the mm events print
(include/trace/events/mmflags.h).

The gfp bits are 4.6's (include/linux/gfp.h, the same values as linuxvm/mm/gfp.py, which
this header layer may not import; tests/test_trace.py checks they agree).
"""

from ....lib.tracepoint import print_flags, pointer

___GFP_DMA = 0x01
___GFP_HIGHMEM = 0x02
___GFP_DMA32 = 0x04
___GFP_MOVABLE = 0x08
___GFP_RECLAIMABLE = 0x10
___GFP_HIGH = 0x20
___GFP_IO = 0x40
___GFP_FS = 0x80
___GFP_COLD = 0x100
___GFP_NOWARN = 0x200
___GFP_REPEAT = 0x400
___GFP_NOFAIL = 0x800
___GFP_NORETRY = 0x1000
___GFP_MEMALLOC = 0x2000
___GFP_COMP = 0x4000
___GFP_ZERO = 0x8000
___GFP_NOMEMALLOC = 0x10000
___GFP_HARDWALL = 0x20000
___GFP_THISNODE = 0x40000
___GFP_ATOMIC = 0x80000
___GFP_ACCOUNT = 0x100000
___GFP_NOTRACK = 0x200000
___GFP_DIRECT_RECLAIM = 0x400000
___GFP_OTHER_NODE = 0x800000
___GFP_WRITE = 0x1000000
___GFP_KSWAPD_RECLAIM = 0x2000000

_RECLAIM = ___GFP_DIRECT_RECLAIM | ___GFP_KSWAPD_RECLAIM
_KERNEL = _RECLAIM | ___GFP_IO | ___GFP_FS
_USER = _KERNEL | ___GFP_HARDWALL
_HIGHUSER_MOVABLE = _USER | ___GFP_HIGHMEM | ___GFP_MOVABLE
_TRANSHUGE = ((_HIGHUSER_MOVABLE | ___GFP_COMP | ___GFP_NOMEMALLOC | ___GFP_NORETRY
               | ___GFP_NOWARN) & ~_RECLAIM)

# __def_gfpflag_names: composite masks first, most bits set first
GFP_FLAG_NAMES = (
    (_TRANSHUGE, "GFP_TRANSHUGE"),
    (_HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE"),
    (_USER | ___GFP_HIGHMEM, "GFP_HIGHUSER"),
    (_USER, "GFP_USER"),
    (_KERNEL | ___GFP_RECLAIMABLE, "GFP_TEMPORARY"),
    (_KERNEL | ___GFP_ACCOUNT, "GFP_KERNEL_ACCOUNT"),
    (_KERNEL, "GFP_KERNEL"),
    (_RECLAIM | ___GFP_IO, "GFP_NOFS"),
    (___GFP_HIGH | ___GFP_ATOMIC | ___GFP_KSWAPD_RECLAIM, "GFP_ATOMIC"),
    (_RECLAIM, "GFP_NOIO"),
    (___GFP_KSWAPD_RECLAIM, "GFP_NOWAIT"),
    (___GFP_DMA, "GFP_DMA"),
    (___GFP_HIGHMEM, "__GFP_HIGHMEM"),
    (___GFP_DMA32, "GFP_DMA32"),
    (___GFP_HIGH, "__GFP_HIGH"),
    (___GFP_ATOMIC, "__GFP_ATOMIC"),
    (___GFP_IO, "__GFP_IO"),
    (___GFP_FS, "__GFP_FS"),
    (___GFP_COLD, "__GFP_COLD"),
    (___GFP_NOWARN, "__GFP_NOWARN"),
    (___GFP_REPEAT, "__GFP_REPEAT"),
    (___GFP_NOFAIL, "__GFP_NOFAIL"),
    (___GFP_NORETRY, "__GFP_NORETRY"),
    (___GFP_COMP, "__GFP_COMP"),
    (___GFP_ZERO, "__GFP_ZERO"),
    (___GFP_NOMEMALLOC, "__GFP_NOMEMALLOC"),
    (___GFP_MEMALLOC, "__GFP_MEMALLOC"),
    (___GFP_HARDWALL, "__GFP_HARDWALL"),
    (___GFP_THISNODE, "__GFP_THISNODE"),
    (___GFP_RECLAIMABLE, "__GFP_RECLAIMABLE"),
    (___GFP_MOVABLE, "__GFP_MOVABLE"),
    (___GFP_ACCOUNT, "__GFP_ACCOUNT"),
    (___GFP_NOTRACK, "__GFP_NOTRACK"),
    (___GFP_WRITE, "__GFP_WRITE"),
    (_RECLAIM, "__GFP_RECLAIM"),
    (___GFP_DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"),
    (___GFP_KSWAPD_RECLAIM, "__GFP_KSWAPD_RECLAIM"),
    (___GFP_OTHER_NODE, "__GFP_OTHER_NODE"),
)


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
