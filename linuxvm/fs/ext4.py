"""The model's disk filesystem and its block device: an ext4-like filesystem whose file
bytes live on ``sda`` (fs/ext4/inode.c ext4_readpage/ext4_writepage with 4 KiB blocks,
with its I/O counted by block/blk_core.py), and ramfs (fs/ramfs, fs/libfs.c), whose
pages are its only storage.

A regular ext4 file keeps its on-disk bytes in ``inode.data`` (the blocks the block
device holds for it; past ``len(data)`` the file is a hole). A page-cache miss reads
the page's block: 8 sectors counted in pgpgin, as submit_bio counts them. Writeback
(fsync, msync, fadvise DONTNEED, sync and the flusher) writes dirty pages back into
``inode.data`` (pgpgout).
"""

from ..mm.migrate import buffer_migrate_page
from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from ..mm.filemap import (generic_file_read_iter, generic_file_write_iter, filemap_fault,
                          filemap_map_pages, filemap_write_and_wait_range, unlock_page,
                          SetPageUptodate, filemap_page_mkwrite, simple_write_begin,
                          simple_write_end)
from ..mm.fs_types import (AddressSpaceOperations, FileOperations, SuperOperations,
                           destroy_inode)
from ..mm.memory.fault import next_content_tag
from ..mm.page import PG_mappedtodisk
from ..mm.backing_dev import I_FREEING, inode_io_list_del
from ..mm.page_writeback import (page_mapping, __set_page_dirty_nobuffers,
                                 __set_page_dirty_no_writeback, set_page_writeback,
                                 end_page_writeback)
from ..mm.truncate import truncate_inode_pages_final
from ..mm.vm_ops import VmOperationsStruct
from ..block.blk_core import submit_bio, SECTORS_PER_PAGE, READ, WRITE
from .dcache import dput_inode


def _fill_page(m, pfn: int, data: bytes) -> None:
    """Put a block's bytes in a page (zeros cost nothing: no host bytes, tag 0)."""
    if any(data):
        buf = bytearray(PAGE_SIZE)
        buf[:len(data)] = data
        m.page_contents[pfn] = buf
        m.mem_map.contv[pfn] = next_content_tag(m)
    else:
        m.page_contents.pop(pfn, None)
        m.mem_map.contv[pfn] = 0


def ext4_readpage(m, file, pfn: int) -> int:
    """Read a locked page's block from the disk, or zero it for a hole; up to date and
    unlocked (fs/ext4/readpage.c ext4_mpage_readpages for one page)."""
    mapping = page_mapping(m, pfn)
    inode = mapping.host
    index = int(m.mem_map.idx[pfn])
    start = index << PAGE_SHIFT
    if start < len(inode.data):
        _fill_page(m, pfn, bytes(inode.data[start:start + PAGE_SIZE]))
        submit_bio(m, inode.sb.bdev, READ, SECTORS_PER_PAGE)
        f = m.mem_map.f
        f[pfn] = f[pfn] | (1 << PG_mappedtodisk)
    else:
        _fill_page(m, pfn, b"")                     # a hole: zero-filled, no I/O
    SetPageUptodate(m, pfn)
    unlock_page(m, pfn)
    return 0


def ext4_writepage(m, pfn: int) -> int:
    """Write a locked page's bytes inside i_size to its block and unlock it
    (fs/ext4/inode.c ext4_writepage → ext4_bio_write_page). The page is under writeback
    from the submission to the bio's completion, which the model's disk reports at once
    (end_page_writeback before returning)."""
    mapping = page_mapping(m, pfn)
    inode = mapping.host
    index = int(m.mem_map.idx[pfn])
    start = index << PAGE_SHIFT
    set_page_writeback(m, pfn)
    if start < inode.i_size:
        n = min(PAGE_SIZE, inode.i_size - start)
        buf = m.page_contents.get(pfn)
        chunk = bytes(buf[:n]) if buf is not None else bytes(n)
        data = inode.data
        if len(data) < start + n:
            data.extend(bytes(start + n - len(data)))
        data[start:start + n] = chunk
        submit_bio(m, inode.sb.bdev, WRITE, SECTORS_PER_PAGE)
    unlock_page(m, pfn)
    end_page_writeback(m, pfn)                      # ext4_end_bio
    return 0


def ext4_file_mmap(file, vma) -> int:
    """file_operations.mmap (fs/ext4/file.c ext4_file_mmap → ext4_file_vm_ops)."""
    vma.vm_ops = ext4_file_vm_ops
    return 0


def ext4_sync_file(m, file, start: int, end: int, datasync: bool) -> int:
    """fsync/fdatasync/msync(MS_SYNC): write the file's dirty pages in bytes [start, end]
    (fs/ext4/fsync.c; the journal commit is not modelled)."""
    return filemap_write_and_wait_range(m, file.f_mapping, start, end)


def ext4_evict_inode(inode) -> None:
    """The in-core inode goes: its pages always, its blocks too if it was unlinked
    (fs/ext4/inode.c ext4_evict_inode, then destroy_inode)."""
    m = inode.machine
    mapping = inode.i_mapping
    inode.i_state |= I_FREEING
    truncate_inode_pages_final(m, mapping)
    inode_io_list_del(inode)
    if inode.i_nlink == 0:
        inode.data = bytearray()
    _release_inode(m, inode)


def _release_inode(m, inode) -> None:
    """The in-core inode's last traces: its page cache's handle, its place on s_inodes
    and its object (clear_inode, inode_sb_list_del, destroy_inode)."""
    mapping = inode.i_mapping
    if mapping.handle:
        m.address_spaces.pop(mapping.handle, None)
        mapping.handle = 0
    if inode in inode.sb.inodes:
        inode.sb.inodes.remove(inode)
    destroy_inode(m, inode)


ext4_aops = AddressSpaceOperations("ext4_aops", readpage=ext4_readpage,
                                   write_begin=simple_write_begin, write_end=simple_write_end,
                                   writepage=ext4_writepage,
                                   set_page_dirty=__set_page_dirty_nobuffers,
                                   migratepage=buffer_migrate_page)
ext4_file_vm_ops = VmOperationsStruct("ext4_file_vm_ops", fault=filemap_fault,
                                      map_pages=filemap_map_pages,
                                      page_mkwrite=filemap_page_mkwrite)
ext4_file_operations = FileOperations("ext4_file_operations", mmap=ext4_file_mmap,
                                      read_iter=generic_file_read_iter,
                                      write_iter=generic_file_write_iter,
                                      fsync=ext4_sync_file)
ext4_sops = SuperOperations("ext4_sops", evict_inode=ext4_evict_inode,
                            inode_cachep="ext4_inode_cache", dput=dput_inode)


# -- ramfs ------------------------------------------------------------------------------------

def simple_readpage(m, file, pfn: int) -> int:
    """A ramfs page that was never written: zeros (fs/libfs.c)."""
    _fill_page(m, pfn, b"")
    SetPageUptodate(m, pfn)
    unlock_page(m, pfn)
    return 0


def generic_file_mmap(file, vma) -> int:
    """file_operations.mmap of a page-cache file (mm/filemap.c)."""
    vma.vm_ops = generic_file_vm_ops
    return 0


def noop_fsync(m, file, start: int, end: int, datasync: bool) -> int:
    return 0


def ramfs_evict_inode(inode) -> None:
    m = inode.machine
    truncate_inode_pages_final(m, inode.i_mapping)
    _release_inode(m, inode)


ramfs_aops = AddressSpaceOperations("ramfs_aops", readpage=simple_readpage,
                                    write_begin=simple_write_begin, write_end=simple_write_end,
                                    set_page_dirty=__set_page_dirty_no_writeback)
generic_file_vm_ops = VmOperationsStruct("generic_file_vm_ops", fault=filemap_fault,
                                         map_pages=filemap_map_pages,
                                         page_mkwrite=filemap_page_mkwrite)
ramfs_file_operations = FileOperations("ramfs_file_operations", mmap=generic_file_mmap,
                                       read_iter=generic_file_read_iter,
                                       write_iter=generic_file_write_iter, fsync=noop_fsync)
ramfs_ops = SuperOperations("ramfs_ops", evict_inode=ramfs_evict_inode, dput=dput_inode)
