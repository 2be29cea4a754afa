"""LRU lists, per-CPU pagevecs and page reference release (mm/swap.c, include/linux/mm_inline.h).

Each zone has a ``lruvec`` of five lists threaded through ``page->lru``. New
pages reach the LRU through the per-CPU ``lru_add_pvec`` (PAGEVEC_SIZE 14)
which holds an extra reference on each page until it is drained, exactly as
4.6 does; so a freshly faulted anonymous page has ``_refcount`` 2 until the
pagevec fills or is drained.
"""

import numpy as np

from ..errors import KernelBug
from .page import (PG_lru, PG_active, PG_unevictable, PG_swapbacked, PG_mlocked,
                   PG_referenced, compound_page_dtors)
from ..include.mm import VM_LOCKED, VM_SPECIAL
from .page_alloc import free_hot_cold_page, free_hot_cold_page_list, __free_pages_ok
from ..include.vm_event_item import NR_LRU_BASE, NR_MLOCK, VM_EVENT
from .workingset import workingset_activation
from .page import PG_swapcache, PG_mappedtodisk, PG_private, PAGE_MAPPING_ANON
from ..include.trace.events.pagemap import (PAGEMAP_ANONYMOUS, PAGEMAP_FILE, PAGEMAP_MAPPED,
                                            PAGEMAP_SWAPCACHE, PAGEMAP_SWAPBACKED,
                                            PAGEMAP_MAPPEDDISK, PAGEMAP_BUFFERS)

PAGEVEC_SIZE = 14

LRU_INACTIVE_ANON, LRU_ACTIVE_ANON, LRU_INACTIVE_FILE, LRU_ACTIVE_FILE, LRU_UNEVICTABLE = range(5)
NR_LRU_LISTS = 5
LRU_ACTIVE = 1
LRU_FILE = 2
lru_names = ["inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable"]

_LRU_MASK = (1 << PG_lru)
_PG_ACTIVE = 1 << PG_active
_PG_UNEVICTABLE = 1 << PG_unevictable
_PG_SWAPBACKED = 1 << PG_swapbacked
_U64 = 0xFFFFFFFFFFFFFFFF


class Lruvec:
    """struct lruvec: the five LRU list heads of one zone, with the reclaim statistics
    get_scan_count balances anon and file by (zone_reclaim_stat: [anon, file])."""

    __slots__ = ("lists", "zone", "recent_rotated", "recent_scanned", "inactive_age")

    def __init__(self, zone, heads):
        self.zone = zone
        self.lists = heads
        self.recent_rotated = [0, 0]
        self.recent_scanned = [0, 0]
        self.inactive_age = 0            # the eviction clock of mm/workingset.c


class LruState:
    """Per-machine LRU state: a lruvec per zone and the per-CPU add pagevecs."""

    __slots__ = ("lruvecs", "lru_add_pvec", "lru_deactivate_pvecs")

    def __init__(self, m):
        mm = m.mem_map
        self.lruvecs = []
        for zone in m.zones:
            heads = mm.reserve_list_heads([f"{zone.name}.lruvec.{n}" for n in lru_names])
            self.lruvecs.append(Lruvec(zone, heads))
        self.lru_add_pvec = [[] for _ in range(m.nr_cpus)]
        self.lru_deactivate_pvecs = [[] for _ in range(m.nr_cpus)]


def lru_init(m) -> None:
    m.lru = LruState(m)


def page_is_file_cache(mm, pfn: int) -> bool:
    return not (mm.f[pfn] & _PG_SWAPBACKED)


def page_lru_base_type(mm, pfn: int) -> int:
    return LRU_INACTIVE_ANON if mm.f[pfn] & _PG_SWAPBACKED else LRU_INACTIVE_FILE


def page_lru(mm, pfn: int) -> int:
    """Which LRU list ``pfn`` belongs on from its flags (mm_inline.h page_lru)."""
    f = mm.f[pfn]
    if f & _PG_UNEVICTABLE:
        return LRU_UNEVICTABLE
    lru = LRU_INACTIVE_ANON if f & _PG_SWAPBACKED else LRU_INACTIVE_FILE
    if f & _PG_ACTIVE:
        lru += LRU_ACTIVE
    return lru


def hpage_nr_pages(mm, pfn: int) -> int:
    return 1 << mm.compound_order(pfn) if mm.PageHead(pfn) else 1


def add_page_to_lru_list(m, pfn: int, lru: int) -> None:
    mm = m.mem_map
    zone = m.page_zone(pfn)
    mm.list_add(pfn, m.lru.lruvecs[zone.idx].lists[lru])
    zone.vm_stat[NR_LRU_BASE + lru] += hpage_nr_pages(mm, pfn)


def del_page_from_lru_list(m, pfn: int, lru: int) -> None:
    mm = m.mem_map
    zone = m.page_zone(pfn)
    mm.list_del(pfn)
    zone.vm_stat[NR_LRU_BASE + lru] -= hpage_nr_pages(mm, pfn)


def page_off_lru(mm, pfn: int) -> int:
    """Clear the LRU placement flags and say which list the page was on."""
    f = mm.f[pfn]
    if f & _PG_UNEVICTABLE:
        mm.f[pfn] = f & ~_PG_UNEVICTABLE & _U64
        return LRU_UNEVICTABLE
    lru = LRU_INACTIVE_ANON if f & _PG_SWAPBACKED else LRU_INACTIVE_FILE
    if f & _PG_ACTIVE:
        mm.f[pfn] = f & ~_PG_ACTIVE & _U64
        lru += LRU_ACTIVE
    return lru


def get_page(m, pfn: int) -> None:
    mm = m.mem_map
    head = mm.compound_head_pfn(pfn)
    if mm.rc[head] <= 0:
        raise KernelBug(f"get_page on a free page {head:#x}")
    mm.rc[head] += 1


def __page_cache_release(m, pfn: int) -> None:
    mm = m.mem_map
    if mm.f[pfn] & _LRU_MASK:
        mm.f[pfn] = mm.f[pfn] & ~_LRU_MASK & _U64
        del_page_from_lru_list(m, pfn, page_off_lru(mm, pfn))


def _free_page(m, pfn: int, cpu: int) -> None:
    """The final free of a page whose refcount reached 0 (__put_single/compound_page)."""
    mm = m.mem_map
    __page_cache_release(m, pfn)
    mm.f[pfn] = mm.f[pfn] & ~(_PG_ACTIVE | (1 << PG_referenced)) & _U64
    zone = m.page_zone(pfn)
    if mm.PageHead(pfn):
        dtor = compound_page_dtors.get(int(mm.nxt[pfn + 1]))     # __put_compound_page
        if dtor is not None:
            dtor(m, pfn)
        else:
            __free_pages_ok(zone, pfn, mm.compound_order(pfn))
    else:
        free_hot_cold_page(zone, pfn, False, cpu)


def put_page(m, pfn: int, cpu: int = None) -> None:
    """Drop a reference; free the page when it was the last (put_page → __put_page)."""
    mm = m.mem_map
    head = mm.compound_head_pfn(pfn)
    rc = mm.rc[head] - 1
    if rc < 0:
        raise KernelBug(f"put_page: refcount of pfn {head:#x} below zero")
    mm.rc[head] = rc
    if rc == 0:
        _free_page(m, head, m.current_cpu if cpu is None else cpu)


def release_pages(m, pfns, cold: bool = False, cpu: int = None) -> None:
    """Drop one reference on each page; take those that reach zero off their LRU lists,
    then free them as a list (mm/swap.c:release_pages).

    A compound page is freed at once (__put_compound_page); the order-0 pages are collected
    with list_add, so free_hot_cold_page_list frees them last-released first.

    Accelerator: ``release_pages`` in linuxvm/accel/swap.py (the references of many
    distinct order-0 pages dropped at once); it returns False, having changed nothing,
    for a list it does not cover.
    """
    fast = m.accel.release_pages
    if fast is not None and fast(m, pfns, cold, cpu):
        return
    if isinstance(pfns, np.ndarray):
        pfns = pfns.tolist()
    cpu = m.current_cpu if cpu is None else cpu
    mm = m.mem_map
    pages_to_free = []
    for pfn in pfns:
        head = mm.compound_head_pfn(pfn)
        rc = mm.rc[head] - 1                          # put_page_testzero
        if rc < 0:
            raise KernelBug(f"put_page: refcount of pfn {head:#x} below zero")
        mm.rc[head] = rc
        if rc:
            continue
        if mm.PageHead(head):
            _free_page(m, head, cpu)                  # __put_compound_page
            continue
        __page_cache_release(m, head)
        # clear Active in case of a parallel mark_page_accessed (Referenced goes with it:
        # free_pages_check clears every flag anyway)
        mm.f[head] = mm.f[head] & ~(_PG_ACTIVE | (1 << PG_referenced)) & _U64
        pages_to_free.append(head)                    # list_add: freed in reverse
    pages_to_free.reverse()
    free_hot_cold_page_list(m.pgdat, pages_to_free, cold, cpu)


def __pagevec_lru_add_fn(m, pfn: int) -> None:
    mm = m.mem_map
    if mm.f[pfn] & _LRU_MASK:
        raise KernelBug(f"pfn {pfn:#x} is already on an LRU list")
    mm.f[pfn] = mm.f[pfn] | _LRU_MASK
    lru = page_lru(mm, pfn)
    add_page_to_lru_list(m, pfn, lru)
    if lru != LRU_UNEVICTABLE:
        # update_page_reclaim_stat: get_scan_count's anon/file balance
        rs = m.lru.lruvecs[m.page_zone(pfn).idx]
        file = lru >= LRU_INACTIVE_FILE
        rs.recent_scanned[file] += 1
        if lru & LRU_ACTIVE:
            rs.recent_rotated[file] += 1
    tp = m.tp.mm_lru_insertion
    if tp is not None:
        tp(pfn, lru, trace_pagemap_flags(mm, pfn))


def trace_pagemap_flags(mm, pfn: int) -> int:
    """include/trace/events/pagemap.h trace_pagemap_flags: anon/file, mapped, swap cache,
    swap-backed, mapped to disk, private (buffers)."""
    f = int(mm.f[pfn])
    return ((PAGEMAP_ANONYMOUS if mm.mapping[pfn] & PAGE_MAPPING_ANON else PAGEMAP_FILE)
            | (PAGEMAP_MAPPED if mm.mc[pfn] >= 0 else 0)
            | (PAGEMAP_SWAPCACHE if f >> PG_swapcache & 1 else 0)
            | (PAGEMAP_SWAPBACKED if f >> PG_swapbacked & 1 else 0)
            | (PAGEMAP_MAPPEDDISK if f >> PG_mappedtodisk & 1 else 0)
            | (PAGEMAP_BUFFERS if f >> PG_private & 1 else 0))


def __pagevec_lru_add(m, cpu: int) -> None:
    """Move every page of this CPU's add pagevec onto its LRU list, then drop the
    pagevec's references.

    Accelerator: ``pagevec_lru_add`` in linuxvm/accel/swap.py (one loop when no page is
    compound, unevictable or left with no other reference); it returns False, having
    changed nothing, for any other pagevec.
    """
    fast = m.accel.pagevec_lru_add
    if fast is not None and fast(m, cpu):
        return
    pvec = m.lru.lru_add_pvec[cpu]
    pages = list(pvec)
    pvec.clear()
    for pfn in pages:
        __pagevec_lru_add_fn(m, pfn)
    release_pages(m, pages, cpu=cpu)


def __lru_cache_add(m, pfn: int, cpu: int) -> None:
    pvec = m.lru.lru_add_pvec[cpu]
    get_page(m, pfn)
    if len(pvec) >= PAGEVEC_SIZE:
        __pagevec_lru_add(m, cpu)
    pvec.append(pfn)


def lru_cache_add(m, pfn: int, cpu: int = None) -> None:
    __lru_cache_add(m, pfn, m.current_cpu if cpu is None else cpu)


def lru_cache_add_active_or_unevictable(m, pfn: int, vma, cpu: int = None) -> None:
    """Queue a new page for the active list, or the unevictable list if the VMA is
    mlocked (mm/swap.c)."""
    mm = m.mem_map
    if (vma.vm_flags & (VM_LOCKED | VM_SPECIAL)) != VM_LOCKED:
        f = mm.f
        f[pfn] = f[pfn] | _PG_ACTIVE
        __lru_cache_add(m, pfn, m.current_cpu if cpu is None else cpu)
        return
    if not mm.f[pfn] & (1 << PG_mlocked):
        mm.f[pfn] = mm.f[pfn] | (1 << PG_mlocked)
        m.page_zone(pfn).vm_stat[NR_MLOCK] += hpage_nr_pages(mm, pfn)
        m.pgdat.vm_events[VM_EVENT["unevictable_pgs_mlocked"]] += 1
    # add_page_to_unevictable_list
    mm.f[pfn] = mm.f[pfn] | _PG_UNEVICTABLE | _LRU_MASK
    add_page_to_lru_list(m, pfn, LRU_UNEVICTABLE)


def lru_add_drain_cpu(m, cpu: int) -> None:
    if m.lru.lru_add_pvec[cpu]:
        __pagevec_lru_add(m, cpu)
    if m.lru.lru_deactivate_pvecs[cpu]:
        _pagevec_lru_deactivate(m, cpu)


def lru_add_drain(m, cpu: int = None) -> None:
    if cpu is None:
        cpu = m.current_cpu
    lru = m.lru
    if lru.lru_add_pvec[cpu] or lru.lru_deactivate_pvecs[cpu]:    # else nothing to drain
        lru_add_drain_cpu(m, cpu)


def lru_add_drain_all(m) -> None:
    for cpu in range(m.nr_cpus):
        lru_add_drain_cpu(m, cpu)


def _pagevec_lru_deactivate(m, cpu: int) -> None:
    """lru_deactivate_fn for MADV_FREE'd anon pages: move to the inactive anon list head."""
    mm = m.mem_map
    pvec = m.lru.lru_deactivate_pvecs[cpu]
    pages = list(pvec)
    pvec.clear()
    for pfn in pages:
        f = mm.f[pfn]
        if f & _LRU_MASK and f & _PG_ACTIVE and not f & _PG_UNEVICTABLE:
            lru = page_lru(mm, pfn)
            del_page_from_lru_list(m, pfn, lru)
            mm.f[pfn] = mm.f[pfn] & ~(_PG_ACTIVE | (1 << PG_referenced)) & _U64
            add_page_to_lru_list(m, pfn, lru - LRU_ACTIVE)
            m.pgdat.vm_events[VM_EVENT["pgdeactivate"]] += 1
    release_pages(m, pages, cpu=cpu)


def deactivate_page(m, pfn: int, cpu: int = None) -> None:
    """Queue an active anon page to be moved to the inactive list (used by MADV_FREE)."""
    mm = m.mem_map
    cpu = m.current_cpu if cpu is None else cpu
    f = mm.f[pfn]
    if f & _LRU_MASK and f & _PG_ACTIVE and not f & _PG_UNEVICTABLE:
        pvec = m.lru.lru_deactivate_pvecs[cpu]
        get_page(m, pfn)
        pvec.append(pfn)
        if len(pvec) >= PAGEVEC_SIZE:
            _pagevec_lru_deactivate(m, cpu)


def mark_page_accessed(m, pfn: int) -> None:
    """Referenced → active promotion on a second access (mm/swap.c)."""
    mm = m.mem_map
    f = mm.f[pfn]
    if not f & _PG_ACTIVE and not f & _PG_UNEVICTABLE and f & (1 << PG_referenced):
        if f & _LRU_MASK:
            lru = page_lru(mm, pfn)
            del_page_from_lru_list(m, pfn, lru)
            mm.f[pfn] = (mm.f[pfn] | _PG_ACTIVE) & ~(1 << PG_referenced) & _U64
            add_page_to_lru_list(m, pfn, lru + LRU_ACTIVE)
            m.pgdat.vm_events[VM_EVENT["pgactivate"]] += 1
            rs = m.lru.lruvecs[m.page_zone(pfn).idx]       # update_page_reclaim_stat
            rs.recent_scanned[lru >= LRU_INACTIVE_FILE] += 1
            rs.recent_rotated[lru >= LRU_INACTIVE_FILE] += 1
        else:
            mm.f[pfn] = (mm.f[pfn] | _PG_ACTIVE) & ~(1 << PG_referenced) & _U64
        if not mm.f[pfn] & _PG_SWAPBACKED:
            workingset_activation(m, pfn)
    elif not f & (1 << PG_referenced):
        mm.f[pfn] = f | (1 << PG_referenced)


def check_lru(m) -> None:
    """Every PG_lru page is on the list its flags name, counters match, pagevec pages
    hold a reference and are not yet on a list."""
    if m.lru is None:
        return
    mm = m.mem_map
    seen = set()
    for lruvec in m.lru.lruvecs:
        zone = lruvec.zone
        for lru in range(NR_LRU_LISTS):
            count = 0
            for pfn in mm.list_entries(lruvec.lists[lru], mm.nr_frames):
                if pfn in seen:
                    raise KernelBug(f"pfn {pfn:#x} on two LRU lists")
                seen.add(pfn)
                if not mm.f[pfn] & _LRU_MASK:
                    raise KernelBug(f"pfn {pfn:#x} on {zone.name} {lru_names[lru]} without "
                                    f"PG_lru")
                if page_lru(mm, pfn) != lru:
                    raise KernelBug(f"pfn {pfn:#x} on {lru_names[lru]} but its flags say "
                                    f"{lru_names[page_lru(mm, pfn)]}")
                if m.page_zone(pfn) is not zone:
                    raise KernelBug(f"pfn {pfn:#x} on the LRU of the wrong zone")
                if mm.rc[pfn] <= 0:
                    raise KernelBug(f"pfn {pfn:#x} on an LRU list with refcount {mm.rc[pfn]}")
                count += hpage_nr_pages(mm, pfn)
            if count != zone.vm_stat[NR_LRU_BASE + lru]:
                raise KernelBug(f"{zone.name} nr_{lru_names[lru]} is "
                                f"{zone.vm_stat[NR_LRU_BASE + lru]} but the list holds {count}")
    flagged = np.flatnonzero(mm.flags & np.uint64(_LRU_MASK))
    if len(flagged) != len(seen):
        extra = sorted(set(int(x) for x in flagged) - seen)
        raise KernelBug(f"pfn {extra[0]:#x} has PG_lru but is on no LRU list")
    for cpu, pvec in enumerate(m.lru.lru_add_pvec):
        if len(pvec) > PAGEVEC_SIZE:
            raise KernelBug(f"cpu{cpu} lru_add_pvec holds {len(pvec)} pages")
        for pfn in pvec:
            if mm.f[pfn] & _LRU_MASK:
                raise KernelBug(f"pfn {pfn:#x} in a pagevec but already on an LRU list")
            if mm.rc[pfn] < 1:
                raise KernelBug(f"pfn {pfn:#x} in a pagevec without a reference")
