"""Slab shrinkers (mm/vmscan.c): register_shrinker, shrink_slab and do_shrink_slab, which
put pressure on caches outside the LRU (the dentry and inode caches of each filesystem)
in proportion to the LRU pages reclaim scanned, and drop_slab for vm.drop_caches=2.
"""

from ...include.vm_event_item import VM_EVENT

SHRINK_BATCH = 128
DEFAULT_SEEKS = 2
SHRINK_STOP = -1                # scan_objects: nothing can be freed in this context
SHRINKER_NUMA_AWARE = 1 << 0
SHRINKER_MEMCG_AWARE = 1 << 1


class Shrinker:
    """struct shrinker: a cache's count_objects/scan_objects pair and the scan work left
    over from earlier passes (nr_deferred; one node)."""

    __slots__ = ("ident", "count_objects", "scan_objects", "seeks", "batch", "flags",
                 "nr_deferred")

    def __init__(self, ident: str, count_objects, scan_objects, seeks: int = DEFAULT_SEEKS,
                 batch: int = 0, flags: int = 0):
        self.ident = ident
        self.count_objects = count_objects      # (shrinker, sc) -> freeable objects
        self.scan_objects = scan_objects        # (shrinker, sc) -> freed, or SHRINK_STOP
        self.seeks = seeks
        self.batch = batch
        self.flags = flags
        self.nr_deferred = 0

    def __repr__(self):
        return f"<shrinker {self.ident} deferred={self.nr_deferred}>"


class ShrinkControl:
    """struct shrink_control: what one shrinker call is asked to do."""

    __slots__ = ("gfp_mask", "nid", "nr_to_scan", "kswapd")

    def __init__(self, gfp_mask: int, kswapd: bool = False):
        self.gfp_mask = gfp_mask
        self.nid = 0
        self.nr_to_scan = 0
        self.kswapd = kswapd        # current_is_kswapd(), for the inodesteal counters


class ReclaimState:
    """struct reclaim_state: slab pages freed while a reclaimer runs (__free_slab adds
    to it); shrink_zone adds them to the pages reclaimed."""

    __slots__ = ("reclaimed_slab",)

    def __init__(self):
        self.reclaimed_slab = 0


def register_shrinker(m, shrinker: Shrinker) -> None:
    """Put a shrinker on the machine's shrinker_list (mm/vmscan.c register_shrinker)."""
    m.shrinker_list.append(shrinker)


def unregister_shrinker(m, shrinker: Shrinker) -> None:
    m.shrinker_list.remove(shrinker)


def do_shrink_slab(m, shrinkctl: ShrinkControl, shrinker: Shrinker, nr_scanned: int,
                   nr_eligible: int) -> int:
    """Scan one shrinker's objects in proportion to ``nr_scanned`` of ``nr_eligible`` LRU
    pages, in batches, carrying what is left over to the next call; the objects freed
    (mm/vmscan.c do_shrink_slab)."""
    freeable = shrinker.count_objects(shrinker, shrinkctl)
    if freeable == 0:
        return 0
    nr = shrinker.nr_deferred
    shrinker.nr_deferred = 0
    delta = (4 * nr_scanned) // shrinker.seeks
    delta = delta * freeable // (nr_eligible + 1)
    total_scan = nr + delta
    if total_scan < 0:
        m.log.pr_err(f"shrink_slab: {shrinker.ident} negative objects to delete "
                     f"nr={total_scan}")
        total_scan = freeable
    # a large deferred count alone may not empty the whole cache
    if delta < freeable // 4:
        total_scan = min(total_scan, freeable // 2)
    if total_scan > freeable * 2:
        total_scan = freeable * 2
    tp = m.tp.mm_shrink_slab_start
    if tp is not None:
        tp(_scan_name(shrinker), shrinker.ident, shrinkctl.nid, nr, shrinkctl.gfp_mask,
           nr_scanned, nr_eligible, freeable, delta, total_scan)
    batch_size = shrinker.batch or SHRINK_BATCH
    freed = 0
    events = m.pgdat.vm_events
    # below a batch only when the pass wants more than the cache holds: tight on memory
    while total_scan >= batch_size or total_scan >= freeable:
        nr_to_scan = min(batch_size, total_scan)
        shrinkctl.nr_to_scan = nr_to_scan
        ret = shrinker.scan_objects(shrinker, shrinkctl)
        if ret == SHRINK_STOP:
            break
        freed += ret
        events[VM_EVENT["slabs_scanned"]] += nr_to_scan
        total_scan -= nr_to_scan
    if total_scan > 0:
        shrinker.nr_deferred += total_scan
    tp = m.tp.mm_shrink_slab_end
    if tp is not None:
        tp(_scan_name(shrinker), shrinker.ident, shrinkctl.nid, nr, shrinker.nr_deferred,
           freed, total_scan)
    return freed


def _scan_name(shrinker: Shrinker) -> str:
    """The shrinker's scan_objects by name: what the shrink_slab events print for %pF."""
    return getattr(shrinker.scan_objects, "__name__", "scan_objects")


def shrink_slab(m, gfp_mask: int, nid: int, memcg, nr_scanned: int, nr_eligible: int,
                kswapd: bool = False) -> int:
    """Every registered shrinker, for the global (not memcg) pass: the objects freed
    (mm/vmscan.c shrink_slab; the model has no kmem accounting, so a memcg pass does
    nothing)."""
    if memcg is not None:
        return 0
    if nr_scanned == 0:
        nr_scanned = 32                         # SWAP_CLUSTER_MAX
    freed = 0
    for shrinker in list(m.shrinker_list):
        sc = ShrinkControl(gfp_mask, kswapd)
        freed += do_shrink_slab(m, sc, shrinker, nr_scanned, nr_eligible)
    return freed


def drop_slab(m, gfp_mask: int) -> None:
    """vm.drop_caches=2: shrink every cache until a pass frees ten objects or fewer
    (mm/vmscan.c drop_slab → drop_slab_node)."""
    while True:
        freed = shrink_slab(m, gfp_mask, 0, None, 1000, 1000)
        if freed <= 10:
            return
