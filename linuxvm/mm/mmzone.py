"""Zones, free areas, per-CPU page lists, pageblock flags and the node (include/linux/mmzone.h,
mm/pageblock-flags.h)."""

import numpy as np

from .gfp import ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, ZONE_MOVABLE, MAX_NR_ZONES
from ..include.vm_event_item import NR_VM_ZONE_STAT_ITEMS

MAX_ORDER = 11
pageblock_order = 9
pageblock_nr_pages = 1 << pageblock_order
PAGE_ALLOC_COSTLY_ORDER = 3

# enum migratetype with CONFIG_MEMORY_ISOLATION and no CONFIG_CMA
MIGRATE_UNMOVABLE = 0
MIGRATE_MOVABLE = 1
MIGRATE_RECLAIMABLE = 2
MIGRATE_PCPTYPES = 3
MIGRATE_HIGHATOMIC = MIGRATE_PCPTYPES
MIGRATE_ISOLATE = 4
MIGRATE_TYPES = 5
migratetype_names = ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate"]
migratetype_letters = "UMEHI"   # show_migration_types: CMA would be C

# fallbacks[] (mm/page_alloc.c); HIGHATOMIC and ISOLATE never fall back
fallbacks = {
    MIGRATE_UNMOVABLE: (MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE),
    MIGRATE_RECLAIMABLE: (MIGRATE_UNMOVABLE, MIGRATE_MOVABLE),
    MIGRATE_MOVABLE: (MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE),
}

zone_names = ["DMA", "DMA32", "Normal", "Movable"]

WMARK_MIN, WMARK_LOW, WMARK_HIGH = 0, 1, 2

# zone->flags bits
ZONE_RECLAIM_LOCKED, ZONE_OOM_LOCKED, ZONE_CONGESTED, ZONE_DIRTY, ZONE_WRITEBACK, \
    ZONE_FAIR_DEPLETED = range(6)


class PerCpuPages:
    """struct per_cpu_pages: order-0 pages cached for one CPU in one zone."""

    __slots__ = ("count", "high", "batch", "lists")

    def __init__(self, lists):
        self.count = 0
        self.high = 0
        self.batch = 1
        self.lists = lists      # list-head slots, one per MIGRATE_PCPTYPES


class PerCpuPageset:
    """struct per_cpu_pageset: the pcp lists and the vmstat threshold."""

    __slots__ = ("pcp", "stat_threshold")

    def __init__(self, pcp):
        self.pcp = pcp
        self.stat_threshold = 0


class FreeArea:
    """struct free_area: ``free_list[migratetype]`` heads and ``nr_free`` blocks."""

    __slots__ = ("free_list", "nr_free")

    def __init__(self, heads):
        self.free_list = heads
        self.nr_free = 0


class Zone:
    """struct zone."""

    __slots__ = ("idx", "name", "zone_pgdat", "zone_start_pfn", "spanned_pages",
                 "present_pages", "managed_pages", "watermark", "lowmem_reserve",
                 "nr_reserved_highatomic", "free_area", "pageset", "flags", "vm_stat",
                 "inactive_ratio", "pages_scanned", "compact_considered",
                 "compact_defer_shift", "compact_order_failed", "compact_cached_free_pfn",
                 "compact_cached_migrate_pfn", "compact_blockskip_flush", "mem_map", "pb",
                 "accel")

    def __init__(self, idx: int, pgdat):
        self.idx = idx
        self.name = zone_names[idx]
        self.zone_pgdat = pgdat
        self.zone_start_pfn = 0
        self.spanned_pages = 0
        self.present_pages = 0
        self.managed_pages = 0
        self.watermark = [0, 0, 0]
        self.lowmem_reserve = [0] * MAX_NR_ZONES
        self.nr_reserved_highatomic = 0
        self.free_area = []
        self.pageset = []
        self.flags = 0
        self.vm_stat = [0] * NR_VM_ZONE_STAT_ITEMS
        self.inactive_ratio = 1
        self.compact_considered = 0
        self.compact_defer_shift = 0
        self.compact_order_failed = 0
        # where the scanners stopped ([async, sync] for the migrate scanner), and whether
        # kswapd should clear the skip bits before it sleeps
        self.compact_cached_free_pfn = 0
        self.compact_cached_migrate_pfn = [0, 0]
        self.compact_blockskip_flush = False

    @property
    def zone_end_pfn(self) -> int:
        return self.zone_start_pfn + self.spanned_pages

    def populated_zone(self) -> bool:
        return self.present_pages != 0

    def zone_spans_pfn(self, pfn: int) -> bool:
        return self.zone_start_pfn <= pfn < self.zone_start_pfn + self.spanned_pages

    def min_wmark_pages(self):
        return self.watermark[WMARK_MIN]

    def low_wmark_pages(self):
        return self.watermark[WMARK_LOW]

    def high_wmark_pages(self):
        return self.watermark[WMARK_HIGH]

    def __repr__(self):
        return (f"<zone {self.name} pfn {self.zone_start_pfn:#x}-{self.zone_end_pfn:#x} "
                f"managed {self.managed_pages}>")


class ReclaimOps:
    """The reclaim entry points the allocator calls (mm/vmscan.c try_to_free_pages and
    wakeup_kswapd): vmscan sits above the allocator in the model's imports, so it fills
    these in at boot. None: no reclaim (nothing reclaimed, as before vmscan loads)."""

    __slots__ = ("try_to_free_pages", "wakeup_kswapd")

    def __init__(self):
        self.try_to_free_pages = None
        self.wakeup_kswapd = None


class CompactionOps:
    """The compaction entry points the allocator and reclaim call (mm/compaction.c
    try_to_compact_pages, compaction_defer_reset, wakeup_kcompactd, compaction_suitable,
    compaction_deferred): compaction sits
    above the allocator and reclaim in the model's imports, so it fills these in at boot.
    None: no compaction (COMPACT_SKIPPED)."""

    __slots__ = ("try_to_compact_pages", "compaction_defer_reset", "wakeup_kcompactd",
                 "reset_isolation_suitable", "compaction_suitable", "compaction_deferred")

    def __init__(self):
        self.compaction_suitable = None
        self.compaction_deferred = None
        self.try_to_compact_pages = None
        self.compaction_defer_reset = None
        self.wakeup_kcompactd = None
        self.reset_isolation_suitable = None


class PglistData:
    """struct pglist_data for the single node (UMA)."""

    __slots__ = ("node_id", "node_zones", "nr_zones", "node_start_pfn",
                 "node_present_pages", "node_spanned_pages", "totalreserve_pages",
                 "mem_map", "pageblock_flags", "vm_events", "zonelist", "nr_cpus",
                 "log", "machine", "accel", "ac_cache", "bad_page_state", "nopage_rs",
                 "page_alloc_warned", "reclaim", "kswapd", "compaction",
                 "kcompactd_max_order", "kcompactd_classzone_idx")

    def __init__(self):
        self.node_id = 0
        self.node_zones = [Zone(i, self) for i in range(MAX_NR_ZONES)]
        self.nr_zones = 0
        self.node_start_pfn = 0
        self.node_present_pages = 0
        self.node_spanned_pages = 0
        self.totalreserve_pages = 0
        self.reclaim = ReclaimOps()
        self.kswapd = None              # KswapdState once vmscan's reclaim is installed
        self.compaction = CompactionOps()
        self.kcompactd_max_order = 0
        self.kcompactd_classzone_idx = 0


class PageblockFlags:
    """Per-pageblock bits: 3 migratetype bits and the compaction skip bit
    (NR_PAGEBLOCK_BITS = 4), one byte per pageblock here."""

    __slots__ = ("bits", "b")

    PB_migrate_skip = 3

    def __init__(self, nr_frames: int):
        self.bits = np.zeros((nr_frames + pageblock_nr_pages - 1) >> pageblock_order,
                             dtype=np.uint8)
        self.b = memoryview(self.bits)

    def get_pageblock_migratetype(self, pfn: int) -> int:
        return self.b[pfn >> pageblock_order] & 7

    def set_pageblock_migratetype(self, pfn: int, mt: int) -> None:
        i = pfn >> pageblock_order
        self.b[i] = (self.b[i] & ~7) | mt

    def get_pageblock_skip(self, pfn: int) -> bool:
        return bool(self.b[pfn >> pageblock_order] & (1 << self.PB_migrate_skip))

    def set_pageblock_skip(self, pfn: int) -> None:
        i = pfn >> pageblock_order
        self.b[i] = self.b[i] | (1 << self.PB_migrate_skip)

    def clear_pageblock_skip(self, pfn: int) -> None:
        i = pfn >> pageblock_order
        self.b[i] = self.b[i] & ~(1 << self.PB_migrate_skip) & 0xFF
