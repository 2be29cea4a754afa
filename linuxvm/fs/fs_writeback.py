"""The flusher: writeback of dirty inodes by their device's bdi_writeback
(fs/fs-writeback.c wb_workfn, wb_do_writeback, wb_writeback, writeback_sb_inodes,
wb_check_old_data_flush, wb_check_background_flush), wakeup_flusher_threads and sync(2)
(fs/sync.c).

4.6 runs wb_workfn on a workqueue thread when its delayed work falls due; the model
runs it at the tick its ``wb.dwork_expires`` falls due in ``m.tick()``/``m.run_for()``
(linuxvm/kernel/kthreads.py), and when it is stepped: ``m.run_flusher()`` (the flusher
threads waking up), sync(2), and a dirtier throttled in balance_dirty_pages, which waits
for the flusher by running it. Each run does the queued work items, then the periodic
"old data" flush (inodes dirtied more than dirty_expire_centisecs ago, at most once per
dirty_writeback_centisecs of the model's clock, ``m.clock_ns``), then background
writeback while more than the background threshold is dirty; then it queues itself
again: at once if work was queued meanwhile, else dirty_writeback_centisecs later while
dirty inodes are left. The 100 ms time slice of writeback_sb_inodes never runs out, as
the model's clock does not move while it works.
"""

from .inode import inode_add_lru
from ..mm.backing_dev import (I_DIRTY, I_DIRTY_PAGES, I_SYNC, I_NEW, I_FREEING, I_WILL_FREE,
                              WB_SYNC_NONE, WB_SYNC_ALL, WB_writeback_running,
                              WB_has_dirty_io, WB_REASON_BACKGROUND, WB_REASON_PERIODIC,
                              WB_REASON_SYNC, inode_io_list_move_locked, inode_io_list_del,
                              wb_io_lists, wb_wakeup, wb_wakeup_delayed, DWORK_NOW)
from ..mm.page import PG_dirty
from ..mm.page_writeback import (WritebackControl, do_writepages, wb_over_bg_thresh,
                                 LONG_MAX, LLONG_MAX)
from ..include.jiffies import jiffies, msecs_to_jiffies
from ..include.vm_event_item import NR_FILE_DIRTY

MIN_WRITEBACK_PAGES = 4096 >> 2          # 4 MiB in pages
DIRTY_SCOPE = 8


class WbWritebackWork:
    """struct wb_writeback_work: one writeback request queued to a flusher."""

    __slots__ = ("nr_pages", "sb", "older_than_this", "sync_mode", "tagged_writepages",
                 "for_kupdate", "range_cyclic", "for_background", "for_sync", "reason")

    def __init__(self, nr_pages, sync_mode=WB_SYNC_NONE, sb=None, tagged_writepages=False,
                 for_kupdate=False, range_cyclic=False, for_background=False,
                 for_sync=False, reason=WB_REASON_BACKGROUND):
        self.nr_pages = nr_pages
        self.sb = sb
        self.older_than_this = None
        self.sync_mode = sync_mode
        self.tagged_writepages = tagged_writepages
        self.for_kupdate = for_kupdate
        self.range_cyclic = range_cyclic
        self.for_background = for_background
        self.for_sync = for_sync
        self.reason = reason


def mapping_tagged_dirty(m, mapping) -> bool:
    """mapping_tagged(mapping, PAGECACHE_TAG_DIRTY): some cached page is dirty."""
    f = m.mem_map.f
    return any(f[pfn] & (1 << PG_dirty) for pfn in mapping.i_pages.values())


def get_nr_dirty_pages(m) -> int:
    """Dirty pages plus dirty inodes (fs/fs-writeback.c; the model counts the inodes on
    writeback lists, 4.6 counts inodes in use)."""
    inodes = sum(len(lst) for bdi in m.writeback.bdi_list for lst in wb_io_lists(bdi.wb))
    return m.global_page_state(NR_FILE_DIRTY) + inodes


# -- the inode lists ---------------------------------------------------------------------------

def redirty_tail(m, inode, wb) -> None:
    """Back to b_dirty's head; an inode older than the newest one there is re-stamped so
    that b_dirty stays in dirtied_when order."""
    if wb.b_dirty:
        tail = wb.b_dirty[0]
        if inode.dirtied_when < tail.dirtied_when:
            inode.dirtied_when = jiffies(m)
    inode_io_list_move_locked(inode, wb, wb.b_dirty)


def requeue_io(inode, wb) -> None:
    inode_io_list_move_locked(inode, wb, wb.b_more_io)


def move_expired_inodes(delaying: list, dispatch: list, work) -> int:
    """Move the inodes of ``delaying`` dirtied no later than work.older_than_this, oldest
    first, to the head of ``dispatch`` (one superblock: no sb sort)."""
    tmp = []
    while delaying:
        inode = delaying[-1]
        if work.older_than_this is not None and inode.dirtied_when > work.older_than_this:
            break
        delaying.pop()
        tmp.insert(0, inode)
    dispatch[0:0] = tmp
    return len(tmp)


def queue_io(wb, work) -> None:
    """Fill b_io: what b_more_io left, then the expired inodes of b_dirty."""
    wb.b_io[0:0] = wb.b_more_io
    wb.b_more_io.clear()
    move_expired_inodes(wb.b_dirty, wb.b_io, work)


def requeue_inode(m, inode, wb, wbc) -> None:
    """After writing an inode: off the lists when clean, to b_more_io when its slice ran
    out with pages left, else back to b_dirty (fs/fs-writeback.c)."""
    if inode.i_state & I_FREEING:
        return
    if inode.i_state & I_DIRTY and (wbc.sync_mode == WB_SYNC_ALL or wbc.tagged_writepages):
        inode.dirtied_when = jiffies(m)
    if wbc.pages_skipped:
        redirty_tail(m, inode, wb)
        return
    if mapping_tagged_dirty(m, inode.i_mapping):
        if wbc.nr_to_write <= 0:
            requeue_io(inode, wb)
        else:
            redirty_tail(m, inode, wb)
    elif inode.i_state & I_DIRTY:
        redirty_tail(m, inode, wb)
    else:
        inode_io_list_del(inode)


def __writeback_single_inode(m, inode, wbc) -> int:
    """Write one inode's dirty pages; its I_DIRTY_PAGES stays only if some are left."""
    mapping = inode.i_mapping
    ret = do_writepages(m, mapping, wbc)
    inode.i_state &= ~I_DIRTY
    if mapping_tagged_dirty(m, mapping):
        inode.i_state |= I_DIRTY_PAGES
    return ret


def writeback_chunk_size(m, wb, work) -> int:
    """Pages to write from one inode before moving on (fs/fs-writeback.c)."""
    if work.sync_mode == WB_SYNC_ALL or work.tagged_writepages:
        return LONG_MAX
    pages = min(wb.avg_write_bandwidth // 2, m.writeback.dirty_limit // DIRTY_SCOPE)
    pages = min(pages, work.nr_pages)
    return (pages + MIN_WRITEBACK_PAGES) // MIN_WRITEBACK_PAGES * MIN_WRITEBACK_PAGES


def writeback_sb_inodes(m, wb, work) -> int:
    """Write a chunk of each inode on b_io, oldest first; pages written plus inodes left
    clean (fs/fs-writeback.c; the model has one disk filesystem, so this is also
    __writeback_inodes_wb)."""
    wbc = WritebackControl(sync_mode=work.sync_mode, tagged_writepages=work.tagged_writepages,
                           for_kupdate=work.for_kupdate, for_background=work.for_background,
                           for_sync=work.for_sync, range_cyclic=work.range_cyclic,
                           range_start=0, range_end=LLONG_MAX)
    wrote = 0
    while wb.b_io:
        inode = wb.b_io[-1]
        if inode.i_state & (I_NEW | I_FREEING | I_WILL_FREE):
            redirty_tail(m, inode, wb)
            continue
        inode.i_state |= I_SYNC
        write_chunk = writeback_chunk_size(m, wb, work)
        wbc.nr_to_write = write_chunk
        wbc.pages_skipped = 0
        __writeback_single_inode(m, inode, wbc)
        work.nr_pages -= write_chunk - wbc.nr_to_write
        wrote += write_chunk - wbc.nr_to_write
        if not inode.i_state & I_DIRTY:
            wrote += 1
        requeue_inode(m, inode, wb, wbc)
        inode.i_state &= ~I_SYNC                   # inode_sync_complete:
        inode_add_lru(inode)                       # clean and unused: reclaimable again
        if wrote and work.nr_pages <= 0:
            break
    return wrote


def wb_writeback(m, wb, work) -> int:
    """Run one writeback request: passes over b_io until it has written nr_pages, or (for
    background and periodic work) until other work is queued, or (background) the dirty
    count is down to the background threshold (fs/fs-writeback.c). Pages written."""
    nr_pages = work.nr_pages
    work.older_than_this = jiffies(m)
    while True:
        if work.nr_pages <= 0:
            break
        if (work.for_background or work.for_kupdate) and wb.work_list:
            break
        if work.for_background and not wb_over_bg_thresh(m, wb):
            break
        if work.for_kupdate:
            work.older_than_this = jiffies(m) - msecs_to_jiffies(
                m.sysctl["vm.dirty_expire_centisecs"] * 10)
        elif work.for_background:
            work.older_than_this = jiffies(m)
        if not wb.b_io:
            queue_io(wb, work)
        progress = writeback_sb_inodes(m, wb, work)
        if progress:
            continue
        # nothing written and nothing waiting on b_more_io (the model has no inode
        # under writeback to wait for): done
        break
    return nr_pages - work.nr_pages


def wb_check_old_data_flush(m, wb) -> int:
    """Every dirty_writeback_centisecs, write the inodes dirtied more than
    dirty_expire_centisecs ago (kupdate-style writeback)."""
    interval = m.sysctl["vm.dirty_writeback_centisecs"]
    if not interval:
        return 0
    now = jiffies(m)
    if now < wb.last_old_flush + msecs_to_jiffies(interval * 10):
        return 0
    wb.last_old_flush = now
    nr_pages = get_nr_dirty_pages(m)
    if nr_pages:
        work = WbWritebackWork(nr_pages, for_kupdate=True, range_cyclic=True,
                               reason=WB_REASON_PERIODIC)
        return wb_writeback(m, wb, work)
    return 0


def wb_check_background_flush(m, wb) -> int:
    """Background writeback while more than the background threshold is dirty."""
    if wb_over_bg_thresh(m, wb):
        work = WbWritebackWork(LONG_MAX, for_background=True, range_cyclic=True,
                               reason=WB_REASON_BACKGROUND)
        return wb_writeback(m, wb, work)
    return 0


def wb_do_writeback(m, wb) -> int:
    """The queued work items, then the periodic and the background flush."""
    wb.state |= 1 << WB_writeback_running
    wrote = 0
    try:
        while wb.work_list:
            wrote += wb_writeback(m, wb, wb.work_list.pop(0))
        wrote += wb_check_old_data_flush(m, wb)
        wrote += wb_check_background_flush(m, wb)
    finally:
        wb.state &= ~(1 << WB_writeback_running)
    return wrote


def wb_workfn(m, wb) -> int:
    """One run of a device's flusher (fs/fs-writeback.c wb_workfn); pages written. The
    flusher is a kernel thread: the run charges nothing to the task that woke it."""
    saved = m.current
    m.current = None
    wb.dwork_expires = None          # running: the dwork is no longer pending
    try:
        wrote = wb_do_writeback(m, wb)
        while wb.work_list:
            wrote += wb_do_writeback(m, wb)
    finally:
        m.current = saved
    wb.delayed_wakeup = bool(wb.state & (1 << WB_has_dirty_io)) and \
        bool(m.sysctl["vm.dirty_writeback_centisecs"])
    if wb.work_list:
        wb.dwork_expires = DWORK_NOW                  # mod_delayed_work(..., 0)
    elif wb.delayed_wakeup:
        wb_wakeup_delayed(m, wb)
    return wrote


def wb_queue_work(wb, work) -> None:
    wb.work_list.append(work)
    wb_wakeup(wb)


def run_flusher(m) -> int:
    """Let every device's flusher thread run once (wb_workfn); pages written."""
    return sum(bdi.wb.workfn(m, bdi.wb) for bdi in m.writeback.bdi_list)


def wakeup_flusher_threads(m, nr_pages: int, reason: int) -> None:
    """Queue writeback of ``nr_pages`` (0: all dirty pages) to every device with dirty
    inodes (fs/fs-writeback.c); the flushers run at their next step."""
    if not nr_pages:
        nr_pages = get_nr_dirty_pages(m)
    for bdi in m.writeback.bdi_list:
        if bdi.wb.state & (1 << WB_has_dirty_io):
            wb_queue_work(bdi.wb, WbWritebackWork(nr_pages, range_cyclic=True,
                                                  reason=reason))


def sync_inodes_sb(m, sb) -> None:
    """Write every dirty inode of ``sb`` and wait (fs/fs-writeback.c): a WB_SYNC_ALL
    work item, which the flusher runs at once."""
    bdi = getattr(sb, "s_bdi", None)
    if bdi is None:
        return
    wb_queue_work(bdi.wb, WbWritebackWork(LONG_MAX, sync_mode=WB_SYNC_ALL, sb=sb,
                                          for_sync=True, reason=WB_REASON_SYNC))
    bdi.wb.workfn(m, bdi.wb)


def sys_sync(m) -> int:
    """sync(2) (fs/sync.c): wake the flushers for everything, then write and wait for
    every filesystem's inodes. 0."""
    wakeup_flusher_threads(m, 0, WB_REASON_SYNC)
    for sb in m.vfs.mounts.values():
        sync_inodes_sb(m, sb)
    return 0
