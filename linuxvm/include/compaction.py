"""Compaction results and migration modes (include/linux/compaction.h,
include/linux/migrate_mode.h): shared by the allocator and mm/compaction."""

# compact_zone and try_to_compact_pages results
COMPACT_DEFERRED = 0          # deferred: recently failed at this order
COMPACT_SKIPPED = 1           # not enough free pages for compaction to work with
COMPACT_CONTINUE = 2          # go on compacting
COMPACT_PARTIAL = 3           # a page of the order is free (or compaction stopped early)
COMPACT_COMPLETE = 4          # the scanners met: the whole zone was compacted
COMPACT_NO_SUITABLE_PAGE = 5
COMPACT_NOT_SUITABLE_ZONE = 6
COMPACT_CONTENDED = 7
# cc->contended
COMPACT_CONTENDED_NONE, COMPACT_CONTENDED_SCHED, COMPACT_CONTENDED_LOCK = 0, 1, 2

# enum migrate_mode
MIGRATE_ASYNC, MIGRATE_SYNC_LIGHT, MIGRATE_SYNC = range(3)
