"""mm/vmscan.c: taking pages off and putting them back on the LRU (isolate_lru_page,
putback_lru_page, page_evictable) here; the reclaim path in linuxvm/mm/vmscan/reclaim.py
(imported on its own: it reaches the page cache, which reaches back here through mlock)."""

from ..page import PG_lru, PG_active, PG_unevictable, PG_mlocked
from ..swap import (page_lru, del_page_from_lru_list, add_page_to_lru_list, lru_cache_add,
                   get_page, put_page, LRU_UNEVICTABLE)
from ...include.vm_event_item import VM_EVENT
from ..page_writeback import page_mapping

_U64 = 0xFFFFFFFFFFFFFFFF


def page_evictable(m, pfn: int) -> bool:
    """Not mlocked, and not in a mapping reclaim may not touch (ramfs, SHM_LOCKed shmem)
    (mm/vmscan.c page_evictable)."""
    if m.mem_map.f[pfn] & (1 << PG_mlocked):
        return False
    mapping = page_mapping(m, pfn)
    return mapping is None or not mapping.unevictable


def isolate_lru_page(m, pfn: int) -> int:
    """Take a page off its LRU list, holding a reference; 0, or -EBUSY if not on one."""
    mm = m.mem_map
    if not mm.f[pfn] & (1 << PG_lru):
        return -16
    get_page(m, pfn)
    mm.f[pfn] = mm.f[pfn] & ~(1 << PG_lru) & _U64
    del_page_from_lru_list(m, pfn, page_lru(mm, pfn))
    return 0


def add_page_to_unevictable_list(m, pfn: int) -> None:
    mm = m.mem_map
    mm.f[pfn] = (mm.f[pfn] & ~(1 << PG_active) & _U64) | (1 << PG_unevictable) | (1 << PG_lru)
    add_page_to_lru_list(m, pfn, LRU_UNEVICTABLE)


def putback_lru_page(m, pfn: int) -> None:
    """Return an isolated page to the LRU it now belongs on, dropping the isolation ref."""
    mm = m.mem_map
    was_unevictable = bool(mm.f[pfn] & (1 << PG_unevictable))
    mm.f[pfn] = mm.f[pfn] & ~(1 << PG_unevictable) & _U64
    if page_evictable(m, pfn):
        is_unevictable = False
        lru_cache_add(m, pfn)
    else:
        is_unevictable = True
        add_page_to_unevictable_list(m, pfn)
    ev = m.pgdat.vm_events
    if was_unevictable and not is_unevictable:
        ev[VM_EVENT["unevictable_pgs_rescued"]] += 1
    elif not was_unevictable and is_unevictable:
        ev[VM_EVENT["unevictable_pgs_culled"]] += 1
    put_page(m, pfn)
