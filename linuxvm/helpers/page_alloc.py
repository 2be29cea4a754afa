"""Buddy-allocator helpers (mm/page_alloc.c state, drgn style): zones, the free blocks on
every ``free_area[order].free_list[migratetype]`` and the pages on the per-CPU lists.

>>> [z.name for z in for_each_zone(m)]
['DMA', 'DMA32', 'Normal', 'Movable']
"""

from collections import namedtuple

from ..mm.mmzone import MAX_ORDER, MIGRATE_TYPES, MIGRATE_PCPTYPES, migratetype_names
from .mm import Page

FreeBlock = namedtuple("FreeBlock", "zone order migratetype page")
FreeBlock.__doc__ = ("One free block: its zone, order, migratetype (a name of "
                     "migratetype_names) and the struct page * of its first frame.")
PcpPage = namedtuple("PcpPage", "zone cpu migratetype page")
PcpPage.__doc__ = "One page on a CPU's per_cpu_pages list of a zone."


def _zones(m_or_zone):
    if hasattr(m_or_zone, "free_area") and hasattr(m_or_zone, "zone_pgdat"):
        return [m_or_zone]
    if hasattr(m_or_zone, "pgdat"):
        return list(m_or_zone.pgdat.node_zones)
    raise TypeError(f"expected a Machine or a zone, not {m_or_zone!r}")


def for_each_online_pgdat(m):
    """Yield each node's ``pg_data_t`` (one node: the model has no NUMA).

    >>> len(list(for_each_online_pgdat(m)))
    1
    """
    _zones(m)
    yield m.pgdat


def for_each_zone(m):
    """Yield every ``struct zone`` of every node, populated or not (for_each_zone).

    >>> [z.present_pages > 0 for z in for_each_zone(m)]
    [True, True, False, False]
    """
    yield from _zones(m)


def for_each_free_area(m_or_zone):
    """Yield a ``FreeBlock`` for every block on the buddy free lists of one zone or of all
    zones: by zone, then order, then migratetype, in list order (the lists __rmqueue_smallest
    takes from).

    >>> b = next(for_each_free_area(m)); (b.zone.name, b.order, b.migratetype)
    ('DMA', 0, 'Unmovable')
    >>> vmstat = dict(l.split() for l in m.proc.read("/proc/vmstat").splitlines())
    >>> sum(1 << b.order for b in for_each_free_area(m)) == int(vmstat["nr_free_pages"])
    True
    """
    for zone in _zones(m_or_zone):
        mm = zone.mem_map
        machine = zone.zone_pgdat.machine
        n = mm.nr_frames
        for order in range(MAX_ORDER):
            area = zone.free_area[order]
            for mt in range(MIGRATE_TYPES):
                for pfn in mm.list_entries(area.free_list[mt], n):
                    yield FreeBlock(zone, order, migratetype_names[mt], Page(machine, pfn))


def for_each_pcp_page(m_or_zone):
    """Yield a ``PcpPage`` for every page on the per-CPU free lists (zone->pageset[cpu]
    .pcp.lists[migratetype]), by zone, CPU and list.

    >>> pages = list(for_each_pcp_page(m))
    >>> len(pages) == sum(ps.pcp.count for z in for_each_zone(m) for ps in z.pageset)
    True
    """
    for zone in _zones(m_or_zone):
        mm = zone.mem_map
        machine = zone.zone_pgdat.machine
        n = mm.nr_frames
        for cpu, ps in enumerate(zone.pageset):
            for mt in range(MIGRATE_PCPTYPES):
                for pfn in mm.list_entries(ps.pcp.lists[mt], n):
                    yield PcpPage(zone, cpu, migratetype_names[mt], Page(machine, pfn))
