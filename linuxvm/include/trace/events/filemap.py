"""The filemap events: pages entering and leaving the page cache
(include/trace/events/filemap.h)."""

from ....lib.tracepoint import TRACE_EVENT
from .mmflags import pfn_to_page


def _page_cache(pfn, i_ino, index, s_dev):
    major, minor = s_dev
    return (f"dev {major}:{minor} ino {i_ino:x} page={pfn_to_page(pfn)} pfn={pfn} "
            f"ofs={index << 12}")


mm_filemap_delete_from_page_cache = TRACE_EVENT(
    "filemap", "mm_filemap_delete_from_page_cache", "pfn i_ino index s_dev", _page_cache)
mm_filemap_add_to_page_cache = TRACE_EVENT(
    "filemap", "mm_filemap_add_to_page_cache", "pfn i_ino index s_dev", _page_cache)
