"""Accelerators of mm/swap.py: release_pages over many pages at once, and the add
pagevec's drain in one loop (``pagevec_lru_add``).

``release_pages`` stands in for ``linuxvm.mm.swap.release_pages``: for many distinct order-0
pages the references drop in one NumPy step; the pages that reached zero leave their LRU
lists in list order and go to free_hot_cold_page_list last-released first, as the
reference's list_add collects them. Compound, repeated or already free pages, and short
lists, are handed back to the reference (it returns False having changed nothing).
tests/test_fault_bulk.py and tests/test_release_pages.py compare whole machines.
"""

import numpy as np

from ..lib.accel_registry import register
from ..include.vm_event_item import NR_LRU_BASE
from ..mm.page import (PG_head, PG_lru, PG_active, PG_referenced, PG_swapbacked,
                       PG_unevictable, NULL, pfns_distinct)
from ..mm.page_alloc import free_hot_cold_page_list
from ..mm.swap import LRU_UNEVICTABLE, NR_LRU_LISTS

__all__ = ["release_pages", "pagevec_lru_add"]

_PG_HEAD = np.uint64(1 << PG_head)
_PG_LRU = np.uint64(1 << PG_lru)
_PG_ACTIVE = np.uint64(1 << PG_active)
_PG_UNEVICTABLE = np.uint64(1 << PG_unevictable)
_PG_SWAPBACKED = np.uint64(1 << PG_swapbacked)
_NOT_ACTIVE_REFERENCED = np.uint64(0xFFFFFFFFFFFFFFFF & ~((1 << PG_active) | (1 << PG_referenced)))
# below this many pages the NumPy set-up costs more than the loop
_MIN_BATCH = 32


@register("release_pages", "linuxvm.mm.swap.release_pages")
def release_pages(m, pfns, cold: bool = False, cpu: int = None) -> bool:
    """release_pages with the references of many distinct order-0 pages dropped at once;
    False (nothing changed) for a short list or one with compound, repeated or free pages."""
    if len(pfns) < _MIN_BATCH:
        return False
    mm = m.mem_map
    p = np.asarray(pfns, dtype=np.int64)
    rc = mm._refcount[p]
    if (not pfns_distinct(p) or (mm.compound_head[p] != NULL).any()
            or (mm.flags[p] & _PG_HEAD).any() or (rc <= 0).any()):
        return False
    mm._refcount[p] = rc - 1
    zero = p[rc == 1]
    if not zero.size:
        return True
    cpu = m.current_cpu if cpu is None else cpu
    on_lru = zero[(mm.flags[zero] & _PG_LRU) != 0]
    if on_lru.size:
        _page_cache_release_many(m, on_lru)
    mm.flags[zero] &= _NOT_ACTIVE_REFERENCED
    free_hot_cold_page_list(m.pgdat, zero[::-1], cold, cpu)
    return True


def _page_cache_release_many(m, pages) -> None:
    """__page_cache_release of distinct order-0 PG_lru pages at once: flags, counters and
    the lists' links end as one list_del after another leaves them (the links of the
    pages left on a list skip every run of removed pages)."""
    mm = m.mem_map
    f = mm.flags[pages]
    unevictable = (f & _PG_UNEVICTABLE) != 0
    # page_off_lru: the list each page is on; clear Unevictable, else Active; and PG_lru
    lru = np.where(unevictable, LRU_UNEVICTABLE,
                   np.where(f & _PG_SWAPBACKED, 0, 2) + ((f & _PG_ACTIVE) != 0))
    mm.flags[pages] = f & np.where(unevictable, ~_PG_UNEVICTABLE, ~_PG_ACTIVE) & ~_PG_LRU
    zone_ids = (f >> np.uint64(62)).astype(np.int64)
    counts = np.bincount(zone_ids * NR_LRU_LISTS + lru)
    for key in np.flatnonzero(counts).tolist():
        m.pgdat.node_zones[key // NR_LRU_LISTS].vm_stat[NR_LRU_BASE + key % NR_LRU_LISTS] -= int(counts[key])
    _list_del_many(mm, np.sort(pages))


def _list_del_many(mm, s) -> None:
    """list_del of every entry of the sorted distinct array ``s`` (pointer doubling finds,
    for each, the nearest neighbours that stay)."""
    nxt_a = mm.lru_next
    prv_a = mm.lru_prev
    ends = []
    for links in (nxt_a, prv_a):
        to = links[s].astype(np.int64)
        pos = np.searchsorted(s, to)
        pos[pos == s.size] = 0
        at = np.where(s[pos] == to, pos, -1)     # where ``to`` is itself removed
        while (at >= 0).any():
            hop = at >= 0
            to = np.where(hop, to[np.where(hop, at, 0)], to)
            at = np.where(hop, at[np.where(hop, at, 0)], at)
        ends.append(to)
    n_end, p_end = ends
    nxt_a[p_end] = n_end
    prv_a[n_end] = p_end
    nxt_a[s] = NULL
    prv_a[s] = NULL


# -- the add pagevec's drain --------------------------------------------------------------

_LRU_BIT = 1 << PG_lru
_ODD_FOR_DRAIN = (1 << PG_lru) | (1 << PG_unevictable) | (1 << PG_head)
_SWAPBACKED_BIT = 1 << PG_swapbacked
_ACTIVE_BIT = 1 << PG_active


_LIST_BITS = (3 << 62) | _SWAPBACKED_BIT | _ACTIVE_BIT


def _lru_counts(zone, lv, lru: int, file: int, active: int, n: int) -> None:
    """The list counts and update_page_reclaim_stat of ``n`` pages added to list ``lru``."""
    zone.vm_stat[NR_LRU_BASE + lru] += n
    lv.recent_scanned[file] += n
    if active:
        lv.recent_rotated[file] += n


@register("pagevec_lru_add", "linuxvm.mm.swap.__pagevec_lru_add")
def pagevec_lru_add(m, cpu: int) -> bool:
    """__pagevec_lru_add in one loop for distinct evictable order-0 pages each still held
    by someone besides the pagevec; False (nothing changed) for any other pagevec.

    What __pagevec_lru_add_fn does for each page in pagevec order (PG_lru, list_add at the
    head of its zone's list for page_lru(), the list's count, update_page_reclaim_stat),
    then release_pages, where no reference is the last."""
    pvec = m.lru.lru_add_pvec[cpu]
    mem_map = m.mem_map
    f, rc, ch = mem_map.f, mem_map.rc, mem_map.ch
    for pfn in pvec:
        if f[pfn] & _ODD_FOR_DRAIN or ch[pfn] != NULL or rc[pfn] < 2:
            return False
    if len(set(pvec)) != len(pvec):
        return False
    pages = list(pvec)
    pvec.clear()
    zones = m.pgdat.node_zones
    lruvecs = m.lru.lruvecs
    nxt, prv = mem_map.nxt, mem_map.prv
    # the counters of a run of pages bound for the same list are added once, at the run's
    # end (nothing reads them in between); ``kind`` is what picks the list: zone, swap-backed,
    # active
    kind = -1
    run = lru = file = active = 0
    zone = lv = head = None
    for pfn in pages:
        fl = f[pfn] | _LRU_BIT
        f[pfn] = fl
        k = fl & _LIST_BITS
        if k != kind:
            if run:
                _lru_counts(zone, lv, lru, file, active, run)
            kind = k
            run = 0
            if fl & _SWAPBACKED_BIT:              # page_lru
                lru, file = 0, 0                  # LRU_INACTIVE_ANON
            else:
                lru, file = 2, 1                  # LRU_INACTIVE_FILE
            active = fl & _ACTIVE_BIT
            if active:
                lru += 1
            zone = zones[fl >> 62]
            lv = lruvecs[zone.idx]
            head = lv.lists[lru]
        first = nxt[head]                         # list_add
        nxt[pfn] = first
        prv[pfn] = head
        prv[first] = pfn
        nxt[head] = pfn
        run += 1
    if run:
        _lru_counts(zone, lv, lru, file, active, run)
    for pfn in pages:                             # release_pages: none is the last
        rc[pfn] -= 1
    return True
