"""GFP flags with their 4.6 values, gfp_zone and migratetype (include/linux/gfp.h)."""

import re

from ..include.gfp import *  # noqa: F401,F403 (the flag names are part of this module's API)
from ..include.gfp import (__GFP_BITS_MASK, __GFP_DIRECT_RECLAIM, GFP_MOVABLE_MASK,
                           GFP_MOVABLE_SHIFT, GFP_NAMES, GFP_ZONEMASK, gfpflag_names)

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
