"""Accelerators of the buddy allocator (linuxvm/mm/page_alloc.py), and the batch allocator.

Each accelerator leaves exactly the state its reference function leaves
(tests/test_pcp.py, tests/test_alloc_batch.py and tests/test_buddy.py compare whole
machines with ``linuxvm.accel.fingerprint``):

* ``alloc_order0``: __alloc_pages_nodemask's order-0 allocation from the pcp list of the
  zone the fair pass takes from, fused into one function;
* ``free_order0``: __free_pages of order 0 (put_page_testzero, free_hot_cold_page hot),
  fused;
* ``free_hot_cold_page_list``: release_pages' list of order-0 frees, checked in a few NumPy
  operations, then the pcp list adds and free_pcppages_bulk's buddy merges in one loop;
* ``rmqueue_bulk``: a pcp refill that takes a split block's pages at once;
* ``free_pages_check_block`` and ``check_new_block``: the per-page checks of a block of
  order 4 or more in a few NumPy operations.

``alloc_order0``, ``free_order0`` and the two block checks are partial: they do the common
case, or return NULL / False having changed nothing, and the reference goes on with its
own body. ``alloc_pages_order0_batch`` is our own glue with no 4.6 counterpart: n order-0
allocations at once, with the state n __alloc_pages_nodemask calls leave.
"""

import numpy as np

from ..lib.accel_registry import register
from ..mm import gfp as G
from ..mm.mmzone import MAX_ORDER, MIGRATE_ISOLATE, MIGRATE_PCPTYPES, WMARK_LOW, \
    ZONE_FAIR_DEPLETED, \
    pageblock_order
from ..mm.page import (pfns_distinct, PAGE_BUDDY_MAPCOUNT_VALUE, PAGE_MAPPING_ANON, PAGE_FLAGS_CHECK_AT_FREE,
                       PAGE_FLAGS_CHECK_AT_PREP, NULL)
from ..mm.page_alloc import (free_hot_cold_page, __rmqueue, __alloc_pages_nodemask, alloc_context,
                             free_pcppages_bulk, reset_alloc_batches,
                             rmqueue_bulk as _rmqueue_bulk_ref)
from ..include.vm_event_item import (NR_FREE_PAGES, NR_ALLOC_BATCH, NR_PAGES_SCANNED, PGALLOC,
                                     PGFREE)

__all__ = ["alloc_order0", "free_order0", "free_hot_cold_page_list", "rmqueue_bulk", "free_pages_check_block",
           "check_new_block", "alloc_pages_order0_batch"]

_BUDDY = PAGE_BUDDY_MAPCOUNT_VALUE
_FAIR_DEPLETED = 1 << ZONE_FAIR_DEPLETED
_NOT_CHECK_AT_PREP = 0xFFFFFFFFFFFFFFFF & ~PAGE_FLAGS_CHECK_AT_PREP
_NOT_CHECK_AT_PREP_U64 = np.uint64(_NOT_CHECK_AT_PREP)
_GFP_COLD = G.__GFP_COLD
_GFP_WRITE = G.__GFP_WRITE
_GFP_BITS_MASK = G.__GFP_BITS_MASK
_GFP_ZERO = G.__GFP_ZERO


def _mapping_view(m):
    """A memoryview of mem_map.mapping (memoryview reads are ~3x faster than NumPy's)."""
    return m.mem_map.mapv


def _content_view(m):
    """A memoryview of mem_map.content (as ``_mapping_view``)."""
    return m.mem_map.contv


# --- fused order-0 allocation and freeing ----------------------------------------------

@register("alloc_order0", "linuxvm.mm.page_alloc.__alloc_pages_nodemask")
def alloc_order0(ac, gfp_mask: int, cpu: int) -> int:
    """An order-0 allocation from the pcp list of the zone get_page_from_freelist's fair
    pass takes from (the first zone of the zonelist not fair-depleted and above its low
    mark), refilled from the buddy lists when empty; NULL unless there is such a zone, the
    list has a page and the page passes check_new_page (nothing changed then, but for a
    refill the general path would make too).

    What get_page_from_freelist's first (ALLOC_FAIR) pass, buffered_rmqueue and
    prep_new_page do in that case, with their calls inlined: the pass skips the zones
    before that one without changing anything.
    """
    if gfp_mask & _GFP_WRITE:
        return NULL                              # zone_dirty_ok: the general path
    for zone in ac.zones:
        if zone.flags & _FAIR_DEPLETED:
            continue
        vm_stat = zone.vm_stat
        # __zone_watermark_ok for order 0 without ALLOC_HIGH/ALLOC_HARDER
        if (vm_stat[NR_FREE_PAGES] - zone.nr_reserved_highatomic
                > zone.watermark[WMARK_LOW] + zone.lowmem_reserve[ac.classzone_idx]):
            break
    else:
        return NULL                              # the general path resets the batches
    mm = zone.mem_map
    pcp = zone.pageset[cpu].pcp
    head = pcp.lists[ac.migratetype]
    nxt = mm.nxt
    prv = mm.prv
    if nxt[head] == head:
        # buffered_rmqueue's refill (a refill that finds nothing changes nothing, and the
        # general path then makes the same attempt)
        # (the reference's own: it runs the refill accelerator where that is on)
        pcp.count += _rmqueue_bulk_ref(zone, 0, pcp.batch, head, ac.migratetype,
                                       bool(gfp_mask & _GFP_COLD))
        if nxt[head] == head:
            return NULL
    page = prv[head] if gfp_mask & _GFP_COLD else nxt[head]
    rc = mm.rc
    # check_new_page: anything odd goes the general way, which reports it
    if mm.mc[page] != -1 or rc[page] or mm.f[page] & PAGE_FLAGS_CHECK_AT_PREP \
            or mm.mapv[page]:
        return NULL
    n = nxt[page]                                # list_del
    p = prv[page]
    nxt[p] = n
    prv[n] = p
    nxt[page] = NULL
    prv[page] = NULL
    pcp.count -= 1
    batch = vm_stat[NR_ALLOC_BATCH] - 1
    vm_stat[NR_ALLOC_BATCH] = batch
    if batch <= 0:
        zone.flags |= _FAIR_DEPLETED
    pgdat = zone.zone_pgdat
    pgdat.vm_events[PGALLOC + zone.idx] += 1
    # prep_new_page
    mm.priv[page] = 0
    rc[page] = 1
    mm.idx[page] = 0
    if gfp_mask & _GFP_ZERO:
        pc = pgdat.machine.page_contents
        if pc:
            pc.pop(page, None)
        mm.contv[page] = 0
    return page


@register("free_order0", "linuxvm.mm.page_alloc.__free_pages")
def free_order0(pgdat, page: int, cpu: int) -> bool:
    """__free_pages of order 0 in one function: the reference dropped and, at zero,
    free_hot_cold_page (hot) for a clean page of a MOVABLE, UNMOVABLE or RECLAIMABLE
    pageblock; False (nothing changed) for a page that reaches zero otherwise."""
    mm = pgdat.mem_map
    rc = mm.rc[page] - 1                         # put_page_testzero
    if rc:
        mm.rc[page] = rc
        return True
    f = mm.f[page]
    if mm.mc[page] != -1 or f & PAGE_FLAGS_CHECK_AT_FREE:
        return False
    zone = pgdat.node_zones[f >> 62]
    migratetype = zone.pb.b[page >> pageblock_order] & 7
    if migratetype >= MIGRATE_PCPTYPES:
        return False
    mapv = mm.mapv
    mapping = mapv[page]
    if mapping:
        if not mapping & PAGE_MAPPING_ANON:
            return False
        mapv[page] = 0                           # free_pages_prepare: PageAnon
    mm.rc[page] = 0
    if f & PAGE_FLAGS_CHECK_AT_PREP:
        mm.f[page] = f & _NOT_CHECK_AT_PREP
    mm.priv[page] = 0
    pc = pgdat.machine.page_contents
    if pc:
        pc.pop(page, None)
    mm.idx[page] = migratetype                   # set_pcppage_migratetype
    pgdat.vm_events[PGFREE] += 1
    pcp = zone.pageset[cpu].pcp
    head = pcp.lists[migratetype]
    nxt = mm.nxt                                 # list_add
    first = nxt[head]
    nxt[page] = first
    mm.prv[page] = head
    mm.prv[first] = page
    nxt[head] = page
    pcp.count += 1
    if pcp.count >= pcp.high:
        batch = pcp.batch
        free_pcppages_bulk(zone, batch, pcp)
        pcp.count -= batch
    return True


_MAX_IDX_MASK = (1 << MAX_ORDER) - 1
_PCP_MT_U8 = np.uint8(7)


@register("free_hot_cold_page_list", "linuxvm.mm.page_alloc.free_hot_cold_page_list")
def free_hot_cold_page_list(pgdat, pages, cold: bool, cpu: int) -> None:
    """free_hot_cold_page_list with the per-page checks of the whole list in a few NumPy
    operations and the pcp adds and bulk frees in one loop; a list with any page that is
    not a clean order-0 page of one zone's MOVABLE/UNMOVABLE/RECLAIMABLE pageblocks goes
    one free_hot_cold_page at a time, as the reference does."""
    n = len(pages)
    if not n:
        return
    mm = pgdat.mem_map
    p = np.asarray(pages, dtype=np.int64)
    flags = mm.flags[p]
    mts = pgdat.node_zones[0].pb.bits[p >> pageblock_order] & _PCP_MT_U8
    mapping = mm.mapping[p]
    if ((mts >= MIGRATE_PCPTYPES).any()
            or (mm._mapcount[p] != -1).any() or mm._refcount[p].any()
            or (flags & np.uint64(PAGE_FLAGS_CHECK_AT_FREE)).any()
            or ((mapping != 0) & ((mapping & PAGE_MAPPING_ANON) == 0)).any()
            or (mm.compound_head[p] != NULL).any() or not pfns_distinct(p)):
        zones = pgdat.node_zones
        for page in p.tolist():
            free_hot_cold_page(zones[mm.f[page] >> 62], page, cold, cpu)
        return
    # free_pages_prepare of every page: anon mapping cleared, prep flags cleared, private
    # zeroed, contents dropped; then set_pcppage_migratetype and PGFREE
    mm.mapping[p] = 0
    mm.flags[p] = flags & _NOT_CHECK_AT_PREP_U64
    mm.private[p] = 0
    pc = pgdat.machine.page_contents
    page_list = p.tolist()
    if pc:
        for page in page_list:
            pc.pop(page, None)
    mm.index[p] = mts
    pgdat.vm_events[PGFREE] += n
    # the pcp adds, a zone's run of pages at a time (the list crosses a zone boundary at
    # most a few times)
    zone_ids = (flags >> np.uint64(62)).astype(np.int64)
    cuts = (np.flatnonzero(zone_ids[1:] != zone_ids[:-1]) + 1).tolist()
    mt_list = mts.tolist()
    for lo, hi in zip([0] + cuts, cuts + [n]):
        _pcp_add_run(pgdat.node_zones[zone_ids[lo]], page_list[lo:hi], mt_list[lo:hi],
                     cold, cpu)


def _pcp_add_run(zone, pages, mts, cold: bool, cpu: int) -> None:
    """free_hot_cold_page's list add and high-mark bulk free for checked pages of ``zone``."""
    mm = zone.mem_map
    pcp = zone.pageset[cpu].pcp
    lists = pcp.lists
    high = pcp.high
    batch = pcp.batch
    nxt = mm.nxt
    prv = mm.prv
    count = pcp.count
    for page, mt in zip(pages, mts):
        head = lists[mt]
        if cold:                                 # list_add_tail
            last = prv[head]
            nxt[page] = head
            prv[page] = last
            nxt[last] = page
            prv[head] = page
        else:                                    # list_add
            first = nxt[head]
            nxt[page] = first
            prv[page] = head
            prv[first] = page
            nxt[head] = page
        count += 1
        if count >= high:
            pcp.count = count
            _free_pcppages_bulk(zone, batch, pcp)
            count -= batch
    pcp.count = count


def _free_pcppages_bulk(zone, count: int, pcp) -> None:
    """free_pcppages_bulk with __free_one_page (order 0) and page_is_buddy inlined."""
    mm = zone.mem_map
    nxt, prv, mc, priv, idx = mm.nxt, mm.prv, mm.mc, mm.priv, mm.idx
    area = zone.free_area
    lo = zone.zone_start_pfn
    hi = min(lo + zone.spanned_pages, mm.nr_frames)
    vm_stat = zone.vm_stat
    vm_stat[NR_PAGES_SCANNED] = 0
    lists = pcp.lists
    migratetype = 0
    batch_free = 0
    to_free = count
    nr_free_pages = 0
    nr_free = [0] * MAX_ORDER                    # free_area[order].nr_free changes
    free_lists = [fa.free_list for fa in area]
    top = MAX_ORDER - 1
    while to_free:
        while True:
            batch_free += 1
            migratetype += 1
            if migratetype == MIGRATE_PCPTYPES:
                migratetype = 0
            head = lists[migratetype]
            if nxt[head] != head:
                break
        if batch_free == MIGRATE_PCPTYPES:
            batch_free = to_free
        while True:
            page = prv[head]                     # the list's last entry, list_del'd
            a = nxt[page]
            b = prv[page]
            nxt[b] = a
            prv[a] = b
            nxt[page] = NULL
            prv[page] = NULL
            mt = idx[page]
            if mt != MIGRATE_ISOLATE:
                nr_free_pages += 1
            page_idx = page & _MAX_IDX_MASK
            base = page - page_idx
            order = 0
            while order < top:
                buddy_idx = page_idx ^ (1 << order)
                buddy = base + buddy_idx
                if not (lo <= buddy < hi and mc[buddy] == _BUDDY and priv[buddy] == order):
                    break
                a = nxt[buddy]                   # list_del(buddy), rmv_page_order
                b = prv[buddy]
                nxt[b] = a
                prv[a] = b
                nxt[buddy] = NULL
                prv[buddy] = NULL
                nr_free[order] -= 1
                mc[buddy] = -1
                priv[buddy] = 0
                page_idx &= buddy_idx
                order += 1
            page = base + page_idx
            priv[page] = order                   # set_page_order
            mc[page] = _BUDDY
            fhead = free_lists[order][mt]
            tail = False
            if order < MAX_ORDER - 2:
                combined_idx = (page_idx ^ (1 << order)) & page_idx
                hb = base + (combined_idx ^ (1 << (order + 1)))
                tail = lo <= hb < hi and mc[hb] == _BUDDY and priv[hb] == order + 1
            if tail:
                last = prv[fhead]
                nxt[page] = fhead
                prv[page] = last
                nxt[last] = page
                prv[fhead] = page
            else:
                first = nxt[fhead]
                nxt[page] = first
                prv[page] = fhead
                prv[first] = page
                nxt[fhead] = page
            nr_free[order] += 1
            to_free -= 1
            batch_free -= 1
            if not to_free or not batch_free or nxt[head] == head:
                break
    vm_stat[NR_FREE_PAGES] += nr_free_pages
    for order, delta in enumerate(nr_free):
        if delta:
            area[order].nr_free += delta


# --- block checks ---------------------------------------------------------------------

# From this order up, whole blocks are checked with NumPy (cheaper than a call per page)
_VECTOR_ORDER = 4


def _block_clean(mm, page: int, order: int, flag_mask: int) -> bool:
    """Whether every page of the block passes check_new_page / free_pages_check: mapcount
    -1, no mapping, refcount 0 and none of ``flag_mask``; the per-page check reports the
    first offender otherwise."""
    sl = slice(page, page + (1 << order))
    return not ((mm._mapcount[sl] != -1).any() or mm.mapping[sl].any()
                or mm._refcount[sl].any() or (mm.flags[sl] & np.uint64(flag_mask)).any())


@register("free_pages_check_block", "linuxvm.mm.page_alloc.free_pages_prepare")
def free_pages_check_block(zone, page: int, order: int) -> bool:
    """free_pages_check on every page of a block of order 4 or more in a few NumPy
    operations; False (nothing changed) for a smaller block or one that fails a check."""
    mm = zone.mem_map
    if order < _VECTOR_ORDER or not _block_clean(mm, page, order, PAGE_FLAGS_CHECK_AT_FREE):
        return False
    # every check passes: all that is left of them is clearing the prep flags
    mm.flags[page:page + (1 << order)] &= _NOT_CHECK_AT_PREP_U64
    return True


@register("check_new_block", "linuxvm.mm.page_alloc.prep_new_page")
def check_new_block(zone, page: int, order: int) -> bool:
    """check_new_page on every page of a block of order 4 or more in a few NumPy
    operations; False for a smaller block or one that fails a check (which the per-page
    check then reports)."""
    return order >= _VECTOR_ORDER and _block_clean(zone.mem_map, page, order,
                                                   PAGE_FLAGS_CHECK_AT_PREP)


# --- pcp refills --------------------------------------------------------------------------

@register("rmqueue_bulk", "linuxvm.mm.page_alloc.rmqueue_bulk")
def rmqueue_bulk(zone, order: int, count: int, head: int, migratetype: int,
                 cold: bool) -> int:
    """rmqueue_bulk with __rmqueue_smallest inlined and a split block's pages taken at once.

    When __rmqueue_smallest has to split an order-k block B for an order-0 refill, its
    next takes are B+1, B+2, ... (each the lowest piece the splits left), and what is left
    when the batch is full is the buddy decomposition of the rest of B; so the pages are
    taken in one go and the remainder is put on the (empty) lower lists directly.
    """
    mm = zone.mem_map
    nxt = mm.nxt
    prv = mm.prv
    mc = mm.mc
    priv = mm.priv
    idx = mm.idx
    free_area = zone.free_area
    lists = [a.free_list[migratetype] for a in free_area]
    split = order == 0
    i = 0
    prev = head
    while i < count:
        # __rmqueue_smallest: the first order from ``order`` up with a block
        o = order
        while o < MAX_ORDER:
            fl = lists[o]
            page = nxt[fl]
            if page != fl:
                break
            o += 1
        if o == MAX_ORDER or (o > order and not split):
            page = __rmqueue(zone, order, migratetype)
            if page == NULL:
                break
            n = 1
        else:
            nx = nxt[page]                       # list_del (the pcp list_add below
            pv = prv[page]                       # rewrites the page's own links)
            nxt[pv] = nx
            prv[nx] = pv
            free_area[o].nr_free -= 1
            if o == order:
                n = 1
                rest = 0
            else:
                # an order-0 batch splitting B: B's first ``n`` pages are taken, and
                # ``rest`` pages stay free
                n = min(count - i, 1 << o)
                rest = (1 << o) - n
            for p in range(page, page + n):
                mc[p] = -1                       # rmv_page_order: each was a piece's head
                priv[p] = 0
                idx[p] = migratetype             # set_pcppage_migratetype
            # the pieces left free, lowest address (and order) first, each on its order's
            # list -- empty, or the search would have stopped there
            q = page + n
            j = 0
            while rest:
                if rest & 1:
                    h = lists[j]
                    first = nxt[h]               # list_add
                    nxt[q] = first
                    prv[q] = h
                    prv[first] = q
                    nxt[h] = q
                    free_area[j].nr_free += 1
                    priv[q] = j                  # set_page_order
                    mc[q] = _BUDDY
                    q += 1 << j
                rest >>= 1
                j += 1
        for page in range(page, page + n):
            if not cold:                         # list_add(page, prev)
                nx = nxt[prev]
                nxt[page] = nx
                prv[page] = prev
                prv[nx] = page
                nxt[prev] = page
            else:                                # list_add_tail(page, prev)
                pv = prv[prev]
                nxt[page] = prev
                prv[page] = pv
                nxt[pv] = page
                prv[prev] = page
            prev = page
        i += n
    zone.vm_stat[NR_FREE_PAGES] -= i << order
    return i


# --- batched order-0 allocation -----------------------------------------------------------
#
# n successive order-0 allocations on one CPU, done in segments: a segment is a run of
# allocations from one zone's pcp list and its rmqueue_bulk refills, whose outcome follows
# from the list and free-list structure alone, so NumPy writes the state the calls would
# leave. Whatever a segment cannot cover (a bad page, a fallback steal, the slow path) is
# left to one __alloc_pages_nodemask call. tests/test_alloc_batch.py compares machines.

def alloc_pages_order0_batch(pgdat, gfp_mask: int, n: int, cpu: int = 0,
                             fast_only: bool = False) -> np.ndarray:
    """The frames ``n`` successive ``__alloc_pages_nodemask(pgdat, gfp_mask, 0, cpu)`` calls
    return, leaving the same state; stops after a call that fails (returns NULL), and with
    ``fast_only`` where a segment cannot continue (the caller makes the next call itself).

    Segments are used only while the machine's ``alloc_order0`` accelerator is on; with it
    off this is exactly ``n`` calls of __alloc_pages_nodemask (none with ``fast_only``).

    :param gfp_mask: ``gfp_t``
    :returns: int64 frame numbers, in allocation order
    """
    gfp_mask &= _GFP_BITS_MASK
    ac = pgdat.ac_cache.get(gfp_mask)
    if ac is None:
        ac = alloc_context(pgdat, gfp_mask)
    parts = []
    got = 0
    segments = (pgdat.accel.alloc_order0 is not None and ac.preferred_zone is not None
                and not gfp_mask & (_GFP_COLD | _GFP_WRITE))
    while got < n:
        seg = _order0_segment(ac, gfp_mask, n - got, cpu) if segments else _NO_PAGES
        if len(seg):
            parts.append(seg)
            got += len(seg)
            continue
        if fast_only:
            break
        page = __alloc_pages_nodemask(pgdat, gfp_mask, 0, cpu)
        if page == NULL:
            break
        parts.append(np.array([page], dtype=np.int64))
        got += 1
    if not parts:
        return _NO_PAGES
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


_NO_PAGES = np.zeros(0, dtype=np.int64)
_NO_PAGES.flags.writeable = False


def _wmark_ok0(z, classzone_idx: int) -> bool:
    """__zone_watermark_ok at the low mark for order 0 without ALLOC_HIGH/ALLOC_HARDER."""
    return (z.vm_stat[NR_FREE_PAGES] - z.nr_reserved_highatomic
            > z.watermark[WMARK_LOW] + z.lowmem_reserve[classzone_idx])


def _order0_target_zone(ac):
    """The zone get_page_from_freelist's fair pass (or, after it resets the batches, its
    second pass) takes the next order-0 page from; None when no zone passes."""
    skipped = False
    for z in ac.zones:
        if z.flags & _FAIR_DEPLETED:
            skipped = True
            continue
        if _wmark_ok0(z, ac.classzone_idx):
            return z
    if not skipped:
        return None
    for z in ac.zones:
        if _wmark_ok0(z, ac.classzone_idx):
            reset_alloc_batches(ac.preferred_zone)
            return z
    return None
def _order0_plan(z, mm, head: int, mt: int, limit: int, thr: int, batch: int):
    """How a segment of at most ``limit`` allocations from ``z`` would go, changing nothing:
    (pcp pages popped, the entry after them, buddy blocks taken [(pfn, order, pages)],
    pages taken from buddy, allocations served by refills)."""
    nxt = mm.nxt
    pcp_pages = []
    p = nxt[head]
    while p != head and len(pcp_pages) < limit:
        pcp_pages.append(p)
        p = nxt[p]
    need = limit - len(pcp_pages)
    if not need or p != head:
        return pcp_pages, p, [], 0, 0
    # refills: the free count each allocation's watermark check sees drops by ``batch``
    # at every refill (the refilling allocation checks before it)
    free = z.vm_stat[NR_FREE_PAGES]
    groups = 0
    served = 0
    while served < need:
        if free - groups * batch <= thr:
            break
        take = min(batch, need - served)
        groups += 1
        if take > 1 and free - groups * batch <= thr:
            served += 1
            break
        served += take
    # the buddy pages those refills take: __rmqueue_smallest always takes the head of the
    # lowest non-empty list, and splitting a block only feeds lower (empty) lists, so
    # blocks are used up whole, list by list, each as consecutive frames
    want = groups * batch
    blocks = []
    have = 0
    area = z.free_area
    for order in range(MAX_ORDER):
        lh = area[order].free_list[mt]
        b = nxt[lh]
        while b != lh and have < want:
            size = 1 << order
            blocks.append((b, order, min(size, want - have)))
            have += size
            b = nxt[b]
        if have >= want:
            break
    if have < want:
        # a refill would fall back to another migratetype: stop before it
        groups = have // batch
        if not groups:
            return pcp_pages, p, [], 0, 0
        want = groups * batch
        served = min(served, want)
        keep = []
        have = 0
        for b, order, _ in blocks:
            if have >= want:
                break
            keep.append((b, order, min(1 << order, want - have)))
            have += 1 << order
        blocks = keep
    return pcp_pages, p, blocks, want, served


def _order0_segment(ac, gfp_mask: int, n: int, cpu: int) -> np.ndarray:
    """Up to ``n`` order-0 allocations from one zone with exactly the effect of as many
    __alloc_pages_nodemask calls; an empty array when the next call needs the general path."""
    z = _order0_target_zone(ac)
    if z is None or not z.pageset:
        return _NO_PAGES
    mm = z.mem_map
    vm_stat = z.vm_stat
    mt = ac.migratetype
    pcp = z.pageset[cpu].pcp
    head = pcp.lists[mt]
    batch = pcp.batch
    # _order0_target_zone found z above its mark; refills lower the free count
    thr = z.watermark[WMARK_LOW] + z.lowmem_reserve[ac.classzone_idx] + z.nr_reserved_highatomic
    # the fair batch: once NR_ALLOC_BATCH reaches 0 the zone is skipped
    limit = min(n, max(vm_stat[NR_ALLOC_BATCH], 1))
    plan = _order0_plan(z, mm, head, mt, limit, thr, batch)
    pcp_pages, after, blocks, taken_n, served = plan
    if blocks:
        taken = np.concatenate([np.arange(b, b + t, dtype=np.int64) for b, _, t in blocks])
    else:
        taken = _NO_PAGES
    nalloc = len(pcp_pages) + served
    if not nalloc:
        return _NO_PAGES
    alloc = np.concatenate([np.asarray(pcp_pages, dtype=np.int64), taken[:served]]) \
        if pcp_pages else taken[:served]
    # check_new_page on each page to be handed out; a bad one goes the general way (which
    # reports it), so the segment stops before it. Buddy pages have _mapcount reset by
    # rmv_page_order before the check, pcp pages keep theirs.
    bad = (mm._refcount[alloc] != 0) | (mm.mapping[alloc] != 0) | \
        ((mm.flags[alloc] & np.uint64(PAGE_FLAGS_CHECK_AT_PREP)) != 0)
    if pcp_pages:
        bad[:len(pcp_pages)] |= mm._mapcount[alloc[:len(pcp_pages)]] != -1
    if bad.any():
        first = int(np.argmax(bad))
        if not first:
            return _NO_PAGES
        return _order0_segment(ac, gfp_mask, first, cpu)
    _order0_apply(z, mm, pcp, head, mt, pcp_pages, after, blocks, taken, taken_n, served)
    # buffered_rmqueue's accounting and prep_new_page, for every page handed out
    lru_next, lru_prev = mm.lru_next, mm.lru_prev
    lru_next[alloc] = NULL                    # list_del from the pcp list
    lru_prev[alloc] = NULL
    if served:
        _link_pcp_tail(mm, head, taken[served:])
    elif pcp_pages:
        mm.nxt[head] = after
        mm.prv[after] = head
    pcp.count -= nalloc
    left = vm_stat[NR_ALLOC_BATCH] - nalloc
    vm_stat[NR_ALLOC_BATCH] = left
    if left <= 0:
        z.flags |= _FAIR_DEPLETED
    z.zone_pgdat.vm_events[PGALLOC + z.idx] += nalloc
    mm.private[alloc] = 0
    mm._refcount[alloc] = 1
    mm.index[alloc] = 0
    if gfp_mask & _GFP_ZERO:
        m = z.zone_pgdat.machine
        pc = m.page_contents
        if pc:
            _drop_contents_of(pc, alloc)
        mm.content[alloc] = 0
    return alloc


def _order0_apply(z, mm, pcp, head: int, mt: int, pcp_pages, after: int, blocks, taken,
                  taken_n: int, served: int) -> None:
    """The buddy side of a segment's refills: blocks off their lists, the remainder of a
    partly used block back on the (by then empty) lower lists, frames to the pcp."""
    if not taken_n:
        return
    nxt, prv = mm.nxt, mm.prv
    area = z.free_area
    # each list's used prefix comes off; the list then starts at the next block
    by_order = {}
    for b, order, _ in blocks:
        by_order[order] = b
    for order, last in by_order.items():
        lh = area[order].free_list[mt]
        nx = nxt[last]
        nxt[lh] = nx
        prv[nx] = lh
    for b, order, _ in blocks:
        area[order].nr_free -= 1
    mm._mapcount[taken] = -1                  # rmv_page_order
    mm.private[taken] = 0
    mm.index[taken] = mt                      # set_pcppage_migratetype
    b, order, t = blocks[-1]
    if t < (1 << order):
        # expand() left the rest of the last block as one block per set bit of what is
        # left, lowest address (smallest order) first, each alone on its list
        r = t
        while r < (1 << order):
            o = (r & -r).bit_length() - 1
            piece = b + r
            lh = area[o].free_list[mt]
            nxt[lh] = piece
            prv[lh] = piece
            nxt[piece] = lh
            prv[piece] = lh
            area[o].nr_free += 1
            mm.priv[piece] = o                # set_page_order
            mm.mc[piece] = _BUDDY
            r += 1 << o
    z.vm_stat[NR_FREE_PAGES] -= taken_n
    pcp.count += taken_n


def _link_pcp_tail(mm, head: int, rest) -> None:
    """Leave ``rest`` (in order) as the whole of the pcp list at ``head``."""
    k = len(rest)
    if not k:
        mm.nxt[head] = head
        mm.prv[head] = head
        return
    lru_next, lru_prev = mm.lru_next, mm.lru_prev
    lru_next[rest[:-1]] = rest[1:]
    lru_prev[rest[1:]] = rest[:-1]
    first, last = int(rest[0]), int(rest[-1])
    mm.prv[first] = head
    mm.nxt[last] = head
    mm.nxt[head] = first
    mm.prv[head] = last


def _drop_contents_of(pc: dict, pfns) -> None:
    """page_contents.pop(pfn) for each of ``pfns`` (the smaller side is iterated)."""
    if len(pc) < len(pfns):
        lo, hi = int(pfns.min()), int(pfns.max())
        near = [k for k in pc if lo <= k <= hi]
        if near:
            want = set(pfns.tolist())
            for k in near:
                if k in want:
                    del pc[k]
    else:
        for p in pfns.tolist():
            pc.pop(p, None)


