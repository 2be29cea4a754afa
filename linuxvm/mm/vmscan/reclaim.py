"""Page reclaim (mm/vmscan.c): shrink_page_list, shrink_inactive_list and
shrink_active_list, get_scan_count's anon/file balance, shrink_zone_memcg, and direct
reclaim (try_to_free_pages).
"""

import errno

from .. import huge_memory
from ...errors import KernelBug
from ...include.mm import VM_LOCKED, VM_EXEC
from ...include.vm_event_item import (VM_EVENT, NR_LRU_BASE, NR_ACTIVE_FILE, NR_INACTIVE_FILE,
                                      NR_ACTIVE_ANON, NR_INACTIVE_ANON, NR_ISOLATED_ANON,
                                      NR_PAGES_SCANNED, NR_FREE_PAGES,
                                      NR_VMSCAN_WRITE, NR_VMSCAN_IMMEDIATE)
from .. import gfp as G
from .. import page_io, swap_state, swapfile
from ..filemap import __delete_from_page_cache
from ..vmstat import zone_reclaimable
from ..workingset import workingset_eviction
from ...include.compaction import COMPACT_PARTIAL, COMPACT_CONTINUE, COMPACT_SKIPPED
from ..mmzone import ZONE_DIRTY, ZONE_WRITEBACK, ZONE_CONGESTED, PAGE_ALLOC_COSTLY_ORDER
from ..page import (PG_lru, PG_active, PG_unevictable, PG_locked, PG_writeback,
                    PG_dirty, PG_referenced, PG_swapbacked, PG_swapcache, PG_reclaim,
                    PAGE_MAPPING_ANON)
from ..page_alloc import free_hot_cold_page, zone_watermark_ok, MAX_IDLE_RETRIES
from ..fs_types import AOP_WRITEPAGE_ACTIVATE
from ..page_writeback import page_mapping, clear_page_dirty_for_io
from ..rmap import (page_referenced, try_to_unmap, page_mapped, SWAP_SUCCESS, SWAP_AGAIN, SWAP_FAIL,
                    SWAP_MLOCK, SWAP_LZFREE, TTU_UNMAP, TTU_BATCH_FLUSH, TTU_LZFREE)
from ..swap import (page_lru, del_page_from_lru_list, add_page_to_lru_list, lru_add_drain,
                    page_is_file_cache, LRU_INACTIVE_ANON, LRU_ACTIVE_ANON, LRU_INACTIVE_FILE,
                    LRU_ACTIVE_FILE)
from . import page_evictable, putback_lru_page
from .shrinker import shrink_slab, ReclaimState
from ...include.trace.events.vmscan import trace_shrink_flags

_U64 = 0xFFFFFFFFFFFFFFFF

# -- page reclaim (mm/vmscan.c) ------------------------------------------------------------

SWAP_CLUSTER_MAX = 32
DEF_PRIORITY = 12
# isolate_mode_t
ISOLATE_CLEAN = 0x1
ISOLATE_UNMAPPED = 0x2
ISOLATE_ASYNC_MIGRATE = 0x4
ISOLATE_UNEVICTABLE = 0x8
# enum page_references
PAGEREF_RECLAIM, PAGEREF_RECLAIM_CLEAN, PAGEREF_KEEP, PAGEREF_ACTIVATE = range(4)
# pageout_t
PAGE_KEEP, PAGE_ACTIVATE, PAGE_SUCCESS, PAGE_CLEAN = range(4)
# enum scan_balance
SCAN_EQUAL, SCAN_FRACT, SCAN_ANON, SCAN_FILE = range(4)
EVICTABLE_LRUS = (LRU_INACTIVE_ANON, LRU_ACTIVE_ANON, LRU_INACTIVE_FILE, LRU_ACTIVE_FILE)


class ScanControl:
    """struct scan_control: what one reclaim pass is after and what it has done."""

    __slots__ = ("nr_to_reclaim", "gfp_mask", "order", "priority", "may_writepage",
                 "may_unmap", "may_swap", "nr_scanned", "nr_reclaimed", "kswapd",
                 "compaction_ready")

    def __init__(self, gfp_mask: int, order: int = 0, nr_to_reclaim: int = SWAP_CLUSTER_MAX,
                 may_writepage: bool = True, may_unmap: bool = True, may_swap: bool = True,
                 kswapd: bool = False):
        self.nr_to_reclaim = nr_to_reclaim
        self.gfp_mask = gfp_mask
        self.order = order
        self.priority = DEF_PRIORITY
        self.may_writepage = may_writepage
        self.may_unmap = may_unmap
        self.may_swap = may_swap
        self.nr_scanned = 0
        self.nr_reclaimed = 0
        self.kswapd = kswapd         # current_is_kswapd()
        self.compaction_ready = False   # a zone has enough free for compaction


def _zone_event(m, zone, name: str, n: int) -> None:
    """__count_zone_vm_events: the per-zone event counter ``name``_<zone>."""
    if n:
        m.pgdat.vm_events[VM_EVENT[f"{name}_{zone.name.lower()}"]] += n


def __isolate_lru_page(m, pfn: int, mode: int) -> int:
    """Take a page for reclaim if ``mode`` allows: 0, -EINVAL, or -EBUSY to rotate it
    (mm/vmscan.c __isolate_lru_page). The page stays on its list; the caller moves it."""
    mem_map = m.mem_map
    f = mem_map.f[pfn]
    if not f & (1 << PG_lru):
        return -errno.EINVAL
    if f & (1 << PG_unevictable) and not mode & ISOLATE_UNEVICTABLE:
        return -errno.EINVAL
    if mode & (ISOLATE_CLEAN | ISOLATE_ASYNC_MIGRATE):
        if f & (1 << PG_writeback):
            return -errno.EBUSY
        if f & (1 << PG_dirty):
            if mode & ISOLATE_CLEAN:
                return -errno.EBUSY
            # async migration cannot write a dirty page out first: only pages whose
            # mapping has a migratepage (anon, swap cache, shmem, ext4) may go
            if not f & (1 << PG_swapcache):
                mapping = page_mapping(m, pfn)
                if mapping is not None and (mapping.a_ops is None
                                            or mapping.a_ops.migratepage is None):
                    return -errno.EBUSY
    if mode & ISOLATE_UNMAPPED and page_mapped(m, pfn):
        return -errno.EBUSY
    if mem_map.rc[pfn] <= 0:
        return -errno.EBUSY
    mem_map.rc[pfn] += 1
    mem_map.f[pfn] = f & ~(1 << PG_lru) & _U64
    return 0


def isolate_lru_pages(m, nr_to_scan: int, lruvec, lru: int, mode: int):
    """Take up to ``nr_to_scan`` pages off the tail of one LRU list: (pages, scanned)
    (mm/vmscan.c isolate_lru_pages)."""
    mem_map = m.mem_map
    head = lruvec.lists[lru]
    taken = []
    scan = 0
    while scan < nr_to_scan and len(taken) < nr_to_scan:
        pfn = mem_map.prv[head]
        if pfn == head:
            break
        scan += 1
        if not mem_map.f[pfn] & (1 << PG_lru):
            raise KernelBug(f"VM_BUG_ON_PAGE(!PageLRU(page)): pfn {pfn:#x} on an LRU list")
        ret = __isolate_lru_page(m, pfn, mode)
        if ret == 0:
            del_page_from_lru_list(m, pfn, lru)
            taken.append(pfn)
        elif ret == -errno.EBUSY:
            mem_map.list_move(pfn, head)             # to the head: look again later
        else:
            raise KernelBug(f"isolate_lru_pages: pfn {pfn:#x} cannot be isolated")
    return taken, scan


def page_check_references(m, pfn: int, sc) -> int:
    """Reclaim, keep or activate a page by its recent accesses (mm/vmscan.c)."""
    f = m.mem_map.f
    referenced_ptes, vm_flags = page_referenced(m, pfn)
    referenced_page = bool(f[pfn] & (1 << PG_referenced))
    f[pfn] = f[pfn] & ~(1 << PG_referenced) & _U64
    if vm_flags & VM_LOCKED:
        return PAGEREF_RECLAIM
    if referenced_ptes:
        if f[pfn] & (1 << PG_swapbacked):
            return PAGEREF_ACTIVATE
        f[pfn] = f[pfn] | (1 << PG_referenced)
        if referenced_page or referenced_ptes > 1:
            return PAGEREF_ACTIVATE
        if vm_flags & VM_EXEC:
            return PAGEREF_ACTIVATE
        return PAGEREF_KEEP
    if referenced_page and not f[pfn] & (1 << PG_swapbacked):
        return PAGEREF_RECLAIM_CLEAN
    return PAGEREF_RECLAIM


def _is_page_cache_freeable(m, pfn: int) -> bool:
    # the isolation reference, the cache's, and nobody else's (no buffer heads here)
    return m.mem_map.rc[pfn] == 2


def pageout(m, pfn: int, writepage, sc) -> int:
    """Write a dirty page out through its mapping's writepage (mm/vmscan.c pageout)."""
    if not _is_page_cache_freeable(m, pfn):
        return PAGE_KEEP
    if writepage is None:
        return PAGE_ACTIVATE
    if not clear_page_dirty_for_io(m, pfn):
        return PAGE_CLEAN
    f = m.mem_map.f
    f[pfn] = f[pfn] | (1 << PG_reclaim)
    if writepage(m, pfn) == AOP_WRITEPAGE_ACTIVATE:
        f[pfn] = f[pfn] & ~(1 << PG_reclaim) & _U64        # kept, still locked
        return PAGE_ACTIVATE
    if not f[pfn] & (1 << PG_writeback):
        f[pfn] = f[pfn] & ~(1 << PG_reclaim) & _U64        # the write is done already
    tp = m.tp.mm_vmscan_writepage
    if tp is not None:
        tp(pfn, trace_shrink_flags(not f[pfn] & (1 << PG_swapbacked)))
    m.page_zone(pfn).vm_stat[NR_VMSCAN_WRITE] += 1
    return PAGE_SUCCESS


def _writepage_of(m, pfn: int):
    """mapping->a_ops->writepage of the page's mapping (swap_writepage for the swap
    cache), or None."""
    if m.mem_map.f[pfn] & (1 << PG_swapcache):
        return page_io.swap_writepage
    mapping = page_mapping(m, pfn)
    if mapping is None or mapping.a_ops is None:
        return None
    return mapping.a_ops.writepage


def __remove_mapping(m, pfn: int, reclaimed: bool = True) -> bool:
    """Take a clean, unreferenced page out of the page or swap cache so it can be freed:
    its count must be exactly the cache's and ours; a reclaimed file page leaves a
    workingset shadow (mm/vmscan.c __remove_mapping)."""
    mem_map = m.mem_map
    if mem_map.rc[pfn] != 2:
        return False
    if mem_map.f[pfn] & (1 << PG_dirty):
        return False
    mem_map.rc[pfn] = 0                       # page_ref_freeze(page, 2)
    if mem_map.f[pfn] & (1 << PG_swapcache):
        entry = int(mem_map.priv[pfn])
        swap_state.__delete_from_swap_cache(m, pfn)
        swapfile.swapcache_free(m, entry)
    else:
        shadow = None
        if reclaimed and page_is_file_cache(mem_map, pfn):
            shadow = workingset_eviction(m, pfn)
        __delete_from_page_cache(m, pfn, shadow)
    return True


def _page_mapping_or_swap(m, pfn: int):
    """page_mapping(): the file mapping, or the swap cache for a swap-cache page."""
    if m.mem_map.f[pfn] & (1 << PG_swapcache):
        return swap_state.swap_address_space(m, int(m.mem_map.priv[pfn]))
    return page_mapping(m, pfn)


def shrink_page_list(m, page_list: list, zone, sc, ttu_flags: int, force_reclaim=False,
                     stats=None):
    """Try to free each isolated page: unmap it (giving an anon page a swap slot first),
    write it out if dirty, drop it from its cache, free it. The pages kept go back in
    ``page_list``; the number freed (mm/vmscan.c shrink_page_list). ``stats``, if given,
    gets the dirty file pages seen and those not yet queued for writeback."""
    mem_map = m.mem_map
    f = mem_map.f
    ret_pages = []
    free_pages = []
    pgactivate = 0
    for pfn in page_list:
        if f[pfn] & (1 << PG_locked):
            ret_pages.append(pfn)                     # trylock_page failed: keep
            continue
        f[pfn] = f[pfn] | (1 << PG_locked)
        if f[pfn] & (1 << PG_active):
            raise KernelBug(f"VM_BUG_ON_PAGE(PageActive(page)): pfn {pfn:#x}")
        sc.nr_scanned += 1
        ret = SWAP_SUCCESS
        lazyfree = False
        outcome = None
        if not page_evictable(m, pfn):
            outcome = "cull"
        elif not sc.may_unmap and page_mapped(m, pfn):
            outcome = "keep_locked"
        if outcome is None:
            if page_mapped(m, pfn) or f[pfn] & (1 << PG_swapcache):
                sc.nr_scanned += 1
            may_enter_fs = bool(sc.gfp_mask & G.__GFP_FS) or bool(
                f[pfn] & (1 << PG_swapcache) and sc.gfp_mask & G.__GFP_IO)
            if stats is not None and page_is_file_cache(mem_map, pfn):
                # page_check_dirty_writeback: only file pages count
                if f[pfn] & ((1 << PG_dirty) | (1 << PG_writeback)):
                    stats[0] += 1
                if f[pfn] & (1 << PG_dirty) and not f[pfn] & (1 << PG_writeback):
                    stats[1] += 1
            if f[pfn] & (1 << PG_writeback):
                # the model's writes finish at once: a page still under writeback
                # cannot be met here
                raise KernelBug(f"shrink_page_list: pfn {pfn:#x} under writeback")
            references = PAGEREF_RECLAIM_CLEAN if force_reclaim else \
                page_check_references(m, pfn, sc)
            if references == PAGEREF_ACTIVATE:
                outcome = "activate"
            elif references == PAGEREF_KEEP:
                outcome = "keep_locked"
        if outcome is None:
            anon = bool(mem_map.mapv[pfn] & PAGE_MAPPING_ANON)
            if anon and not f[pfn] & (1 << PG_swapcache):
                if not sc.gfp_mask & G.__GFP_IO:
                    outcome = "keep_locked"
                elif huge_memory.PageTransHuge(mem_map, pfn) and \
                        huge_memory.split_huge_page_to_list(m, pfn, None):
                    outcome = "activate"         # add_to_swap splits a THP first
                elif not swap_state.add_to_swap(m, pfn):
                    outcome = "activate"
                else:
                    lazyfree = True
                    may_enter_fs = True
        if outcome is None and page_mapped(m, pfn) and _page_mapping_or_swap(m, pfn) \
                is not None:
            ret = try_to_unmap(m, pfn, ttu_flags | TTU_BATCH_FLUSH
                               | (TTU_LZFREE if lazyfree else 0))
            if ret == SWAP_FAIL:
                outcome = "activate"
            elif ret == SWAP_AGAIN:
                outcome = "keep_locked"
            elif ret == SWAP_MLOCK:
                outcome = "cull"
        if outcome is None and f[pfn] & (1 << PG_dirty):
            if page_is_file_cache(mem_map, pfn) and (not sc.kswapd or not zone.flags
                                                     & (1 << ZONE_DIRTY)):
                # dirty file pages are left to the flusher unless kswapd finds the
                # zone full of them
                zone.vm_stat[NR_VMSCAN_IMMEDIATE] += 1
                f[pfn] = f[pfn] | (1 << PG_reclaim)
                outcome = "keep_locked"
            elif references == PAGEREF_RECLAIM_CLEAN or not may_enter_fs \
                    or not sc.may_writepage:
                outcome = "keep_locked"
            else:
                res = pageout(m, pfn, _writepage_of(m, pfn), sc)
                if res == PAGE_KEEP:
                    outcome = "keep_locked"
                elif res == PAGE_ACTIVATE:
                    outcome = "activate"
                elif res == PAGE_SUCCESS:
                    # the write finished at once and unlocked the page
                    if f[pfn] & ((1 << PG_writeback) | (1 << PG_dirty)):
                        outcome = "keep"
                    elif f[pfn] & (1 << PG_locked):
                        outcome = "keep_locked"
                    else:
                        f[pfn] = f[pfn] | (1 << PG_locked)
        if outcome is None:
            if _page_mapping_or_swap(m, pfn) is None or not __remove_mapping(m, pfn):
                outcome = "keep_locked"
        if outcome is None:
            f[pfn] = f[pfn] & ~(1 << PG_locked) & _U64
            if ret == SWAP_LZFREE:
                m.pgdat.vm_events[VM_EVENT["pglazyfreed"]] += 1
            free_pages.append(pfn)
            continue
        if outcome == "cull":
            if f[pfn] & (1 << PG_swapcache):
                swapfile.try_to_free_swap(m, pfn)
            f[pfn] = f[pfn] & ~(1 << PG_locked) & _U64
            ret_pages.append(pfn)
            continue
        if outcome == "activate":
            if f[pfn] & (1 << PG_swapcache) and swapfile.vm_swap_full(m):
                swapfile.try_to_free_swap(m, pfn)
            f[pfn] = f[pfn] | (1 << PG_active)
            pgactivate += 1
            outcome = "keep_locked"
        if outcome == "keep_locked":
            f[pfn] = f[pfn] & ~(1 << PG_locked) & _U64
        ret_pages.append(pfn)
    cpu = m.current_cpu
    for pfn in free_pages:                      # free_hot_cold_page_list(cold)
        f[pfn] = f[pfn] & ~((1 << PG_active) | (1 << PG_referenced)) & _U64
        free_hot_cold_page(m.page_zone(pfn), pfn, True, cpu)
    page_list[:] = ret_pages
    m.pgdat.vm_events[VM_EVENT["pgactivate"]] += pgactivate
    return len(free_pages)


def putback_inactive_pages(m, lruvec, page_list: list) -> None:
    """Return the pages shrink_page_list kept to their LRU lists, dropping the isolation
    references (mm/vmscan.c putback_inactive_pages)."""
    mem_map = m.mem_map
    f = mem_map.f
    cpu = m.current_cpu
    for pfn in page_list:
        if f[pfn] & (1 << PG_lru):
            raise KernelBug(f"VM_BUG_ON_PAGE(PageLRU(page)): pfn {pfn:#x}")
        if not page_evictable(m, pfn):
            putback_lru_page(m, pfn)
            continue
        f[pfn] = f[pfn] | (1 << PG_lru)
        lru = page_lru(mem_map, pfn)
        add_page_to_lru_list(m, pfn, lru)
        if lru in (LRU_ACTIVE_ANON, LRU_ACTIVE_FILE):
            lruvec.recent_rotated[lru >= LRU_INACTIVE_FILE] += 1
        rc = mem_map.rc[pfn] - 1
        mem_map.rc[pfn] = rc
        if rc == 0:
            f[pfn] = f[pfn] & ~((1 << PG_lru) | (1 << PG_active)) & _U64
            del_page_from_lru_list(m, pfn, lru)
            free_hot_cold_page(m.page_zone(pfn), pfn, True, cpu)


def _isolate_batch(m, nr_to_scan: int, lruvec, sc, lru: int):
    """Drain the pagevecs, then isolate a batch in the mode the scan allows (the common
    start of shrink_inactive_list and shrink_active_list): (pages, scanned)."""
    lru_add_drain(m)
    mode = (0 if sc.may_unmap else ISOLATE_UNMAPPED) | (0 if sc.may_writepage
                                                        else ISOLATE_CLEAN)
    taken, scan = isolate_lru_pages(m, nr_to_scan, lruvec, lru, mode)
    tp = m.tp.mm_vmscan_lru_isolate             # isolate_lru_pages' last step in 4.6
    if tp is not None:
        tp(sc.order, nr_to_scan, scan, len(taken), mode,
           lru in (LRU_INACTIVE_FILE, LRU_ACTIVE_FILE))
    return taken, scan


def shrink_inactive_list(m, nr_to_scan: int, lruvec, sc, lru: int) -> int:
    """Isolate a batch from the tail of an inactive list and try to free it
    (mm/vmscan.c shrink_inactive_list); the pages freed."""
    zone = lruvec.zone
    file = lru >= LRU_INACTIVE_FILE
    page_list, nr_scanned = _isolate_batch(m, nr_to_scan, lruvec, sc, lru)
    nr_taken = len(page_list)
    zone.vm_stat[NR_ISOLATED_ANON + file] += nr_taken
    zone.vm_stat[NR_PAGES_SCANNED] += nr_scanned
    _zone_event(m, zone, "pgscan_kswapd" if sc.kswapd else "pgscan_direct", nr_scanned)
    if not nr_taken:
        return 0
    stats = [0, 0]                      # nr_dirty, nr_unqueued_dirty
    nr_reclaimed = shrink_page_list(m, page_list, zone, sc, TTU_UNMAP, stats=stats)
    lruvec.recent_scanned[file] += nr_taken
    _zone_event(m, zone, "pgsteal_kswapd" if sc.kswapd else "pgsteal_direct", nr_reclaimed)
    putback_inactive_pages(m, lruvec, page_list)
    zone.vm_stat[NR_ISOLATED_ANON + file] -= nr_taken
    if stats[1] == nr_taken:
        # every page taken was dirty and not under writeback: tell kswapd to write
        zone.flags |= 1 << ZONE_DIRTY
    tp = m.tp.mm_vmscan_lru_shrink_inactive
    if tp is not None:
        tp(0, zone.idx, nr_scanned, nr_reclaimed, sc.priority, trace_shrink_flags(file))
    return nr_reclaimed


def move_active_pages_to_lru(m, lruvec, pages: list, lru: int) -> None:
    """Put pages back at the head of ``lru``, dropping the isolation references
    (mm/vmscan.c move_active_pages_to_lru)."""
    mem_map = m.mem_map
    f = mem_map.f
    cpu = m.current_cpu
    for pfn in pages:
        f[pfn] = f[pfn] | (1 << PG_lru)
        add_page_to_lru_list(m, pfn, lru)
        rc = mem_map.rc[pfn] - 1
        mem_map.rc[pfn] = rc
        if rc == 0:
            f[pfn] = f[pfn] & ~((1 << PG_lru) | (1 << PG_active)) & _U64
            del_page_from_lru_list(m, pfn, lru)
            free_hot_cold_page(m.page_zone(pfn), pfn, True, cpu)
    if lru not in (LRU_ACTIVE_ANON, LRU_ACTIVE_FILE):
        m.pgdat.vm_events[VM_EVENT["pgdeactivate"]] += len(pages)


def shrink_active_list(m, nr_to_scan: int, lruvec, sc, lru: int) -> None:
    """Move a batch from the tail of an active list to the inactive list, keeping
    referenced executable file pages active (mm/vmscan.c shrink_active_list)."""
    zone = lruvec.zone
    file = lru >= LRU_INACTIVE_FILE
    l_hold, nr_scanned = _isolate_batch(m, nr_to_scan, lruvec, sc, lru)
    nr_taken = len(l_hold)
    zone.vm_stat[NR_PAGES_SCANNED] += nr_scanned
    lruvec.recent_scanned[file] += nr_taken
    _zone_event(m, zone, "pgrefill", nr_scanned)
    zone.vm_stat[NR_ISOLATED_ANON + file] += nr_taken
    f = m.mem_map.f
    l_active, l_inactive = [], []
    nr_rotated = 0
    for pfn in l_hold:
        if not page_evictable(m, pfn):
            putback_lru_page(m, pfn)
            continue
        referenced, vm_flags = page_referenced(m, pfn, False)
        if referenced:
            nr_rotated += 1
            if vm_flags & VM_EXEC and page_is_file_cache(m.mem_map, pfn):
                l_active.append(pfn)
                continue
        f[pfn] = f[pfn] & ~(1 << PG_active) & _U64
        l_inactive.append(pfn)
    lruvec.recent_rotated[file] += nr_rotated
    # the lists are built with list_add and put back with list_move: reversed order
    move_active_pages_to_lru(m, lruvec, l_active[::-1], lru)
    move_active_pages_to_lru(m, lruvec, l_inactive[::-1], lru - 1)
    zone.vm_stat[NR_ISOLATED_ANON + file] -= nr_taken


def inactive_anon_is_low(m, lruvec) -> bool:
    """Too few inactive anon pages for the zone's inactive_ratio (only with swap)."""
    if not m.total_swap_pages:
        return False
    st = lruvec.zone.vm_stat
    return st[NR_INACTIVE_ANON] * lruvec.zone.inactive_ratio < st[NR_ACTIVE_ANON]


def inactive_file_is_low(m, lruvec) -> bool:
    st = lruvec.zone.vm_stat
    return st[NR_ACTIVE_FILE] > st[NR_INACTIVE_FILE]


def shrink_list(m, lru: int, nr_to_scan: int, lruvec, sc) -> int:
    if lru in (LRU_ACTIVE_ANON, LRU_ACTIVE_FILE):
        low = inactive_file_is_low(m, lruvec) if lru == LRU_ACTIVE_FILE else \
            inactive_anon_is_low(m, lruvec)
        if low:
            shrink_active_list(m, nr_to_scan, lruvec, sc, lru)
        return 0
    return shrink_inactive_list(m, nr_to_scan, lruvec, sc, lru)


def get_scan_count(m, lruvec, sc) -> tuple:
    """How many pages of each evictable list to scan at this priority, balancing anon
    against file by swappiness and by how often each was found in use
    (mm/vmscan.c get_scan_count): nr[lru] for the four evictable lists, and the pages
    on the lists it may scan (lru_pages, what the slab shrinkers are weighed against)."""
    zone = lruvec.zone
    st = zone.vm_stat
    swappiness = m.sysctl["vm.swappiness"]
    force_scan = sc.kswapd and not zone_reclaimable(m, zone)
    fraction = [0, 0]
    denominator = 1
    if not sc.may_swap or m.nr_swap_pages <= 0:
        balance = SCAN_FILE
    elif not sc.priority and swappiness:
        balance = SCAN_EQUAL
    elif st[NR_ACTIVE_FILE] + st[NR_INACTIVE_FILE] + st[NR_FREE_PAGES] \
            <= zone.high_wmark_pages():
        balance = SCAN_ANON
    elif not inactive_file_is_low(m, lruvec) and st[NR_INACTIVE_FILE] >> sc.priority:
        balance = SCAN_FILE
    else:
        balance = SCAN_FRACT
        anon_prio = swappiness
        file_prio = 200 - anon_prio
        anon = st[NR_ACTIVE_ANON] + st[NR_INACTIVE_ANON]
        file = st[NR_ACTIVE_FILE] + st[NR_INACTIVE_FILE]
        rs, rr = lruvec.recent_scanned, lruvec.recent_rotated
        if rs[0] > anon // 4:
            rs[0] //= 2
            rr[0] //= 2
        if rs[1] > file // 4:
            rs[1] //= 2
            rr[1] //= 2
        ap = anon_prio * (rs[0] + 1) // (rr[0] + 1)
        fp = file_prio * (rs[1] + 1) // (rr[1] + 1)
        fraction = [ap, fp]
        denominator = ap + fp + 1
    nr = [0] * 5
    some_scanned = False
    lru_pages = 0
    for pass_ in range(2):
        if some_scanned:
            break
        lru_pages = 0
        for lru in EVICTABLE_LRUS:
            file = lru >= LRU_INACTIVE_FILE
            size = st[NR_LRU_BASE + lru]
            scan = size >> sc.priority
            if not scan and pass_ and force_scan:
                scan = min(size, SWAP_CLUSTER_MAX)
            if balance == SCAN_FRACT:
                scan = scan * fraction[file] // denominator
            elif balance in (SCAN_FILE, SCAN_ANON):
                if (balance == SCAN_FILE) != file:
                    size = scan = 0
            lru_pages += size
            nr[lru] = scan
            some_scanned |= bool(scan)
    return nr, lru_pages


def shrink_zone_memcg(m, zone, sc) -> int:
    """Scan a zone's LRU lists in SWAP_CLUSTER_MAX batches until the targets are met,
    then keep the anon lists balanced (mm/vmscan.c shrink_zone_memcg); the pages on the
    lists it could scan."""
    lruvec = m.lru.lruvecs[zone.idx]
    nr, lru_pages = get_scan_count(m, lruvec, sc)
    targets = list(nr)
    nr_to_reclaim = sc.nr_to_reclaim
    nr_reclaimed = 0
    scan_adjusted = not sc.kswapd and sc.priority == DEF_PRIORITY
    while nr[LRU_INACTIVE_ANON] or nr[LRU_ACTIVE_FILE] or nr[LRU_INACTIVE_FILE]:
        for lru in EVICTABLE_LRUS:
            if nr[lru]:
                n = min(nr[lru], SWAP_CLUSTER_MAX)
                nr[lru] -= n
                nr_reclaimed += shrink_list(m, lru, n, lruvec, sc)
        if nr_reclaimed < nr_to_reclaim or scan_adjusted:
            continue
        nr_file = nr[LRU_INACTIVE_FILE] + nr[LRU_ACTIVE_FILE]
        nr_anon = nr[LRU_INACTIVE_ANON] + nr[LRU_ACTIVE_ANON]
        if not nr_file or not nr_anon:
            break
        # reclaimed enough: scan the other type only in proportion to what is left
        if nr_file > nr_anon:
            target = targets[LRU_INACTIVE_ANON] + targets[LRU_ACTIVE_ANON] + 1
            lru = LRU_INACTIVE_ANON
            percentage = nr_anon * 100 // target
        else:
            target = targets[LRU_INACTIVE_FILE] + targets[LRU_ACTIVE_FILE] + 1
            lru = LRU_INACTIVE_FILE
            percentage = nr_file * 100 // target
        nr[lru] = nr[lru + 1] = 0
        lru = LRU_INACTIVE_ANON if lru == LRU_INACTIVE_FILE else LRU_INACTIVE_FILE
        for lr in (lru, lru + 1):
            scanned = targets[lr] - nr[lr]
            nr[lr] = targets[lr] * (100 - percentage) // 100
            nr[lr] -= min(nr[lr], scanned)
        scan_adjusted = True
    sc.nr_reclaimed += nr_reclaimed
    if inactive_anon_is_low(m, lruvec):
        shrink_active_list(m, SWAP_CLUSTER_MAX, lruvec, sc, LRU_ACTIVE_ANON)
    return lru_pages


def in_reclaim_compaction(sc) -> bool:
    """Reclaim for a high-order request that compaction will follow: a costly order, or
    any order once the priority has dropped (mm/vmscan.c in_reclaim_compaction)."""
    return bool(sc.order) and (sc.order > PAGE_ALLOC_COSTLY_ORDER
                               or sc.priority < DEF_PRIORITY - 2)


def should_continue_reclaim(m, zone, nr_reclaimed: int, nr_scanned: int, sc) -> bool:
    """Reclaim/compaction: go round the zone again until 2 << order pages are freed or
    compaction could go ahead (mm/vmscan.c should_continue_reclaim)."""
    suitable = m.pgdat.compaction.compaction_suitable
    if suitable is None or not in_reclaim_compaction(sc):
        return False
    if sc.gfp_mask & G.__GFP_REPEAT:
        if not nr_reclaimed and not nr_scanned:
            return False
    elif not nr_reclaimed:
        return False
    pages_for_compaction = 2 << sc.order
    inactive_lru_pages = zone.vm_stat[NR_INACTIVE_FILE]
    if m.nr_swap_pages > 0:
        inactive_lru_pages += zone.vm_stat[NR_INACTIVE_ANON]
    if sc.nr_reclaimed < pages_for_compaction and inactive_lru_pages > pages_for_compaction:
        return True
    return suitable(zone, sc.order, 0, 0) not in (COMPACT_PARTIAL, COMPACT_CONTINUE)


def shrink_zone(m, zone, sc, is_classzone: bool = True) -> bool:
    """One zone's LRU lists, then (for the zone the allocation asked for) the slab caches
    in the same proportion as the LRU pages scanned, adding the slab pages freed, again
    while reclaim/compaction asks for more; True if it made progress (mm/vmscan.c
    shrink_zone; the model has no memory cgroups, so the root's pass is the global one)."""
    progress = False
    idle = 0
    reclaim_state = m.reclaim_state
    while True:
        nr_reclaimed = sc.nr_reclaimed
        nr_scanned = sc.nr_scanned
        lru_pages = shrink_zone_memcg(m, zone, sc)
        if is_classzone:
            shrink_slab(m, sc.gfp_mask, 0, None, sc.nr_scanned - nr_scanned, lru_pages,
                        sc.kswapd)
        if reclaim_state is not None:
            sc.nr_reclaimed += reclaim_state.reclaimed_slab
            reclaim_state.reclaimed_slab = 0
        if sc.nr_reclaimed != nr_reclaimed or sc.nr_scanned != nr_scanned:
            progress = True
        if not should_continue_reclaim(m, zone, sc.nr_reclaimed - nr_reclaimed,
                                       sc.nr_scanned - nr_scanned, sc):
            return progress
        # a __GFP_REPEAT pass that scans without freeing could go round for ever in 4.6
        # (nothing else runs here to change that): give up after as many idle passes as
        # the allocator's retries allow
        idle = idle + 1 if sc.nr_reclaimed == nr_reclaimed else 0
        if idle > MAX_IDLE_RETRIES:
            return progress


def compaction_ready(m, zone, order: int) -> bool:
    """The zone has free pages enough for compaction to make an order-``order`` block,
    so reclaim may stop (mm/vmscan.c compaction_ready)."""
    ops = m.pgdat.compaction
    balance_gap = min(zone.low_wmark_pages(),
                      -(-zone.managed_pages // KSWAPD_ZONE_BALANCE_GAP_RATIO))
    watermark = zone.high_wmark_pages() + balance_gap + (2 << order)
    watermark_ok = zone_watermark_ok(zone, 0, watermark, 0, 0)
    if ops.compaction_deferred(zone, order):
        return watermark_ok
    if ops.compaction_suitable(zone, order, 0, 0) == COMPACT_SKIPPED:
        return False
    return watermark_ok


def _zonelist(m, gfp_mask: int):
    """The zones an allocation may use, highest first (the zonelist of one node)."""
    high = G.gfp_zone(gfp_mask)
    return [z for z in reversed(m.zones[:high + 1]) if z.managed_pages]


def shrink_zones(m, gfp_mask: int, sc) -> bool:
    """shrink_zone on each zone of the zonelist worth reclaiming from; whether any of
    them could still be reclaimed (mm/vmscan.c shrink_zones)."""
    reclaimable = False
    requested_highidx = G.gfp_zone(gfp_mask)
    compacts = m.pgdat.compaction.compaction_suitable is not None
    classzone_idx = requested_highidx           # the highest populated zone it may use
    while not m.zones[classzone_idx].present_pages:
        classzone_idx -= 1
    for zone in _zonelist(m, gfp_mask):
        if sc.priority != DEF_PRIORITY and not zone_reclaimable(m, zone):
            continue
        # plenty free for compaction to make a costly order here: reclaim no more
        if (compacts and sc.order > PAGE_ALLOC_COSTLY_ORDER
                and zone.idx <= requested_highidx and compaction_ready(m, zone, sc.order)):
            sc.compaction_ready = True
            continue
        if shrink_zone(m, zone, sc, zone.idx == classzone_idx):
            reclaimable = True
        if zone_reclaimable(m, zone):
            reclaimable = True
    return reclaimable


def do_try_to_free_pages(m, gfp_mask: int, sc) -> int:
    """Reclaim at falling priorities until enough is freed (mm/vmscan.c
    do_try_to_free_pages): the pages freed, or 1 if none but the zones are still
    reclaimable."""
    if not sc.kswapd:
        m.pgdat.vm_events[VM_EVENT["allocstall"]] += 1
    zones_reclaimable = False
    while True:
        sc.nr_scanned = 0
        zones_reclaimable = shrink_zones(m, gfp_mask, sc)
        if sc.nr_reclaimed >= sc.nr_to_reclaim:
            break
        if sc.compaction_ready:
            break
        if sc.priority < DEF_PRIORITY - 2:
            sc.may_writepage = True
        sc.priority -= 1
        if sc.priority < 0:
            break
    if sc.nr_reclaimed:
        return sc.nr_reclaimed
    if sc.compaction_ready:
        return 1                    # compaction can go on: that is progress
    return 1 if zones_reclaimable else 0


def try_to_free_pages(m, order: int, gfp_mask: int) -> int:
    """Direct reclaim for an allocation that missed its watermark (mm/vmscan.c
    try_to_free_pages): the pages freed (or 1: progress is possible, 0: none)."""
    sc = ScanControl(gfp_mask, order, SWAP_CLUSTER_MAX,
                     may_writepage=not m.sysctl["vm.laptop_mode"],
                     may_unmap=True, may_swap=True)
    # __perform_reclaim: slab pages freed meanwhile count as reclaimed
    saved = m.reclaim_state
    m.reclaim_state = ReclaimState()
    tp = m.tp.mm_vmscan_direct_reclaim_begin
    if tp is not None:
        tp(order, sc.may_writepage, gfp_mask)
    try:
        nr_reclaimed = do_try_to_free_pages(m, gfp_mask, sc)
    finally:
        m.reclaim_state = saved
    tp = m.tp.mm_vmscan_direct_reclaim_end
    if tp is not None:
        tp(nr_reclaimed)
    return nr_reclaimed


# -- kswapd ----------------------------------------------------------------------------------

KSWAPD_ZONE_BALANCE_GAP_RATIO = 100
KSWAPD_SHORT_SLEEP_NS = 100_000_000        # schedule_timeout(HZ/10)


class KswapdState:
    """The node's kswapd: the order and class zone it was last woken for
    (pgdat->kswapd_max_order, classzone_idx), and a record of its wake-ups and sleeps
    (the mm_vmscan_kswapd_wake/sleep tracepoints): (clock ns, "wake"|"sleep", order,
    free pages of each populated zone)."""

    __slots__ = ("max_order", "classzone_idx", "trace", "running", "slept_at", "again")

    def __init__(self):
        self.max_order = 0
        self.classzone_idx = 0
        self.trace = []
        self.running = False
        self.slept_at = None          # clock ns of its last sleep, None before the first
        # its last pass left the node unbalanced: 4.6's kswapd would go round again at
        # once; the model's goes round again at the next tick (m.tick, m.run_for)
        self.again = None             # None, or (order, classzone_idx) to go round with


def _trace(m, what: str, order: int) -> None:
    tr = m.pgdat.kswapd.trace
    tr.append((m.clock_ns, what, order,
               tuple(z.vm_stat[NR_FREE_PAGES] for z in m.zones if z.managed_pages)))
    if len(tr) > 4096:
        del tr[:2048]


def zone_balanced(m, zone, order: int, highorder: bool, balance_gap: int,
                  classzone_idx: int) -> bool:
    """The zone is above its high watermark (plus ``balance_gap``); below order-0 checks
    2^order more pages instead, leaving the order to kcompactd (mm/vmscan.c)."""
    mark = zone.high_wmark_pages() + balance_gap
    if not highorder:
        mark += 1 << order
        order = 0
    return zone_watermark_ok(zone, order, mark, classzone_idx, 0)


def pgdat_balanced(m, order: int, classzone_idx: int) -> bool:
    """Every zone up to ``classzone_idx`` is balanced or not worth reclaiming
    (mm/vmscan.c pgdat_balanced)."""
    managed = balanced = 0
    for zone in m.zones[:classzone_idx + 1]:
        if not zone.managed_pages:
            continue
        managed += zone.managed_pages
        if not zone_reclaimable(m, zone):
            balanced += zone.managed_pages
            continue
        if zone_balanced(m, zone, order, False, 0, zone.idx):
            balanced += zone.managed_pages
        elif not order:
            return False
    return balanced >= managed >> 2 if order else True


def age_active_anon(m, zone, sc) -> None:
    if not m.total_swap_pages:
        return
    lruvec = m.lru.lruvecs[zone.idx]
    if inactive_anon_is_low(m, lruvec):
        shrink_active_list(m, SWAP_CLUSTER_MAX, lruvec, sc, LRU_ACTIVE_ANON)


def kswapd_shrink_zone(m, zone, classzone_idx: int, sc) -> bool:
    """Reclaim one zone towards its high watermark (plus a balance gap); True when the
    pass scanned as much as it set out to reclaim (mm/vmscan.c kswapd_shrink_zone)."""
    sc.nr_to_reclaim = max(SWAP_CLUSTER_MAX, zone.high_wmark_pages())
    balance_gap = min(zone.low_wmark_pages(),
                      -(-zone.managed_pages // KSWAPD_ZONE_BALANCE_GAP_RATIO))
    if zone_balanced(m, zone, sc.order, False, balance_gap, classzone_idx):
        return True
    shrink_zone(m, zone, sc, zone.idx == classzone_idx)
    zone.flags &= ~(1 << ZONE_WRITEBACK)
    if zone_reclaimable(m, zone) and zone_balanced(m, zone, sc.order, False, 0,
                                                   classzone_idx):
        zone.flags &= ~((1 << ZONE_CONGESTED) | (1 << ZONE_DIRTY))
    return sc.nr_scanned >= sc.nr_to_reclaim


def balance_pgdat(m, order: int, classzone_idx: int) -> int:
    """kswapd's work: reclaim from the zones below their high watermark, lowering the
    priority until the node is balanced (mm/vmscan.c balance_pgdat). The last zone
    it had to balance."""
    sc = ScanControl(G.GFP_KERNEL, order, 0, may_writepage=not m.sysctl["vm.laptop_mode"],
                     kswapd=True)
    m.pgdat.vm_events[VM_EVENT["pageoutrun"]] += 1
    end_zone = 0
    zones = m.zones
    while True:
        raise_priority = True
        sc.nr_reclaimed = 0
        end_zone = -1
        for zone in reversed(zones[:m.pgdat.nr_zones]):
            if not zone.managed_pages:
                continue
            if sc.priority != DEF_PRIORITY and not zone_reclaimable(m, zone):
                continue
            age_active_anon(m, zone, sc)
            if not zone_balanced(m, zone, order, False, 0, 0):
                end_zone = zone.idx
                break
            zone.flags &= ~((1 << ZONE_CONGESTED) | (1 << ZONE_DIRTY))
        if end_zone < 0:
            return 0                                   # every zone is balanced
        if sc.priority < DEF_PRIORITY - 2:
            sc.may_writepage = True
        for zone in zones[:end_zone + 1]:
            if not zone.managed_pages:
                continue
            if sc.priority != DEF_PRIORITY and not zone_reclaimable(m, zone):
                continue
            sc.nr_scanned = 0
            if kswapd_shrink_zone(m, zone, end_zone, sc):
                raise_priority = False
        if raise_priority or not sc.nr_reclaimed:
            sc.priority -= 1
        if sc.priority < 1 or pgdat_balanced(m, order, classzone_idx):
            return end_zone


def wakeup_kswapd(zone, order: int, classzone_idx: int) -> None:
    """An allocation found ``zone`` below its low watermark: wake kswapd unless the zone
    is balanced (mm/vmscan.c wakeup_kswapd). The model's kswapd runs at once, to the
    end of its balance_pgdat pass, before the allocation carries on; then it sleeps."""
    if not zone.managed_pages:
        return
    pgdat = zone.zone_pgdat
    m = pgdat.machine
    k = pgdat.kswapd
    if k.max_order < order:
        k.max_order = order
        k.classzone_idx = min(k.classzone_idx, classzone_idx)
    if k.running:
        return                          # kswapd is awake already: its wait queue is empty
    if zone_balanced(m, zone, order, True, 0, 0):
        return
    tp = m.tp.mm_vmscan_wakeup_kswapd
    if tp is not None:
        tp(pgdat.node_id, zone.idx, order)
    kswapd_run(m)


def kswapd_run(m) -> None:
    """One round of the kswapd thread: balance the node for the order it was woken with,
    then sleep (mm/vmscan.c kswapd). It runs as a kernel thread: no current task."""
    pgdat = m.pgdat
    k = pgdat.kswapd
    order, classzone_idx = k.max_order, k.classzone_idx
    k.max_order = 0
    k.classzone_idx = pgdat.nr_zones - 1
    if k.slept_at is not None and m.clock_ns - k.slept_at < KSWAPD_SHORT_SLEEP_NS:
        # kswapd_try_to_sleep: woken within the HZ/10 nap after its last pass, so the
        # node fell below the low watermark again quickly (the clock moves only when the
        # model's user moves it, so back-to-back wake-ups all count here)
        m.pgdat.vm_events[VM_EVENT["kswapd_low_wmark_hit_quickly"]] += 1
    saved = m.current, m.reclaim_state
    m.current = None
    m.reclaim_state = ReclaimState()
    k.running = True
    _trace(m, "wake", order)
    tp = m.tp.mm_vmscan_kswapd_wake
    if tp is not None:
        tp(pgdat.node_id, order)
    try:
        balanced_classzone_idx = balance_pgdat(m, order, classzone_idx)
        # kswapd_try_to_sleep: a balanced node clears the compaction skip bits a direct
        # compaction left and hands the high order to kcompactd before kswapd sleeps;
        # one balance_pgdat could not balance is a premature sleep (4.6's kswapd would
        # go round again at once; the model's stops, counts it and goes round again at
        # the next tick of m.tick/m.run_for)
        ops = pgdat.compaction
        k.again = None
        if not pgdat_balanced(m, order, balanced_classzone_idx):
            m.pgdat.vm_events[VM_EVENT["kswapd_high_wmark_hit_quickly"]] += 1
            k.again = (order, classzone_idx)
        elif ops.wakeup_kcompactd is not None:
            ops.reset_isolation_suitable(pgdat)
            ops.wakeup_kcompactd(pgdat, order, classzone_idx)
    finally:
        k.running = False
        m.current, m.reclaim_state = saved
    k.slept_at = m.clock_ns
    _trace(m, "sleep", order)
    tp = m.tp.mm_vmscan_kswapd_sleep
    if tp is not None:
        tp(pgdat.node_id)


def reclaim_init(m) -> None:
    """Start kswapd and give the allocator its reclaim entry points (kswapd_init)."""
    pgdat = m.pgdat
    pgdat.kswapd = KswapdState()
    pgdat.kswapd.classzone_idx = pgdat.nr_zones - 1
    pgdat.reclaim.try_to_free_pages = try_to_free_pages
    pgdat.reclaim.wakeup_kswapd = wakeup_kswapd
