"""Accelerators of mm/filemap.py: fault-around's mapping of cached pages in one loop.

``filemap_map_pages`` stands in for ``linuxvm.mm.filemap.filemap_map_pages`` with the
per-page calls it makes (get_page, do_set_pte → mk_pte, inc_mm_counter_fast,
page_add_file_rmap) inlined, and the RSS counts added once per call. It leaves the same
PTEs, refcounts, mapcounts, NR_FILE_MAPPED, RSS counts and mmap_miss
(tests/test_fileacct.py, test_pagecache.py and test_accel.py compare whole machines).
"""

from ..arch.x86.page_types import PAGE_SHIFT
from ..arch.x86.pgtable import massage_pgprot
from ..include.vm_event_item import NR_FILE_MAPPED
from ..lib.accel_registry import register
from ..mm.filemap import _size_pages, PG_readahead
from ..mm.memory.rss import inc_mm_counter_fast
from ..mm.mm_types import MM_FILEPAGES, MM_SHMEMPAGES
from ..mm.page import NULL, PG_locked, PG_uptodate, PG_swapbacked
from ..mm.swap import get_page

__all__ = ["filemap_map_pages"]

_UPTODATE = 1 << PG_uptodate
_SKIP = (1 << PG_readahead) | (1 << PG_locked)
_SWAPBACKED = 1 << PG_swapbacked
_U64 = 0xFFFFFFFFFFFFFFFF


@register("filemap_map_pages", "linuxvm.mm.filemap.filemap_map_pages")
def filemap_map_pages(vma, vmf) -> None:
    """filemap_map_pages with the per-page calls inlined and the RSS counted once."""
    m = vmf.m
    file = vma.vm_file
    mapping = file.f_mapping
    table_pfn, first = vmf.pte
    table = m.pgtables[table_pfn]
    mem_map = m.mem_map
    f, rc, mc, ch = mem_map.f, mem_map.rc, mem_map.mc, mem_map.ch
    i_pages = mapping.i_pages
    size = _size_pages(mapping.host)
    prot = massage_pgprot(vma.vm_page_prot)
    ra = file.f_ra
    pgoff = vmf.pgoff
    nfile = nshmem = 0
    first_mapped = []
    for index in range(pgoff, vmf.max_pgoff + 1):
        pfn = i_pages.get(index, NULL)
        if pfn == NULL:
            continue
        fl = f[pfn]
        if not fl & _UPTODATE or fl & _SKIP or index >= size:
            continue
        i = first + index - pgoff
        if table[i]:
            continue
        if ch[pfn] == NULL and rc[pfn] > 0:
            rc[pfn] += 1                                   # get_page
        else:
            get_page(m, pfn)                               # its checks and compound head
        if ra.mmap_miss > 0:
            ra.mmap_miss -= 1
        if fl & _SWAPBACKED:                               # mm_counter_file
            nshmem += 1
        else:
            nfile += 1
        c = mc[pfn] + 1                                    # page_add_file_rmap
        mc[pfn] = c
        if c == 0:
            first_mapped.append(pfn)
        table[i] = ((pfn << PAGE_SHIFT) | prot) & _U64     # mk_pte
    mm = vma.vm_mm
    if nfile:
        inc_mm_counter_fast(m, mm, MM_FILEPAGES, nfile)
    if nshmem:
        inc_mm_counter_fast(m, mm, MM_SHMEMPAGES, nshmem)
    for pfn in first_mapped:
        m.page_zone(pfn).vm_stat[NR_FILE_MAPPED] += 1
