"""Readahead (mm/readahead.c): the on-demand window of a file_ra_state, read-around for
mmap faults, forced readahead for fadvise(WILLNEED).

``ondemand_readahead`` sizes windows as 4.6 does (``get_init_ra_size``,
``get_next_ra_size``, ra_pages 32 by default) and marks the page at
``start + size - async_size`` PG_readahead; meeting it later pushes the window on.
Reads complete at once in the model (the block device answers synchronously).
"""

import errno

from ..arch.x86.page_types import PAGE_SHIFT
from . import filemap          # the page cache (it calls back into readahead)
from . import gfp as G
from .page import NULL, PG_reclaim, PG_writeback
from .swap import put_page

PG_readahead = PG_reclaim
_U64 = 0xFFFFFFFFFFFFFFFF


def roundup_pow_of_two(n: int) -> int:
    return 1 << (n - 1).bit_length() if n > 1 else 1


def get_init_ra_size(size: int, max_pages: int) -> int:
    """The first window: small requests ×4, medium ×2, else the maximum."""
    newsize = roundup_pow_of_two(size)
    if newsize <= max_pages // 32:
        return newsize * 4
    if newsize <= max_pages // 4:
        return newsize * 2
    return max_pages


def get_next_ra_size(ra, max_pages: int) -> int:
    """The next window: ×4 while small, then ×2, never past the maximum."""
    cur = ra.size
    newsize = 4 * cur if cur < max_pages // 16 else 2 * cur
    return min(newsize, max_pages)


def read_pages(m, mapping, file, pool) -> None:
    """Add each new page to the cache and read it (mm/readahead.c read_pages, the
    ->readpage loop; no ->readpages)."""
    for pfn in pool:
        if not filemap.add_to_page_cache_lru(m, pfn, mapping, int(m.mem_map.idx[pfn]),
                                             G.GFP_KERNEL):
            mapping.a_ops.readpage(m, file, pfn)
        put_page(m, pfn)


def __do_page_cache_readahead(m, mapping, file, offset: int, nr_to_read: int,
                              lookahead_size: int) -> int:
    """Allocate the missing pages of [offset, offset + nr_to_read) inside i_size, mark
    the lookahead page PG_readahead, and read them all; the number of pages read."""
    isize = mapping.host.i_size
    if isize == 0:
        return 0
    end_index = (isize - 1) >> PAGE_SHIFT
    pool = []
    gfp = filemap.mapping_gfp_mask(mapping) | G.__GFP_COLD | G.__GFP_NORETRY | G.__GFP_NOWARN
    mem_map = m.mem_map
    for page_idx in range(nr_to_read):
        page_offset = offset + page_idx
        if page_offset > end_index:
            break
        if page_offset in mapping.i_pages:
            continue
        pfn = filemap.__page_cache_alloc(m, gfp)
        if pfn == NULL:
            break
        mem_map.idx[pfn] = page_offset
        pool.append(pfn)
        if page_idx == nr_to_read - lookahead_size:
            mem_map.f[pfn] = mem_map.f[pfn] | (1 << PG_readahead)
    if pool:
        # list_add puts each page at the head: read_pages takes them from the tail,
        # so in allocation order
        read_pages(m, mapping, file, pool)
    return len(pool)


def force_page_cache_readahead(m, mapping, file, offset: int, nr_to_read: int) -> int:
    """Read [offset, offset + nr_to_read) in 2 MiB chunks, at most ra_pages
    (fadvise WILLNEED, readahead(2)); 0 or -EINVAL."""
    if mapping.a_ops is None or mapping.a_ops.readpage is None:
        return -errno.EINVAL
    nr_to_read = min(nr_to_read, mapping.ra_pages)
    chunk = (2 << 20) >> PAGE_SHIFT
    while nr_to_read:
        this_chunk = min(chunk, nr_to_read)
        __do_page_cache_readahead(m, mapping, file, offset, this_chunk, 0)
        offset += this_chunk
        nr_to_read -= this_chunk
    return 0


def ra_submit(m, ra, mapping, file) -> int:
    return __do_page_cache_readahead(m, mapping, file, ra.start, ra.size, ra.async_size)


def page_cache_next_hole(mapping, index: int, max_scan: int) -> int:
    for _ in range(max_scan):
        if index not in mapping.i_pages:
            break
        index = (index + 1) & _U64
        if index == 0:
            break
    return index


def page_cache_prev_hole(mapping, index: int, max_scan: int) -> int:
    for _ in range(max_scan):
        if index not in mapping.i_pages:
            break
        index = (index - 1) & _U64
        if index == _U64:
            break
    return index


def count_history_pages(mapping, offset: int, max_pages: int) -> int:
    head = page_cache_prev_hole(mapping, (offset - 1) & _U64, max_pages)
    return (offset - 1 - head) & _U64


def try_context_readahead(m, mapping, ra, offset: int, req_size: int, max_pages: int) -> bool:
    size = count_history_pages(mapping, offset, max_pages)
    if size <= req_size:
        return False
    if size >= offset:
        size *= 2
    ra.start = offset
    ra.size = min(size + req_size, max_pages)
    ra.async_size = 1
    return True


def ondemand_readahead(m, mapping, ra, file, hit_readahead_marker: bool, offset: int,
                       req_size: int) -> int:
    """Choose and submit the next readahead window (mm/readahead.c ondemand_readahead)."""
    max_pages = ra.ra_pages
    initial = False
    if not offset:
        initial = True
    elif offset == ra.start + ra.size - ra.async_size or offset == ra.start + ra.size:
        ra.start += ra.size
        ra.size = get_next_ra_size(ra, max_pages)
        ra.async_size = ra.size
    elif hit_readahead_marker:
        start = page_cache_next_hole(mapping, offset + 1, max_pages)
        if not start or start - offset > max_pages:
            return 0
        ra.start = start
        ra.size = start - offset + req_size
        ra.size = get_next_ra_size(ra, max_pages)
        ra.async_size = ra.size
    elif req_size > max_pages:
        initial = True
    else:
        prev_offset = (ra.prev_pos & _U64) >> PAGE_SHIFT
        if ((offset - prev_offset) & _U64) <= 1:
            initial = True
        elif not try_context_readahead(m, mapping, ra, offset, req_size, max_pages):
            # a standalone small random read: as is, without touching the state
            return __do_page_cache_readahead(m, mapping, file, offset, req_size, 0)
    if initial:
        ra.start = offset
        ra.size = get_init_ra_size(req_size, max_pages)
        ra.async_size = ra.size - req_size if ra.size > req_size else ra.size
    # readit: a read that would hit its own marker at once takes the next window now
    if offset == ra.start and ra.size == ra.async_size:
        ra.async_size = get_next_ra_size(ra, max_pages)
        ra.size += ra.async_size
    return ra_submit(m, ra, mapping, file)


def page_cache_sync_readahead(m, mapping, ra, file, offset: int, req_size: int) -> None:
    """Readahead after a cache miss (mm/readahead.c)."""
    if not ra.ra_pages:
        return
    if file is not None and file.f_mode_random:
        force_page_cache_readahead(m, mapping, file, offset, req_size)
        return
    ondemand_readahead(m, mapping, ra, file, False, offset, req_size)


def page_cache_async_readahead(m, mapping, ra, file, pfn: int, offset: int,
                               req_size: int) -> None:
    """Readahead on meeting a PG_readahead page (mm/readahead.c)."""
    if not ra.ra_pages:
        return
    f = m.mem_map.f
    if f[pfn] & (1 << PG_writeback):
        return                      # the bit means PG_reclaim on a page under writeback
    f[pfn] = f[pfn] & ~(1 << PG_readahead) & _U64
    ondemand_readahead(m, mapping, ra, file, True, offset, req_size)
