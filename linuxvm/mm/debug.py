"""Invariant checks over the whole model, the model's CONFIG_DEBUG_VM (mm/debug.c)."""

import numpy as np

from ..errors import KernelBug
from .mmzone import MAX_ORDER, MIGRATE_TYPES, MIGRATE_PCPTYPES, migratetype_names
from .page import PAGE_BUDDY_MAPCOUNT_VALUE, PG_reserved, NULL
from ..include.vm_event_item import NR_FREE_PAGES

# Frame states for the check
FREE, PCP, ALLOCATED, RESERVED = 1, 2, 3, 4

# Other subsystems add checks here: callables taking the machine.
extra_checks = []


def check_page_alloc(m) -> np.ndarray:
    """Every frame is free in exactly one buddy list, on one pcp list, allocated or
    reserved; counts match lists. Returns the per-frame state array."""
    pgdat = m.pgdat
    mm = pgdat.mem_map
    n = mm.nr_frames
    state = np.zeros(n, dtype=np.int8)
    for zone in pgdat.node_zones:
        lo, hi = zone.zone_start_pfn, zone.zone_end_pfn
        free = 0
        for order in range(MAX_ORDER):
            area = zone.free_area[order]
            count = 0
            for mt in range(MIGRATE_TYPES):
                head = area.free_list[mt]
                name = f"{zone.name} free_area[{order}].free_list[{migratetype_names[mt]}]"
                prev = head
                for pfn in mm.list_entries(head, n):
                    if mm.prv[pfn] != prev:
                        raise KernelBug(f"{name}: broken prev link at pfn {pfn:#x}")
                    prev = pfn
                    if not lo <= pfn < hi or pfn + (1 << order) > hi:
                        raise KernelBug(f"{name}: pfn {pfn:#x} outside the zone")
                    if pfn & ((1 << order) - 1):
                        raise KernelBug(f"{name}: pfn {pfn:#x} not aligned to order {order}")
                    if mm.mc[pfn] != PAGE_BUDDY_MAPCOUNT_VALUE:
                        raise KernelBug(f"{name}: pfn {pfn:#x} on a free list without PageBuddy")
                    if mm.priv[pfn] != order:
                        raise KernelBug(f"{name}: pfn {pfn:#x} has order {mm.priv[pfn]}")
                    blk = state[pfn:pfn + (1 << order)]
                    if blk.any():
                        raise KernelBug(f"{name}: block at pfn {pfn:#x} overlaps another "
                                        f"free block")
                    blk[:] = FREE
                    count += 1
                if mm.prv[head] != prev:
                    raise KernelBug(f"{name}: list tail link broken")
            if count != area.nr_free:
                raise KernelBug(f"{zone.name} free_area[{order}].nr_free is {area.nr_free} "
                                f"but the lists hold {count} blocks")
            free += count << order
        # pcp lists
        for cpu, ps in enumerate(zone.pageset):
            pcp = ps.pcp
            count = 0
            for mt in range(MIGRATE_PCPTYPES):
                for pfn in mm.list_entries(pcp.lists[mt], n):
                    if state[pfn]:
                        raise KernelBug(f"pfn {pfn:#x} is on {zone.name} cpu{cpu} pcp list "
                                        f"{mt} and also free or on another list")
                    if not lo <= pfn < hi:
                        raise KernelBug(f"pfn {pfn:#x} on {zone.name} pcp list but outside "
                                        f"the zone")
                    if mm.rc[pfn] != 0 or mm.mc[pfn] != -1:
                        raise KernelBug(f"pcp page {pfn:#x} has refcount {mm.rc[pfn]} "
                                        f"mapcount {mm.mc[pfn]}")
                    state[pfn] = PCP
                    count += 1
            if count != pcp.count:
                raise KernelBug(f"{zone.name} cpu{cpu} pcp count is {pcp.count} but the lists "
                                f"hold {count}")
            # no upper bound: a refill of an empty migratetype list ignores how full
            # the other lists are, so count can pass high (only frees trim it)
            if pcp.count < 0:
                raise KernelBug(f"{zone.name} cpu{cpu} pcp count {pcp.count} is negative")
        if free != zone.vm_stat[NR_FREE_PAGES]:
            raise KernelBug(f"{zone.name} NR_FREE_PAGES is {zone.vm_stat[NR_FREE_PAGES]} but "
                            f"the free lists hold {free} pages")
    # buddy markers only on free heads
    buddy = mm._mapcount == PAGE_BUDDY_MAPCOUNT_VALUE
    heads = np.zeros(n, dtype=bool)
    for zone in pgdat.node_zones:
        for order in range(MAX_ORDER):
            for mt in range(MIGRATE_TYPES):
                for pfn in mm.list_entries(zone.free_area[order].free_list[mt], n):
                    heads[pfn] = True
    stray = np.flatnonzero(buddy & ~heads)
    if stray.size:
        raise KernelBug(f"pfn {int(stray[0]):#x} is PageBuddy but on no free list")
    rest = state == 0
    reserved = (mm.flags & np.uint64(1 << PG_reserved)) != 0
    free_or_pcp = ~rest
    bad = np.flatnonzero(free_or_pcp & reserved)
    if bad.size:
        raise KernelBug(f"pfn {int(bad[0]):#x} is free but PG_reserved")
    state[rest & reserved] = RESERVED
    tails = mm.compound_head != NULL
    # the refcount-0 pages after the head of a non-compound high-order allocation
    # (page_alloc records those blocks in m.page_owner_order, like CONFIG_PAGE_OWNER)
    in_block = tails.copy()
    for head, order in getattr(m, "page_owner_order", {}).items():
        in_block[head + 1:head + (1 << order)] = True
    alloc = rest & ~reserved & ((mm._refcount > 0) | in_block)
    state[alloc] = ALLOCATED
    lost = np.flatnonzero(state == 0)
    if lost.size:
        p = int(lost[0])
        raise KernelBug(f"pfn {p:#x} is neither free, on a pcp list, allocated nor reserved "
                        f"(refcount {mm.rc[p]}, mapcount {mm.mc[p]})")
    neg = np.flatnonzero(mm._refcount < 0)
    if neg.size:
        raise KernelBug(f"pfn {int(neg[0]):#x} has negative refcount")
    # tails point at a head that is allocated
    tail_pfns = np.flatnonzero(tails)
    if tail_pfns.size:
        hd = mm.compound_head[tail_pfns]
        if (state[hd] != ALLOCATED).any():
            raise KernelBug("a compound tail's head is not allocated")
    return state


def check_machine(m) -> None:
    from .swap import check_lru
    check_page_alloc(m)
    check_lru(m)
    for fn in extra_checks:
        fn(m)


def _user_ptes(m, mm):
    """(pte_values, vaddrs) of every present (or PROT_NONE) 4 KiB PTE in ``mm``'s user
    half, via NumPy."""
    from ..arch.x86.pgtable import pt_array
    from ..arch.x86.pgtable_types import _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE, PTE_PFN_MASK
    vals, addrs = [], []
    pgd = pt_array(m, mm.pgd)
    for i in np.flatnonzero(pgd[:256] & _PAGE_PRESENT):
        pud = pt_array(m, int(pgd[i] & PTE_PFN_MASK) >> 12)
        for j in np.flatnonzero(pud & _PAGE_PRESENT):
            if pud[j] & _PAGE_PSE:
                continue
            pmd = pt_array(m, int(pud[j] & PTE_PFN_MASK) >> 12)
            for k in np.flatnonzero(pmd & _PAGE_PRESENT):
                if pmd[k] & _PAGE_PSE:
                    continue
                pte = pt_array(m, int(pmd[k] & PTE_PFN_MASK) >> 12)
                idx = np.flatnonzero(pte & (_PAGE_PRESENT | _PAGE_PROTNONE))
                if idx.size:
                    vals.append(pte[idx])
                    addrs.append((int(i) << 39) | (int(j) << 30) | (int(k) << 21)
                                 | (idx.astype(np.int64) << 12))
    if not vals:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    return np.concatenate(vals), np.concatenate(addrs)


def check_user_pages(m) -> None:
    """Each user page's _mapcount and _refcount equal the PTEs and pagevecs holding it;
    each mm's RSS counters (plus its tasks' caches) equal what its page tables map."""
    from ..arch.x86.pgtable_types import (PTE_PFN_MASK, _PAGE_SPECIAL, _PAGE_PRESENT,
                                          _PAGE_PROTNONE)
    from .mm_types import MM_ANONPAGES, MM_FILEPAGES
    from .page import PAGE_MAPPING_ANON
    tasks = getattr(m, "tasks", None)
    if not tasks:
        return
    mem_map = m.mem_map
    mms = {}
    for t in tasks.values():
        if t.mm is not None:
            mms.setdefault(id(t.mm), (t.mm, []))[1].append(t)
    counts = np.zeros(mem_map.nr_frames, dtype=np.int64)
    for mm, owners in mms.values():
        vals, addrs = _user_ptes(m, mm)
        # pte_present: PROT_NONE entries (present bit clear, _PAGE_PROTNONE set) still map
        present = vals[(vals & np.uint64(_PAGE_PRESENT | _PAGE_PROTNONE)) != 0]
        special = (present & np.uint64(_PAGE_SPECIAL)) != 0
        pfns = ((present & np.uint64(PTE_PFN_MASK)) >> np.uint64(12)).astype(np.int64)
        if special.any() and (pfns[special] != m.zero_pfn).any():
            raise KernelBug("a special PTE maps something other than the zero page")
        normal = pfns[~special]
        np.add.at(counts, normal, 1)
        anon = (mem_map.mapping[normal] & PAGE_MAPPING_ANON) != 0
        cached = sum(t.rss_stat.count[MM_ANONPAGES] for t in owners)
        if int(anon.sum()) != mm.rss_stat[MM_ANONPAGES] + cached:
            raise KernelBug(f"mm of pid {owners[0].pid}: page tables map {int(anon.sum())} "
                            f"anon pages but MM_ANONPAGES is {mm.rss_stat[MM_ANONPAGES]} + "
                            f"{cached} cached")
        if int((~anon).sum()) != mm.rss_stat[MM_FILEPAGES] + sum(
                t.rss_stat.count[MM_FILEPAGES] for t in owners):
            raise KernelBug(f"mm of pid {owners[0].pid}: MM_FILEPAGES does not match")
    mapped = np.flatnonzero(counts)
    mc = mem_map._mapcount[mapped].astype(np.int64) + 1
    bad = mapped[mc != counts[mapped]]
    if bad.size:
        p = int(bad[0])
        raise KernelBug(f"pfn {p:#x}: _mapcount+1 is {mem_map.mc[p] + 1} but {counts[p]} "
                        f"PTEs map it")
    holders = counts.copy()
    lru = getattr(m, "lru", None)
    if lru is not None:
        for pvec in list(lru.lru_add_pvec) + list(lru.lru_deactivate_pvecs):
            for p in pvec:
                holders[p] += 1
    anon_pages = np.flatnonzero((mem_map.mapping & PAGE_MAPPING_ANON) != 0)
    live = anon_pages[mem_map._refcount[anon_pages] > 0]
    badrc = live[mem_map._refcount[live].astype(np.int64) != holders[live]]
    if badrc.size:
        p = int(badrc[0])
        raise KernelBug(f"anon pfn {p:#x}: _refcount {mem_map.rc[p]} but {holders[p]} "
                        f"holders (PTEs and pagevecs)")
    unmapped = live[counts[live] == 0]
    if unmapped.size and (mem_map._mapcount[unmapped] != -1).any():
        raise KernelBug("an unmapped anon page has a mapcount")


extra_checks.append(check_user_pages)
