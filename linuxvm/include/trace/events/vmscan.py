"""The vmscan events: kswapd, direct reclaim, LRU isolation, writepage and the slab
shrinkers (include/trace/events/vmscan.h)."""

from ....lib.tracepoint import TRACE_EVENT, print_flags
from .mmflags import show_gfp_flags, pfn_to_page

RECLAIM_WB_ANON = 0x0001
RECLAIM_WB_FILE = 0x0002
RECLAIM_WB_MIXED = 0x0010
RECLAIM_WB_SYNC = 0x0004
RECLAIM_WB_ASYNC = 0x0008

_RECLAIM_FLAGS = ((RECLAIM_WB_ANON, "RECLAIM_WB_ANON"), (RECLAIM_WB_FILE, "RECLAIM_WB_FILE"),
                  (RECLAIM_WB_MIXED, "RECLAIM_WB_MIXED"), (RECLAIM_WB_SYNC, "RECLAIM_WB_SYNC"),
                  (RECLAIM_WB_ASYNC, "RECLAIM_WB_ASYNC"))


def show_reclaim_flags(flags: int) -> str:
    return print_flags(flags, "|", _RECLAIM_FLAGS) if flags else "RECLAIM_WB_NONE"


def trace_shrink_flags(file: bool) -> int:
    """trace_shrink_flags (and trace_reclaim_flags of a page: file = page_is_file_cache)."""
    return (RECLAIM_WB_FILE if file else RECLAIM_WB_ANON) | RECLAIM_WB_ASYNC


mm_vmscan_kswapd_sleep = TRACE_EVENT("vmscan", "mm_vmscan_kswapd_sleep", "nid",
                                     lambda nid: f"nid={nid}")
mm_vmscan_kswapd_wake = TRACE_EVENT("vmscan", "mm_vmscan_kswapd_wake", "nid order",
                                    lambda nid, order: f"nid={nid} order={order}")
mm_vmscan_wakeup_kswapd = TRACE_EVENT(
    "vmscan", "mm_vmscan_wakeup_kswapd", "nid zid order",
    lambda nid, zid, order: f"nid={nid} zid={zid} order={order}")
mm_vmscan_direct_reclaim_begin = TRACE_EVENT(
    "vmscan", "mm_vmscan_direct_reclaim_begin", "order may_writepage gfp_flags",
    lambda order, may_writepage, gfp: (f"order={order} may_writepage={int(may_writepage)} "
                                       f"gfp_flags={show_gfp_flags(gfp)}"))
mm_vmscan_direct_reclaim_end = TRACE_EVENT(
    "vmscan", "mm_vmscan_direct_reclaim_end", "nr_reclaimed",
    lambda nr: f"nr_reclaimed={nr}")
mm_vmscan_lru_isolate = TRACE_EVENT(
    "vmscan", "mm_vmscan_lru_isolate",
    "order nr_requested nr_scanned nr_taken isolate_mode file",
    lambda order, req, scanned, taken, mode, file: (
        f"isolate_mode={mode} order={order} nr_requested={req} nr_scanned={scanned} "
        f"nr_taken={taken} file={int(file)}"))
mm_vmscan_writepage = TRACE_EVENT(
    "vmscan", "mm_vmscan_writepage", "pfn reclaim_flags",
    lambda pfn, flags: f"page={pfn_to_page(pfn)} pfn={pfn} flags={show_reclaim_flags(flags)}")
mm_vmscan_lru_shrink_inactive = TRACE_EVENT(
    "vmscan", "mm_vmscan_lru_shrink_inactive",
    "nid zid nr_scanned nr_reclaimed priority reclaim_flags",
    lambda nid, zid, scanned, reclaimed, prio, flags: (
        f"nid={nid} zid={zid} nr_scanned={scanned} nr_reclaimed={reclaimed} "
        f"priority={prio} flags={show_reclaim_flags(flags)}"))


# the shrinker is printed as %pF of its scan_objects and %p of the struct shrinker: the
# model has no addresses for either, so both show the shrinker's scan function by name
def _shrink_start(shrink, shr, nid, nr_objects_to_shrink, gfp_flags, pgs_scanned, lru_pgs,
                  cache_items, delta, total_scan):
    return (f"{shrink} {shr}: nid: {nid} objects to shrink {nr_objects_to_shrink} "
            f"gfp_flags {show_gfp_flags(gfp_flags)} pgs_scanned {pgs_scanned} "
            f"lru_pgs {lru_pgs} cache items {cache_items} delta {delta} "
            f"total_scan {total_scan}")


def _shrink_end(shrink, shr, nid, unused_scan, new_scan, retval, total_scan):
    return (f"{shrink} {shr}: nid: {nid} unused scan count {unused_scan} new scan count "
            f"{new_scan} total_scan {total_scan} last shrinker return val {retval}")


mm_shrink_slab_start = TRACE_EVENT(
    "vmscan", "mm_shrink_slab_start",
    "shrink shr nid nr_objects_to_shrink gfp_flags pgs_scanned lru_pgs cache_items delta "
    "total_scan", _shrink_start)
mm_shrink_slab_end = TRACE_EVENT(
    "vmscan", "mm_shrink_slab_end",
    "shrink shr nid unused_scan new_scan retval total_scan", _shrink_end)
