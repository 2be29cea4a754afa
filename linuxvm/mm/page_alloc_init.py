"""Setting up the page allocator at boot and when its sysctls change: handing boot memory
to the buddy lists, pcp batch and high, watermarks, lowmem_reserve, totalreserve_pages and
min_free_kbytes (mm/page_alloc.c, mm/nobootmem.c __free_pages_memory, mm/huge_memory.c
set_recommended_min_free_kbytes, mm/vmstat.c calculate_normal_threshold).
"""

from math import isqrt

import numpy as np

from . import gfp as G
from .gfp import MAX_NR_ZONES
from .mmzone import (MAX_ORDER, pageblock_nr_pages, MIGRATE_PCPTYPES, WMARK_MIN, WMARK_LOW,
                     WMARK_HIGH)
from .page import PG_reserved
from .page_alloc import __free_pages, free_one_page
from ..include.vm_event_item import NR_ALLOC_BATCH, PGFREE

_NOT_RESERVED = np.uint64(0xFFFFFFFFFFFFFFFF & ~(1 << PG_reserved))


def __free_pages_boot_core(pgdat, page: int, order: int) -> None:
    """Hand a block of boot memory to the buddy allocator (mm/page_alloc.c)."""
    mm = pgdat.mem_map
    nr = 1 << order
    mm.flags[page:page + nr] &= _NOT_RESERVED
    mm._refcount[page:page + nr] = 0
    zone = pgdat.node_zones[int(mm.flags[page]) >> 62]
    zone.managed_pages += nr
    # boot_pageset has high 0 / batch 1 at this point: order-0 frees reach buddy at once
    pgdat.vm_events[PGFREE] += nr
    free_one_page(zone, page, page, order, zone.pb.get_pageblock_migratetype(page))


def __free_pages_memory(pgdat, start: int, end: int) -> None:
    """Free [start, end) in the largest naturally aligned blocks (mm/nobootmem.c)."""
    while start < end:
        order = min(MAX_ORDER - 1, (start & -start).bit_length() - 1 if start else MAX_ORDER - 1)
        while start + (1 << order) > end:
            order -= 1
        __free_pages_boot_core(pgdat, start, order)
        start += 1 << order


def free_reserved_page(pgdat, page: int, cpu: int = 0) -> None:
    """Give a reserved page (e.g. __init memory) to the allocator (free_reserved_page)."""
    mm = pgdat.mem_map
    mm.clear(page, PG_reserved)
    mm.rc[page] = 1
    zone = pgdat.node_zones[mm.f[page] >> 62]
    zone.managed_pages += 1
    __free_pages(pgdat, page, 0, cpu)


def zone_batchsize(zone) -> int:
    batch = zone.managed_pages // 1024
    if batch * 4096 > 512 * 1024:
        batch = (512 * 1024) // 4096
    batch //= 4
    if batch < 1:
        batch = 1
    b = batch + batch // 2
    return (1 << (b.bit_length() - 1)) - 1


def pageset_set_high_and_batch(zone, pcp, percpu_pagelist_fraction: int) -> None:
    if percpu_pagelist_fraction:
        high = zone.managed_pages // percpu_pagelist_fraction
        pcp.high = high
        batch = max(1, high // 4)
        if high // 4 > 12 * 8:
            batch = 12 * 8
        pcp.batch = batch
    else:
        batch = zone_batchsize(zone)
        pcp.high = 6 * batch
        pcp.batch = max(1, batch)


def nr_free_zone_pages(pgdat, offset: int) -> int:
    total = 0
    for zone in pgdat.zonelist:
        if zone.idx > offset:
            continue
        size, high = zone.managed_pages, zone.watermark[WMARK_HIGH]
        if size > high:
            total += size - high
    return total


def nr_free_buffer_pages(pgdat) -> int:
    return nr_free_zone_pages(pgdat, G.gfp_zone(G.GFP_USER))


def nr_free_pagecache_pages(pgdat) -> int:
    return nr_free_zone_pages(pgdat, G.gfp_zone(G.GFP_HIGHUSER_MOVABLE))


def calculate_totalreserve_pages(pgdat) -> None:
    reserve_pages = 0
    for zone in pgdat.node_zones:
        max_ = max(zone.lowmem_reserve)
        max_ += zone.watermark[WMARK_HIGH]
        if max_ > zone.managed_pages:
            max_ = zone.managed_pages
        reserve_pages += max_
    pgdat.totalreserve_pages = reserve_pages


def setup_per_zone_lowmem_reserve(pgdat, ratio: list) -> None:
    zones = pgdat.node_zones
    for j in range(MAX_NR_ZONES):
        zone = zones[j]
        managed_pages = zone.managed_pages
        zone.lowmem_reserve[j] = 0
        idx = j
        while idx:
            idx -= 1
            if ratio[idx] < 1:
                ratio[idx] = 1
            lower = zones[idx]
            lower.lowmem_reserve[j] = managed_pages // ratio[idx]
            managed_pages += lower.managed_pages
    calculate_totalreserve_pages(pgdat)


def __setup_per_zone_wmarks(pgdat, min_free_kbytes: int, watermark_scale_factor: int) -> None:
    pages_min = min_free_kbytes >> 2
    lowmem_pages = sum(z.managed_pages for z in pgdat.node_zones)
    for zone in pgdat.node_zones:
        tmp = pages_min * zone.managed_pages // lowmem_pages if lowmem_pages else 0
        zone.watermark[WMARK_MIN] = tmp
        tmp = max(tmp >> 2, zone.managed_pages * watermark_scale_factor // 10000)
        zone.watermark[WMARK_LOW] = zone.watermark[WMARK_MIN] + tmp
        zone.watermark[WMARK_HIGH] = zone.watermark[WMARK_MIN] + tmp * 2
        zone.vm_stat[NR_ALLOC_BATCH] = zone.watermark[WMARK_HIGH] - zone.watermark[WMARK_LOW]
    calculate_totalreserve_pages(pgdat)


def calculate_zone_inactive_ratio(zone) -> None:
    gb = zone.managed_pages >> (30 - 12)
    zone.inactive_ratio = isqrt(10 * gb) if gb else 1


def calculate_normal_threshold(zone, nr_cpus: int) -> int:
    """vmstat per-cpu threshold (mm/vmstat.c), shown as ``vm stats threshold``."""
    mem = zone.managed_pages >> (27 - 12)
    threshold = 2 * nr_cpus.bit_length() * (1 + mem.bit_length())
    return min(125, threshold)


def init_per_zone_wmark_min(pgdat, sysctl) -> None:
    lowmem_kbytes = nr_free_buffer_pages(pgdat) * 4
    new = isqrt(lowmem_kbytes * 16)
    if new > sysctl.user_min_free_kbytes:
        sysctl.min_free_kbytes = min(max(new, 128), 65536)
    else:
        pgdat.log.pr_warn(f"min_free_kbytes is not updated to {new} because user defined "
                          f"value {sysctl.user_min_free_kbytes} is preferred")
    __setup_per_zone_wmarks(pgdat, sysctl.min_free_kbytes, sysctl.watermark_scale_factor)
    setup_per_zone_lowmem_reserve(pgdat, sysctl.lowmem_reserve_ratio)
    for zone in pgdat.node_zones:
        calculate_zone_inactive_ratio(zone)


def set_recommended_min_free_kbytes(pgdat, sysctl) -> None:
    """Raise min_free_kbytes so THP allocations can find free pageblocks (mm/huge_memory.c)."""
    nr_zones = sum(1 for z in pgdat.node_zones if z.populated_zone())
    recommended_min = pageblock_nr_pages * nr_zones * 2
    recommended_min += pageblock_nr_pages * nr_zones * MIGRATE_PCPTYPES * MIGRATE_PCPTYPES
    recommended_min = min(recommended_min, nr_free_buffer_pages(pgdat) // 20)
    recommended_min <<= 2
    if recommended_min > sysctl.min_free_kbytes:
        if sysctl.user_min_free_kbytes >= 0:
            pgdat.log.pr_info(f"raising min_free_kbytes from {sysctl.min_free_kbytes} to "
                              f"{recommended_min} to help transparent hugepage allocations")
        sysctl.min_free_kbytes = recommended_min
    __setup_per_zone_wmarks(pgdat, sysctl.min_free_kbytes, sysctl.watermark_scale_factor)
