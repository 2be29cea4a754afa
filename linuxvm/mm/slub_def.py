"""struct kmem_cache and the slab-page accessors that SLUB and its debug checks share
(include/linux/slub_def.h, mm/slab.h, and the small static helpers at the top of mm/slub.c):
the order/objects word, page->freelist and page->counters as the mem_map slots hold them,
free pointers and object bytes, and the node partial/full lists.

slub.py (the allocator) and slub_debug.py (its checks) both import this; neither imports
the other's caller, so there is no cycle between them.
"""

import struct

from ..arch.x86.page_types import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from .page import NULL, PG_head
from .slab_common import SLAB_DEBUG_FLAGS, SLAB_STORE_USER

OO_SHIFT = 16
OO_MASK = (1 << OO_SHIFT) - 1
MAX_OBJS_PER_PAGE = 32767
TRACK_SIZE = 152               # struct track: addr, addrs[16], cpu, pid, when
DEACTIVATE_TO_HEAD, DEACTIVATE_TO_TAIL = 15, 16     # enum stat_item values used as "tail"

_Q = struct.Struct("<Q")
_unpack_q = _Q.unpack_from
_pack_q = _Q.pack_into


def oo_make(order: int, size: int, reserved: int) -> int:
    return (order << OO_SHIFT) + order_objects(order, size, reserved)


def oo_order(x: int) -> int:
    return x >> OO_SHIFT


def oo_objects(x: int) -> int:
    return x & OO_MASK


def order_objects(order: int, size: int, reserved: int) -> int:
    return ((PAGE_SIZE << order) - reserved) // size


def page_freelist(mm, page: int) -> int:
    """page->freelist: kept in the signed 64-bit ``index`` slot (0 = NULL)."""
    v = mm.idx[page]
    return v + (1 << 64) if v < 0 else v


def set_page_freelist(mm, page: int, addr: int) -> None:
    mm.idx[page] = addr - (1 << 64) if addr >= 1 << 63 else addr


def pack_counters(inuse: int, objects: int, frozen: int) -> int:
    """page->counters as the signed 32-bit _mapcount slot holds it."""
    v = inuse | objects << 16
    return v - (1 << 31) if frozen else v


def unpack_counters(v: int):
    """(inuse, objects, frozen) from a _mapcount slot."""
    v &= 0xFFFFFFFF
    return v & 0xFFFF, (v >> 16) & 0x7FFF, v >> 31


class KmemCacheCpu:
    """struct kmem_cache_cpu: the CPU's lockless freelist, its slab and partial slabs.

    There is no ``tid``: it only serves this_cpu_cmpxchg_double against preemption and
    interrupts, which the single-threaded model does not have.
    """

    __slots__ = ("freelist", "page", "partial")

    def __init__(self):
        self.freelist = 0
        self.page = NULL
        self.partial = NULL


class KmemCacheNode:
    """struct kmem_cache_node (one node): partial list and, with SLUB_DEBUG, totals."""

    __slots__ = ("nr_partial", "partial", "nr_slabs", "total_objects", "full", "obj_addr")

    def __init__(self, heads):
        self.nr_partial = 0
        self.partial, self.full = heads
        self.nr_slabs = 0
        self.total_objects = 0
        self.obj_addr = 0                  # this structure's own object in kmem_cache_node


class KmemCache:
    """struct kmem_cache."""

    __slots__ = ("sl", "id", "cpu_slab", "flags", "min_partial", "size", "object_size",
                 "offset", "cpu_partial", "oo", "max", "min", "allocflags", "refcount",
                 "ctor", "inuse", "align", "reserved", "name", "red_left_pad", "node",
                 "alias_names", "obj_addr", "debug", "stat_item_dummy")

    def __repr__(self):
        return f"<kmem_cache {self.name} size={self.size}>"

    def kmem_cache_debug(self) -> bool:
        return bool(self.flags & SLAB_DEBUG_FLAGS)

    def has_cpu_partial(self) -> bool:
        """kmem_cache_has_cpu_partial: CPU partial lists are off for debug caches."""
        return not self.flags & SLAB_DEBUG_FLAGS


# --- object bytes ----------------------------------------------------------------------

def get_freepointer(s, obj: int) -> int:
    a = obj + s.offset - PAGE_OFFSET
    return _unpack_q(s.sl.pc[a >> PAGE_SHIFT], a & 4095)[0]


def set_freepointer(s, obj: int, fp: int) -> None:
    a = obj + s.offset - PAGE_OFFSET
    _pack_q(s.sl.pc[a >> PAGE_SHIFT], a & 4095, fp)


def read_bytes(pc, addr: int, n: int) -> bytes:
    """``n`` bytes at a direct-map address from the frames' contents."""
    out = bytearray()
    a = addr - PAGE_OFFSET
    while n > 0:
        off = a & 4095
        k = min(n, PAGE_SIZE - off)
        out += pc[a >> PAGE_SHIFT][off:off + k]
        a += k
        n -= k
    return bytes(out)


def write_bytes(pc, addr: int, data) -> None:
    a = addr - PAGE_OFFSET
    i = 0
    n = len(data)
    while i < n:
        off = a & 4095
        k = min(n - i, PAGE_SIZE - off)
        pc[a >> PAGE_SHIFT][off:off + k] = data[i:i + k]
        a += k
        i += k


def fill_bytes(pc, addr: int, value: int, n: int) -> None:
    write_bytes(pc, addr, bytes([value]) * n)


def page_address(pfn: int) -> int:
    return PAGE_OFFSET + (pfn << PAGE_SHIFT)


def virt_to_head_pfn(sl, addr: int) -> int:
    pfn = (addr - PAGE_OFFSET) >> PAGE_SHIFT
    h = sl.mm.ch[pfn]
    return pfn if h == NULL else h


def slab_page_order(mm, page: int) -> int:
    return mm.prv[page + 1] if mm.f[page] & (1 << PG_head) else 0


def add_partial(s, n, page: int, tail: int) -> None:
    n.nr_partial += 1
    if tail == DEACTIVATE_TO_TAIL:
        s.sl.mm.list_add_tail(page, n.partial)
    else:
        s.sl.mm.list_add(page, n.partial)


def remove_partial(s, n, page: int) -> None:
    s.sl.mm.list_del(page)
    n.nr_partial -= 1


def add_full(s, n, page: int) -> None:
    if s.flags & SLAB_STORE_USER:
        s.sl.mm.list_add(page, n.full)


def remove_full(s, n, page: int) -> None:
    if s.flags & SLAB_STORE_USER:
        s.sl.mm.list_del(page)
