"""Dirty pages and their limits (mm/page-writeback.c).

* ``global_dirty_limits``, which ``/proc/vmstat`` prints as ``nr_dirty_threshold`` and
  ``nr_dirty_background_threshold``; ``writeback_set_ratelimit``.
* Dirtying and cleaning page-cache pages: set_page_dirty, account_page_dirtied (NR_DIRTIED,
  the task's nr_dirtied, the inode queued on its bdi_writeback), clear_page_dirty_for_io
  with page_mkclean (mm/rmap.c) so that a shared mapping faults again on its next write,
  cancel_dirty_page, the writeback flag.
* Writing a mapping's dirty pages: writeback_control, write_cache_pages, do_writepages.
  I/O is instant in the model: a page's PG_writeback is set and cleared inside its
  ->writepage call, so NR_WRITEBACK is back to 0 when any call returns.
* Throttling dirtiers: balance_dirty_pages_ratelimited and balance_dirty_pages at 4.6's
  thresholds (see balance_dirty_pages for what the model does without a wall clock).

The ``vm.dirty_*`` sysctls and their handlers are rows of kernel/sysctl.py's table; the
flusher (wb_workfn) is fs/fs_writeback.py.
"""

from ..arch.x86.page_types import PAGE_SIZE, PAGE_SHIFT
from ..errors import KernelBug
from .backing_dev import (inode_to_wb, __mark_inode_dirty, I_DIRTY_PAGES, WB_SYNC_NONE,
                          writeback_in_progress, wb_start_background_writeback)
from .mmzone import WMARK_HIGH
from .vmstat import global_page_state, zone_page_state
from ..include.vm_event_item import (NR_FREE_PAGES, NR_INACTIVE_FILE, NR_ACTIVE_FILE,
                                     NR_FILE_DIRTY, NR_DIRTIED, NR_WRITEBACK, NR_WRITTEN)
from .page import PAGE_MAPPING_ANON, PG_dirty, PG_writeback, PG_locked
from . import rmap                           # (rmap dirties pages through us)
from ..include.jiffies import jiffies

# task flag checked by domain_dirty_limits (include/linux/sched.h)
PF_LESS_THROTTLE = 0x00100000


def _div_round_up(a: int, b: int) -> int:
    return -(-a // b)


def global_dirtyable_memory(m) -> int:
    """Free pages above the reserves plus the file LRU pages, at least 1."""
    x = global_page_state(m, NR_FREE_PAGES)
    x -= min(x, m.pgdat.totalreserve_pages)
    x += global_page_state(m, NR_INACTIVE_FILE)
    x += global_page_state(m, NR_ACTIVE_FILE)
    return x + 1         # no highmem on x86-64: nothing to subtract


def global_dirty_limits(m) -> tuple:
    """(background threshold, dirty threshold) in pages (global_dirty_limits and
    domain_dirty_limits for the global domain)."""
    s = m.sysctl
    available = global_dirtyable_memory(m)
    if s["vm.dirty_bytes"]:
        thresh = _div_round_up(s["vm.dirty_bytes"], PAGE_SIZE)
    else:
        thresh = s["vm.dirty_ratio"] * available // 100
    if s["vm.dirty_background_bytes"]:
        bg_thresh = _div_round_up(s["vm.dirty_background_bytes"], PAGE_SIZE)
    else:
        bg_thresh = s["vm.dirty_background_ratio"] * available // 100
    if bg_thresh >= thresh:
        bg_thresh = thresh // 2
    tsk = m.current
    if tsk is not None and (getattr(tsk, "flags", 0) & PF_LESS_THROTTLE
                            or getattr(tsk, "rt_priority", 0) > 0):
        bg_thresh += bg_thresh // 4
        thresh += thresh // 4
    return bg_thresh, thresh


def zone_dirtyable_memory(zone) -> int:
    """Free pages above the zone's reserve plus its file LRU pages (mm/page-writeback.c);
    the reserve is what calculate_totalreserve_pages counts for the zone."""
    nr_pages = zone_page_state(zone, NR_FREE_PAGES)
    reserve = min(max(zone.lowmem_reserve) + zone.watermark[WMARK_HIGH], zone.managed_pages)
    nr_pages -= min(nr_pages, reserve)
    nr_pages += zone_page_state(zone, NR_INACTIVE_FILE)
    nr_pages += zone_page_state(zone, NR_ACTIVE_FILE)
    return nr_pages


def zone_dirty_limit(m, zone) -> int:
    """The zone's share of the dirty threshold (mm/page-writeback.c)."""
    zone_memory = zone_dirtyable_memory(zone)
    s = m.sysctl
    if s["vm.dirty_bytes"]:
        dirty = _div_round_up(s["vm.dirty_bytes"], PAGE_SIZE) * zone_memory \
            // global_dirtyable_memory(m)
    else:
        dirty = s["vm.dirty_ratio"] * zone_memory // 100
    tsk = m.current
    if tsk is not None and (tsk.flags & PF_LESS_THROTTLE or getattr(tsk, "rt_priority", 0) > 0):
        dirty += dirty // 4
    return dirty


def zone_dirty_ok(zone) -> bool:
    """Whether the zone holds no more dirty and writeback pages than its share of the
    dirty limit: __GFP_WRITE allocations (page-cache writes) skip zones that do, spreading
    dirty pages over the zones (mm/page-writeback.c)."""
    m = zone.zone_pgdat.machine
    limit = zone_dirty_limit(m, zone)
    return zone_page_state(zone, NR_FILE_DIRTY) + zone_page_state(zone, NR_WRITEBACK) <= limit


# -- dirty pages of the page cache (set_page_dirty and friends) --------------------------------

_PG_DIRTY = 1 << PG_dirty
_PG_WRITEBACK = 1 << PG_writeback
_U64 = 0xFFFFFFFFFFFFFFFF
LONG_MAX = (1 << 63) - 1
LLONG_MAX = LONG_MAX


def page_mapping(m, pfn: int):
    """The address_space of a page-cache page, or None (mm/util.c page_mapping)."""
    mapping = int(m.mem_map.mapv[pfn])
    if not mapping or mapping & PAGE_MAPPING_ANON:
        return None
    return m.address_spaces.get(mapping >> 2)


def account_page_dirtied(m, pfn: int, mapping) -> None:
    """A page just became dirty: count it where its mapping accounts dirty pages, and
    charge it to the dirtying task (current->nr_dirtied) and this CPU's bdp_ratelimits."""
    if mapping.account_dirty:
        z = m.page_zone(pfn)
        z.vm_stat[NR_FILE_DIRTY] += 1
        z.vm_stat[NR_DIRTIED] += 1
        tsk = m.current
        if tsk is not None:
            tsk.nr_dirtied += 1
        st = m.writeback
        if st is not None:
            st.bdp_ratelimits[m.current_cpu] += 1


def account_page_cleaned(m, pfn: int, mapping) -> None:
    """A dirty page is cleaned without writeback (truncate, cancel_dirty_page)."""
    if mapping.account_dirty:
        m.page_zone(pfn).vm_stat[NR_FILE_DIRTY] -= 1


def __set_page_dirty_nobuffers(m, pfn: int) -> bool:
    """Set PG_dirty, account it and queue the inode for writeback (mm/page-writeback.c);
    True when newly dirtied."""
    f = m.mem_map.f
    if f[pfn] & _PG_DIRTY:
        return False
    f[pfn] = f[pfn] | _PG_DIRTY
    mapping = page_mapping(m, pfn)
    if mapping is not None:
        account_page_dirtied(m, pfn, mapping)
        if mapping.host is not None:
            __mark_inode_dirty(m, mapping.host, I_DIRTY_PAGES)
    return True


def __set_page_dirty_no_writeback(m, pfn: int) -> bool:
    """set_page_dirty of a filesystem that never writes back (ramfs, libfs.c)."""
    f = m.mem_map.f
    if f[pfn] & _PG_DIRTY:
        return False
    f[pfn] = f[pfn] | _PG_DIRTY
    return True


def set_page_dirty(m, pfn: int) -> bool:
    """Dirty a page through its mapping's a_ops (mm/page-writeback.c set_page_dirty)."""
    mapping = page_mapping(m, pfn)
    if mapping is not None:
        spd = mapping.a_ops.set_page_dirty if mapping.a_ops is not None else None
        if spd is None:
            spd = __set_page_dirty_nobuffers
        return spd(m, pfn)
    f = m.mem_map.f
    if not f[pfn] & _PG_DIRTY:
        f[pfn] = f[pfn] | _PG_DIRTY
        return True
    return False


def cancel_dirty_page(m, pfn: int) -> None:
    """Clean a page that is being truncated (mm/page-writeback.c cancel_dirty_page)."""
    f = m.mem_map.f
    if f[pfn] & _PG_DIRTY:
        f[pfn] = f[pfn] & ~_PG_DIRTY & _U64
        mapping = page_mapping(m, pfn)
        if mapping is not None:
            account_page_cleaned(m, pfn, mapping)


def clear_page_dirty_for_io(m, pfn: int) -> bool:
    """Clear PG_dirty of a locked page before writing it out; True when it was dirty
    (mm/page-writeback.c). Where the mapping accounts dirty pages, first write-protect
    and clean every shared PTE of the page (page_mkclean), moving a PTE's dirtiness to
    the page, so that a later write through a mapping faults and dirties it again."""
    f = m.mem_map.f
    if not f[pfn] & (1 << PG_locked):
        raise KernelBug(f"kernel BUG at mm/page-writeback.c: clear_page_dirty_for_io: "
                        f"pfn {pfn:#x} is not locked")
    mapping = page_mapping(m, pfn)
    if mapping is not None and mapping.account_dirty:
        if rmap.page_mkclean(m, pfn):
            set_page_dirty(m, pfn)
        if f[pfn] & _PG_DIRTY:
            f[pfn] = f[pfn] & ~_PG_DIRTY & _U64
            m.page_zone(pfn).vm_stat[NR_FILE_DIRTY] -= 1
            return True
        return False
    if not f[pfn] & _PG_DIRTY:
        return False
    f[pfn] = f[pfn] & ~_PG_DIRTY & _U64
    return True


def set_page_writeback(m, pfn: int) -> None:
    """The page's write is submitted (test_set_page_writeback): PG_writeback, NR_WRITEBACK."""
    f = m.mem_map.f
    if f[pfn] & _PG_WRITEBACK:
        raise KernelBug(f"set_page_writeback: pfn {pfn:#x} is already under writeback")
    f[pfn] = f[pfn] | _PG_WRITEBACK
    m.page_zone(pfn).vm_stat[NR_WRITEBACK] += 1


def end_page_writeback(m, pfn: int) -> None:
    """I/O finished (mm/filemap.c end_page_writeback → test_clear_page_writeback):
    NR_WRITEBACK down, NR_WRITTEN up."""
    f = m.mem_map.f
    if not f[pfn] & _PG_WRITEBACK:
        raise KernelBug(f"kernel BUG at mm/filemap.c: end_page_writeback: pfn {pfn:#x} "
                        f"is not under writeback")
    f[pfn] = f[pfn] & ~_PG_WRITEBACK & _U64
    z = m.page_zone(pfn)
    z.vm_stat[NR_WRITEBACK] -= 1
    z.vm_stat[NR_WRITTEN] += 1


# -- writing a mapping's dirty pages (write_cache_pages) ---------------------------------------

class WritebackControl:
    """struct writeback_control: what one do_writepages call should write."""

    __slots__ = ("nr_to_write", "pages_skipped", "range_start", "range_end", "sync_mode",
                 "for_kupdate", "for_background", "tagged_writepages", "for_sync",
                 "range_cyclic")

    def __init__(self, sync_mode=WB_SYNC_NONE, nr_to_write=LONG_MAX, range_start=0,
                 range_end=LLONG_MAX, range_cyclic=False, for_kupdate=False,
                 for_background=False, tagged_writepages=False, for_sync=False):
        self.sync_mode = sync_mode
        self.nr_to_write = nr_to_write
        self.pages_skipped = 0
        self.range_start = range_start
        self.range_end = range_end
        self.range_cyclic = range_cyclic
        self.for_kupdate = for_kupdate
        self.for_background = for_background
        self.tagged_writepages = tagged_writepages
        self.for_sync = for_sync


def _dirty_indices(m, mapping, first: int, last: int) -> list:
    """The indices in [first, last] whose page is dirty, in order (the
    PAGECACHE_TAG_DIRTY / TOWRITE lookup; the model keeps no radix-tree tags)."""
    f = m.mem_map.f
    return sorted(i for i, pfn in mapping.i_pages.items()
                  if first <= i <= last and f[pfn] & _PG_DIRTY)


def write_cache_pages(m, mapping, wbc) -> int:
    """Write the dirty pages of ``mapping`` that ``wbc`` selects through ->writepage, in
    index order: a byte range, or (range_cyclic) from where the last pass stopped round to
    it again; WB_SYNC_NONE stops when nr_to_write runs out (mm/page-writeback.c).
    0 or the first -errno."""
    ret = 0
    done = False
    if wbc.range_cyclic:
        writeback_index = mapping.writeback_index
        index = writeback_index
        cycled = index == 0
        end = _U64
        range_whole = False
    else:
        index = wbc.range_start >> PAGE_SHIFT
        end = wbc.range_end >> PAGE_SHIFT
        range_whole = wbc.range_start == 0 and wbc.range_end == LLONG_MAX
        cycled = True
    f = m.mem_map.f
    in_flight = m.writeback.store_in_flight
    while True:
        # tag_pages_for_writeback for WB_SYNC_ALL: the set is fixed before writing starts,
        # so pages dirtied meanwhile wait for the next call
        todo = _dirty_indices(m, mapping, index, end)
        done_index = index
        for idx in todo:
            pfn = mapping.i_pages.get(idx)
            if pfn is None or pfn == in_flight:
                continue
            done_index = idx
            f[pfn] = f[pfn] | (1 << PG_locked)             # lock_page
            if not f[pfn] & _PG_DIRTY or not clear_page_dirty_for_io(m, pfn):
                f[pfn] = f[pfn] & ~(1 << PG_locked) & _U64
                continue
            err = mapping.a_ops.writepage(m, pfn)          # unlocks the page
            if err:
                ret = err
                done_index = idx + 1
                done = True
                break
            wbc.nr_to_write -= 1
            if wbc.nr_to_write <= 0 and wbc.sync_mode == WB_SYNC_NONE:
                done = True
                break
        if not cycled and not done:
            cycled = True
            index = 0
            end = writeback_index - 1
            continue
        break
    if wbc.range_cyclic or (range_whole and wbc.nr_to_write > 0):
        mapping.writeback_index = done_index
    return ret


def generic_writepages(m, mapping, wbc) -> int:
    """write_cache_pages through the mapping's ->writepage (mm/page-writeback.c)."""
    if mapping.a_ops is None or mapping.a_ops.writepage is None:
        return 0                # no ->writepage: nothing to write (ramfs, shmem)
    return write_cache_pages(m, mapping, wbc)


def do_writepages(m, mapping, wbc) -> int:
    """Write a mapping's dirty pages as ``wbc`` asks (mm/page-writeback.c)."""
    if wbc.nr_to_write <= 0:
        return 0
    return generic_writepages(m, mapping, wbc)


# -- throttling dirtiers (balance_dirty_pages) -------------------------------------------------

def writeback_set_ratelimit(m) -> None:
    """Recompute ratelimit_pages and the domain's dirty_limit from the current limits
    (mm/page-writeback.c; at boot and when vm.dirty_ratio or vm.dirty_bytes changes)."""
    st = m.writeback
    _, dirty_thresh = global_dirty_limits(m)
    st.dirty_limit = dirty_thresh
    st.ratelimit_pages = max(16, dirty_thresh // (m.nr_cpus * 32))


def dirty_freerun_ceiling(thresh: int, bg_thresh: int) -> int:
    """Below this many dirty pages nobody is throttled (mm/page-writeback.c)."""
    return (thresh + bg_thresh) // 2


def dirty_poll_interval(dirty: int, thresh: int) -> int:
    """Pages a task may dirty before it checks again: sqrt of the room left, as a power
    of two (mm/page-writeback.c)."""
    if thresh > dirty:
        return 1 << ((thresh - dirty).bit_length() - 1 >> 1)
    return 1


def wb_over_bg_thresh(m, wb) -> bool:
    """More dirty pages than the background threshold (mm/page-writeback.c; one device,
    so the wb's share of the threshold is all of it)."""
    bg_thresh, _ = global_dirty_limits(m)
    return global_page_state(m, NR_FILE_DIRTY) > bg_thresh


def balance_dirty_pages(m, mapping, wb, pages_dirtied: int) -> None:
    """Make a task that dirtied pages wait when too much of memory is dirty
    (mm/page-writeback.c balance_dirty_pages).

    At or below the freerun ceiling ((thresh + bg_thresh) / 2) nothing happens but the
    next check point (nr_dirtied_pause = dirty_poll_interval). Above it the flusher is
    woken for background writeback. 4.6 then pauses the task for a time worked out from
    the estimated write bandwidth and the distance to the setpoint (pos_ratio); the model
    has no wall clock, so below the limit (``vm.dirty_bytes`` / ``dirty_ratio``) it only
    sets the next check point, and above the limit the task waits for the flusher: it
    runs the flusher's work function (background writeback down to bg_thresh, in 4.6's
    chunks) and checks again. One device: the wb's thresholds are the global ones.
    """
    tsk = m.current
    dirty_exceeded = False
    bg_thresh = 0
    nr_reclaimable = 0
    while True:
        now = jiffies(m)
        nr_reclaimable = global_page_state(m, NR_FILE_DIRTY)
        dirty = nr_reclaimable + global_page_state(m, NR_WRITEBACK)
        bg_thresh, thresh = global_dirty_limits(m)
        if dirty <= dirty_freerun_ceiling(thresh, bg_thresh):
            tsk.dirty_paused_when = now
            tsk.nr_dirtied = 0
            tsk.nr_dirtied_pause = dirty_poll_interval(dirty, thresh)
            break
        if not writeback_in_progress(wb):
            wb_start_background_writeback(wb)
        dirty_exceeded = dirty > thresh
        if dirty_exceeded and not wb.dirty_exceeded:
            wb.dirty_exceeded = 1
        tsk.dirty_paused_when = now
        tsk.nr_dirtied = 0
        tsk.nr_dirtied_pause = dirty_poll_interval(dirty, thresh)
        if not dirty_exceeded:
            break
        # the task sleeps while the flusher writes (io_schedule_timeout)
        if not wb.workfn(m, wb):
            break           # nothing could be written: 4.6 would pause and return
    if not dirty_exceeded and wb.dirty_exceeded:
        wb.dirty_exceeded = 0
    if writeback_in_progress(wb):
        return
    if nr_reclaimable > bg_thresh:
        wb_start_background_writeback(wb)


def balance_dirty_pages_ratelimited(m, mapping, page: int = -1) -> None:
    """A task dirtied a page of ``mapping``: every nr_dirtied_pause pages it dirtied (8
    while the device is over its limit), or when this CPU's tasks dirtied
    ratelimit_pages, check the dirty limits (mm/page-writeback.c). ``page``: the page a
    write fault made writable, whose store lands after this returns."""
    if not mapping.account_dirty:
        return
    wb = inode_to_wb(mapping.host)
    tsk = m.current
    if wb is None or tsk is None:
        return
    st = m.writeback
    ratelimit = tsk.nr_dirtied_pause
    if wb.dirty_exceeded:
        ratelimit = min(ratelimit, 32 >> 2)          # 32 KiB in pages
    cpu = m.current_cpu
    if tsk.nr_dirtied >= ratelimit:
        st.bdp_ratelimits[cpu] = 0
    elif st.bdp_ratelimits[cpu] >= st.ratelimit_pages:
        st.bdp_ratelimits[cpu] = 0
        ratelimit = 0
    leaks = st.dirty_throttle_leaks[cpu]
    if leaks > 0 and tsk.nr_dirtied < ratelimit:
        n = min(leaks, ratelimit - tsk.nr_dirtied)
        st.dirty_throttle_leaks[cpu] -= n
        tsk.nr_dirtied += n
    if tsk.nr_dirtied >= ratelimit:
        st.store_in_flight = page
        try:
            balance_dirty_pages(m, mapping, wb, tsk.nr_dirtied)
        finally:
            st.store_in_flight = -1
