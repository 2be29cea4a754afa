"""GFP flags with their 4.6 values, gfp_zone and migratetype (include/linux/gfp.h)."""

import re

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

__GFP_DMA = ___GFP_DMA
__GFP_HIGHMEM = ___GFP_HIGHMEM
__GFP_DMA32 = ___GFP_DMA32
__GFP_MOVABLE = ___GFP_MOVABLE
__GFP_RECLAIMABLE = ___GFP_RECLAIMABLE
__GFP_HIGH = ___GFP_HIGH
__GFP_IO = ___GFP_IO
__GFP_FS = ___GFP_FS
__GFP_COLD = ___GFP_COLD
__GFP_NOWARN = ___GFP_NOWARN
__GFP_REPEAT = ___GFP_REPEAT
__GFP_NOFAIL = ___GFP_NOFAIL
__GFP_NORETRY = ___GFP_NORETRY
__GFP_MEMALLOC = ___GFP_MEMALLOC
__GFP_COMP = ___GFP_COMP
__GFP_ZERO = ___GFP_ZERO
__GFP_NOMEMALLOC = ___GFP_NOMEMALLOC
__GFP_HARDWALL = ___GFP_HARDWALL
__GFP_THISNODE = ___GFP_THISNODE
__GFP_ATOMIC = ___GFP_ATOMIC
__GFP_ACCOUNT = ___GFP_ACCOUNT
__GFP_NOTRACK = ___GFP_NOTRACK
__GFP_DIRECT_RECLAIM = ___GFP_DIRECT_RECLAIM
__GFP_OTHER_NODE = ___GFP_OTHER_NODE
__GFP_WRITE = ___GFP_WRITE
__GFP_KSWAPD_RECLAIM = ___GFP_KSWAPD_RECLAIM
__GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM
__GFP_BITS_SHIFT = 26
__GFP_BITS_MASK = (1 << __GFP_BITS_SHIFT) - 1

GFP_ATOMIC = __GFP_HIGH | __GFP_ATOMIC | __GFP_KSWAPD_RECLAIM
GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS
GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT
GFP_NOWAIT = __GFP_KSWAPD_RECLAIM
GFP_NOIO = __GFP_RECLAIM
GFP_NOFS = __GFP_RECLAIM | __GFP_IO
GFP_TEMPORARY = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_RECLAIMABLE
GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL
GFP_DMA = __GFP_DMA
GFP_DMA32 = __GFP_DMA32
GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM
GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE
GFP_TRANSHUGE = ((GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC
                  | __GFP_NORETRY | __GFP_NOWARN) & ~__GFP_RECLAIM)
# arch/x86/include/asm/pgalloc.h / pgtable.c
PGALLOC_GFP = GFP_KERNEL | __GFP_NOTRACK | __GFP_REPEAT | __GFP_ZERO

GFP_ZONEMASK = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE
GFP_MOVABLE_MASK = __GFP_RECLAIMABLE | __GFP_MOVABLE
GFP_MOVABLE_SHIFT = 3

# Every name a gfp expression may use.
GFP_NAMES = {k: v for k, v in globals().items()
             if (k.startswith("__GFP_") or k.startswith("GFP_")) and isinstance(v, int)
             and k not in ("__GFP_BITS_SHIFT", "GFP_MOVABLE_SHIFT")}

# mmflags.h __def_gfpflag_names: most bits first, so composites win (%pGg).
gfpflag_names = [(GFP_NAMES[n], n) for n in (
    "GFP_TRANSHUGE", "GFP_HIGHUSER_MOVABLE", "GFP_HIGHUSER", "GFP_USER", "GFP_TEMPORARY",
    "GFP_KERNEL_ACCOUNT", "GFP_KERNEL", "GFP_NOFS", "GFP_ATOMIC", "GFP_NOIO", "GFP_NOWAIT",
    "GFP_DMA", "__GFP_HIGHMEM", "GFP_DMA32", "__GFP_HIGH", "__GFP_ATOMIC", "__GFP_IO",
    "__GFP_FS", "__GFP_COLD", "__GFP_NOWARN", "__GFP_REPEAT", "__GFP_NOFAIL",
    "__GFP_NORETRY", "__GFP_COMP", "__GFP_ZERO", "__GFP_NOMEMALLOC", "__GFP_MEMALLOC",
    "__GFP_HARDWALL", "__GFP_THISNODE", "__GFP_RECLAIMABLE", "__GFP_MOVABLE",
    "__GFP_ACCOUNT", "__GFP_NOTRACK", "__GFP_WRITE", "__GFP_RECLAIM",
    "__GFP_DIRECT_RECLAIM", "__GFP_KSWAPD_RECLAIM", "__GFP_OTHER_NODE")]

_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|0[xX][0-9a-fA-F]+|\d+)\s*")

_gfp_cache: dict = {}


def parse_gfp(gfp) -> int:
    """The gfp_t value of ``gfp``: an int or an expression such as ``"GFP_KERNEL|__GFP_ZERO"``.

    Supports ``|``, ``&`` and ``~`` between names and numbers, left to right.
    :raises ValueError: a token that is not a 4.6 GFP name (the message names it)
    """
    if isinstance(gfp, int) and not isinstance(gfp, bool):
        if gfp < 0 or gfp > __GFP_BITS_MASK:
            raise ValueError(f"gfp mask {gfp:#x} has bits outside __GFP_BITS_MASK")
        return gfp
    if not isinstance(gfp, str):
        raise ValueError(f"gfp must be an int or a string of flag names, not {gfp!r}")
    cached = _gfp_cache.get(gfp)
    if cached is not None:
        return cached
    value = 0
    op = "|"
    pos = 0
    s = gfp.strip()
    if not s:
        raise ValueError("empty gfp expression")
    while pos < len(s):
        neg = False
        while pos < len(s) and s[pos] in " ~":
            if s[pos] == "~":
                neg = not neg
            pos += 1
        m = _TOKEN.match(s, pos)
        if not m:
            raise ValueError(f"unknown gfp token {s[pos:].split('|')[0].strip()!r} in {gfp!r}")
        tok = m.group(1)
        if tok[0].isdigit():
            v = int(tok, 0)
        elif tok in GFP_NAMES:
            v = GFP_NAMES[tok]
        else:
            raise ValueError(f"unknown gfp flag {tok!r} in {gfp!r}")
        if neg:
            v = ~v & __GFP_BITS_MASK
        value = value | v if op == "|" else value & v
        pos = m.end()
        if pos < len(s):
            op = s[pos]
            if op not in "|&":
                raise ValueError(f"unknown gfp token {s[pos:]!r} in {gfp!r}")
            pos += 1
            if pos >= len(s):
                raise ValueError(f"gfp expression {gfp!r} ends with an operator")
    if value > __GFP_BITS_MASK:
        raise ValueError(f"gfp mask {value:#x} has bits outside __GFP_BITS_MASK")
    _gfp_cache[gfp] = value
    return value


def format_gfp(gfp: int) -> str:
    """``%pGg`` formatting: composite names first, leftover bits in hex (lib/vsprintf.c)."""
    parts = []
    for mask, name in gfpflag_names:
        if mask and (gfp & mask) == mask:
            parts.append(name)
            gfp &= ~mask
            if not gfp:
                break
    if gfp:
        parts.append(f"{gfp:#x}")
    return "|".join(parts)


# enum zone_type
ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, ZONE_MOVABLE = 0, 1, 2, 3
MAX_NR_ZONES = 4


def gfp_zone(flags: int) -> int:
    """Highest zone index ``flags`` may allocate from (GFP_ZONE_TABLE lookup).

    :raises ValueError: a combination GFP_ZONE_BAD marks invalid
    """
    bits = flags & GFP_ZONEMASK
    dma, high, dma32, movable = bits & 1, bits & 2, bits & 4, bits & 8
    if (dma and (high or dma32)) or (high and dma32):
        raise ValueError(f"gfp_zone: invalid zone modifier combination {bits:#x}")
    if dma:
        return ZONE_DMA
    if dma32:
        return ZONE_DMA32
    if movable and high:
        return ZONE_MOVABLE
    return ZONE_NORMAL   # __GFP_HIGHMEM on x86-64 is ZONE_NORMAL; movable alone too


def gfpflags_to_migratetype(flags: int) -> int:
    """MIGRATE_UNMOVABLE (0), MOVABLE (1) or RECLAIMABLE (2) from the mobility bits."""
    return (flags & GFP_MOVABLE_MASK) >> GFP_MOVABLE_SHIFT


def gfpflags_allow_blocking(flags: int) -> bool:
    return bool(flags & __GFP_DIRECT_RECLAIM)
