"""The kernel threads and delayed work that 4.6 runs on the timer tick, as timers of the
model's tick (linuxvm/kernel/time.py): what wakes each one and how long it sleeps.

* **The flusher** (fs/fs-writeback.c wb_workfn on bdi_wq): each device's ``wb.dwork``
  falls due dirty_writeback_centisecs after the first inode is dirtied, at once when
  woken (background writeback, queued work), and queues itself again while dirty inodes
  are left (linuxvm/mm/backing_dev.py ``dwork_expires``).
* **khugepaged** (mm/huge_memory.c khugepaged, khugepaged_wait_work): while mms are
  registered it scans ``pages_to_scan`` pages every scan_sleep_millisecs; with none it
  sleeps until one registers and then runs at the next tick; a pass whose huge page
  allocation failed is followed by alloc_sleep_millisecs more (4.6 sleeps that long
  between the failure and its one retry; the model's pass retries at once and sleeps
  after it).
* **kswapd** (mm/vmscan.c kswapd): an allocation below the low watermark runs it at once,
  as before; a pass that left the node unbalanced goes round again at the next tick.
* **vmstat** (mm/vmstat.c vmstat_shepherd, vmstat_update every stat_interval): the model
  folds every counter change into the zone and global counters as it happens, which is
  what vmstat_update would leave, so there is nothing for a timer to fold.
* **The OOM reaper** (mm/oom_kill.c oom_reaper): the killer's one-jiffy wait
  (schedule_timeout_killable(1), linuxvm/mm/oom_kill.py ``oom_schedule``) lets it run
  within the allocation that killed; the wait ends on the next tick of the clock.
"""

from ..include.jiffies import jiffies, msecs_to_jiffies
from ..mm import khugepaged
from ..mm.huge_memory import khugepaged_enabled
from ..mm.vmscan.reclaim import kswapd_run
from ..include.vm_event_item import VM_EVENT
from .time import Timer, add_timer

_THP_COLLAPSE_ALLOC_FAILED = VM_EVENT["thp_collapse_alloc_failed"]


# -- the flusher ---------------------------------------------------------------------------

def _wb_expires(m):
    best = None
    for bdi in m.writeback.bdi_list:
        e = bdi.wb.dwork_expires
        if e is not None and (best is None or e < best):
            best = e
    return best


def wb_dwork_timer(m) -> None:
    """Run the flusher of each device whose delayed work is due (delayed_work_timer_fn
    queueing wb_workfn)."""
    now = jiffies(m)
    for bdi in list(m.writeback.bdi_list):
        wb = bdi.wb
        if wb.dwork_expires is not None and wb.dwork_expires <= now:
            wb.workfn(m, wb)


# -- khugepaged ----------------------------------------------------------------------------

class KhugepagedThread:
    """khugepaged's sleep: the jiffy its timed sleep ends, or None while it waits for an
    mm to register (wait_event_freezable on khugepaged_wait)."""

    __slots__ = ("sleep_until",)

    def __init__(self):
        self.sleep_until = None


def khugepaged_has_work(m) -> bool:
    return bool(khugepaged._scan(m).mm_head) and khugepaged_enabled(m)


def _khugepaged_expires(m, k):
    thp = m.transparent_hugepage
    if thp is None or not thp.khugepaged_thread:
        k.sleep_until = None           # stopped: a new thread starts with a scan
        return None
    if k.sleep_until is not None:
        return k.sleep_until
    # waiting for work: an mm registering wakes it (the wake-up of __khugepaged_enter)
    return jiffies(m) if khugepaged_has_work(m) else None


def _khugepaged_run(m, k) -> None:
    """One turn of khugepaged's loop: khugepaged_do_scan, then khugepaged_wait_work."""
    thp = m.transparent_hugepage
    failed = m.pgdat.vm_events[_THP_COLLAPSE_ALLOC_FAILED]
    khugepaged.khugepaged_do_scan(m)
    now = jiffies(m)
    sleep = 0
    if m.pgdat.vm_events[_THP_COLLAPSE_ALLOC_FAILED] != failed:
        sleep += msecs_to_jiffies(thp.khugepaged_alloc_sleep_millisecs)
    if khugepaged_has_work(m):
        sleep += msecs_to_jiffies(thp.khugepaged_scan_sleep_millisecs)
        k.sleep_until = now + sleep
    elif sleep:
        k.sleep_until = now + sleep
    else:
        k.sleep_until = None


# -- kswapd --------------------------------------------------------------------------------

def _kswapd_expires(m):
    return jiffies(m) if m.pgdat.kswapd.again is not None else None


def kswapd_timer(m) -> None:
    """kswapd's premature sleep ends: it goes round again for the order it last had."""
    k = m.pgdat.kswapd
    order, classzone_idx = k.again
    k.again = None
    if k.max_order < order:
        k.max_order = order
    k.classzone_idx = min(k.classzone_idx, classzone_idx)
    kswapd_run(m)


def kthreads_init(m) -> None:
    """Register the timers of the kernel threads the model runs on its tick."""
    add_timer(m, Timer("writeback", _wb_expires, wb_dwork_timer))
    k = KhugepagedThread()
    add_timer(m, Timer("khugepaged", lambda m: _khugepaged_expires(m, k),
                       lambda m: _khugepaged_run(m, k)))
    add_timer(m, Timer("kswapd", _kswapd_expires, kswapd_timer))
