"""SLUB helpers with drgn's names (drgn.helpers.linux.slab): the caches, the objects a
cache has handed out, and what a slab address is.

>>> s = find_slab_cache(m, "vm_area_struct")
>>> s
<kmem_cache vm_area_struct size=200>
"""

from collections import namedtuple

from ..arch.x86.page_types import PAGE_OFFSET, PAGE_SHIFT
from ..mm import slub_def as D
from ..mm.slub_debug import for_each_object
from ..mm.page import PG_slab
from .mm import Page

SlabObjectInfo = namedtuple("SlabObjectInfo", "slab_cache slab address allocated")
SlabObjectInfo.__doc__ = ("What slab_object_info finds: the cache, the slab's struct page *, "
                          "the object's start address and whether it is allocated.")


def _slab(m):
    sl = getattr(m, "slab", None)
    if sl is None:
        raise TypeError(f"expected a booted Machine, not {m!r}")
    return sl


def for_each_slab_cache(m):
    """Yield every ``struct kmem_cache`` on slab_caches, newest first (list_add order), as
    drgn's for_each_slab_cache.

    >>> any(s.name == "kmalloc-64" for s in for_each_slab_cache(m))
    True
    """
    yield from list(_slab(m).slab_caches)


def find_slab_cache(m, name: str):
    """The cache called ``name`` (or an alias merged into it), or None (drgn's
    find_slab_cache).

    >>> find_slab_cache(m, "no-such-cache") is None
    True
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {name!r}")
    return _slab(m).by_name.get(name)


def _freelist(s, fp: int, limit: int) -> set:
    out = set()
    while fp and len(out) <= limit:
        out.add(fp)
        fp = D.get_freepointer(s, fp)
    return out


def _free_objects(s, page: int) -> set:
    """The free objects of one slab: its page freelist plus, for a CPU's slab, that CPU's
    lockless freelist."""
    mm = s.sl.mm
    objects = D.unpack_counters(mm.mc[page])[1]
    free = _freelist(s, D.page_freelist(mm, page), objects)
    for c in s.cpu_slab:
        if c.page == page:
            free |= _freelist(s, c.freelist, objects)
    return free


def slab_cache_for_each_allocated_object(s):
    """Yield the address of every allocated object of cache ``s``, slab by slab in pfn
    order (drgn's slab_cache_for_each_allocated_object; objects on a page or CPU freelist
    are skipped).

    >>> a = m.kernel.kmem_cache_alloc("vm_area_struct")
    >>> a in set(slab_cache_for_each_allocated_object(s))
    True
    """
    if not isinstance(s, D.KmemCache):
        raise TypeError(f"expected a kmem_cache, not {s!r}")
    for page in sorted(s.sl.slab_pages(s)):
        free = _free_objects(s, page)
        for obj in for_each_object(s, page):
            if obj not in free:
                yield obj


def slab_object_info(m, addr: int):
    """A ``SlabObjectInfo`` for any address inside a slab object, None when ``addr`` is not
    in a slab page (drgn's slab_object_info). ``address`` is the object's start; an address
    in a slab's left-over tail gives address None.

    >>> info = slab_object_info(m, a + 8)
    >>> (info.slab_cache.name, info.address == a, info.allocated)
    ('vm_area_struct', True, True)
    """
    sl = _slab(m)
    if isinstance(addr, bool) or not isinstance(addr, int):
        raise TypeError(f"address must be an int, not {addr!r}")
    mm = sl.mm
    if not PAGE_OFFSET <= addr < PAGE_OFFSET + (mm.nr_frames << PAGE_SHIFT):
        return None
    pfn = D.virt_to_head_pfn(sl, addr)
    if not mm.f[pfn] & (1 << PG_slab):
        return None
    s = sl.by_id[mm.priv[pfn]]
    objects = D.unpack_counters(mm.mc[pfn])[1]
    rel = addr - D.page_address(pfn) - s.red_left_pad
    idx = rel // s.size
    if rel < 0 or idx >= objects:
        return SlabObjectInfo(s, Page(m, pfn), None, False)
    start = D.page_address(pfn) + s.red_left_pad + idx * s.size
    return SlabObjectInfo(s, Page(m, pfn), start, start not in _free_objects(s, pfn))
