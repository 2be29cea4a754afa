"""Accelerators of mm/memory.c (linuxvm/mm/memory/) and the page-table walks it shares
with mprotect: NumPy over whole page tables where the reference goes entry by entry, and
walks straight down plain tables where the reference checks every level.

Each leaves exactly the state its reference leaves (tests/test_pgtable_accel.py). Where
one meets a case it does not handle it returns None (or False) and the reference body
carries on, having seen no change.
"""

from bisect import bisect_right

import numpy as np

from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from ..arch.x86.pgtable import (mk_pte, pte_mkdirty, pt_entries, pt_array, pgd_bad, pud_bad,
                                pmd_bad,
                                pmd_trans_huge, pmd_devmap, U64)
from ..arch.x86.pgtable_types import (PTE_PFN_MASK, _PAGE_TABLE, _PAGE_PRESENT,
                                      _PAGE_PROTNONE, _PAGE_SPECIAL, _PAGE_ACCESSED,
                                      _PAGE_DIRTY, _PAGE_RW, _PAGE_PSE, _PAGE_DEVMAP)
from ..lib.accel_registry import register
from ..arch.x86 import tlb as x86_tlb
from ..include.mm import VM_SHARED, VM_PFNMAP, VM_MIXEDMAP, VM_LOCKED, VM_SPECIAL, VM_WRITE
from ..mm.mm_types import MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES
from ..mm.page import (NULL, PAGE_MAPPING_ANON, PG_active, PG_head, PG_mlocked,
                       PG_swapbacked, PG_uptodate, pfns_distinct)
from ..mm import gfp as G
from ..include.vm_event_item import NR_ANON_PAGES
from ..mm.memory.copy import is_cow_mapping
from ..mm.memory.fault import handle_pte_fault, alloc_page_vma
from ..mm.rmap import linear_page_index, page_remove_rmap
from ..mm.swap import PAGEVEC_SIZE, put_page, __pagevec_lru_add
from ..mm.vm_ops import VM_FAULT_OOM, VM_FAULT_WRITE
from ..mm.memory.gather import tlb_next_batch, tlb_flush_mmu_tlbonly, tlb_flush_mmu_free
from ..mm.memory.pgtable import _LEVEL, _get, _table_of, none_or_clear_bad_loop
from ..mm.memory.zap import zap_pte_range as reference_zap_pte_range

_PG_HEAD = 1 << PG_head

__all__ = ["handle_mm_fault", "wp_page_copy", "none_or_clear_bad_entries", "unmap_page_range",
           "zap_pmd_range", "zap_pte_range", "copy_pte_range", "zap_finds_nothing",
           "ZAP_FEW_BYTES"]

_PTE_FLAGS_MASK = ~PTE_PFN_MASK & U64


# -- faults ------------------------------------------------------------------------------------

@register("handle_mm_fault", "linuxvm.mm.memory.fault.__handle_mm_fault")
def handle_mm_fault(m, mm, vma, address: int, flags: int):
    """__handle_mm_fault reading the PGD, PUD and PMD entries straight from the table views
    while each is a plain, already-built table (then pud_alloc, pmd_alloc and pte_alloc
    would only read); None when the path needs building or meets a huge entry."""
    pgt = m.pgtables
    t = pgt.get(mm.pgd)
    if t is None:
        return None
    e = t[(address >> 39) & 511]
    if not e:
        return None
    t = pgt.get((e & PTE_PFN_MASK) >> PAGE_SHIFT)
    if t is None:
        return None
    e = t[(address >> 30) & 511]
    if not e or e & _PAGE_PSE:
        return None
    t = pgt.get((e & PTE_PFN_MASK) >> PAGE_SHIFT)
    if t is None:
        return None
    e = t[(address >> 21) & 511]
    if not e or e & (_PAGE_PSE | _PAGE_DEVMAP):
        return None
    pfn = (e & PTE_PFN_MASK) >> PAGE_SHIFT
    t = pgt.get(pfn)
    if t is None:
        return None
    return handle_pte_fault(m, mm, vma, address, (pfn, (address >> 12) & 511), flags, t)


# -- the entries a walk descends through -------------------------------------------------------

_COPY_NEW_FLAGS = (1 << PG_uptodate) | (1 << PG_swapbacked) | (1 << PG_active)


@register("wp_page_copy", "linuxvm.mm.memory.fault.wp_page_copy")
def wp_page_copy(m, mm, vma, address: int, ptr, orig_pte: int, old_page: int):
    """wp_page_copy of an anonymous page in a VMA that has its anon_vma and is not locked,
    with the copy, the new page's rmap, its pagevec add and the references inlined; None
    (nothing changed) for the zero page, a file page, a THP subpage or a VM_LOCKED VMA."""
    if old_page == NULL or vma.anon_vma is None or vma.vm_flags & (VM_LOCKED | VM_SPECIAL):
        return None
    mem_map = m.mem_map
    mapv = mem_map.mapv
    if not mapv[old_page] & PAGE_MAPPING_ANON:
        return None
    if mem_map.ch[old_page] != NULL or mem_map.f[old_page] & _PG_HEAD:
        return None                  # a subpage of a PTE-mapped THP: the reference's rmap
    table = pt_entries(m, ptr[0])
    if table[ptr[1]] != orig_pte:
        return None
    new_page = alloc_page_vma(m, G.GFP_HIGHUSER_MOVABLE)
    if new_page == NULL:
        put_page(m, old_page)
        return VM_FAULT_OOM
    # copy_user_highpage: the bytes (if any) and the content tag
    pc = m.page_contents
    data = pc.get(old_page) if pc else None
    if data is not None:
        pc[new_page] = bytearray(data)
    elif pc:
        pc.pop(new_page, None)
    contv = mem_map.contv
    contv[new_page] = contv[old_page]
    entry = pte_mkdirty(mk_pte(new_page, vma.vm_page_prot))
    if vma.vm_flags & VM_WRITE:                  # maybe_mkwrite
        entry |= _PAGE_RW
    old = table[ptr[1]]                          # ptep_clear_flush
    table[ptr[1]] = 0
    if old & _PAGE_PRESENT:
        x86_tlb.flush_tlb_page(m, vma, address)
    # page_add_new_anon_rmap, then lru_cache_add_active_or_unevictable (not VM_LOCKED):
    # PG_uptodate, PG_swapbacked and PG_active, mapcount 0, the anon_vma and index
    f = mem_map.f
    f[new_page] = f[new_page] | _COPY_NEW_FLAGS
    mem_map.mc[new_page] = 0
    zone = m.page_zone(new_page)
    zone.vm_stat[NR_ANON_PAGES] += 1
    if not mapv[new_page] & PAGE_MAPPING_ANON:
        mapv[new_page] = (vma.anon_vma.handle << 2) | PAGE_MAPPING_ANON
        mem_map.idx[new_page] = linear_page_index(vma, address)
    cpu = m.current_cpu
    rc = mem_map.rc
    rc[new_page] += 1                            # __lru_cache_add: get_page
    pvec = m.lru.lru_add_pvec[cpu]
    if len(pvec) >= PAGEVEC_SIZE:
        __pagevec_lru_add(m, cpu)
    pvec.append(new_page)
    table[ptr[1]] = entry
    page_remove_rmap(m, old_page)
    put_page(m, old_page)                        # the reference the PTE held
    put_page(m, old_page)                        # do_wp_page's get_page
    return VM_FAULT_WRITE


@register("none_or_clear_bad_entries", "linuxvm.mm.memory.pgtable.none_or_clear_bad_entries")
def none_or_clear_bad_entries(m, table: int, addr: int, end: int, what: str,
                              check_bad: bool = True):
    """The non-none entries of one table over [addr, end) read in one slice; with a bad
    entry in the range, the reference loop (so its report and clearing come at its turn).

    Reading at once is safe: the callers change only lower levels, or the entry they
    are given."""
    size, bad = _LEVEL[what]
    shift = size.bit_length() - 1
    first = (addr >> shift) & 511
    top = (end - 1) & U64                       # compared as pXX_addr_end does
    vals = pt_entries(m, table)[first:((top >> shift) & 511) + 1].tolist()
    out = []
    a = addr
    for j, v in enumerate(vals, first):
        nxt = (a + size) & ~(size - 1) & U64
        if ((nxt - 1) & U64) >= top:
            nxt = end
        if v:
            if check_bad and bad(v):
                return none_or_clear_bad_loop(m, table, addr, end, what, check_bad)
            out.append(((table, j), v, a, nxt))
        a = nxt
    return out


# -- zap ---------------------------------------------------------------------------------------

def _pmd_over(m, mm, addr: int):
    """The PMD entry over ``addr`` when the path down to it is plain tables; 0 when a
    level on the way is none (nothing mapped there); None when the general walk must
    decide (a bad or huge entry, which it reports or handles in its turn)."""
    # an entry whose flags are exactly _PAGE_TABLE is neither bad nor huge at any level,
    # so the predicates run only for anything else
    g = pt_entries(m, mm.pgd)[(addr >> 39) & 511]
    if not g:
        return 0
    if g & _PTE_FLAGS_MASK != _PAGE_TABLE and pgd_bad(g):
        return None
    u = pt_entries(m, (g & PTE_PFN_MASK) >> PAGE_SHIFT)[(addr >> 30) & 511]
    if not u:
        return 0
    if u & _PTE_FLAGS_MASK != _PAGE_TABLE and pud_bad(u):
        return None
    pmd = ((u & PTE_PFN_MASK) >> PAGE_SHIFT, (addr >> 21) & 511)
    v = pt_entries(m, pmd[0])[pmd[1]]
    if not v:
        return 0
    if v & _PTE_FLAGS_MASK != _PAGE_TABLE and (pmd_trans_huge(v) or pmd_devmap(v)
                                               or pmd_bad(v)):
        return None
    return pmd


@register("unmap_page_range", "linuxvm.mm.memory.zap.unmap_page_range")
def unmap_page_range(tlb, vma, addr: int, end: int, details=None) -> bool:
    """unmap_page_range over a range under one PMD entry (most small unmaps): straight
    down to that entry, then zap_pte_range; False when the range crosses a PMD boundary
    or the walk down meets an entry only the general walk handles."""
    if addr >> 21 != (end - 1) >> 21:
        return False
    pmd = _pmd_over(tlb.m, vma.vm_mm, addr)
    if pmd is None:
        return False
    if pmd:
        reference_zap_pte_range(tlb, vma, pmd, addr, end, details)
    return True


# Up to this many non-zero entry bytes (a present PTE has four or more: a handful of
# pages), the entry-by-entry loop costs less than NumPy's fixed cost in zap_pte_tables.
ZAP_FEW_BYTES = 64


def _nonzero_entry_bytes(table, addr: int, end: int) -> int:
    """How many bytes of the PTEs of [addr, end) in ``table`` are not zero (0: all none)."""
    lo = ((addr >> PAGE_SHIFT) & 511) << 3
    hi = lo + ((end - addr) >> PAGE_SHIFT << 3)
    return hi - lo - table.obj.count(0, lo, hi)


@register("zap_pte_range", "linuxvm.mm.memory.zap.zap_pte_range")
def zap_pte_range(tlb, vma, pmd, addr: int, end: int, details):
    """zap_pte_range with one byte count deciding: every entry none, nothing to do; many
    entries, the whole table at once (zap_pte_tables). None: the reference loop (a
    handful of entries, ``details``, or an entry zap_pte_tables does not handle)."""
    table_pfn = _table_of(_get(tlb.m, pmd))
    nonzero = _nonzero_entry_bytes(pt_entries(tlb.m, table_pfn), addr, end)
    if not nonzero:
        return end
    if details is None and nonzero > ZAP_FEW_BYTES \
            and zap_pte_tables(tlb, vma, [(table_pfn, addr, end)]):
        return end
    return None


@register("zap_pmd_range", "linuxvm.mm.memory.zap.zap_pmd_range")
def zap_pmd_range(tlb, vma, pud, addr: int, end: int, details) -> bool:
    """zap_pmd_range over every PTE table under the PUD entry at once (zap_pte_tables);
    False (nothing done) for ``details``, a single table, a huge or bad PMD, or an entry
    zap_pte_tables does not handle."""
    if details is not None:
        return False
    m = tlb.m
    # without the bad-entry check the one-slice read never falls back: a list
    pmds = none_or_clear_bad_entries(m, _table_of(_get(m, pud)), addr, end, "pmd", False)
    if len(pmds) <= 1 or any(pmd_trans_huge(v) or pmd_devmap(v) or pmd_bad(v)
                             for _, v, _, _ in pmds):
        return False
    return zap_pte_tables(tlb, vma, [(_table_of(v), a, nxt) for _, v, a, nxt in pmds])


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
            if tlb.nr == tlb.batch_max and not tlb_next_batch(tlb):
                tlb_flush_mmu_tlbonly(tlb)                     # the gather is full: flush
                tlb_flush_mmu_free(tlb)
        j0 = j1
    return True


def zap_finds_nothing(m, mm, addr: int, end: int) -> bool:
    """unmap_page_range over [addr, end) of ``mm`` would meet only none entries; False
    when unsure (the range crosses a PMD boundary, or the walk down meets an entry that
    only the general walk handles). For mmap's empty-unmap shortcut."""
    if addr >> 21 != (end - 1) >> 21:
        return False
    pmd = _pmd_over(m, mm, addr)
    if pmd is None:
        return False
    return not pmd or not _nonzero_entry_bytes(pt_entries(m, _table_of(_get(m, pmd))),
                                               addr, end)


# -- fork --------------------------------------------------------------------------------------

@register("copy_pte_range", "linuxvm.mm.memory.copy.copy_pte_range")
def copy_pte_range(m, segs, vma, rss) -> bool:
    """copy_one_pte for every entry of every PTE table segment of the VMA at once; False
    (nothing done) when an entry needs the per-entry path (a swap entry, a bad special
    PTE, or a child table that is not fresh)."""
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
        allv = allv & np.uint64(~_PAGE_RW & U64)               # ptep_set_wrprotect
        off = 0
        for v in srcs:
            n = v.size
            v[:] = allv[off:off + n]
            off += n
    if vm_flags & VM_SHARED:
        allv = allv & np.uint64(~_PAGE_DIRTY & U64)
    allv = allv & np.uint64(~_PAGE_ACCESSED & U64)
    off = 0
    for d in dsts:
        n = d.size
        d[:] = allv[off:off + n]
        off += n
    mem_map = m.mem_map
    ch = mem_map.compound_head[pages]
    heads = pages if (ch == NULL).all() else np.where(ch != NULL, ch, pages).astype(np.int64)
    if heads is pages and pfns_distinct(pages):
        mem_map._refcount[pages] += 1                          # get_page
        mem_map._mapcount[pages] += 1                          # page_dup_rmap
    else:                                    # repeats, or PTE-mapped THP subpages
        np.add.at(mem_map._refcount, heads, 1)                 # get_page: the head's
        np.add.at(mem_map._mapcount, pages, 1)
    anon = (mem_map.mapping[pages] & PAGE_MAPPING_ANON) != 0
    shmem = ~anon & ((mem_map.flags[pages] & np.uint64(1 << PG_swapbacked)) != 0)
    n_anon, n_shmem = int(np.count_nonzero(anon)), int(np.count_nonzero(shmem))
    rss[MM_ANONPAGES] += n_anon                                # mm_counter
    rss[MM_SHMEMPAGES] += n_shmem
    rss[MM_FILEPAGES] += pages.size - n_anon - n_shmem
    return True
