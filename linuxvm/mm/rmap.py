"""Reverse mapping of anonymous pages: anon_vma, anon_vma_chain, and the rmap walk
(mm/rmap.c, find_mergeable_anon_vma from mm/mmap.c).

``page->mapping`` of an anonymous page holds ``(handle << 2) | PAGE_MAPPING_ANON``
where ``handle`` names an ``AnonVma`` in ``m.anon_vmas`` — the model's stand-in for
the kernel pointer. Each AnonVma and AnonVmaChain takes an object from its SLUB
cache when the slab allocator is present.
"""

from ..arch.x86 import tlb as x86_tlb
from ..arch.x86.page_types import PAGE_SHIFT
from ..arch.x86.pgtable import (get_entry, set_entry, pgd_offset, pud_offset, pmd_offset,
                                pte_offset_map, pgd_present, pud_present, pud_large,
                                pmd_present, pmd_large, pte_present, pte_pfn, pte_dirty,
                                pte_write, pte_wrprotect, pte_mkclean)
from ..errors import KernelBug
from ..include.mm import VM_READ, VM_WRITE, VM_EXEC, VM_SOFTDIRTY, VM_SHARED
from ..include.vm_event_item import NR_ANON_PAGES, NR_MLOCK, VM_EVENT, NR_FILE_MAPPED
from .page import (PAGE_MAPPING_ANON, PG_swapbacked, PG_mlocked, PG_lru, PG_unevictable,
                   PG_locked)
from .slab_common import slab_alloc_obj, slab_free_obj
from .swap import page_lru, del_page_from_lru_list, add_page_to_lru_list, LRU_UNEVICTABLE


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


def clear_page_mlock(m, pfn: int) -> None:
    """The page is no longer mapped by a VM_LOCKED VMA: leave the unevictable list."""
    mm = m.mem_map
    mm.f[pfn] = mm.f[pfn] & ~(1 << PG_mlocked) & 0xFFFFFFFFFFFFFFFF
    m.page_zone(pfn).vm_stat[NR_MLOCK] -= 1
    m.pgdat.vm_events[VM_EVENT["unevictable_pgs_cleared"]] += 1
    if mm.f[pfn] & (1 << PG_lru) and mm.f[pfn] & (1 << PG_unevictable):
        del_page_from_lru_list(m, pfn, LRU_UNEVICTABLE)
        mm.f[pfn] = mm.f[pfn] & ~(1 << PG_unevictable) & 0xFFFFFFFFFFFFFFFF
        add_page_to_lru_list(m, pfn, page_lru(mm, pfn))
        m.pgdat.vm_events[VM_EVENT["unevictable_pgs_rescued"]] += 1


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
    e = get_entry(m, pgd_offset(mm, address))
    if not pgd_present(e):
        return None
    e = get_entry(m, pud_offset(e, address))
    if not pud_present(e) or pud_large(e):
        return None
    e = get_entry(m, pmd_offset(e, address))
    if not pmd_present(e) or pmd_large(e):
        return None
    ptr = pte_offset_map(e, address)
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
