"""khugepaged: collapsing 512 small anonymous pages into a THP (the khugepaged part of
4.6's mm/huge_memory.c, include/linux/khugepaged.h).

An mm enters khugepaged's list (an ``MmSlot`` on ``mm_head``; MMF_VM_HUGEPAGE is being
on it) at its first huge fault, when a VMA merge or MADV_HUGEPAGE makes a VMA eligible,
and at fork when the parent is on it; it leaves at exit. ``khugepaged_do_scan(m)`` is one
wake-up of the kernel thread, scanning up to ``pages_to_scan`` pages from where the last
one stopped: the model's tick runs it when the thread's sleep ends
(linuxvm/kernel/kthreads.py), and ``Machine.run_khugepaged`` runs it at once.

The model is !CONFIG_NUMA, as its config: each pass preallocates the huge page before
scanning (khugepaged_prealloc_page) and frees it if nothing was collapsed, so
``thp_collapse_alloc`` counts passes that found memory, as in 4.6. The mm_slot objects
take no slab object (4.6's khugepaged_mm_slot cache is not in the model's slabinfo),
and the retry after a failed allocation comes at once (the thread sleeps
alloc_sleep_millisecs after the pass instead, linuxvm/kernel/kthreads.py).
"""

from ..arch.x86 import tlb as x86_tlb
from ..arch.x86.pgtable import (pt_entries, pte_present, pte_write, pte_young, pte_pfn,
                                pgd_offset, pud_offset, pmd_offset)
from ..include.mm import VM_HUGEPAGE, VM_NOHUGEPAGE
from ..include.vm_event_item import NR_ISOLATED_ANON
from . import huge_memory as H
from . import gfp as G
from .mm_types import MM_ANONPAGES
from .page import (NULL, PAGE_MAPPING_ANON, PG_lru, PG_locked, PG_swapcache, PG_young,
                   PG_referenced, PG_uptodate)
from .page_alloc import __alloc_pages_nodemask
from .rmap import mm_find_pmd, page_remove_rmap, rmap_callbacks
from .swap import put_page, lru_cache_add_active_or_unevictable
from .swapfile import reuse_swap_page, try_to_free_swap
from .vma import find_vma
from .vmscan import isolate_lru_page, putback_lru_page

_U64 = 0xFFFFFFFFFFFFFFFF


class MmSlot:
    """struct mm_slot: one mm on khugepaged's list."""

    __slots__ = ("mm",)

    def __init__(self, mm):
        self.mm = mm


class KhugepagedScan:
    """struct khugepaged_scan: the list of mm_slots and the cursor (slot, address)."""

    __slots__ = ("mm_head", "mm_slot", "address")

    def __init__(self):
        self.mm_head = []
        self.mm_slot = None
        self.address = 0


def khugepaged_init(m) -> None:
    """Register khugepaged's hook on VMA merges and madvise (khugepaged_slab_init's place)."""
    m.transparent_hugepage.khugepaged_scan = KhugepagedScan()
    m.khugepaged_enter_vma_merge = lambda vma, vm_flags: khugepaged_enter_vma_merge(
        m, vma, vm_flags)


def _scan(m) -> KhugepagedScan:
    return m.transparent_hugepage.khugepaged_scan


def get_mm_slot(m, mm):
    for slot in _scan(m).mm_head:
        if slot.mm is mm:
            return slot
    return None


def __khugepaged_enter(m, mm) -> None:
    """Put ``mm`` on the list, behind the cursor (mm/huge_memory.c __khugepaged_enter)."""
    if get_mm_slot(m, mm) is not None:                # test_and_set_bit(MMF_VM_HUGEPAGE)
        return
    _scan(m).mm_head.append(MmSlot(mm))


def khugepaged_enter(m, vma, vm_flags: int) -> None:
    """Register the VMA's mm when THP is on for it (include/linux/khugepaged.h)."""
    if get_mm_slot(m, vma.vm_mm) is not None:
        return
    if (m.thp == "always" or (m.thp == "madvise" and vm_flags & VM_HUGEPAGE)) and \
            not vm_flags & VM_NOHUGEPAGE:
        __khugepaged_enter(m, vma.vm_mm)


def khugepaged_enter_vma_merge(m, vma, vm_flags: int) -> None:
    """After a merge or MADV_HUGEPAGE: register the mm if the VMA holds an aligned 2 MiB
    range and has faulted before (mm/huge_memory.c khugepaged_enter_vma_merge)."""
    if vma.anon_vma is None:
        return
    if vma.vm_ops is not None or vm_flags & H.VM_NO_THP:
        return
    hstart = (vma.vm_start + ~H.HPAGE_PMD_MASK) & H.HPAGE_PMD_MASK
    hend = vma.vm_end & H.HPAGE_PMD_MASK
    if hstart < hend:
        khugepaged_enter(m, vma, vm_flags)


def khugepaged_fork(m, mm, oldmm) -> None:
    if m.transparent_hugepage is not None and get_mm_slot(m, oldmm) is not None:
        __khugepaged_enter(m, mm)


def khugepaged_exit(m, mm) -> None:
    """The mm is going: off the list (mm/huge_memory.c __khugepaged_exit). 4.6 leaves a
    slot the cursor is on for the next pass to collect, holding an mm_count reference
    till then; the model moves the cursor on and drops the slot at once, so the slot
    holds no reference on the mm."""
    if m.transparent_hugepage is None:
        return
    slot = get_mm_slot(m, mm)
    if slot is None:
        return
    scan = _scan(m)
    if scan.mm_slot is slot:
        i = scan.mm_head.index(slot)
        scan.mm_slot = scan.mm_head[i + 1] if i + 1 < len(scan.mm_head) else None
        scan.address = 0
    scan.mm_head.remove(slot)


def collect_mm_slot(m, slot) -> None:
    if slot.mm.mm_users == 0 and slot in _scan(m).mm_head:    # khugepaged_test_exit
        _scan(m).mm_head.remove(slot)


def hugepage_vma_check(m, vma) -> bool:
    f = vma.vm_flags
    if (not f & VM_HUGEPAGE and m.thp != "always") or f & VM_NOHUGEPAGE:
        return False
    if vma.anon_vma is None or vma.vm_ops is not None:
        return False
    if not H.transparent_hugepage_enabled(m, vma) and not f & VM_HUGEPAGE:
        return False                                  # is_vma_temporary_stack
    return not f & H.VM_NO_THP


def _pmd_ptr(m, mm, address: int):
    e = pt_entries(m, pgd_offset(mm, address)[0])[pgd_offset(mm, address)[1]]
    pud = pud_offset(e, address)
    return pmd_offset(pt_entries(m, pud[0])[pud[1]], address)


def _referenced(mem_map, page: int, pteval: int) -> bool:
    return bool(pte_young(pteval) or mem_map.f[page] & ((1 << PG_young) | (1 << PG_referenced)))


def khugepaged_scan_pmd(m, mm, vma, address: int, hpage: list) -> bool:
    """Whether the 512 PTEs at ``address`` may collapse (few enough none, all present,
    anonymous, on the LRU, only the one reference, one writable and one young); when so
    collapse them (mm/huge_memory.c khugepaged_scan_pmd). True when it collapsed or tried."""
    table = mm_find_pmd(m, mm, address)
    if table < 0:
        return False
    mem_map = m.mem_map
    ptes = pt_entries(m, table)
    none_or_zero = 0
    writable = referenced = False
    max_none = m.transparent_hugepage.khugepaged_max_ptes_none
    for i in range(H.HPAGE_PMD_NR):
        pteval = int(ptes[i])
        if not pteval or (pte_present(pteval) and pte_pfn(pteval) == m.zero_pfn):
            none_or_zero += 1
            if none_or_zero <= max_none:
                continue
            return False                                  # SCAN_EXCEED_NONE_PTE
        if not pte_present(pteval):
            return False                                  # SCAN_PTE_NON_PRESENT
        if pte_write(pteval):
            writable = True
        page = pte_pfn(pteval)
        if page >= m.max_pfn:
            return False                                  # SCAN_PAGE_NULL
        if mem_map.PageHead(page) or mem_map.PageTail(page):
            return False                                  # SCAN_PAGE_COMPOUND
        f = mem_map.f[page]
        if not f & (1 << PG_lru) or f & (1 << PG_locked):
            return False                                  # SCAN_PAGE_LRU / LOCK
        if not mem_map.mapping[page] & PAGE_MAPPING_ANON:
            return False                                  # SCAN_PAGE_ANON
        if mem_map.rc[page] != 1 + bool(f & (1 << PG_swapcache)):
            return False                                  # SCAN_PAGE_COUNT
        if _referenced(mem_map, page, pteval):
            referenced = True
    if not (writable and referenced):
        return False                                      # SCAN_PAGE_RO / NO_REFERENCED
    collapse_huge_page(m, mm, address, hpage)
    return True


def __collapse_huge_page_isolate(m, vma, address: int, ptes) -> list:
    """Lock and isolate each page of the range; the pages, or None (released again) when
    one cannot be taken (mm/huge_memory.c __collapse_huge_page_isolate)."""
    mem_map = m.mem_map
    taken = []
    none_or_zero = 0
    writable = referenced = False
    max_none = m.transparent_hugepage.khugepaged_max_ptes_none
    ok = True
    for i in range(H.HPAGE_PMD_NR):
        pteval = int(ptes[i])
        if not pteval or (pte_present(pteval) and pte_pfn(pteval) == m.zero_pfn):
            none_or_zero += 1
            if none_or_zero <= max_none:
                continue
            ok = False
            break
        if not pte_present(pteval):
            ok = False
            break
        page = pte_pfn(pteval)
        f = mem_map.f[page]
        if f & (1 << PG_locked):
            ok = False
            break
        mem_map.f[page] = f | (1 << PG_locked)            # trylock_page
        if mem_map.rc[page] != 1 + bool(f & (1 << PG_swapcache)):
            mem_map.f[page] = mem_map.f[page] & ~(1 << PG_locked) & _U64
            ok = False
            break
        if pte_write(pteval):
            writable = True
        elif f & (1 << PG_swapcache) and not reuse_swap_page(m, page):
            mem_map.f[page] = mem_map.f[page] & ~(1 << PG_locked) & _U64
            ok = False
            break
        if isolate_lru_page(m, page):
            mem_map.f[page] = mem_map.f[page] & ~(1 << PG_locked) & _U64
            ok = False
            break
        m.page_zone(page).vm_stat[NR_ISOLATED_ANON] += 1
        taken.append(page)
        if _referenced(mem_map, page, pteval):
            referenced = True
    if ok and writable and referenced:
        return taken
    for page in reversed(taken):
        release_pte_page(m, page)
    return None


def release_pte_page(m, page: int) -> None:
    m.page_zone(page).vm_stat[NR_ISOLATED_ANON] -= 1
    mem_map = m.mem_map
    mem_map.f[page] = mem_map.f[page] & ~(1 << PG_locked) & _U64
    putback_lru_page(m, page)


def __collapse_huge_page_copy(m, vma, address: int, ptes, new_page: int) -> None:
    """Copy each page into its place in the THP (a none or zero PTE gives a zeroed
    subpage counted in RSS), clearing the PTEs and freeing the old pages
    (mm/huge_memory.c __collapse_huge_page_copy)."""
    mm = vma.vm_mm
    for i in range(H.HPAGE_PMD_NR):
        pteval = int(ptes[i])
        dst = new_page + i
        if not pteval or pte_pfn(pteval) == m.zero_pfn:
            H.clear_huge_page_one(m, dst)
            mm.rss_stat[MM_ANONPAGES] += 1
            if pteval:
                ptes[i] = 0
        else:
            src = pte_pfn(pteval)
            H.copy_user_huge_page(m, dst, src, 1)
            release_pte_page(m, src)
            ptes[i] = 0
            page_remove_rmap(m, src)
            # free_page_and_swap_cache
            if m.mem_map.f[src] & (1 << PG_swapcache) and m.mem_map.mc[src] < 0:
                m.mem_map.f[src] = m.mem_map.f[src] | (1 << PG_locked)
                try_to_free_swap(m, src)
                m.mem_map.f[src] = m.mem_map.f[src] & ~(1 << PG_locked) & _U64
            put_page(m, src)


def collapse_huge_page(m, mm, address: int, hpage: list) -> None:
    """Replace the 512 PTEs at ``address`` by a huge PMD mapping a copy of their pages;
    the old PTE table becomes the deposited one (mm/huge_memory.c collapse_huge_page)."""
    new_page = hpage[0]
    thp = m.transparent_hugepage
    if mm.mm_users == 0:
        return                                            # SCAN_ANY_PROCESS
    vma = find_vma(mm, address)
    if vma is None:
        return
    hstart = (vma.vm_start + ~H.HPAGE_PMD_MASK) & H.HPAGE_PMD_MASK
    hend = vma.vm_end & H.HPAGE_PMD_MASK
    if address < hstart or address + H.HPAGE_PMD_SIZE > hend:
        return                                            # SCAN_ADDRESS_RANGE
    if not hugepage_vma_check(m, vma):
        return
    table = mm_find_pmd(m, mm, address)
    if table < 0:
        return
    pmd = _pmd_ptr(m, mm, address)
    orig = pt_entries(m, pmd[0])[pmd[1]]
    pt_entries(m, pmd[0])[pmd[1]] = 0                     # pmdp_collapse_flush
    x86_tlb.flush_tlb_range(m, vma, address, address + H.HPAGE_PMD_SIZE)
    ptes = pt_entries(m, table)
    taken = __collapse_huge_page_isolate(m, vma, address, ptes)
    if taken is None:
        pt_entries(m, pmd[0])[pmd[1]] = orig              # pmd_populate
        return
    __collapse_huge_page_copy(m, vma, address, ptes, new_page)
    mem_map = m.mem_map
    mem_map.f[new_page] = mem_map.f[new_page] | (1 << PG_uptodate)
    entry = H.maybe_pmd_mkwrite(H.pmd_mkdirty(H.mk_huge_pmd(new_page, vma.vm_page_prot)), vma)
    H.page_add_new_anon_compound_rmap(m, new_page, vma, address)
    lru_cache_add_active_or_unevictable(m, new_page, vma)
    H.pgtable_trans_huge_deposit(m, pmd, table)
    pt_entries(m, pmd[0])[pmd[1]] = entry
    hpage[0] = NULL
    thp.khugepaged_pages_collapsed += 1


def khugepaged_scan_mm_slot(m, pages: int, hpage: list) -> int:
    """Scan the cursor's mm from the cursor on, up to ``pages`` (VMAs count one each);
    the progress made (mm/huge_memory.c khugepaged_scan_mm_slot)."""
    scan = _scan(m)
    thp = m.transparent_hugepage
    if scan.mm_slot is None:
        scan.mm_slot = scan.mm_head[0]
        scan.address = 0
    slot = scan.mm_slot
    mm = slot.mm
    vma = None if mm.mm_users == 0 else find_vma(mm, scan.address)
    progress = 1
    while vma is not None:
        if mm.mm_users == 0:
            progress += 1
            break
        hstart = (vma.vm_start + ~H.HPAGE_PMD_MASK) & H.HPAGE_PMD_MASK
        hend = vma.vm_end & H.HPAGE_PMD_MASK
        if not hugepage_vma_check(m, vma) or hstart >= hend or scan.address > hend:
            progress += 1
            vma = vma.vm_next
            continue
        if scan.address < hstart:
            scan.address = hstart
        done = False
        while scan.address < hend:
            ret = khugepaged_scan_pmd(m, mm, vma, scan.address, hpage)
            scan.address += H.HPAGE_PMD_SIZE
            progress += H.HPAGE_PMD_NR
            if ret or progress >= pages:
                done = True
                break
        if done:
            break
        vma = vma.vm_next
    if mm.mm_users == 0 or vma is None:
        i = scan.mm_head.index(slot)
        if i + 1 < len(scan.mm_head):
            scan.mm_slot = scan.mm_head[i + 1]
            scan.address = 0
        else:
            scan.mm_slot = None
            thp.khugepaged_full_scans += 1
        collect_mm_slot(m, slot)
    return progress


def alloc_hugepage_khugepaged_gfpmask(m) -> int:
    return G.GFP_TRANSHUGE | (G.__GFP_DIRECT_RECLAIM if m.transparent_hugepage.khugepaged_defrag
                              else 0)


def khugepaged_alloc_hugepage(m, wait: list) -> int:
    """A huge page for the next collapse; after a failure 4.6 sleeps alloc_sleep_millisecs
    once and tries again (mm/huge_memory.c khugepaged_alloc_hugepage, !NUMA)."""
    while True:
        page = __alloc_pages_nodemask(m.pgdat, alloc_hugepage_khugepaged_gfpmask(m),
                                      H.HPAGE_PMD_ORDER, m.current_cpu)
        if page != NULL:
            H.prep_transhuge_page(m, page)
            H.count_vm_event(m, "thp_collapse_alloc")
            return page
        H.count_vm_event(m, "thp_collapse_alloc_failed")
        if not wait[0]:
            return NULL
        wait[0] = False
        if not H.khugepaged_enabled(m):
            return NULL


def khugepaged_do_scan(m) -> int:
    """One wake-up of khugepaged: scan up to pages_to_scan pages over the mm_slots;
    the THPs it collapsed (mm/huge_memory.c khugepaged_do_scan)."""
    thp = m.transparent_hugepage
    if thp is None or not H.khugepaged_enabled(m) or not thp.khugepaged_thread:
        return 0
    before = thp.khugepaged_pages_collapsed
    scan = _scan(m)
    hpage = [NULL]
    wait = [True]
    progress = 0
    pass_through_head = 0
    pages = thp.khugepaged_pages_to_scan
    saved = m.current
    m.current = None                                     # a kernel thread
    try:
        while progress < pages:
            if hpage[0] == NULL:
                hpage[0] = khugepaged_alloc_hugepage(m, wait)
                if hpage[0] == NULL:
                    break
            if scan.mm_slot is None:
                pass_through_head += 1
            if scan.mm_head and H.khugepaged_enabled(m) and pass_through_head < 2:
                progress += khugepaged_scan_mm_slot(m, pages - progress, hpage)
            else:
                progress = pages
    finally:
        m.current = saved
    if hpage[0] != NULL:
        put_page(m, hpage[0])
    return thp.khugepaged_pages_collapsed - before


rmap_callbacks.khugepaged_enter = khugepaged_enter
