# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Compiled bodies of the buddy allocator's accelerators (linuxvm/accel/page_alloc.py) and
of release_pages (linuxvm/accel/swap.py): the same steps as the pure-Python accelerators,
over C pointers into the ``mem_map`` arrays.

Built by ``pip install .`` (setup.py, optional); linuxvm/accel/ccore.py registers these in
place of the pure-Python bodies when the module imports. Each function here leaves exactly
the state its pure-Python twin leaves, so the whole-machine fingerprints of
tests/test_accel.py and tests/test_ccore.py cover both.
"""

import importlib

import numpy as np

from ..mm import gfp as G
from ..mm.mmzone import (MAX_ORDER as _MAX_ORDER, MIGRATE_ISOLATE as _MIGRATE_ISOLATE,
                         MIGRATE_PCPTYPES as _MIGRATE_PCPTYPES, WMARK_LOW as _WMARK_LOW,
                         ZONE_FAIR_DEPLETED as _ZONE_FAIR_DEPLETED,
                         pageblock_order as _pageblock_order)
from ..mm.page import (PAGE_BUDDY_MAPCOUNT_VALUE, PAGE_MAPPING_ANON as _ANON,
                       PAGE_FLAGS_CHECK_AT_FREE as _AT_FREE,
                       PAGE_FLAGS_CHECK_AT_PREP as _AT_PREP, PG_head, PG_lru, PG_active,
                       PG_referenced, PG_swapbacked, PG_unevictable)
from ..mm.page_alloc import (__rmqueue, free_hot_cold_page,
                             free_hot_cold_page_list as _free_hot_cold_page_list_ref,
                             rmqueue_bulk as _rmqueue_bulk_ref)
from ..mm.swap import LRU_UNEVICTABLE as _LRU_UNEVICTABLE, NR_LRU_LISTS as _NR_LRU_LISTS
# ("include" is a Cython keyword, so this module is imported by name)
_vm_event_item = importlib.import_module("linuxvm.include.vm_event_item")

ctypedef long long i64
ctypedef unsigned long long u64

cdef enum:
    NMAX_ORDER = 11         # MAX_ORDER
    NMT = 5                 # MIGRATE_TYPES
    NPCP = 3                # MIGRATE_PCPTYPES

# the model's constants, as C values (read from the Python modules at import)
cdef int MAX_ORDER = _MAX_ORDER
cdef int MIGRATE_ISOLATE = _MIGRATE_ISOLATE
cdef int MIGRATE_PCPTYPES = _MIGRATE_PCPTYPES
cdef int PB_ORDER = _pageblock_order
cdef int BUDDY = PAGE_BUDDY_MAPCOUNT_VALUE
cdef i64 ANON = _ANON
cdef u64 AT_FREE = _AT_FREE
cdef u64 AT_PREP = _AT_PREP
cdef u64 NOT_AT_PREP = ~(<u64>_AT_PREP)
cdef u64 F_HEAD = 1ULL << PG_head
cdef u64 F_LRU = 1ULL << PG_lru
cdef u64 F_ACTIVE = 1ULL << PG_active
cdef u64 F_UNEVICTABLE = 1ULL << PG_unevictable
cdef u64 F_SWAPBACKED = 1ULL << PG_swapbacked
cdef u64 F_REFERENCED = 1ULL << PG_referenced
cdef u64 NOT_ACTIVE_REFERENCED = ~(F_ACTIVE | F_REFERENCED)
cdef int LRU_UNEVICTABLE = _LRU_UNEVICTABLE
cdef int NR_LRU_LISTS = _NR_LRU_LISTS
cdef Py_ssize_t NR_FREE_PAGES = _vm_event_item.NR_FREE_PAGES
cdef Py_ssize_t NR_ALLOC_BATCH = _vm_event_item.NR_ALLOC_BATCH
cdef Py_ssize_t NR_PAGES_SCANNED = _vm_event_item.NR_PAGES_SCANNED
cdef Py_ssize_t NR_LRU_BASE = _vm_event_item.NR_LRU_BASE
cdef Py_ssize_t PGALLOC = _vm_event_item.PGALLOC
cdef Py_ssize_t PGFREE = _vm_event_item.PGFREE
cdef Py_ssize_t WMARK_LOW = _WMARK_LOW
cdef long FAIR_DEPLETED = 1 << _ZONE_FAIR_DEPLETED
cdef long GFP_COLD = G.__GFP_COLD
cdef long GFP_WRITE = G.__GFP_WRITE
cdef long GFP_ZERO = G.__GFP_ZERO
cdef int NULLPFN = -1
cdef int MIN_RELEASE_BATCH = 32          # as linuxvm/accel/swap.py's _MIN_BATCH

assert MAX_ORDER == NMAX_ORDER and MIGRATE_PCPTYPES == NPCP and _MIGRATE_ISOLATE < NMT


# --- C views of one machine's struct page arrays ------------------------------------------

cdef class Frames:
    """Raw pointers into one MemMap's arrays and the pageblock bits (kept alive here)."""

    cdef object mm, nxt_obj, pb_obj, keep
    cdef u64* flags
    cdef int* rc
    cdef int* mc
    cdef i64* mapping
    cdef i64* index
    cdef i64* private
    cdef int* nxt
    cdef int* prv
    cdef int* ch
    cdef unsigned int* content
    cdef unsigned char* pb
    cdef i64 nr_frames

    def __init__(self, mm, pb):
        cdef u64[::1] f = mm.flags
        cdef int[::1] rc = mm._refcount
        cdef int[::1] mc = mm._mapcount
        cdef i64[::1] mapping = mm.mapping
        cdef i64[::1] index = mm.index
        cdef i64[::1] private = mm.private
        cdef int[::1] nxt = mm.lru_next
        cdef int[::1] prv = mm.lru_prev
        cdef int[::1] ch = mm.compound_head
        cdef unsigned int[::1] content = mm.content
        cdef unsigned char[::1] bits = pb.bits
        self.mm = mm
        self.nxt_obj = mm.lru_next
        self.pb_obj = pb
        self.keep = (f, rc, mc, mapping, index, private, nxt, prv, ch, content, bits)
        self.flags = &f[0]
        self.rc = &rc[0]
        self.mc = &mc[0]
        self.mapping = &mapping[0]
        self.index = &index[0]
        self.private = &private[0]
        self.nxt = &nxt[0]
        self.prv = &prv[0]
        self.ch = &ch[0]
        self.content = &content[0]
        self.pb = &bits[0]
        self.nr_frames = mm.nr_frames


cdef Frames _last = None


cdef inline Frames frames_of(mm, pb):
    """The Frames of ``mm`` (the last one is reused while its link arrays are the same)."""
    global _last
    cdef Frames F = _last
    if F is not None and F.mm is mm and F.nxt_obj is mm.lru_next and F.pb_obj is pb:
        return F
    F = Frames(mm, pb)
    _last = F
    return F


# --- what does not change in a zone after boot, looked up once -----------------------------

cdef enum:
    NCPU_CACHED = 64        # pcp list heads of CPUs below this are kept in C

cdef class ZoneFast:
    """A zone's fixed parts: its Frames, the list objects its counters live in, its free
    and pcp list heads (the values in those lists are read on every call)."""

    cdef object zone, pgdat, machine, pcps
    cdef Frames F
    cdef list vm_stat, events, watermark, lowmem_reserve
    cdef Py_ssize_t pgalloc
    cdef i64 lo, hi
    cdef int heads[NMAX_ORDER][NMT]
    cdef int ncpu
    cdef int pcp_lists[NCPU_CACHED][NPCP]

    def __init__(self, zone):
        cdef int o, t, c
        mm = zone.mem_map
        self.zone = zone
        self.pgdat = zone.zone_pgdat
        self.machine = self.pgdat.machine
        self.F = frames_of(mm, zone.pb)
        self.vm_stat = zone.vm_stat
        self.events = self.pgdat.vm_events
        self.watermark = zone.watermark
        self.lowmem_reserve = zone.lowmem_reserve
        self.pgalloc = PGALLOC + <Py_ssize_t>zone.idx
        self.lo = zone.zone_start_pfn
        self.hi = min(self.lo + <i64>zone.spanned_pages, <i64>mm.nr_frames)
        area = zone.free_area
        for o in range(NMAX_ORDER):
            fl = area[o].free_list
            for t in range(NMT):
                self.heads[o][t] = fl[t]
        self.pcps = [ps.pcp for ps in zone.pageset]
        self.ncpu = min(len(self.pcps), NCPU_CACHED)
        for c in range(self.ncpu):
            ls = self.pcps[c].lists
            for t in range(NPCP):
                self.pcp_lists[c][t] = ls[t]

    cdef inline bint valid(self):
        # vm_stat and vm_events are made once, before boot; only the link arrays grow
        return self.F.nxt_obj is self.F.mm.lru_next


cdef ZoneFast _zf_last = None
cdef dict _zf_cache = {}                     # id(zone) -> ZoneFast, of one machine
cdef object _zf_pgdat = None


cdef ZoneFast zone_fast(zone):
    """The ZoneFast of ``zone`` (built on first use; rebuilt when its arrays moved). Only
    the last machine's zones are kept, so a machine no longer used is not kept alive."""
    global _zf_last, _zf_pgdat
    cdef ZoneFast zf = _zf_last
    if zf is not None and zf.zone is zone and zf.valid():
        return zf
    pgdat = zone.zone_pgdat
    if pgdat is not _zf_pgdat:
        _zf_cache.clear()
        _zf_pgdat = pgdat
    key = id(zone)
    zf = _zf_cache.get(key)
    if zf is None or zf.zone is not zone or not zf.valid():
        zf = ZoneFast(zone)
        _zf_cache[key] = zf
    _zf_last = zf
    return zf


# --- one zone's buddy lists and pcp, in C for the length of one call ----------------------

cdef class ZoneC:
    """A zone's free-list heads, its free-count changes and one CPU's pcp, held in C while
    a call runs; ``flush`` writes the counts back to the Python objects."""

    cdef object zone, pcp
    cdef i64 lo, hi
    cdef int heads[NMAX_ORDER][NMT]
    cdef i64 nr_free[NMAX_ORDER]
    cdef i64 nr_free_pages
    cdef bint bulked
    cdef int lists[NPCP]
    cdef i64 count, high, batch

    cdef load(self, zone, pcp, i64 nr_frames):
        cdef int o, t
        cdef ZoneFast zf = zone_fast(zone)
        self.zone = zone
        self.lo = zf.lo
        self.hi = zf.hi
        for o in range(NMAX_ORDER):
            for t in range(NMT):
                self.heads[o][t] = zf.heads[o][t]
            self.nr_free[o] = 0
        self.nr_free_pages = 0
        self.bulked = False
        self.pcp = pcp
        if pcp is not None:
            ls = pcp.lists
            for t in range(NPCP):
                self.lists[t] = ls[t]
            self.count = pcp.count
            self.high = pcp.high
            self.batch = pcp.batch

    cdef flush(self):
        cdef int o
        zone = self.zone
        if self.bulked:
            vm_stat = zone.vm_stat
            vm_stat[NR_PAGES_SCANNED] = 0
            if self.nr_free_pages:
                vm_stat[NR_FREE_PAGES] += self.nr_free_pages
            area = zone.free_area
            for o in range(NMAX_ORDER):
                if self.nr_free[o]:
                    area[o].nr_free += self.nr_free[o]
                    self.nr_free[o] = 0
            self.nr_free_pages = 0
            self.bulked = False
        if self.pcp is not None:
            self.pcp.count = self.count


cdef inline void list_del(int* nxt, int* prv, i64 page) noexcept nogil:
    cdef int a = nxt[page]
    cdef int b = prv[page]
    nxt[b] = a
    prv[a] = b
    nxt[page] = NULLPFN
    prv[page] = NULLPFN


cdef inline void list_add(int* nxt, int* prv, i64 page, i64 head) noexcept nogil:
    cdef int first = nxt[head]
    nxt[page] = first
    prv[page] = <int>head
    prv[first] = <int>page
    nxt[head] = <int>page


cdef inline void list_add_tail(int* nxt, int* prv, i64 page, i64 head) noexcept nogil:
    cdef int last = prv[head]
    nxt[page] = <int>head
    prv[page] = last
    nxt[last] = <int>page
    prv[head] = <int>page


cdef void bulk_free(Frames F, ZoneC z, i64 count) noexcept:
    """free_pcppages_bulk of ``count`` pages from the pcp in ``z``, with __free_one_page
    (order 0) and page_is_buddy inlined; the counts stay in ``z`` until flush."""
    cdef int* nxt = F.nxt
    cdef int* prv = F.prv
    cdef int* mc = F.mc
    cdef i64* priv = F.private
    cdef i64* idx = F.index
    cdef i64 lo = z.lo, hi = z.hi
    cdef int migratetype = 0
    cdef i64 batch_free = 0
    cdef i64 to_free = count
    cdef i64 head, page, page_idx, base, buddy_idx, buddy, combined_idx, hb, fhead
    cdef int order, mt
    cdef int top = NMAX_ORDER - 1
    cdef bint tail
    z.bulked = True
    while to_free:
        while True:
            batch_free += 1
            migratetype += 1
            if migratetype == NPCP:
                migratetype = 0
            head = z.lists[migratetype]
            if nxt[head] != head:
                break
        if batch_free == NPCP:
            batch_free = to_free
        while True:
            page = prv[head]                     # the list's last entry
            list_del(nxt, prv, page)
            mt = <int>idx[page]
            if mt != MIGRATE_ISOLATE:
                z.nr_free_pages += 1
            page_idx = page & ((1 << (NMAX_ORDER - 1)) - 1)
            base = page - page_idx
            order = 0
            while order < top:
                buddy_idx = page_idx ^ (1 << order)
                buddy = base + buddy_idx
                if not (lo <= buddy < hi and mc[buddy] == BUDDY and priv[buddy] == order):
                    break
                list_del(nxt, prv, buddy)        # rmv_page_order
                z.nr_free[order] -= 1
                mc[buddy] = -1
                priv[buddy] = 0
                page_idx &= buddy_idx
                order += 1
            page = base + page_idx
            priv[page] = order                   # set_page_order
            mc[page] = BUDDY
            fhead = z.heads[order][mt]
            tail = False
            if order < NMAX_ORDER - 2:
                combined_idx = (page_idx ^ (1 << order)) & page_idx
                hb = base + (combined_idx ^ (1 << (order + 1)))
                tail = lo <= hb < hi and mc[hb] == BUDDY and priv[hb] == order + 1
            if tail:
                list_add_tail(nxt, prv, page, fhead)
            else:
                list_add(nxt, prv, page, fhead)
            z.nr_free[order] += 1
            to_free -= 1
            batch_free -= 1
            if not to_free or not batch_free or nxt[head] == head:
                break


# --- the accelerators -----------------------------------------------------------------------

def free_hot_cold_page_list(pgdat, pages, bint cold, int cpu):
    """free_hot_cold_page_list in one C loop: checks of every page, then each page
    prepared, added to its pcp list and, at the high mark, free_pcppages_bulk's merges; a
    list with a page that is not a clean order-0 page of a pcp migratetype goes one
    free_hot_cold_page at a time, as the reference does."""
    cdef Py_ssize_t n = len(pages)
    if not n:
        return
    mm = pgdat.mem_map
    zones = pgdat.node_zones
    cdef Frames F = frames_of(mm, zones[0].pb)
    arr = np.ascontiguousarray(pages, dtype=np.int64)
    cdef const i64[::1] p = arr
    cdef Py_ssize_t i, j
    cdef i64 page
    cdef bint ok = True
    cdef u64 f
    cdef i64 mapping
    for i in range(n):
        page = p[i]
        if page < 0 or page >= F.nr_frames:
            ok = False
            break
        f = F.flags[page]
        mapping = F.mapping[page]
        if ((F.pb[page >> PB_ORDER] & 7) >= NPCP or F.mc[page] != -1 or F.rc[page]
                or f & AT_FREE or (mapping and not mapping & ANON) or F.ch[page] != NULLPFN):
            ok = False
            break
        F.mc[page] = -2                          # seen: a repeat fails the test above
    for j in range(i if not ok else n):
        F.mc[p[j]] = -1
    if not ok:
        for page in arr.tolist():
            free_hot_cold_page(zones[F.flags[page] >> 62], page, cold, cpu)
        return
    pc = pgdat.machine.page_contents
    cdef bint drop = bool(pc)
    cdef dict pcd = pc if drop and type(pc) is dict else None
    cdef ZoneC z
    cdef int zid, mt
    cdef int* nxt = F.nxt
    cdef int* prv = F.prv
    zc = [None, None, None, None]
    for i in range(n):
        page = p[i]
        f = F.flags[page]
        zid = <int>(f >> 62)
        z = zc[zid]
        if z is None:
            z = ZoneC()
            zone = zones[zid]
            z.load(zone, zone.pageset[cpu].pcp, F.nr_frames)
            zc[zid] = z
        mt = F.pb[page >> PB_ORDER] & 7
        # free_pages_prepare: anon mapping cleared, prep flags cleared, private zeroed,
        # contents dropped; set_pcppage_migratetype
        F.mapping[page] = 0
        F.flags[page] = f & NOT_AT_PREP
        F.private[page] = 0
        if drop:
            if pcd is not None:
                pcd.pop(page, None)
            else:
                pc.pop(page, None)
        F.index[page] = mt
        if cold:
            list_add_tail(nxt, prv, page, z.lists[mt])
        else:
            list_add(nxt, prv, page, z.lists[mt])
        z.count += 1
        if z.count >= z.high:
            bulk_free(F, z, z.batch)
            z.count -= z.batch
    pgdat.vm_events[PGFREE] += n
    for z in zc:
        if z is not None:
            z.flush()


def free_order0(pgdat, i64 page, int cpu):
    """__free_pages of order 0 in C: the reference dropped and, at zero, free_hot_cold_page
    (hot) for a clean page of a pcp migratetype; False (nothing changed) for a page that
    reaches zero otherwise."""
    cdef Frames F = _last
    mm = pgdat.mem_map
    if F is None or F.mm is not mm or F.nxt_obj is not mm.lru_next:
        F = frames_of(mm, pgdat.node_zones[0].pb)
    if page < 0 or page >= F.nr_frames:
        return False                             # the reference says what is wrong
    cdef int r = F.rc[page] - 1                  # put_page_testzero
    if r:
        F.rc[page] = r
        return True
    cdef u64 f = F.flags[page]
    if F.mc[page] != -1 or f & AT_FREE:
        return False
    zone = pgdat.node_zones[f >> 62]
    cdef ZoneFast zf = zone_fast(zone)
    cdef int mt = F.pb[page >> PB_ORDER] & 7
    if mt >= NPCP:
        return False
    cdef i64 mapping = F.mapping[page]
    if mapping:
        if not mapping & ANON:
            return False
        F.mapping[page] = 0                      # free_pages_prepare: PageAnon
    F.rc[page] = 0
    if f & AT_PREP:
        F.flags[page] = f & NOT_AT_PREP
    F.private[page] = 0
    pc = zf.machine.page_contents
    if pc:
        pc.pop(page, None)
    F.index[page] = mt                           # set_pcppage_migratetype
    cdef list events = zf.events
    events[PGFREE] = <i64>events[PGFREE] + 1
    pcp = zf.pcps[cpu]
    cdef i64 head = zf.pcp_lists[cpu][mt] if cpu < zf.ncpu else pcp.lists[mt]
    list_add(F.nxt, F.prv, page, head)
    cdef i64 count = <i64>pcp.count + 1
    cdef ZoneC z
    if count >= <i64>pcp.high:
        z = ZoneC()
        z.load(zone, pcp, F.nr_frames)
        bulk_free(F, z, z.batch)
        z.count = count - z.batch
        z.flush()
    else:
        pcp.count = count
    return True


def alloc_order0(ac, long gfp_mask, int cpu):
    """An order-0 allocation in C from the pcp list of the zone get_page_from_freelist's
    fair pass takes from, refilled when empty; NULL unless there is one, its list has a
    page and the page passes check_new_page."""
    if gfp_mask & GFP_WRITE:
        return NULLPFN                           # zone_dirty_ok: the general path
    cdef Py_ssize_t classzone_idx = ac.classzone_idx
    cdef ZoneFast zf = None
    cdef list vm_stat
    for zone in ac.zones:
        if <long>zone.flags & FAIR_DEPLETED:
            continue
        zf = zone_fast(zone)
        vm_stat = zf.vm_stat
        # __zone_watermark_ok for order 0 without ALLOC_HIGH/ALLOC_HARDER
        if (<i64>vm_stat[NR_FREE_PAGES] - <i64>zone.nr_reserved_highatomic
                > <i64>zf.watermark[WMARK_LOW] + <i64>zf.lowmem_reserve[classzone_idx]):
            break
        zf = None
    if zf is None:
        return NULLPFN                           # the general path resets the batches
    vm_stat = zf.vm_stat
    cdef Frames F = zf.F
    cdef int mt = ac.migratetype
    pcp = zf.pcps[cpu]
    cdef i64 head = zf.pcp_lists[cpu][mt] if cpu < zf.ncpu else pcp.lists[mt]
    if F.nxt[head] == head:
        # buffered_rmqueue's refill, through the reference (and its accelerator)
        pcp.count = <i64>pcp.count + <i64>_rmqueue_bulk_ref(
            zone, 0, pcp.batch, head, mt, bool(gfp_mask & GFP_COLD))
        if F.nxt[head] == head:
            return NULLPFN
    cdef i64 page = F.prv[head] if gfp_mask & GFP_COLD else F.nxt[head]
    if F.mc[page] != -1 or F.rc[page] or F.flags[page] & AT_PREP or F.mapping[page]:
        return NULLPFN                           # check_new_page reports it
    list_del(F.nxt, F.prv, page)
    pcp.count = <i64>pcp.count - 1
    cdef i64 batch = <i64>vm_stat[NR_ALLOC_BATCH] - 1
    vm_stat[NR_ALLOC_BATCH] = batch
    if batch <= 0:
        zone.flags = <long>zone.flags | FAIR_DEPLETED
    cdef list events = zf.events
    events[zf.pgalloc] = <i64>events[zf.pgalloc] + 1
    F.private[page] = 0                          # prep_new_page
    F.rc[page] = 1
    F.index[page] = 0
    if gfp_mask & GFP_ZERO:
        pc = zf.machine.page_contents
        if pc:
            pc.pop(page, None)
        F.content[page] = 0
    return page


def rmqueue_bulk(zone, int order, i64 count, i64 head, int migratetype, bint cold):
    """rmqueue_bulk in C, a split block's pages taken at once (as the pure-Python
    accelerator in linuxvm/accel/page_alloc.py explains)."""
    cdef Frames F = frames_of(zone.mem_map, zone.pb)
    cdef int* nxt = F.nxt
    cdef int* prv = F.prv
    cdef int* mc = F.mc
    cdef i64* priv = F.private
    cdef i64* idx = F.index
    free_area = zone.free_area
    cdef int lists[NMAX_ORDER]
    cdef int o, j
    for o in range(NMAX_ORDER):
        lists[o] = free_area[o].free_list[migratetype]
    cdef bint split = order == 0
    cdef i64 i = 0, prev = head, page = 0, n, rest, q, fl, p
    cdef i64 nr_free[NMAX_ORDER]
    for o in range(NMAX_ORDER):
        nr_free[o] = 0
    while i < count:
        o = order                                # __rmqueue_smallest
        while o < NMAX_ORDER:
            fl = lists[o]
            page = nxt[fl]
            if page != fl:
                break
            o += 1
        if o == NMAX_ORDER or (o > order and not split):
            for j in range(NMAX_ORDER):          # the reference sees every count so far
                if nr_free[j]:
                    free_area[j].nr_free += nr_free[j]
                    nr_free[j] = 0
            page = __rmqueue(zone, order, migratetype)
            if page == NULLPFN:
                break
            n = 1
        else:
            # list_del (the pcp list_add below rewrites the page's own links)
            nxt[prv[page]] = nxt[page]
            prv[nxt[page]] = prv[page]
            nr_free[o] -= 1
            if o == order:
                n = 1
                rest = 0
            else:
                n = min(count - i, <i64>1 << o)
                rest = (<i64>1 << o) - n
            for p in range(page, page + n):
                mc[p] = -1                       # rmv_page_order
                priv[p] = 0
                idx[p] = migratetype             # set_pcppage_migratetype
            q = page + n                         # the pieces left free, each on its list
            j = 0
            while rest:
                if rest & 1:
                    list_add(nxt, prv, q, lists[j])
                    nr_free[j] += 1
                    priv[q] = j                  # set_page_order
                    mc[q] = BUDDY
                    q += 1 << j
                rest >>= 1
                j += 1
        for p in range(page, page + n):
            if not cold:
                list_add(nxt, prv, p, prev)
            else:
                list_add_tail(nxt, prv, p, prev)
            prev = p
        i += n
    for j in range(NMAX_ORDER):
        if nr_free[j]:
            free_area[j].nr_free += nr_free[j]
    zone.vm_stat[NR_FREE_PAGES] -= i << order
    return i


def release_pages(m, pfns, cold=False, cpu=None):
    """release_pages in C for many distinct order-0 pages; False (nothing changed) for a
    short list or one with compound, repeated or free pages."""
    cdef Py_ssize_t n = len(pfns)
    if n < MIN_RELEASE_BATCH:
        return False
    pgdat = m.pgdat
    zones = pgdat.node_zones
    cdef Frames F = frames_of(m.mem_map, zones[0].pb)
    arr = np.ascontiguousarray(pfns, dtype=np.int64)
    cdef const i64[::1] p = arr
    cdef Py_ssize_t i, j, nz = 0
    cdef i64 page
    cdef int r
    cdef bint ok = True
    for i in range(n):
        page = p[i]
        if (page < 0 or page >= F.nr_frames or F.ch[page] != NULLPFN
                or F.flags[page] & F_HEAD or F.rc[page] <= 0):
            ok = False
            break
        F.rc[page] = -F.rc[page]                 # seen: a repeat fails the test above
    for j in range(i if not ok else n):
        page = p[j]
        r = -F.rc[page]
        if ok:
            r -= 1                               # put_page_testzero
            if not r:
                nz += 1
        F.rc[page] = r
    if not ok:
        return False
    if not nz:
        return True
    cpu = m.current_cpu if cpu is None else cpu
    zero = np.empty(nz, dtype=np.int64)
    cdef i64[::1] zv = zero
    cdef i64 counts[4][8]
    cdef int lru, zid
    cdef u64 f
    cdef bint any_lru = False
    for zid in range(4):
        for lru in range(8):
            counts[zid][lru] = 0
    j = nz
    for i in range(n):                           # last released first, as list_add leaves it
        page = p[i]
        if F.rc[page]:
            continue
        j -= 1
        zv[j] = page
        f = F.flags[page]
        if f & F_LRU:                            # __page_cache_release: page_off_lru
            any_lru = True
            if f & F_UNEVICTABLE:
                lru = LRU_UNEVICTABLE
                f &= ~F_UNEVICTABLE
            else:
                lru = (0 if f & F_SWAPBACKED else 2) + (1 if f & F_ACTIVE else 0)
                f &= ~F_ACTIVE
            f &= ~F_LRU
            counts[f >> 62][lru] += 1
            list_del(F.nxt, F.prv, page)
        F.flags[page] = f & NOT_ACTIVE_REFERENCED
    if any_lru:
        for zid in range(4):
            for lru in range(NR_LRU_LISTS):
                if counts[zid][lru]:
                    zones[zid].vm_stat[NR_LRU_BASE + lru] -= counts[zid][lru]
    _free_hot_cold_page_list_ref(pgdat, zero, cold, cpu)
    return True
