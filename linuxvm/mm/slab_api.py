"""Checked entry points behind ``m.kernel.kmem_cache_*`` / ``kmalloc`` / ``kfree`` and the
kernel-memory accessors tests use to corrupt objects (``memset``, ``write_kernel``).

The kernel's own calls (``m.slab``) trust their arguments; these validate first so that a
bad call from an experiment raises ValueError instead of corrupting model state. A
double free into a cache without slub_debug would silently corrupt the freelist in 4.6;
here it is refused with ValueError. With slub_debug=F the kernel's own check reports it
("Object already free") and the model lets that report happen.
"""

from ..arch.x86.page_types import PAGE_OFFSET, PAGE_SHIFT
from . import gfp as G
from . import slub as S
from . import slub_def as D
from .slab_common import ZERO_SIZE_PTR, SLAB_CONSISTENCY_CHECKS


def _sl(m):
    sl = getattr(m, "slab", None)
    if sl is None:
        raise ValueError("the slab allocator is not initialised (kmem_cache_init has not run)")
    return sl


def _cache(m, cache):
    sl = _sl(m)
    if isinstance(cache, str):
        return sl.find_cache(cache)
    if not isinstance(cache, D.KmemCache) or cache.sl is not sl or sl.by_id[cache.id] is not cache:
        raise ValueError(f"{cache!r} is not a live kmem_cache of this machine")
    return cache


def _gfp(gfp) -> int:
    v = G.parse_gfp(gfp)
    if v & S.GFP_SLAB_BUG_MASK:
        raise ValueError(f"gfp {G.format_gfp(v)} has __GFP_DMA32/__GFP_HIGHMEM, which slab "
                         f"allocations must not use (the kernel BUG()s)")
    return v


def kmem_cache_create(m, name, size, align=0, flags=0, ctor=None):
    return _sl(m).kmem_cache_create(name, size, align, flags, ctor)


def kmem_cache_destroy(m, cache):
    s = _cache(m, cache)
    if s.refcount <= m.slab.permanent.get(s.id, 0):
        raise ValueError(f"kmem_cache_destroy: {s.name} is one of the kernel's own caches "
                         f"(boot, kmalloc or a cache the model allocates from)")
    m.slab.kmem_cache_destroy(s)


def kmem_cache_alloc(m, cache, gfp, cpu):
    s = _cache(m, cache)
    gfp = _gfp(gfp)
    ret = S.slab_alloc(s, gfp, cpu, "kmem_cache_alloc")
    tp = m.tp.kmem_cache_alloc
    if tp is not None:
        tp("m.kernel.kmem_cache_alloc", ret, s.object_size, s.size, gfp)
    return ret


def _check_free(m, addr, who: str):
    """The slab page and cache of an object about to be freed; ValueError when the free would
    corrupt the model (not an object, or a double free without debug checks)."""
    sl = _sl(m)
    if isinstance(addr, bool) or not isinstance(addr, int):
        raise TypeError(f"{who}: address must be an int, not {addr!r}")
    s, page, state = sl.object_state(addr)
    if state == "free" and not s.flags & SLAB_CONSISTENCY_CHECKS:
        raise ValueError(f"{who}: double free of {addr:#x} in {s.name} (without slub_debug=F "
                         f"4.6 would corrupt the freelist)")
    return s, page


def kmem_cache_free(m, cache, addr, cpu):
    s = _cache(m, cache)
    owner, page = _check_free(m, addr, "kmem_cache_free")
    if owner is not s:
        if s.flags & SLAB_CONSISTENCY_CHECKS or owner.flags & SLAB_CONSISTENCY_CHECKS:
            m.log.pr_err(f"cache_from_obj: Wrong slab cache. {s.name} but object is from "
                         f"{owner.name}")
        else:
            raise ValueError(f"kmem_cache_free: {addr:#x} belongs to {owner.name}, not "
                             f"{s.name}")
    S.slab_free(owner, page, addr, cpu)
    tp = m.tp.kmem_cache_free
    if tp is not None:
        tp("m.kernel.kmem_cache_free", addr)


def kmalloc(m, size, gfp, cpu):
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"kmalloc: size must be a non-negative int, not {size!r}")
    return _sl(m).kmalloc(size, _gfp(gfp), cpu, "m.kernel.kmalloc")


def kzalloc(m, size, gfp, cpu):
    return kmalloc(m, size, G.parse_gfp(gfp) | G.__GFP_ZERO, cpu)


def kfree(m, addr, cpu):
    sl = _sl(m)
    if isinstance(addr, bool) or not isinstance(addr, int):
        raise TypeError(f"kfree: address must be an int, not {addr!r}")
    if addr <= ZERO_SIZE_PTR:
        sl.kfree(addr, cpu, "m.kernel.kfree")        # fires the kfree event, frees nothing
        return
    pfn = _direct_map_pfn(m, addr)
    head = sl.mm.compound_head_pfn(pfn)
    if not sl.mm.test(head, S.PG_slab):
        if head not in sl.large_blocks or addr != PAGE_OFFSET + (head << PAGE_SHIFT):
            raise ValueError(f"kfree: {addr:#x} is neither a slab object nor a kmalloc_large "
                             f"block")
    else:
        _check_free(m, addr, "kfree")
    sl.kfree(addr, cpu, "m.kernel.kfree")


def ksize(m, addr):
    sl = _sl(m)
    if isinstance(addr, bool) or not isinstance(addr, int):
        raise TypeError(f"ksize: address must be an int, not {addr!r}")
    if addr == ZERO_SIZE_PTR:
        return 0
    head = sl.mm.compound_head_pfn(_direct_map_pfn(m, addr))
    if sl.mm.test(head, S.PG_slab):
        sl.object_state(addr)
    elif head not in sl.large_blocks:
        raise ValueError(f"ksize: {addr:#x} is not a kmalloc'd object")
    return sl.ksize(addr)


def krealloc(m, addr, new_size, gfp, cpu):
    if isinstance(addr, bool) or not isinstance(addr, int):
        raise TypeError(f"krealloc: address must be an int, not {addr!r}")
    if isinstance(new_size, bool) or not isinstance(new_size, int) or new_size < 0:
        raise ValueError(f"krealloc: size must be a non-negative int, not {new_size!r}")
    gfp = _gfp(gfp)
    if addr and addr != ZERO_SIZE_PTR:
        ks = ksize(m, addr)
        if (not new_size or new_size > ks) and \
                m.slab.mm.test(m.slab.mm.compound_head_pfn(_direct_map_pfn(m, addr)), S.PG_slab):
            # a move (or size 0) ends in kfree(p): refuse a double free as kfree does
            _check_free(m, addr, "krealloc")
    return _sl(m).krealloc(addr, new_size, gfp, cpu)


def _direct_map_pfn(m, addr: int) -> int:
    pfn = (addr - PAGE_OFFSET) >> PAGE_SHIFT
    if addr < PAGE_OFFSET or not m.pfn_valid(pfn):
        raise ValueError(f"{addr:#x} is not a direct-map address of a valid frame")
    return pfn


def _backed(m, addr: int, n: int) -> None:
    """ValueError unless [addr, addr + n) is slab or kmalloc memory, frame by frame."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"length must be a non-negative int, not {n!r}")
    if isinstance(addr, bool) or not isinstance(addr, int):
        raise TypeError(f"address must be an int, not {addr!r}")
    if not n:
        return          # a zero-length copy touches no memory (e.g. at an object's end)
    sl = _sl(m)
    first = _direct_map_pfn(m, addr)
    end = addr + n - 1
    if not m.pfn_valid((end - PAGE_OFFSET) >> PAGE_SHIFT):
        raise ValueError(f"{n} bytes at {addr:#x} run past the end of the direct map "
                         f"(4.6 would oops on the first unmapped byte)")
    last = _direct_map_pfn(m, end)
    for pfn in range(first, last + 1):
        head = sl.mm.compound_head_pfn(pfn)
        if not sl.mm.test(head, S.PG_slab) and head not in sl.large_blocks:
            raise ValueError(f"frame {pfn:#x} is neither slab nor kmalloc memory (the only "
                             f"kernel memory these accessors reach)")


def write_kernel(m, addr: int, data) -> None:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        # bytes(5) would be five zero bytes: only byte strings are data here
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    data = bytes(data)
    _backed(m, addr, len(data))
    D.write_bytes(m.page_contents, addr, data)


def read_kernel(m, addr: int, n: int) -> bytes:
    _backed(m, addr, n)
    return D.read_bytes(m.page_contents, addr, n)


def memset(m, addr: int, value: int, n: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        raise ValueError(f"memset value must be a byte, not {value!r}")
    _backed(m, addr, n)                  # the whole range first: no bytes for a bad length
    D.fill_bytes(m.page_contents, addr, value, n)
