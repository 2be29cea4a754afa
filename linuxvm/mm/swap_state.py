"""The swap cache (mm/swap_state.c): anonymous pages on their way to or from a swap
slot, found by swap entry in a per-area radix tree (``swapper_spaces``), and swap-in
readahead.

A page in the swap cache has PG_swapcache set, its entry in ``page->private`` and one
reference held by the cache; it counts in NR_FILE_PAGES (and so in "SwapCached", not
"Cached", in /proc/meminfo), as in 4.6.
"""

from ..arch.x86.pgtable import (pt_entries, pte_present, pte_to_swp_entry,
                                swp_entry, swp_type, swp_offset, mk_pte, pte_mkold,
                                pte_swp_soft_dirty, pte_mksoft_dirty, is_swap_pte)
from ..arch.x86.pgtable_types import _PAGE_PRESENT, _PAGE_PSE, PTE_PFN_MASK
from ..arch.x86.page_types import PAGE_SHIFT
from ..errors import KernelBug
from ..include.mm import VM_HUGETLB
from ..include.vm_event_item import NR_FILE_PAGES
from . import swapfile                      # slot counts (it calls back into the cache)
from . import page_io
from .mm_types import MM_ANONPAGES, MM_SWAPENTS
from .page import NULL, PG_swapcache, PG_swapbacked, PG_locked, PG_reclaim, PG_uptodate
from .page_alloc import __alloc_pages_nodemask
from . import rmap                          # (rmap needs swapfile, which needs us)
from .swap import (get_page, put_page, lru_cache_add, release_pages, lru_add_drain)

PG_readahead = PG_reclaim
_U64 = 0xFFFFFFFFFFFFFFFF


class SwapperSpace:
    """swapper_spaces[type]: the address_space of one swap area's cache, entry → pfn."""

    __slots__ = ("type", "i_pages", "nrpages")

    def __init__(self, type_: int):
        self.type = type_
        self.i_pages = {}
        self.nrpages = 0

    def __repr__(self):
        return f"<swapper_space {self.type} nrpages={self.nrpages}>"


def init_swapper_space(m, type_: int) -> None:
    m.swap.swapper_spaces[type_] = SwapperSpace(type_)


def exit_swapper_space(m, type_: int) -> None:
    space = m.swap.swapper_spaces.pop(type_)
    if space.i_pages:
        raise KernelBug(f"swapoff: swap cache of area {type_} still holds "
                        f"{len(space.i_pages)} pages")


def swap_address_space(m, entry: int):
    return m.swap.swapper_spaces[swp_type(entry)]


def _cache_info(m, i: int) -> None:
    info = list(m.swap_cache_info)
    info[i] += 1
    m.swap_cache_info = tuple(info)


def find_swap_page(m, entry: int) -> int:
    """The swap-cache page of ``entry`` or NULL, without a reference (the radix-tree
    lookup inside find_get_page)."""
    space = m.swap.swapper_spaces.get(swp_type(entry))
    if space is None:
        return NULL
    return space.i_pages.get(entry, NULL)


def total_swapcache_pages(m) -> int:
    return sum(s.nrpages for s in m.swap.swapper_spaces.values())


def __add_to_swap_cache(m, pfn: int, entry: int) -> int:
    """Put a locked, swap-backed page in the cache under ``entry`` (mm/swap_state.c)."""
    f = m.mem_map.f
    if not f[pfn] & (1 << PG_locked):
        raise KernelBug("VM_BUG_ON_PAGE(!PageLocked(page)): __add_to_swap_cache")
    if f[pfn] & (1 << PG_swapcache):
        raise KernelBug("VM_BUG_ON_PAGE(PageSwapCache(page)): __add_to_swap_cache")
    if not f[pfn] & (1 << PG_swapbacked):
        raise KernelBug("VM_BUG_ON_PAGE(!PageSwapBacked(page)): __add_to_swap_cache")
    space = swap_address_space(m, entry)
    if entry in space.i_pages:
        raise KernelBug("VM_BUG_ON(error == -EEXIST): __add_to_swap_cache")
    get_page(m, pfn)
    f[pfn] = f[pfn] | (1 << PG_swapcache)
    m.mem_map.priv[pfn] = entry
    space.i_pages[entry] = pfn
    space.nrpages += 1
    m.total_swapcache_pages += 1
    m.page_zone(pfn).vm_stat[NR_FILE_PAGES] += 1
    _cache_info(m, 0)
    return 0


add_to_swap_cache = __add_to_swap_cache


def __delete_from_swap_cache(m, pfn: int) -> None:
    f = m.mem_map.f
    if not f[pfn] & (1 << PG_swapcache):
        raise KernelBug("VM_BUG_ON_PAGE(!PageSwapCache(page)): __delete_from_swap_cache")
    entry = int(m.mem_map.priv[pfn])
    space = swap_address_space(m, entry)
    del space.i_pages[entry]
    m.mem_map.priv[pfn] = 0
    f[pfn] = f[pfn] & ~(1 << PG_swapcache) & _U64
    space.nrpages -= 1
    m.total_swapcache_pages -= 1
    m.page_zone(pfn).vm_stat[NR_FILE_PAGES] -= 1
    _cache_info(m, 1)


def delete_from_swap_cache(m, pfn: int) -> None:
    """Take a page out of the swap cache, freeing its slot's cache use and dropping the
    cache's reference (mm/swap_state.c delete_from_swap_cache)."""
    entry = int(m.mem_map.priv[pfn])
    __delete_from_swap_cache(m, pfn)
    swapfile.swapcache_free(m, entry)
    put_page(m, pfn)


def add_to_swap(m, pfn: int) -> int:
    """Give a locked, up-to-date anon page a swap slot and put it in the swap cache; 1,
    or 0 when swap is full (mm/swap_state.c add_to_swap)."""
    f = m.mem_map.f
    if not f[pfn] & (1 << PG_uptodate):
        raise KernelBug("VM_BUG_ON_PAGE(!PageUptodate(page)): add_to_swap")
    entry = swapfile.get_swap_page(m)
    if not entry:
        return 0
    add_to_swap_cache(m, pfn, entry)
    return 1


def free_swap_cache(m, pfn: int) -> None:
    """Drop the slot of an unmapped swap-cache page nobody refers to (mm/swap_state.c)."""
    mem_map = m.mem_map
    f = mem_map.f
    if f[pfn] & (1 << PG_swapcache) and mem_map.mc[pfn] < 0 and not f[pfn] & (1 << PG_locked):
        f[pfn] = f[pfn] | (1 << PG_locked)
        swapfile.try_to_free_swap(m, pfn)
        f[pfn] = f[pfn] & ~(1 << PG_locked) & _U64


def free_page_and_swap_cache(m, pfn: int) -> None:
    free_swap_cache(m, pfn)
    put_page(m, pfn)


def free_pages_and_swap_cache(m, pfns) -> None:
    """Drain this CPU's pagevecs, free the swap slots of gathered swap-cache pages that
    are no longer mapped, then drop the gathered references (mm/swap_state.c)."""
    lru_add_drain(m)
    if m.total_swapcache_pages:
        f = m.mem_map.f
        for pfn in pfns:
            if f[pfn] & (1 << PG_swapcache):
                free_swap_cache(m, pfn)
    release_pages(m, pfns)


def lookup_swap_cache(m, entry: int) -> int:
    """The swap-cache page of ``entry`` with a reference, or NULL; a readahead page
    found here counts as a readahead hit (mm/swap_state.c lookup_swap_cache)."""
    pfn = find_swap_page(m, entry)
    if pfn != NULL:
        get_page(m, pfn)
        _cache_info(m, 2)
        f = m.mem_map.f
        if f[pfn] & (1 << PG_readahead):
            f[pfn] = f[pfn] & ~(1 << PG_readahead) & _U64
            m.swap.swapin_readahead_hits += 1
    _cache_info(m, 3)
    return pfn


def __read_swap_cache_async(m, entry: int, gfp: int):
    """The swap-cache page of ``entry``, a new locked one added for it, or NULL:
    (pfn, new) (mm/swap_state.c __read_swap_cache_async)."""
    while True:
        pfn = find_swap_page(m, entry)
        if pfn != NULL:
            get_page(m, pfn)
            return pfn, False
        new_page = __alloc_pages_nodemask(m.pgdat, gfp, 0, m.current_cpu)
        if new_page == NULL:
            return NULL, False
        err = swapfile.swapcache_prepare(m, entry)
        if err:
            # -EEXIST cannot happen in the model (nothing runs between the lookup and
            # here); -ENOENT: the slot was freed, nothing to read
            put_page(m, new_page)
            return NULL, False
        f = m.mem_map.f
        f[new_page] = f[new_page] | (1 << PG_locked) | (1 << PG_swapbacked)
        __add_to_swap_cache(m, new_page, entry)
        lru_cache_add(m, new_page)              # lru_cache_add_anon: inactive anon
        return new_page, True


def read_swap_cache_async(m, entry: int, gfp: int, vma, addr: int) -> int:
    """The page of ``entry``, read from its slot if it was not cached; with a reference,
    or NULL (mm/swap_state.c read_swap_cache_async)."""
    pfn, new = __read_swap_cache_async(m, entry, gfp)
    if new:
        page_io.swap_readpage(m, pfn)
    return pfn


def swapin_nr_pages(m, offset: int) -> int:
    """How many slots around ``offset`` to read: grows with readahead hits, at most
    2**page-cluster (mm/swap_state.c swapin_nr_pages)."""
    s = m.swap
    max_pages = 1 << m.sysctl["vm.page-cluster"]
    if max_pages <= 1:
        return 1
    hits, s.swapin_readahead_hits = s.swapin_readahead_hits, 0
    pages = hits + 2
    if pages == 2:
        if offset != s.prev_offset + 1 and offset != s.prev_offset - 1:
            pages = 1
        s.prev_offset = offset
    else:
        roundup = 4
        while roundup < pages:
            roundup <<= 1
        pages = roundup
    if pages > max_pages:
        pages = max_pages
    last_ra = s.last_readahead_pages // 2
    if pages < last_ra:
        pages = last_ra
    s.last_readahead_pages = pages
    return pages


def swapin_readahead(m, entry: int, gfp: int, vma, addr: int) -> int:
    """Read the aligned block of slots around ``entry`` into the swap cache (marking the
    others PG_readahead), then return ``entry``'s page (mm/swap_state.c)."""
    entry_offset = swp_offset(entry)
    mask = swapin_nr_pages(m, entry_offset) - 1
    if mask:
        t = swp_type(entry)
        start = entry_offset & ~mask
        end = entry_offset | mask
        if not start:
            start = 1                           # slot 0 is the header
        si = m.swap.swap_info[t]
        f = m.mem_map.f
        for offset in range(start, min(end, si.max - 1) + 1):
            pfn = read_swap_cache_async(m, swp_entry(t, offset), gfp, vma, addr)
            if pfn == NULL:
                continue
            if offset != entry_offset:
                f[pfn] = f[pfn] | (1 << PG_readahead)
            put_page(m, pfn)
        lru_add_drain(m)
    return read_swap_cache_async(m, entry, gfp, vma, addr)


# -- swapoff's walk of every page table (mm/swapfile.c unuse_mm, unuse_pte) --------------

def swap_pte_users(m, type_: int) -> dict:
    """entry -> [(mm, vma, (table pfn, index), address)] of every PTE holding a swap
    entry of area ``type_``, over every mm (the walk unuse_mm does per slot, done once)."""
    users = {}
    seen = set()
    for t in m.tasks.values():
        mm = t.mm
        if mm is None or id(mm) in seen:
            continue
        seen.add(id(mm))
        v = mm.mmap
        while v is not None:
            if v.anon_vma is not None and not v.vm_flags & VM_HUGETLB:
                _collect_swap_ptes(m, mm, v, type_, users)
            v = v.vm_next
    return users


def _collect_swap_ptes(m, mm, vma, type_: int, users: dict) -> None:
    addr = vma.vm_start
    end = vma.vm_end
    while addr < end:
        table, i = _pte_table(m, mm, addr)
        if table is None:
            addr = (addr | ((1 << 21) - 1)) + 1
            continue
        pte = int(pt_entries(m, table)[i])
        if is_swap_pte(pte):
            entry = pte_to_swp_entry(pte)
            if swp_type(entry) == type_:
                users.setdefault(entry, []).append((mm, vma, (table, i), addr))
        addr += 1 << PAGE_SHIFT


def _pte_table(m, mm, addr: int):
    """(pte table pfn, index) of ``addr``, or (None, 0) when no PTE table covers it."""
    e = int(pt_entries(m, mm.pgd)[(addr >> 39) & 511])
    for shift in (30, 21):
        if not e & _PAGE_PRESENT or e & _PAGE_PSE:
            return None, 0
        e = int(pt_entries(m, (e & PTE_PFN_MASK) >> 12)[(addr >> shift) & 511])
    if not e & _PAGE_PRESENT or e & _PAGE_PSE:
        return None, 0
    return (e & PTE_PFN_MASK) >> 12, (addr >> 12) & 511


def unuse_pte(m, vma, ptr, addr: int, entry: int, pfn: int) -> None:
    """Point a PTE holding ``entry`` back at its page (mm/swapfile.c unuse_pte)."""
    table = pt_entries(m, ptr[0])
    old = int(table[ptr[1]])
    if pte_present(old) or pte_to_swp_entry(old) != entry:
        return
    mm = vma.vm_mm
    mm.rss_stat[MM_SWAPENTS] -= 1
    mm.rss_stat[MM_ANONPAGES] += 1
    get_page(m, pfn)
    pte = pte_mkold(mk_pte(pfn, vma.vm_page_prot))
    if pte_swp_soft_dirty(old):
        pte = pte_mksoft_dirty(pte)
    table[ptr[1]] = pte
    rmap.page_add_anon_rmap(m, pfn, vma, addr)
    swapfile.swap_free(m, entry)


def check_swap_cache(m) -> None:
    """Every swap-cache page is in its area's tree under page->private, holds a cache use
    of its slot, and the tree holds nothing else."""
    mem_map = m.mem_map
    n = 0
    for t, space in m.swap.swapper_spaces.items():
        si = m.swap.swap_info[t]
        for entry, pfn in space.i_pages.items():
            n += 1
            if not mem_map.f[pfn] & (1 << PG_swapcache) or int(mem_map.priv[pfn]) != entry:
                raise KernelBug(f"swap cache: pfn {pfn:#x} under entry {entry:#x} is not "
                                f"a swap-cache page of that entry")
            if not si.swap_map[swp_offset(entry)] & swapfile.SWAP_HAS_CACHE:
                raise KernelBug(f"swap cache: slot {swp_offset(entry)} of {si.name} lacks "
                                f"SWAP_HAS_CACHE")
        if len(space.i_pages) != space.nrpages:
            raise KernelBug(f"swapper_space {t}: nrpages {space.nrpages} but "
                            f"{len(space.i_pages)} pages")
    if n != m.total_swapcache_pages:
        raise KernelBug(f"total_swapcache_pages {m.total_swapcache_pages} but {n} pages")
