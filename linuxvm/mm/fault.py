"""The page half of mm/memory.c: handle_mm_fault, anonymous faults, copy-on-write, the
page side of zapping, and copy_page_range for fork.

The page-table half (allocating tables, walking, free_pgtables, the zap walk and
mmu_gather) is in mm/memory.py, whose ``zap_present_pte`` and gather flush call
``zap_present_page`` and ``free_pages_and_swap_cache`` here.

Transparent huge pages are not modelled yet: where 4.6 would take the huge-page fault
path (``transparent_hugepage_enabled(vma)`` and an aligned 2 MiB range inside the VMA),
the fault raises NotImplementedError; elsewhere it takes the 4 KiB path, as 4.6 does.
"""

from bisect import bisect_right

import numpy as np

from ..arch.x86 import tlb as x86_tlb
from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE, PMD_SIZE, PUD_SIZE, PGDIR_SIZE
from ..arch.x86.pgtable import (pt_entries, pgd_offset, pud_offset, pmd_offset, pte_present,
                                pte_offset_map,
                                pte_write, pte_special, pte_pfn, pfn_pte, mk_pte,
                                pte_mkspecial, pte_mkwrite, pte_mkdirty, pte_mkyoung,
                                pte_wrprotect, pte_mkold, pte_mkclean, pte_protnone,
                                pte_dirty, pte_young, pmd_trans_huge, pmd_devmap, U64, pt_array)
from ..arch.x86.pgtable_types import (PTE_PFN_MASK, _PAGE_RW, _PAGE_PRESENT, _PAGE_PROTNONE,
                                      _PAGE_SPECIAL, _PAGE_ACCESSED, _PAGE_DIRTY,
                                      _PAGE_PSE, _PAGE_DEVMAP)
from . import gfp as G
from . import memory
from .mm_flags import (VM_SHARED, VM_WRITE, VM_MAYWRITE, VM_LOCKED, VM_HUGETLB, VM_PFNMAP,
                       VM_MIXEDMAP, VM_SEQ_READ, VM_GROWSDOWN, VM_HUGEPAGE, VM_NOHUGEPAGE,
                       VM_STACK_INCOMPLETE_SETUP)
from . import hugetlb            # hugetlb.c's fault and fork hooks (it calls memory back)
from .mm_types import MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES
from .page import NULL, PAGE_MAPPING_ANON, PG_uptodate, PG_dirty, PG_mlocked, pfns_distinct
from .page_alloc import __alloc_pages_nodemask
from .rmap import (anon_vma_prepare, page_add_new_anon_rmap, page_remove_rmap)
from .swap import (lru_cache_add_active_or_unevictable, put_page, get_page, release_pages,
                   lru_add_drain, mark_page_accessed)
from .vmstat_items import PGFAULT, NR_ANON_PAGES

# include/linux/mm.h VM_FAULT_* and FAULT_FLAG_*
# the VM_FAULT_* codes live with vm_operations_struct, whose fault handlers return them
from .vm_ops import (VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_MAJOR, VM_FAULT_WRITE,  # noqa: F401
                     VM_FAULT_HWPOISON, VM_FAULT_HWPOISON_LARGE, VM_FAULT_SIGSEGV,
                     VM_FAULT_NOPAGE, VM_FAULT_LOCKED, VM_FAULT_RETRY, VM_FAULT_FALLBACK,
                     VM_FAULT_ERROR)

FAULT_FLAG_WRITE = 0x01
FAULT_FLAG_MKWRITE = 0x02
FAULT_FLAG_ALLOW_RETRY = 0x04
FAULT_FLAG_RETRY_NOWAIT = 0x08
FAULT_FLAG_KILLABLE = 0x10
FAULT_FLAG_TRIED = 0x20
FAULT_FLAG_USER = 0x40

GFP_HIGHUSER_MOVABLE_ZERO = G.GFP_HIGHUSER_MOVABLE | G.__GFP_ZERO
TASK_RSS_EVENTS_THRESH = 64
_U64 = U64


# --- RSS counters (SPLIT_RSS_COUNTING) ----------------------------------------------

def inc_mm_counter_fast(m, mm, member: int, value: int = 1) -> None:
    """Count in the current task's cache when it owns ``mm``, else in the mm itself."""
    task = m.current
    if task is not None and task.mm is mm:
        task.rss_stat.count[member] += value
    else:
        mm.rss_stat[member] += value


def dec_mm_counter_fast(m, mm, member: int) -> None:
    inc_mm_counter_fast(m, mm, member, -1)


def sync_mm_rss(mm, task) -> None:
    """Fold a task's cached RSS deltas into its mm (mm/memory.c)."""
    c = task.rss_stat.count
    for i in range(len(c)):
        if c[i]:
            mm.rss_stat[i] += c[i]
            c[i] = 0
    task.rss_stat.events = 0


def check_sync_rss_stat(m, task) -> None:
    if task is None or task is not m.current:
        return
    ev = task.rss_stat.events
    task.rss_stat.events = ev + 1
    if ev > TASK_RSS_EVENTS_THRESH:
        sync_mm_rss(task.mm, task)


def get_mm_counter(mm, member: int) -> int:
    v = mm.rss_stat[member]
    return v if v > 0 else 0       # a lagging cache can drive the mm's value negative


def get_mm_rss(mm) -> int:
    return (get_mm_counter(mm, MM_FILEPAGES) + get_mm_counter(mm, MM_ANONPAGES)
            + get_mm_counter(mm, MM_SHMEMPAGES))


def update_hiwater_rss(mm) -> None:
    rss = get_mm_rss(mm)
    if mm.hiwater_rss < rss:
        mm.hiwater_rss = rss


def mm_counter(m, pfn: int) -> int:
    mm_ = m.mem_map
    if mm_.mapping[pfn] & PAGE_MAPPING_ANON:
        return MM_ANONPAGES
    return MM_FILEPAGES


# --- contents -------------------------------------------------------------------------

def next_content_tag(m) -> int:
    m.content_seq = (m.content_seq % 0xFFFFFFFF) + 1
    return m.content_seq


def copy_user_highpage(m, dst: int, src: int) -> None:
    """Copy a page's bytes (if it holds any) and its content tag (cow_user_page)."""
    data = m.page_contents.get(src)
    if data is not None:
        m.page_contents[dst] = bytearray(data)
    else:
        m.page_contents.pop(dst, None)
    m.mem_map.content[dst] = m.mem_map.content[src]


# --- helpers --------------------------------------------------------------------------

def is_zero_pfn(m, pfn: int) -> bool:
    return pfn == m.zero_pfn


def vm_normal_page(m, vma, addr: int, pte: int) -> int:
    """The frame behind a present PTE, or NULL for special mappings and the zero page."""
    pfn = (pte & PTE_PFN_MASK) >> PAGE_SHIFT
    if pte_special(pte):
        if vma.vm_flags & (VM_PFNMAP | VM_MIXEDMAP):
            return NULL
        if pfn == m.zero_pfn:
            return NULL
        print_bad_pte(m, vma, addr, pte, NULL)
        return NULL
    if pfn >= m.max_pfn:
        print_bad_pte(m, vma, addr, pte, NULL)
        return NULL
    return pfn


def print_bad_pte(m, vma, addr: int, pte: int, page: int) -> None:
    m.log.printk(1, f"BUG: Bad page map in process {m.current_comm()}  pte:{pte:016x} "
                    f"pmd:00000000")
    m.add_taint("B")


def is_cow_mapping(flags: int) -> bool:
    return (flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE


def maybe_mkwrite(pte: int, vma) -> int:
    if vma.vm_flags & VM_WRITE:
        pte = pte_mkwrite(pte)
    return pte


def ptep_set_access_flags(m, vma, address: int, ptr, entry: int, dirty: bool) -> bool:
    """Write back more-permissive flags (arch/x86/mm/pgtable.c). x86 flushes nothing: the
    access that faulted dropped its TLB entry, and the retried access walks afresh."""
    table = pt_entries(m, ptr[0])
    changed = table[ptr[1]] != entry
    if changed and dirty:
        table[ptr[1]] = entry
    return changed


def ptep_clear_flush(m, vma, address: int, ptr) -> int:
    table = pt_entries(m, ptr[0])
    old = table[ptr[1]]
    table[ptr[1]] = 0
    if old & _PAGE_PRESENT:                 # pte_accessible (no flush is ever pending here)
        x86_tlb.flush_tlb_page(m, vma, address)
    return old


def alloc_page_vma(m, gfp: int) -> int:
    return __alloc_pages_nodemask(m.pgdat, gfp, 0, m.current_cpu)


# --- the fault path -------------------------------------------------------------------

def check_stack_guard_page(m, vma, address: int) -> int:
    """4.6 keeps one unmapped guard page below a stack VMA: faulting its lowest page
    first tries to grow the stack by one page (mm/memory.c)."""
    if not vma.vm_flags & VM_GROWSDOWN:
        return 0
    address &= ~(PAGE_SIZE - 1)
    if address == vma.vm_start:
        prev = vma.vm_prev
        if prev is not None and prev.vm_end == address:
            return 0 if prev.vm_flags & VM_GROWSDOWN else -12
        from .mmap_stack import expand_downwards
        return expand_downwards(m, vma, address - PAGE_SIZE)
    return 0


def do_anonymous_page(m, mm, vma, address: int, ptr, flags: int, table=None) -> int:
    """First touch of an anonymous page: the zero page for a read, a new zeroed page for
    a write (mm/memory.c do_anonymous_page). ``table`` is ``ptr``'s table when the caller
    has it."""
    vm_flags = vma.vm_flags
    if vm_flags & VM_SHARED:
        return VM_FAULT_SIGBUS
    if vm_flags & VM_GROWSDOWN and check_stack_guard_page(m, vma, address) < 0:
        return VM_FAULT_SIGSEGV
    if table is None:
        table = pt_entries(m, ptr[0])
    i = ptr[1]
    if not flags & FAULT_FLAG_WRITE:
        entry = pte_mkspecial(pfn_pte(m.zero_pfn, vma.vm_page_prot))
        if table[i]:
            return 0
        table[i] = entry
        return 0
    anon_vma_prepare(m, vma)
    page = alloc_page_vma(m, GFP_HIGHUSER_MOVABLE_ZERO)
    if page == NULL:
        return VM_FAULT_OOM
    f = m.mem_map.f
    f[page] = f[page] | (1 << PG_uptodate)
    entry = mk_pte(page, vma.vm_page_prot)
    if vm_flags & VM_WRITE:
        entry = pte_mkwrite(pte_mkdirty(entry))
    if table[i]:
        put_page(m, page)
        return 0
    inc_mm_counter_fast(m, mm, MM_ANONPAGES)
    page_add_new_anon_rmap(m, page, vma, address)
    lru_cache_add_active_or_unevictable(m, page, vma)
    table[i] = entry
    return 0


def wp_page_reuse(m, vma, address: int, ptr, orig_pte: int) -> int:
    entry = pte_mkyoung(orig_pte)
    entry = maybe_mkwrite(pte_mkdirty(entry), vma)
    ptep_set_access_flags(m, vma, address, ptr, entry, True)
    return VM_FAULT_WRITE


def wp_page_copy(m, mm, vma, address: int, ptr, orig_pte: int, old_page: int) -> int:
    """Break COW: copy (or zero-fill, for the zero page) into a new private page."""
    anon_vma_prepare(m, vma)
    if is_zero_pfn(m, pte_pfn(orig_pte)):
        new_page = alloc_page_vma(m, GFP_HIGHUSER_MOVABLE_ZERO)
        if new_page == NULL:
            if old_page != NULL:
                put_page(m, old_page)
            return VM_FAULT_OOM
    else:
        new_page = alloc_page_vma(m, G.GFP_HIGHUSER_MOVABLE)
        if new_page == NULL:
            if old_page != NULL:
                put_page(m, old_page)
            return VM_FAULT_OOM
        copy_user_highpage(m, new_page, old_page)
    mem_map = m.mem_map
    mem_map.f[new_page] = mem_map.f[new_page] | (1 << PG_uptodate)
    table = pt_entries(m, ptr[0])
    page_copied = False
    if table[ptr[1]] == orig_pte:
        if old_page != NULL:
            if not mem_map.mapping[old_page] & PAGE_MAPPING_ANON:
                dec_mm_counter_fast(m, mm, mm_counter(m, old_page))
                inc_mm_counter_fast(m, mm, MM_ANONPAGES)
        else:
            inc_mm_counter_fast(m, mm, MM_ANONPAGES)
        entry = mk_pte(new_page, vma.vm_page_prot)
        entry = maybe_mkwrite(pte_mkdirty(entry), vma)
        ptep_clear_flush(m, vma, address, ptr)
        page_add_new_anon_rmap(m, new_page, vma, address)
        lru_cache_add_active_or_unevictable(m, new_page, vma)
        table[ptr[1]] = entry
        if old_page != NULL:
            page_remove_rmap(m, old_page)
        new_page, page_copied = old_page, True
    if new_page != NULL:
        put_page(m, new_page)
    if old_page != NULL:
        if page_copied and vma.vm_flags & VM_LOCKED and mem_map.f[old_page] & (1 << PG_mlocked):
            from .mlock import munlock_vma_page
            munlock_vma_page(m, old_page)
        put_page(m, old_page)
    return VM_FAULT_WRITE if page_copied else 0


def reuse_swap_page(m, page: int) -> bool:
    """4.6 reuses an anon page on a write fault when only one PTE maps it."""
    return m.mem_map.mc[page] + 1 <= 1


def do_wp_page(m, mm, vma, address: int, ptr, orig_pte: int) -> int:
    """Write to a present, write-protected PTE (mm/memory.c do_wp_page)."""
    old_page = vm_normal_page(m, vma, address, orig_pte)
    if old_page == NULL:
        if (vma.vm_flags & (VM_WRITE | VM_SHARED)) == (VM_WRITE | VM_SHARED):
            return wp_page_reuse(m, vma, address, ptr, orig_pte)
        return wp_page_copy(m, mm, vma, address, ptr, orig_pte, NULL)
    mem_map = m.mem_map
    if mem_map.mapping[old_page] & PAGE_MAPPING_ANON:
        if reuse_swap_page(m, old_page):
            page_move_anon_rmap(m, old_page, vma, address)
            return wp_page_reuse(m, vma, address, ptr, orig_pte)
    elif (vma.vm_flags & (VM_WRITE | VM_SHARED)) == (VM_WRITE | VM_SHARED):
        raise NotImplementedError("write fault on a shared file page (wp_page_shared): "
                                  "file-backed memory is not modelled yet")
    get_page(m, old_page)
    return wp_page_copy(m, mm, vma, address, ptr, orig_pte, old_page)


def page_move_anon_rmap(m, page: int, vma, address: int) -> None:
    """The page is exclusively ours: point it at our own anon_vma (mm/rmap.c)."""
    av = vma.anon_vma
    m.mem_map.mapping[page] = (av.handle << 2) | PAGE_MAPPING_ANON


def handle_pte_fault(m, mm, vma, address: int, ptr, flags: int, table=None) -> int:
    if table is None:
        table = pt_entries(m, ptr[0])
    entry = table[ptr[1]]
    if not pte_present(entry):
        if entry == 0:
            if vma.vm_ops is None:
                return do_anonymous_page(m, mm, vma, address, ptr, flags, table)
            raise NotImplementedError("do_fault: faults on file-backed mappings are not "
                                      "modelled yet")
        raise NotImplementedError("do_swap_page: swap is not modelled yet")
    if pte_protnone(entry):
        raise NotImplementedError("do_numa_page: NUMA balancing is not modelled")
    if flags & FAULT_FLAG_WRITE:
        if not pte_write(entry):
            return do_wp_page(m, mm, vma, address, ptr, entry)
        entry = pte_mkdirty(entry)
    entry = pte_mkyoung(entry)
    # a spurious fault (nothing changed) needs no flush on x86: flush_tlb_fix_spurious_fault
    # is empty there
    ptep_set_access_flags(m, vma, address, ptr, entry, bool(flags & FAULT_FLAG_WRITE))
    return 0


# __handle_mm_fault reads the PGD, PUD and PMD entries straight from the table views while
# each is a plain, already-built table; False always takes the pud_alloc/pmd_alloc/pte_alloc
# route (the reference tests/test_fault_fast.py compares against)
HANDLE_MM_FAULT_FAST = True


def __handle_mm_fault(m, mm, vma, address: int, flags: int) -> int:
    if vma.vm_flags & VM_HUGETLB:
        return hugetlb.hugetlb_fault(m, mm, vma, address, flags)
    if HANDLE_MM_FAULT_FAST:
        # nothing to allocate and no huge PMD: pud_alloc, pmd_alloc and pte_alloc only read
        pgt = m.pgtables
        t = pgt.get(mm.pgd)
        if t is not None:
            e = t[(address >> 39) & 511]
            if e:
                t = pgt.get((e & PTE_PFN_MASK) >> PAGE_SHIFT)
                if t is not None:
                    e = t[(address >> 30) & 511]
                    if e and not e & _PAGE_PSE:
                        t = pgt.get((e & PTE_PFN_MASK) >> PAGE_SHIFT)
                        if t is not None:
                            e = t[(address >> 21) & 511]
                            if e and not e & (_PAGE_PSE | _PAGE_DEVMAP):
                                pfn = (e & PTE_PFN_MASK) >> PAGE_SHIFT
                                t = pgt.get(pfn)
                                if t is not None:
                                    return handle_pte_fault(m, mm, vma, address,
                                                            (pfn, (address >> 12) & 511),
                                                            flags, t)
    pgd = pgd_offset(mm, address)
    pud = memory.pud_alloc(m, mm, pgd, address)
    if pud is None:
        return VM_FAULT_OOM
    pmd = memory.pmd_alloc(m, mm, pud, address)
    if pmd is None:
        return VM_FAULT_OOM
    pmdv = pt_entries(m, pmd[0])[pmd[1]]
    if not pmdv and transparent_hugepage_enabled(m, vma):
        haddr = address & ~(PMD_SIZE - 1)
        if vma.vm_ops is None and vma.vm_start <= haddr and haddr + PMD_SIZE <= vma.vm_end:
            raise NotImplementedError(
                f"do_huge_pmd_anonymous_page: 4.6 would map a transparent huge page at "
                f"{haddr:#x} (thp={m.thp!r}); THP faults are not modelled yet -- boot with "
                f"thp='never' or 'madvise', or use MADV_NOHUGEPAGE")
        # the 2 MiB range leaves the VMA: 4.6 falls back to 4 KiB pages (VM_FAULT_FALLBACK)
    if pmdv and (pmd_trans_huge(pmdv) or pmd_devmap(pmdv)):
        raise NotImplementedError("huge PMD faults: transparent huge pages are not modelled")
    if memory.pte_alloc(m, mm, pmd, address):
        return VM_FAULT_OOM
    ptr = pte_offset_map(pt_entries(m, pmd[0])[pmd[1]], address)
    return handle_pte_fault(m, mm, vma, address, ptr, flags)


def transparent_hugepage_enabled(m, vma) -> bool:
    """Whether a fault in ``vma`` may take a huge page (include/linux/huge_mm.h)."""
    f = vma.vm_flags
    if f & VM_NOHUGEPAGE or (f & VM_STACK_INCOMPLETE_SETUP) == VM_STACK_INCOMPLETE_SETUP:
        return False
    return m.thp == "always" or (m.thp == "madvise" and bool(f & VM_HUGEPAGE))


def handle_mm_fault(m, mm, vma, address: int, flags: int) -> int:
    """Resolve a fault at ``address`` in ``vma`` (mm/memory.c); returns VM_FAULT_* bits."""
    m.pgdat.vm_events[PGFAULT] += 1
    check_sync_rss_stat(m, m.current)
    return __handle_mm_fault(m, mm, vma, address, flags)


# --- zapping: the page side ----------------------------------------------------------------

def zap_present_page(tlb, vma, addr: int, ptent: int, details) -> bool:
    """Drop the page behind a cleared PTE: RSS, rmap, dirty/accessed, gather for freeing."""
    m = tlb.m
    page = vm_normal_page(m, vma, addr, ptent)
    if page == NULL:
        return False
    mem_map = m.mem_map
    if not mem_map.mapping[page] & PAGE_MAPPING_ANON:
        if pte_dirty(ptent):
            mem_map.f[page] = mem_map.f[page] | (1 << PG_dirty)
        if pte_young(ptent) and not vma.vm_flags & VM_SEQ_READ:
            mark_page_accessed(m, page)
    vma.vm_mm.rss_stat[mm_counter(m, page)] -= 1
    page_remove_rmap(m, page)
    if mem_map.mc[page] < -1:
        print_bad_pte(m, vma, addr, ptent, page)
    return not memory.__tlb_remove_page(tlb, page)


# zap_pte_range handles a table of plain anonymous pages with NumPy; the per-entry path in
# mm/memory.py is the reference it must equal (tests/test_fault_bulk.py). False = per entry.
ZAP_PTE_RANGE_VECTORISED = True


def zap_pte_table(tlb, vma, table_pfn: int, addr: int, end: int):
    """zap_pte_range for [addr, end) of one table at once; the new ``addr``, or None for
    the per-entry path (see zap_pte_tables)."""
    return end if zap_pte_tables(tlb, vma, [(table_pfn, addr, end)]) else None


def zap_pte_tables(tlb, vma, tables) -> bool:
    """zap_pte_range over the (table_pfn, addr, end) ranges of ``tables``, in order, at
    once when every entry is a present anonymous page or the zero page; False (nothing
    done) when some entry needs the per-entry path.

    The gather is cut where it fills, so batch pages are allocated and forced flushes
    happen after the same entries as on the per-entry path. Clearing the entries, the
    rmap and the counters all happen first: a flush frees only pages already gathered
    (the pages are distinct), and neither it nor a batch allocation reads them."""
    m = tlb.m
    views = []
    offs = []                                   # where each table starts in the row
    n_all = 0
    for table_pfn, addr, end in tables:
        lo = (addr >> PAGE_SHIFT) & 511
        v = pt_array(m, table_pfn)[lo:lo + ((end - addr) >> PAGE_SHIFT)]
        views.append(v)
        offs.append(n_all)
        n_all += v.size
    allv = np.concatenate(views) if len(views) > 1 else views[0]
    idx = np.flatnonzero(allv)
    if not idx.size:
        return True
    vals = allv[idx]
    if ((vals & np.uint64(_PAGE_PRESENT | _PAGE_PROTNONE)) == 0).any():
        return False
    pfns = ((vals & np.uint64(PTE_PFN_MASK)) >> np.uint64(PAGE_SHIFT)).astype(np.int64)
    special = (vals & np.uint64(_PAGE_SPECIAL)) != 0
    if (pfns[special] != m.zero_pfn).any():
        return False
    normal = ~special
    pages = pfns[normal]
    mem_map = m.mem_map
    if pages.size and ((pages >= m.max_pfn).any()
                       or ((mem_map.mapping[pages] & PAGE_MAPPING_ANON) == 0).any()
                       or (mem_map.flags[pages] & np.uint64(1 << PG_mlocked)).any()
                       or (mem_map._mapcount[pages] < 0).any()
                       or not pfns_distinct(pages)):
        return False
    for v in views:
        v[:] = 0                                               # ptep_get_and_clear_full
    if pages.size:
        vma.vm_mm.rss_stat[MM_ANONPAGES] -= pages.size
        mc = mem_map._mapcount[pages] - 1                      # page_remove_rmap
        mem_map._mapcount[pages] = mc
        gone = pages[mc < 0]
        if gone.size:
            zones = (mem_map.flags[gone] >> np.uint64(62)).astype(np.int64)
            for z, c in enumerate(np.bincount(zones, minlength=4).tolist()):
                if c:
                    m.zones[z].vm_stat[NR_ANON_PAGES] -= c

    def vaddr(q: int) -> int:                   # the address of row position q
        k = bisect_right(offs, q) - 1
        return tables[k][1] + ((q - offs[k]) << PAGE_SHIFT)

    normal_pos = np.flatnonzero(normal)
    j0 = 0
    done = 0                                    # normal entries gathered so far
    while j0 < idx.size:
        room = tlb.batch_max - tlb.nr
        if normal_pos.size - done > room:
            j1 = int(normal_pos[done + room - 1]) + 1
        else:
            j1 = idx.size
        tlb.start = min(tlb.start, vaddr(int(idx[j0])))        # tlb_remove_tlb_entry
        tlb.end = max(tlb.end, vaddr(int(idx[j1 - 1])) + PAGE_SIZE)
        n = int(np.count_nonzero(normal[j0:j1]))
        if n:
            tlb.pages.append(pages[done:done + n])
            tlb.nr += n
            done += n
            if tlb.nr == tlb.batch_max and not memory._tlb_next_batch(tlb):
                memory.tlb_flush_mmu_tlbonly(tlb)             # the gather is full: flush
                memory.tlb_flush_mmu_free(tlb)
        j0 = j1
    return True


def free_pages_and_swap_cache(m, pfns) -> None:
    """Drain this CPU's pagevecs, then drop the gathered references (mm/swap_state.c)."""
    lru_add_drain(m)
    release_pages(m, pfns)


# --- fork: copy_page_range ---------------------------------------------------------------------

def copy_one_pte(m, dst_mm, src_mm, src_table, si: int, dst_table, di: int, vma, addr: int,
                 rss: list) -> None:
    pte = src_table[si]
    vm_flags = vma.vm_flags
    if not pte_present(pte):
        raise NotImplementedError("copy_one_pte: swap entries are not modelled yet")
    if is_cow_mapping(vm_flags):
        src_table[si] = pte_wrprotect(pte)
        pte = pte_wrprotect(pte)
    if vm_flags & VM_SHARED:
        pte = pte_mkclean(pte)
    pte = pte_mkold(pte)
    page = vm_normal_page(m, vma, addr, pte)
    if page != NULL:
        mem_map = m.mem_map
        mem_map.rc[page] += 1                      # get_page
        mem_map.mc[page] += 1                      # page_dup_rmap
        rss[mm_counter(m, page)] += 1
    dst_table[di] = pte


# copy_page_range copies a whole PTE table with NumPy; the per-entry loop below is the
# reference it must equal (tests/test_fault_bulk.py compares whole machines). Set False
# to run the per-entry path.
COPY_PTE_RANGE_VECTORISED = True


def copy_page_range(m, dst_mm, src_mm, vma) -> int:
    """Copy the PTEs of ``vma`` into the child, write-protecting COW pages in both
    (mm/memory.c copy_page_range); 0 or -ENOMEM."""
    if not vma.vm_flags & (VM_HUGETLB | VM_PFNMAP | VM_MIXEDMAP) and vma.anon_vma is None:
        return 0            # a fault will fill these in correctly
    if vma.vm_flags & VM_HUGETLB:
        return hugetlb.copy_hugetlb_page_range(m, dst_mm, src_mm, vma)
    # First the walk, allocating the child's tables; then the entries. Copying an entry
    # touches only the page it maps, never the allocator, so doing the tables first
    # leaves the state the interleaved order leaves.
    segs = []                       # (src table, dst table, first index, end index, addr)
    err = 0
    addr = vma.vm_start
    end = vma.vm_end
    get = lambda ptr: pt_entries(m, ptr[0])[ptr[1]]   # noqa: E731
    while addr < end:
        pgd = pgd_offset(src_mm, addr)
        if not get(pgd):
            addr = min((addr + PGDIR_SIZE) & ~(PGDIR_SIZE - 1), end)
            continue
        pud = pud_offset(get(pgd), addr)
        if not get(pud):
            addr = min((addr + PUD_SIZE) & ~(PUD_SIZE - 1), end)
            continue
        pmd = pmd_offset(get(pud), addr)
        pmdv = get(pmd)
        next_pmd = min((addr + PMD_SIZE) & ~(PMD_SIZE - 1), end)
        if not pmdv:
            addr = next_pmd
            continue
        if pmd_trans_huge(pmdv):
            raise NotImplementedError("copy_huge_pmd: transparent huge pages are not modelled")
        dst_ptr = memory.pte_alloc_map(m, dst_mm, addr)
        if dst_ptr is None:
            err = -12
            break
        lo = (addr >> PAGE_SHIFT) & 511
        segs.append((int((pmdv & PTE_PFN_MASK) >> PAGE_SHIFT), dst_ptr[0], lo,
                     lo + ((next_pmd - addr) >> PAGE_SHIFT), addr))
        addr = next_pmd
    rss = [0, 0, 0, 0]
    if not (COPY_PTE_RANGE_VECTORISED and segs and _copy_pte_tables(m, segs, vma, rss)):
        for src_pfn, dst_pfn, lo, hi, a in segs:
            src_table = pt_entries(m, src_pfn)
            dst_table = pt_entries(m, dst_pfn)
            for i in range(lo, hi):
                if src_table[i]:
                    copy_one_pte(m, dst_mm, src_mm, src_table, i, dst_table, i, vma,
                                 a + ((i - lo) << PAGE_SHIFT), rss)
    _add_rss(dst_mm, rss)
    return err


def _copy_pte_tables(m, segs, vma, rss) -> bool:
    """copy_one_pte for every entry of ``segs`` at once; False (nothing done) when an
    entry needs the per-entry path (a swap entry or a bad special PTE)."""
    srcs = [pt_array(m, s)[lo:hi] for s, _, lo, hi, _ in segs]
    dsts = [pt_array(m, d)[lo:hi] for _, d, lo, hi, _ in segs]
    allv = np.concatenate(srcs) if len(srcs) > 1 else srcs[0]
    nz = allv != 0
    vals = allv[nz]
    if not vals.size:
        return True
    if ((vals & np.uint64(_PAGE_PRESENT | _PAGE_PROTNONE)) == 0).any():
        return False
    if any(d.any() for d in dsts):
        return False                # only a fresh child is copied into
    pfns = ((vals & np.uint64(PTE_PFN_MASK)) >> np.uint64(PAGE_SHIFT)).astype(np.int64)
    special = (vals & np.uint64(_PAGE_SPECIAL)) != 0
    vm_flags = vma.vm_flags
    if special.any() and ((pfns[special] != m.zero_pfn).any()
                          and not vm_flags & (VM_PFNMAP | VM_MIXEDMAP)):
        return False
    pages = pfns[~special]
    if (pages >= m.max_pfn).any():
        return False
    if is_cow_mapping(vm_flags):
        allv = allv & np.uint64(~_PAGE_RW & _U64)              # ptep_set_wrprotect
        off = 0
        for v in srcs:
            n = v.size
            v[:] = allv[off:off + n]
            off += n
    if vm_flags & VM_SHARED:
        allv = allv & np.uint64(~_PAGE_DIRTY & _U64)
    allv = allv & np.uint64(~_PAGE_ACCESSED & _U64)
    off = 0
    for d in dsts:
        n = d.size
        d[:] = allv[off:off + n]
        off += n
    mem_map = m.mem_map
    if pfns_distinct(pages):
        mem_map._refcount[pages] += 1                          # get_page
        mem_map._mapcount[pages] += 1                          # page_dup_rmap
    else:
        np.add.at(mem_map._refcount, pages, 1)
        np.add.at(mem_map._mapcount, pages, 1)
    anon = int(np.count_nonzero(mem_map.mapping[pages] & PAGE_MAPPING_ANON))
    rss[MM_ANONPAGES] += anon
    rss[MM_FILEPAGES] += pages.size - anon
    return True


def _add_rss(mm, rss) -> None:
    for i, v in enumerate(rss):
        mm.rss_stat[i] += v
