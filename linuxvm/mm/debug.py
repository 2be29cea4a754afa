"""Invariant checks over the whole model, the model's CONFIG_DEBUG_VM (mm/debug.c, and
mm/mmap.c validate_mm with the accounting the model can recompute)."""

import numpy as np

from ..arch.x86.page_types import PAGE_SIZE
from ..arch.x86.pgalloc import check_pgtables
from ..arch.x86.pgtable import pt_array
from ..arch.x86.pgtable_types import (PTE_PFN_MASK, _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE,
                                      _PAGE_SPECIAL)
from ..errors import KernelBug
from ..include.mm import VM_LOCKED, VM_ACCOUNT, is_exec_mapping, is_stack_mapping, \
    is_data_mapping
from .mm_types import MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES, MM_SWAPENTS
from .swapfile import (check_swap, swp_swapcount, swap_count, SWP_USED, SWAP_HAS_CACHE,
                       SWAP_MAP_SHMEM)
from .swap_state import check_swap_cache, find_swap_page
from ..arch.x86.pgtable import pte_to_swp_entry, swp_entry
from .mmzone import MAX_ORDER, MIGRATE_TYPES, MIGRATE_PCPTYPES, migratetype_names
from .page import (PAGE_BUDDY_MAPCOUNT_VALUE, PAGE_MAPPING_ANON, PG_reserved, PG_swapcache,
                   PG_swapbacked, PG_head, NULL)
from . import huge_memory
from .swap import check_lru
from .filemap import check_page_cache
from .backing_dev import check_writeback
from .vma import vma_pages, vma_compute_subtree_gap
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
    for head, order in m.page_owner_order.items():
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
    check_page_alloc(m)
    check_lru(m)
    for fn in extra_checks:
        fn(m)


def _user_ptes(m, mm, huge=None):
    """(pte_values, vaddrs) of every non-none 4 KiB PTE in ``mm``'s user half (present,
    PROT_NONE or a swap entry), via NumPy; ``huge``, a list, gets the value of each huge
    PMD."""
    vals, addrs = [], []
    pgd = pt_array(m, mm.pgd)
    for i in np.flatnonzero(pgd[:256] & _PAGE_PRESENT):
        pud = pt_array(m, int(pgd[i] & PTE_PFN_MASK) >> 12)
        for j in np.flatnonzero(pud & _PAGE_PRESENT):
            if pud[j] & _PAGE_PSE:
                continue
            pmd = pt_array(m, int(pud[j] & PTE_PFN_MASK) >> 12)
            for k in np.flatnonzero(pmd & np.uint64(_PAGE_PRESENT | _PAGE_PSE)):
                if pmd[k] & _PAGE_PSE:
                    if huge is not None:
                        huge.append(int(pmd[k]))
                    continue
                pte = pt_array(m, int(pmd[k] & PTE_PFN_MASK) >> 12)
                # present, PROT_NONE and swap entries: every entry that is not none
                idx = np.flatnonzero(pte)
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
    tasks = getattr(m, "tasks", None)
    if not tasks:
        return
    mem_map = m.mem_map
    mms = {}
    for t in tasks.values():
        if t.mm is not None:
            mms.setdefault(id(t.mm), (t.mm, []))[1].append(t)
    counts = np.zeros(mem_map.nr_frames, dtype=np.int64)
    pmd_maps = {}                  # THP head -> PMDs mapping it
    zero_pmds = 0
    swap_refs = {}
    for mm, owners in mms.values():
        huge = []
        vals, addrs = _user_ptes(m, mm, huge)
        thp_anon = 0
        for v in huge:
            head = (v & PTE_PFN_MASK) >> 12
            if head == m.huge_zero_pfn:
                zero_pmds += 1
                continue
            if not huge_memory.PageTransHuge(mem_map, head):
                raise KernelBug(f"a huge PMD maps pfn {head:#x}, which is not a THP head")
            pmd_maps[head] = pmd_maps.get(head, 0) + 1
            thp_anon += huge_memory.HPAGE_PMD_NR
        # pte_present: PROT_NONE entries (present bit clear, _PAGE_PROTNONE set) still map
        is_present = (vals & np.uint64(_PAGE_PRESENT | _PAGE_PROTNONE)) != 0
        present = vals[is_present]
        swapped = vals[~is_present]
        for v in swapped.tolist():
            e = pte_to_swp_entry(v)
            swap_refs[e] = swap_refs.get(e, 0) + 1
        cached = sum(t.rss_stat.count[MM_SWAPENTS] for t in owners)
        if swapped.size != mm.rss_stat[MM_SWAPENTS] + cached:
            raise KernelBug(f"mm of pid {owners[0].pid}: page tables hold {swapped.size} swap "
                            f"entries but MM_SWAPENTS is {mm.rss_stat[MM_SWAPENTS]} + "
                            f"{cached} cached")
        special = (present & np.uint64(_PAGE_SPECIAL)) != 0
        pfns = ((present & np.uint64(PTE_PFN_MASK)) >> np.uint64(12)).astype(np.int64)
        if special.any() and (pfns[special] != m.zero_pfn).any():
            raise KernelBug("a special PTE maps something other than the zero page")
        normal = pfns[~special]
        np.add.at(counts, normal, 1)
        anon = (mem_map.mapping[normal] & PAGE_MAPPING_ANON) != 0
        cached = sum(t.rss_stat.count[MM_ANONPAGES] for t in owners)
        if int(anon.sum()) + thp_anon != mm.rss_stat[MM_ANONPAGES] + cached:
            raise KernelBug(f"mm of pid {owners[0].pid}: page tables map "
                            f"{int(anon.sum()) + thp_anon} "
                            f"anon pages but MM_ANONPAGES is {mm.rss_stat[MM_ANONPAGES]} + "
                            f"{cached} cached")
        shmem = ~anon & ((mem_map.flags[normal] & np.uint64(1 << PG_swapbacked)) != 0)
        for member, name, n in ((MM_FILEPAGES, "MM_FILEPAGES", int((~anon & ~shmem).sum())),
                                (MM_SHMEMPAGES, "MM_SHMEMPAGES", int(shmem.sum()))):
            if n != mm.rss_stat[member] + sum(t.rss_stat.count[member] for t in owners):
                raise KernelBug(f"mm of pid {owners[0].pid}: page tables map {n} pages of "
                                f"{name} but it is {mm.rss_stat[member]} + "
                                f"{sum(t.rss_stat.count[member] for t in owners)} cached")
    holders = counts.copy()
    expect_mc = counts.copy()
    thp = m.transparent_hugepage
    if thp is not None:
        if m.huge_zero_pfn is not None or thp.huge_zero_refcount:
            if thp.huge_zero_refcount != 1 + zero_pmds:
                raise KernelBug(f"huge_zero_refcount is {thp.huge_zero_refcount} but "
                                f"{zero_pmds} PMDs map the huge zero page")
        for head in _thp_heads(m).tolist():
            nr = huge_memory.HPAGE_PMD_NR
            cm = huge_memory.compound_mapcount(mem_map, head)
            if cm != pmd_maps.get(head, 0):
                raise KernelBug(f"THP {head:#x}: compound_mapcount {cm} but "
                                f"{pmd_maps.get(head, 0)} PMDs map it")
            ptes = counts[head:head + nr]
            dm = huge_memory.PageDoubleMap(mem_map, head)
            if dm and not cm:
                raise KernelBug(f"THP {head:#x}: PageDoubleMap with no PMD mapping")
            if cm and ptes.any() and not dm:
                raise KernelBug(f"THP {head:#x}: mapped by PMD and PTEs without PageDoubleMap")
            expect_mc[head:head + nr] += int(dm)
            holders[head] = cm + int(ptes.sum())
            holders[head + 1:head + nr] = 0
            counts[head:head + nr] = np.maximum(ptes, expect_mc[head:head + nr])
        if pmd_maps and set(pmd_maps) - set(_thp_heads(m).tolist()):
            raise KernelBug("a huge PMD maps a page that is not a THP")
    mapped = np.flatnonzero(counts)
    mc = mem_map._mapcount[mapped].astype(np.int64) + 1
    bad = mapped[mc != expect_mc[mapped]]
    if bad.size:
        p = int(bad[0])
        raise KernelBug(f"pfn {p:#x}: _mapcount+1 is {mem_map.mc[p] + 1} but {counts[p]} "
                        f"PTEs map it")
    lru = getattr(m, "lru", None)
    if lru is not None:
        for pvec in list(lru.lru_add_pvec) + list(lru.lru_deactivate_pvecs):
            for p in pvec:
                holders[p] += 1
    swapcache = np.flatnonzero(mem_map.flags & np.uint64(1 << PG_swapcache))
    holders[swapcache] += 1                  # the swap cache's reference
    check_swap_refs(m, swap_refs)
    anon_pages = np.flatnonzero((mem_map.mapping & PAGE_MAPPING_ANON) != 0)
    live = anon_pages[mem_map._refcount[anon_pages] > 0]
    badrc = live[mem_map._refcount[live].astype(np.int64) != holders[live]]
    if badrc.size:
        p = int(badrc[0])
        raise KernelBug(f"anon pfn {p:#x}: _refcount {mem_map.rc[p]} but {holders[p]} "
                        f"holders (PTEs and pagevecs)")
    unmapped = live[(counts[live] == 0) & (holders[live] == 0)]
    if unmapped.size and (mem_map._mapcount[unmapped] != -1).any():
        raise KernelBug("an unmapped anon page has a mapcount")


def check_swap_refs(m, swap_refs: dict) -> None:
    """Each used swap slot counts exactly the PTEs holding its entry, and has
    SWAP_HAS_CACHE exactly when its page is in the swap cache (the areas' own counts
    are checked by check_swap)."""
    check_swap(m)
    check_swap_cache(m)
    shmem_refs = {}                         # the shmem files' entries (SWAP_MAP_SHMEM)
    for info in m.swap.shmem_swaplist:
        if len(info.swap) != info.swapped:
            raise KernelBug(f"shmem ino {info.inode.i_ino}: swapped {info.swapped} but "
                            f"{len(info.swap)} swap entries")
        for e in info.swap.values():
            if e in shmem_refs:
                raise KernelBug(f"swap entry {e:#x} held by two shmem slots")
            shmem_refs[e] = info
    for si in m.swap.swap_info:
        if not si.flags & SWP_USED:
            continue
        for off in np.flatnonzero(si.swap_map[1:]).tolist():
            off += 1
            e = swp_entry(si.type, off)
            if swap_count(int(si.swap_map[off])) == SWAP_MAP_SHMEM:
                if shmem_refs.pop(e, None) is None or e in swap_refs:
                    raise KernelBug(f"{si.name} slot {off}: a shmem slot no file holds alone")
                continue
            want = swap_refs.pop(e, 0)
            if swp_swapcount(m, e) != want:
                raise KernelBug(f"{si.name} slot {off}: swap count {swp_swapcount(m, e)} but "
                                f"{want} PTEs hold it")
            cached = find_swap_page(m, e) != NULL
            if bool(si.swap_map[off] & SWAP_HAS_CACHE) != cached:
                raise KernelBug(f"{si.name} slot {off}: SWAP_HAS_CACHE does not match the "
                                f"swap cache")
    if swap_refs:
        e = next(iter(swap_refs))
        raise KernelBug(f"a PTE holds swap entry {e:#x}, whose slot is free")
    if shmem_refs:
        e = next(iter(shmem_refs))
        raise KernelBug(f"a shmem file holds swap entry {e:#x}, whose slot is not shmem's")


def _thp_heads(m) -> np.ndarray:
    """Head frames of every allocated THP (the compound destructor marks them)."""
    mem_map = m.mem_map
    heads = np.flatnonzero(mem_map.flags & np.uint64(1 << PG_head))
    heads = heads[heads + 1 < mem_map.nr_frames]
    return heads[mem_map.lru_next[heads + 1] == huge_memory.TRANSHUGE_PAGE_DTOR]


def check_thp(m) -> None:
    """The deferred split queue holds THPs only and its length is right; each PMD table
    has one deposited table per huge PMD in it."""
    thp = m.transparent_hugepage
    if thp is None:
        return
    mem_map = m.mem_map
    q = mem_map.list_entries(thp.split_queue)
    if len(q) != thp.split_queue_len:
        raise KernelBug(f"split_queue_len is {thp.split_queue_len} but the queue holds "
                        f"{len(q)}")
    for t in q:
        if not huge_memory.PageTransHuge(mem_map, t - 2):
            raise KernelBug(f"pfn {t - 2:#x} on the deferred split queue is not a THP")
    for table, deposited in thp.pmd_huge_pte.items():
        ents = pt_array(m, table)
        n = int(((ents & np.uint64(_PAGE_PSE)) != 0).sum())
        if n != len(deposited):
            raise KernelBug(f"PMD table {table:#x} has {n} huge PMDs but {len(deposited)} "
                            f"deposited tables")


# -- address spaces (mm/mmap.c validate_mm, plus the accounting the model can recompute) --

def check_mm(m, mm, label="") -> int:
    """One address space: what 4.6's validate_mm and browse_rb check (list and tree agree,
    sorted, gaps exact, map_count, highest_vm_end, each anon_vma_chain names its VMA) and
    the counters the VMAs add up to; returns the pages it has committed.

    Adjacent VMAs that could merge are not a bug: 4.6 leaves them unmerged in several
    legal ways (a split kept after a failed mprotect, stack growth, a fault giving one VMA
    its own anon_vma, fork clearing VM_LOCKED in the child).
    """

    def bug(msg):
        raise KernelBug(f"{label}: {msg}")
    count = total = data = exec_ = stack = locked = committed = 0
    prev = None
    v = mm.mmap
    while v is not None:
        if v.vm_prev is not prev:
            bug(f"{v} has vm_prev {v.vm_prev}, expected {prev}")
        if v.vm_start >= v.vm_end or (v.vm_start | v.vm_end) & (PAGE_SIZE - 1):
            bug(f"{v} is empty or not page aligned")
        if v.vm_end > mm.task_size:
            bug(f"{v} ends above TASK_SIZE")
        if prev is not None:
            if prev.vm_end > v.vm_start:
                bug(f"{prev} overlaps {v}")
        if v.vm_mm is not mm:
            bug(f"{v} belongs to another mm")
        if v.anon_vma is not None:
            chain = v.anon_vma_chain
            if not any(avc.anon_vma is v.anon_vma for avc in chain):
                bug(f"{v} has an anon_vma but no anon_vma_chain entry for it")
            for avc in chain:
                if avc.vma is not v:
                    bug(f"an anon_vma_chain entry of {v} names {avc.vma}")
        n = vma_pages(v)
        count += 1
        total += n
        if is_exec_mapping(v.vm_flags):
            exec_ += n
        elif is_stack_mapping(v.vm_flags):
            stack += n
        elif is_data_mapping(v.vm_flags):
            data += n
        if v.vm_flags & VM_LOCKED:
            locked += n
        if v.vm_flags & VM_ACCOUNT:
            committed += n
        prev = v
        v = v.vm_next
    if count != mm.map_count:
        bug(f"map_count {mm.map_count} but {count} VMAs")
    # a child whose VMAs were all VM_DONTCOPY keeps the parent's value (dup_mm copies the
    # mm_struct, dup_mmap links nothing) until its first VMA is linked
    if prev is not None and mm.highest_vm_end != prev.vm_end:
        bug(f"highest_vm_end {mm.highest_vm_end:#x} is stale")
    for name, want in (("total_vm", total), ("data_vm", data), ("exec_vm", exec_),
                       ("stack_vm", stack)):
        if getattr(mm, name) != want:
            bug(f"{name} is {getattr(mm, name)} but the VMAs add up to {want}")
    # 4.6's mlock_fixup counts a range again when only VM_LOCKONFAULT changes (fixed in
    # 5.4) and nothing takes the extra back, so locked_vm can only be above the VMAs' sum
    if mm.locked_vm < locked:
        bug(f"locked_vm is {mm.locked_vm} but the VM_LOCKED VMAs hold {locked} pages")
    # the tree: in order, balanced, gaps exact
    seen = []

    def walk(node):
        if node is None:
            return 0
        for child in (node.rb_left, node.rb_right):
            if child is not None and child.rb_parent is not node:
                bug(f"{child} has rb_parent {child.rb_parent}, expected {node}")
        hl = walk(node.rb_left)
        seen.append(node)
        hr = walk(node.rb_right)
        if abs(hl - hr) > 1 or node.rb_height != 1 + max(hl, hr):
            bug(f"tree unbalanced at {node}")
        gap, want = node.rb_subtree_gap, vma_compute_subtree_gap(node)
        if gap != want:
            bug(f"rb_subtree_gap of {node} is {gap:#x}, should be {want:#x}")
        return node.rb_height
    if mm.mm_rb is not None and mm.mm_rb.rb_parent is not None:
        bug(f"the root {mm.mm_rb} has rb_parent {mm.mm_rb.rb_parent}")
    walk(mm.mm_rb)
    v = mm.mmap
    for node in seen:
        if node is not v:
            bug("tree order differs from the vm_next list")
        v = v.vm_next
    if v is not None:
        bug("VMA on the list but not in the tree")
    return committed


def check_address_spaces(m) -> None:
    """m.check(): every task's VMAs, and Committed_AS against all VM_ACCOUNT VMAs."""
    committed = 0
    seen = set()
    for pid, task in sorted(m.tasks.items()):
        mm = task.mm
        if mm is None or id(mm) in seen:
            continue
        seen.add(id(mm))
        committed += check_mm(m, mm, f"pid {pid}")
    extra = m.committed_outside_vmas
    if committed + extra != m.vm_committed_as:
        raise KernelBug(f"Committed_AS is {m.vm_committed_as} pages but the VM_ACCOUNT VMAs "
                        f"hold {committed} (+{extra} charged elsewhere)")


extra_checks.append(check_user_pages)
extra_checks.append(check_thp)
extra_checks.append(check_pgtables)
extra_checks.append(check_address_spaces)
extra_checks.append(check_page_cache)
extra_checks.append(check_writeback)
