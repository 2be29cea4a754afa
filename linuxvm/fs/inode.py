"""The inode cache (fs/inode.c): in-core inodes brought back by a lookup (iget), the
per-superblock LRU of unused clean inodes (inode_add_lru), its pruning by the slab
shrinker (prune_icache_sb, inode_lru_isolate: an unused inode's clean page cache is
invalidated first, counted in pginodesteal/kswapd_inodesteal), and evict.

The model's ``Inode`` object is also the on-disk inode: evicting a linked inode frees its
in-core object (``slab_obj`` 0) and takes it off ``sb.inodes`` (s_inodes), while the
file's name and bytes stay on the filesystem; the next lookup reads it in again.
"""

from collections import deque

from ..include.vm_event_item import VM_EVENT
from ..mm.backing_dev import I_DIRTY, I_SYNC, I_FREEING, I_WILL_FREE, I_NEW
from ..mm.fs_types import alloc_inode
from ..mm.truncate import invalidate_mapping_pages, PGOFF_MAX

I_REFERENCED = 1 << 8           # include/linux/fs.h
# enum lru_status (include/linux/list_lru.h)
LRU_REMOVED, LRU_REMOVED_RETRY, LRU_ROTATE, LRU_SKIP, LRU_RETRY = range(5)


def iget(m, sb, inode) -> None:
    """Read an evicted inode back in: a new in-core object on the superblock's s_inodes
    (iget_locked → alloc_inode, inode_sb_list_add)."""
    alloc_inode(m, inode, sb.s_op.inode_cachep)
    inode.i_state = 0
    sb.inodes.insert(0, inode)


def inode_lru_list_del(inode) -> None:
    if inode.i_lru:
        inode.i_lru = False
        del inode.sb.s_inode_lru[inode]


def inode_add_lru(inode) -> None:
    """Put an unused, clean, in-core inode on its superblock's LRU (fs/inode.c
    inode_add_lru; the list's tail is its newest end)."""
    if (inode.i_lru or inode.i_count or inode.i_dentry is not None or not inode.slab_obj
            or inode.i_state & (I_DIRTY | I_SYNC | I_FREEING | I_WILL_FREE)):
        return
    inode.i_lru = True
    inode.sb.s_inode_lru[inode] = None


def iput_final(m, inode) -> None:
    """The last reference went (here: its dentry's): an unlinked inode is evicted, a
    linked one stays cached as recently used (fs/inode.c iput_final with
    generic_drop_inode)."""
    if inode.i_count or inode.i_dentry is not None:
        return
    if inode.i_nlink == 0:
        inode_lru_list_del(inode)           # (a lookup may have found it on the LRU)
        s_op = inode.s_op
        if s_op is not None and s_op.evict_inode is not None:
            s_op.evict_inode(inode)
        return
    inode.i_state |= I_REFERENCED
    inode_add_lru(inode)


def evict(m, inode) -> None:
    """Tear down an unused in-core inode: its page cache goes and its object is freed
    through the filesystem's evict_inode (fs/inode.c evict)."""
    inode_lru_list_del(inode)
    inode.s_op.evict_inode(inode)


def inode_lru_isolate(m, inode, sc, freeable: list) -> int:
    """One inode at the LRU's head: drop it from the list if in use or dirty, give a
    recently used one another pass, invalidate the page cache of an unused one (and
    come back to it), or take it to be evicted (fs/inode.c inode_lru_isolate)."""
    if inode.i_count or inode.i_dentry is not None or inode.i_state & ~I_REFERENCED:
        inode_lru_list_del(inode)
        return LRU_REMOVED
    if inode.i_state & I_REFERENCED:
        inode.i_state &= ~I_REFERENCED
        return LRU_ROTATE
    if inode.i_mapping.nrpages:
        reap = invalidate_mapping_pages(m, inode.i_mapping, 0, PGOFF_MAX)
        m.pgdat.vm_events[VM_EVENT["kswapd_inodesteal" if sc.kswapd
                                   else "pginodesteal"]] += reap
        rs = m.reclaim_state
        if rs is not None:
            rs.reclaimed_slab += reap
        return LRU_RETRY
    if inode.i_state & I_NEW:
        m.log.pr_warn("inode_lru_isolate: I_NEW inode on the LRU")
    inode.i_state |= I_FREEING
    inode_lru_list_del(inode)
    freeable.append(inode)
    return LRU_REMOVED


def list_lru_walk(lru: dict, sc, isolate) -> int:
    """Walk up to ``sc.nr_to_scan`` items from the oldest, applying ``isolate``; a
    rotated item goes to the tail, where the same walk may meet it again, and a retry
    starts over from the head: the items taken off (mm/list_lru.c __list_lru_walk_one)."""
    nr_to_walk = sc.nr_to_scan
    isolated = 0
    pending = deque(lru)
    while pending:
        item = pending.popleft()
        if item not in lru:
            continue                # taken off by an earlier item
        if not nr_to_walk:
            break
        nr_to_walk -= 1
        ret = isolate(item)
        if ret == LRU_REMOVED:
            isolated += 1
        elif ret == LRU_ROTATE:
            del lru[item]
            lru[item] = None
            pending.append(item)
        elif ret == LRU_RETRY:
            pending = deque(lru)
    return isolated


def prune_icache_sb(m, sb, sc) -> int:
    """Free up to ``sc.nr_to_scan`` unused inodes of one filesystem: how many left the
    LRU (fs/inode.c prune_icache_sb)."""
    freeable = []
    freed = list_lru_walk(sb.s_inode_lru, sc,
                          lambda inode: inode_lru_isolate(m, inode, sc, freeable))
    for inode in freeable:                      # dispose_list
        inode.s_op.evict_inode(inode)
    return freed
