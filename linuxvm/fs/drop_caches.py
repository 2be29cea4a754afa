"""vm.drop_caches (fs/drop_caches.c): writing 1 drops the clean, unmapped page cache of
every filesystem; 2 frees the unused dentries and inodes through the slab shrinkers
(drop_slab); 3 does both."""

from ..include.vm_event_item import VM_EVENT
from ..mm.gfp import GFP_KERNEL
from ..mm.truncate import invalidate_mapping_pages, PGOFF_MAX
from ..mm.vmscan.shrinker import drop_slab


def drop_pagecache_sb(m, sb) -> None:
    """invalidate_mapping_pages over every inode of one filesystem with cached pages."""
    for inode in list(sb.inodes):
        if inode.i_mapping.nrpages == 0:
            continue
        invalidate_mapping_pages(m, inode.i_mapping, 0, PGOFF_MAX)


def drop_caches(m, value: int) -> None:
    """The write side of drop_caches_sysctl_handler for ``value`` (1 to 4)."""
    if value & 1:
        # iterate_supers: the mounted filesystems and the internal shmem mount
        for sb in list(m.vfs.mounts.values()) + [m.vfs.shm_mnt]:
            drop_pagecache_sb(m, sb)
        m.pgdat.vm_events[VM_EVENT["drop_pagecache"]] += 1
    if value & 2:
        drop_slab(m, GFP_KERNEL)
        m.pgdat.vm_events[VM_EVENT["drop_slab"]] += 1
    if not m.drop_caches_stfu:
        m.log.pr_info(f"{m.current_comm()} ({m.current_pid()}): drop_caches: {value}")
    m.drop_caches_stfu |= bool(value & 4)
