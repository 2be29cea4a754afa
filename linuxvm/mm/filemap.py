"""The page cache (mm/filemap.c): the radix tree of an address_space, adding and deleting
pages, the read path (do_generic_file_read), the write path (generic_perform_write),
the fault handler of file mappings (filemap_fault, filemap_map_pages) and the
page-cache invariant check.

A cached page holds one reference for the cache (plus one per PTE and per pagevec
slot), ``page->mapping`` = ``handle << 2`` of its address_space and ``page->index`` its
offset in pages. The filesystem is reached only through ``mapping.a_ops`` (readpage,
set_page_dirty): mm never imports fs. Readahead is mm/readahead.py, truncation
mm/truncate.py.
"""

import errno

import numpy as np

from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from ..arch.x86.pgtable import pte_present, pte_pfn, pte_special
from ..errors import KernelBug
from ..include.vm_event_item import NR_FILE_PAGES, NR_SHMEM, NR_FILE_DIRTY, PGMAJFAULT
from ..include.mm import VM_RAND_READ, VM_SEQ_READ, VM_DENYWRITE
from . import gfp as G
from . import readahead as ra_mod            # readahead calls back into the cache
from .workingset import workingset_refault, workingset_activation
# a module reference: mmap → shmem → filemap is imported while memory.fault loads
from .memory import fault as memory_fault
from .memory.pgtable import pte_lookup
from .page import (NULL, PAGE_MAPPING_ANON, PG_locked, PG_uptodate, PG_dirty, PG_reclaim,
                   PG_lru, PG_mappedtodisk, PG_active, PG_referenced, PG_swapbacked, PG_error, PG_writeback)
from .page_alloc import __alloc_pages_nodemask
from .backing_dev import WB_SYNC_ALL
from .page_writeback import (page_mapping, account_page_cleaned, set_page_dirty,
                             WritebackControl, do_writepages, balance_dirty_pages_ratelimited,
                             LONG_MAX, LLONG_MAX)
from .rmap import page_add_file_rmap, page_remove_file_rmap       # noqa: F401 (re-export)
from .swap import lru_cache_add, put_page, get_page, mark_page_accessed
from .vm_ops import (VM_FAULT_SIGBUS, VM_FAULT_MAJOR, VM_FAULT_LOCKED, VM_FAULT_OOM,
                     VM_FAULT_RETRY, VM_FAULT_NOPAGE)

_U64 = 0xFFFFFFFFFFFFFFFF
PG_readahead = PG_reclaim          # include/linux/page-flags.h: the same bit
MMAP_LOTSAMISS = 100


# -- page flags used here ---------------------------------------------------------------------

def _set(m, pfn: int, bit: int) -> None:
    f = m.mem_map.f
    f[pfn] = f[pfn] | (1 << bit)


def _clear(m, pfn: int, bit: int) -> None:
    f = m.mem_map.f
    f[pfn] = f[pfn] & ~(1 << bit) & _U64


def _test(m, pfn: int, bit: int) -> bool:
    return bool(m.mem_map.f[pfn] & (1 << bit))


def unlock_page(m, pfn: int) -> None:
    """Clear PG_locked (mm/filemap.c unlock_page; nobody waits in the model)."""
    if not _test(m, pfn, PG_locked):
        raise KernelBug(f"unlock_page: pfn {pfn:#x} is not locked")
    _clear(m, pfn, PG_locked)


def lock_page(m, pfn: int) -> None:
    """Set PG_locked; the model runs one thing at a time, so a locked page is a bug."""
    if _test(m, pfn, PG_locked):
        raise KernelBug(f"lock_page: pfn {pfn:#x} is already locked")
    _set(m, pfn, PG_locked)


def SetPageUptodate(m, pfn: int) -> None:
    _set(m, pfn, PG_uptodate)


# -- the radix tree -----------------------------------------------------------------------------

def mapping_handle(m, mapping) -> int:
    """The value ``page->mapping`` holds for pages of ``mapping`` (registering it)."""
    h = mapping.handle
    if not h:
        m.address_space_seq += 1
        h = mapping.handle = m.address_space_seq
        m.address_spaces[h] = mapping
    return h << 2


def find_get_page(m, mapping, offset: int) -> int:
    """The cached page at ``offset`` with a reference taken, or NULL (pagecache_get_page
    with no flags)."""
    pfn = mapping.i_pages.get(offset, NULL)
    if pfn != NULL:
        get_page(m, pfn)
    return pfn


def __page_cache_alloc(m, gfp: int) -> int:
    """A page for the cache (mm/filemap.c; one node, so no cpuset spreading)."""
    return __alloc_pages_nodemask(m.pgdat, gfp, 0, m.current_cpu)


def mapping_gfp_mask(mapping) -> int:
    """A regular file's mapping allocates GFP_HIGHUSER_MOVABLE (inode_init_always)."""
    return G.GFP_HIGHUSER_MOVABLE


def __add_to_page_cache_locked(m, pfn: int, mapping, offset: int, shadowp=None) -> int:
    """Insert a locked page at ``offset``: the cache's reference, page->mapping/index,
    NR_FILE_PAGES (mm/filemap.c); 0 or -EEXIST. A shadow entry in the slot is replaced
    and handed back in ``shadowp[0]`` (page_cache_tree_insert)."""
    mem_map = m.mem_map
    if not mem_map.f[pfn] & (1 << PG_locked):
        raise KernelBug(f"__add_to_page_cache_locked: pfn {pfn:#x} is not locked")
    if mem_map.f[pfn] & (1 << PG_swapbacked):
        raise KernelBug(f"__add_to_page_cache_locked: pfn {pfn:#x} is swap-backed")
    if offset in mapping.i_pages:
        mem_map.idx[pfn] = offset           # page->index stays set, as 4.6 leaves it
        return -errno.EEXIST
    get_page(m, pfn)
    mem_map.mapv[pfn] = mapping_handle(m, mapping)
    mem_map.idx[pfn] = offset
    shadow = mapping.shadows.pop(offset, None)      # nrexceptional--
    if shadowp is not None:
        shadowp[0] = shadow
    mapping.i_pages[offset] = pfn           # page_cache_tree_insert
    mapping.nrpages += 1
    m.page_zone(pfn).vm_stat[NR_FILE_PAGES] += 1
    tp = m.tp.mm_filemap_add_to_page_cache
    if tp is not None:
        _trace_page_cache(tp, pfn, mapping, offset)
    return 0


def _trace_page_cache(tp, pfn: int, mapping, index: int) -> None:
    """Fire a filemap event: the host inode's number and s_dev (i_rdev without a sb)."""
    host = mapping.host
    dev = host.sb.dev if host.sb is not None else (host.i_rdev or host.dev)
    tp(pfn, host.i_ino, index, dev)


def add_to_page_cache_lru(m, pfn: int, mapping, offset: int, gfp: int = 0) -> int:
    """Lock the page, insert it and queue it for the file LRU (mm/filemap.c): inactive,
    or active when its shadow says it was evicted recently enough (workingset_refault);
    0 or -EEXIST."""
    _set(m, pfn, PG_locked)
    shadow = [None]
    ret = __add_to_page_cache_locked(m, pfn, mapping, offset, shadow)
    if ret:
        _clear(m, pfn, PG_locked)
        return ret
    if shadow[0] is not None and workingset_refault(m, shadow[0]):
        _set(m, pfn, PG_active)
        workingset_activation(m, pfn)
    else:
        _clear(m, pfn, PG_active)
    lru_cache_add(m, pfn)
    return 0


def __delete_from_page_cache(m, pfn: int, shadow=None) -> None:
    """Take a page out of its mapping: the tree slot (left holding ``shadow``, if reclaim
    gives one), page->mapping, NR_FILE_PAGES (mm/filemap.c). page->index stays set; the
    cache's reference is the caller's to drop."""
    mem_map = m.mem_map
    mapping = page_mapping(m, pfn)
    if mapping is None:
        raise KernelBug(f"__delete_from_page_cache: pfn {pfn:#x} has no mapping")
    if mem_map.mc[pfn] >= 0:
        raise KernelBug(f"__delete_from_page_cache: pfn {pfn:#x} is still mapped "
                        f"(mapcount {mem_map.mc[pfn] + 1})")
    index = int(mem_map.idx[pfn])
    tp = m.tp.mm_filemap_delete_from_page_cache
    if tp is not None:
        _trace_page_cache(tp, pfn, mapping, index)
    del mapping.i_pages[index]                          # page_cache_tree_delete
    if shadow is not None:
        mapping.shadows[index] = shadow
    mapping.nrpages -= 1
    mem_map.mapv[pfn] = 0
    z = m.page_zone(pfn)
    z.vm_stat[NR_FILE_PAGES] -= 1
    if mem_map.f[pfn] & (1 << PG_swapbacked):
        z.vm_stat[NR_SHMEM] -= 1
    if mem_map.f[pfn] & (1 << PG_dirty):
        # 4.6 warns once here: a dirty page leaving the cache loses data
        m.log.pr_warn(f"WARNING: __delete_from_page_cache: dirty pfn {pfn:#x}")
        account_page_cleaned(m, pfn, mapping)


def delete_from_page_cache(m, pfn: int) -> None:
    """__delete_from_page_cache, then drop the cache's reference (mm/filemap.c)."""
    if not _test(m, pfn, PG_locked):
        raise KernelBug(f"delete_from_page_cache: pfn {pfn:#x} is not locked")
    __delete_from_page_cache(m, pfn)
    put_page(m, pfn)


def page_cache_read(m, file, offset: int, gfp: int) -> int:
    """Read one page into the cache, no readahead (mm/filemap.c); 0 or -errno."""
    mapping = file.f_mapping
    pfn = __page_cache_alloc(m, gfp | G.__GFP_COLD)
    if pfn == NULL:
        return -errno.ENOMEM
    ret = add_to_page_cache_lru(m, pfn, mapping, offset, gfp & G.GFP_KERNEL)
    if ret == 0:
        ret = mapping.a_ops.readpage(m, file, pfn)
    elif ret == -errno.EEXIST:
        ret = 0
    put_page(m, pfn)
    return ret


# -- faults on file mappings ----------------------------------------------------------------------

def do_sync_mmap_readahead(m, vma, ra, file, offset: int) -> None:
    """Readahead for a fault that found no page: read-around (mm/filemap.c)."""
    if vma.vm_flags & VM_RAND_READ:
        return
    if not ra.ra_pages:
        return
    if vma.vm_flags & VM_SEQ_READ:
        ra_mod.page_cache_sync_readahead(m, file.f_mapping, ra, file, offset, ra.ra_pages)
        return
    if ra.mmap_miss < MMAP_LOTSAMISS * 10:
        ra.mmap_miss += 1
    if ra.mmap_miss > MMAP_LOTSAMISS:
        return
    ra.start = max(0, offset - ra.ra_pages // 2)
    ra.size = ra.ra_pages
    ra.async_size = ra.ra_pages // 4
    ra_mod.ra_submit(m, ra, file.f_mapping, file)


def do_async_mmap_readahead(m, vma, ra, file, pfn: int, offset: int) -> None:
    """A fault found its page: push readahead on if it carries PG_readahead."""
    if vma.vm_flags & VM_RAND_READ:
        return
    if ra.mmap_miss > 0:
        ra.mmap_miss -= 1
    if _test(m, pfn, PG_readahead):
        ra_mod.page_cache_async_readahead(m, file.f_mapping, ra, file, pfn, offset,
                                          ra.ra_pages)


def _size_pages(inode) -> int:
    return (inode.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT


def filemap_fault(vma, vmf) -> int:
    """vm_operations_struct.fault of a file mapping: find or read the page at
    ``vmf.pgoff``, locked and with a reference (mm/filemap.c filemap_fault). A miss is a
    major fault (PGMAJFAULT); an offset past EOF is SIGBUS."""
    m = vmf.m
    file = vma.vm_file
    mapping = file.f_mapping
    ra = file.f_ra
    inode = mapping.host
    offset = vmf.pgoff
    if offset >= _size_pages(inode):
        return VM_FAULT_SIGBUS
    ret = 0
    pfn = find_get_page(m, mapping, offset)
    if pfn != NULL:
        do_async_mmap_readahead(m, vma, ra, file, pfn, offset)
    else:
        do_sync_mmap_readahead(m, vma, ra, file, offset)
        m.pgdat.vm_events[PGMAJFAULT] += 1
        ret = VM_FAULT_MAJOR
    for _ in range(4):
        if pfn == NULL:
            pfn = find_get_page(m, mapping, offset)
        if pfn == NULL:
            err = page_cache_read(m, file, offset, vmf.gfp_mask)
            if err == -errno.ENOMEM:
                return VM_FAULT_OOM
            if err < 0:
                return VM_FAULT_SIGBUS
            continue
        if ret & VM_FAULT_MAJOR and _test(m, pfn, PG_mappedtodisk) and \
                vmf.flags & memory_fault.FAULT_FLAG_ALLOW_RETRY:
            # lock_page_or_retry: this fault submitted the page's read, so the page is
            # locked under I/O; 4.6 drops mmap_sem, waits for the read and has the
            # fault retried (the model's disk has completed it by then; with
            # FAULT_FLAG_RETRY_NOWAIT it would not wait, with the same result here)
            put_page(m, pfn)
            return ret | VM_FAULT_RETRY
        lock_page(m, pfn)
        if not _test(m, pfn, PG_uptodate):
            # a read error left it not up to date: 4.6 retries the read once
            _clear(m, pfn, PG_error)
            err = mapping.a_ops.readpage(m, file, pfn)
            put_page(m, pfn)
            pfn = NULL
            if err:
                return VM_FAULT_SIGBUS
            continue
        if offset >= _size_pages(inode):            # i_size again, under the page lock
            unlock_page(m, pfn)
            put_page(m, pfn)
            return VM_FAULT_SIGBUS
        vmf.page = pfn
        return ret | VM_FAULT_LOCKED
    raise KernelBug(f"filemap_fault: page {offset} of ino {inode.i_ino} never came up to date")


def filemap_map_pages(vma, vmf) -> None:
    """vm_operations_struct.map_pages: map the pages of [vmf.pgoff, vmf.max_pgoff] that
    are already cached, up to date, not readahead markers, not locked, inside i_size and
    whose PTE is none (mm/filemap.c filemap_map_pages).

    Accelerator: ``filemap_map_pages`` in linuxvm/accel/filemap.py (the per-page calls
    inlined, the RSS counted once).
    """
    m = vmf.m
    fast = m.accel.filemap_map_pages
    if fast is not None:
        return fast(vma, vmf)
    file = vma.vm_file
    mapping = file.f_mapping
    table_pfn, first = vmf.pte
    table = m.pgtables[table_pfn]
    address = vmf.virtual_address
    f = m.mem_map.f
    i_pages = mapping.i_pages
    size = _size_pages(mapping.host)
    skip_bits = (1 << PG_readahead) | (1 << PG_locked)
    for index in range(vmf.pgoff, vmf.max_pgoff + 1):
        pfn = i_pages.get(index, NULL)            # radix_tree_for_each_slot
        if pfn == NULL:
            continue
        fl = f[pfn]
        if not fl & (1 << PG_uptodate) or fl & skip_bits:
            continue
        if index >= size:
            continue
        i = first + index - vmf.pgoff
        if table[i]:
            continue
        get_page(m, pfn)                          # page_cache_get_speculative
        if file.f_ra.mmap_miss > 0:
            file.f_ra.mmap_miss -= 1
        memory_fault.do_set_pte(m, vma, address + ((index - vmf.pgoff) << PAGE_SHIFT), pfn,
                   (table_pfn, i), False, False)



def filemap_page_mkwrite(vma, vmf) -> int:
    """vm_operations_struct.page_mkwrite: a cached page is about to be written through a
    shared mapping; dirty it now, under its lock, unless truncate took it away meanwhile
    (mm/filemap.c filemap_page_mkwrite). The timestamp update and the freeze protection
    around it are not modelled."""
    m = vmf.m
    pfn = vmf.page
    lock_page(m, pfn)
    if page_mapping(m, pfn) is not vma.vm_file.f_mapping:
        unlock_page(m, pfn)
        return VM_FAULT_NOPAGE
    set_page_dirty(m, pfn)
    return VM_FAULT_LOCKED

# -- read(2) and write(2) -------------------------------------------------------------------------

def do_generic_file_read(m, file, pos: int, count: int, copy) -> int:
    """Copy up to ``count`` bytes from ``pos`` to the caller through the cache, reading
    missing pages with readahead (mm/filemap.c do_generic_file_read). ``copy(pfn,
    offset, nr)`` copies to user memory and returns the bytes it managed. The bytes
    read, or -errno when nothing was."""
    mapping = file.f_mapping
    inode = mapping.host
    ra = file.f_ra
    index = pos >> PAGE_SHIFT
    prev_index = ra.prev_pos >> PAGE_SHIFT if ra.prev_pos >= 0 else -1
    prev_offset = ra.prev_pos & (PAGE_SIZE - 1) if ra.prev_pos >= 0 else 0
    last_index = (pos + count + PAGE_SIZE - 1) >> PAGE_SHIFT
    offset = pos & (PAGE_SIZE - 1)
    written = 0
    error = 0
    left = count
    while True:
        pfn = find_get_page(m, mapping, index)
        if pfn == NULL:
            ra_mod.page_cache_sync_readahead(m, mapping, ra, file, index, last_index - index)
            pfn = find_get_page(m, mapping, index)
            if pfn == NULL:
                # no_cached_page: allocate and read one page ourselves
                new = __page_cache_alloc(m, mapping_gfp_mask(mapping) | G.__GFP_COLD)
                if new == NULL:
                    error = -errno.ENOMEM
                    break
                if add_to_page_cache_lru(m, new, mapping, index, G.GFP_KERNEL):
                    put_page(m, new)
                    continue
                pfn = new
                error = mapping.a_ops.readpage(m, file, pfn)
                if error:
                    put_page(m, pfn)
                    break
        if _test(m, pfn, PG_readahead):
            ra_mod.page_cache_async_readahead(m, mapping, ra, file, pfn, index,
                                              last_index - index)
        if not _test(m, pfn, PG_uptodate):
            lock_page(m, pfn)
            _clear(m, pfn, PG_error)
            error = mapping.a_ops.readpage(m, file, pfn)
            if error or not _test(m, pfn, PG_uptodate):
                put_page(m, pfn)
                error = error or -errno.EIO
                break
        # page_ok: i_size is checked only once the page is up to date
        isize = inode.i_size
        end_index = (isize - 1) >> PAGE_SHIFT
        if not isize or index > end_index:
            put_page(m, pfn)
            break
        nr = PAGE_SIZE
        if index == end_index:
            nr = ((isize - 1) & (PAGE_SIZE - 1)) + 1
            if nr <= offset:
                put_page(m, pfn)
                break
        nr = min(nr - offset, left)
        if prev_index != index or offset != prev_offset:
            mark_page_accessed(m, pfn)
        prev_index = index
        ret = copy(pfn, offset, nr)
        offset += ret
        index += offset >> PAGE_SHIFT
        offset &= PAGE_SIZE - 1
        prev_offset = offset
        put_page(m, pfn)
        written += ret
        left -= ret
        if not left:
            break
        if ret < nr:
            error = -errno.EFAULT
            break
    ra.prev_pos = (prev_index << PAGE_SHIFT) | prev_offset
    return written if written else error


def generic_file_read_iter(m, file, pos: int, count: int, copy) -> int:
    """read_iter of a page-cache file (mm/filemap.c); no O_DIRECT in the model."""
    if not count:
        return 0
    return do_generic_file_read(m, file, pos, count, copy)


def grab_cache_page_write_begin(m, mapping, index: int) -> int:
    """The locked page at ``index`` for a write, created when missing and marked accessed
    (pagecache_get_page with FGP_LOCK|FGP_ACCESSED|FGP_WRITE|FGP_CREAT)."""
    while True:
        pfn = find_get_page(m, mapping, index)
        if pfn != NULL:
            lock_page(m, pfn)
            mark_page_accessed(m, pfn)
            return pfn
        gfp = mapping_gfp_mask(mapping)
        if mapping.account_dirty:
            gfp |= G.__GFP_WRITE
        pfn = __page_cache_alloc(m, gfp)
        if pfn == NULL:
            return NULL
        _set(m, pfn, PG_referenced)
        if add_to_page_cache_lru(m, pfn, mapping, index, gfp) == 0:
            return pfn
        put_page(m, pfn)


def simple_write_begin(m, file, mapping, pos: int, length: int) -> int:
    """write_begin of a page-cache filesystem: the locked page, read first when the
    write covers only part of a page that is not up to date (fs/libfs.c,
    block_write_begin's partial-block read). The page, or -errno."""
    index = pos >> PAGE_SHIFT
    pfn = grab_cache_page_write_begin(m, mapping, index)
    if pfn == NULL:
        return -errno.ENOMEM
    if not _test(m, pfn, PG_uptodate) and length != PAGE_SIZE:
        if (index << PAGE_SHIFT) < mapping.host.i_size:
            # the block holds data: read it in (the read unlocks the page)
            err = mapping.a_ops.readpage(m, file, pfn)
            if err:
                put_page(m, pfn)
                return err
            lock_page(m, pfn)
        else:
            m.page_contents.pop(pfn, None)        # zero_user_segments: a fresh block
    return pfn


def simple_write_end(m, file, mapping, pos: int, copied: int, pfn: int) -> int:
    """write_end: up to date, dirty, i_size grown, unlocked and released (fs/libfs.c
    simple_write_end, generic_write_end)."""
    SetPageUptodate(m, pfn)
    inode = mapping.host
    last = pos + copied
    if last > inode.i_size:
        inode.i_size = last
    set_page_dirty(m, pfn)
    unlock_page(m, pfn)
    put_page(m, pfn)
    return copied


def generic_perform_write(m, file, pos: int, count: int, fetch) -> int:
    """Copy ``count`` bytes from the caller into the cache at ``pos``, page by page
    (mm/filemap.c generic_perform_write). ``fetch(nbytes)`` brings in the caller's next
    bytes (iov_iter_fault_in_readable + the copy), fewer or none at a fault. Bytes
    written, or -errno."""
    mapping = file.f_mapping
    a_ops = mapping.a_ops
    written = 0
    status = 0
    while count:
        offset = pos & (PAGE_SIZE - 1)
        nbytes = min(PAGE_SIZE - offset, count)
        data = fetch(nbytes)
        if not data:
            status = -errno.EFAULT
            break
        copied = len(data)
        pfn = a_ops.write_begin(m, file, mapping, pos, copied)
        if pfn < 0:
            status = -errno.ENOMEM if pfn == NULL else pfn
            break
        pc = m.page_contents
        buf = pc.get(pfn)
        if buf is None and any(data):
            buf = pc[pfn] = bytearray(PAGE_SIZE)
        if buf is not None:
            buf[offset:offset + copied] = data
        m.content_seq = (m.content_seq % 0xFFFFFFFF) + 1          # a new content tag
        m.mem_map.contv[pfn] = m.content_seq
        a_ops.write_end(m, file, mapping, pos, copied, pfn)
        pos += copied
        written += copied
        count -= copied
        balance_dirty_pages_ratelimited(m, mapping)
        if copied < nbytes:
            status = -errno.EFAULT
            break
    return written if written else status


def generic_file_write_iter(m, file, pos: int, count: int, copy) -> int:
    """write_iter of a page-cache file; the caller has resolved O_APPEND (mm/filemap.c)."""
    if not count:
        return 0
    return generic_perform_write(m, file, pos, count, copy)


# -- writeback of a range (the synchronous part of mm/filemap.c and page-writeback.c) ------------

def __filemap_fdatawrite_range(m, mapping, start: int, end: int,
                               sync_mode: int = WB_SYNC_ALL) -> int:
    """Write the dirty pages of bytes [start, end] (end -1: to the end) out through
    do_writepages (mm/filemap.c); the block device completes each write at once, so no
    page is left under writeback. 0 or the first -errno."""
    if not mapping.account_dirty:
        return 0                # mapping_cap_writeback_dirty: ramfs and shmem never write
    if end < 0:
        end = LLONG_MAX
    wbc = WritebackControl(sync_mode=sync_mode, nr_to_write=LONG_MAX, range_start=start,
                           range_end=end)
    return do_writepages(m, mapping, wbc)


def filemap_fdatawrite(m, mapping) -> int:
    return __filemap_fdatawrite_range(m, mapping, 0, LLONG_MAX)


def filemap_fdatawait_range(m, mapping, start_byte: int, end_byte: int) -> int:
    """Wait for the writeback of bytes [start_byte, end_byte] (mm/filemap.c): the model's
    writes have completed when they were submitted, so no page is under writeback here;
    0 (the model's disk reports no errors)."""
    f = m.mem_map.f
    first = start_byte >> PAGE_SHIFT
    last = end_byte >> PAGE_SHIFT if end_byte >= 0 else _U64
    for index, pfn in mapping.i_pages.items():
        if first <= index <= last and f[pfn] & (1 << PG_writeback):
            raise KernelBug(f"pfn {pfn:#x} still under writeback after its write completed")
    return 0


def filemap_write_and_wait_range(m, mapping, lstart: int, lend: int) -> int:
    """fsync's writeback of a range: write, then wait (mm/filemap.c)."""
    err = 0
    if mapping.nrpages:
        err = __filemap_fdatawrite_range(m, mapping, lstart, lend, WB_SYNC_ALL)
        if err != -errno.EIO:
            err2 = filemap_fdatawait_range(m, mapping, lstart, lend)
            if not err:
                err = err2
    return err


# -- the invariant check --------------------------------------------------------------------------

def check_page_cache(m) -> None:
    """m.check(): every cached page's mapping, index, flags and refcount agree with its
    address_space's tree and its mappers; NR_FILE_PAGES and NR_FILE_DIRTY add up."""
    spaces = m.address_spaces
    if spaces is None:
        return
    mem_map = m.mem_map
    in_pvec = {}
    lru = m.lru
    if lru is not None:
        for pvec in list(lru.lru_add_pvec) + list(lru.lru_deactivate_pvecs):
            for p in pvec:
                in_pvec[p] = in_pvec.get(p, 0) + 1
    total = dirty = 0
    seen = set()
    for handle, mapping in spaces.items():
        if mapping.handle != handle:
            raise KernelBug(f"{mapping!r} registered as {handle} but says {mapping.handle}")
        if len(mapping.i_pages) != mapping.nrpages:
            raise KernelBug(f"{mapping!r}: nrpages {mapping.nrpages} but the tree holds "
                            f"{len(mapping.i_pages)}")
        total += mapping.nrpages
        want = handle << 2
        for index, pfn in mapping.i_pages.items():
            if pfn in seen:
                raise KernelBug(f"pfn {pfn:#x} is in the page cache twice")
            seen.add(pfn)
            if int(mem_map.mapv[pfn]) != want or int(mem_map.idx[pfn]) != index:
                raise KernelBug(f"pfn {pfn:#x} at index {index} of {mapping!r} has mapping "
                                f"{int(mem_map.mapv[pfn]):#x} index {int(mem_map.idx[pfn])}")
            fl = mem_map.f[pfn]
            if fl & (1 << PG_locked):
                raise KernelBug(f"cached pfn {pfn:#x} left locked")
            if fl & (1 << PG_writeback):
                raise KernelBug(f"cached pfn {pfn:#x} left under writeback")
            if fl & (1 << PG_dirty) and mapping.account_dirty:
                dirty += 1
            holders = 1 + (mem_map.mc[pfn] + 1) + in_pvec.get(pfn, 0)
            if mem_map.rc[pfn] != holders:
                raise KernelBug(f"cached pfn {pfn:#x}: _refcount {mem_map.rc[pfn]} but "
                                f"{holders} holders (the cache, PTEs and pagevecs)")
            if not fl & (1 << PG_lru) and pfn not in in_pvec:
                raise KernelBug(f"cached pfn {pfn:#x} is on no LRU list and no pagevec")
    for mapping in spaces.values():
        if mapping.shadows and not mapping.shadows.keys().isdisjoint(mapping.i_pages):
            raise KernelBug(f"{mapping!r}: a slot holds both a page and a shadow entry")
    total += m.total_swapcache_pages            # the swap cache counts in NR_FILE_PAGES
    if total != m.global_page_state(NR_FILE_PAGES):
        raise KernelBug(f"NR_FILE_PAGES is {m.global_page_state(NR_FILE_PAGES)} but the "
                        f"address spaces and the swap cache hold {total} pages")
    shmem = sum(1 for mapping in spaces.values() for pfn in mapping.i_pages.values()
                if mem_map.f[pfn] & (1 << PG_swapbacked))
    for mapping in spaces.values():
        info = mapping.host.shmem_info
        for pfn in mapping.i_pages.values():
            if bool(mem_map.f[pfn] & (1 << PG_swapbacked)) != (info is not None):
                raise KernelBug(f"cached pfn {pfn:#x} of {mapping!r}: PG_swapbacked does "
                                f"not say whether its file is shmem")
        if info is not None and info.alloced - info.swapped < mapping.nrpages:
            raise KernelBug(f"{mapping!r}: {mapping.nrpages} pages but shmem alloced "
                            f"{info.alloced}")
    if shmem != m.global_page_state(NR_SHMEM):
        raise KernelBug(f"NR_SHMEM is {m.global_page_state(NR_SHMEM)} but the shmem "
                        f"files hold {shmem} pages")
    if dirty != m.global_page_state(NR_FILE_DIRTY):
        raise KernelBug(f"NR_FILE_DIRTY is {m.global_page_state(NR_FILE_DIRTY)} but "
                        f"{dirty} cached pages are dirty")
    # i_mmap holds exactly the live file VMAs (vma_link, dup_mmap, unlink_file_vma)
    live = {}
    for task in (m.tasks or {}).values():
        mm = task.mm
        if mm is None or id(mm) in live:
            continue
        live[id(mm)] = mm
    live_vmas = set()
    for mm in live.values():
        v = mm.mmap
        while v is not None:
            if v.vm_file is not None:
                live_vmas.add(v)
                if v not in v.vm_file.inode.i_mmap:
                    raise KernelBug(f"{v!r} maps {v.vm_file!r} but is not in its i_mmap")
            v = v.vm_next
    for mapping in spaces.values():
        for v in mapping.host.i_mmap:
            if v not in live_vmas:
                raise KernelBug(f"{mapping!r}: i_mmap holds {v!r}, which no live mm has")
    # i_writecount: the files open for writing, less the VM_DENYWRITE mappings (exec's)
    writers, inodes = {}, {}
    for task in (m.tasks or {}).values():
        for f in task.files.values():
            writers[id(f)] = f
            inodes[id(f.inode)] = f.inode
    for v in live_vmas:
        writers[id(v.vm_file)] = v.vm_file
        inodes[id(v.vm_file.inode)] = v.vm_file.inode
    want = dict.fromkeys(inodes, 0)
    for f in writers.values():
        if f.f_mode_writer:
            want[id(f.inode)] += 1
    for v in live_vmas:
        if v.vm_flags & VM_DENYWRITE:
            want[id(v.vm_file.inode)] -= 1
    for key, inode in inodes.items():
        if inode.i_writecount != want[key]:
            raise KernelBug(f"inode {inode.i_ino} ({inode.path}): i_writecount is "
                            f"{inode.i_writecount}, but its writers and VM_DENYWRITE "
                            f"mappings make {want[key]}")
    # every PTE of a cached page is found through i_mmap (rmap_walk_file), and a file
    # VMA maps nothing but its own file's page at each cached offset (or a COW copy)
    for mapping in spaces.values():
        if not mapping.nrpages or not mapping.host.i_mmap:
            continue
        found = {}
        for vma in mapping.i_mmap:
            lo = vma.vm_pgoff
            hi = lo + ((vma.vm_end - vma.vm_start) >> PAGE_SHIFT)
            for index, pfn in mapping.i_pages.items():
                if not lo <= index < hi:
                    continue
                addr = vma.vm_start + ((index - lo) << PAGE_SHIFT)
                ptr = pte_lookup(m, vma.vm_mm, addr)
                if ptr is None:
                    continue
                pte = int(m.pgtables[ptr[0]][ptr[1]])
                if not pte_present(pte):
                    continue
                mapped = pte_pfn(pte)
                if mapped == pfn:
                    found[pfn] = found.get(pfn, 0) + 1
                elif pte_special(pte) or not mem_map.mapv[mapped] & PAGE_MAPPING_ANON:
                    raise KernelBug(f"{vma!r} maps pfn {mapped:#x} at {addr:#x}, not its "
                                    f"file's cached page {pfn:#x}")
        for pfn in mapping.i_pages.values():
            if found.get(pfn, 0) != mem_map.mc[pfn] + 1:
                raise KernelBug(f"cached pfn {pfn:#x}: mapcount+1 is {mem_map.mc[pfn] + 1} "
                                f"but i_mmap finds {found.get(pfn, 0)} PTEs")
    # no frame claims a file mapping it is not in
    mapped = np.flatnonzero((mem_map.mapping != 0) & ((mem_map.mapping & PAGE_MAPPING_ANON)
                                                      == 0))
    if mapped.size != len(seen):
        stray = sorted(set(int(x) for x in mapped) - seen)
        raise KernelBug(f"pfn {stray[0]:#x} has page->mapping "
                        f"{int(mem_map.mapping[stray[0]]):#x} but is in no page cache")
