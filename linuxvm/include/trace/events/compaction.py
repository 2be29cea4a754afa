"""The compaction events (include/trace/events/compaction.h)."""

from ....lib.tracepoint import TRACE_EVENT, print_symbolic

COMPACTION_STATUS = ((0, "deferred"), (1, "skipped"), (2, "continue"), (3, "partial"),
                     (4, "complete"), (5, "no_suitable_page"), (6, "not_suitable_zone"),
                     (7, "contended"))
ZONE_TYPE = ((0, "DMA"), (1, "DMA32"), (2, "Normal"), (3, "Movable"))


def _isolate(start_pfn, end_pfn, nr_scanned, nr_taken):
    return (f"range=(0x{start_pfn:x} ~ 0x{end_pfn:x}) nr_scanned={nr_scanned} "
            f"nr_taken={nr_taken}")


mm_compaction_isolate_migratepages = TRACE_EVENT(
    "compaction", "mm_compaction_isolate_migratepages",
    "start_pfn end_pfn nr_scanned nr_taken", _isolate)
mm_compaction_isolate_freepages = TRACE_EVENT(
    "compaction", "mm_compaction_isolate_freepages",
    "start_pfn end_pfn nr_scanned nr_taken", _isolate)
mm_compaction_migratepages = TRACE_EVENT(
    "compaction", "mm_compaction_migratepages", "nr_migrated nr_failed",
    lambda ok, failed: f"nr_migrated={ok} nr_failed={failed}")


def _begin(zone_start, migrate_pfn, free_pfn, zone_end, sync):
    return (f"zone_start=0x{zone_start:x} migrate_pfn=0x{migrate_pfn:x} "
            f"free_pfn=0x{free_pfn:x} zone_end=0x{zone_end:x}, "
            f"mode={'sync' if sync else 'async'}")


mm_compaction_begin = TRACE_EVENT(
    "compaction", "mm_compaction_begin", "zone_start migrate_pfn free_pfn zone_end sync",
    _begin)
mm_compaction_end = TRACE_EVENT(
    "compaction", "mm_compaction_end",
    "zone_start migrate_pfn free_pfn zone_end sync status",
    lambda zs, mp, fp, ze, sync, status: (
        f"{_begin(zs, mp, fp, ze, sync)} status={print_symbolic(status, COMPACTION_STATUS)}"))
mm_compaction_try_to_compact_pages = TRACE_EVENT(
    "compaction", "mm_compaction_try_to_compact_pages", "order gfp_mask mode",
    lambda order, gfp, mode: f"order={order} gfp_mask=0x{gfp:x} mode={mode}")


def _suitable(nid, idx, order, ret):
    return (f"node={nid} zone={print_symbolic(idx, ZONE_TYPE):<8} order={order} "
            f"ret={print_symbolic(ret, COMPACTION_STATUS)}")


mm_compaction_finished = TRACE_EVENT("compaction", "mm_compaction_finished",
                                     "nid idx order ret", _suitable)
mm_compaction_suitable = TRACE_EVENT("compaction", "mm_compaction_suitable",
                                     "nid idx order ret", _suitable)


def _defer(nid, idx, order, considered, defer_shift, order_failed):
    return (f"node={nid} zone={print_symbolic(idx, ZONE_TYPE):<8} order={order} "
            f"order_failed={order_failed} consider={considered} limit={1 << defer_shift}")


_DEFER_FIELDS = "nid idx order considered defer_shift order_failed"
mm_compaction_deferred = TRACE_EVENT("compaction", "mm_compaction_deferred",
                                     _DEFER_FIELDS, _defer)
mm_compaction_defer_compaction = TRACE_EVENT("compaction", "mm_compaction_defer_compaction",
                                             _DEFER_FIELDS, _defer)
mm_compaction_defer_reset = TRACE_EVENT("compaction", "mm_compaction_defer_reset",
                                        _DEFER_FIELDS, _defer)
mm_compaction_kcompactd_sleep = TRACE_EVENT("compaction", "mm_compaction_kcompactd_sleep",
                                            "nid", lambda nid: f"nid={nid}")


def _kcompactd_wake(nid, order, classzone_idx):
    return (f"nid={nid} order={order} "
            f"classzone_idx={print_symbolic(classzone_idx, ZONE_TYPE):<8}")


mm_compaction_wakeup_kcompactd = TRACE_EVENT("compaction", "mm_compaction_wakeup_kcompactd",
                                             "nid order classzone_idx", _kcompactd_wake)
mm_compaction_kcompactd_wake = TRACE_EVENT("compaction", "mm_compaction_kcompactd_wake",
                                           "nid order classzone_idx", _kcompactd_wake)
