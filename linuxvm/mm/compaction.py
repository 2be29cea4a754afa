"""Memory compaction (mm/compaction.c): make high-order blocks free by migrating
movable pages from the bottom of a zone into free pages taken from its top.

The migrate scanner walks a zone upwards a pageblock at a time, isolating LRU pages
(isolate_migratepages_block); the free scanner walks downwards from the zone's end,
taking free buddy blocks and splitting them to order-0 pages
(isolate_freepages_block). migrate_pages (mm/migrate.py) moves each isolated page
into a free one, until the scanners meet or the requested order is free
(compact_finished). Pageblocks where a scanner found nothing get their PB_migrate_skip
bit, and the zone remembers where the scanners stopped, until the bits are cleared
(__reset_isolation_suitable). A sync compaction that covers the whole zone without
success defers further attempts at that order (defer_compaction).

Callers: the allocator's slow path (try_to_compact_pages, through ``pgdat.compaction``),
kcompactd after kswapd has balanced the node for a high order (wakeup_kcompactd), and
writes to ``vm.compact_memory`` (compact_nodes).

The model runs one thing at a time: nothing else contends for the zone or LRU locks
and nothing needs the CPU, so compaction never stops early for contention
(cc->contended stays COMPACT_CONTENDED_NONE), and kcompactd runs to its end when it is
woken, as the model's kswapd does.
"""

from ..errors import KernelBug
from ..include.compaction import (COMPACT_DEFERRED, COMPACT_SKIPPED, COMPACT_CONTINUE,
                                  COMPACT_PARTIAL, COMPACT_COMPLETE, COMPACT_NO_SUITABLE_PAGE,
                                  COMPACT_NOT_SUITABLE_ZONE, COMPACT_CONTENDED,
                                  COMPACT_CONTENDED_NONE, MIGRATE_ASYNC, MIGRATE_SYNC_LIGHT,
                                  MIGRATE_SYNC)
from ..include.vm_event_item import (VM_EVENT, NR_ISOLATED_ANON, NR_ISOLATED_FILE,
                                     NR_ACTIVE_ANON, NR_INACTIVE_ANON, NR_ACTIVE_FILE,
                                     NR_INACTIVE_FILE)
from . import gfp as G
from .bootmem import pfn_valid
from .migrate import (migrate_pages, putback_movable_pages, MR_COMPACTION,
                      page_mapping_or_swap, page_is_file_cache)
from .mmzone import MAX_ORDER, pageblock_order, pageblock_nr_pages, MIGRATE_MOVABLE
from .page import PG_lru, PAGE_BUDDY_MAPCOUNT_VALUE
from .page_alloc import (split_free_page, zone_watermark_ok, find_suitable_fallback,
                         drain_pages_zone, __free_pages)
from .swap import del_page_from_lru_list, page_lru, lru_add_drain_cpu, lru_add_drain_all
from .vmscan.reclaim import (__isolate_lru_page, ISOLATE_UNEVICTABLE, ISOLATE_ASYNC_MIGRATE,
                             SWAP_CLUSTER_MAX)
from .vmstat import fragmentation_index

COMPACT_MAX_DEFER_SHIFT = 6
COMPACT_CLUSTER_MAX = SWAP_CLUSTER_MAX
# isolate_migrate_t
ISOLATE_ABORT, ISOLATE_NONE, ISOLATE_SUCCESS = range(3)

_BUDDY = PAGE_BUDDY_MAPCOUNT_VALUE


class CompactControl:
    """struct compact_control: one compaction run over one zone at a time.

    ``freepages`` and ``migratepages`` are the isolated pages, most recent last (the
    kernel's list_add puts them at the head; the model pops and walks from the end)."""

    __slots__ = ("freepages", "migratepages", "nr_freepages", "nr_migratepages",
                 "free_pfn", "migrate_pfn", "last_migrated_pfn", "mode",
                 "ignore_skip_hint", "direct_compaction", "order", "gfp_mask",
                 "alloc_flags", "classzone_idx", "zone", "contended")

    def __init__(self, order: int, mode: int, gfp_mask: int = 0, alloc_flags: int = 0,
                 classzone_idx: int = 0, ignore_skip_hint: bool = False,
                 direct_compaction: bool = False):
        self.freepages = []
        self.migratepages = []
        self.nr_freepages = 0
        self.nr_migratepages = 0
        self.free_pfn = 0
        self.migrate_pfn = 0
        self.last_migrated_pfn = 0
        self.mode = mode
        self.ignore_skip_hint = ignore_skip_hint
        self.direct_compaction = direct_compaction
        self.order = order
        self.gfp_mask = gfp_mask
        self.alloc_flags = alloc_flags
        self.classzone_idx = classzone_idx
        self.zone = None
        self.contended = COMPACT_CONTENDED_NONE


def _event(zone, name: str, n: int = 1) -> None:
    if n:
        zone.zone_pgdat.vm_events[VM_EVENT[name]] += n


def _trace_defer(tp, zone, order: int) -> None:
    """Fire one of the mm_compaction_defer_template events for ``zone``."""
    tp(0, zone.idx, order, zone.compact_considered, zone.compact_defer_shift,
       zone.compact_order_failed)


# --- deferral ---------------------------------------------------------------------------

def defer_compaction(zone, order: int) -> None:
    """Compaction at ``order`` failed: skip the next 2^compact_defer_shift attempts
    (up to 64) at this order or above (mm/compaction.c defer_compaction)."""
    zone.compact_considered = 0
    zone.compact_defer_shift += 1
    if order < zone.compact_order_failed:
        zone.compact_order_failed = order
    if zone.compact_defer_shift > COMPACT_MAX_DEFER_SHIFT:
        zone.compact_defer_shift = COMPACT_MAX_DEFER_SHIFT
    tp = zone.zone_pgdat.machine.tp.mm_compaction_defer_compaction
    if tp is not None:
        _trace_defer(tp, zone, order)


def compaction_deferred(zone, order: int) -> bool:
    """Whether this attempt is to be skipped; each call counts one attempt
    (mm/compaction.c compaction_deferred)."""
    defer_limit = 1 << zone.compact_defer_shift
    if order < zone.compact_order_failed:
        return False
    zone.compact_considered += 1
    if zone.compact_considered > defer_limit:
        zone.compact_considered = defer_limit
    if zone.compact_considered >= defer_limit:
        return False
    tp = zone.zone_pgdat.machine.tp.mm_compaction_deferred
    if tp is not None:
        _trace_defer(tp, zone, order)
    return True


def compaction_defer_reset(zone, order: int, alloc_success: bool) -> None:
    """Compaction is expected to (or did) succeed at ``order``: forget the deferral,
    entirely when an allocation succeeded (mm/compaction.c compaction_defer_reset)."""
    if alloc_success:
        zone.compact_considered = 0
        zone.compact_defer_shift = 0
    if order >= zone.compact_order_failed:
        zone.compact_order_failed = order + 1
    tp = zone.zone_pgdat.machine.tp.mm_compaction_defer_reset
    if tp is not None:
        _trace_defer(tp, zone, order)


def compaction_restarting(zone, order: int) -> bool:
    """The deferral reached its limit and ran out: compaction starts again from scratch
    (mm/compaction.c compaction_restarting)."""
    if order < zone.compact_order_failed:
        return False
    return (zone.compact_defer_shift == COMPACT_MAX_DEFER_SHIFT
            and zone.compact_considered >= 1 << zone.compact_defer_shift)


# --- the skip hints ------------------------------------------------------------------

def isolation_suitable(cc, pfn: int) -> bool:
    if cc.ignore_skip_hint:
        return True
    return not cc.zone.pb.get_pageblock_skip(pfn)


def reset_cached_positions(zone) -> None:
    zone.compact_cached_migrate_pfn[0] = zone.zone_start_pfn
    zone.compact_cached_migrate_pfn[1] = zone.zone_start_pfn
    zone.compact_cached_free_pfn = (zone.zone_end_pfn - 1) & ~(pageblock_nr_pages - 1)


def __reset_isolation_suitable(zone) -> None:
    """Clear every pageblock's skip bit and restart both scanners at the zone's ends
    (mm/compaction.c __reset_isolation_suitable)."""
    m = zone.zone_pgdat.machine
    zone.compact_blockskip_flush = False
    for pfn in range(zone.zone_start_pfn, zone.zone_end_pfn, pageblock_nr_pages):
        if not pfn_valid(m, pfn):
            continue
        if m.page_zone(pfn) is not zone:
            continue
        zone.pb.clear_pageblock_skip(pfn)
    reset_cached_positions(zone)


def reset_isolation_suitable(pgdat) -> None:
    """kswapd, about to sleep: clear the skip bits of zones a direct compaction finished
    (mm/compaction.c reset_isolation_suitable)."""
    for zone in pgdat.node_zones:
        if zone.populated_zone() and zone.compact_blockskip_flush:
            __reset_isolation_suitable(zone)


def update_pageblock_skip(cc, pfn, nr_isolated: int, migrate_scanner: bool) -> None:
    """A scanner isolated nothing in the pageblock of ``pfn``: set its skip bit and move
    the cached scanner position past it (mm/compaction.c update_pageblock_skip)."""
    zone = cc.zone
    if cc.ignore_skip_hint or pfn is None or nr_isolated:
        return
    zone.pb.set_pageblock_skip(pfn)
    if migrate_scanner:
        if pfn > zone.compact_cached_migrate_pfn[0]:
            zone.compact_cached_migrate_pfn[0] = pfn
        if cc.mode != MIGRATE_ASYNC and pfn > zone.compact_cached_migrate_pfn[1]:
            zone.compact_cached_migrate_pfn[1] = pfn
    elif pfn < zone.compact_cached_free_pfn:
        zone.compact_cached_free_pfn = pfn


def pageblock_pfn_to_page(zone, start_pfn: int, end_pfn: int):
    """``start_pfn`` when [start_pfn, end_pfn) is valid memory wholly in ``zone``, else
    None (mm/compaction.c pageblock_pfn_to_page)."""
    m = zone.zone_pgdat.machine
    end_pfn -= 1
    if not pfn_valid(m, start_pfn) or not pfn_valid(m, end_pfn):
        return None
    if not (zone.zone_spans_pfn(start_pfn) and zone.zone_spans_pfn(end_pfn)):
        return None
    if m.page_zone(start_pfn) is not zone or m.page_zone(end_pfn) is not zone:
        return None
    return start_pfn


def _compound_order(mm, pfn: int) -> int:
    return mm.compound_order(pfn) if mm.PageHead(pfn) else 0


# --- the free scanner -----------------------------------------------------------------

def isolate_freepages_block(cc, start_pfn: int, end_pfn: int, freelist: list,
                            strict: bool) -> tuple:
    """Take the free buddy blocks in [start_pfn, end_pfn), split to order-0 pages, onto
    ``freelist``; stop early once there are as many free pages as pages to migrate
    (unless ``strict``). (pages isolated, pfn reached) (mm/compaction.c
    isolate_freepages_block)."""
    zone = cc.zone
    mm = zone.mem_map
    nr_scanned = total_isolated = 0
    valid_page = None
    blockpfn = start_pfn
    while blockpfn < end_pfn:
        nr_scanned += 1
        if valid_page is None:
            valid_page = blockpfn
        isolated = 0
        if mm.PageHead(blockpfn) or mm.PageTail(blockpfn):
            comp_order = _compound_order(mm, blockpfn)
            if comp_order < MAX_ORDER:
                blockpfn += (1 << comp_order) - 1
        elif mm.mc[blockpfn] == _BUDDY:
            isolated = split_free_page(zone, blockpfn)
            total_isolated += isolated
            freelist.extend(range(blockpfn, blockpfn + isolated))
        if isolated:
            cc.nr_freepages += isolated
            if not strict and cc.nr_migratepages <= cc.nr_freepages:
                blockpfn += isolated
                break
            blockpfn += isolated
            continue
        if strict:                                        # isolate_fail
            break
        blockpfn += 1
    if blockpfn > end_pfn:
        blockpfn = end_pfn
    tp = zone.zone_pgdat.machine.tp.mm_compaction_isolate_freepages
    if tp is not None:
        tp(start_pfn, blockpfn, nr_scanned, total_isolated)
    if strict and blockpfn < end_pfn:
        total_isolated = 0
    if blockpfn == end_pfn:
        update_pageblock_skip(cc, valid_page, total_isolated, False)
    _event(zone, "compact_free_scanned", nr_scanned)
    _event(zone, "compact_isolated", total_isolated)
    return total_isolated, blockpfn


def migrate_async_suitable(migratetype: int) -> bool:
    return migratetype == MIGRATE_MOVABLE              # (no CMA)


def suitable_migration_target(zone, pfn: int) -> bool:
    """A pageblock the free scanner may take pages from: MOVABLE, and not one free
    block of a whole pageblock or more (mm/compaction.c suitable_migration_target)."""
    mm = zone.mem_map
    if mm.mc[pfn] == _BUDDY and mm.priv[pfn] >= pageblock_order:
        return False
    return migrate_async_suitable(zone.pb.get_pageblock_migratetype(pfn))


def compact_scanners_met(cc) -> bool:
    return (cc.free_pfn >> pageblock_order) <= (cc.migrate_pfn >> pageblock_order)


def isolate_freepages(cc) -> None:
    """Refill cc.freepages from pageblocks below cc.free_pfn, down to the migrate
    scanner (mm/compaction.c isolate_freepages)."""
    zone = cc.zone
    isolate_start_pfn = cc.free_pfn
    block_start_pfn = cc.free_pfn & ~(pageblock_nr_pages - 1)
    block_end_pfn = min(block_start_pfn + pageblock_nr_pages, zone.zone_end_pfn)
    low_pfn = (cc.migrate_pfn + 1 + pageblock_nr_pages - 1) & ~(pageblock_nr_pages - 1)
    while block_start_pfn >= low_pfn:
        if (pageblock_pfn_to_page(zone, block_start_pfn, block_end_pfn) is not None
                and suitable_migration_target(zone, block_start_pfn)
                and isolation_suitable(cc, block_start_pfn)):
            _, isolate_start_pfn = isolate_freepages_block(cc, isolate_start_pfn,
                                                           block_end_pfn, cc.freepages,
                                                           False)
            if cc.nr_freepages >= cc.nr_migratepages or cc.contended:
                if isolate_start_pfn >= block_end_pfn:
                    # the block is done: start the next search below it
                    isolate_start_pfn = block_start_pfn - pageblock_nr_pages
                break
        block_end_pfn = block_start_pfn
        block_start_pfn -= pageblock_nr_pages
        isolate_start_pfn = block_start_pfn
    cc.free_pfn = isolate_start_pfn


def compaction_alloc(m, migratepage: int, cc) -> int:
    """migrate_pages' new_page_t: a free page for the next migration, or None
    (mm/compaction.c compaction_alloc)."""
    if not cc.freepages:
        if not cc.contended:
            isolate_freepages(cc)
        if not cc.freepages:
            return None
    cc.nr_freepages -= 1
    return cc.freepages.pop()


def compaction_free(m, page: int, cc) -> None:
    """migrate_pages' free_page_t: an unused target goes back on the list."""
    cc.freepages.append(page)
    cc.nr_freepages += 1


def release_freepages(m, freelist: list) -> int:
    """Free the isolated pages that were not used; the highest pfn among them
    (mm/compaction.c release_freepages)."""
    high_pfn = 0
    for pfn in reversed(freelist):
        __free_pages(m.pgdat, pfn, 0, m.current_cpu)          # __free_page
        high_pfn = max(high_pfn, pfn)
    freelist.clear()
    return high_pfn


# --- the migrate scanner -----------------------------------------------------------------

def acct_isolated(zone, cc) -> None:
    """Count the isolated pages in NR_ISOLATED_ANON/FILE (mm/compaction.c)."""
    m = zone.zone_pgdat.machine
    count = [0, 0]
    for pfn in cc.migratepages:
        count[page_is_file_cache(m, pfn)] += 1
    zone.vm_stat[NR_ISOLATED_ANON] += count[0]
    zone.vm_stat[NR_ISOLATED_FILE] += count[1]


def too_many_isolated(zone) -> bool:
    st = zone.vm_stat
    inactive = st[NR_INACTIVE_FILE] + st[NR_INACTIVE_ANON]
    active = st[NR_ACTIVE_FILE] + st[NR_ACTIVE_ANON]
    isolated = st[NR_ISOLATED_FILE] + st[NR_ISOLATED_ANON]
    return isolated > (inactive + active) // 2


def isolate_migratepages_block(cc, low_pfn: int, end_pfn: int, isolate_mode: int) -> int:
    """Isolate up to COMPACT_CLUSTER_MAX LRU pages of [low_pfn, end_pfn) onto
    cc.migratepages, skipping free blocks, compound pages, pages off the LRU and
    anonymous pages someone pins; the pfn reached, or 0 to abort
    (mm/compaction.c isolate_migratepages_block)."""
    zone = cc.zone
    m = zone.zone_pgdat.machine
    mm = zone.mem_map
    nr_scanned = nr_isolated = 0
    valid_page = None
    start_pfn = low_pfn
    if too_many_isolated(zone):
        # in 4.6 a sync compaction waits for other tasks to put pages back; in the model
        # nobody else holds isolated pages, so neither mode can wait for them
        return 0
    while low_pfn < end_pfn:
        nr_scanned += 1
        page = low_pfn
        if valid_page is None:
            valid_page = page
        if mm.mc[page] == _BUDDY:
            freepage_order = int(mm.priv[page])
            if 0 < freepage_order < MAX_ORDER:
                low_pfn += (1 << freepage_order) - 1
            low_pfn += 1
            continue
        is_lru = bool(mm.f[page] & (1 << PG_lru))
        if mm.PageHead(page) or mm.PageTail(page):
            comp_order = _compound_order(mm, page)
            if comp_order < MAX_ORDER:
                low_pfn += (1 << comp_order) - 1
            low_pfn += 1
            continue
        if not is_lru:
            low_pfn += 1
            continue
        # an anonymous page someone pins (get_user_pages) cannot move: skip it early
        if page_mapping_or_swap(m, page) is None and mm.rc[page] > mm.mc[page] + 1:
            low_pfn += 1
            continue
        if __isolate_lru_page(m, page, isolate_mode) != 0:
            low_pfn += 1
            continue
        del_page_from_lru_list(m, page, page_lru(mm, page))
        cc.migratepages.append(page)                     # isolate_success
        cc.nr_migratepages += 1
        nr_isolated += 1
        low_pfn += 1
        if cc.nr_migratepages == COMPACT_CLUSTER_MAX:
            break
    if low_pfn > end_pfn:
        low_pfn = end_pfn
    if low_pfn == end_pfn:
        update_pageblock_skip(cc, valid_page, nr_isolated, True)
    tp = m.tp.mm_compaction_isolate_migratepages
    if tp is not None:
        tp(start_pfn, low_pfn, nr_scanned, nr_isolated)
    _event(zone, "compact_migrate_scanned", nr_scanned)
    _event(zone, "compact_isolated", nr_isolated)
    return low_pfn


def isolate_migratepages(zone, cc) -> int:
    """Isolate pages from the next suitable pageblock at or after cc.migrate_pfn, below
    the free scanner (mm/compaction.c isolate_migratepages)."""
    m = zone.zone_pgdat.machine
    isolate_mode = ((ISOLATE_UNEVICTABLE if m.sysctl["vm.compact_unevictable_allowed"]
                     else 0)
                    | (ISOLATE_ASYNC_MIGRATE if cc.mode == MIGRATE_ASYNC else 0))
    low_pfn = cc.migrate_pfn
    block_start_pfn = max(cc.migrate_pfn & ~(pageblock_nr_pages - 1), zone.zone_start_pfn)
    block_end_pfn = (low_pfn + 1 + pageblock_nr_pages - 1) & ~(pageblock_nr_pages - 1)
    while block_end_pfn <= cc.free_pfn:
        if (pageblock_pfn_to_page(zone, block_start_pfn, block_end_pfn) is not None
                and isolation_suitable(cc, block_start_pfn)
                and not (cc.mode == MIGRATE_ASYNC and not migrate_async_suitable(
                    zone.pb.get_pageblock_migratetype(block_start_pfn)))):
            isolate_start_pfn = low_pfn
            low_pfn = isolate_migratepages_block(cc, low_pfn, block_end_pfn, isolate_mode)
            if not low_pfn or cc.contended:
                acct_isolated(zone, cc)
                return ISOLATE_ABORT
            if cc.nr_migratepages and not cc.last_migrated_pfn:
                cc.last_migrated_pfn = isolate_start_pfn
            break
        low_pfn = block_end_pfn
        block_start_pfn = block_end_pfn
        block_end_pfn += pageblock_nr_pages
    acct_isolated(zone, cc)
    cc.migrate_pfn = low_pfn
    return ISOLATE_SUCCESS if cc.nr_migratepages else ISOLATE_NONE


# --- when to compact and when to stop -------------------------------------------------

def is_via_compact_memory(order: int) -> bool:
    return order == -1


def __compact_finished(zone, cc, migratetype: int) -> int:
    """COMPACT_COMPLETE when the scanners met, COMPACT_PARTIAL when a block of the order
    is free above the low watermark, else keep going (mm/compaction.c)."""
    if cc.contended:
        return COMPACT_CONTENDED
    if compact_scanners_met(cc):
        reset_cached_positions(zone)
        if cc.direct_compaction:
            zone.compact_blockskip_flush = True        # kswapd clears the skip bits
        return COMPACT_COMPLETE
    if is_via_compact_memory(cc.order):
        return COMPACT_CONTINUE
    if not zone_watermark_ok(zone, cc.order, zone.low_wmark_pages(), cc.classzone_idx,
                             cc.alloc_flags):
        return COMPACT_CONTINUE
    mm = zone.mem_map
    for order in range(cc.order, MAX_ORDER):
        area = zone.free_area[order]
        if not mm.list_empty(area.free_list[migratetype]):
            return COMPACT_PARTIAL
        if find_suitable_fallback(zone, order, migratetype, True)[0] != -1:
            return COMPACT_PARTIAL
    return COMPACT_NO_SUITABLE_PAGE


def compact_finished(zone, cc, migratetype: int) -> int:
    ret = __compact_finished(zone, cc, migratetype)
    tp = zone.zone_pgdat.machine.tp.mm_compaction_finished
    if tp is not None:
        tp(0, zone.idx, cc.order, ret)
    return COMPACT_CONTINUE if ret == COMPACT_NO_SUITABLE_PAGE else ret


def __compaction_suitable(zone, order: int, alloc_flags: int, classzone_idx: int) -> int:
    """Whether compacting ``zone`` for ``order`` is worth it: COMPACT_PARTIAL when the
    request would succeed now, COMPACT_SKIPPED when the zone lacks the order-0 pages to
    compact with (low watermark plus 2 << order), COMPACT_NOT_SUITABLE_ZONE when a
    failure would be for lack of memory (fragmentation index at or below
    vm.extfrag_threshold), else COMPACT_CONTINUE (mm/compaction.c)."""
    if is_via_compact_memory(order):
        return COMPACT_CONTINUE
    watermark = zone.low_wmark_pages()
    if zone_watermark_ok(zone, order, watermark, classzone_idx, alloc_flags):
        return COMPACT_PARTIAL
    watermark += 2 << order
    if not zone_watermark_ok(zone, 0, watermark, classzone_idx, alloc_flags):
        return COMPACT_SKIPPED
    fragindex = fragmentation_index(zone, order)
    threshold = zone.zone_pgdat.machine.sysctl["vm.extfrag_threshold"]
    if 0 <= fragindex <= threshold:
        return COMPACT_NOT_SUITABLE_ZONE
    return COMPACT_CONTINUE


def compaction_suitable(zone, order: int, alloc_flags: int, classzone_idx: int) -> int:
    """__compaction_suitable with COMPACT_NOT_SUITABLE_ZONE reported as COMPACT_SKIPPED
    (mm/compaction.c compaction_suitable)."""
    ret = __compaction_suitable(zone, order, alloc_flags, classzone_idx)
    tp = zone.zone_pgdat.machine.tp.mm_compaction_suitable
    if tp is not None:
        tp(0, zone.idx, order, ret)
    return COMPACT_SKIPPED if ret == COMPACT_NOT_SUITABLE_ZONE else ret


# --- a compaction run ---------------------------------------------------------------------

def compact_zone(zone, cc) -> int:
    """Compact one zone: isolate and migrate a cluster of pages at a time until
    compact_finished says stop; unused free pages go back (mm/compaction.c
    compact_zone). COMPACT_SKIPPED, COMPACT_PARTIAL or COMPACT_COMPLETE."""
    m = zone.zone_pgdat.machine
    start_pfn = zone.zone_start_pfn
    end_pfn = zone.zone_end_pfn
    migratetype = G.gfpflags_to_migratetype(cc.gfp_mask)
    sync = int(cc.mode != MIGRATE_ASYNC)
    cc.zone = zone
    ret = compaction_suitable(zone, cc.order, cc.alloc_flags, cc.classzone_idx)
    if ret in (COMPACT_PARTIAL, COMPACT_SKIPPED):
        return ret
    if compaction_restarting(zone, cc.order):
        __reset_isolation_suitable(zone)
    cc.migrate_pfn = zone.compact_cached_migrate_pfn[sync]
    cc.free_pfn = zone.compact_cached_free_pfn
    if cc.free_pfn < start_pfn or cc.free_pfn >= end_pfn:
        cc.free_pfn = (end_pfn - 1) & ~(pageblock_nr_pages - 1)
        zone.compact_cached_free_pfn = cc.free_pfn
    if cc.migrate_pfn < start_pfn or cc.migrate_pfn >= end_pfn:
        cc.migrate_pfn = start_pfn
        zone.compact_cached_migrate_pfn[0] = cc.migrate_pfn
        zone.compact_cached_migrate_pfn[1] = cc.migrate_pfn
    cc.last_migrated_pfn = 0
    tp = m.tp.mm_compaction_begin
    if tp is not None:
        tp(start_pfn, cc.migrate_pfn, cc.free_pfn, end_pfn, sync)
    lru_add_drain_cpu(m, m.current_cpu)                  # migrate_prep_local
    while True:
        ret = compact_finished(zone, cc, migratetype)
        if ret != COMPACT_CONTINUE:
            break
        isolated = isolate_migratepages(zone, cc)
        if isolated == ISOLATE_ABORT:
            ret = COMPACT_CONTENDED
            putback_movable_pages(m, cc.migratepages)
            cc.nr_migratepages = 0
            break
        if isolated == ISOLATE_SUCCESS:
            err = migrate_pages(m, cc.migratepages, compaction_alloc, compaction_free, cc,
                                cc.mode, MR_COMPACTION)
            tp = m.tp.mm_compaction_migratepages
            if tp is not None:
                nr_failed = err if err >= 0 else len(cc.migratepages)
                tp(cc.nr_migratepages - nr_failed, nr_failed)
            cc.nr_migratepages = 0
            if err:
                putback_movable_pages(m, cc.migratepages)
                if err < 0 and not compact_scanners_met(cc):
                    # -ENOMEM: no free pages left where the free scanner may look
                    ret = COMPACT_CONTENDED
                    break
        # check_drain: the migrate scanner has left the order-aligned block where it
        # last migrated, so pages freed there may be waiting on this CPU's lists
        if cc.order > 0 and cc.last_migrated_pfn:
            current_block_start = cc.migrate_pfn & ~((1 << cc.order) - 1)
            if cc.last_migrated_pfn < current_block_start:
                lru_add_drain_cpu(m, m.current_cpu)
                drain_pages_zone(zone, m.current_cpu)
                cc.last_migrated_pfn = 0
    if cc.nr_freepages > 0:
        free_pfn = release_freepages(m, cc.freepages)
        cc.nr_freepages = 0
        free_pfn &= ~(pageblock_nr_pages - 1)
        if free_pfn > zone.compact_cached_free_pfn:
            zone.compact_cached_free_pfn = free_pfn
    tp = m.tp.mm_compaction_end
    if tp is not None:
        tp(start_pfn, cc.migrate_pfn, cc.free_pfn, end_pfn, sync, ret)
    return COMPACT_PARTIAL if ret == COMPACT_CONTENDED else ret


def compact_zone_order(zone, order: int, gfp_mask: int, mode: int, alloc_flags: int,
                       classzone_idx: int) -> tuple:
    """A direct compaction of one zone: (result, contended) (mm/compaction.c)."""
    cc = CompactControl(order, mode, gfp_mask, alloc_flags, classzone_idx,
                        direct_compaction=True)
    ret = compact_zone(zone, cc)
    if cc.freepages or cc.migratepages:
        raise_leftover(cc)
    return ret, cc.contended


def raise_leftover(cc):
    from_ = "freepages" if cc.freepages else "migratepages"
    raise KernelBug(f"VM_BUG_ON(!list_empty(&cc.{from_})): compaction left "
                    f"{len(getattr(cc, from_))} pages isolated")


def try_to_compact_pages(pgdat, gfp_mask: int, order: int, alloc_flags: int, ac,
                         mode: int) -> tuple:
    """Direct compaction for an allocation: compact each zone of the zonelist that is not
    deferred until one could serve the request; defer the zones a sync run covered in
    vain. (result, contended) (mm/compaction.c try_to_compact_pages)."""
    if not order or not gfp_mask & G.__GFP_FS or not gfp_mask & G.__GFP_IO:
        return COMPACT_SKIPPED, COMPACT_CONTENDED_NONE
    tp = pgdat.machine.tp.mm_compaction_try_to_compact_pages
    if tp is not None:
        tp(order, gfp_mask, mode)
    rc = COMPACT_DEFERRED
    for zone in ac.zones:
        if compaction_deferred(zone, order):
            continue
        status, _ = compact_zone_order(zone, order, gfp_mask, mode, alloc_flags,
                                       ac.classzone_idx)
        rc = max(status, rc)
        if zone_watermark_ok(zone, order, zone.low_wmark_pages(), ac.classzone_idx,
                             alloc_flags):
            compaction_defer_reset(zone, order, False)
            break
        if mode != MIGRATE_ASYNC and status == COMPACT_COMPLETE:
            defer_compaction(zone, order)
    return rc, COMPACT_CONTENDED_NONE


def __compact_pgdat(pgdat, cc) -> None:
    """Compact every populated zone of the node (mm/compaction.c __compact_pgdat)."""
    for zone in pgdat.node_zones:
        if not zone.populated_zone():
            continue
        cc.nr_freepages = cc.nr_migratepages = 0
        cc.freepages = []
        cc.migratepages = []
        if is_via_compact_memory(cc.order):
            __reset_isolation_suitable(zone)
        if is_via_compact_memory(cc.order) or not compaction_deferred(zone, cc.order):
            compact_zone(zone, cc)
        if cc.freepages or cc.migratepages:
            raise_leftover(cc)
        if is_via_compact_memory(cc.order):
            continue
        if zone_watermark_ok(zone, cc.order, zone.low_wmark_pages(), 0, 0):
            compaction_defer_reset(zone, cc.order, False)


def compact_pgdat(pgdat, order: int) -> None:
    """An async compaction of the node for ``order`` (mm/compaction.c compact_pgdat)."""
    if not order:
        return
    __compact_pgdat(pgdat, CompactControl(order, MIGRATE_ASYNC))


def compact_node(pgdat) -> None:
    """A full sync compaction of every zone of the node, skip hints ignored
    (mm/compaction.c compact_node)."""
    __compact_pgdat(pgdat, CompactControl(-1, MIGRATE_SYNC, ignore_skip_hint=True))


def compact_nodes(m) -> None:
    """What a write to /proc/sys/vm/compact_memory does (mm/compaction.c
    sysctl_compaction_handler → compact_nodes)."""
    lru_add_drain_all(m)
    compact_node(m.pgdat)


# --- kcompactd -----------------------------------------------------------------------------

def kcompactd_node_suitable(pgdat) -> bool:
    """A zone up to the requested class zone where compaction would go ahead
    (mm/compaction.c kcompactd_node_suitable)."""
    classzone_idx = pgdat.kcompactd_classzone_idx
    for zone in pgdat.node_zones[:classzone_idx + 1]:
        if not zone.populated_zone():
            continue
        if compaction_suitable(zone, pgdat.kcompactd_max_order, 0,
                               classzone_idx) == COMPACT_CONTINUE:
            return True
    return False


def kcompactd_do_work(pgdat) -> None:
    """kcompactd's round: a sync-light compaction, skip hints ignored, of each zone up to
    the class zone where compaction is not deferred and would go ahead
    (mm/compaction.c kcompactd_do_work)."""
    cc = CompactControl(pgdat.kcompactd_max_order, MIGRATE_SYNC_LIGHT,
                        classzone_idx=pgdat.kcompactd_classzone_idx, ignore_skip_hint=True)
    _event(pgdat.node_zones[0], "compact_daemon_wake")
    tp = pgdat.machine.tp.mm_compaction_kcompactd_wake
    if tp is not None:
        tp(pgdat.node_id, cc.order, cc.classzone_idx)
    for zoneid in range(cc.classzone_idx + 1):
        zone = pgdat.node_zones[zoneid]
        if not zone.populated_zone():
            continue
        if compaction_deferred(zone, cc.order):
            continue
        if compaction_suitable(zone, cc.order, 0, zoneid) != COMPACT_CONTINUE:
            continue
        cc.nr_freepages = cc.nr_migratepages = 0
        cc.freepages = []
        cc.migratepages = []
        status = compact_zone(zone, cc)
        if zone_watermark_ok(zone, cc.order, zone.low_wmark_pages(), cc.classzone_idx, 0):
            compaction_defer_reset(zone, cc.order, False)
        elif status == COMPACT_COMPLETE:
            defer_compaction(zone, cc.order)
        if cc.freepages or cc.migratepages:
            raise_leftover(cc)
    if pgdat.kcompactd_max_order <= cc.order:
        pgdat.kcompactd_max_order = 0
    if pgdat.kcompactd_classzone_idx >= cc.classzone_idx:
        pgdat.kcompactd_classzone_idx = pgdat.nr_zones - 1


def wakeup_kcompactd(pgdat, order: int, classzone_idx: int) -> None:
    """kswapd is going to sleep after balancing for a high order: wake kcompactd if a
    zone is worth compacting (mm/compaction.c wakeup_kcompactd). The model's kcompactd
    runs its round at once, as a kernel thread (no current task), and sleeps again."""
    if not order:
        return
    if pgdat.kcompactd_max_order < order:
        pgdat.kcompactd_max_order = order
    if pgdat.kcompactd_classzone_idx > classzone_idx:
        pgdat.kcompactd_classzone_idx = classzone_idx
    if not kcompactd_node_suitable(pgdat):
        return
    m = pgdat.machine
    tp = m.tp.mm_compaction_wakeup_kcompactd
    if tp is not None:
        tp(pgdat.node_id, order, classzone_idx)
    saved = m.current
    m.current = None
    try:
        kcompactd_do_work(pgdat)
        tp = m.tp.mm_compaction_kcompactd_sleep
        if tp is not None:
            tp(pgdat.node_id)
    finally:
        m.current = saved


def compaction_init(m) -> None:
    """Start kcompactd and give the allocator and kswapd their compaction entry points
    (kcompactd_init)."""
    pgdat = m.pgdat
    pgdat.kcompactd_max_order = 0
    pgdat.kcompactd_classzone_idx = pgdat.nr_zones - 1
    ops = pgdat.compaction
    ops.try_to_compact_pages = try_to_compact_pages
    ops.compaction_defer_reset = compaction_defer_reset
    ops.wakeup_kcompactd = wakeup_kcompactd
    ops.reset_isolation_suitable = reset_isolation_suitable
    ops.compaction_suitable = compaction_suitable
    ops.compaction_deferred = compaction_deferred
