"""Counter names and indices: enum zone_stat_item and enum vm_event_item (include/linux/mmzone.h,
include/linux/vm_event_item.h), in the order mm/vmstat.c prints them."""

ZONE_STAT_NAMES = [
    "nr_free_pages", "nr_alloc_batch", "nr_inactive_anon", "nr_active_anon",
    "nr_inactive_file", "nr_active_file", "nr_unevictable", "nr_mlock", "nr_anon_pages",
    "nr_mapped", "nr_file_pages", "nr_dirty", "nr_writeback", "nr_slab_reclaimable",
    "nr_slab_unreclaimable", "nr_page_table_pages", "nr_kernel_stack", "nr_unstable",
    "nr_bounce", "nr_vmscan_write", "nr_vmscan_immediate_reclaim", "nr_writeback_temp",
    "nr_isolated_anon", "nr_isolated_file", "nr_shmem", "nr_dirtied", "nr_written",
    "nr_pages_scanned", "workingset_refault", "workingset_activate",
    "workingset_nodereclaim", "nr_anon_transparent_hugepages", "nr_free_cma",
]
(NR_FREE_PAGES, NR_ALLOC_BATCH, NR_INACTIVE_ANON, NR_ACTIVE_ANON, NR_INACTIVE_FILE,
 NR_ACTIVE_FILE, NR_UNEVICTABLE, NR_MLOCK, NR_ANON_PAGES, NR_FILE_MAPPED, NR_FILE_PAGES,
 NR_FILE_DIRTY, NR_WRITEBACK, NR_SLAB_RECLAIMABLE, NR_SLAB_UNRECLAIMABLE, NR_PAGETABLE,
 NR_KERNEL_STACK, NR_UNSTABLE_NFS, NR_BOUNCE, NR_VMSCAN_WRITE, NR_VMSCAN_IMMEDIATE,
 NR_WRITEBACK_TEMP, NR_ISOLATED_ANON, NR_ISOLATED_FILE, NR_SHMEM, NR_DIRTIED, NR_WRITTEN,
 NR_PAGES_SCANNED, WORKINGSET_REFAULT, WORKINGSET_ACTIVATE, WORKINGSET_NODERECLAIM,
 NR_ANON_TRANSPARENT_HUGEPAGES, NR_FREE_CMA_PAGES) = range(len(ZONE_STAT_NAMES))
NR_VM_ZONE_STAT_ITEMS = len(ZONE_STAT_NAMES)
NR_LRU_BASE = NR_INACTIVE_ANON

WRITEBACK_STAT_NAMES = ["nr_dirty_threshold", "nr_dirty_background_threshold"]

_ZONE_SUFFIXES = ("_dma", "_dma32", "_normal", "_movable")


def _zones(prefix):
    return [prefix + s for s in _ZONE_SUFFIXES]


# CONFIG_VM_EVENT_COUNTERS, MIGRATION, COMPACTION, HUGETLB_PAGE, TRANSPARENT_HUGEPAGE,
# MEMORY_BALLOON, BALLOON_COMPACTION, DEBUG_TLBFLUSH (for nr_tlb_*); no NUMA.
VM_EVENT_NAMES = (
    ["pgpgin", "pgpgout", "pswpin", "pswpout"] + _zones("pgalloc")
    + ["pgfree", "pgactivate", "pgdeactivate", "pgfault", "pgmajfault", "pglazyfreed"]
    + _zones("pgrefill") + _zones("pgsteal_kswapd") + _zones("pgsteal_direct")
    + _zones("pgscan_kswapd") + _zones("pgscan_direct")
    + ["pgscan_direct_throttle", "pginodesteal", "slabs_scanned", "kswapd_inodesteal",
       "kswapd_low_wmark_hit_quickly", "kswapd_high_wmark_hit_quickly", "pageoutrun",
       "allocstall", "pgrotated", "drop_pagecache", "drop_slab",
       "pgmigrate_success", "pgmigrate_fail",
       "compact_migrate_scanned", "compact_free_scanned", "compact_isolated",
       "compact_stall", "compact_fail", "compact_success", "compact_daemon_wake",
       "htlb_buddy_alloc_success", "htlb_buddy_alloc_fail",
       "unevictable_pgs_culled", "unevictable_pgs_scanned", "unevictable_pgs_rescued",
       "unevictable_pgs_mlocked", "unevictable_pgs_munlocked", "unevictable_pgs_cleared",
       "unevictable_pgs_stranded",
       "thp_fault_alloc", "thp_fault_fallback", "thp_collapse_alloc",
       "thp_collapse_alloc_failed", "thp_split_page", "thp_split_page_failed",
       "thp_deferred_split_page", "thp_split_pmd", "thp_zero_page_alloc",
       "thp_zero_page_alloc_failed",
       "balloon_inflate", "balloon_deflate", "balloon_migrate",
       "nr_tlb_remote_flush", "nr_tlb_remote_flush_received",
       "nr_tlb_local_flush_all", "nr_tlb_local_flush_one"])
VM_EVENT = {name: i for i, name in enumerate(VM_EVENT_NAMES)}
NR_VM_EVENT_ITEMS = len(VM_EVENT_NAMES)
PGALLOC = VM_EVENT["pgalloc_dma"]       # + zone index
PGFREE = VM_EVENT["pgfree"]
PGFAULT = VM_EVENT["pgfault"]
PGMAJFAULT = VM_EVENT["pgmajfault"]
