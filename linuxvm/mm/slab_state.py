"""``m.slab``: the slab caches of one machine, their boot (kmem_cache_init) and the entry
points (kmem_cache_create/alloc/free/destroy/shrink, kmalloc, kfree, ksize, krealloc).

The allocator itself is mm/slub.py; this module holds the per-machine state and what
mm/slab_common.c does around it.
"""

import errno
import sys
from struct import error as StructError

import numpy as np

from ..arch.x86.page_types import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from ..errors import KernelBug
from ..mm import gfp as G
from ..mm import page_alloc
from ..include.vm_event_item import NR_SLAB_RECLAIMABLE, NR_SLAB_UNRECLAIMABLE
from ..mm.page import NULL, PG_slab, PG_head
from .debug import extra_checks
from . import slab_common as C
from . import slub as S
from . import slub_def as D
from .slab_common import (KMALLOC_MAX_CACHE_SIZE, ZERO_SIZE_PTR, SLAB_HWCACHE_ALIGN,
                          SLAB_CACHE_DMA, SLAB_RECLAIM_ACCOUNT)
from .slub import slab_alloc, slab_free
from .slub_debug import (init_object, init_tracking, SLUB_RED_ACTIVE, check_valid_pointer,
                         freelist_bug)
from .slub_def import _unpack_q, _pack_q

# double-underscore kernel names cannot be spelled inside a class body (name mangling)
_kmem_cache_shutdown = S.__kmem_cache_shutdown
_kmem_cache_shrink = S.__kmem_cache_shrink
_alloc_pages_nodemask = page_alloc.__alloc_pages_nodemask
_free_pages = page_alloc.__free_pages

_GFP_ZERO = G.__GFP_ZERO
_GFP_COMP = G.__GFP_COMP
_SLAB_BIT = 1 << PG_slab
_HEAD_BIT = 1 << PG_head
# offsetof(struct kmem_cache, node) on the distro config (SYSFS, MEMCG, NUMA), + 1 node ptr
KMEM_CACHE_SIZE = 232 + 8
KMEM_CACHE_NODE_SIZE = 64      # list_lock, nr_partial, partial, nr_slabs, total_objects, full


def _named_ctor(name: str):
    """A constructor callable that names itself like the kernel function (for sysfs ctor)."""
    def ctor(addr):
        return None
    ctor.__name__ = name
    return ctor


class SlabState:
    """All slab caches of a machine (``slab_caches``, ``kmalloc_caches[]``, …) and the entry
    points on them. See mm/slub.py for the API other model code uses."""

    def __init__(self, m):
        self.m = m
        self.pgdat = m.pgdat
        self.mm = m.mem_map
        self.pc = m.page_contents
        self.nr_cpu_ids = m.nr_cpus
        opts = C.parse_slub_cmdline(m.cmdline)
        self.slub_debug = opts["slub_debug"]
        self.slub_debug_slabs = opts["slub_debug_slabs"]
        self.slub_min_order = opts["slub_min_order"]
        self.slub_max_order = opts["slub_max_order"]
        self.slub_min_objects = opts["slub_min_objects"]
        self.slab_nomerge = opts["slab_nomerge"]
        self.disable_higher_order_debug = opts["disable_higher_order_debug"]
        self.slab_caches = []            # newest first (list_add onto slab_caches)
        self.by_id = [None]              # page->slab_cache: ids index this list
        self.by_name = {}                # cache and alias names -> cache
        self.kmalloc_caches = [None] * (C.KMALLOC_SHIFT_HIGH + 1)
        self.kmalloc_dma_caches = [None] * (C.KMALLOC_SHIFT_HIGH + 1)
        self.kmalloc_by_size = self.kmalloc_dma_by_size = None   # filled by kmalloc init
        self.large_blocks = {}           # kmalloc_large head pfn -> order
        self.permanent = {}              # cache id -> references the kernel itself holds
        self.kmem_cache = None
        self.kmem_cache_node = None
        self.oom_rs = page_alloc.RatelimitState()
        for ch in opts["unknown_debug"]:
            m.log.pr_err(f"slub_debug option '{ch}' unknown. skipped")

    # -- cache creation -------------------------------------------------------------
    def kmem_cache_flags(self, flags: int, name: str) -> int:
        """Add slub_debug= flags for caches the boot option selects (kmem_cache_flags)."""
        if self.slub_debug and (not self.slub_debug_slabs
                                or (name or "").startswith(self.slub_debug_slabs)):
            flags |= self.slub_debug
        return flags

    def _new_cache(self, name, object_size, align, flags, ctor):
        s = D.KmemCache()
        s.sl = self
        s.id = len(self.by_id)
        self.by_id.append(s)
        s.name = name
        s.size = s.object_size = object_size
        s.align = align
        s.ctor = ctor
        s.max = 0
        s.refcount = 1
        s.alias_names = []
        s.obj_addr = 0
        if not S.kmem_cache_open(self, s, flags):
            self.by_id[s.id] = None
            return None
        return s

    def _alloc_node_struct(self, s) -> None:
        """init_kmem_cache_nodes: the node structure comes from kmem_cache_node."""
        s.node[0].obj_addr = slab_alloc(self.kmem_cache_node, G.GFP_KERNEL,
                                        self.m.current_cpu, "init_kmem_cache_nodes")

    def create_boot_cache(self, name, size, flags):
        s = self._new_cache(name, size, C.calculate_alignment(flags, C.ARCH_KMALLOC_MINALIGN,
                                                               size), flags, None)
        if s is None:
            raise KernelBug(f"Creation of kmalloc slab {name} size={size} failed. Reason -22")
        s.refcount = -1                       # exempt from merging for now
        return s

    def create_kmalloc_cache(self, name, size, flags):
        obj = slab_alloc(self.kmem_cache, G.GFP_NOWAIT | _GFP_ZERO, self.m.current_cpu,
                         "create_kmalloc_cache")
        s = self.create_boot_cache(name, size, flags)
        self._alloc_node_struct(s)
        s.obj_addr = obj
        self.slab_caches.insert(0, s)
        self.by_name[name] = s
        s.refcount = 1
        return s

    def early_kmem_cache_node_alloc(self, s) -> None:
        """The first kmem_cache_node structure, carved by hand from a new slab."""
        mm = self.mm
        page = S.new_slab(s, G.GFP_NOWAIT, self.m.current_cpu)
        if page == NULL:
            raise KernelBug("SLUB: Unable to allocate memory from node 0")
        n_obj = D.page_freelist(mm, page)
        D.set_page_freelist(mm, page, D.get_freepointer(s, n_obj))
        inuse, objects, _ = D.unpack_counters(mm.mc[page])
        mm.mc[page] = D.pack_counters(1, objects, 0)
        if s.debug:
            init_object(s, n_obj, SLUB_RED_ACTIVE)
            init_tracking(s, n_obj)
        s.node[0].obj_addr = n_obj
        D.add_partial(s, s.node[0], page, D.DEACTIVATE_TO_HEAD)

    def bootstrap(self, s):
        """Give a static boot cache its own kmem_cache object (mm/slub.c bootstrap)."""
        s.obj_addr = slab_alloc(self.kmem_cache, G.GFP_NOWAIT | _GFP_ZERO,
                                self.m.current_cpu, "bootstrap")
        c = s.cpu_slab[self.m.current_cpu]
        if c.page != NULL:
            S.flush_slab(s, c)
        S.unfreeze_partials(s, c)
        self.slab_caches.insert(0, s)
        self.by_name[s.name] = s
        return s

    def kmem_cache_init(self) -> None:
        """Create the boot caches and the kmalloc caches (mm/slub.c kmem_cache_init)."""
        kcn = self._new_cache("kmem_cache_node", KMEM_CACHE_NODE_SIZE,
                              C.calculate_alignment(SLAB_HWCACHE_ALIGN, 8,
                                                    KMEM_CACHE_NODE_SIZE),
                              SLAB_HWCACHE_ALIGN, None)
        kcn.refcount = -1
        self.kmem_cache_node = kcn
        self.early_kmem_cache_node_alloc(kcn)
        kc = self.create_boot_cache("kmem_cache", KMEM_CACHE_SIZE, SLAB_HWCACHE_ALIGN)
        self._alloc_node_struct(kc)
        self.kmem_cache = kc
        self.bootstrap(kc)
        self.bootstrap(kcn)
        self.create_kmalloc_caches(0)
        self.m.log.pr_info(f"SLUB: HWalign={C.CACHE_LINE_SIZE}, Order={self.slub_min_order}-"
                           f"{self.slub_max_order}, MinObjects={self.slub_min_objects}, "
                           f"CPUs={self.nr_cpu_ids}, Nodes=1")

    def create_kmalloc_caches(self, flags: int) -> None:
        info = C.kmalloc_info
        for i in range(C.KMALLOC_SHIFT_LOW, C.KMALLOC_SHIFT_HIGH + 1):
            self.kmalloc_caches[i] = self.create_kmalloc_cache(*info[i], flags)
            if i == 6:
                self.kmalloc_caches[1] = self.create_kmalloc_cache(*info[1], flags)
            if i == 7:
                self.kmalloc_caches[2] = self.create_kmalloc_cache(*info[2], flags)
        for i in range(C.KMALLOC_SHIFT_HIGH + 1):
            s = self.kmalloc_caches[i]
            if s is not None:
                self.kmalloc_dma_caches[i] = self.create_kmalloc_cache(
                    f"dma-kmalloc-{info[i][1]}", info[i][1], SLAB_CACHE_DMA | flags)
        self.kmalloc_by_size = [None] + [self.kmalloc_caches[C.kmalloc_index(n)]
                                         for n in range(1, KMALLOC_MAX_CACHE_SIZE + 1)]
        self.kmalloc_dma_by_size = [None] + [self.kmalloc_dma_caches[C.kmalloc_index(n)]
                                             for n in range(1, KMALLOC_MAX_CACHE_SIZE + 1)]

    def create_kernel_caches(self) -> None:
        """The caches start_kernel creates after mm_init (radix_tree_init … vfs_caches_init)."""
        for name, size, align, flags, has_ctor in C.KERNEL_CACHES:
            ctor = None
            if has_ctor:
                ctor = _named_ctor(has_ctor if isinstance(has_ctor, str)
                                   else name.replace("_cache", "") + "_ctor")
            self.kmem_cache_create(name, size, align, flags, ctor)
        # the model's own code holds these (and the boot and kmalloc caches) for good
        self.permanent = {s.id: s.refcount for s in self.slab_caches}

    def kmem_cache_create(self, name, size, align=0, flags=0, ctor=None):
        """Create a cache or alias an existing compatible one (mm/slab_common.c).

        :raises ValueError: a bad name, size, alignment or flag
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"kmem_cache_create: bad cache name {name!r}")
        if " " in name:
            raise ValueError(f"kmem_cache_create: cache name {name!r} contains a space "
                             f"(it confuses parsers)")
        if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= C.KMALLOC_MAX_SIZE:
            raise ValueError(f"kmem_cache_create({name}): size {size!r} is not in "
                             f"8..{C.KMALLOC_MAX_SIZE}")
        if isinstance(align, bool) or not isinstance(align, int) or align < 0 or (
                align & (align - 1)):
            raise ValueError(f"kmem_cache_create({name}): align {align!r} is not 0 or a "
                             f"power of two")
        if ctor is not None and not callable(ctor):
            raise ValueError(f"kmem_cache_create({name}): ctor must be callable")
        flags = C.parse_slab_flags(flags) & C.CACHE_CREATE_MASK
        s = self.kmem_cache_alias(name, size, align, flags, ctor)
        if s is not None:
            return s
        obj = slab_alloc(self.kmem_cache, G.GFP_KERNEL | _GFP_ZERO, self.m.current_cpu,
                         "kmem_cache_create")
        if not obj:
            self.m.log.pr_warn(f"kmem_cache_create({name}) failed with error {-errno.ENOMEM}")
            return None
        s = self._new_cache(name, size, C.calculate_alignment(flags, align, size), flags, ctor)
        if s is None:
            S.slab_free(self.kmem_cache, D.virt_to_head_pfn(self, obj), obj,
                        self.m.current_cpu)
            self.m.log.pr_warn(f"kmem_cache_create({name}) failed with error -22")
            return None
        s.obj_addr = obj
        self._alloc_node_struct(s)
        self.slab_caches.insert(0, s)
        self.by_name[name] = s
        return s

    def kmem_cache_alias(self, name, size, align, flags, ctor):
        s = C.find_mergeable(self, size, align, flags, name, ctor)
        if s is not None:
            s.refcount += 1
            s.object_size = max(s.object_size, size)
            s.inuse = max(s.inuse, C.ALIGN(size, 8))
            s.alias_names.append(name)
            self.by_name.setdefault(name, s)
        return s

    def kmem_cache_destroy(self, s) -> None:
        """Drop a reference; on the last one free the cache, or complain when objects remain
        (mm/slab_common.c kmem_cache_destroy)."""
        if s is None:
            return
        s.refcount -= 1
        if s.refcount:
            return
        if _kmem_cache_shutdown(s):
            self.m.log.pr_err(f"kmem_cache_destroy {s.name}: Slab cache still has objects")
            return
        self.slab_caches.remove(s)
        for name in [s.name] + s.alias_names:
            if self.by_name.get(name) is s:
                del self.by_name[name]
        cpu = self.m.current_cpu
        n_obj = s.node[0].obj_addr
        if n_obj:
            S.slab_free(self.kmem_cache_node, D.virt_to_head_pfn(self, n_obj), n_obj, cpu)
        if s.obj_addr:
            S.slab_free(self.kmem_cache, D.virt_to_head_pfn(self, s.obj_addr), s.obj_addr, cpu)
        self.by_id[s.id] = None

    def kmem_cache_shrink(self, s) -> int:
        return _kmem_cache_shrink(s, False)

    def shrink_all(self) -> None:
        for s in self.slab_caches:
            _kmem_cache_shrink(s, False)

    def find_cache(self, name: str):
        s = self.by_name.get(name)
        if s is None:
            raise ValueError(f"no slab cache named {name!r}")
        return s

    # -- objects ----------------------------------------------------------------------
    def alloc_obj(self, name: str, cpu=None, gfp: int = G.GFP_KERNEL,
                  caller: str = "kmem_cache_alloc") -> int:
        """Allocate one object of the kernel cache ``name``; its address, or 0 on failure.
        ``caller`` is the call site slub_debug=U records (e.g. "copy_process")."""
        s = self.by_name[name]
        ret = slab_alloc(s, gfp, self.m.current_cpu if cpu is None else cpu, caller)
        tp = self.m.tp.kmem_cache_alloc
        if tp is not None:
            tp(_call_site(caller), ret, s.object_size, s.size, gfp)
        return ret

    def free_obj(self, name: str, addr: int, cpu=None, caller: str = "kmem_cache_free") -> None:
        """Free an object alloc_obj returned."""
        s = self.by_name[name]
        slab_free(s, D.virt_to_head_pfn(self, addr), addr,
                  self.m.current_cpu if cpu is None else cpu, caller)
        tp = self.m.tp.kmem_cache_free
        if tp is not None:
            tp(_call_site(caller), addr)

    def kmem_cache_alloc(self, s, gfp: int, cpu: int) -> int:
        if gfp & (C_GFP_SLAB_BUG_MASK):
            raise ValueError(f"gfp: {gfp & C_GFP_SLAB_BUG_MASK} is not allowed for slab "
                             f"allocations (the kernel BUG()s)")
        ret = slab_alloc(s, gfp, cpu, "kmem_cache_alloc")
        tp = self.m.tp.kmem_cache_alloc
        if tp is not None:
            tp("kmem_cache_alloc", ret, s.object_size, s.size, gfp)
        return ret

    def kmalloc(self, size: int, gfp: int = G.GFP_KERNEL, cpu=None,
                caller: str = "__kmalloc") -> int:
        """``__kmalloc``: an object from the kmalloc cache for ``size`` (or the page allocator
        above KMALLOC_MAX_CACHE_SIZE); 0 on failure, ZERO_SIZE_PTR (16) for size 0.
        ``caller`` is the call site the kmalloc event shows."""
        if cpu is None:
            cpu = self.m.current_cpu
        if size > KMALLOC_MAX_CACHE_SIZE:
            return self.kmalloc_large(size, gfp, cpu, caller)
        tp = self.m.tp.kmalloc
        # kmalloc_slab's size_index / fls(size - 1) lookup, precomputed per size
        s = (self.kmalloc_dma_by_size if gfp & 1 else self.kmalloc_by_size)[size]
        if s is None:
            return ZERO_SIZE_PTR
        c = s.cpu_slab[cpu]
        obj = c.freelist
        if obj and not gfp & _GFP_ZERO:
            a = obj + s.offset - PAGE_OFFSET
            try:
                c.freelist = _unpack_q(self.pc[a >> 12], a & 4095)[0]
            except (KeyError, IndexError, StructError):
                # the free pointer read leaves the slab's memory (written after a free)
                raise freelist_bug(s, c.page, obj) from None
            if tp is not None:
                tp(caller, obj, size, s.size, gfp)
            return obj
        ret = slab_alloc(s, gfp, cpu, "__kmalloc")
        if tp is not None:
            tp(caller, ret, size, s.size, gfp)
        return ret

    def kmalloc_large(self, size: int, gfp: int, cpu: int, caller: str = "__kmalloc") -> int:
        """kmalloc_order: compound pages straight from the page allocator
        (kmalloc_order_trace fires the kmalloc event)."""
        order = C.get_order(size)
        pfn = _alloc_pages_nodemask(self.pgdat, gfp | _GFP_COMP, order, cpu)
        ret = 0
        if pfn != NULL:
            for i in range(1 << order):
                self.pc[pfn + i] = bytearray(PAGE_SIZE)
            self.large_blocks[pfn] = order
            ret = PAGE_OFFSET + (pfn << PAGE_SHIFT)
        tp = self.m.tp.kmalloc
        if tp is not None:
            tp(caller, ret, size, PAGE_SIZE << order, gfp)
        return ret

    def kfree(self, addr: int, cpu=None, caller: str = "kfree") -> None:
        """Free a kmalloc'd object or large block (mm/slub.c kfree)."""
        tp = self.m.tp.kfree
        if tp is not None:
            tp(caller, addr)                 # before the ZERO_OR_NULL_PTR test, as 4.6
        if addr <= ZERO_SIZE_PTR:
            return
        if cpu is None:
            cpu = self.m.current_cpu
        mm = self.mm
        pfn = (addr - PAGE_OFFSET) >> 12
        h = mm.ch[pfn]
        if h != NULL:
            pfn = h
        if not mm.f[pfn] & _SLAB_BIT:
            order = mm.prv[pfn + 1] if mm.f[pfn] & _HEAD_BIT else 0
            self.large_blocks.pop(pfn, None)
            _free_pages(self.pgdat, pfn, order, cpu)
            return
        s = self.by_id[mm.priv[pfn]]
        c = s.cpu_slab[cpu]
        if pfn == c.page and not s.debug:
            a = addr + s.offset - PAGE_OFFSET
            _pack_q(self.pc[a >> 12], a & 4095, c.freelist)
            c.freelist = addr
            return
        slab_free(s, pfn, addr, cpu, "kfree")

    def ksize(self, addr: int) -> int:
        if addr == ZERO_SIZE_PTR:
            return 0
        pfn = D.virt_to_head_pfn(self, addr)
        mm = self.mm
        if not mm.f[pfn] & _SLAB_BIT:
            return PAGE_SIZE << (mm.prv[pfn + 1] if mm.f[pfn] & _HEAD_BIT else 0)
        return S.slab_ksize(self.by_id[mm.priv[pfn]])

    def krealloc(self, p: int, new_size: int, gfp: int, cpu=None) -> int:
        if not new_size:
            self.kfree(p, cpu, "krealloc")
            return ZERO_SIZE_PTR
        ks = self.ksize(p) if p else 0
        if ks >= new_size:
            return p
        ret = self.kmalloc(new_size, gfp, cpu, "krealloc")
        if ret and p:
            D.write_bytes(self.pc, ret, D.read_bytes(self.pc, p, ks))
        if ret and p != ret:
            self.kfree(p, cpu, "krealloc")
        return ret

    # -- lookups for checks, /proc and the façade -------------------------------------
    def slab_pages(self, s) -> list:
        """Every slab page of ``s`` (PG_slab heads whose slab_cache is ``s``)."""
        mm = self.mm
        heads = np.flatnonzero((mm.flags & np.uint64(_SLAB_BIT)) != 0)
        return [int(p) for p in heads[mm.private[heads] == s.id]]

    def object_state(self, addr: int):
        """(cache, head pfn, 'free'|'allocated') of a slab object address.

        :raises ValueError: the address is not the start of an object in a slab
        """
        m = self.m
        if not PAGE_OFFSET <= addr < PAGE_OFFSET + (self.mm.nr_frames << PAGE_SHIFT):
            raise ValueError(f"{addr:#x} is not a direct-map address of this machine")
        pfn = D.virt_to_head_pfn(self, addr)
        mm = self.mm
        if not mm.f[pfn] & _SLAB_BIT:
            raise ValueError(f"{addr:#x} is not in a slab page")
        s = self.by_id[mm.priv[pfn]]
        base = D.page_address(pfn)
        objects = D.unpack_counters(mm.mc[pfn])[1]
        rel = addr - s.red_left_pad - base
        if rel < 0 or rel % s.size or rel // s.size >= objects:
            raise ValueError(f"{addr:#x} is not the start of an object of {s.name}")
        free = set(_walk(s, D.page_freelist(mm, pfn), objects, pfn))
        for c in s.cpu_slab:
            if c.page == pfn:
                free.update(_walk(s, c.freelist, objects, pfn))
        del m
        return s, pfn, "free" if addr in free else "allocated"


C_GFP_SLAB_BUG_MASK = S.GFP_SLAB_BUG_MASK


# the model's wrappers around kmem_cache_alloc/free (slab_common.py, this module): the
# call site a kmem event shows is the function that called them
_SLAB_WRAPPERS = frozenset({"alloc_obj", "free_obj", "slab_alloc_obj", "slab_free_obj"})


def _call_site(caller: str) -> str:
    """The kmem events' call_site (_RET_IP_): ``caller`` when a call names one, else the
    name of the model function that called the slab allocator (read from the Python
    stack, only while the event is on)."""
    if caller not in ("kmem_cache_alloc", "kmem_cache_free"):
        return caller
    f = sys._getframe(1)
    while f is not None and f.f_code.co_name in _SLAB_WRAPPERS:
        f = f.f_back
    return f.f_code.co_name if f is not None else caller


def _walk(s, fp: int, objects: int, page: int = NULL) -> list:
    """The objects on a freelist from ``fp`` (at most ``objects`` + 1); with ``page``, a
    KernelBug at an entry that is not an object of that slab (a write after free)."""
    out = []
    if page == NULL:
        while fp and len(out) <= objects:
            out.append(fp)
            fp = D.get_freepointer(s, fp)
        return out
    # check_valid_pointer(s, page, fp) for each entry, the page's bounds worked out once
    size = s.size
    base = D.page_address(page) + s.red_left_pad
    end = base + objects * size
    while fp and len(out) <= objects:
        if not base <= fp < end or (fp - base) % size:
            raise freelist_bug(s, page, fp)
        out.append(fp)
        fp = D.get_freepointer(s, fp)
    return out


def kmem_cache_init(m) -> None:
    """mm_init's kmem_cache_init: ``m.slab`` with the boot and kmalloc caches; the caches
    start_kernel creates later join at the late-init point."""
    m.slab = SlabState(m)
    m.slab.kmem_cache_init()
    m.late_init_hooks.insert(0, lambda mach: mach.slab.create_kernel_caches())
    if check_slab_state not in extra_checks:
        extra_checks.append(check_slab_state)


def check_slab_state(m) -> None:
    """m.check(): every object is free on exactly one freelist or allocated, counters match
    the freelists, no slab is on two lists, PG_slab is exactly on slab pages, and the zone
    slab counters equal the slab pages."""
    sl = getattr(m, "slab", None)
    if sl is None:
        return
    mm = sl.mm
    heads = np.flatnonzero((mm.flags & np.uint64(_SLAB_BIT)) != 0)
    ids = mm.private[heads]
    seen_pages = {}
    reclaim = [0] * len(m.zones)
    unreclaim = [0] * len(m.zones)
    for pfn, cid in zip(heads.tolist(), ids.tolist()):
        s = sl.by_id[cid] if 0 < cid < len(sl.by_id) else None
        if s is None:
            raise KernelBug(f"pfn {pfn:#x} has PG_slab but slab_cache id {cid} is no cache")
        if mm.ch[pfn] != NULL:
            raise KernelBug(f"pfn {pfn:#x}: PG_slab on a tail page")
        order = D.slab_page_order(mm, pfn)
        zi = int(mm.f[pfn]) >> 62
        (reclaim if s.flags & SLAB_RECLAIM_ACCOUNT else unreclaim)[zi] += 1 << order
        seen_pages.setdefault(s.id, []).append(pfn)
    for zi, zone in enumerate(m.zones):
        if zone.vm_stat[NR_SLAB_RECLAIMABLE] != reclaim[zi] or \
                zone.vm_stat[NR_SLAB_UNRECLAIMABLE] != unreclaim[zi]:
            raise KernelBug(f"{zone.name}: NR_SLAB_RECLAIMABLE/UNRECLAIMABLE "
                            f"{zone.vm_stat[NR_SLAB_RECLAIMABLE]}/"
                            f"{zone.vm_stat[NR_SLAB_UNRECLAIMABLE]} but slab pages hold "
                            f"{reclaim[zi]}/{unreclaim[zi]}")
    for s in sl.by_id[1:]:
        if s is not None:
            _check_cache(sl, s, seen_pages.get(s.id, []))
    for pfn, order in sl.large_blocks.items():
        if mm.rc[pfn] <= 0 or D.slab_page_order(mm, pfn) != order or mm.f[pfn] & _SLAB_BIT:
            raise KernelBug(f"kmalloc_large block {pfn:#x} (order {order}) is not an allocated "
                            f"compound page")


def _check_cache(sl, s, pages) -> None:
    mm = sl.mm
    n = s.node[0]
    where = {}

    def put(page, place):
        if page in where:
            raise KernelBug(f"{s.name}: slab {page:#x} is on {where[page]} and on {place}")
        where[page] = place

    partial = mm.list_entries(n.partial, len(pages) + 1)
    if len(partial) != n.nr_partial:
        raise KernelBug(f"{s.name}: nr_partial {n.nr_partial} but the list holds "
                        f"{len(partial)}")
    for p in partial:
        put(p, "the node partial list")
    for p in mm.list_entries(n.full, len(pages) + 1):
        put(p, "the node full list")
    cpu_free = {}
    for cpu, c in enumerate(s.cpu_slab):
        if c.page != NULL:
            put(c.page, f"cpu{cpu} slab")
            cpu_free[c.page] = c.freelist
        elif c.freelist:
            raise KernelBug(f"{s.name}: cpu{cpu} has a freelist but no slab")
        p = c.partial
        k = 0
        while p != NULL:
            put(p, f"cpu{cpu} partial list")
            p = mm.nxt[p]
            k += 1
            if k > len(pages):
                raise KernelBug(f"{s.name}: cpu{cpu} partial list loops")
    total = 0
    page_set = set(pages)
    for p in where:
        if p not in page_set:
            raise KernelBug(f"{s.name}: slab {p:#x} on {where[p]} is not a slab page of "
                            f"the cache")
    for page in pages:
        inuse, objects, frozen = D.unpack_counters(mm.mc[page])
        total += objects
        place = where.get(page, "")
        if objects != min(D.order_objects(D.slab_page_order(mm, page), s.size, s.reserved),
                          D.MAX_OBJS_PER_PAGE):
            raise KernelBug(f"{s.name}: slab {page:#x} has {objects} objects")
        if inuse > objects:
            raise KernelBug(f"{s.name}: slab {page:#x} inuse {inuse} > objects {objects}")
        is_cpu = place.startswith("cpu")
        if bool(frozen) != is_cpu:
            raise KernelBug(f"{s.name}: slab {page:#x} frozen={frozen} but on "
                            f"{place or 'no list'}")
        free = _walk(s, D.page_freelist(mm, page), objects, page)
        extra = _walk(s, cpu_free.get(page, 0), objects, page)
        allf = free + extra
        if len(set(allf)) != len(allf) or len(allf) > objects:
            raise KernelBug(f"{s.name}: slab {page:#x} has an object on a freelist twice "
                            f"(double free?)")
        base = D.page_address(page) + s.red_left_pad
        for o in allf:
            if o < base or (o - base) % s.size or (o - base) // s.size >= objects:
                raise KernelBug(f"{s.name}: slab {page:#x} freelist holds {o:#x}, not an "
                                f"object of the slab")
        if len(free) != objects - inuse:
            raise KernelBug(f"{s.name}: slab {page:#x} inuse {inuse} but {len(free)} of "
                            f"{objects} objects are on its freelist")
        if not frozen:
            on_partial = place == "the node partial list"
            if free and not on_partial:
                raise KernelBug(f"{s.name}: slab {page:#x} has free objects but is on "
                                f"{place or 'no list'}")
            if not free and on_partial:
                raise KernelBug(f"{s.name}: full slab {page:#x} on the partial list")
    if len(pages) != n.nr_slabs or total != n.total_objects:
        raise KernelBug(f"{s.name}: nr_slabs/total_objects {n.nr_slabs}/{n.total_objects} "
                        f"but the slab pages hold {len(pages)}/{total}")
