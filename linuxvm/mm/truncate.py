"""Truncation and invalidation of the page cache (mm/truncate.c, unmap_mapping_range from
mm/memory.c).

``truncate_pagecache`` unmaps the file's pages past the new size from every VMA in
i_mmap (private COW copies too), deletes them from the cache and zeroes the tail of
the last partial page. ``invalidate_mapping_pages`` (fadvise DONTNEED, drop_caches)
drops only clean, unmapped, unlocked pages that nobody else holds.
"""

import errno

from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from ..errors import KernelBug
from .filemap import lock_page, unlock_page, delete_from_page_cache, __delete_from_page_cache
from .memory.zap import zap_page_range_single, ZapDetails
from .page import NULL, PG_dirty, PG_writeback, PG_mappedtodisk, PG_locked
from .page_writeback import cancel_dirty_page
from .swap import get_page, put_page
from .vma import vma_pages

_U64 = 0xFFFFFFFFFFFFFFFF
PGOFF_MAX = _U64


def i_mmap_sorted(mapping) -> list:
    """The VMAs of i_mmap in interval-tree order (by first page offset), a stable order
    the model's set does not have by itself."""
    return sorted(mapping.i_mmap, key=lambda v: (v.vm_pgoff, v.vm_mm.pgd, v.vm_start))


def unmap_mapping_range(m, mapping, holebegin: int, holelen: int, even_cows: int) -> None:
    """Zap the PTEs of every VMA mapping bytes [holebegin, holebegin+holelen) of the file
    (holelen 0: to the end); with ``even_cows`` the private COW copies go too
    (mm/memory.c unmap_mapping_range)."""
    details = None
    if not even_cows:
        if not mapping.handle:
            return                  # no page was ever cached: nothing of the file is mapped
        details = ZapDetails(mapping.handle << 2)   # the file's own pages only
    hba = holebegin >> PAGE_SHIFT
    hlen = (holelen + PAGE_SIZE - 1) >> PAGE_SHIFT
    if hlen == 0:
        hlen = (PGOFF_MAX - hba) + 1
    first_index = hba
    last_index = hba + hlen - 1
    for vma in i_mmap_sorted(mapping):
        vba = vma.vm_pgoff
        vea = vba + vma_pages(vma) - 1
        if vea < first_index or vba > last_index:
            continue
        zba = max(first_index, vba)
        zea = min(last_index, vea)
        start = ((zba - vba) << PAGE_SHIFT) + vma.vm_start
        end = ((zea - vba + 1) << PAGE_SHIFT) + vma.vm_start
        zap_page_range_single(m, vma, start, end - start, details)


def truncate_complete_page(m, mapping, pfn: int) -> int:
    """Clean and delete one locked page (mm/truncate.c); 0 or -EIO."""
    mem_map = m.mem_map
    if int(mem_map.mapv[pfn]) != mapping.handle << 2:
        return -errno.EIO
    cancel_dirty_page(m, pfn)
    mem_map.f[pfn] = mem_map.f[pfn] & ~(1 << PG_mappedtodisk) & _U64
    delete_from_page_cache(m, pfn)
    return 0


def truncate_inode_page(m, mapping, pfn: int) -> int:
    if m.mem_map.mc[pfn] >= 0:
        # 4.6 leaves private COW copies here: a truncation unmapped them first
        unmap_mapping_range(m, mapping, int(m.mem_map.idx[pfn]) << PAGE_SHIFT, PAGE_SIZE, 0)
    return truncate_complete_page(m, mapping, pfn)


def zero_user_segment(m, pfn: int, start: int, end: int) -> None:
    """Zero bytes [start, end) of a page (include/linux/highmem.h)."""
    buf = m.page_contents.get(pfn)
    if buf is None or not any(buf[start:end]):
        return
    buf[start:end] = bytes(end - start)
    m.content_seq = (m.content_seq % 0xFFFFFFFF) + 1
    m.mem_map.contv[pfn] = m.content_seq
    if not any(buf):
        del m.page_contents[pfn]


def truncate_inode_pages_range(m, mapping, lstart: int, lend: int) -> None:
    """Delete the cached pages of bytes [lstart, lend] (lend -1: to the end) and zero the
    partial pages at the edges (mm/truncate.c)."""
    partial_start = lstart & (PAGE_SIZE - 1)
    partial_end = (lend + 1) & (PAGE_SIZE - 1)
    start = (lstart + PAGE_SIZE - 1) >> PAGE_SHIFT
    end = PGOFF_MAX if lend == -1 else (lend + 1) >> PAGE_SHIFT
    if mapping.shadows:
        # clear_exceptional_entry: the workingset shadows of the range go too
        for index in [i for i in mapping.shadows if start <= i < end]:
            del mapping.shadows[index]
    if mapping.nrpages == 0:
        return
    f = m.mem_map.f
    for index in sorted(i for i in mapping.i_pages if start <= i < end):
        pfn = mapping.i_pages[index]
        get_page(m, pfn)                                # pagevec_lookup_entries
        if f[pfn] & (1 << PG_locked) or f[pfn] & (1 << PG_writeback):
            put_page(m, pfn)
            continue
        lock_page(m, pfn)
        truncate_inode_page(m, mapping, pfn)
        unlock_page(m, pfn)
        put_page(m, pfn)                                # pagevec_release
    if partial_start:
        pfn = mapping.i_pages.get(start - 1, NULL)      # find_lock_page
        if pfn != NULL:
            top = PAGE_SIZE
            if start > end:
                top = partial_end
                partial_end = 0
            zero_user_segment(m, pfn, partial_start, top)
    if partial_end:
        pfn = mapping.i_pages.get(end, NULL)
        if pfn != NULL:
            zero_user_segment(m, pfn, 0, partial_end)


def truncate_inode_pages(m, mapping, lstart: int) -> None:
    truncate_inode_pages_range(m, mapping, lstart, -1)


def truncate_inode_pages_final(m, mapping) -> None:
    """The inode is being evicted: every page goes (mm/truncate.c)."""
    truncate_inode_pages(m, mapping, 0)


def truncate_pagecache(m, inode, newsize: int) -> None:
    """Unmap and delete the page cache past ``newsize`` (mm/truncate.c): unmap, truncate,
    and unmap again for pages COWed in between."""
    mapping = inode.i_mapping
    holebegin = (newsize + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    unmap_mapping_range(m, mapping, holebegin, 0, 1)
    truncate_inode_pages(m, mapping, newsize)
    unmap_mapping_range(m, mapping, holebegin, 0, 1)


def truncate_setsize(m, inode, newsize: int) -> None:
    """Set i_size and drop the page cache past it (mm/truncate.c)."""
    inode.i_size = newsize
    truncate_pagecache(m, inode, newsize)


def invalidate_inode_page(m, pfn: int) -> int:
    """Drop one clean, unmapped page we hold a reference to; 1 if it went (mm/truncate.c
    invalidate_inode_page → remove_mapping: the page must have exactly the cache's
    reference and ours)."""
    mem_map = m.mem_map
    handle = int(mem_map.mapv[pfn]) >> 2
    mapping = m.address_spaces.get(handle)
    if mapping is None:
        return 0
    f = mem_map.f[pfn]
    if f & (1 << PG_dirty) or f & (1 << PG_writeback):
        return 0
    if mem_map.mc[pfn] >= 0:
        return 0
    if mem_map.rc[pfn] != 2:                    # page_ref_freeze(page, 2) fails
        return 0
    __delete_from_page_cache(m, pfn)
    mem_map.rc[pfn] = 1                         # page_ref_unfreeze(page, 1): ours
    return 1


def invalidate_mapping_pages(m, mapping, start: int, end: int) -> int:
    """Drop the clean, unmapped, unused cached pages of [start, end]; how many went
    (mm/truncate.c). 4.6 then deactivates the pages it could not drop
    (deactivate_file_page); the model leaves them where they are."""
    count = 0
    f = m.mem_map.f
    for index in sorted(i for i in mapping.i_pages if start <= i <= end):
        pfn = mapping.i_pages[index]
        get_page(m, pfn)
        if f[pfn] & (1 << PG_locked):
            put_page(m, pfn)
            continue
        lock_page(m, pfn)
        ret = invalidate_inode_page(m, pfn)
        unlock_page(m, pfn)
        count += ret
        put_page(m, pfn)
    return count


def check_no_pages_left(mapping) -> None:
    if mapping.nrpages:
        raise KernelBug(f"{mapping!r} still holds pages after truncation")
