"""Backing devices and their writeback lists (mm/backing-dev.c, include/linux/backing-dev.h),
and the part of fs/fs-writeback.c that dirtying a page reaches (__mark_inode_dirty).

A disk filesystem's super_block has a ``backing_dev_info`` (``sb.s_bdi``) with one
``bdi_writeback`` (``wb``, no cgroup writeback): the lists of its dirty inodes, oldest at
the tail as 4.6 keeps them (``b_dirty``; ``b_io`` queued for this writeback pass;
``b_more_io`` left over), and the flusher's state. ramfs and shmem have no s_bdi (they
sit on noop_backing_dev_info, which never writes back), so their inodes never get here.

The flusher itself (wb_workfn, wb_writeback) is fs/fs-writeback.c, a layer above: mm
reaches it the way 4.6 does, through the work function the filesystem layer put in the
bdi when it registered it (``wb.workfn``, 4.6's ``INIT_DELAYED_WORK(&wb->dwork,
wb_workfn)``). The lists are plain Python lists with the list head at index 0, so
``list_move(x, head)`` is ``insert(0, x)`` and ``head->prev`` (the oldest) is ``[-1]``.

Time: jiffies come from the model's clock (``m.clock_ns``, linuxvm/include/jiffies.py).
The flusher's delayed work (``wb->dwork``) is ``wb.dwork_expires``: the jiffy its timer
fires at, None when it is not queued; ``m.tick()`` and ``m.run_for()`` run the flusher
when it falls due (linuxvm/kernel/kthreads.py).
"""

from ..errors import KernelBug
from .page import PG_dirty
from ..include.jiffies import jiffies, msecs_to_jiffies

# include/linux/fs.h inode->i_state bits
I_DIRTY_SYNC = 1 << 0
I_DIRTY_DATASYNC = 1 << 1
I_DIRTY_PAGES = 1 << 2
I_NEW = 1 << 3
I_WILL_FREE = 1 << 4
I_FREEING = 1 << 5
I_SYNC = 1 << 7
I_DIRTY = I_DIRTY_SYNC | I_DIRTY_DATASYNC | I_DIRTY_PAGES

# include/linux/backing-dev-defs.h wb->state bits
WB_registered = 0
WB_writeback_running = 1
WB_has_dirty_io = 2

# include/linux/writeback.h
WB_SYNC_NONE, WB_SYNC_ALL = 0, 1
# enum wb_reason
(WB_REASON_BACKGROUND, WB_REASON_TRY_TO_FREE_PAGES, WB_REASON_SYNC, WB_REASON_PERIODIC,
 WB_REASON_LAPTOP_TIMER, WB_REASON_FREE_MORE_MEM, WB_REASON_FS_FREE_SPACE,
 WB_REASON_FORKER_THREAD) = range(8)

PAGE_SHIFT_KB = 2                          # PAGE_SHIFT - 10
INIT_BW = 100 << (20 - 12)                 # 100 MB/s in pages (backing-dev-defs.h)


class BdiWriteback:
    """struct bdi_writeback: one device's dirty inode lists and flusher state."""

    __slots__ = ("bdi", "state", "b_dirty", "b_io", "b_more_io", "last_old_flush",
                 "work_list", "dirty_exceeded", "avg_write_bandwidth", "workfn",
                 "wakeups", "delayed_wakeup", "dwork_expires")

    def __init__(self, bdi, workfn, now: int):
        self.bdi = bdi
        self.state = 1 << WB_registered
        self.b_dirty = []           # dirtied inodes, newest first (i_io_list)
        self.b_io = []              # inodes queued for writeback, next one at [-1]
        self.b_more_io = []         # inodes left for the next pass
        self.last_old_flush = now   # wb_init: jiffies
        self.work_list = []         # queued wb_writeback_work, oldest first
        self.dirty_exceeded = 0
        self.avg_write_bandwidth = INIT_BW
        self.workfn = workfn        # fs/fs-writeback.c wb_workfn (the dwork's function)
        self.wakeups = 0            # times the flusher was woken (wb_wakeup)
        self.delayed_wakeup = False  # wb_wakeup_delayed armed the dwork timer
        self.dwork_expires = None   # jiffy the queued dwork runs at, None: not queued

    def __repr__(self):
        return (f"<bdi_writeback {self.bdi.name} dirty={len(self.b_dirty)} "
                f"io={len(self.b_io)} more_io={len(self.b_more_io)}>")


class BackingDevInfo:
    """struct backing_dev_info of a block device (its name is the device's ``MAJ:MIN``)."""

    __slots__ = ("name", "wb", "capabilities")

    def __init__(self, m, name: str, workfn):
        self.name = name
        self.capabilities = 0       # neither BDI_CAP_NO_ACCT_DIRTY nor NO_WRITEBACK
        self.wb = BdiWriteback(self, workfn, jiffies(m))

    def __repr__(self):
        return f"<backing_dev_info {self.name}>"


class WritebackState:
    """The globals of mm/page-writeback.c and the bdi_list of mm/backing-dev.c."""

    __slots__ = ("bdi_list", "ratelimit_pages", "dirty_limit", "bdp_ratelimits",
                 "dirty_throttle_leaks", "store_in_flight")

    def __init__(self, nr_cpus: int):
        self.bdi_list = []
        # the page a write fault is making writable while its task is throttled: its store
        # has not landed yet, so the model's synchronous flusher leaves it dirty (4.6's
        # flusher is asynchronous: the retried store lands before the I/O would clean it)
        self.store_in_flight = -1
        self.ratelimit_pages = 32           # the static initialiser; writeback_set_ratelimit
        self.dirty_limit = 0                # global_wb_domain.dirty_limit
        self.bdp_ratelimits = [0] * nr_cpus         # per-CPU
        self.dirty_throttle_leaks = [0] * nr_cpus   # per-CPU


def bdi_register(m, bdi) -> None:
    """Put a device's bdi on bdi_list (mm/backing-dev.c bdi_register)."""
    m.writeback.bdi_list.append(bdi)


def inode_to_wb(inode):
    """The bdi_writeback of an inode's filesystem, or None for a noop bdi (ramfs, shmem)."""
    sb = inode.sb
    bdi = getattr(sb, "s_bdi", None) if sb is not None else None
    return bdi.wb if bdi is not None else None


def wb_io_lists(wb):
    return (wb.b_dirty, wb.b_io, wb.b_more_io)


def inode_io_list_del(inode) -> None:
    """Take an inode off whichever writeback list holds it (fs/fs-writeback.c)."""
    wb = inode_to_wb(inode)
    if wb is None:
        return
    for lst in wb_io_lists(wb):
        if inode in lst:
            lst.remove(inode)
    if not any(wb_io_lists(wb)):
        wb.state &= ~(1 << WB_has_dirty_io)


def inode_io_list_move_locked(inode, wb, head: list) -> bool:
    """list_move the inode to the head of ``head``; True when the wb just got its first
    dirty inode (wb_io_lists_populated)."""
    for lst in wb_io_lists(wb):
        if inode in lst:
            lst.remove(inode)
            break
    head.insert(0, inode)
    if wb.state & (1 << WB_has_dirty_io):
        return False
    wb.state |= 1 << WB_has_dirty_io
    return True


# a dwork queued with no delay: any jiffy is at or past it, so the next tick runs it
DWORK_NOW = 0


def wb_wakeup(wb) -> None:
    """Wake the flusher now (mm/backing-dev.c wb_wakeup, mod_delayed_work with no delay):
    it runs at the next tick (``m.tick()``, ``m.run_for()``), when the machine steps it
    (``m.run_flusher()``) or when a throttled dirtier waits for it."""
    wb.wakeups += 1
    wb.dwork_expires = DWORK_NOW


def wb_wakeup_delayed(m, wb) -> None:
    """Queue the flusher's work dirty_writeback_centisecs from now, unless it is queued
    already (mm/backing-dev.c wb_wakeup_delayed: queue_delayed_work)."""
    wb.delayed_wakeup = True
    if wb.dwork_expires is None and wb.state & (1 << WB_registered):
        wb.dwork_expires = jiffies(m) + msecs_to_jiffies(
            m.sysctl["vm.dirty_writeback_centisecs"] * 10)


def wb_start_background_writeback(wb) -> None:
    """Ask the flusher for background writeback (fs/fs-writeback.c): a wake-up; the work
    is found by wb_check_background_flush."""
    wb_wakeup(wb)


def writeback_in_progress(wb) -> bool:
    return bool(wb.state & (1 << WB_writeback_running))


def __mark_inode_dirty(m, inode, flags: int) -> None:
    """Mark an inode dirty; the first time, stamp dirtied_when and queue it on its wb's
    b_dirty (fs/fs-writeback.c __mark_inode_dirty, the I_DIRTY_PAGES part: the model has
    no inode metadata to write). Here because mm calls it and mm never imports fs."""
    if inode.i_state & flags == flags:
        return
    was_dirty = inode.i_state & I_DIRTY
    inode.i_state |= flags
    if inode.i_state & I_SYNC:
        return                      # under writeback: requeue_inode will see the flag
    if inode.i_state & I_FREEING:
        return
    if was_dirty:
        return
    wb = inode_to_wb(inode)
    if wb is None:
        return
    inode.dirtied_when = jiffies(m)
    if inode_io_list_move_locked(inode, wb, wb.b_dirty):
        wb_wakeup_delayed(m, wb)


def check_writeback(m) -> None:
    """m.check(): every inode with dirty pages is I_DIRTY_PAGES and on its wb's lists,
    each listed inode once; nothing is left under writeback or in I_SYNC."""
    st = m.writeback
    if st is None:
        return
    listed = set()
    for bdi in st.bdi_list:
        wb = bdi.wb
        if writeback_in_progress(wb):
            raise KernelBug(f"{wb!r} left with WB_writeback_running")
        for lst in wb_io_lists(wb):
            for inode in lst:
                if id(inode) in listed:
                    raise KernelBug(f"ino {inode.i_ino} is on two writeback lists")
                listed.add(id(inode))
                if inode.i_state & I_SYNC:
                    raise KernelBug(f"ino {inode.i_ino} left in I_SYNC")
                if not inode.i_state & I_DIRTY:
                    raise KernelBug(f"ino {inode.i_ino} is on {wb!r} but not dirty")
        if any(wb_io_lists(wb)) != bool(wb.state & (1 << WB_has_dirty_io)):
            raise KernelBug(f"{wb!r}: WB_has_dirty_io does not match its lists")
    f = m.mem_map.f
    for mapping in (m.address_spaces or {}).values():
        if not mapping.account_dirty:
            continue
        inode = mapping.host
        if inode_to_wb(inode) is None:
            continue
        if any(f[pfn] & (1 << PG_dirty) for pfn in mapping.i_pages.values()):
            if not inode.i_state & I_DIRTY_PAGES or id(inode) not in listed:
                raise KernelBug(f"ino {inode.i_ino} has dirty pages but is not queued "
                                f"for writeback (i_state {inode.i_state:#x})")
