"""shmem and tmpfs (mm/shmem.c): the page cache of memory-only files, its faults, read and
write, truncation and hole punching, and the unlinked files behind shared anonymous
mappings (shmem_zero_setup).

A shmem page is PG_swapbacked, lives on the anon LRU (lru_cache_add_anon), counts in
NR_FILE_PAGES and NR_SHMEM while it is in its file's cache and in MM_SHMEMPAGES where it
is mapped. A read fault allocates a real zeroed page (never the zero page: SGP_CACHE);
read(2) of a hole copies zeros without allocating (SGP_READ). Pages a fault allocates
stay clean until written; write(2) dirties them (shmem_write_end), as does the first
write through a mapping (shmem mappings need no write-notify: tmpfs does not account
dirty pages). Swap is not modelled yet (issue 13): where 4.6 would write a shmem page to
swap or read it back, nothing happens here, since no page ever leaves for swap.

Accounting follows 4.6: a file made without VM_NORESERVE (a shared anonymous mapping) is
charged its whole size when made (shmem_acct_size) and given it back on eviction; a
VM_NORESERVE file (every tmpfs file, MAP_NORESERVE shared anonymous memory) is charged
page by page as pages are allocated (shmem_acct_block) and given back when
shmem_recalc_inode notices them gone. A tmpfs mount holds at most half of RAM
(shmem_default_max_blocks): past it a new page is ENOSPC; the internal mount behind
shared anonymous memory has no limit.
"""

import errno

from .migrate import migrate_page
from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from ..errors import KernelBug
from ..include.mm import VM_NORESERVE
from ..include.vm_event_item import NR_FILE_PAGES, NR_SHMEM, PGMAJFAULT
from . import gfp as G
from .filemap import (mapping_handle, filemap_map_pages, lock_page, unlock_page,
                      generic_file_write_iter,
                      SetPageUptodate, delete_from_page_cache)
from .fs_types import (AddressSpaceOperations, File, FileOperations, Inode, SuperOperations,
                       alloc_inode, destroy_inode, d_alloc_pseudo, AOP_WRITEPAGE_ACTIVATE)
from .mman import O_RDWR
from .page import NULL, PG_locked, PG_swapbacked, PG_uptodate, PG_referenced, PG_active, \
    PG_dirty, PG_swapcache
from .page_alloc import __alloc_pages_nodemask
from .page_writeback import set_page_dirty, __set_page_dirty_no_writeback, page_mapping
from .swap import get_page, put_page, mark_page_accessed, lru_cache_add
from .truncate import unmap_mapping_range, truncate_inode_page, zero_user_segment
from .util import security_vm_enough_memory_mm, vm_unacct_memory
from .vm_ops import (VmOperationsStruct, VM_FAULT_LOCKED, VM_FAULT_OOM, VM_FAULT_SIGBUS,
                     VM_FAULT_MAJOR)
from . import page_io, swap_state, swapfile   # shmem pages go to swap under pressure
from ..include.mm import VM_LOCKED

SHMEM_DEV = (0, 5)               # shm_mnt: the internal tmpfs mount of 4.6
SHMEM_ZERO_PATH = "/dev/zero (deleted)"

# enum sgp_type (mm/shmem.c)
SGP_READ, SGP_CACHE, SGP_DIRTY, SGP_WRITE, SGP_FALLOC = range(5)

# include/uapi/linux/falloc.h
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02

MAX_LFS_FILESIZE = (1 << 63) - 1
_U64 = 0xFFFFFFFFFFFFFFFF


class ShmemSbInfo:
    """struct shmem_sb_info: a tmpfs mount's block limit (0: none) and its use."""

    __slots__ = ("max_blocks", "used_blocks", "sb")

    def __init__(self, max_blocks: int, sb=None):
        self.max_blocks = max_blocks
        self.used_blocks = 0
        self.sb = sb                    # the super_block (its inode list for drop_caches)

    def __repr__(self):
        return f"<shmem_sb_info {self.used_blocks}/{self.max_blocks} blocks>"


class ShmemInodeInfo:
    """struct shmem_inode_info: the inode's VM_NORESERVE (and SHM_LOCK's VM_LOCKED) flag,
    the pages it has allocated (``alloced``) and swapped out. ``swap`` holds the swap
    entries 4.6 keeps in the page cache's radix tree slots (index → entry) while a page
    is out; ``on_swaplist`` is the info's place on shmem_swaplist."""

    __slots__ = ("flags", "alloced", "swapped", "sbinfo", "swap", "on_swaplist", "inode")

    def __init__(self, flags: int, sbinfo: ShmemSbInfo, inode=None):
        self.inode = inode              # SHMEM_I's container: the vfs_inode
        self.flags = flags
        self.alloced = 0
        self.swapped = 0
        self.sbinfo = sbinfo
        self.swap = {}
        self.on_swaplist = False

    def __repr__(self):
        return f"<shmem_inode_info alloced={self.alloced} flags={self.flags:#x}>"


def shmem_default_max_blocks(m) -> int:
    """A tmpfs mount's default size: half of RAM (mm/shmem.c)."""
    return m.totalram_pages() // 2


def _set(m, pfn: int, bit: int) -> None:
    f = m.mem_map.f
    f[pfn] = f[pfn] | (1 << bit)


def _test(m, pfn: int, bit: int) -> bool:
    return bool(m.mem_map.f[pfn] & (1 << bit))


# -- accounting ---------------------------------------------------------------------------

def _charge(m, pages: int) -> int:
    """security_vm_enough_memory_mm on the current mm; 0 or -ENOMEM. The pages belong to
    no VMA, so the checker's committed total is told."""
    task = m.current
    mm = task.mm if task is not None else None
    if security_vm_enough_memory_mm(m, mm, pages):
        return -errno.ENOMEM
    m.committed_outside_vmas = m.committed_outside_vmas + pages
    return 0


def _uncharge(m, pages: int) -> None:
    vm_unacct_memory(m, pages)
    m.committed_outside_vmas -= pages


def shmem_acct_block(m, info) -> int:
    """A VM_NORESERVE file is charged per page as it grows (mm/shmem.c); 0 or -ENOSPC."""
    if not info.flags & VM_NORESERVE:
        return 0
    return -errno.ENOSPC if _charge(m, 1) else 0


def shmem_unacct_blocks(m, info, pages: int) -> None:
    if info.flags & VM_NORESERVE:
        _uncharge(m, pages)


def shmem_recalc_inode(m, inode) -> None:
    """Give back the blocks of pages that left the cache without the inode noticing
    (truncation, drop_caches): alloced - swapped - nrpages (mm/shmem.c)."""
    info = inode.shmem_info
    freed = info.alloced - info.swapped - inode.i_mapping.nrpages
    if freed > 0:
        if info.sbinfo.max_blocks:
            info.sbinfo.used_blocks -= freed
        info.alloced -= freed
        shmem_unacct_blocks(m, info, freed)


# -- the page cache of a shmem file --------------------------------------------------------

def shmem_add_to_page_cache(m, pfn: int, mapping, index: int) -> int:
    """Insert a locked swap-backed page: the cache's reference, page->mapping/index,
    nrpages, NR_FILE_PAGES and NR_SHMEM (mm/shmem.c); 0 or -EEXIST."""
    mem_map = m.mem_map
    if not mem_map.f[pfn] & (1 << PG_locked):
        raise KernelBug(f"VM_BUG_ON_PAGE(!PageLocked(page)): shmem_add_to_page_cache pfn "
                        f"{pfn:#x}")
    if not mem_map.f[pfn] & (1 << PG_swapbacked):
        raise KernelBug(f"VM_BUG_ON_PAGE(!PageSwapBacked(page)): shmem_add_to_page_cache "
                        f"pfn {pfn:#x}")
    if index in mapping.i_pages:
        return -errno.EEXIST
    get_page(m, pfn)
    mem_map.mapv[pfn] = mapping_handle(m, mapping)
    mem_map.idx[pfn] = index
    mapping.i_pages[index] = pfn
    mapping.nrpages += 1
    vs = m.page_zone(pfn).vm_stat
    vs[NR_FILE_PAGES] += 1
    vs[NR_SHMEM] += 1
    return 0


def lru_cache_add_anon(m, pfn: int) -> None:
    """Queue a page for the inactive anon LRU (mm/swap.c)."""
    f = m.mem_map.f
    f[pfn] = f[pfn] & ~(1 << PG_active) & _U64
    lru_cache_add(m, pfn)


def clear_highpage(m, pfn: int) -> None:
    m.page_contents.pop(pfn, None)
    m.mem_map.contv[pfn] = 0


def find_lock_entry(m, mapping, index: int) -> int:
    """The cached page at ``index``, locked and with a reference, or NULL."""
    pfn = mapping.i_pages.get(index, NULL)
    if pfn != NULL:
        get_page(m, pfn)
        lock_page(m, pfn)
    return pfn


def shmem_getpage_gfp(m, inode, index: int, sgp: int, gfp: int, fault_type=None):
    """Find, read back from swap, or allocate the page of a shmem file at ``index``
    (mm/shmem.c shmem_getpage_gfp): (0, page locked with a reference), (0, NULL) for a
    hole SGP_READ does not fill, or (-errno, NULL): EINVAL past i_size (but for
    SGP_WRITE and SGP_FALLOC), ENOSPC, ENOMEM, EFBIG. A fault that had to read the page
    from the disk adds VM_FAULT_MAJOR to ``fault_type[0]``."""
    mapping = inode.i_mapping
    info = inode.shmem_info
    if index > (MAX_LFS_FILESIZE >> PAGE_SHIFT):
        return -errno.EFBIG, NULL
    once = False
    while True:
        page = find_lock_entry(m, mapping, index)
        swap = info.swap.get(index, 0) if page == NULL else 0
        if swap:
            error, page = shmem_swapin_page(m, inode, index, swap, sgp, gfp, fault_type)
            if error == -errno.EEXIST:
                continue                    # the entry changed under us: look again
            return error, page
        if sgp not in (SGP_WRITE, SGP_FALLOC) and (index << PAGE_SHIFT) >= inode.i_size:
            error = -errno.EINVAL
        else:
            error = 0
            if page != NULL and sgp == SGP_WRITE:
                mark_page_accessed(m, page)
            if page != NULL and not _test(m, page, PG_uptodate):
                # a page fallocated earlier and never written
                if sgp != SGP_READ:
                    _clear_fallocated(m, page, sgp)
                    return 0, page
                unlock_page(m, page)
                put_page(m, page)
                page = NULL
            if page != NULL or sgp == SGP_READ:
                return 0, page
            error, page = _shmem_alloc_to_cache(m, inode, mapping, info, index, sgp, gfp)
            if not error:
                return 0, page
        if page != NULL:
            unlock_page(m, page)
            put_page(m, page)
        if error == -errno.ENOSPC and not once:
            once = True
            shmem_recalc_inode(m, inode)
            continue
        return error, NULL


def shmem_swapin_page(m, inode, index: int, swap: int, sgp: int, gfp: int, fault_type):
    """The swap half of shmem_getpage_gfp: the page of ``swap`` from the swap cache or the
    disk (shmem_swapin → swapin_readahead), put back in the file's cache in the entry's
    place, out of the swap cache, dirty; the slot is freed. (0, page locked with a
    reference), (-ENOMEM, NULL), or (-EEXIST, NULL) if the entry went meanwhile."""
    info = inode.shmem_info
    page = swap_state.lookup_swap_cache(m, swap)
    if page == NULL:
        if fault_type is not None:
            fault_type[0] |= VM_FAULT_MAJOR
            m.pgdat.vm_events[PGMAJFAULT] += 1
        # shmem_swapin: a pseudo-VMA for the mempolicy; the model has one node
        page = swap_state.swapin_readahead(m, swap, gfp, None, 0)
        if page == NULL:
            return -errno.ENOMEM, NULL
    lock_page(m, page)
    mem_map = m.mem_map
    if not mem_map.f[page] & (1 << PG_swapcache) or int(mem_map.priv[page]) != swap \
            or info.swap.get(index) != swap:
        unlock_page(m, page)
        put_page(m, page)
        return -errno.EEXIST, NULL
    if not mem_map.f[page] & (1 << PG_uptodate):
        unlock_page(m, page)
        put_page(m, page)
        return -errno.EIO, NULL
    # shmem_add_to_page_cache with the expected swap entry: the page takes its slot
    del info.swap[index]
    shmem_add_to_page_cache(m, page, inode.i_mapping, index)
    info.swapped -= 1
    shmem_recalc_inode(m, inode)
    if sgp == SGP_WRITE:
        mark_page_accessed(m, page)
    swap_state.delete_from_swap_cache(m, page)
    set_page_dirty(m, page)
    swapfile.swap_free(m, swap)
    return 0, page


def _shmem_swaplist_del(m, info) -> None:
    if info.on_swaplist and not info.swapped:
        info.on_swaplist = False
        m.swap.shmem_swaplist.remove(info)


def shmem_writepage(m, pfn: int, for_reclaim: bool = True) -> int:
    """address_space_operations.writepage of shmem: under memory pressure a locked page
    goes to a swap slot (the swap cache, then swap_writepage), leaving the slot's entry
    in its place in the file; without swap, for SHM_LOCKed memory or outside reclaim it
    is redirtied and kept (AOP_WRITEPAGE_ACTIVATE, still locked) (mm/shmem.c
    shmem_writepage)."""
    mem_map = m.mem_map
    if not mem_map.f[pfn] & (1 << PG_locked):
        raise KernelBug(f"BUG_ON(!PageLocked(page)): shmem_writepage pfn {pfn:#x}")
    mapping = page_mapping(m, pfn)
    inode = mapping.host
    info = inode.shmem_info
    swap = 0
    if not info.flags & VM_LOCKED and m.total_swap_pages:
        if not for_reclaim:
            # 4.6 warns once: tmpfs pages go to swap only for reclaim
            m.log.pr_warn("shmem_writepage: not for reclaim; the page stays in memory")
        else:
            if not mem_map.f[pfn] & (1 << PG_uptodate):
                clear_highpage(m, pfn)          # a fallocated page: written as zeros
                SetPageUptodate(m, pfn)
            swap = swapfile.get_swap_page(m)
    if not swap:
        set_page_dirty(m, pfn)
        if for_reclaim:
            return AOP_WRITEPAGE_ACTIVATE
        unlock_page(m, pfn)
        return 0
    if not info.on_swaplist:
        info.on_swaplist = True
        m.swap.shmem_swaplist.append(info)
    swap_state.add_to_swap_cache(m, pfn, swap)
    shmem_recalc_inode(m, inode)
    info.swapped += 1
    swapfile.swap_shmem_alloc(m, swap)
    shmem_delete_from_page_cache(m, pfn, swap)
    if mem_map.mc[pfn] >= 0:
        raise KernelBug(f"BUG_ON(page_mapped(page)): shmem_writepage pfn {pfn:#x}")
    page_io.swap_writepage(m, pfn)
    return 0


def shmem_delete_from_page_cache(m, pfn: int, swap: int) -> None:
    """Replace a page of the file's cache by its swap entry, dropping the cache's
    reference (mm/shmem.c shmem_delete_from_page_cache)."""
    mem_map = m.mem_map
    mapping = page_mapping(m, pfn)
    index = int(mem_map.idx[pfn])
    del mapping.i_pages[index]
    mapping.host.shmem_info.swap[index] = swap
    mapping.nrpages -= 1
    mem_map.mapv[pfn] = 0
    vs = m.page_zone(pfn).vm_stat
    vs[NR_FILE_PAGES] -= 1
    vs[NR_SHMEM] -= 1
    put_page(m, pfn)


def shmem_free_swap(m, info, index: int) -> int:
    """Free the swap entry at ``index`` (a slot and any swap-cache page); 1 if there was
    one (mm/shmem.c shmem_free_swap)."""
    swap = info.swap.pop(index, 0)
    if not swap:
        return 0
    swapfile.free_swap_and_cache(m, swap)
    return 1


def shmem_unuse(m, swap: int, page: int) -> bool:
    """swapoff: put the swap-cache ``page`` of ``swap`` back into the shmem file whose
    entry it is, out of the swap cache; False if no file holds it (mm/shmem.c
    shmem_unuse → shmem_unuse_inode)."""
    for info in list(m.swap.shmem_swaplist):
        index = next((i for i, e in info.swap.items() if e == swap), None)
        if index is None:
            continue
        inode = info.inode
        del info.swap[index]
        shmem_add_to_page_cache(m, page, inode.i_mapping, index)
        info.swapped -= 1
        shmem_recalc_inode(m, inode)
        _shmem_swaplist_del(m, info)
        swap_state.delete_from_swap_cache(m, page)
        set_page_dirty(m, page)
        swapfile.swap_free(m, swap)
        return True
    return False


def shmem_init(m) -> None:
    """The part of shmem_init the swap code needs: swapoff reaches shmem's entries
    through the swap state's shmem_unuse hook."""
    m.swap.shmem_unuse = shmem_unuse


def shmem_swap_usage(m, vma) -> int:
    """Bytes of the mapped range of a shmem file that are out on swap (mm/shmem.c
    shmem_swap_usage → shmem_partial_swap_usage)."""
    inode = vma.vm_file.inode
    info = inode.shmem_info
    if info is None or not info.swapped:
        return 0
    start = vma.vm_pgoff
    end = start + ((vma.vm_end - vma.vm_start) >> PAGE_SHIFT)
    return sum(1 for i in info.swap if start <= i < end) << PAGE_SHIFT


def _clear_fallocated(m, page: int, sgp: int) -> None:
    """The ``clear:`` step for a page found not up to date."""
    if sgp != SGP_WRITE:
        clear_highpage(m, page)
        SetPageUptodate(m, page)
    if sgp == SGP_DIRTY:
        set_page_dirty(m, page)


def _shmem_alloc_to_cache(m, inode, mapping, info, index: int, sgp: int, gfp: int):
    """The allocating half of shmem_getpage_gfp: charge a block, allocate, add to the
    cache and the anon LRU, then clear the page unless the caller will write it all."""
    if shmem_acct_block(m, info):
        return -errno.ENOSPC, NULL
    sbinfo = info.sbinfo
    if sbinfo.max_blocks:
        if sbinfo.used_blocks >= sbinfo.max_blocks:
            shmem_unacct_blocks(m, info, 1)
            return -errno.ENOSPC, NULL
        sbinfo.used_blocks += 1
    page = __alloc_pages_nodemask(m.pgdat, gfp, 0, m.current_cpu)       # shmem_alloc_page
    if page == NULL:
        if sbinfo.max_blocks:
            sbinfo.used_blocks -= 1
        shmem_unacct_blocks(m, info, 1)
        return -errno.ENOMEM, NULL
    _set(m, page, PG_swapbacked)
    _set(m, page, PG_locked)
    if sgp == SGP_WRITE:
        _set(m, page, PG_referenced)
    if shmem_add_to_page_cache(m, page, mapping, index):
        raise KernelBug(f"shmem_getpage_gfp: index {index} of ino {inode.i_ino} appeared "
                        f"while the model ran one thing at a time")
    lru_cache_add_anon(m, page)
    info.alloced += 1
    shmem_recalc_inode(m, inode)
    if sgp == SGP_FALLOC:
        sgp = SGP_WRITE
    # SGP_WRITE leaves the page not up to date for write_end, which zeroes what the
    # write does not cover; the model zeroes it all now, with the same result
    clear_highpage(m, page)
    if sgp != SGP_WRITE:
        SetPageUptodate(m, page)
    if sgp == SGP_DIRTY:
        set_page_dirty(m, page)
    return 0, page


def shmem_mapping_gfp(inode) -> int:
    return G.GFP_HIGHUSER_MOVABLE        # inode_init_always's mapping gfp mask


# -- faults ---------------------------------------------------------------------------------

def shmem_fault(vma, vmf) -> int:
    """vm_operations_struct.fault of a shmem mapping: the page at ``vmf.pgoff``, found or
    allocated zeroed (SGP_CACHE), returned locked; SIGBUS past i_size, OOM when no page
    can be had (mm/shmem.c shmem_fault). A page read back from swap is a major fault."""
    m = vmf.m
    inode = vma.vm_file.inode
    fault_type = [0]
    error, page = shmem_getpage_gfp(m, inode, vmf.pgoff, SGP_CACHE, shmem_mapping_gfp(inode),
                                    fault_type)
    if error:
        return VM_FAULT_OOM if error == -errno.ENOMEM else VM_FAULT_SIGBUS
    vmf.page = page
    return VM_FAULT_LOCKED | fault_type[0]


def shmem_mmap(file, vma) -> int:
    """file_operations.mmap of a shmem file (mm/shmem.c)."""
    vma.vm_ops = shmem_vm_ops
    return 0


# -- read(2), write(2) ------------------------------------------------------------------------

def shmem_file_read_iter(m, file, pos: int, count: int, copy) -> int:
    """read_iter of a tmpfs file: holes read as zeros without allocating (SGP_READ); a
    page read from its start is marked accessed (mm/shmem.c shmem_file_read_iter)."""
    if not count:
        return 0
    inode = file.inode
    index = pos >> PAGE_SHIFT
    offset = pos & (PAGE_SIZE - 1)
    retval = 0
    error = 0
    left = count
    while True:
        i_size = inode.i_size
        end_index = i_size >> PAGE_SHIFT
        if index > end_index:
            break
        if index == end_index and (i_size & (PAGE_SIZE - 1)) <= offset:
            break
        error, page = shmem_getpage_gfp(m, inode, index, SGP_READ, shmem_mapping_gfp(inode))
        if error:
            if error == -errno.EINVAL:
                error = 0
            break
        if page != NULL:
            unlock_page(m, page)
        nr = PAGE_SIZE
        if index == end_index:
            nr = i_size & (PAGE_SIZE - 1)
            if nr <= offset:
                if page != NULL:
                    put_page(m, page)
                break
        nr = min(nr - offset, left)
        if page != NULL:
            if not offset:
                mark_page_accessed(m, page)
        else:
            page = m.zero_pfn
        ret = copy(page, offset, nr)
        retval += ret
        offset += ret
        index += offset >> PAGE_SHIFT
        offset &= PAGE_SIZE - 1
        if page != m.zero_pfn:
            put_page(m, page)
        left -= ret
        if not left:
            break
        if ret < nr:
            error = -errno.EFAULT
            break
    return retval if retval else error


def shmem_write_begin(m, file, mapping, pos: int, length: int) -> int:
    """The locked page to write at ``pos`` (SGP_WRITE: may exceed i_size); or -errno
    (ENOSPC past the mount's size) (mm/shmem.c shmem_write_begin)."""
    inode = mapping.host
    error, page = shmem_getpage_gfp(m, inode, pos >> PAGE_SHIFT, SGP_WRITE,
                                    shmem_mapping_gfp(inode))
    return error if error else page


def shmem_write_end(m, file, mapping, pos: int, copied: int, page: int) -> int:
    """Grow i_size, make a new page up to date (the bytes around the write are zero),
    dirty it, unlock and release it (mm/shmem.c shmem_write_end)."""
    inode = mapping.host
    if pos + copied > inode.i_size:
        inode.i_size = pos + copied
    if not _test(m, page, PG_uptodate):
        SetPageUptodate(m, page)        # clear_highpage already zeroed the rest
    set_page_dirty(m, page)
    unlock_page(m, page)
    put_page(m, page)
    return copied


def shmem_fsync(m, file, start: int, end: int, datasync: bool) -> int:
    return 0                            # noop_fsync


# -- truncation, hole punching, eviction -----------------------------------------------------

def shmem_undo_range(m, inode, lstart: int, lend: int) -> None:
    """Drop the pages of bytes [lstart, lend] (lend -1: to the end) and zero the partial
    pages at the edges, dirtying them (mm/shmem.c shmem_undo_range, !unfalloc)."""
    mapping = inode.i_mapping
    start = (lstart + PAGE_SIZE - 1) >> PAGE_SHIFT
    end = _U64 if lend == -1 else (lend + 1) >> PAGE_SHIFT
    partial_start = lstart & (PAGE_SIZE - 1)
    partial_end = (lend + 1) & (PAGE_SIZE - 1)
    f = m.mem_map.f
    for index in sorted(i for i in mapping.i_pages if start <= i < end):
        pfn = mapping.i_pages[index]
        get_page(m, pfn)                                # find_get_entries
        if f[pfn] & (1 << PG_locked):                   # trylock_page
            put_page(m, pfn)
            continue
        lock_page(m, pfn)
        truncate_inode_page(m, mapping, pfn)
        unlock_page(m, pfn)
        put_page(m, pfn)
    info = inode.shmem_info
    nr_swaps_freed = 0
    for index in sorted(i for i in info.swap if start <= i < end):
        nr_swaps_freed += shmem_free_swap(m, info, index)
    if nr_swaps_freed:
        info.swapped -= nr_swaps_freed
        shmem_recalc_inode(m, inode)
        _shmem_swaplist_del(m, info)
    gfp = shmem_mapping_gfp(inode)
    if partial_start:
        _, page = shmem_getpage_gfp(m, inode, start - 1, SGP_READ, gfp)
        if page != NULL:
            top = PAGE_SIZE
            if start > end:
                top = partial_end
                partial_end = 0
            zero_user_segment(m, page, partial_start, top)
            set_page_dirty(m, page)
            unlock_page(m, page)
            put_page(m, page)
    if partial_end:
        _, page = shmem_getpage_gfp(m, inode, end, SGP_READ, gfp)
        if page != NULL:
            zero_user_segment(m, page, 0, partial_end)
            set_page_dirty(m, page)
            unlock_page(m, page)
            put_page(m, page)
    shmem_recalc_inode(m, inode)


def shmem_truncate_range(m, inode, lstart: int, lend: int) -> None:
    shmem_undo_range(m, inode, lstart, lend)


def shmem_setattr_size(m, inode, newsize: int) -> int:
    """The size half of shmem_setattr: i_size, then the mappings and pages past it go
    (unmap, truncate, unmap again for private pages COWed meanwhile); 0 or -ENOMEM when a
    file charged by size cannot be grown (shmem_reacct_size)."""
    oldsize = inode.i_size
    info = inode.shmem_info
    if newsize != oldsize:
        if not info.flags & VM_NORESERVE:
            old_pages = (oldsize + PAGE_SIZE - 1) >> PAGE_SHIFT
            new_pages = (newsize + PAGE_SIZE - 1) >> PAGE_SHIFT
            if new_pages > old_pages:
                if _charge(m, new_pages - old_pages):
                    return -errno.ENOMEM
            elif new_pages < old_pages:
                _uncharge(m, old_pages - new_pages)
            inode.shmem_acct += new_pages - old_pages
        inode.i_size = newsize
    if newsize <= oldsize:
        holebegin = (newsize + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        if oldsize > holebegin:
            unmap_mapping_range(m, inode.i_mapping, holebegin, 0, 1)
        if info.alloced:
            shmem_truncate_range(m, inode, newsize, -1)
        if oldsize > holebegin:
            unmap_mapping_range(m, inode.i_mapping, holebegin, 0, 1)
    return 0


def shmem_fallocate(m, file, mode: int, offset: int, length: int) -> int:
    """fallocate of a tmpfs file; the model does FALLOC_FL_PUNCH_HOLE (MADV_REMOVE):
    the range's shared PTEs go (private COW copies stay) and so do its pages
    (mm/shmem.c shmem_fallocate). 0 or -errno."""
    if mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE):
        return -errno.EOPNOTSUPP
    inode = file.inode
    if not mode & FALLOC_FL_PUNCH_HOLE:
        raise NotImplementedError("shmem_fallocate: preallocation (SGP_FALLOC) is not "
                                  "modelled yet; only FALLOC_FL_PUNCH_HOLE is")
    unmap_start = (offset + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    unmap_end = ((offset + length) & ~(PAGE_SIZE - 1)) - 1
    if unmap_end > unmap_start:
        unmap_mapping_range(m, file.f_mapping, unmap_start, 1 + unmap_end - unmap_start, 0)
    shmem_truncate_range(m, inode, offset, offset + length - 1)
    return 0


def shmem_evict_inode(inode) -> None:
    """The last reference to an unlinked shmem inode went: return a size charge
    (shmem_unacct_size), drop every page and give their blocks back (mm/shmem.c)."""
    m = inode.machine
    pages = inode.shmem_acct
    if pages:
        inode.shmem_acct = 0
        _uncharge(m, pages)
    inode.i_size = 0
    if inode.shmem_info is not None:
        shmem_truncate_range(m, inode, 0, -1)
    mapping = inode.i_mapping
    if mapping.nrpages:
        raise KernelBug(f"shmem_evict_inode: {mapping!r} still holds pages")
    info = inode.shmem_info
    if info is not None and (info.swapped or info.swap):
        raise KernelBug(f"shmem_evict_inode: ino {inode.i_ino} still has pages on swap")
    if mapping.handle:
        m.address_spaces.pop(mapping.handle, None)
        mapping.handle = 0
    sb = inode.sb
    if sb is not None and inode in sb.inodes:
        sb.inodes.remove(inode)
    destroy_inode(m, inode)


shmem_aops = AddressSpaceOperations("shmem_aops", set_page_dirty=__set_page_dirty_no_writeback,
                                    writepage=shmem_writepage,
                                    write_begin=shmem_write_begin,
                                    write_end=shmem_write_end,
                                    migratepage=migrate_page)
shmem_vm_ops = VmOperationsStruct("shmem_vm_ops", fault=shmem_fault,
                                  map_pages=filemap_map_pages)
shmem_file_operations = FileOperations("shmem_file_operations", mmap=shmem_mmap,
                                       read_iter=shmem_file_read_iter,
                                       write_iter=generic_file_write_iter, fsync=shmem_fsync,
                                       fallocate=shmem_fallocate)
shmem_ops = SuperOperations("shmem_ops", evict_inode=shmem_evict_inode,
                            inode_cachep="shmem_inode_cache",
                            setattr_size=shmem_setattr_size)


def shmem_init_inode(m, inode, flags: int, sbinfo: ShmemSbInfo) -> None:
    """The shmem half of shmem_get_inode: tables, no readahead, no dirty accounting."""
    inode.shmem_info = ShmemInodeInfo(flags & VM_NORESERVE, sbinfo, inode)
    inode.machine = m
    inode.s_op = shmem_ops
    inode.cap_account_dirty = False
    mapping = inode.i_mapping
    mapping.a_ops = shmem_aops
    mapping.ra_pages = 0
    mapping.account_dirty = False


def shmem_file_setup(m, name: str, size: int, flags: int):
    """An unlinked file of ``size`` bytes on the internal mount, charged by size unless
    VM_NORESERVE (mm/shmem.c __shmem_file_setup); a File, or -ENOMEM."""
    pages = (size + PAGE_SIZE - 1) >> PAGE_SHIFT
    if not flags & VM_NORESERVE:
        if _charge(m, pages):
            return -errno.ENOMEM
    inode = Inode(m.vfs._ino(SHMEM_DEV), SHMEM_DEV, size, b"", name + " (deleted)",
                  account_dirty=False, s_op=shmem_ops)
    inode.i_mode = 0o100777
    shmem_init_inode(m, inode, flags, m.shm_mnt_sbinfo)
    inode.i_nlink = 0            # an unlinked file: the last fput evicts it
    sb = m.shm_mnt_sbinfo.sb
    if sb is not None:
        inode.sb = sb
        sb.inodes.insert(0, inode)   # drop_caches reaches shm_mnt's inodes too
    alloc_inode(m, inode, "shmem_inode_cache")
    d_alloc_pseudo(m, sb, inode)
    if not flags & VM_NORESERVE:
        inode.shmem_acct = pages     # given back with the inode (shmem_unacct_size)
    return File(inode, O_RDWR, inode.path, shmem_file_operations)


def shmem_zero_setup(m, vma) -> int:
    """Back a shared anonymous mapping (or a MAP_SHARED /dev/zero) with a new unlinked
    shmem file "dev/zero"; 0 or -ENOMEM when its size cannot be committed."""
    size = vma.vm_end - vma.vm_start
    file = shmem_file_setup(m, "/dev/zero", size, vma.vm_flags)
    if isinstance(file, int):
        return file
    if vma.vm_file is not None:
        vma.vm_file.fput()
    vma.vm_file = file
    vma.vm_ops = shmem_vm_ops
    return 0
