"""Page migration (mm/migrate.c): move the contents, state and mappings of isolated
order-0 pages to new frames — anonymous pages, swap-cache pages and page-cache pages
(regular files and shmem).

A mapped page is unmapped with migration entries (try_to_unmap with TTU_MIGRATION:
a PTE becomes a SWP_MIGRATION_READ/WRITE entry naming the old frame), its cache slot
is moved (migrate_page_move_mapping), its bytes and flags are copied
(migrate_page_copy), and the entries are turned back into PTEs of the new frame
(remove_migration_ptes). In the model one migrate_pages call runs to its end before
anything else runs, so no PTE holds a migration entry between calls; a fault, zap,
fork or /proc walk that meets one is a model bug.
"""

import errno

from ..arch.x86.pgtable import (pt_entries, is_swap_pte, pte_to_swp_entry, swp_type,
                                swp_offset, mk_pte, pte_mkold, pte_mkwrite,
                                pte_swp_soft_dirty, pte_mksoft_dirty, SWP_MIGRATION_READ,
                                SWP_MIGRATION_WRITE)
from ..errors import KernelBug
from ..include.compaction import MIGRATE_SYNC
from ..include.mm import VM_WRITE, VM_LOCKED
from ..include.vm_event_item import (VM_EVENT, NR_ISOLATED_ANON, NR_FILE_PAGES, NR_SHMEM,
                                     NR_FILE_DIRTY)
from .page import (PAGE_MAPPING_ANON, PG_locked, PG_writeback, PG_swapbacked,
                   PG_swapcache, PG_dirty, PG_error, PG_referenced, PG_uptodate,
                   PG_active, PG_unevictable, PG_checked, PG_mappedtodisk, PG_young,
                   PG_idle, PG_private, PG_private_2)
from . import rmap
from .rmap import TTU_MIGRATION, TTU_IGNORE_MLOCK, TTU_IGNORE_ACCESS
from .page_writeback import page_mapping
from . import swap_state
from .swap import get_page
from .vmscan import putback_lru_page

_U64 = 0xFFFFFFFFFFFFFFFF

# enum migrate_reason (include/linux/migrate.h)
MR_COMPACTION, MR_MEMORY_FAILURE, MR_MEMORY_HOTPLUG, MR_SYSCALL, MR_MEMPOLICY_MBIND, \
    MR_NUMA_MISPLACED, MR_CMA = range(7)
MIGRATEPAGE_SUCCESS = 0

_PAGE_PRIVATE_MASK = (1 << PG_private) | (1 << PG_private_2)


def is_migration_entry(entry: int) -> bool:
    return swp_type(entry) in (SWP_MIGRATION_READ, SWP_MIGRATION_WRITE)


def is_write_migration_entry(entry: int) -> bool:
    return swp_type(entry) == SWP_MIGRATION_WRITE


def migration_entry_to_page(entry: int) -> int:
    return swp_offset(entry)


def page_mapping_or_swap(m, pfn: int):
    """page_mapping(): the file (or shmem) mapping, the swap cache's address space for a
    swap-cache page, or None for an anonymous page (mm/util.c page_mapping)."""
    if m.mem_map.f[pfn] & (1 << PG_swapcache):
        return swap_state.swap_address_space(m, int(m.mem_map.priv[pfn]))
    return page_mapping(m, pfn)


def page_is_file_cache(m, pfn: int) -> int:
    return 0 if m.mem_map.f[pfn] & (1 << PG_swapbacked) else 1


def _set(f, pfn: int, bit: int) -> None:
    f[pfn] = f[pfn] | (1 << bit)


def _test_clear(f, pfn: int, bit: int) -> bool:
    v = f[pfn]
    if v & (1 << bit):
        f[pfn] = v & ~(1 << bit) & _U64
        return True
    return False


# --- the mapping ------------------------------------------------------------------------

def _tree_key(m, mapping, pfn: int) -> int:
    """page_index(): the swap entry for a swap-cache page, page->index otherwise."""
    if m.mem_map.f[pfn] & (1 << PG_swapcache):
        return int(m.mem_map.priv[pfn])
    return int(m.mem_map.idx[pfn])


def migrate_page_move_mapping(m, mapping, newpage: int, page: int, mode: int,
                              extra_count: int = 0) -> int:
    """Hand ``page``'s place in its mapping (its radix-tree slot, the cache's reference,
    PG_swapcache and the swap entry, PG_dirty) to ``newpage`` when nobody else holds the
    page; MIGRATEPAGE_SUCCESS or -EAGAIN (mm/migrate.c migrate_page_move_mapping)."""
    mem_map = m.mem_map
    f = mem_map.f
    expected_count = 1 + extra_count
    if mapping is None:
        if mem_map.rc[page] != expected_count:
            return -errno.EAGAIN
        mem_map.idx[newpage] = mem_map.idx[page]
        mem_map.mapv[newpage] = mem_map.mapv[page]
        if f[page] & (1 << PG_swapbacked):
            _set(f, newpage, PG_swapbacked)
        return MIGRATEPAGE_SUCCESS
    key = _tree_key(m, mapping, page)
    expected_count += 1 + bool(f[page] & _PAGE_PRIVATE_MASK)
    if mem_map.rc[page] != expected_count or mapping.i_pages.get(key) != page:
        return -errno.EAGAIN
    mem_map.idx[newpage] = mem_map.idx[page]
    mem_map.mapv[newpage] = mem_map.mapv[page]
    if f[page] & (1 << PG_swapbacked):
        _set(f, newpage, PG_swapbacked)
    get_page(m, newpage)                        # the cache's reference
    if f[page] & (1 << PG_swapcache):
        _set(f, newpage, PG_swapcache)
        mem_map.priv[newpage] = mem_map.priv[page]
    dirty = _test_clear(f, page, PG_dirty)
    if dirty:
        _set(f, newpage, PG_dirty)
    mapping.i_pages[key] = newpage              # radix_tree_replace_slot
    mem_map.rc[page] = expected_count - 1       # the cache's reference moved over
    oldzone, newzone = m.page_zone(page), m.page_zone(newpage)
    if newzone is not oldzone:
        oldzone.vm_stat[NR_FILE_PAGES] -= 1
        newzone.vm_stat[NR_FILE_PAGES] += 1
        if f[page] & (1 << PG_swapbacked) and not f[page] & (1 << PG_swapcache):
            oldzone.vm_stat[NR_SHMEM] -= 1
            newzone.vm_stat[NR_SHMEM] += 1
        if dirty and getattr(mapping, "account_dirty", False):
            oldzone.vm_stat[NR_FILE_DIRTY] -= 1
            newzone.vm_stat[NR_FILE_DIRTY] += 1
    return MIGRATEPAGE_SUCCESS


def migrate_page_copy(m, newpage: int, page: int) -> None:
    """Copy the bytes (and content tag) and the page flags that travel with the
    contents; the old page gives up its swap-cache state (mm/migrate.c
    migrate_page_copy)."""
    data = m.page_contents.get(page)
    if data is not None:
        m.page_contents[newpage] = bytearray(data)
    else:
        m.page_contents.pop(newpage, None)
    mem_map = m.mem_map
    mem_map.content[newpage] = mem_map.content[page]
    f = mem_map.f
    for bit in (PG_error, PG_referenced, PG_uptodate):
        if f[page] & (1 << bit):
            _set(f, newpage, bit)
    if _test_clear(f, page, PG_active):
        if f[page] & (1 << PG_unevictable):
            raise KernelBug(f"VM_BUG_ON_PAGE(PageUnevictable(page)): pfn {page:#x} is "
                            f"active and unevictable")
        _set(f, newpage, PG_active)
    elif _test_clear(f, page, PG_unevictable):
        _set(f, newpage, PG_unevictable)
    for bit in (PG_checked, PG_mappedtodisk, PG_dirty, PG_young, PG_idle):
        if f[page] & (1 << bit):
            _set(f, newpage, bit)
    _test_clear(f, page, PG_swapcache)
    _test_clear(f, page, PG_private)
    mem_map.priv[page] = 0


def migrate_page(m, mapping, newpage: int, page: int, mode: int) -> int:
    """The common migratepage: move the mapping, then copy (mm/migrate.c migrate_page)."""
    if m.mem_map.f[page] & (1 << PG_writeback):
        raise KernelBug(f"BUG_ON(PageWriteback(page)): migrate_page of pfn {page:#x}")
    rc = migrate_page_move_mapping(m, mapping, newpage, page, mode, 0)
    if rc != MIGRATEPAGE_SUCCESS:
        return rc
    migrate_page_copy(m, newpage, page)
    return MIGRATEPAGE_SUCCESS


def buffer_migrate_page(m, mapping, newpage: int, page: int, mode: int) -> int:
    """A block filesystem's migratepage (mm/migrate.c buffer_migrate_page): the model
    keeps no buffer heads, so it is migrate_page."""
    return migrate_page(m, mapping, newpage, page, mode)


def fallback_migrate_page(m, mapping, newpage: int, page: int, mode: int) -> int:
    """A mapping without a migratepage (ramfs): a dirty page would have to be written
    out first, which only MIGRATE_SYNC tries and a mapping with no writepage cannot do
    (mm/migrate.c fallback_migrate_page and writeout)."""
    if m.mem_map.f[page] & (1 << PG_dirty):
        if mode != MIGRATE_SYNC:
            return -errno.EBUSY
        if mapping.a_ops is None or mapping.a_ops.writepage is None:
            return -errno.EINVAL
        raise NotImplementedError("fallback_migrate_page: writing a dirty page out "
                                  "through a mapping without migratepage")
    if m.mem_map.f[page] & _PAGE_PRIVATE_MASK:
        return -errno.EAGAIN                        # try_to_release_page: no buffers here
    return migrate_page(m, mapping, newpage, page, mode)


def move_to_new_page(m, newpage: int, page: int, mode: int) -> int:
    """Move the mapping and contents through the mapping's migratepage
    (mm/migrate.c move_to_new_page)."""
    f = m.mem_map.f
    if not f[page] & (1 << PG_locked) or not f[newpage] & (1 << PG_locked):
        raise KernelBug("VM_BUG_ON_PAGE(!PageLocked(page)): move_to_new_page")
    mapping = page_mapping_or_swap(m, page)
    if mapping is None or f[page] & (1 << PG_swapcache):
        rc = migrate_page(m, mapping, newpage, page, mode)     # swap_aops: migrate_page
    else:
        fn = getattr(mapping.a_ops, "migratepage", None) if mapping.a_ops else None
        if fn is not None:
            rc = fn(m, mapping, newpage, page, mode)
        else:
            rc = fallback_migrate_page(m, mapping, newpage, page, mode)
    if rc == MIGRATEPAGE_SUCCESS and not m.mem_map.mapv[page] & PAGE_MAPPING_ANON:
        m.mem_map.mapv[page] = 0
    return rc


# --- migration PTEs ---------------------------------------------------------------------

def _pte_slot(m, mm, address: int):
    """(table pfn, index) of the PTE for ``address`` (mm_find_pmd + pte_offset_map), or
    None."""
    table = rmap.mm_find_pmd(m, mm, address)
    if table < 0:
        return None
    return table, (address >> 12) & 511


def remove_migration_pte(m, new: int, vma, address: int, old: int) -> bool:
    """Turn one migration entry for ``old`` back into a PTE of ``new`` — old (not
    young), clean, writable if the entry was — and restore the rmap and mlock
    (mm/migrate.c remove_migration_pte)."""
    slot = _pte_slot(m, vma.vm_mm, address)
    if slot is None:
        return True
    table = pt_entries(m, slot[0])
    pte = int(table[slot[1]])
    if not is_swap_pte(pte):
        return True
    entry = pte_to_swp_entry(pte)
    if not is_migration_entry(entry) or migration_entry_to_page(entry) != old:
        return True
    get_page(m, new)
    newpte = pte_mkold(mk_pte(new, vma.vm_page_prot))
    if pte_swp_soft_dirty(pte):
        newpte = pte_mksoft_dirty(newpte)
    if is_write_migration_entry(entry) and vma.vm_flags & VM_WRITE:
        newpte = pte_mkwrite(newpte)                 # maybe_mkwrite
    table[slot[1]] = newpte
    if m.mem_map.mapv[new] & PAGE_MAPPING_ANON:
        rmap.page_add_anon_rmap(m, new, vma, address)
    else:
        rmap.page_add_file_rmap(m, new)
    if vma.vm_flags & VM_LOCKED:
        rmap.rmap_callbacks.mlock_vma_page(m, new)
    return True


def remove_migration_ptes(m, old: int, new: int) -> None:
    """Walk ``new``'s rmap (it has ``old``'s mapping and index) replacing every migration
    entry for ``old`` (mm/migrate.c remove_migration_ptes)."""
    rmap.rmap_walk(m, new, lambda p, vma, address: remove_migration_pte(m, new, vma,
                                                                         address, old))


# --- one page -----------------------------------------------------------------------

def __unmap_and_move(m, page: int, newpage: int, force: bool, mode: int) -> int:
    """Lock both pages, unmap the old one with migration entries, move it, and point the
    entries at whichever page now holds the contents (mm/migrate.c __unmap_and_move)."""
    mem_map = m.mem_map
    f = mem_map.f
    if f[page] & (1 << PG_locked):
        # trylock_page fails: only another task holds a page lock, and in the model
        # nothing else runs during a migration
        return -errno.EAGAIN
    f[page] = f[page] | (1 << PG_locked)
    rc = -errno.EAGAIN
    anon_vma = None
    try:
        if f[page] & (1 << PG_writeback):
            # the model's writeback completes within its call, so this is never set here
            return -errno.EBUSY if mode != MIGRATE_SYNC else -errno.EAGAIN
        if mem_map.mapv[page] & PAGE_MAPPING_ANON and rmap.page_mapped(m, page):
            anon_vma = rmap.page_anon_vma(m, page)          # page_get_anon_vma
            if anon_vma is not None:
                rmap.get_anon_vma(anon_vma)
        if f[newpage] & (1 << PG_locked):
            return rc
        f[newpage] = f[newpage] | (1 << PG_locked)
        try:
            page_was_mapped = False
            if not mem_map.mapv[page]:
                if f[page] & _PAGE_PRIVATE_MASK:
                    return rc          # try_to_free_buffers: the model has no buffers
            elif rmap.page_mapped(m, page):
                if mem_map.mapv[page] & PAGE_MAPPING_ANON and anon_vma is None:
                    raise KernelBug(f"VM_BUG_ON_PAGE(PageAnon(page) && !anon_vma): pfn "
                                    f"{page:#x}")
                rmap.try_to_unmap(m, page, TTU_MIGRATION | TTU_IGNORE_MLOCK
                                  | TTU_IGNORE_ACCESS)
                page_was_mapped = True
            if not rmap.page_mapped(m, page):
                rc = move_to_new_page(m, newpage, page, mode)
            if page_was_mapped:
                remove_migration_ptes(m, page, newpage if rc == MIGRATEPAGE_SUCCESS
                                      else page)
        finally:
            f[newpage] = f[newpage] & ~(1 << PG_locked) & _U64
    finally:
        if anon_vma is not None:
            rmap.put_anon_vma(m, anon_vma)
        f[page] = f[page] & ~(1 << PG_locked) & _U64
    return rc


def unmap_and_move(m, get_new_page, put_new_page, private, page: int, force: bool,
                   mode: int, reason: int, from_list: list) -> int:
    """Migrate one isolated page to a frame from ``get_new_page``; the old page goes back
    through putback_lru_page (to be freed, when it moved) unless it is to be retried
    (mm/migrate.c unmap_and_move)."""
    newpage = get_new_page(m, page, private)
    if newpage is None:
        return -errno.ENOMEM
    mem_map = m.mem_map
    rc = MIGRATEPAGE_SUCCESS
    if mem_map.rc[page] != 1:
        if mem_map.PageHead(page) or mem_map.PageTail(page):
            raise NotImplementedError("migrating a transparent huge page (split_huge_page "
                                      "on the migration path)")
        rc = __unmap_and_move(m, page, newpage, force, mode)
        if rc == MIGRATEPAGE_SUCCESS:
            put_new_page = None
    # else: the page was freed under us; the isolation reference is all that is left
    if rc != -errno.EAGAIN:
        from_list.remove(page)
        m.page_zone(page).vm_stat[NR_ISOLATED_ANON + page_is_file_cache(m, page)] -= 1
        putback_lru_page(m, page)
    if put_new_page is not None:
        put_new_page(m, newpage, private)
    else:
        putback_lru_page(m, newpage)
    return rc


def migrate_pages(m, from_list: list, get_new_page, put_new_page, private, mode: int,
                  reason: int) -> int:
    """Migrate the isolated pages of ``from_list`` (most recently isolated first, as
    list_add leaves them), up to ten passes over those that ask to be retried; the number
    not migrated, or -ENOMEM when no target page could be had; pgmigrate_success/fail
    (mm/migrate.c migrate_pages)."""
    retry = 1
    nr_failed = nr_succeeded = 0
    rc = 0
    out_of_pages = False
    for pass_ in range(10):
        if not retry:
            break
        retry = 0
        for page in list(reversed(from_list)):
            rc = unmap_and_move(m, get_new_page, put_new_page, private, page, pass_ > 2,
                                mode, reason, from_list)
            if rc == -errno.ENOMEM:
                out_of_pages = True
                break
            if rc == -errno.EAGAIN:
                retry += 1
            elif rc == MIGRATEPAGE_SUCCESS:
                nr_succeeded += 1
            else:
                nr_failed += 1
        if out_of_pages:
            break
    if not out_of_pages:
        nr_failed += retry
        rc = nr_failed
    ev = m.pgdat.vm_events
    if nr_succeeded:
        ev[VM_EVENT["pgmigrate_success"]] += nr_succeeded
    if nr_failed:
        ev[VM_EVENT["pgmigrate_fail"]] += nr_failed
    return rc


def putback_movable_pages(m, pages: list) -> None:
    """Return isolated pages that were not migrated to their LRU lists
    (mm/migrate.c putback_movable_pages)."""
    for page in list(reversed(pages)):
        pages.remove(page)
        m.page_zone(page).vm_stat[NR_ISOLATED_ANON + page_is_file_cache(m, page)] -= 1
        putback_lru_page(m, page)
