"""The SLUB allocator (mm/slub.c): caches, per-CPU slabs and partial lists, kmalloc.

API for the rest of the model (``m.slab`` is a ``SlabState``):

    addr = m.slab.alloc_obj("vm_area_struct")     # allocate one object of a kernel cache
    m.slab.free_obj("vm_area_struct", addr)       # and free it
    m.slab.alloc_obj("mm_struct", caller="mm_alloc")   # call site for slub_debug=U
    m.slab.kmalloc(size, gfp) / m.slab.kfree(addr) / m.slab.ksize(addr)
    s = m.slab.find_cache("mm_struct")            # the kmem_cache (aliases resolve)

Names are the kernel cache names (task_struct, mm_struct, vm_area_struct, anon_vma,
anon_vma_chain, files_cache, signal_cache, sighand_cache, fs_cache, cred_jar, pid,
filp, names_cache, radix_tree_node, kmalloc-N). ``cpu=`` defaults to ``m.current_cpu``.
These calls do no argument checking (they are the kernel's own calls); the checked
entry points for experiments are on ``m.kernel`` (kmem_cache_create, kmalloc, …).

Slab state lives in ``struct page`` as 4.6 keeps it: PG_slab on the head page,
``private`` = the cache id (page->slab_cache), ``index`` = page->freelist (an object
address, 0 = NULL), ``_mapcount`` = the counters word (inuse:16, objects:15, frozen:1),
``lru`` = the node partial/full list link, or on a CPU partial list ``lru_next`` =
page->next and ``lru_prev`` = page->pobjects. Object bytes — and so the free pointers
inside free objects — are kept in ``m.page_contents[pfn]`` (a bytearray per frame).
"""

from struct import error as StructError

from ..arch.x86.page_types import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from ..include.vm_event_item import NR_SLAB_RECLAIMABLE, NR_SLAB_UNRECLAIMABLE
from . import gfp as G
from . import page_alloc
from . import slab_common as C
from .mmzone import MAX_ORDER
from .page import NULL, PG_slab
from .slab_common import (SLAB_POISON, SLAB_RED_ZONE, SLAB_STORE_USER, SLAB_DESTROY_BY_RCU,
                          SLAB_CACHE_DMA, SLAB_RECLAIM_ACCOUNT, SLAB_DEBUG_FLAGS,
                          __OBJECT_POISON, ALIGN, get_order, fls)
from .slub_debug import (SLUB_RED_ACTIVE, SLUB_RED_INACTIVE, _TRACK, _rd, alloc_debug_processing,
                         check_object, check_slab, check_valid_pointer, freelist_bug, for_each_object, free_debug_processing,
                         get_track_addr, jiffies, ksym_name, list_slab_objects, on_freelist,
                         setup_object_debug, slab_pad_check)
from .slub_def import (MAX_OBJS_PER_PAGE, TRACK_SIZE, DEACTIVATE_TO_HEAD, DEACTIVATE_TO_TAIL,
                       _unpack_q, _pack_q, oo_make, oo_order, oo_objects, order_objects,
                       page_freelist, set_page_freelist, pack_counters, unpack_counters,
                       KmemCacheCpu, KmemCacheNode, get_freepointer, set_freepointer,
                       fill_bytes, page_address, slab_page_order, add_partial, remove_partial,
                       add_full, remove_full)

_alloc_pages_nodemask = page_alloc.__alloc_pages_nodemask
_free_pages = page_alloc.__free_pages

MIN_PARTIAL = 5
MAX_PARTIAL = 10
SHRINK_PROMOTE_MAX = 32

# GFP masks new_slab keeps (mm/internal.h GFP_RECLAIM_MASK | GFP_CONSTRAINT_MASK)
GFP_RECLAIM_MASK = (G.__GFP_RECLAIM | G.__GFP_HIGH | G.__GFP_IO | G.__GFP_FS | G.__GFP_NOWARN
                    | G.__GFP_REPEAT | G.__GFP_NOFAIL | G.__GFP_NORETRY | G.__GFP_MEMALLOC
                    | G.__GFP_NOMEMALLOC)
GFP_CONSTRAINT_MASK = G.__GFP_HARDWALL | G.__GFP_THISNODE
GFP_SLAB_BUG_MASK = G.__GFP_DMA32 | G.__GFP_HIGHMEM



# --- sizes and order ------------------------------------------------------------------

def slab_order(sl, size: int, min_objects: int, max_order: int, fract_leftover: int,
               reserved: int) -> int:
    """First order whose leftover is at most 1/fract_leftover of the slab (mm/slub.c)."""
    min_order = sl.slub_min_order
    if order_objects(min_order, size, reserved) > MAX_OBJS_PER_PAGE:
        return get_order(size * MAX_OBJS_PER_PAGE) - 1
    order = max(min_order, get_order(min_objects * size + reserved))
    while order <= max_order:
        slab_size = PAGE_SIZE << order
        if (slab_size - reserved) % size <= slab_size // fract_leftover:
            break
        order += 1
    return order


def calculate_order(sl, size: int, reserved: int) -> int:
    """The slab order for objects of ``size`` bytes (mm/slub.c calculate_order)."""
    min_objects = sl.slub_min_objects or 4 * (fls(sl.nr_cpu_ids) + 1)
    max_objects = order_objects(sl.slub_max_order, size, reserved)
    min_objects = min(min_objects, max_objects)
    while min_objects > 1:
        fraction = 16
        while fraction >= 4:
            order = slab_order(sl, size, min_objects, sl.slub_max_order, fraction, reserved)
            if order <= sl.slub_max_order:
                return order
            fraction //= 2
        min_objects -= 1
    order = slab_order(sl, size, 1, sl.slub_max_order, 1, reserved)
    if order <= sl.slub_max_order:
        return order
    order = slab_order(sl, size, 1, MAX_ORDER, 1, reserved)
    if order < MAX_ORDER:
        return order
    return -38                                     # -ENOSYS


def calculate_sizes(s, forced_order: int) -> bool:
    """Object layout (free pointer, red zones, tracking) and slab order (mm/slub.c)."""
    flags = s.flags
    size = ALIGN(s.object_size, 8)
    if flags & SLAB_POISON and not flags & SLAB_DESTROY_BY_RCU and s.ctor is None:
        s.flags |= __OBJECT_POISON
    else:
        s.flags &= ~__OBJECT_POISON
    if flags & SLAB_RED_ZONE and size == s.object_size:
        size += 8
    s.inuse = size
    s.offset = 0
    if flags & (SLAB_DESTROY_BY_RCU | SLAB_POISON) or s.ctor is not None:
        s.offset = size
        size += 8
    if flags & SLAB_STORE_USER:
        size += 2 * TRACK_SIZE
    s.red_left_pad = 0
    if flags & SLAB_RED_ZONE:
        size += 8
        s.red_left_pad = ALIGN(8, s.align)
        size += s.red_left_pad
    size = ALIGN(size, s.align)
    s.size = size
    order = forced_order if forced_order >= 0 else calculate_order(s.sl, size, s.reserved)
    if order < 0:
        return False
    s.allocflags = 0
    if order:
        s.allocflags |= G.__GFP_COMP
    if s.flags & SLAB_CACHE_DMA:
        s.allocflags |= G.GFP_DMA
    if s.flags & SLAB_RECLAIM_ACCOUNT:
        s.allocflags |= G.__GFP_RECLAIMABLE
    s.oo = oo_make(order, size, s.reserved)
    s.min = oo_make(get_order(size), size, s.reserved)
    if oo_objects(s.oo) > oo_objects(s.max):
        s.max = s.oo
    s.debug = bool(s.flags & SLAB_DEBUG_FLAGS)
    return oo_objects(s.oo) != 0


def set_min_partial(s, n: int) -> None:
    s.min_partial = min(max(n, MIN_PARTIAL), MAX_PARTIAL)


def set_cpu_partial(s) -> None:
    if not s.has_cpu_partial():
        s.cpu_partial = 0
    elif s.size >= PAGE_SIZE:
        s.cpu_partial = 2
    elif s.size >= 1024:
        s.cpu_partial = 6
    elif s.size >= 256:
        s.cpu_partial = 13
    else:
        s.cpu_partial = 30


def kmem_cache_open(sl, s, flags: int) -> bool:
    """Fill in a new cache's geometry and per-CPU/node structures (mm/slub.c)."""
    s.flags = sl.kmem_cache_flags(flags, s.name)
    s.reserved = 0
    if not calculate_sizes(s, -1):
        return False
    if sl.disable_higher_order_debug and get_order(s.size) > get_order(s.object_size):
        s.flags &= ~C.DEBUG_METADATA_FLAGS
        s.offset = 0
        if not calculate_sizes(s, -1):
            return False
    set_min_partial(s, (s.size.bit_length() - 1) // 2)
    set_cpu_partial(s)
    heads = sl.mm.reserve_list_heads([f"slab {s.name} partial", f"slab {s.name} full"])
    s.node = [KmemCacheNode(heads)]
    s.cpu_slab = [KmemCacheCpu() for _ in range(sl.nr_cpu_ids)]
    return True


# --- slab pages ----------------------------------------------------------------------

def alloc_slab_page(sl, gfp: int, order: int, cpu: int) -> int:
    return _alloc_pages_nodemask(sl.pgdat, gfp, order, cpu)


def allocate_slab(s, flags: int, cpu: int) -> int:
    """A new frozen slab with every object on its freelist (mm/slub.c allocate_slab)."""
    sl = s.sl
    mm = sl.mm
    oo = s.oo
    flags |= s.allocflags
    alloc_gfp = (flags | G.__GFP_NOWARN | G.__GFP_NORETRY) & ~G.__GFP_NOFAIL
    if alloc_gfp & G.__GFP_DIRECT_RECLAIM and oo_order(oo) > oo_order(s.min):
        alloc_gfp = (alloc_gfp | G.__GFP_NOMEMALLOC) & ~(G.__GFP_RECLAIM | G.__GFP_NOFAIL)
    page = alloc_slab_page(sl, alloc_gfp, oo_order(oo), cpu)
    if page == NULL:
        oo = s.min
        page = alloc_slab_page(sl, flags, oo_order(oo), cpu)
        if page == NULL:
            return NULL
    order = oo_order(oo)
    objects = oo_objects(oo)
    mm.priv[page] = s.id
    mm.f[page] = mm.f[page] | (1 << PG_slab)
    pc = sl.pc
    fill = 0x5A if s.flags & SLAB_POISON else 0        # POISON_INUSE over the whole slab
    for i in range(1 << order):
        pc[page + i] = bytearray([fill]) * PAGE_SIZE if fill else bytearray(PAGE_SIZE)
    start = page_address(page) + s.red_left_pad
    size = s.size
    debug_setup = s.flags & (SLAB_STORE_USER | SLAB_RED_ZONE | __OBJECT_POISON)
    off = s.offset
    base = PAGE_OFFSET
    for idx in range(objects):
        p = start + idx * size
        if debug_setup:
            setup_object_debug(s, page, p)
        if s.ctor is not None:
            s.ctor(p)
        a = p + off - base
        _pack_q(pc[a >> PAGE_SHIFT], a & 4095, p + size if idx < objects - 1 else 0)
    set_page_freelist(mm, page, start)
    mm.mc[page] = pack_counters(objects, objects, 1)
    zone = sl.m.page_zone(page)
    zone.vm_stat[NR_SLAB_RECLAIMABLE if s.flags & SLAB_RECLAIM_ACCOUNT
                 else NR_SLAB_UNRECLAIMABLE] += 1 << order
    n = s.node[0]
    n.nr_slabs += 1
    n.total_objects += objects
    return page


def new_slab(s, flags: int, cpu: int) -> int:
    return allocate_slab(s, flags & (GFP_RECLAIM_MASK | GFP_CONSTRAINT_MASK), cpu)


def __free_slab(s, page: int) -> None:
    sl = s.sl
    mm = sl.mm
    order = slab_page_order(mm, page)
    if s.flags & C.SLAB_CONSISTENCY_CHECKS:
        slab_pad_check(s, page)
        for p in for_each_object(s, page):
            check_object(s, page, p, SLUB_RED_INACTIVE)
    zone = sl.m.page_zone(page)
    zone.vm_stat[NR_SLAB_RECLAIMABLE if s.flags & SLAB_RECLAIM_ACCOUNT
                 else NR_SLAB_UNRECLAIMABLE] -= 1 << order
    mm.f[page] = mm.f[page] & ~(1 << PG_slab) & 0xFFFFFFFFFFFFFFFF
    mm.mc[page] = -1                       # page_mapcount_reset
    set_page_freelist(mm, page, 0)
    mm.priv[page] = 0
    mm.nxt[page] = NULL
    mm.prv[page] = NULL
    rs = sl.m.reclaim_state
    if rs is not None:
        rs.reclaimed_slab += 1 << order
    _free_pages(sl.pgdat, page, order, sl.m.current_cpu)


def discard_slab(s, page: int) -> None:
    n = s.node[0]
    n.nr_slabs -= 1
    n.total_objects -= unpack_counters(s.sl.mm.mc[page])[1]
    # SLAB_DESTROY_BY_RCU defers the free to a grace period; the model has no concurrent
    # readers, so the grace period has always passed
    __free_slab(s, page)


# --- the allocation slow path ----------------------------------------------------------

def acquire_slab(s, n, page: int, mode: bool):
    """Freeze a node-partial slab for this CPU; (freelist, free objects) (mm/slub.c)."""
    mm = s.sl.mm
    freelist = page_freelist(mm, page)
    inuse, objects, frozen = unpack_counters(mm.mc[page])
    available = objects - inuse
    if mode:
        inuse = objects
        set_page_freelist(mm, page, 0)
    mm.mc[page] = pack_counters(inuse, objects, 1)
    remove_partial(s, n, page)
    return freelist, available


def get_partial_node(s, n, c, cpu: int) -> int:
    """Take slabs off the node partial list: the first becomes the CPU slab, more go to the
    CPU partial list until half of cpu_partial objects are gathered (mm/slub.c)."""
    if not n.nr_partial:
        return 0
    mm = s.sl.mm
    obj = 0
    available = 0
    for page in mm.list_entries(n.partial):
        t, objects = acquire_slab(s, n, page, obj == 0)
        available += objects
        if not obj:
            c.page = page
            obj = t
        else:
            put_cpu_partial(s, page, False, cpu)
        if not s.has_cpu_partial() or available > s.cpu_partial // 2:
            break
    return obj


def get_freelist(s, page: int) -> int:
    """Take the slab's whole freelist for the CPU; unfreeze it if it is empty."""
    mm = s.sl.mm
    freelist = page_freelist(mm, page)
    inuse, objects, frozen = unpack_counters(mm.mc[page])
    set_page_freelist(mm, page, 0)
    mm.mc[page] = pack_counters(objects, objects, 1 if freelist else 0)
    return freelist


def flush_slab(s, c) -> None:
    deactivate_slab(s, c.page, c.freelist)
    c.page = NULL
    c.freelist = 0


def new_slab_objects(s, flags: int, c, cpu: int) -> int:
    freelist = get_partial_node(s, s.node[0], c, cpu)
    if freelist:
        return freelist
    page = new_slab(s, flags, cpu)
    if page == NULL:
        return 0
    if c.page != NULL:
        flush_slab(s, c)
    mm = s.sl.mm
    freelist = page_freelist(mm, page)
    set_page_freelist(mm, page, 0)
    c.page = page
    return freelist


def ___slab_alloc(s, gfpflags: int, cpu: int, c, caller: str) -> int:
    """The allocation slow path (mm/slub.c ___slab_alloc)."""
    page = c.page
    while True:
        if page != NULL:
            freelist = c.freelist
            if not freelist:
                freelist = get_freelist(s, page)
                if not freelist:
                    c.page = NULL            # DEACTIVATE_BYPASS
            if freelist:
                c.freelist = get_freepointer(s, freelist)
                return freelist
        # new_slab:
        if c.partial != NULL:
            page = c.page = c.partial
            c.partial = s.sl.mm.nxt[page]
            c.freelist = 0
            continue
        freelist = new_slab_objects(s, gfpflags, c, cpu)
        if not freelist:
            slab_out_of_memory(s, gfpflags)
            return 0
        page = c.page
        if not s.debug:
            c.freelist = get_freepointer(s, freelist)
            return freelist
        if not alloc_debug_processing(s, page, freelist, caller, cpu):
            page = c.page = NULL           # the slab failed its checks: take another
            c.freelist = 0
            continue
        deactivate_slab(s, page, get_freepointer(s, freelist))
        c.page = NULL
        c.freelist = 0
        return freelist


def slab_out_of_memory(s, gfpflags: int) -> None:
    """The "SLUB: Unable to allocate memory" warning (mm/slub.c slab_out_of_memory)."""
    sl = s.sl
    if gfpflags & G.__GFP_NOWARN or not page_alloc.__ratelimit(sl.oom_rs, sl.m,
                                                                 "slab_out_of_memory"):
        return
    log = sl.m.log
    log.pr_warn(f"SLUB: Unable to allocate memory on node -1, gfp={gfpflags:#x}"
                f"({G.format_gfp(gfpflags)})")
    log.pr_warn(f"  cache: {s.name}, object size: {s.object_size}, buffer size: {s.size}, "
                f"default order: {oo_order(s.oo)}, min order: {oo_order(s.min)}")
    if oo_order(s.min) > get_order(s.object_size):
        log.pr_warn(f"  {s.name} debugging increased min order, use slub_debug=O to "
                    f"disable.")
    n = s.node[0]
    log.pr_warn(f"  node 0: slabs: {n.nr_slabs}, objs: {n.total_objects}, "
                f"free: {count_partial_free(s, n)}")


def slab_alloc(s, gfpflags: int, cpu: int, caller: str = "kmem_cache_alloc") -> int:
    """Allocate one object: pop the CPU freelist, else the slow path (slab_alloc_node)."""
    c = s.cpu_slab[cpu]
    obj = c.freelist
    if obj:
        a = obj + s.offset - PAGE_OFFSET
        try:
            c.freelist = _unpack_q(s.sl.pc[a >> PAGE_SHIFT], a & 4095)[0]
        except (KeyError, IndexError, StructError):
            # the free pointer read leaves the slab's memory (written after a free): 4.6
            # oopses here; a pointer into other slab memory is handed out, as 4.6 would,
            # and the checker's freelist walk reports the corruption
            raise freelist_bug(s, c.page, obj) from None
    else:
        obj = ___slab_alloc(s, gfpflags, cpu, c, caller)
    if obj and gfpflags & G.__GFP_ZERO:
        fill_bytes(s.sl.pc, obj, 0, s.object_size)
    return obj


# --- freeing ----------------------------------------------------------------------------

def deactivate_slab(s, page: int, freelist: int) -> None:
    """Give the CPU slab back: its CPU freelist joins the page freelist and the slab goes
    to the node partial list, nowhere (full), or back to the page allocator (mm/slub.c)."""
    mm = s.sl.mm
    n = s.node[0]
    tail = DEACTIVATE_TO_HEAD
    if page_freelist(mm, page):
        tail = DEACTIVATE_TO_TAIL                      # DEACTIVATE_REMOTE_FREES
    inuse, objects, frozen = unpack_counters(mm.mc[page])
    fp, k = freelist, 0
    while fp and k <= objects:           # every entry is an object before anything moves
        if not check_valid_pointer(s, page, fp):
            raise freelist_bug(s, page, fp)
        fp = get_freepointer(s, fp)
        k += 1
    # stage one: all but the last CPU-freelist object go onto the page freelist
    while freelist:
        nextfree = get_freepointer(s, freelist)
        if not nextfree:
            break
        set_freepointer(s, freelist, page_freelist(mm, page))
        set_page_freelist(mm, page, freelist)
        inuse -= 1
        freelist = nextfree
    # stage two: the last one, then unfreeze
    if freelist:
        inuse -= 1
        set_freepointer(s, freelist, page_freelist(mm, page))
        set_page_freelist(mm, page, freelist)
    mm.mc[page] = pack_counters(inuse, objects, 0)
    if not inuse and n.nr_partial >= s.min_partial:
        discard_slab(s, page)                          # DEACTIVATE_EMPTY, FREE_SLAB
    elif page_freelist(mm, page):
        add_partial(s, n, page, tail)
    else:
        add_full(s, n, page)                           # DEACTIVATE_FULL


def unfreeze_partials(s, c) -> None:
    """Move the CPU partial slabs to the node partial list, freeing empty ones beyond
    min_partial (mm/slub.c unfreeze_partials)."""
    mm = s.sl.mm
    n = s.node[0]
    discard = []
    while c.partial != NULL:
        page = c.partial
        c.partial = mm.nxt[page]
        inuse, objects, frozen = unpack_counters(mm.mc[page])
        mm.mc[page] = pack_counters(inuse, objects, 0)
        mm.nxt[page] = NULL
        mm.prv[page] = NULL
        if not inuse and n.nr_partial >= s.min_partial:
            discard.append(page)
        else:
            add_partial(s, n, page, DEACTIVATE_TO_TAIL)
    for page in discard:
        discard_slab(s, page)


def put_cpu_partial(s, page: int, drain: bool, cpu: int) -> None:
    """Push a frozen slab onto the CPU partial list; drain the list to the node first when
    it already holds more than cpu_partial objects (mm/slub.c put_cpu_partial)."""
    mm = s.sl.mm
    c = s.cpu_slab[cpu]
    oldpage = c.partial
    pobjects = 0
    if oldpage != NULL:
        pobjects = mm.prv[oldpage]
        if drain and pobjects > s.cpu_partial:
            unfreeze_partials(s, c)                    # CPU_PARTIAL_DRAIN
            oldpage = NULL
            pobjects = 0
    inuse, objects, frozen = unpack_counters(mm.mc[page])
    pobjects += objects - inuse
    mm.prv[page] = pobjects
    mm.nxt[page] = oldpage
    c.partial = page
    if not s.cpu_partial:
        unfreeze_partials(s, c)


def cpu_partial_pages(mm, page: int) -> int:
    """page->pages of the first slab on a CPU partial list (its chain length)."""
    k = 0
    while page != NULL:
        k += 1
        page = mm.nxt[page]
    return k


def __slab_free(s, page: int, head: int, tail: int, cnt: int, cpu: int, caller: str) -> None:
    """Free to a slab that is not this CPU's slab (mm/slub.c __slab_free)."""
    if s.debug:
        if not free_debug_processing(s, page, head, tail, cnt, caller, cpu):
            return
    mm = s.sl.mm
    prior = page_freelist(mm, page)
    inuse, objects, was_frozen = unpack_counters(mm.mc[page])
    set_freepointer(s, tail, prior)
    inuse -= cnt
    frozen = was_frozen
    n = None
    if (not inuse or not prior) and not was_frozen:
        if s.has_cpu_partial() and not prior:
            frozen = 1
        else:
            n = s.node[0]
    set_page_freelist(mm, page, head)
    mm.mc[page] = pack_counters(inuse, objects, frozen)
    if n is None:
        if frozen and not was_frozen:
            put_cpu_partial(s, page, True, cpu)       # CPU_PARTIAL_FREE
        return
    if not inuse and n.nr_partial >= s.min_partial:
        if prior:
            remove_partial(s, n, page)                 # FREE_REMOVE_PARTIAL
        else:
            remove_full(s, n, page)
        discard_slab(s, page)                          # FREE_SLAB
        return
    if not s.has_cpu_partial() and not prior:
        remove_full(s, n, page)
        add_partial(s, n, page, DEACTIVATE_TO_TAIL)    # FREE_ADD_PARTIAL


def slab_free(s, page: int, obj: int, cpu: int, caller: str = "kmem_cache_free") -> None:
    """Free one object: onto the CPU freelist when it is from the CPU slab (do_slab_free)."""
    c = s.cpu_slab[cpu]
    if page == c.page and not s.debug:
        a = obj + s.offset - PAGE_OFFSET
        _pack_q(s.sl.pc[a >> PAGE_SHIFT], a & 4095, c.freelist)
        c.freelist = obj
        return
    __slab_free(s, page, obj, obj, 1, cpu, caller)


# --- whole-cache operations ---------------------------------------------------------------

def flush_all(s) -> None:
    """Deactivate every CPU slab and unfreeze every CPU partial list (on_each_cpu)."""
    for c in s.cpu_slab:
        if c.page != NULL:
            flush_slab(s, c)
        unfreeze_partials(s, c)


def count_partial_free(s, n) -> int:
    mm = s.sl.mm
    free = 0
    for page in mm.list_entries(n.partial):
        inuse, objects, _ = unpack_counters(mm.mc[page])
        free += objects - inuse
    return free


def __kmem_cache_shrink(s, deactivate: bool = False) -> int:
    """Flush the CPU slabs, free empty partial slabs and sort the rest fullest first
    (mm/slub.c __kmem_cache_shrink). 0 when no slab is left."""
    if deactivate:
        s.cpu_partial = 0
        s.min_partial = 0
    flush_all(s)
    mm = s.sl.mm
    n = s.node[0]
    discard = []
    promote = [[] for _ in range(SHRINK_PROMOTE_MAX)]
    keep = []
    for page in mm.list_entries(n.partial):
        inuse, objects, _ = unpack_counters(mm.mc[page])
        free = objects - inuse
        if free == objects:
            mm.list_del(page)
            n.nr_partial -= 1
            discard.append(page)
        elif free <= SHRINK_PROMOTE_MAX:
            mm.list_del(page)
            promote[free - 1].append(page)
        else:
            keep.append(page)
    # each bucket was built with list_move (newest first), then spliced onto the head from
    # the emptiest bucket down: slabs with the fewest free objects end up first
    for i in range(SHRINK_PROMOTE_MAX - 1, -1, -1):
        for page in promote[i]:
            mm.list_add(page, n.partial)
    for page in discard:
        discard_slab(s, page)
    return 1 if n.nr_slabs else 0


def free_partial(s, n) -> None:
    mm = s.sl.mm
    for page in mm.list_entries(n.partial):
        inuse = unpack_counters(mm.mc[page])[0]
        if not inuse:
            remove_partial(s, n, page)
            discard_slab(s, page)
        else:
            list_slab_objects(s, page, f"Objects remaining in {s.name} on "
                                       f"__kmem_cache_shutdown()")


def __kmem_cache_shutdown(s) -> int:
    flush_all(s)
    n = s.node[0]
    free_partial(s, n)
    return 1 if n.nr_partial or n.nr_slabs else 0


def slab_ksize(s) -> int:
    """The usable size of an object (mm/slab.h slab_ksize)."""
    if s.flags & (SLAB_RED_ZONE | SLAB_POISON):
        return s.object_size
    if s.flags & (SLAB_DESTROY_BY_RCU | SLAB_STORE_USER):
        return s.inuse
    return s.size


def get_slabinfo(s) -> dict:
    """The numbers /proc/slabinfo prints for ``s`` (mm/slub.c get_slabinfo)."""
    n = s.node[0]
    nr_free = count_partial_free(s, n)
    return {"active_objs": n.total_objects - nr_free, "num_objs": n.total_objects,
            "active_slabs": n.nr_slabs, "num_slabs": n.nr_slabs,
            "objects_per_slab": oo_objects(s.oo), "cache_order": oo_order(s.oo)}


# --- /sys/kernel/slab/<cache>/validate, alloc_calls, free_calls -----------------------

def validate_slab_cache(s) -> int:
    """/sys/kernel/slab/<cache>/validate: check every slab and object (validate_slab)."""
    sl = s.sl
    flush_all(s)
    count = 0
    for page in sl.slab_pages(s):
        if not check_slab(s, page) or not on_freelist(s, page, 0):
            continue
        free = set()
        fp = page_freelist(sl.mm, page)
        while fp:
            free.add(fp)
            fp = get_freepointer(s, fp)
        for p in for_each_object(s, page):
            check_object(s, page, p, SLUB_RED_INACTIVE if p in free else SLUB_RED_ACTIVE)
        count += 1
    return count


def _cpulist(cpus) -> str:
    """%*pbl: "0-2,5"."""
    out = []
    cpus = sorted(cpus)
    i = 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        out.append(f"{cpus[i]}" if i == j else f"{cpus[i]}-{cpus[j]}")
        i = j + 1
    return ",".join(out)


def list_locations(s, which: int) -> str:
    """/sys/kernel/slab/<cache>/alloc_calls and free_calls: the tracked call sites of the
    objects in use on the node lists, by address (mm/slub.c list_locations)."""
    sl = s.sl
    mm = sl.mm
    flush_all(s)
    n = s.node[0]
    now = jiffies(sl.m)
    locs = {}
    for page in mm.list_entries(n.partial) + mm.list_entries(n.full):
        free = set()
        fp = page_freelist(mm, page)
        while fp and len(free) <= unpack_counters(mm.mc[page])[1]:
            free.add(fp)
            fp = get_freepointer(s, fp)
        for p in for_each_object(s, page):
            if p in free:
                continue
            addr, cpu, pid, when = _TRACK.unpack(_rd(s, get_track_addr(s, p, which),
                                                     TRACK_SIZE))
            age = now - when
            loc = locs.get(addr)
            if loc is None:
                locs[addr] = [1, age, age, age, pid, pid, {cpu}]
            else:
                loc[0] += 1
                if when:
                    loc[1] += age
                    loc[2] = min(loc[2], age)
                    loc[3] = max(loc[3], age)
                    loc[4] = min(loc[4], pid)
                    loc[5] = max(loc[5], pid)
                    loc[6].add(cpu)
    lines = []
    for addr in sorted(locs):
        count, sum_t, min_t, max_t, min_pid, max_pid, cpus = locs[addr]
        text = f"{count:7d} " + (ksym_name(sl, addr) if addr else "<not-available>")
        text += (f" age={min_t}/{sum_t // count}/{max_t}" if sum_t != min_t
                 else f" age={min_t}")
        text += f" pid={min_pid}-{max_pid}" if min_pid != max_pid else f" pid={min_pid}"
        if sl.nr_cpu_ids > 1 and cpus:
            text += f" cpus={_cpulist(cpus)}"
        lines.append(text + "\n")
    return "".join(lines) or "No data\n"
