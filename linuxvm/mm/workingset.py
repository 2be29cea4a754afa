"""Workingset detection (mm/workingset.c): a page-cache page reclaim evicts leaves a
shadow entry in its slot recording the zone's eviction clock (``inactive_age``); when the
page is read in again, the distance between then and now says whether it would have
stayed cached with a larger active list, and if so it comes back active.

The shadow entries live in ``mapping.shadows`` (index -> shadow), the radix tree's
exceptional entries (``nrexceptional`` is its length). The shadow-node shrinker
(workingset_shadow_nodes, WORKINGSET_NODERECLAIM) is not modelled: shadows stay until
their slot is refilled, truncated or the inode goes.
"""

from ..errors import KernelBug
from ..include.vm_event_item import WORKINGSET_REFAULT, WORKINGSET_ACTIVATE, NR_ACTIVE_FILE
from .page import PG_lru, PG_locked

# 64-bit, CONFIG_NODES_SHIFT 6, CONFIG_MEMCG's 16-bit ids: the eviction clock keeps the rest
RADIX_TREE_EXCEPTIONAL_ENTRY = 2
RADIX_TREE_EXCEPTIONAL_SHIFT = 2
ZONES_SHIFT = 2
NODES_SHIFT = 6
MEM_CGROUP_ID_SHIFT = 16
EVICTION_SHIFT = RADIX_TREE_EXCEPTIONAL_ENTRY + ZONES_SHIFT + NODES_SHIFT + MEM_CGROUP_ID_SHIFT
EVICTION_MASK = (1 << (64 - EVICTION_SHIFT)) - 1


def pack_shadow(zone_idx: int, eviction: int) -> int:
    """The shadow value 4.6 stores: eviction clock, memcg id 0, node 0, zone, tag."""
    eviction &= EVICTION_MASK
    v = eviction << MEM_CGROUP_ID_SHIFT
    v = v << NODES_SHIFT
    v = (v << ZONES_SHIFT) | zone_idx
    return (v << RADIX_TREE_EXCEPTIONAL_SHIFT) | RADIX_TREE_EXCEPTIONAL_ENTRY


def unpack_shadow(shadow: int) -> tuple:
    """(zone index, eviction clock) of a shadow entry."""
    v = shadow >> RADIX_TREE_EXCEPTIONAL_SHIFT
    zone_idx = v & ((1 << ZONES_SHIFT) - 1)
    v >>= ZONES_SHIFT + NODES_SHIFT + MEM_CGROUP_ID_SHIFT
    return zone_idx, v


def workingset_eviction(m, pfn: int) -> int:
    """A file page is leaving the cache by reclaim: tick its zone's eviction clock and
    return the shadow to leave in its slot (mm/workingset.c)."""
    f = m.mem_map.f[pfn]
    if f & (1 << PG_lru) or m.mem_map.rc[pfn] or not f & (1 << PG_locked):
        raise KernelBug(f"workingset_eviction: pfn {pfn:#x} must be locked, off the LRU and "
                        f"frozen")
    zone = m.page_zone(pfn)
    lruvec = m.lru.lruvecs[zone.idx]
    lruvec.inactive_age += 1
    return pack_shadow(zone.idx, lruvec.inactive_age)


def workingset_refault(m, shadow: int) -> bool:
    """An evicted page is read in again: whether its refault distance fits in the active
    file list, so that it should start active (mm/workingset.c)."""
    zone_idx, eviction = unpack_shadow(shadow)
    zone = m.zones[zone_idx]
    lruvec = m.lru.lruvecs[zone_idx]
    refault_distance = (lruvec.inactive_age - eviction) & EVICTION_MASK
    zone.vm_stat[WORKINGSET_REFAULT] += 1
    if refault_distance <= zone.vm_stat[NR_ACTIVE_FILE]:
        zone.vm_stat[WORKINGSET_ACTIVATE] += 1
        return True
    return False


def workingset_activation(m, pfn: int) -> None:
    """A page is being activated: the inactive list is shorter by one, which ages it like
    an eviction does (mm/workingset.c)."""
    m.lru.lruvecs[m.page_zone(pfn).idx].inactive_age += 1
