"""Reverse mapping of anonymous pages: anon_vma, anon_vma_chain, and the rmap walk
(mm/rmap.c, find_mergeable_anon_vma from mm/mmap.c).

``page->mapping`` of an anonymous page holds ``(handle << 2) | PAGE_MAPPING_ANON``
where ``handle`` names an ``AnonVma`` in ``m.anon_vmas`` — the model's stand-in for
the kernel pointer. Each AnonVma and AnonVmaChain takes an object from its SLUB
cache when the slab allocator is present.
"""

from ..arch.x86 import tlb as x86_tlb
from ..arch.x86.page_types import PAGE_SHIFT, PMD_SIZE
from ..arch.x86.pgtable import (get_entry, set_entry, pud_offset, pmd_offset, pte_index,
                                pgd_present, pud_present, pud_large,
                                pmd_present, pmd_large, pte_present, pte_pfn, pte_dirty,
                                pte_write, pte_wrprotect, pte_mkclean, pt_entries, pgd_index,
                                pmd_pfn, pte_young, pte_mkold, pte_soft_dirty,
                                swp_entry_to_pte, pte_swp_mksoft_dirty, swp_entry,
                                SWP_MIGRATION_READ, SWP_MIGRATION_WRITE)
from ..arch.x86.pgtable_types import _PAGE_PRESENT, _PAGE_PSE
from ..arch.x86.tlb import flush_tlb_page
from ..errors import KernelBug
from ..include.mm import (VM_READ, VM_WRITE, VM_EXEC, VM_SOFTDIRTY, VM_SHARED, VM_LOCKED,
                          VM_SEQ_READ)
from ..include.vm_event_item import NR_ANON_PAGES, NR_MLOCK, VM_EVENT, NR_FILE_MAPPED
from .mm_types import MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES, MM_SWAPENTS
from .page import (PAGE_MAPPING_ANON, PG_swapbacked, PG_mlocked, PG_lru, PG_unevictable,
                   PG_locked, PG_swapcache, PG_dirty, PG_head, NULL, PageTransHuge,
                   total_mapcount, compound_mapcount, THP_NR)
from . import page_writeback              # (page_writeback's page_mkclean is ours)
from .slab_common import slab_alloc_obj, slab_free_obj
from .swap import (page_lru, del_page_from_lru_list, add_page_to_lru_list, LRU_UNEVICTABLE,
                   put_page, hpage_nr_pages)
from .swapfile import swap_duplicate


class AnonVma:
    """struct anon_vma: the root of the rmap tree for anonymous pages of related VMAs."""

    __slots__ = ("handle", "root", "parent", "refcount", "degree", "rb_root", "slab_obj")

    def __init__(self, handle):
        self.handle = handle
        self.root = self
        self.parent = self
        self.refcount = 1
        self.degree = 1
        self.rb_root = []            # AnonVmaChains of the VMAs this anon_vma covers
        self.slab_obj = 0

    def __repr__(self):
        return f"<anon_vma {self.handle} degree={self.degree} avcs={len(self.rb_root)}>"


class AnonVmaChain:
    """struct anon_vma_chain: links one VMA to one anon_vma (same_vma / rb)."""

    __slots__ = ("vma", "anon_vma", "slab_obj")

    def __init__(self, vma, anon_vma):
        self.vma = vma
        self.anon_vma = anon_vma
        self.slab_obj = 0


def anon_vma_alloc(m) -> AnonVma:
    m.anon_vma_seq += 1
    av = AnonVma(m.anon_vma_seq)
    m.anon_vmas[av.handle] = av
    slab_alloc_obj(m, "anon_vma", av)
    return av


def put_anon_vma(m, av: AnonVma) -> None:
    av.refcount -= 1
    if av.refcount == 0:
        root = av.root
        m.anon_vmas.pop(av.handle, None)
        slab_free_obj(m, "anon_vma", av)
        if root is not av:
            put_anon_vma(m, root)


def get_anon_vma(av: AnonVma) -> None:
    av.refcount += 1


def anon_vma_chain_alloc(m, vma, av) -> AnonVmaChain:
    avc = AnonVmaChain(vma, av)
    slab_alloc_obj(m, "anon_vma_chain", avc)
    return avc


def anon_vma_chain_link(vma, avc, av) -> None:
    # same_vma list: newest first, as list_add does
    vma.anon_vma_chain.insert(0, avc)
    av.rb_root.append(avc)


def anon_vma_compatible(a, b) -> bool:
    return (a.vm_end == b.vm_start and a.vm_file is b.vm_file
            and not ((a.vm_flags ^ b.vm_flags) & ~(VM_READ | VM_WRITE | VM_EXEC | VM_SOFTDIRTY))
            and b.vm_pgoff == a.vm_pgoff + ((b.vm_start - a.vm_start) >> PAGE_SHIFT))


def reusable_anon_vma(old, a, b):
    if anon_vma_compatible(a, b):
        av = old.anon_vma
        if av is not None and len(old.anon_vma_chain) == 1:
            return av
    return None


def find_mergeable_anon_vma(vma):
    """An anon_vma of a compatible neighbour that this VMA may share (mm/mmap.c)."""
    near = getattr(vma, "vm_next", None)
    if near is not None:
        av = reusable_anon_vma(near, vma, near)
        if av is not None:
            return av
    near = getattr(vma, "vm_prev", None)
    if near is not None:
        av = reusable_anon_vma(near, near, vma)
        if av is not None:
            return av
    return None


def anon_vma_prepare(m, vma) -> None:
    """Give ``vma`` an anon_vma before its first anonymous page (mm/rmap.c)."""
    if vma.anon_vma is not None:
        return
    av = find_mergeable_anon_vma(vma)
    if av is None:
        av = anon_vma_alloc(m)
    avc = anon_vma_chain_alloc(m, vma, av)
    vma.anon_vma = av
    anon_vma_chain_link(vma, avc, av)
    av.degree += 1


def anon_vma_clone(m, dst, src) -> None:
    """Attach ``dst`` to every anon_vma ``src`` is attached to (split, mremap, fork)."""
    for pavc in reversed(src.anon_vma_chain):
        av = pavc.anon_vma
        avc = anon_vma_chain_alloc(m, dst, av)
        anon_vma_chain_link(dst, avc, av)
        # an anon_vma with no VMA and one child can be reused; never the parent's own
        if dst.anon_vma is None and av is not src.anon_vma and av.degree < 2:
            dst.anon_vma = av
    if dst.anon_vma is not None:
        dst.anon_vma.degree += 1


def anon_vma_fork(m, vma, pvma) -> None:
    """Attach a child's VMA to the parent's anon_vmas and give it its own (mm/rmap.c)."""
    if pvma.anon_vma is None:
        return
    vma.anon_vma = None
    anon_vma_clone(m, vma, pvma)
    if vma.anon_vma is not None:
        return
    av = anon_vma_alloc(m)
    avc = anon_vma_chain_alloc(m, vma, av)
    av.root = pvma.anon_vma.root
    av.parent = pvma.anon_vma
    get_anon_vma(av.root)
    vma.anon_vma = av
    anon_vma_chain_link(vma, avc, av)
    av.parent.degree += 1


def unlink_anon_vmas(m, vma) -> None:
    """Detach ``vma`` from its anon_vmas, freeing those left empty (mm/rmap.c)."""
    empty = []
    for avc in list(vma.anon_vma_chain):
        av = avc.anon_vma
        av.rb_root.remove(avc)
        if not av.rb_root:
            av.parent.degree -= 1
            empty.append(avc)
            continue
        vma.anon_vma_chain.remove(avc)
        slab_free_obj(m, "anon_vma_chain", avc)
    if vma.anon_vma is not None:
        vma.anon_vma.degree -= 1
    for avc in empty:
        av = avc.anon_vma
        if av.degree:
            raise KernelBug(f"unlink_anon_vmas: empty {av!r} still has degree {av.degree}")
        put_anon_vma(m, av)
        vma.anon_vma_chain.remove(avc)
        slab_free_obj(m, "anon_vma_chain", avc)
    vma.anon_vma = None


# --- page-level rmap -------------------------------------------------------

def page_add_file_rmap(m, pfn: int) -> None:
    """Map a page-cache page once more; the first mapping counts in NR_FILE_MAPPED
    (mm/rmap.c page_add_file_rmap)."""
    mm = m.mem_map
    mc = mm.mc[pfn] + 1
    mm.mc[pfn] = mc
    if mc == 0:
        m.page_zone(pfn).vm_stat[NR_FILE_MAPPED] += 1


def page_remove_file_rmap(m, pfn: int) -> None:
    """Drop one mapping of a file page; the last one leaves NR_FILE_MAPPED, and an
    mlocked page its unevictable state (mm/rmap.c page_remove_file_rmap)."""
    mm = m.mem_map
    mc = mm.mc[pfn] - 1
    mm.mc[pfn] = mc
    if mc < 0:
        m.page_zone(pfn).vm_stat[NR_FILE_MAPPED] -= 1
        if mm.f[pfn] & (1 << PG_mlocked):
            clear_page_mlock(m, pfn)


def linear_page_index(vma, address: int) -> int:
    return ((address - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff


def PageAnon(mm, pfn: int) -> bool:
    return bool(mm.mapping[pfn] & PAGE_MAPPING_ANON)


def page_anon_vma(m, pfn: int):
    mapping = int(m.mem_map.mapping[pfn])
    if not mapping & PAGE_MAPPING_ANON:
        return None
    return m.anon_vmas.get(mapping >> 2)


def __page_set_anon_rmap(m, pfn: int, vma, address: int, exclusive: bool) -> None:
    mm = m.mem_map
    av = vma.anon_vma
    if av is None:
        raise KernelBug("__page_set_anon_rmap: VMA has no anon_vma")
    if mm.mapping[pfn] & PAGE_MAPPING_ANON:
        return
    if not exclusive:
        av = av.root
    mm.mapping[pfn] = (av.handle << 2) | PAGE_MAPPING_ANON
    mm.idx[pfn] = linear_page_index(vma, address)


def page_add_new_anon_rmap(m, pfn: int, vma, address: int) -> None:
    """Map a freshly allocated anonymous page for the first time (mapcount 0)."""
    mm = m.mem_map
    if not vma.vm_start <= address < vma.vm_end:
        raise KernelBug(f"page_add_new_anon_rmap: {address:#x} outside the VMA")
    mm.f[pfn] = mm.f[pfn] | (1 << PG_swapbacked)
    mm.mc[pfn] = 0
    m.page_zone(pfn).vm_stat[NR_ANON_PAGES] += 1
    __page_set_anon_rmap(m, pfn, vma, address, True)


def page_add_anon_rmap(m, pfn: int, vma, address: int, exclusive: bool = False) -> None:
    """Map an existing anonymous page once more (fork copies, swap-in)."""
    mm = m.mem_map
    mc = mm.mc[pfn] + 1
    mm.mc[pfn] = mc
    if mc == 0:
        m.page_zone(pfn).vm_stat[NR_ANON_PAGES] += 1
        __page_set_anon_rmap(m, pfn, vma, address, exclusive)


def page_remove_rmap(m, pfn: int) -> None:
    """Drop one mapping of a page; the last one leaves the NR_ANON_PAGES count."""
    mm = m.mem_map
    if not mm.mapping[pfn] & PAGE_MAPPING_ANON:
        page_remove_file_rmap(m, pfn)
        return
    mc = mm.mc[pfn] - 1
    mm.mc[pfn] = mc
    if mc >= 0:
        return
    m.page_zone(pfn).vm_stat[NR_ANON_PAGES] -= 1
    if mm.f[pfn] & (1 << PG_mlocked):
        clear_page_mlock(m, pfn)
    head = mm.ch[pfn]
    if head == NULL and mm.f[pfn] & (1 << PG_head):
        head = pfn
    if head != NULL:                                 # PageTransCompound
        rmap_callbacks.deferred_split_huge_page(m, head)


def clear_page_mlock(m, pfn: int) -> None:
    """The page is no longer mapped by a VM_LOCKED VMA: leave the unevictable list."""
    mm = m.mem_map
    mm.f[pfn] = mm.f[pfn] & ~(1 << PG_mlocked) & 0xFFFFFFFFFFFFFFFF
    m.page_zone(pfn).vm_stat[NR_MLOCK] -= hpage_nr_pages(mm, pfn)
    m.pgdat.vm_events[VM_EVENT["unevictable_pgs_cleared"]] += 1
    if mm.f[pfn] & (1 << PG_lru) and mm.f[pfn] & (1 << PG_unevictable):
        del_page_from_lru_list(m, pfn, LRU_UNEVICTABLE)
        mm.f[pfn] = mm.f[pfn] & ~(1 << PG_unevictable) & 0xFFFFFFFFFFFFFFFF
        add_page_to_lru_list(m, pfn, page_lru(mm, pfn))
        m.pgdat.vm_events[VM_EVENT["unevictable_pgs_rescued"]] += 1
    elif not mm.f[pfn] & (1 << PG_lru) and mm.f[pfn] & (1 << PG_unevictable):
        # isolated (by migration): it cannot be moved back now
        m.pgdat.vm_events[VM_EVENT["unevictable_pgs_stranded"]] += 1


def vma_address(m, pfn: int, vma) -> int:
    pgoff = int(m.mem_map.index[pfn])
    return vma.vm_start + ((pgoff - vma.vm_pgoff) << PAGE_SHIFT)


def rmap_walk_anon(m, pfn: int, rmap_one) -> None:
    """Call ``rmap_one(pfn, vma, address)`` for every VMA that may map ``pfn``; stop when
    it returns False (mm/rmap.c rmap_walk_anon)."""
    av = page_anon_vma(m, pfn)
    if av is None:
        return
    pgoff = int(m.mem_map.index[pfn])
    for avc in list(av.rb_root):
        vma = avc.vma
        if not vma.vm_pgoff <= pgoff < vma.vm_pgoff + ((vma.vm_end - vma.vm_start) >> PAGE_SHIFT):
            continue        # the interval tree only yields VMAs covering pgoff
        if rmap_one(pfn, vma, vma_address(m, pfn, vma)) is False:
            break


def rmap_walk_file(m, pfn: int, rmap_one) -> None:
    """Call ``rmap_one(pfn, vma, address)`` for every VMA of the page's mapping whose file
    range covers the page, in interval-tree order; stop when it returns False
    (mm/rmap.c rmap_walk_file over mapping->i_mmap)."""
    mapping = int(m.mem_map.mapv[pfn])
    if not mapping or mapping & PAGE_MAPPING_ANON:
        return
    space = m.address_spaces.get(mapping >> 2)
    if space is None:
        return
    pgoff = int(m.mem_map.index[pfn])
    for vma in sorted(space.i_mmap, key=lambda v: (v.vm_pgoff, v.vm_mm.pgd, v.vm_start)):
        if not vma.vm_pgoff <= pgoff < vma.vm_pgoff + ((vma.vm_end - vma.vm_start) >> PAGE_SHIFT):
            continue
        if rmap_one(pfn, vma, vma_address(m, pfn, vma)) is False:
            break


def rmap_walk(m, pfn: int, rmap_one) -> None:
    """rmap_walk_anon or rmap_walk_file, by the page's mapping (mm/rmap.c rmap_walk)."""
    if m.mem_map.mapping[pfn] & PAGE_MAPPING_ANON:
        rmap_walk_anon(m, pfn, rmap_one)
    else:
        rmap_walk_file(m, pfn, rmap_one)


def page_check_address(m, pfn: int, mm, address: int):
    """The pointer to ``mm``'s PTE at ``address`` when it maps ``pfn``, else None
    (mm/rmap.c __page_check_address; the model has no huge file mappings)."""
    table = mm_find_pmd(m, mm, address)
    if table < 0:
        return None
    ptr = (table, pte_index(address))
    pte = get_entry(m, ptr)
    if not pte_present(pte) or pte_pfn(pte) != pfn:
        return None
    return ptr


def page_mkclean_one(m, pfn: int, vma, address: int) -> int:
    """Write-protect and clean one shared mapping of the page, flushing its TLB entry;
    1 when the PTE was dirty or writable (mm/rmap.c page_mkclean_one)."""
    ptr = page_check_address(m, pfn, vma.vm_mm, address)
    if ptr is None:
        return 0
    pte = get_entry(m, ptr)
    if not (pte_dirty(pte) or pte_write(pte)):
        return 0
    set_entry(m, ptr, 0)                                   # ptep_clear_flush
    x86_tlb.flush_tlb_page(m, vma, address)
    set_entry(m, ptr, pte_mkclean(pte_wrprotect(pte)))     # set_pte_at
    return 1


def page_mkclean(m, pfn: int) -> int:
    """Write-protect and clean every PTE mapping a locked page-cache page through a
    VM_SHARED mapping, so the next write faults (wp_page_shared) and dirties the page
    again; how many PTEs it cleaned (mm/rmap.c page_mkclean, invalid_mkclean_vma skips
    private mappings)."""
    mem_map = m.mem_map
    if not mem_map.f[pfn] & (1 << PG_locked):
        raise KernelBug(f"kernel BUG at mm/rmap.c: page_mkclean: pfn {pfn:#x} is not locked")
    if mem_map.mc[pfn] < 0:                                # !page_mapped
        return 0
    mapping = int(mem_map.mapv[pfn])
    if not mapping or mapping & PAGE_MAPPING_ANON:
        return 0
    cleaned = [0]

    def one(pfn, vma, address):
        if vma.vm_flags & VM_SHARED:
            cleaned[0] += page_mkclean_one(m, pfn, vma, address)
    rmap_walk_file(m, pfn, one)
    return cleaned[0]


def rmap_init(m) -> None:
    m.anon_vmas = {}
    m.anon_vma_seq = 0


# --- unmapping a page from every PTE (reclaim) ------------------------------------------

# try_to_unmap's answers (include/linux/rmap.h)
SWAP_SUCCESS, SWAP_AGAIN, SWAP_FAIL, SWAP_MLOCK, SWAP_LZFREE = 0, 1, 2, 3, 4
# enum ttu_flags
TTU_UNMAP = 1
TTU_MIGRATION = 2
TTU_MUNLOCK = 4
TTU_LZFREE = 8
TTU_IGNORE_MLOCK = 1 << 8
TTU_IGNORE_ACCESS = 1 << 9
TTU_IGNORE_HWPOISON = 1 << 10
TTU_BATCH_FLUSH = 1 << 11


class RmapCallbacks:
    """What rmap and the modules below huge_memory call in modules that import rmap
    (mm/mlock.c's mlock_vma_page, mm/memory.c's update_hiwater_rss, huge_memory's
    deferred_split_huge_page, khugepaged's khugepaged_enter): each fills in its slot when
    it loads, as an ops table would, so the imports stay one way."""

    __slots__ = ("mlock_vma_page", "update_hiwater_rss", "deferred_split_huge_page",
                 "khugepaged_enter")

    def __init__(self):
        for name in RmapCallbacks.__slots__:
            setattr(self, name, None)


rmap_callbacks = RmapCallbacks()


def mm_find_pmd(m, mm, address: int) -> int:
    """The pfn of the PTE table covering ``address``, or -1 (mm/rmap.c mm_find_pmd: a
    huge PMD is no PTE table)."""
    e = pt_entries(m, mm.pgd)[pgd_index(address)]
    if not pgd_present(e):
        return -1
    t = pud_offset(e, address)
    e = pt_entries(m, t[0])[t[1]]
    if not pud_present(e) or pud_large(e):
        return -1
    t = pmd_offset(e, address)
    e = pt_entries(m, t[0])[t[1]]
    if not pmd_present(e) or pmd_large(e):
        return -1
    return pmd_pfn(e)


def _ptep_clear_flush(m, vma, address: int, ptr) -> int:
    table = pt_entries(m, ptr[0])
    old = int(table[ptr[1]])
    table[ptr[1]] = 0
    if old & _PAGE_PRESENT:
        flush_tlb_page(m, vma, address)
    return old


def page_check_address_pmd(m, pfn: int, mm, address: int):
    """The pointer to ``mm``'s huge PMD at ``address`` when it maps the THP headed by
    ``pfn``, else None (mm/huge_memory.c page_check_address_pmd)."""
    e = pt_entries(m, mm.pgd)[pgd_index(address)]
    if not pgd_present(e):
        return None
    t = pud_offset(e, address)
    e = pt_entries(m, t[0])[t[1]]
    if not pud_present(e) or pud_large(e):
        return None
    t = pmd_offset(e, address)
    e = int(pt_entries(m, t[0])[t[1]])
    if not (e & _PAGE_PSE and e & _PAGE_PRESENT) or pmd_pfn(e) != pfn:
        return None
    return t


def ptep_clear_flush_young(m, vma, address: int, ptr, huge: bool = False) -> bool:
    """Clear the accessed bit, flushing the TLB entry if it was set (x86's
    ptep_clear_flush_young; a huge PMD's, pmdp_clear_flush_young, flushes the 2 MiB);
    True if it was set."""
    table = pt_entries(m, ptr[0])
    pte = int(table[ptr[1]])
    if not pte_young(pte):
        return False
    table[ptr[1]] = pte_mkold(pte)
    if huge:
        haddr = address & ~(PMD_SIZE - 1)
        x86_tlb.flush_tlb_range(m, vma, haddr, haddr + PMD_SIZE)
    else:
        flush_tlb_page(m, vma, address)
    return True


def try_to_unmap_one(m, pfn: int, vma, address: int, flags: int, state: list) -> bool:
    """Unmap ``pfn`` from one VMA: under TTU_MIGRATION the PTE becomes a migration
    entry; otherwise an anon page's PTE becomes its swap entry and a file page's PTE is
    cleared; a VM_LOCKED VMA or a recent access stops the walk (mm/rmap.c
    try_to_unmap_one). False stops the rmap walk."""
    mm = vma.vm_mm
    ptr = page_check_address(m, pfn, mm, address)
    if ptr is None:
        return True
    mem_map = m.mem_map
    if not flags & TTU_IGNORE_MLOCK:
        if vma.vm_flags & VM_LOCKED:
            rmap_callbacks.mlock_vma_page(m, pfn)
            state[0] = SWAP_MLOCK
            return False
        if flags & TTU_MUNLOCK:
            return True
    if not flags & TTU_IGNORE_ACCESS:
        if ptep_clear_flush_young(m, vma, address, ptr):
            state[0] = SWAP_FAIL
            return False
    pteval = _ptep_clear_flush(m, vma, address, ptr)
    if pte_dirty(pteval):
        page_writeback.set_page_dirty(m, pfn)
    rmap_callbacks.update_hiwater_rss(mm)
    if flags & TTU_MIGRATION:
        # a migration entry naming the old frame, writable if the PTE was; the rss
        # counters stay, as the page comes back in remove_migration_ptes
        swp_pte = swp_entry_to_pte(swp_entry(
            SWP_MIGRATION_WRITE if pte_write(pteval) else SWP_MIGRATION_READ, pfn))
        if pte_soft_dirty(pteval):
            swp_pte = pte_swp_mksoft_dirty(swp_pte)
        pt_entries(m, ptr[0])[ptr[1]] = swp_pte
    elif mem_map.mapping[pfn] & PAGE_MAPPING_ANON:
        entry = int(mem_map.priv[pfn])
        if not mem_map.f[pfn] & (1 << PG_swapcache):
            raise KernelBug("VM_BUG_ON_PAGE(!PageSwapCache(page)): try_to_unmap_one of an "
                            "anon page without a swap slot")
        if not mem_map.f[pfn] & (1 << PG_dirty) and flags & TTU_LZFREE:
            mm.rss_stat[MM_ANONPAGES] -= 1         # a clean MADV_FREE page: just dropped
            state[1] += 1                          # rp->lazyfreed
        else:
            if swap_duplicate(m, entry) < 0:
                pt_entries(m, ptr[0])[ptr[1]] = pteval
                state[0] = SWAP_FAIL
                return False
            mm.rss_stat[MM_ANONPAGES] -= 1
            mm.rss_stat[MM_SWAPENTS] += 1
            swp_pte = swp_entry_to_pte(entry)
            if pte_soft_dirty(pteval):
                swp_pte = pte_swp_mksoft_dirty(swp_pte)
            pt_entries(m, ptr[0])[ptr[1]] = swp_pte
    else:
        mm.rss_stat[MM_SHMEMPAGES if mem_map.f[pfn] & (1 << PG_swapbacked)
                    else MM_FILEPAGES] -= 1
    page_remove_rmap(m, pfn)
    put_page(m, pfn)
    return True


def page_mapped(m, pfn: int) -> bool:
    """Some PTE or PMD maps the page (include/linux/mm.h page_mapped): for a THP, the
    huge mapping or any subpage's."""
    mem_map = m.mem_map
    if mem_map.mc[pfn] >= 0:
        return True
    head = mem_map.compound_head_pfn(pfn)
    if not PageTransHuge(mem_map, head):
        return False                    # a small page, or a compound one not on the LRU
    return compound_mapcount(mem_map, head) > 0 or \
        bool((mem_map._mapcount[head:head + THP_NR] >= 0).any())


def try_to_unmap(m, pfn: int, flags: int) -> int:
    """Remove every PTE mapping a locked page (mm/rmap.c try_to_unmap): SWAP_SUCCESS
    when none is left, SWAP_AGAIN/SWAP_FAIL/SWAP_MLOCK otherwise."""
    state = [SWAP_AGAIN, 0]                         # ret, lazyfreed

    def one(p, vma, address):
        if not try_to_unmap_one(m, p, vma, address, flags, state):
            return False
        return page_mapped(m, p)               # rwc.done: page_not_mapped
    rmap_walk(m, pfn, one)
    ret = state[0]
    if ret != SWAP_MLOCK and not page_mapped(m, pfn):
        ret = SWAP_SUCCESS
        if state[1] and not m.mem_map.f[pfn] & (1 << PG_dirty):
            ret = SWAP_LZFREE
    return ret


def page_referenced_one(m, pfn: int, vma, address: int, pra: dict) -> bool:
    """Count one mapping's accessed bit (clearing it) and note a VM_LOCKED VMA; a THP
    mapped by a PMD has the PMD's bit (mm/rmap.c page_referenced_one)."""
    ptr = None
    if PageTransHuge(m.mem_map, pfn):
        ptr = page_check_address_pmd(m, pfn, vma.vm_mm, address)
    huge = ptr is not None
    if ptr is None:
        ptr = page_check_address(m, pfn, vma.vm_mm, address)
    if ptr is None:
        return True
    if vma.vm_flags & VM_LOCKED:
        pra["vm_flags"] |= VM_LOCKED
        return False                               # no need to look further
    if ptep_clear_flush_young(m, vma, address, ptr, huge):    # or pmdp_clear_flush_young
        # a sequential-read mapping's accesses do not count (VM_SEQ_READ)
        if not vma.vm_flags & VM_SEQ_READ:
            pra["referenced"] += 1
    pra["vm_flags"] |= vma.vm_flags
    pra["mapcount"] -= 1
    return pra["mapcount"] > 0


def page_referenced(m, pfn: int, is_locked: bool = True) -> tuple:
    """How many mappings of the page were accessed since the last look (clearing the
    bits), and the union of their VMA flags: (referenced, vm_flags)
    (mm/rmap.c page_referenced)."""
    mem_map = m.mem_map
    mapcount = total_mapcount(mem_map, pfn)
    if not mapcount:
        return 0, 0
    if not mem_map.mapping[pfn]:
        return 0, 0
    pra = {"mapcount": mapcount, "referenced": 0, "vm_flags": 0}
    rmap_walk(m, pfn, lambda p, vma, address: page_referenced_one(m, p, vma, address, pra))
    return pra["referenced"], pra["vm_flags"]

