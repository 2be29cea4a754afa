"""Page faults in mm/memory.c: handle_mm_fault down to handle_pte_fault, anonymous faults
(do_anonymous_page), copy-on-write (do_wp_page, wp_page_copy, wp_page_reuse) and faults
on file mappings (do_fault: do_read_fault with do_fault_around, do_cow_fault,
do_shared_fault; the filesystem answers through ``vma.vm_ops.fault``, ``map_pages`` and
``page_mkwrite``) and the first write to a write-protected shared page (wp_page_shared).

Where a PMD is none and ``transparent_hugepage_enabled(vma)``, an anonymous fault first
tries a transparent huge page (linuxvm/mm/huge_memory.py); a huge PMD's faults go there
too (do_huge_pmd_wp_page, huge_pmd_set_accessed).
"""

import errno

from ...arch.x86 import tlb as x86_tlb
from ...arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from ...arch.x86.pgtable import (pt_entries, pgd_offset, pte_present, pte_offset_map,
                                 pte_write, pte_pfn, pfn_pte, mk_pte, pte_mkspecial, pte_mkwrite,
                                 pte_mkdirty, pte_mkyoung, pte_protnone, pmd_trans_huge,
                                 pmd_devmap, pte_to_swp_entry, non_swap_entry, swp_type,
                                 pte_swp_soft_dirty, pte_mksoft_dirty, SWP_HWPOISON,
                                 SWP_MIGRATION_READ, SWP_MIGRATION_WRITE)
from ...arch.x86.pgtable_types import _PAGE_PRESENT, _PAGE_RW
from ...errors import KernelBug
from .. import gfp as G
from .. import hugetlb          # hugetlb.c's fault hook (it calls memory back)
from .. import huge_memory
from ..huge_memory import transparent_hugepage_enabled
from .. import mlock
from ...include.mm import VM_SHARED, VM_WRITE, VM_LOCKED, VM_HUGETLB, VM_GROWSDOWN
from ..mm_types import MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES, MM_SWAPENTS
from ..mmap_stack import expand_downwards
from ..page import (total_mapcount, NULL, PAGE_MAPPING_ANON, PG_uptodate, PG_mlocked, PG_locked, PG_swapbacked,
                    PG_swapcache)
from ..page_alloc import __alloc_pages_nodemask
from .. import swapfile, swap_state
from ..page_writeback import set_page_dirty, page_mapping, balance_dirty_pages_ratelimited
from ..swapfile import reuse_swap_page
from ..rmap import (anon_vma_prepare, page_add_new_anon_rmap, page_add_anon_rmap, page_remove_rmap,
                    page_add_file_rmap, linear_page_index)
from ..vm_ops import VmFault
from ..swap import lru_cache_add_active_or_unevictable, put_page, get_page
from ...include.vm_event_item import PGFAULT, PGMAJFAULT
from .pgtable import pud_alloc, pmd_alloc, pte_alloc, is_zero_pfn, vm_normal_page, print_bad_pte
from .rss import inc_mm_counter_fast, dec_mm_counter_fast, check_sync_rss_stat, mm_counter

# the VM_FAULT_* codes live with vm_operations_struct, whose fault handlers return them
from ..vm_ops import (VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_MAJOR, VM_FAULT_WRITE,  # noqa: F401
                      VM_FAULT_HWPOISON, VM_FAULT_HWPOISON_LARGE, VM_FAULT_SIGSEGV,
                      VM_FAULT_NOPAGE, VM_FAULT_LOCKED, VM_FAULT_RETRY, VM_FAULT_FALLBACK,
                      VM_FAULT_ERROR)

# include/linux/mm.h FAULT_FLAG_*
FAULT_FLAG_WRITE = 0x01
FAULT_FLAG_MKWRITE = 0x02
FAULT_FLAG_ALLOW_RETRY = 0x04
FAULT_FLAG_RETRY_NOWAIT = 0x08
FAULT_FLAG_KILLABLE = 0x10
FAULT_FLAG_TRIED = 0x20
FAULT_FLAG_USER = 0x40

GFP_HIGHUSER_MOVABLE_ZERO = G.GFP_HIGHUSER_MOVABLE | G.__GFP_ZERO


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
            return 0 if prev.vm_flags & VM_GROWSDOWN else -errno.ENOMEM
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


def wp_page_reuse(m, vma, address: int, ptr, orig_pte: int, page: int = NULL,
                  page_mkwrite: bool = False, dirty_shared: bool = False) -> int:
    """Make the faulting PTE writable in place (mm/memory.c wp_page_reuse); for a shared
    file page also dirty the page, which the caller holds a reference on."""
    entry = pte_mkyoung(orig_pte)
    entry = maybe_mkwrite(pte_mkdirty(entry), vma)
    ptep_set_access_flags(m, vma, address, ptr, entry, True)
    if dirty_shared:
        if not page_mkwrite:
            _lock_page(m, page)
        dirtied = set_page_dirty(m, page)
        mapping = page_mapping(m, page)
        _unlock_page(m, page)
        put_page(m, page)
        if (dirtied or page_mkwrite) and mapping is not None:
            balance_dirty_pages_ratelimited(m, mapping, page)
    return VM_FAULT_WRITE


def wp_page_copy(m, mm, vma, address: int, ptr, orig_pte: int, old_page: int) -> int:
    """Break COW: copy (or zero-fill, for the zero page) into a new private page
    (mm/memory.c wp_page_copy).

    Accelerator: ``wp_page_copy`` in linuxvm/accel/memory.py (an anonymous page's copy with
    its helpers inlined); it returns None, having changed nothing, for other cases.
    """
    fast = m.accel.wp_page_copy
    if fast is not None:
        ret = fast(m, mm, vma, address, ptr, orig_pte, old_page)
        if ret is not None:
            return ret
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
            mlock.munlock_vma_page(m, old_page)
        put_page(m, old_page)
    return VM_FAULT_WRITE if page_copied else 0


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
            # a THP subpage: the anon_vma moves only when no other process maps any part
            if total_mapcount(mem_map, mem_map.compound_head_pfn(old_page)) == 1:
                page_move_anon_rmap(m, old_page, vma, address)
            return wp_page_reuse(m, vma, address, ptr, orig_pte)
    elif (vma.vm_flags & (VM_WRITE | VM_SHARED)) == (VM_WRITE | VM_SHARED):
        return wp_page_shared(m, mm, vma, address, ptr, orig_pte, old_page)
    get_page(m, old_page)
    return wp_page_copy(m, mm, vma, address, ptr, orig_pte, old_page)


def wp_page_shared(m, mm, vma, address: int, ptr, orig_pte: int, old_page: int) -> int:
    """The first write through a write-protected PTE of a shared mapping: tell the
    filesystem (page_mkwrite), then make the PTE writable and the page dirty
    (mm/memory.c wp_page_shared)."""
    get_page(m, old_page)
    page_mkwrite = False
    if vma.vm_ops is not None and vma.vm_ops.page_mkwrite is not None:
        tmp = do_page_mkwrite(m, vma, old_page, address)
        if not tmp or tmp & (VM_FAULT_ERROR | VM_FAULT_NOPAGE):
            put_page(m, old_page)
            return tmp
        # the PTE was unlocked around ->page_mkwrite: if it changed, retry the access
        if pt_entries(m, ptr[0])[ptr[1]] != orig_pte:
            _unlock_page(m, old_page)
            put_page(m, old_page)
            return 0
        page_mkwrite = True
    return wp_page_reuse(m, vma, address, ptr, orig_pte, old_page, page_mkwrite, True)


def do_page_mkwrite(m, vma, page: int, address: int) -> int:
    """Ask the filesystem whether a page may become writable; VM_FAULT_LOCKED with the page
    locked, 0 to retry the fault, or an error (mm/memory.c do_page_mkwrite)."""
    vmf = VmFault(m, FAULT_FLAG_WRITE | FAULT_FLAG_MKWRITE, int(m.mem_map.index[page]),
                  address & ~(PAGE_SIZE - 1), G.GFP_HIGHUSER_MOVABLE | G.__GFP_FS | G.__GFP_IO)
    vmf.page = page
    ret = vma.vm_ops.page_mkwrite(vma, vmf)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE):
        return ret
    if not ret & VM_FAULT_LOCKED:
        _lock_page(m, page)
        if not m.mem_map.mapping[page]:
            _unlock_page(m, page)       # truncated meanwhile: retry
            return 0
        ret |= VM_FAULT_LOCKED
    elif not m.mem_map.f[page] & (1 << PG_locked):
        raise KernelBug("VM_BUG_ON_PAGE(!PageLocked(page)): page_mkwrite returned "
                        "VM_FAULT_LOCKED on an unlocked page")
    return ret


def page_move_anon_rmap(m, page: int, vma, address: int) -> None:
    """The page is exclusively ours: point it at our own anon_vma (mm/rmap.c); for a
    subpage of a THP, the whole compound page (4.6 sets the head's mapping)."""
    av = vma.anon_vma
    mem_map = m.mem_map
    head = mem_map.compound_head_pfn(page)
    if mem_map.PageHead(head):
        nr = 1 << mem_map.compound_order(head)
        mem_map.mapping[head:head + nr] = (av.handle << 2) | PAGE_MAPPING_ANON
    else:
        mem_map.mapping[page] = (av.handle << 2) | PAGE_MAPPING_ANON


# --- faults on file mappings ------------------------------------------------------------

def mm_counter_file(m, page: int) -> int:
    """MM_SHMEMPAGES for a shmem page, else MM_FILEPAGES (include/linux/mm.h)."""
    return MM_SHMEMPAGES if m.mem_map.f[page] & (1 << PG_swapbacked) else MM_FILEPAGES


def do_set_pte(m, vma, address: int, page: int, ptr, write: bool, anon: bool) -> None:
    """Map ``page`` at ``address`` with its rmap and RSS (mm/memory.c do_set_pte); the
    PTE was none."""
    entry = mk_pte(page, vma.vm_page_prot)
    if write:
        entry = maybe_mkwrite(pte_mkdirty(entry), vma)
    mm = vma.vm_mm
    if anon:
        inc_mm_counter_fast(m, mm, MM_ANONPAGES)
        page_add_new_anon_rmap(m, page, vma, address)
    else:
        inc_mm_counter_fast(m, mm, mm_counter_file(m, page))
        page_add_file_rmap(m, page)
    pt_entries(m, ptr[0])[ptr[1]] = entry


def _lock_page(m, page: int) -> None:
    f = m.mem_map.f
    f[page] = f[page] | (1 << PG_locked)


def _unlock_page(m, page: int) -> None:
    f = m.mem_map.f
    f[page] = f[page] & ~(1 << PG_locked) & 0xFFFFFFFFFFFFFFFF


def __do_fault(m, vma, address: int, pgoff: int, flags: int, cow_page: int):
    """Ask the mapping's fault handler for the page at ``pgoff``, returned locked
    (mm/memory.c __do_fault): (VM_FAULT_* bits, page or NULL)."""
    vmf = VmFault(m, flags, pgoff, address & ~(PAGE_SIZE - 1), G.GFP_HIGHUSER_MOVABLE
                  | G.__GFP_FS | G.__GFP_IO, cow_page)
    ret = vma.vm_ops.fault(vma, vmf)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        return ret, NULL
    page = vmf.page
    if page == NULL:
        return ret, NULL
    if not ret & VM_FAULT_LOCKED:
        f = m.mem_map.f
        f[page] = f[page] | (1 << PG_locked)          # lock_page
    return ret, page


def do_fault_around(m, vma, address: int, ptr, pgoff: int, flags: int) -> None:
    """Map the already-cached pages around a read fault: the window of
    fault_around_bytes aligned to its size, starting no lower than the VMA, ending at
    the PTE table's end, the VMA's end or a window's length on (mm/memory.c)."""
    nr_pages = m.fault_around_bytes >> PAGE_SHIFT
    mask = ~(nr_pages * PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    start_addr = max(address & mask, vma.vm_start)
    off = ((address - start_addr) >> PAGE_SHIFT) & 511
    table_pfn, i = ptr[0], ptr[1] - off
    pgoff -= off
    max_pgoff = pgoff - ((start_addr >> PAGE_SHIFT) & 511) + 511
    max_pgoff = min(max_pgoff, ((vma.vm_end - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff - 1,
                    pgoff + nr_pages - 1)
    table = pt_entries(m, table_pfn)
    while table[i]:                                   # skip what is mapped already
        pgoff += 1
        if pgoff > max_pgoff:
            return
        start_addr += PAGE_SIZE
        if start_addr >= vma.vm_end:
            return
        i += 1
    vmf = VmFault(m, flags, pgoff, start_addr, G.GFP_HIGHUSER_MOVABLE | G.__GFP_FS
                  | G.__GFP_IO)
    vmf.pte = (table_pfn, i)
    vmf.max_pgoff = max_pgoff
    vma.vm_ops.map_pages(vma, vmf)


def do_read_fault(m, mm, vma, address: int, ptr, pgoff: int, flags: int,
                  orig_pte: int) -> int:
    """A read of a file page not mapped yet: map_pages around it first, then ->fault
    for the page itself (mm/memory.c do_read_fault)."""
    table = pt_entries(m, ptr[0])
    if vma.vm_ops.map_pages is not None and m.fault_around_bytes >> PAGE_SHIFT > 1:
        do_fault_around(m, vma, address, ptr, pgoff, flags)
        if table[ptr[1]] != orig_pte:
            return 0
    ret, page = __do_fault(m, vma, address, pgoff, flags, NULL)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        return ret
    if table[ptr[1]] != orig_pte:
        _unlock_page(m, page)
        put_page(m, page)
        return ret
    do_set_pte(m, vma, address, page, ptr, False, False)
    _unlock_page(m, page)
    return ret


def do_cow_fault(m, mm, vma, address: int, ptr, pgoff: int, flags: int,
                 orig_pte: int) -> int:
    """A write to a private file mapping's page not mapped yet: copy the file page into
    a new anonymous page (mm/memory.c do_cow_fault)."""
    anon_vma_prepare(m, vma)
    new_page = alloc_page_vma(m, G.GFP_HIGHUSER_MOVABLE)
    if new_page == NULL:
        return VM_FAULT_OOM
    ret, fault_page = __do_fault(m, vma, address, pgoff, flags, new_page)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        put_page(m, new_page)
        return ret
    if fault_page != NULL:
        copy_user_highpage(m, new_page, fault_page)
    f = m.mem_map.f
    f[new_page] = f[new_page] | (1 << PG_uptodate)
    if pt_entries(m, ptr[0])[ptr[1]] != orig_pte:
        if fault_page != NULL:
            _unlock_page(m, fault_page)
            put_page(m, fault_page)
        put_page(m, new_page)
        return ret
    do_set_pte(m, vma, address, new_page, ptr, True, True)
    lru_cache_add_active_or_unevictable(m, new_page, vma)
    if fault_page != NULL:
        _unlock_page(m, fault_page)
        put_page(m, fault_page)
    return ret


def do_shared_fault(m, mm, vma, address: int, ptr, pgoff: int, flags: int,
                    orig_pte: int) -> int:
    """A write to a MAP_SHARED file page not mapped yet: the page cache's page itself is
    mapped writable and dirtied, after page_mkwrite if the filesystem has one
    (mm/memory.c do_shared_fault)."""
    ret, fault_page = __do_fault(m, vma, address, pgoff, flags, NULL)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        return ret
    mkwrite = vma.vm_ops.page_mkwrite
    if mkwrite is not None:
        _unlock_page(m, fault_page)
        tmp = do_page_mkwrite(m, vma, fault_page, address)
        if not tmp or tmp & (VM_FAULT_ERROR | VM_FAULT_NOPAGE):
            put_page(m, fault_page)
            return tmp
    if pt_entries(m, ptr[0])[ptr[1]] != orig_pte:
        _unlock_page(m, fault_page)
        put_page(m, fault_page)
        return ret
    do_set_pte(m, vma, address, fault_page, ptr, True, False)
    dirtied = set_page_dirty(m, fault_page)
    mapping = page_mapping(m, fault_page)
    _unlock_page(m, fault_page)
    if (dirtied or mkwrite is not None) and mapping is not None:
        balance_dirty_pages_ratelimited(m, mapping, fault_page)
    return ret


def do_fault(m, mm, vma, address: int, ptr, flags: int, orig_pte: int) -> int:
    """A none PTE in a VMA with vm_ops: read, private write or shared write
    (mm/memory.c do_fault)."""
    pgoff = linear_page_index(vma, address)
    if vma.vm_ops.fault is None:
        return VM_FAULT_SIGBUS
    if not flags & FAULT_FLAG_WRITE:
        return do_read_fault(m, mm, vma, address, ptr, pgoff, flags, orig_pte)
    if not vma.vm_flags & VM_SHARED:
        return do_cow_fault(m, mm, vma, address, ptr, pgoff, flags, orig_pte)
    return do_shared_fault(m, mm, vma, address, ptr, pgoff, flags, orig_pte)


# --- swap-in ------------------------------------------------------------------------------

def do_swap_page(m, mm, vma, address: int, ptr, flags: int, orig_pte: int) -> int:
    """A PTE holding a swap entry: find the page in the swap cache or read it (with
    readahead; a major fault), map it, and drop the PTE's hold on the slot
    (mm/memory.c do_swap_page)."""
    entry = pte_to_swp_entry(orig_pte)
    if non_swap_entry(entry):
        if swp_type(entry) == SWP_HWPOISON:
            return VM_FAULT_HWPOISON
        if swp_type(entry) in (SWP_MIGRATION_READ, SWP_MIGRATION_WRITE):
            # 4.6 waits for the migration to finish (migration_entry_wait); in the
            # model a migration ends within the call that started it
            raise KernelBug("do_swap_page on a migration entry: the model's "
                            "migrate_pages completes within one call, so no PTE holds "
                            "a migration entry between calls")
        print_bad_pte(m, vma, address, orig_pte, NULL)
        return VM_FAULT_SIGBUS
    ret = 0
    page = swap_state.lookup_swap_cache(m, entry)
    if page == NULL:
        page = swap_state.swapin_readahead(m, entry, G.GFP_HIGHUSER_MOVABLE, vma, address)
        if page == NULL:
            if pt_entries(m, ptr[0])[ptr[1]] == orig_pte:
                return VM_FAULT_OOM
            return 0
        ret = VM_FAULT_MAJOR
        m.pgdat.vm_events[PGMAJFAULT] += 1
    mem_map = m.mem_map
    f = mem_map.f
    _lock_page(m, page)
    if not f[page] & (1 << PG_swapcache) or int(mem_map.priv[page]) != entry:
        _unlock_page(m, page)       # the slot was freed and reused meanwhile: retry
        put_page(m, page)
        return ret
    table = pt_entries(m, ptr[0])
    if table[ptr[1]] != orig_pte or not f[page] & (1 << PG_uptodate):
        _unlock_page(m, page)
        put_page(m, page)
        return ret if table[ptr[1]] != orig_pte else VM_FAULT_SIGBUS
    inc_mm_counter_fast(m, mm, MM_ANONPAGES)
    dec_mm_counter_fast(m, mm, MM_SWAPENTS)
    pte = mk_pte(page, vma.vm_page_prot)
    exclusive = False
    if flags & FAULT_FLAG_WRITE and swapfile.reuse_swap_page(m, page):
        pte = maybe_mkwrite(pte_mkdirty(pte), vma)
        flags &= ~FAULT_FLAG_WRITE
        ret |= VM_FAULT_WRITE
        exclusive = True
    if pte_swp_soft_dirty(orig_pte):
        pte = pte_mksoft_dirty(pte)
    table[ptr[1]] = pte
    page_add_anon_rmap(m, page, vma, address, exclusive)
    swapfile.swap_free(m, entry)
    if (swapfile.vm_swap_full(m) or vma.vm_flags & VM_LOCKED
            or f[page] & (1 << PG_mlocked)):
        swapfile.try_to_free_swap(m, page)
    _unlock_page(m, page)
    if flags & FAULT_FLAG_WRITE:
        ret |= do_wp_page(m, mm, vma, address, ptr, pte)
        if ret & VM_FAULT_ERROR:
            ret &= VM_FAULT_ERROR
    return ret


def handle_pte_fault(m, mm, vma, address: int, ptr, flags: int, table=None) -> int:
    if table is None:
        table = pt_entries(m, ptr[0])
    entry = table[ptr[1]]
    if not pte_present(entry):
        if entry == 0:
            if vma.vm_ops is None:
                return do_anonymous_page(m, mm, vma, address, ptr, flags, table)
            return do_fault(m, mm, vma, address, ptr, flags, entry)
        return do_swap_page(m, mm, vma, address, ptr, flags, entry)
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


def __handle_mm_fault(m, mm, vma, address: int, flags: int) -> int:
    """Allocate what is missing of the path down to the PTE for ``address`` and handle
    the fault there (mm/memory.c __handle_mm_fault).

    Accelerator: ``handle_mm_fault`` in linuxvm/accel/memory.py.
    """
    if vma.vm_flags & VM_HUGETLB:
        return hugetlb.hugetlb_fault(m, mm, vma, address, flags)
    fast = m.accel.handle_mm_fault
    if fast is not None:
        ret = fast(m, mm, vma, address, flags)
        if ret is not None:
            return ret
    pgd = pgd_offset(mm, address)
    pud = pud_alloc(m, mm, pgd, address)
    if pud is None:
        return VM_FAULT_OOM
    pmd = pmd_alloc(m, mm, pud, address)
    if pmd is None:
        return VM_FAULT_OOM
    pmdv = pt_entries(m, pmd[0])[pmd[1]]
    if not pmdv and transparent_hugepage_enabled(m, vma):
        # create_huge_pmd: only anonymous VMAs have a huge fault in 4.6 (no pmd_fault here)
        if vma.vm_ops is None:
            ret = huge_memory.do_huge_pmd_anonymous_page(m, mm, vma, address, pmd, flags)
            if not ret & VM_FAULT_FALLBACK:
                return ret
    elif pmdv and (pmd_trans_huge(pmdv) or pmd_devmap(pmdv)):
        if pmd_devmap(pmdv):
            raise NotImplementedError("devmap PMD faults: DAX is not modelled")
        dirty = bool(flags & FAULT_FLAG_WRITE)
        if dirty and not pmdv & _PAGE_RW:
            # wp_huge_pmd: anonymous VMAs only
            ret = huge_memory.do_huge_pmd_wp_page(m, mm, vma, address, pmd, pmdv)
            if not ret & VM_FAULT_FALLBACK:
                return ret
        else:
            huge_memory.huge_pmd_set_accessed(m, mm, vma, address, pmd, pmdv, dirty)
            return 0
    if pte_alloc(m, mm, pmd, address):
        return VM_FAULT_OOM
    if pmd_trans_huge(pt_entries(m, pmd[0])[pmd[1]]):
        return 0                                  # pmd_trans_unstable: a huge PMD appeared
    ptr = pte_offset_map(pt_entries(m, pmd[0])[pmd[1]], address)
    return handle_pte_fault(m, mm, vma, address, ptr, flags)


def handle_mm_fault(m, mm, vma, address: int, flags: int) -> int:
    """Resolve a fault at ``address`` in ``vma`` (mm/memory.c); returns VM_FAULT_* bits."""
    m.pgdat.vm_events[PGFAULT] += 1
    check_sync_rss_stat(m, m.current)
    return __handle_mm_fault(m, mm, vma, address, flags)
