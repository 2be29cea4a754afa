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
from ..include.vm_event_item import NR_FILE_PAGES, NR_SHMEM, PGMAJFAULT   # noqa: F401
from . import gfp as G
from .filemap import (mapping_handle, filemap_map_pages, lock_page, unlock_page,
                      generic_file_write_iter,
                      SetPageUptodate, delete_from_page_cache)
from .fs_types import AddressSpaceOperations, File, FileOperations, Inode, SuperOperations
from .mman import O_RDWR
from .page import NULL, PG_locked, PG_swapbacked, PG_uptodate, PG_referenced, PG_active, \
    PG_dirty
from .page_alloc import __alloc_pages_nodemask
from .page_writeback import set_page_dirty, __set_page_dirty_no_writeback
from .swap import get_page, put_page, mark_page_accessed, lru_cache_add
from .truncate import unmap_mapping_range, truncate_inode_page, zero_user_segment
from .util import security_vm_enough_memory_mm, vm_unacct_memory
from .vm_ops import VmOperationsStruct, VM_FAULT_LOCKED, VM_FAULT_OOM, VM_FAULT_SIGBUS

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
    """struct shmem_inode_info: the inode's VM_NORESERVE flag, the pages it has allocated
    (``alloced``) and swapped (always 0 until swap is modelled)."""

    __slots__ = ("flags", "alloced", "swapped", "sbinfo")

    def __init__(self, flags: int, sbinfo: ShmemSbInfo):
        self.flags = flags
        self.alloced = 0
        self.swapped = 0
        self.sbinfo = sbinfo

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


def shmem_getpage_gfp(m, inode, index: int, sgp: int, gfp: int):
    """Find or allocate the page of a shmem file at ``index`` (mm/shmem.c
    shmem_getpage_gfp, without the swap half): (0, page locked with a reference),
    (0, NULL) for a hole SGP_READ does not fill, or (-errno, NULL): EINVAL past i_size
    (but for SGP_WRITE and SGP_FALLOC), ENOSPC, ENOMEM, EFBIG."""
    mapping = inode.i_mapping
    info = inode.shmem_info
    if index > (MAX_LFS_FILESIZE >> PAGE_SHIFT):
        return -errno.EFBIG, NULL
    once = False
    while True:
        page = find_lock_entry(m, mapping, index)
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
    can be had (mm/shmem.c shmem_fault). A page read from swap would be a major fault;
    without swap none is."""
    m = vmf.m
    inode = vma.vm_file.inode
    error, page = shmem_getpage_gfp(m, inode, vmf.pgoff, SGP_CACHE, shmem_mapping_gfp(inode))
    if error:
        return VM_FAULT_OOM if error == -errno.ENOMEM else VM_FAULT_SIGBUS
    vmf.page = page
    return VM_FAULT_LOCKED


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
    if mapping.handle:
        m.address_spaces.pop(mapping.handle, None)
    sb = inode.sb
    if sb is not None and inode in sb.inodes:
        sb.inodes.remove(inode)


shmem_aops = AddressSpaceOperations("shmem_aops", set_page_dirty=__set_page_dirty_no_writeback,
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
                            setattr_size=shmem_setattr_size)


def shmem_init_inode(m, inode, flags: int, sbinfo: ShmemSbInfo) -> None:
    """The shmem half of shmem_get_inode: tables, no readahead, no dirty accounting."""
    inode.shmem_info = ShmemInodeInfo(flags & VM_NORESERVE, sbinfo)
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
