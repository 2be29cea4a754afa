"""File-backed page mapping counts (the rmap side of mm/filemap.c and mm/rmap.c for file
pages). The page cache itself is a later issue."""

from ..include.vm_event_item import NR_FILE_MAPPED


def page_add_file_rmap(m, pfn: int) -> None:
    mm = m.mem_map
    mc = mm.mc[pfn] + 1
    mm.mc[pfn] = mc
    if mc == 0:
        m.page_zone(pfn).vm_stat[NR_FILE_MAPPED] += 1


def page_remove_file_rmap(m, pfn: int) -> None:
    """Drop one mapping of a file page; the last one leaves NR_FILE_MAPPED (mm/rmap.c)."""
    mm = m.mem_map
    mc = mm.mc[pfn] - 1
    mm.mc[pfn] = mc
    if mc < 0:
        m.page_zone(pfn).vm_stat[NR_FILE_MAPPED] -= 1
