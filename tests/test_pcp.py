"""Per-CPU page lists: refill in batches, free until high, drain (mm/page_alloc.c
rmqueue_bulk, free_hot_cold_page, free_pcppages_bulk, drain_all_pages)."""

import re

import numpy as np
import pytest

import linuxvm as lv
from linuxvm.mm import page_alloc as pa
from linuxvm.mm.mmzone import MAX_ORDER, MIGRATE_UNMOVABLE, MIGRATE_MOVABLE
from linuxvm.include.vm_event_item import NR_FREE_PAGES, PGALLOC, PGFREE


@pytest.fixture
def m():
    """512 MiB: DMA and a DMA32 zone whose pcp batch is 31 and high 186; pcp lists empty."""
    m = lv.Machine(ram="512M", cpus=2, seed=0)
    m.kernel.drain_all_pages()
    # boot-time allocations may have spent DMA32's fair batch (ZONE_FAIR_DEPLETED stays
    # set until a reset): start from fresh batches so the first pages come from DMA32
    pa.reset_alloc_batches(m.pgdat.zonelist[0])
    m.check()
    return m


def dma32(m):
    return m.zones[1]


def pcp(m, cpu=0, zone=1):
    return m.zones[zone].pageset[cpu].pcp


def buddy_pages(zone):
    return sum(zone.free_area[o].nr_free << o for o in range(MAX_ORDER))


def buddyinfo_pages(m, name):
    """Pages free in one zone according to /proc/buddyinfo (while that file is still being
    written: its definition, the zone's free_area[].nr_free)."""
    try:
        text = m.proc.read("/proc/buddyinfo")
    except FileNotFoundError:
        return buddy_pages(next(z for z in m.zones if z.name == name))
    for line in text.splitlines():
        f = line.split()
        if f[3] == name:
            return sum(int(n) << o for o, n in enumerate(f[4:]))
    raise AssertionError(name)


def memfree_kb(m):
    """MemFree from /proc/meminfo; while meminfo is still being written, its definition
    (global NR_FREE_PAGES in kB, fs/proc/meminfo.c)."""
    try:
        text = m.proc.read("/proc/meminfo")
    except FileNotFoundError:
        return m.nr_free_pages() * 4
    return int(re.search(r"^MemFree:\s+(\d+) kB", text, re.M).group(1))


def test_batch_and_high_from_zone_size(m):
    zone = dma32(m)
    assert (pcp(m).batch, pcp(m).high) == (31, 186)
    b = min(zone.managed_pages // 1024, 128) // 4
    assert (1 << (b + b // 2).bit_length() - 1) - 1 == 31
    assert (pcp(m, zone=0).batch, pcp(m, zone=0).high) == (1, 0)    # DMA: batch 0 -> 1


def test_first_allocation_refills_batch_in_ascending_pfn_order(m):
    zone = dma32(m)
    free0, mem0 = zone.vm_stat[NR_FREE_PAGES], memfree_kb(m)
    pfn = m.kernel.alloc_pages("GFP_KERNEL", 0)
    m.check()
    lst = m.mem_map.list_entries(pcp(m).lists[MIGRATE_UNMOVABLE])
    assert pcp(m).count == 30 == len(lst)
    assert [pfn] + lst == list(range(pfn, pfn + 31))       # consecutive, lowest handed out
    # the 30 waiting pages are neither in buddyinfo nor in MemFree
    assert zone.vm_stat[NR_FREE_PAGES] == free0 - 31 == buddy_pages(zone)
    assert buddyinfo_pages(m, "DMA32") == free0 - 31
    assert memfree_kb(m) == mem0 - 31 * 4


def test_freed_page_waits_on_pcp_list(m):
    zone = dma32(m)
    pfn = m.kernel.alloc_pages("GFP_KERNEL", 0)
    free1, info1 = zone.vm_stat[NR_FREE_PAGES], [a.nr_free for a in zone.free_area]
    m.kernel.free_pages(pfn, 0)
    m.check()
    assert m.mem_map.list_first(pcp(m).lists[MIGRATE_UNMOVABLE]) == pfn   # hot: at the head
    assert pcp(m).count == 31
    assert zone.vm_stat[NR_FREE_PAGES] == free1
    assert [a.nr_free for a in zone.free_area] == info1
    # and it is the next page handed out (LIFO)
    assert m.kernel.alloc_pages("GFP_KERNEL", 0) == pfn


def test_free_at_high_returns_batch(m):
    pages = [m.kernel.alloc_pages("GFP_KERNEL", 0) for _ in range(200)]
    m.check()
    counts = []
    for p in pages:
        m.kernel.free_pages(p, 0)
        counts.append(pcp(m).count)
    m.check()
    # 200 allocations left 17 on the list; the 169th free reaches 186 = high and
    # free_pcppages_bulk hands back 31 (from the list tail), leaving 155
    assert counts[0] == 18
    drops = [i for i in range(1, len(counts)) if counts[i] < counts[i - 1]]
    assert drops == [168, 199]
    assert all(counts[i - 1] == 185 and counts[i] == 155 for i in drops)
    assert max(counts) == 185
    assert counts[-1] == 17 + 200 - 2 * 31


def test_200_allocations_refill_in_batches(m):
    zone = dma32(m)
    free0 = zone.vm_stat[NR_FREE_PAGES]
    alloc0 = m.pgdat.vm_events[PGALLOC + 1]
    taken = []
    for i in range(200):
        before = zone.vm_stat[NR_FREE_PAGES]
        m.kernel.alloc_pages("GFP_KERNEL", 0)
        if zone.vm_stat[NR_FREE_PAGES] != before:
            taken.append((i, before - zone.vm_stat[NR_FREE_PAGES]))
    m.check()
    # a refill of 31 each time the list runs empty: at allocations 0, 31, 62, ...
    assert taken == [(31 * k, 31) for k in range(7)]
    assert zone.vm_stat[NR_FREE_PAGES] == free0 - 217
    assert pcp(m).count == 17
    assert m.pgdat.vm_events[PGALLOC + 1] - alloc0 == 200


def test_cold_allocation_takes_the_tail(m):
    m.kernel.alloc_pages("GFP_KERNEL", 0)
    lst = m.mem_map.list_entries(pcp(m).lists[MIGRATE_UNMOVABLE])
    assert m.kernel.alloc_pages("GFP_KERNEL|__GFP_COLD", 0) == lst[-1]
    assert m.kernel.alloc_pages("GFP_KERNEL", 0) == lst[0]
    m.check()


def test_cold_free_goes_to_the_tail(m):
    p1 = m.kernel.alloc_pages("GFP_KERNEL", 0)
    m.mem_map.rc[p1] = 0                        # put_page_testzero, then a cold free
    pa.free_hot_cold_page(dma32(m), p1, True, 0)
    m.check()
    assert m.mem_map.list_last(pcp(m).lists[MIGRATE_UNMOVABLE]) == p1


def test_cpus_have_separate_lists(m):
    p0 = m.kernel.alloc_pages("GFP_HIGHUSER_MOVABLE", 0, cpu=0)
    p1 = m.kernel.alloc_pages("GFP_HIGHUSER_MOVABLE", 0, cpu=1)
    m.check()
    assert pcp(m, 0).count == pcp(m, 1).count == 30
    assert abs(p1 - p0) >= 31                          # each CPU refilled its own batch
    m.kernel.free_pages(p0, 0, cpu=1)
    m.check()
    assert pcp(m, 1).count == 31 and pcp(m, 0).count == 30
    assert m.mem_map.list_first(pcp(m, 1).lists[MIGRATE_MOVABLE]) == p0


def test_drain_all_pages_empties_every_list(m):
    boot = m.nr_free_pages()
    pages = [m.kernel.alloc_pages("GFP_KERNEL", 0, cpu=i % 2) for i in range(100)]
    for p in pages:
        m.kernel.free_pages(p, 0, cpu=0)
    m.check()
    assert m.nr_free_pages() < boot
    m.kernel.drain_all_pages()
    m.check()
    assert all(ps.pcp.count == 0 for z in m.zones for ps in z.pageset)
    assert m.nr_free_pages() == boot
    assert memfree_kb(m) == boot * 4


def test_dma_zone_has_no_pcp_cache(m):
    dma = m.zones[0]
    free0 = dma.vm_stat[NR_FREE_PAGES]
    pfn = m.kernel.alloc_pages("GFP_DMA", 0)
    assert m.page_zone(pfn) is dma
    # batch 1: the refill takes exactly the page handed out
    assert dma.vm_stat[NR_FREE_PAGES] == free0 - 1 and pcp(m, zone=0).count == 0
    m.kernel.free_pages(pfn, 0)
    m.check()
    # high 0: the free goes straight back to buddy
    assert dma.vm_stat[NR_FREE_PAGES] == free0 and pcp(m, zone=0).count == 0


def test_pgfree_counts_every_free(m):
    f0 = m.pgdat.vm_events[PGFREE]
    pfn = m.kernel.alloc_pages("GFP_KERNEL", 3)
    m.kernel.free_pages(pfn, 3)
    pfn = m.kernel.alloc_pages("GFP_KERNEL", 0)
    m.kernel.free_pages(pfn, 0)
    assert m.pgdat.vm_events[PGFREE] - f0 == 9


def test_percpu_pagelist_fraction_sets_high_and_batch(m):
    zone = dma32(m)
    m.sysctl["vm.percpu_pagelist_fraction"] = 8
    high = zone.managed_pages // 8
    assert pcp(m).high == high and pcp(m).batch == min(max(1, high // 4), 96)
    m.sysctl["vm.percpu_pagelist_fraction"] = 0
    assert (pcp(m).batch, pcp(m).high) == (31, 186)
    m.check()


def run_sequence(m, seed):
    """A mixed, seeded alloc/free sequence that reaches the watermarks and the fair
    batches: order 0 mostly (hot and cold, zeroed, anonymous), some higher orders (those
    from order 4 up take the vectorised page checks)."""
    import random
    rng = random.Random(seed)
    gfps = ["GFP_KERNEL", "GFP_HIGHUSER_MOVABLE|__GFP_ZERO", "GFP_KERNEL|__GFP_COLD",
            "GFP_KERNEL|__GFP_COMP",
            "GFP_TEMPORARY", "GFP_DMA32", "GFP_ATOMIC", "GFP_DMA"]
    held = []
    for step in range(12000):
        r = rng.random()
        if r < 0.6 or not held:
            order = 0 if rng.random() < 0.9 else rng.choice([1, 2, 3, 4, 5, 9, 10])
            pfn = m.kernel.alloc_pages(rng.choice(gfps) + "|__GFP_NOWARN", order,
                                       cpu=rng.randrange(2))
            if pfn is not None:
                if order == 0 and rng.random() < 0.2:
                    m.mem_map.mapping[pfn] = 0x1000 | 1      # an anon page, PageAnon
                held.append((pfn, order))
        elif r < 0.995:
            pfn, order = held.pop(rng.randrange(len(held)))
            if rng.random() < 0.3:
                # flags a user leaves behind that the free clears (PG_referenced,
                # PG_uptodate, PG_dirty)
                p = pfn + rng.randrange(1 << order)
                m.mem_map.flags[p] |= np.uint64(0b11100)
            m.kernel.free_pages(pfn, order, cpu=rng.randrange(2))
        else:
            m.kernel.drain_all_pages()
    # then down to the watermarks: the fast path must refuse exactly where the general
    # path does
    for gfp in ("GFP_HIGHUSER_MOVABLE", "GFP_KERNEL|__GFP_COLD", "GFP_ATOMIC", "GFP_DMA"):
        while (pfn := m.kernel.alloc_pages(gfp + "|__GFP_NOWARN", 0, cpu=1)) is not None:
            held.append((pfn, 0))
    for pfn, order in held[::3]:
        m.kernel.free_pages(pfn, order, cpu=0)
    return held


def machine_state(m):
    mm = m.mem_map
    arrays = {name: getattr(mm, name).copy() for name in
              ("flags", "_refcount", "_mapcount", "mapping", "index", "private", "lru_next",
               "lru_prev", "compound_head", "content")}
    zones = [(z.vm_stat[:], z.flags, [a.nr_free for a in z.free_area],
              [ps.pcp.count for ps in z.pageset], z.pb.bits.copy()) for z in m.zones]
    return arrays, zones, list(m.pgdat.vm_events), m.dmesg(), sorted(m.page_contents)


def test_fast_paths_leave_the_same_state_as_the_general_path(monkeypatch):
    states = []
    for fast in (True, False):
        monkeypatch.setattr(pa, "fast_paths", fast)
        m = lv.Machine(ram="128M", cpus=2, seed=0)
        held = run_sequence(m, seed=7)
        m.check()
        assert len(held) > 1000
        states.append(machine_state(m))
    (a_arr, a_z, a_ev, a_log, a_pc), (b_arr, b_z, b_ev, b_log, b_pc) = states
    for name in a_arr:
        assert np.array_equal(a_arr[name], b_arr[name]), name
    for za, zb in zip(a_z, b_z):
        assert za[:4] == zb[:4] and np.array_equal(za[4], zb[4])
    assert (a_ev, a_log, a_pc) == (b_ev, b_log, b_pc)
    # it ended with the zones at their min marks
    freed = sum(1 << order for _, order in held[::3])
    assert m.nr_free_pages() < sum(z.watermark[2] for z in m.zones) + freed + 1
