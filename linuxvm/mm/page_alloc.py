"""The buddy allocator: free lists, per-CPU lists, watermarks and the allocation fast path
(mm/page_alloc.c).

Functions take the zone (or the node) they work on, as in the kernel. Every
``page`` argument is a frame number. The slow path reaches reclaim (mm/vmscan) and
compaction (mm/compaction) through the node's ops tables, filled in at boot; an
allocation that fails prints the "page allocation failure" warning unless
``__GFP_NOWARN`` is given.

The functions here are kernel-shaped. Where a faster stand-in exists (an accelerator in
linuxvm/accel/page_alloc.py: the fused order-0 allocation and free, rmqueue_bulk's split
refill, the block checks), the function's docstring names it and the machine's table
(``zone.accel`` / ``pgdat.accel``) says whether it is on. Boot and sysctl set-up is in
``page_alloc_init``, the show_mem report in ``show_mem``.
"""

import numpy as np

from ..errors import KernelBug
from . import gfp as G
# page-writeback.c (zone_dirty_ok) is found through the package when it is called:
# page_writeback imports rmap, which imports swap, which imports this module
from .. import mm as _mm_pkg
from .mmzone import (MAX_ORDER, pageblock_order, pageblock_nr_pages, MIGRATE_UNMOVABLE,
                     MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE, MIGRATE_PCPTYPES,
                     MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, fallbacks, WMARK_MIN, WMARK_LOW,
                     WMARK_HIGH, ZONE_FAIR_DEPLETED)
from .page import (PAGE_BUDDY_MAPCOUNT_VALUE, PAGE_MAPPING_ANON, PAGE_FLAGS_CHECK_AT_FREE,
                   PAGE_FLAGS_CHECK_AT_PREP, PG_slab, NULL, decode_page_flags)
from .show_mem import show_mem
from ..include.compaction import COMPACT_DEFERRED, COMPACT_SKIPPED, MIGRATE_ASYNC, \
    MIGRATE_SYNC_LIGHT
from ..include.vm_event_item import VM_EVENT, NR_FREE_PAGES, NR_ALLOC_BATCH, PGALLOC, PGFREE, NR_PAGES_SCANNED

# alloc_flags (mm/internal.h)
ALLOC_WMARK_MIN = WMARK_MIN
ALLOC_WMARK_LOW = WMARK_LOW
ALLOC_WMARK_HIGH = WMARK_HIGH
ALLOC_NO_WATERMARKS = 0x04
ALLOC_WMARK_MASK = ALLOC_NO_WATERMARKS - 1
ALLOC_HARDER = 0x10
ALLOC_HIGH = 0x20
ALLOC_CPUSET = 0x40
ALLOC_CMA = 0x80
ALLOC_FAIR = 0x100

_GFP_BITS_MASK = G.__GFP_BITS_MASK

_BUDDY = PAGE_BUDDY_MAPCOUNT_VALUE


# --- buddy bookkeeping ------------------------------------------------------

def set_page_order(mm, pfn: int, order: int) -> None:
    mm.priv[pfn] = order
    mm.mc[pfn] = _BUDDY


def rmv_page_order(mm, pfn: int) -> None:
    mm.mc[pfn] = -1
    mm.priv[pfn] = 0


def page_is_buddy(zone, buddy: int, order: int) -> bool:
    """Whether ``buddy`` is a free block of ``order`` in ``zone`` we may merge with."""
    mm = zone.mem_map
    if buddy >= mm.nr_frames:
        return False
    return (mm.mc[buddy] == _BUDDY and mm.priv[buddy] == order
            and zone.zone_start_pfn <= buddy < zone.zone_start_pfn + zone.spanned_pages)


def __mod_zone_freepage_state(zone, nr_pages: int, migratetype: int) -> None:
    if migratetype != MIGRATE_ISOLATE:
        zone.vm_stat[NR_FREE_PAGES] += nr_pages


def __free_one_page(page: int, pfn: int, zone, order: int, migratetype: int) -> None:
    """Merge a block with its free buddies and put it on a free list (mm/page_alloc.c)."""
    mm = zone.mem_map
    __mod_zone_freepage_state(zone, 1 << order, migratetype)
    page_idx = pfn & ((1 << MAX_ORDER) - 1)
    if page_idx & ((1 << order) - 1):
        raise KernelBug(f"__free_one_page: pfn {pfn:#x} not aligned to order {order}")
    base = pfn - page_idx
    area = zone.free_area
    buddy_idx = page_idx
    while order < MAX_ORDER - 1:
        buddy_idx = page_idx ^ (1 << order)
        buddy = base + buddy_idx
        if not page_is_buddy(zone, buddy, order):
            break
        mm.list_del(buddy)
        area[order].nr_free -= 1
        rmv_page_order(mm, buddy)
        page_idx &= buddy_idx
        order += 1
    page = base + page_idx
    set_page_order(mm, page, order)
    head = area[order].free_list[migratetype]
    # If the buddy of the next-higher block is free, this block may soon merge
    # further: queue it at the tail so it is not handed out first.
    if order < MAX_ORDER - 2:
        buddy_idx = page_idx ^ (1 << order)
        combined_idx = buddy_idx & page_idx
        higher_buddy = base + (combined_idx ^ (1 << (order + 1)))
        if page_is_buddy(zone, higher_buddy, order + 1):
            mm.list_add_tail(page, head)
            area[order].nr_free += 1
            return
    mm.list_add(page, head)
    area[order].nr_free += 1


def expand(zone, page: int, low: int, high: int, migratetype: int) -> None:
    """Split an order-``high`` block down to ``low``, freeing the upper halves."""
    mm = zone.mem_map
    area = zone.free_area
    size = 1 << high
    while high > low:
        high -= 1
        size >>= 1
        mm.list_add(page + size, area[high].free_list[migratetype])
        area[high].nr_free += 1
        set_page_order(mm, page + size, high)


def __rmqueue_smallest(zone, order: int, migratetype: int) -> int:
    """Take the smallest free block of ``migratetype`` that fits; NULL if none."""
    mm = zone.mem_map
    nxt = mm.nxt
    for current_order in range(order, MAX_ORDER):
        area = zone.free_area[current_order]
        head = area.free_list[migratetype]
        page = nxt[head]
        if page == head:
            continue
        mm.list_del(page)
        rmv_page_order(mm, page)
        area.nr_free -= 1
        expand(zone, page, order, current_order, migratetype)
        mm.idx[page] = migratetype       # set_pcppage_migratetype
        return page
    return NULL


def move_freepages(zone, start_pfn: int, end_pfn: int, migratetype: int) -> int:
    """Move every free block in [start, end] to ``migratetype``'s lists; pages moved."""
    mm = zone.mem_map
    pfn = start_pfn
    moved = 0
    while pfn <= end_pfn:
        if mm.mc[pfn] != _BUDDY:
            pfn += 1
            continue
        order = mm.priv[pfn]
        mm.list_move(pfn, zone.free_area[order].free_list[migratetype])
        pfn += 1 << order
        moved += 1 << order
    return moved


def move_freepages_block(zone, page: int, migratetype: int) -> int:
    start_pfn = page & ~(pageblock_nr_pages - 1)
    end_pfn = start_pfn + pageblock_nr_pages - 1
    if not zone.zone_spans_pfn(start_pfn):
        start_pfn = page
    if not zone.zone_spans_pfn(end_pfn):
        return 0
    return move_freepages(zone, start_pfn, end_pfn, migratetype)


def can_steal_fallback(order: int, start_mt: int) -> bool:
    return (order >= pageblock_order or order >= pageblock_order // 2
            or start_mt == MIGRATE_RECLAIMABLE or start_mt == MIGRATE_UNMOVABLE)


def steal_suitable_fallback(zone, page: int, start_type: int) -> None:
    """Take over the pageblock(s) of a fallback block when it is large or mostly free."""
    pb = zone.pb
    current_order = zone.mem_map.priv[page]
    if current_order >= pageblock_order:
        for i in range(1 << (current_order - pageblock_order)):
            pb.set_pageblock_migratetype(page + i * pageblock_nr_pages, start_type)
        return
    pages = move_freepages_block(zone, page, start_type)
    if pages >= (1 << (pageblock_order - 1)):
        pb.set_pageblock_migratetype(page, start_type)


def find_suitable_fallback(zone, order: int, migratetype: int, only_stealable: bool):
    """(fallback migratetype or -1, can_steal) for free_area[order]."""
    area = zone.free_area[order]
    if area.nr_free == 0:
        return -1, False
    mm = zone.mem_map
    can_steal = False
    for fallback_mt in fallbacks[migratetype]:
        if mm.list_empty(area.free_list[fallback_mt]):
            continue
        if can_steal_fallback(order, migratetype):
            can_steal = True
        if not only_stealable or can_steal:
            return fallback_mt, can_steal
    return -1, can_steal


def __rmqueue_fallback(zone, order: int, start_migratetype: int) -> int:
    """Take the largest block of another migratetype, stealing its pageblock if allowed."""
    mm = zone.mem_map
    for current_order in range(MAX_ORDER - 1, order - 1, -1):
        fallback_mt, can_steal = find_suitable_fallback(zone, current_order,
                                                        start_migratetype, False)
        if fallback_mt == -1:
            continue
        area = zone.free_area[current_order]
        page = mm.list_first(area.free_list[fallback_mt])
        if can_steal:
            steal_suitable_fallback(zone, page, start_migratetype)
        area.nr_free -= 1
        mm.list_del(page)
        rmv_page_order(mm, page)
        expand(zone, page, order, current_order, start_migratetype)
        mm.idx[page] = start_migratetype
        machine = zone.zone_pgdat.machine
        machine.extfrag_events += 1
        tp = machine.tp.mm_page_alloc_extfrag
        if tp is not None:
            tp(page, order, current_order, start_migratetype, fallback_mt,
               start_migratetype == zone.pb.get_pageblock_migratetype(page))
        return page
    return NULL


def __rmqueue(zone, order: int, migratetype: int) -> int:
    page = __rmqueue_smallest(zone, order, migratetype)
    if page == NULL:
        page = __rmqueue_fallback(zone, order, migratetype)
    tp = zone.zone_pgdat.machine.tp.mm_page_alloc_zone_locked
    if tp is not None:
        tp(page, order, migratetype)
    return page


def rmqueue_bulk(zone, order: int, count: int, head: int, migratetype: int,
                 cold: bool) -> int:
    """Move ``count`` blocks of ``order`` from the buddy lists onto the pcp list at ``head``,
    one __rmqueue at a time, in the order expand() leaves them (mm/page_alloc.c
    rmqueue_bulk); returns how many were moved.

    Accelerator: ``rmqueue_bulk`` in linuxvm/accel/page_alloc.py.
    """
    fast = zone.accel.rmqueue_bulk
    if fast is not None:
        return fast(zone, order, count, head, migratetype, cold)
    mm = zone.mem_map
    i = 0
    while i < count:
        page = __rmqueue(zone, order, migratetype)
        if page == NULL:
            break
        # each page goes after the previous one, so the list runs in the order taken
        if not cold:
            mm.list_add(page, head)
        else:
            mm.list_add_tail(page, head)
        head = page
        i += 1
    zone.vm_stat[NR_FREE_PAGES] -= i << order
    return i


def free_pcppages_bulk(zone, count: int, pcp) -> None:
    """Return ``count`` pages from a pcp's lists to buddy, round-robin from each tail
    (mm/page_alloc.c free_pcppages_bulk)."""
    mm = zone.mem_map
    migratetype = 0
    batch_free = 0
    to_free = count
    zone.vm_stat[NR_PAGES_SCANNED] = 0
    lists = pcp.lists
    while to_free:
        while True:
            batch_free += 1
            migratetype += 1
            if migratetype == MIGRATE_PCPTYPES:
                migratetype = 0
            head = lists[migratetype]
            if not mm.list_empty(head):
                break
        if batch_free == MIGRATE_PCPTYPES:
            batch_free = to_free
        while True:
            page = mm.list_last(head)
            mm.list_del(page)
            mt = mm.idx[page]
            __free_one_page(page, page, zone, 0, mt)
            tp = zone.zone_pgdat.machine.tp.mm_page_pcpu_drain
            if tp is not None:
                tp(page, 0, mt)
            to_free -= 1
            batch_free -= 1
            if not to_free or not batch_free or mm.list_empty(head):
                break


def free_one_page(zone, page: int, pfn: int, order: int, migratetype: int) -> None:
    zone.vm_stat[NR_PAGES_SCANNED] = 0
    if migratetype == MIGRATE_ISOLATE:
        migratetype = zone.pb.get_pageblock_migratetype(pfn)
    __free_one_page(page, pfn, zone, order, migratetype)


def __isolate_free_page(zone, page: int, order: int) -> int:
    """Take a free block off its buddy list for compaction, if the zone stays above its
    low watermark plus the block; a block of half a pageblock or more makes its pageblocks
    MOVABLE. The pages taken (0 when the watermark says no) (mm/page_alloc.c
    __isolate_free_page)."""
    mm = zone.mem_map
    if mm.mc[page] != _BUDDY:
        raise KernelBug(f"BUG_ON(!PageBuddy(page)): __isolate_free_page of pfn {page:#x}")
    mt = zone.pb.get_pageblock_migratetype(page)
    if mt != MIGRATE_ISOLATE:
        watermark = zone.low_wmark_pages() + (1 << order)
        if not zone_watermark_ok(zone, 0, watermark, 0, 0):
            return 0
        __mod_zone_freepage_state(zone, -(1 << order), mt)
    mm.list_del(page)
    zone.free_area[order].nr_free -= 1
    rmv_page_order(mm, page)
    if order >= pageblock_order - 1:
        for pfn in range(page, page + (1 << order) - 1, pageblock_nr_pages):
            if zone.pb.get_pageblock_migratetype(pfn) != MIGRATE_ISOLATE:
                zone.pb.set_pageblock_migratetype(pfn, MIGRATE_MOVABLE)
    return 1 << order


def split_page(mm, page: int, order: int) -> None:
    """Give every page of a non-compound block its own reference (mm/page_alloc.c)."""
    if mm.PageHead(page) or mm.PageTail(page):
        raise KernelBug(f"VM_BUG_ON_PAGE(PageCompound(page)): split_page of pfn {page:#x}")
    if mm.rc[page] == 0:
        raise KernelBug(f"VM_BUG_ON_PAGE(!page_count(page)): split_page of pfn {page:#x}")
    for pfn in range(page + 1, page + (1 << order)):
        mm.rc[pfn] = 1                                # set_page_refcounted


def split_free_page(zone, page: int) -> int:
    """Isolate a free block and split it into order-0 pages, each with one reference:
    how many (mm/page_alloc.c split_free_page)."""
    mm = zone.mem_map
    order = int(mm.priv[page])
    nr_pages = __isolate_free_page(zone, page, order)
    if not nr_pages:
        return 0
    mm.rc[page] = 1
    split_page(mm, page, order)
    return nr_pages


# --- checks on the way in and out --------------------------------------------

class BadPageState:
    """bad_page()'s static report limiter: 60 reports, then quiet for the rest of the
    minute, and whether lock debugging has been switched off yet (debug_locks)."""

    __slots__ = ("resume_ns", "nr_shown", "nr_unshown", "debug_locks")

    def __init__(self):
        self.resume_ns = 0
        self.nr_shown = 0
        self.nr_unshown = 0
        self.debug_locks = True


def _pflags(flags: int) -> str:
    """``%#lx(%pGp)``: the whole flags word, then the names of the page-flag bits."""
    return f"{flags:#x}(" + decode_page_flags(flags).split("(", 1)[1]


def bad_page(zone, page: int, reason: str, bad_flags: int = 0) -> None:
    """Report a page in a state it must not be in (mm/page_alloc.c bad_page, with
    mm/debug.c __dump_page)."""
    mm = zone.mem_map
    pgdat = zone.zone_pgdat
    m = pgdat.machine
    log = pgdat.log
    st = pgdat.bad_page_state
    quiet = False
    if st.nr_shown == 60:
        if m.clock_ns < st.resume_ns:
            st.nr_unshown += 1
            quiet = True
        else:
            if st.nr_unshown:
                log.printk(1, f"BUG: Bad page state: {st.nr_unshown} messages suppressed")
                st.nr_unshown = 0
            st.nr_shown = 0
    if not quiet:
        if st.nr_shown == 0:
            st.resume_ns = m.clock_ns + 60 * 10 ** 9
        st.nr_shown += 1
        head, *dump = dump_page_lines(mm, page)
        log.printk(1, f"BUG: Bad page state in process {m.current_comm()}  pfn:{page:05x}")
        log.printk(0, head)
        log.printk(0, dump[0])
        log.printk(1, f"page dumped because: {reason}")
        bad_flags &= int(mm.f[page])
        if bad_flags:
            log.printk(1, f"bad because of flags: {_pflags(bad_flags)}")
    # add_taint(TAINT_BAD_PAGE, LOCKDEP_NOW_UNRELIABLE): lock debugging goes off once
    if st.debug_locks:
        st.debug_locks = False
        log.printk(4, "Disabling lock debugging due to kernel taint")
    m.add_taint("B")
    # page_mapcount_reset: the rest is left for debugging, and the page is leaked
    mm.mc[page] = -1


def dump_page_lines(mm, page: int, reason: str = "", count: int = None,
                    mapping: int = None) -> list:
    """The lines __dump_page prints for ``page`` (mm/debug.c), without printing them;
    ``count`` and ``mapping`` stand in for the page's own (a free about to change them)."""
    flags = int(mm.f[page])
    mapping = int(mm.mapping[page]) if mapping is None else mapping
    count = int(mm.rc[page]) if count is None else count
    mapcount = 0 if flags & (1 << PG_slab) else mm.mc[page] + 1
    lines = [f"page:{0xffffea0000000000 + page * 64:016x} count:{count} "
             f"mapcount:{mapcount} "
             f"mapping:{f'{mapping & 0xFFFFFFFFFFFFFFFF:016x}' if mapping else '(null)'}"
             f" index:{mm.idx[page] & 0xFFFFFFFFFFFFFFFF:#x}",
             f"flags: {_pflags(flags)}"]
    if mm.PageHead(page) or mm.PageTail(page):
        # no PMD mappings are modelled, so the compound mapcount is always 0
        lines[0] += " compound_mapcount: 0"
    if reason:
        lines.append(f"page dumped because: {reason}")
    return lines


def vm_bug_on_page(mm, page: int, cond: str, where: str) -> KernelBug:
    """The KernelBug for a VM_BUG_ON_PAGE(cond, page) that fires: dump_page, then BUG()'s
    line (include/linux/mmdebug.h); raised by the caller before any state changes."""
    return KernelBug("\n".join(dump_page_lines(mm, page, f"VM_BUG_ON_PAGE({cond})")
                               + ["------------[ cut here ]------------",
                                  f"kernel BUG at {where}!"]))


def free_pages_check_reason(mm, page: int, refcount: int = None, mapping: int = None):
    """(reason, bad flags) free_pages_check would report for ``page``, or (None, 0); it
    changes nothing. ``refcount`` and ``mapping`` stand in for the page's own (a free about
    to change them)."""
    reason = None
    bad_flags = 0
    if mm.mc[page] != -1:
        reason = "nonzero mapcount"
    if (mm.mapping[page] if mapping is None else mapping) != 0:
        reason = "non-NULL mapping"
    if (mm.rc[page] if refcount is None else refcount) != 0:
        reason = "nonzero _count"
    if mm.f[page] & PAGE_FLAGS_CHECK_AT_FREE:
        reason = "PAGE_FLAGS_CHECK_AT_FREE flag(s) set"
        bad_flags = PAGE_FLAGS_CHECK_AT_FREE
    return reason, bad_flags


def free_pages_check(zone, page: int) -> bool:
    """True (and a bad_page report) when ``page`` may not be freed."""
    mm = zone.mem_map
    reason, bad_flags = free_pages_check_reason(mm, page)
    if reason:
        bad_page(zone, page, reason, bad_flags)
        return True
    if mm.f[page] & PAGE_FLAGS_CHECK_AT_PREP:
        mm.f[page] = mm.f[page] & ~PAGE_FLAGS_CHECK_AT_PREP & 0xFFFFFFFFFFFFFFFF
    return False


def free_pages_prepare(zone, page: int, order: int) -> bool:
    """Check every page of a block on its way to the free lists; False (and a bad_page
    report) when one may not be freed (mm/page_alloc.c free_pages_prepare).

    Accelerator: ``free_pages_check_block`` in linuxvm/accel/page_alloc.py (the checks of
    a large block at once).
    """
    tp = zone.zone_pgdat.machine.tp.mm_page_free
    if tp is not None:
        tp(page, order)
    mm = zone.mem_map
    bad = 0
    if mm.mapping[page] & PAGE_MAPPING_ANON:
        mm.mapping[page] = 0             # PageAnon pages keep mapping until the free
    if order and mm.PageHead(page):
        mm.destroy_compound_page(page, order)
    fast = zone.accel.free_pages_check_block if order else None
    if fast is None or not fast(zone, page, order):
        for i in range(1 << order):
            bad += free_pages_check(zone, page + i)
        if bad:
            return False
    mm.priv[page] = 0
    machine = zone.zone_pgdat.machine
    if machine.page_contents:
        machine.drop_contents(page, 1 << order)
    return True


def check_new_page(zone, page: int) -> bool:
    mm = zone.mem_map
    reason = None
    bad_flags = 0
    if mm.mc[page] != -1:
        reason = "nonzero mapcount"
    if mm.mapping[page] != 0:
        reason = "non-NULL mapping"
    if mm.rc[page] != 0:
        reason = "nonzero _count"
    if mm.f[page] & PAGE_FLAGS_CHECK_AT_PREP:
        reason = "PAGE_FLAGS_CHECK_AT_PREP flag set"
        bad_flags = PAGE_FLAGS_CHECK_AT_PREP
    if reason:
        bad_page(zone, page, reason, bad_flags)
        return True
    return False


def prep_new_page(zone, page: int, order: int, gfp_flags: int, alloc_flags: int = 0) -> bool:
    """Make a freshly taken block usable: refcount 1, zeroed, compound if asked; True when
    a page fails its check (mm/page_alloc.c prep_new_page).

    Accelerator: ``check_new_block`` in linuxvm/accel/page_alloc.py (the checks of a large
    block at once).
    """
    mm = zone.mem_map
    fast = zone.accel.check_new_block if order else None
    if fast is None or not fast(zone, page, order):
        for i in range(1 << order):
            if check_new_page(zone, page + i):
                return True
    mm.priv[page] = 0
    mm.rc[page] = 1                      # set_page_refcounted
    # set/clear_page_pfmemalloc: index -1 marks a page taken from the reserves
    mm.idx[page] = -1 if alloc_flags & ALLOC_NO_WATERMARKS else 0
    if gfp_flags & G.__GFP_ZERO:
        machine = zone.zone_pgdat.machine
        if machine.page_contents:
            machine.drop_contents(page, 1 << order)
        mm.content[page:page + (1 << order)] = 0
    if order:
        if gfp_flags & G.__GFP_COMP:
            mm.prep_compound_page(page, order)
        else:
            # remember the extent of a non-compound block for m.check() (page_owner)
            zone.zone_pgdat.machine.page_owner_order[page] = order
    return False


# --- freeing -----------------------------------------------------------------

def free_hot_cold_page(zone, page: int, cold: bool, cpu: int) -> None:
    """Free an order-0 page onto this CPU's pcp list (mm/page_alloc.c free_hot_cold_page).

    Its hot case from __free_pages has an accelerator there (``free_order0``).
    """
    if not free_pages_prepare(zone, page, 0):
        return
    mm = zone.mem_map
    migratetype = zone.pb.b[page >> pageblock_order] & 7
    mm.idx[page] = migratetype           # set_pcppage_migratetype
    zone.zone_pgdat.vm_events[PGFREE] += 1
    if migratetype >= MIGRATE_PCPTYPES:
        if migratetype == MIGRATE_ISOLATE:
            free_one_page(zone, page, page, 0, migratetype)
            return
        migratetype = MIGRATE_MOVABLE
    pcp = zone.pageset[cpu].pcp
    if not cold:
        mm.list_add(page, pcp.lists[migratetype])
    else:
        mm.list_add_tail(page, pcp.lists[migratetype])
    pcp.count += 1
    if pcp.count >= pcp.high:
        batch = pcp.batch
        free_pcppages_bulk(zone, batch, pcp)
        pcp.count -= batch


def free_hot_cold_page_list(pgdat, pages, cold: bool, cpu: int) -> None:
    """Free a list of order-0 pages whose last reference is gone, one free_hot_cold_page
    each in list order (mm/page_alloc.c free_hot_cold_page_list).

    Accelerator: ``free_hot_cold_page_list`` in linuxvm/accel/page_alloc.py (the checks
    of the whole list at once, the pcp lists and the buddy merges in one loop).
    """
    fast = pgdat.accel.free_hot_cold_page_list
    if fast is not None:
        return fast(pgdat, pages, cold, cpu)
    mm = pgdat.mem_map
    zones = pgdat.node_zones
    tp = pgdat.machine.tp.mm_page_free_batched
    for page in pages:
        if tp is not None:
            tp(page, cold)
        free_hot_cold_page(zones[mm.f[page] >> 62], page, cold, cpu)


def __free_pages_ok(zone, page: int, order: int) -> None:
    """Free a block of order > 0 straight to the buddy lists (mm/page_alloc.c)."""
    zone.zone_pgdat.machine.page_owner_order.pop(page, None)
    if not free_pages_prepare(zone, page, order):
        return
    migratetype = zone.pb.get_pageblock_migratetype(page)
    zone.zone_pgdat.vm_events[PGFREE] += 1 << order
    free_one_page(zone, page, page, order, migratetype)


def __free_pages(pgdat, page: int, order: int, cpu: int = 0) -> None:
    """Drop a reference; free the block when it was the last (mm/page_alloc.c __free_pages).

    Accelerator: ``free_order0`` in linuxvm/accel/page_alloc.py (the whole order-0 call:
    the reference dropped and, at zero, a clean page freed); it returns False having
    changed nothing otherwise.
    """
    if not order:
        fast = pgdat.accel.free_order0
        if fast is not None and fast(pgdat, page, cpu):
            return
    mm = pgdat.mem_map
    rc = mm.rc[page] - 1                 # put_page_testzero
    mm.rc[page] = rc
    if rc == 0:
        zone = pgdat.node_zones[mm.f[page] >> 62]
        if order == 0:
            free_hot_cold_page(zone, page, False, cpu)
        else:
            __free_pages_ok(zone, page, order)


def drain_pages_zone(zone, cpu: int) -> None:
    pcp = zone.pageset[cpu].pcp
    if pcp.count:
        free_pcppages_bulk(zone, pcp.count, pcp)
        pcp.count = 0


def drain_all_pages(pgdat, zone=None) -> None:
    """Empty every CPU's pcp lists back into the buddy lists."""
    for cpu in range(pgdat.nr_cpus):
        for z in ([zone] if zone else pgdat.node_zones):
            if z.pageset:
                drain_pages_zone(z, cpu)


# --- allocation ----------------------------------------------------------------

def buffered_rmqueue(preferred_zone, zone, order: int, gfp_flags: int, alloc_flags: int,
                     migratetype: int, cpu: int) -> int:
    """Take a block from the pcp list (order 0) or the buddy lists."""
    mm = zone.mem_map
    cold = bool(gfp_flags & G.__GFP_COLD)
    if order == 0:
        pcp = zone.pageset[cpu].pcp
        head = pcp.lists[migratetype]
        if mm.nxt[head] == head:
            pcp.count += rmqueue_bulk(zone, 0, pcp.batch, head, migratetype, cold)
            if mm.nxt[head] == head:
                return NULL
        page = mm.prv[head] if cold else mm.nxt[head]
        mm.list_del(page)
        pcp.count -= 1
    else:
        page = NULL
        if alloc_flags & ALLOC_HARDER:
            page = __rmqueue_smallest(zone, order, MIGRATE_HIGHATOMIC)
            if page != NULL:
                tp = zone.zone_pgdat.machine.tp.mm_page_alloc_zone_locked
                if tp is not None:
                    tp(page, order, migratetype)
        if page == NULL:
            page = __rmqueue(zone, order, migratetype)
        if page == NULL:
            return NULL
        __mod_zone_freepage_state(zone, -(1 << order), mm.idx[page])
    vm_stat = zone.vm_stat
    vm_stat[NR_ALLOC_BATCH] -= 1 << order
    if vm_stat[NR_ALLOC_BATCH] <= 0 and not zone.flags & (1 << ZONE_FAIR_DEPLETED):
        zone.flags |= 1 << ZONE_FAIR_DEPLETED
    zone.zone_pgdat.vm_events[PGALLOC + zone.idx] += 1 << order
    return page


def __zone_watermark_ok(z, order: int, mark: int, classzone_idx: int, alloc_flags: int,
                        free_pages: int) -> bool:
    """Whether ``z`` has ``mark`` pages free above its reserves for this order."""
    if order >= MAX_ORDER:
        # no free list holds such a block, so the order loop below would find none; say
        # so before 1 << order grows without bound (order is any int here)
        return False
    min_ = mark
    alloc_harder = alloc_flags & ALLOC_HARDER
    free_pages -= (1 << order) - 1
    if alloc_flags & ALLOC_HIGH:
        min_ -= min_ // 2
    if not alloc_harder:
        free_pages -= z.nr_reserved_highatomic
    else:
        min_ -= min_ // 4
    if free_pages <= min_ + z.lowmem_reserve[classzone_idx]:
        return False
    if not order:
        return True
    mm = z.mem_map
    for o in range(order, MAX_ORDER):
        area = z.free_area[o]
        if not area.nr_free:
            continue
        if alloc_harder:
            return True
        for mt in range(MIGRATE_PCPTYPES):
            if not mm.list_empty(area.free_list[mt]):
                return True
    return False


def zone_watermark_ok(z, order, mark, classzone_idx, alloc_flags) -> bool:
    return __zone_watermark_ok(z, order, mark, classzone_idx, alloc_flags,
                               z.vm_stat[NR_FREE_PAGES])


def reserve_highatomic_pageblock(page: int, zone, order: int) -> None:
    """Set aside the pageblock of a high-order atomic allocation for later ones."""
    max_managed = (zone.managed_pages // 100) + pageblock_nr_pages
    if zone.nr_reserved_highatomic >= max_managed:
        return
    mt = zone.pb.get_pageblock_migratetype(page)
    if mt != MIGRATE_HIGHATOMIC and mt != MIGRATE_ISOLATE:
        zone.nr_reserved_highatomic += pageblock_nr_pages
        zone.pb.set_pageblock_migratetype(page, MIGRATE_HIGHATOMIC)
        move_freepages_block(zone, page, MIGRATE_HIGHATOMIC)


def reset_alloc_batches(preferred_zone) -> None:
    """Refill NR_ALLOC_BATCH of the zones from DMA up to the preferred one (4.6 stops there)."""
    for zone in preferred_zone.zone_pgdat.node_zones[:preferred_zone.idx + 1]:
        zone.vm_stat[NR_ALLOC_BATCH] = zone.high_wmark_pages() - zone.low_wmark_pages()
        zone.flags &= ~(1 << ZONE_FAIR_DEPLETED)


class AllocContext:
    """struct alloc_context: the zonelist walk a gfp mask implies. 4.6 fills one on the
    stack of each __alloc_pages_nodemask call; here one per gfp mask is kept in
    ``pgdat.ac_cache`` (``alloc_context``), as the zonelist does not change after boot."""

    __slots__ = ("zones", "high_zoneidx", "preferred_zone", "classzone_idx", "migratetype")

    def __init__(self, pgdat, gfp_mask: int):
        self.high_zoneidx = G.gfp_zone(gfp_mask)
        self.zones = [z for z in pgdat.zonelist if z.idx <= self.high_zoneidx]
        self.preferred_zone = self.zones[0] if self.zones else None
        self.classzone_idx = self.preferred_zone.idx if self.zones else 0
        self.migratetype = G.gfpflags_to_migratetype(gfp_mask)


def alloc_context(pgdat, gfp_mask: int) -> AllocContext:
    """The AllocContext of ``gfp_mask`` (already masked with __GFP_BITS_MASK), made once."""
    ac = pgdat.ac_cache.get(gfp_mask)
    if ac is None:
        ac = pgdat.ac_cache[gfp_mask] = AllocContext(pgdat, gfp_mask)
    return ac


def _zone_dirty_ok_fn():
    """page-writeback.c's zone_dirty_ok(zone) (None only while that module is still being
    imported, before any allocation can ask)."""
    return getattr(getattr(_mm_pkg, "page_writeback", None), "zone_dirty_ok", None)


def get_page_from_freelist(pgdat, gfp_mask: int, order: int, alloc_flags: int, ac,
                           cpu: int) -> int:
    """Walk the zonelist for a zone that passes its watermark and take a block there."""
    # ac->spread_dirty_pages: only the first attempt (the one with ALLOC_FAIR) spreads
    # __GFP_WRITE page-cache pages over the zones by their dirty limits
    dirty_ok = _zone_dirty_ok_fn() if gfp_mask & G.__GFP_WRITE and alloc_flags & ALLOC_FAIR \
        else None
    while True:
        nr_fair_skipped = 0
        for zone in ac.zones:
            if alloc_flags & ALLOC_FAIR:
                if zone.flags & (1 << ZONE_FAIR_DEPLETED):
                    nr_fair_skipped += 1
                    continue
            if dirty_ok is not None and not dirty_ok(zone):
                continue
            mark = zone.watermark[alloc_flags & ALLOC_WMARK_MASK]
            if not (alloc_flags & ALLOC_NO_WATERMARKS):
                if not __zone_watermark_ok(zone, order, mark, ac.classzone_idx, alloc_flags,
                                           zone.vm_stat[NR_FREE_PAGES]):
                    continue    # zone_reclaim_mode is 0 on UMA
            while True:
                page = buffered_rmqueue(ac.preferred_zone, zone, order, gfp_mask,
                                        alloc_flags, ac.migratetype, cpu)
                if page == NULL:
                    break
                if prep_new_page(zone, page, order, gfp_mask, alloc_flags):
                    continue
                if order and (alloc_flags & ALLOC_HARDER):
                    reserve_highatomic_pageblock(page, zone, order)
                return page
        if alloc_flags & ALLOC_FAIR:
            alloc_flags &= ~ALLOC_FAIR
            if nr_fair_skipped:
                reset_alloc_batches(ac.preferred_zone)
                continue
        return NULL


# task flags gfp_to_alloc_flags looks at (include/linux/sched.h)
PF_MEMALLOC = 0x00000800
PF_KTHREAD = 0x00200000
# source lines of the WARN_ON_ONCE()s in 4.6.2 __alloc_pages_slowpath, printed by the warning
_WARN_ORDER_LINE = 3133
_WARN_ATOMIC_LINE = 3141
_WARN_MAY_OOM_NOFAIL_LINE = 2896


def _current_may_dip(m) -> tuple:
    """(rt_task(current), PF_MEMALLOC or TIF_MEMDIE set) for the running task, if any."""
    cur = m.current
    if cur is None:
        return False, False
    rt = getattr(cur, "rt_priority", 0) > 0
    memalloc = bool(getattr(cur, "flags", 0) & PF_MEMALLOC) or bool(getattr(cur, "memdie", False))
    return rt, memalloc


def gfp_to_alloc_flags(gfp_mask: int, m=None) -> int:
    """The slow path's alloc_flags for ``gfp_mask`` (mm/page_alloc.c gfp_to_alloc_flags)."""
    rt, memalloc = _current_may_dip(m) if m is not None else (False, False)
    alloc_flags = ALLOC_WMARK_MIN | ALLOC_CPUSET
    alloc_flags |= gfp_mask & G.__GFP_HIGH        # ALLOC_HIGH == __GFP_HIGH
    if gfp_mask & G.__GFP_ATOMIC:
        if not (gfp_mask & G.__GFP_NOMEMALLOC):
            alloc_flags |= ALLOC_HARDER
        alloc_flags &= ~ALLOC_CPUSET
    elif rt:
        alloc_flags |= ALLOC_HARDER
    if not (gfp_mask & G.__GFP_NOMEMALLOC):
        if gfp_mask & G.__GFP_MEMALLOC or memalloc:
            alloc_flags |= ALLOC_NO_WATERMARKS
    return alloc_flags


def dump_stack_header(m, cpu: int) -> str:
    """The first line dump_stack prints (lib/dump_stack.c dump_stack_print_info)."""
    return (f"CPU: {cpu} PID: {m.current_pid()} Comm: {m.current_comm()} "
            f"{m.taint_string()} 4.6.0 #1")


def warn_on_once(pgdat, line: int, func: str, cpu: int) -> None:
    """WARN_ON_ONCE() at mm/page_alloc.c:``line``: the warning lines, once per boot."""
    m = pgdat.machine
    done = pgdat.page_alloc_warned
    if line in done:
        return
    done.add(line)
    pgdat.log.pr_warn("------------[ cut here ]------------")
    pgdat.log.pr_warn(f"WARNING: CPU: {cpu} PID: {m.current_pid()} at mm/page_alloc.c:{line} "
                      f"{func}")
    pgdat.log.pr_warn("Modules linked in:")            # print_modules: none are loaded
    pgdat.log.pr_warn(dump_stack_header(m, cpu))
    m.add_taint("W")                 # warn_slowpath_common taints after dump_stack


PAGE_ALLOC_COSTLY_ORDER = 3
# the model runs one task at a time: a retry that frees nothing would spin forever in
# 4.6 waiting for another task (GFP_NOFS's "keep looping as per tradition", a victim
# that never exits); after this many such retries the allocation fails instead
MAX_IDLE_RETRIES = 16


def __alloc_pages_may_oom(pgdat, gfp_mask: int, order: int, ac, cpu: int) -> tuple:
    """(page, did_some_progress): one more try at the high mark, then the OOM killer
    unless the request is one it does not serve (mm/page_alloc.c __alloc_pages_may_oom).

    oom_lock is always free here: the model runs one allocation at a time."""
    m = pgdat.machine
    oom = m.oom
    page = get_page_from_freelist(pgdat, gfp_mask | G.__GFP_HARDWALL, order,
                                  ALLOC_WMARK_HIGH | ALLOC_CPUSET, ac, cpu)
    if page != NULL:
        return page, 0
    if not gfp_mask & G.__GFP_NOFAIL:
        # (PF_DUMPCORE: the model never dumps core)
        if order > PAGE_ALLOC_COSTLY_ORDER:
            return NULL, 0              # killing does not make high orders
        if ac.high_zoneidx < G.ZONE_NORMAL:
            return NULL, 0              # nor lowmem
        if not gfp_mask & G.__GFP_FS:
            # no OOM kill for IO-less reclaim; 4.6 keeps looping unless the killer is off
            return NULL, int(not oom.oom_killer_disabled)
        if gfp_mask & G.__GFP_THISNODE:
            return NULL, 0
    progress = 0
    if oom.out_of_memory(gfp_mask, order):
        progress = 1
    elif gfp_mask & G.__GFP_NOFAIL:
        warn_on_once(pgdat, _WARN_MAY_OOM_NOFAIL_LINE, "__alloc_pages_may_oom", cpu)
        progress = 1
    if progress and gfp_mask & G.__GFP_NOFAIL:
        page = get_page_from_freelist(pgdat, gfp_mask, order,
                                      ALLOC_NO_WATERMARKS | ALLOC_CPUSET, ac, cpu)
        if page == NULL:
            page = get_page_from_freelist(pgdat, gfp_mask, order, ALLOC_NO_WATERMARKS,
                                          ac, cpu)
    return page, progress


def wake_all_kswapds(pgdat, order: int, ac) -> None:
    """Wake kswapd for the zones the allocation may use (mm/page_alloc.c)."""
    wake = pgdat.reclaim.wakeup_kswapd
    if wake is None:
        return
    for zone in ac.zones:
        wake(zone, order, ac.classzone_idx)


def __perform_reclaim(pgdat, gfp_mask: int, order: int, ac) -> int:
    """Direct reclaim with PF_MEMALLOC set, so that reclaim's own allocations do not
    reclaim again (mm/page_alloc.c __perform_reclaim)."""
    ttfp = pgdat.reclaim.try_to_free_pages
    if ttfp is None:
        return 0
    cur = pgdat.machine.current
    if cur is not None:
        cur.flags |= PF_MEMALLOC
    try:
        return ttfp(pgdat.machine, order, gfp_mask)
    finally:
        if cur is not None:
            cur.flags &= ~PF_MEMALLOC


def __alloc_pages_direct_reclaim(pgdat, gfp_mask: int, order: int, alloc_flags: int, ac,
                                 cpu: int) -> tuple:
    """(page, did_some_progress): reclaim, then try the free lists again, once more after
    draining the per-CPU lists (mm/page_alloc.c __alloc_pages_direct_reclaim)."""
    progress = __perform_reclaim(pgdat, gfp_mask, order, ac)
    if not progress:
        return NULL, 0
    page = get_page_from_freelist(pgdat, gfp_mask, order, alloc_flags & ~ALLOC_NO_WATERMARKS,
                                  ac, cpu)
    if page == NULL:
        drain_all_pages(pgdat)
        page = get_page_from_freelist(pgdat, gfp_mask, order,
                                      alloc_flags & ~ALLOC_NO_WATERMARKS, ac, cpu)
    return page, progress


def is_thp_gfp_mask(gfp_mask: int) -> bool:
    """A transparent huge page fault's mask (GFP_TRANSHUGE without kswapd)."""
    return gfp_mask & (G.GFP_TRANSHUGE | G.__GFP_KSWAPD_RECLAIM) == G.GFP_TRANSHUGE


def _current_is_kthread(m) -> bool:
    cur = m.current
    return cur is None or bool(getattr(cur, "flags", 0) & PF_KTHREAD)


def __alloc_pages_direct_compact(pgdat, gfp_mask: int, order: int, alloc_flags: int, ac,
                                 mode: int, cpu: int) -> tuple:
    """(page, deferred): compact with PF_MEMALLOC set, then try the free lists; counts
    compact_stall and compact_success/fail when a zone was compacted
    (mm/page_alloc.c __alloc_pages_direct_compact)."""
    if not order:
        return NULL, False
    ops = pgdat.compaction
    if ops.try_to_compact_pages is None:
        return NULL, False
    m = pgdat.machine
    cur = m.current
    saved = cur.flags if cur is not None else 0
    if cur is not None:
        cur.flags |= PF_MEMALLOC
    try:
        result, _contended = ops.try_to_compact_pages(pgdat, gfp_mask, order, alloc_flags,
                                                      ac, mode)
    finally:
        if cur is not None:
            cur.flags = (cur.flags & ~PF_MEMALLOC) | (saved & PF_MEMALLOC)
    if result == COMPACT_DEFERRED:
        return NULL, True
    if result == COMPACT_SKIPPED:
        return NULL, False
    ev = pgdat.vm_events
    ev[VM_EVENT["compact_stall"]] += 1
    page = get_page_from_freelist(pgdat, gfp_mask, order, alloc_flags & ~ALLOC_NO_WATERMARKS,
                                  ac, cpu)
    if page != NULL:
        zone = pgdat.node_zones[pgdat.mem_map.f[page] >> 62]
        zone.compact_blockskip_flush = False
        ops.compaction_defer_reset(zone, order, True)
        ev[VM_EVENT["compact_success"]] += 1
        return page, False
    ev[VM_EVENT["compact_fail"]] += 1
    return NULL, False


def __alloc_pages_slowpath(pgdat, gfp_mask: int, order: int, ac, cpu: int) -> int:
    """The slow path: wake kswapd, an attempt at the min mark with the caller's
    privileges, one without watermarks if allowed, then (for callers that may sleep)
    compaction, direct reclaim — retrying while it makes progress for orders up to
    PAGE_ALLOC_COSTLY_ORDER — and the OOM killer, retrying while the killer makes
    progress (mm/page_alloc.c, 4.6's rules before the 4.7 OOM-detection rework).

    The first direct compaction is async; after it, sync-light (async throughout for a
    THP fault). A request that stops retrying (__GFP_NORETRY, or the OOM killer made no
    progress) compacts once more before it fails."""
    if order >= MAX_ORDER:
        if not gfp_mask & G.__GFP_NOWARN:
            warn_on_once(pgdat, _WARN_ORDER_LINE, "__alloc_pages_slowpath", cpu)
        return NULL
    if gfp_mask & (G.__GFP_ATOMIC | G.__GFP_DIRECT_RECLAIM) == (G.__GFP_ATOMIC
                                                                 | G.__GFP_DIRECT_RECLAIM):
        warn_on_once(pgdat, _WARN_ATOMIC_LINE, "__alloc_pages_slowpath", cpu)
        gfp_mask &= ~G.__GFP_ATOMIC
    m = pgdat.machine
    if m.oom.defer:
        # an accelerator that fuses a fault hands back any allocation that needs the
        # slow path (kswapd, reclaim, the OOM killer): it runs once, on the reference path
        raise m.oom.deferred
    can_direct_reclaim = gfp_mask & G.__GFP_DIRECT_RECLAIM
    idle = 0
    pages_reclaimed = 0
    migration_mode = MIGRATE_ASYNC
    noretry = False
    while True:                                          # retry:
        if gfp_mask & G.__GFP_KSWAPD_RECLAIM:
            wake_all_kswapds(pgdat, order, ac)
        alloc_flags = gfp_to_alloc_flags(gfp_mask, m)
        page = get_page_from_freelist(pgdat, gfp_mask, order,
                                      alloc_flags & ~ALLOC_NO_WATERMARKS, ac, cpu)
        if page != NULL:
            return page
        if alloc_flags & ALLOC_NO_WATERMARKS:
            page = get_page_from_freelist(pgdat, gfp_mask, order, ALLOC_NO_WATERMARKS, ac,
                                          cpu)
            if page != NULL:
                return page
        if not can_direct_reclaim:
            break
        cur = m.current
        if cur is not None and cur.flags & PF_MEMALLOC:
            break                        # no recursion into reclaim
        if cur is not None and cur.memdie and not gfp_mask & G.__GFP_NOFAIL:
            break                        # a victim that used the reserves up: fail
        page, deferred = __alloc_pages_direct_compact(pgdat, gfp_mask, order, alloc_flags,
                                                      ac, migration_mode, cpu)
        if page != NULL:
            return page
        if is_thp_gfp_mask(gfp_mask) and deferred:
            break                        # a THP fault does not reclaim after a deferral
        # (the model's compaction is never contended, so 4.6's other THP exits stay shut)
        if not is_thp_gfp_mask(gfp_mask) or _current_is_kthread(m):
            migration_mode = MIGRATE_SYNC_LIGHT
        free_before = m.nr_free_pages()
        page, progress = __alloc_pages_direct_reclaim(pgdat, gfp_mask, order, alloc_flags,
                                                      ac, cpu)
        if page != NULL:
            return page
        if gfp_mask & G.__GFP_NORETRY:
            noretry = True
            break
        pages_reclaimed += progress
        if (progress and order <= PAGE_ALLOC_COSTLY_ORDER) or (
                gfp_mask & G.__GFP_REPEAT and pages_reclaimed < 1 << order):
            idle = idle + 1 if m.nr_free_pages() <= free_before else 0
            if idle <= MAX_IDLE_RETRIES:
                continue
        page, progress = __alloc_pages_may_oom(pgdat, gfp_mask, order, ac, cpu)
        if page != NULL:
            return page
        if not progress:
            noretry = True
            break
        idle = idle + 1 if m.nr_free_pages() <= free_before else 0
        if idle > MAX_IDLE_RETRIES:
            break
    if noretry:
        # noretry: reclaim/compaction relies on a compaction after the reclaim
        page, _ = __alloc_pages_direct_compact(pgdat, gfp_mask, order, alloc_flags, ac,
                                               migration_mode, cpu)
        if page != NULL:
            return page
    warn_alloc_failed(pgdat, gfp_mask, order)
    return NULL


def __alloc_pages_nodemask(pgdat, gfp_mask: int, order: int, cpu: int = 0) -> int:
    """Allocate 2^order pages: the fast path at the low mark with zone fairness, then the
    slow path (mm/page_alloc.c __alloc_pages_nodemask).

    Accelerator: ``alloc_order0`` in linuxvm/accel/page_alloc.py (an order-0 page from the
    preferred zone's pcp list); it returns NULL having changed nothing when the general
    path is needed.
    """
    gfp_mask &= _GFP_BITS_MASK                     # gfp_allowed_mask after boot
    ac = pgdat.ac_cache.get(gfp_mask)
    if ac is None:
        ac = alloc_context(pgdat, gfp_mask)
    if ac.preferred_zone is None:
        return NULL
    if not order:
        fast = pgdat.accel.alloc_order0
        if fast is not None:
            page = fast(ac, gfp_mask, cpu)
            if page != NULL:
                return page
    alloc_mask = gfp_mask | G.__GFP_HARDWALL
    page = get_page_from_freelist(pgdat, alloc_mask, order,
                                  ALLOC_WMARK_LOW | ALLOC_CPUSET | ALLOC_FAIR, ac, cpu)
    if page == NULL:
        alloc_mask = gfp_mask                      # memalloc_noio_flags
        page = __alloc_pages_slowpath(pgdat, gfp_mask, order, ac, cpu)
    tp = pgdat.machine.tp.mm_page_alloc
    if tp is not None:
        tp(page, order, alloc_mask, ac.migratetype)
    return page


class RatelimitState:
    """struct ratelimit_state with DEFAULT_RATELIMIT_INTERVAL (5 s) and _BURST (10)."""

    __slots__ = ("interval_ns", "burst", "printed", "missed", "begin")

    def __init__(self, interval_ns: int = 5_000_000_000, burst: int = 10):
        self.interval_ns = interval_ns
        self.burst = burst
        self.printed = 0
        self.missed = 0
        self.begin = None


def __ratelimit(rs, m, func: str) -> bool:
    """Whether a rate-limited message may print now (lib/ratelimit.c ___ratelimit)."""
    now = m.clock_ns
    if rs.begin is None:
        rs.begin = now
    if now > rs.begin + rs.interval_ns:
        if rs.missed:
            m.log.pr_warn(f"{func}: {rs.missed} callbacks suppressed")
        rs.begin = now
        rs.printed = 0
        rs.missed = 0
    if rs.burst > rs.printed:
        rs.printed += 1
        return True
    rs.missed += 1
    return False


def warn_alloc_failed(pgdat, gfp_mask: int, order: int) -> None:
    """The "page allocation failure" report (mm/page_alloc.c warn_alloc_failed)."""
    if gfp_mask & G.__GFP_NOWARN:
        return
    m = pgdat.machine
    rs = pgdat.nopage_rs
    if not __ratelimit(rs, m, "warn_alloc_failed"):
        return
    pgdat.log.pr_warn(f"{m.current_comm()}: page allocation failure: order:{order}, "
                      f"mode:{gfp_mask:#x}({G.format_gfp(gfp_mask)})")
    pgdat.log.pr_warn(dump_stack_header(m, m.current_cpu))
    for line in show_mem(pgdat):
        pgdat.log.pr_warn(line)


# the kernel-named functions, with the double-underscore ones a star import would skip
__all__ = [n for n in dir() if not n.startswith("_") or n.startswith("__rmqueue")
           or n in ("__free_one_page", "__free_pages", "__free_pages_ok", "__isolate_free_page",
                    "__alloc_pages_nodemask", "__alloc_pages_slowpath", "__alloc_pages_may_oom", "__ratelimit",
                    "__alloc_pages_direct_compact",
                    "__zone_watermark_ok", "__mod_zone_freepage_state")]




def __free_pages_bug(pgdat, page: int, order: int):
    """The KernelBug 4.6 would hit freeing ``order`` pages at ``page`` with __free_pages in
    its current state (a VM_BUG_ON_PAGE, or a "Bad page state" report), or None when the
    free would pass its checks. It changes nothing: the Kernel API asks before it frees.

    Follows __free_pages → put_page_testzero → free_pages_prepare → __free_one_page.
    """
    mm = pgdat.mem_map
    m = pgdat.machine
    rc = int(mm.rc[page])
    if rc == 0:
        return vm_bug_on_page(mm, page, "page_ref_count(page) == 0",
                              "include/linux/mm.h:410")
    if rc > 1:
        return None                      # only the reference goes; nothing is checked
    head = mm.PageHead(page)
    if mm.PageTail(page):
        return vm_bug_on_page(mm, page, "PageTail(page)", "mm/page_alloc.c:1030")
    if head and mm.compound_order(page) != order:
        return vm_bug_on_page(mm, page, "compound && compound_order(page) != order",
                              "mm/page_alloc.c:1031")
    nr = min(1 << order, mm.nr_frames - page)
    if nr > 1:
        # the tail pages are clean unless one of them is not: look at them all at once
        sl = slice(page + 1, page + nr)
        if not ((mm._mapcount[sl] != -1).any() or mm.mapping[sl].any()
                or mm._refcount[sl].any()
                or (mm.flags[sl] & np.uint64(PAGE_FLAGS_CHECK_AT_FREE)).any()):
            nr = 1
    for i in range(nr):
        pfn = page + i
        count = mapping = None
        if i == 0:
            # the count is the one just dropped; PageAnon pages lose their mapping first
            count = 0
            mapping = int(mm.mapping[pfn])
            if mapping & PAGE_MAPPING_ANON:
                mapping = 0
        reason, bad_flags = free_pages_check_reason(mm, pfn, count, mapping)
        if reason:
            lines = dump_page_lines(mm, pfn, reason, count, mapping)
            bad_flags &= int(mm.f[pfn])
            if bad_flags:
                lines.append(f"bad because of flags: {_pflags(bad_flags)}")
            return KernelBug("\n".join([f"BUG: Bad page state in process "
                                        f"{m.current_comm()}  pfn:{pfn:05x}"] + lines))
    if order and page & ((1 << order) - 1):
        return vm_bug_on_page(mm, page, "page_idx & ((1 << order) - 1)",
                              "mm/page_alloc.c:708")
    return None
