"""posix_fadvise(2) (mm/fadvise.c sys_fadvise64_64): readahead hints, WILLNEED readahead
and DONTNEED invalidation."""

import errno

from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from .filemap import __filemap_fdatawrite_range
from .mman import (POSIX_FADV_NORMAL, POSIX_FADV_RANDOM, POSIX_FADV_SEQUENTIAL,
                   POSIX_FADV_WILLNEED, POSIX_FADV_NOREUSE, POSIX_FADV_DONTNEED)
from .readahead import force_page_cache_readahead
from .swap import lru_add_drain_all
from .truncate import invalidate_mapping_pages, PGOFF_MAX

LOFF_MAX = (1 << 63) - 1


def sys_fadvise64_64(m, file, offset: int, length: int, advice: int) -> int:
    """Apply ``advice`` to bytes [offset, offset+length) of an open file (0: to the end);
    0 or -errno. ``offset`` and ``length`` are signed loff_t values."""
    if file is None:
        return -errno.EBADF
    inode = file.inode
    if inode.i_mode & 0o170000 == 0o010000:             # S_ISFIFO
        return -errno.ESPIPE
    mapping = file.f_mapping
    if mapping is None or length < 0:
        return -errno.EINVAL
    sb = inode.sb
    if sb is not None and sb.bdev is None:
        # noop_backing_dev_info (tmpfs, ramfs): valid advice is accepted and ignored
        if advice not in (POSIX_FADV_NORMAL, POSIX_FADV_RANDOM, POSIX_FADV_SEQUENTIAL,
                          POSIX_FADV_WILLNEED, POSIX_FADV_NOREUSE, POSIX_FADV_DONTNEED):
            return -errno.EINVAL
        return 0
    endbyte = offset + length
    if not length or endbyte > LOFF_MAX:               # overflow: as much as possible
        endbyte = -1
    else:
        endbyte -= 1
    if advice == POSIX_FADV_NORMAL:
        file.f_ra.ra_pages = mapping.ra_pages
        file.f_mode_random = False
    elif advice == POSIX_FADV_RANDOM:
        file.f_mode_random = True
    elif advice == POSIX_FADV_SEQUENTIAL:
        file.f_ra.ra_pages = mapping.ra_pages * 2
        file.f_mode_random = False
    elif advice == POSIX_FADV_WILLNEED:
        start_index = offset >> PAGE_SHIFT
        end_index = PGOFF_MAX if endbyte < 0 else endbyte >> PAGE_SHIFT
        nrpages = (end_index - start_index + 1) & PGOFF_MAX
        if not nrpages:
            nrpages = PGOFF_MAX
        force_page_cache_readahead(m, mapping, file, start_index, nrpages)
    elif advice == POSIX_FADV_NOREUSE:
        pass
    elif advice == POSIX_FADV_DONTNEED:
        __filemap_fdatawrite_range(m, mapping, offset, endbyte)
        start_index = (offset + PAGE_SIZE - 1) >> PAGE_SHIFT
        end_index = PGOFF_MAX if endbyte < 0 else endbyte >> PAGE_SHIFT
        if end_index >= start_index:
            count = invalidate_mapping_pages(m, mapping, start_index, end_index)
            if count < end_index - start_index + 1:
                # some pages may sit in another CPU's pagevec: drain all and retry
                lru_add_drain_all(m)
                invalidate_mapping_pages(m, mapping, start_index, end_index)
    else:
        return -errno.EINVAL
    return 0
