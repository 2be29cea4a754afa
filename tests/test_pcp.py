"""Per-CPU page lists: refill in batches, free until high, drain (mm/page_alloc.c
rmqueue_bulk, free_hot_cold_page, free_pcppages_bulk, drain_all_pages)."""

import random
import re

import numpy as np
import pytest

import linuxvm as lv
from linuxvm.accel import page_alloc as accel_pa
from linuxvm.accel.fingerprint import fingerprint, assert_same
from linuxvm.mm import page_alloc as pa
from linuxvm.mm.mmzone import MAX_ORDER, MIGRATE_UNMOVABLE, MIGRATE_MOVABLE
from linuxvm.mm.page import NULL
from linuxvm.include.vm_event_item import NR_FREE_PAGES, NR_ALLOC_BATCH, PGALLOC, PGFREE


@pytest.fixture
def m():
    """512 MiB: DMA and a DMA32 zone whose pcp batch is 31 and high 186; pcp lists empty.
    THP is turned on (4.6 boots a machine below 512 MiB of RAM with it off): khugepaged's
    min_free_kbytes raise gives DMA32 a fair batch (high - low watermark) of 1501 pages,
    more than these tests allocate, so every page comes from DMA32."""
    m = lv.Machine(ram="512M", cpus=2, seed=0)
    m.proc.write("/sys/kernel/mm/transparent_hugepage/enabled", "madvise")
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
    # taken smallest block first, each split from its low end, and put on the list in
    # the order taken: ascending, the lowest handed out (boot's slab pages leave small
    # blocks below the big ones, so the run has gaps where those blocks end)
    assert [pfn] + lst == sorted([pfn] + lst) and len(set(lst)) == 30
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


# --- the accelerators of mm/page_alloc.py against the reference code ----------------------
#
# Each workload runs on Machine(fast={name}) (that accelerator alone) and on
# Machine(fast=False); the whole-machine fingerprints must be equal. A workload calls
# m.check() after each of its steps (a random sequence: every few hundred operations).

PAGE_ALLOC_ACCELS = ["alloc_order0", "free_order0", "rmqueue_bulk", "free_pages_check_block",
                     "check_new_block"]

_DIRTY = np.uint64(0b11100)      # PG_referenced, PG_uptodate, PG_dirty: a free clears them


def run_sequence(m, seed, steps=12000):
    """A mixed, seeded alloc/free sequence that reaches the watermarks and the fair
    batches: order 0 mostly (hot and cold, zeroed, anonymous), some higher orders (those
    from order 4 up take the block checks), frees on either CPU."""
    rng = random.Random(seed)
    gfps = ["GFP_KERNEL", "GFP_HIGHUSER_MOVABLE|__GFP_ZERO", "GFP_KERNEL|__GFP_COLD",
            "GFP_KERNEL|__GFP_COMP",
            "GFP_TEMPORARY", "GFP_DMA32", "GFP_ATOMIC", "GFP_DMA"]
    held = []
    for step in range(steps):
        r = rng.random()
        if r < 0.6 or not held:
            order = 0 if rng.random() < 0.9 else rng.choice([1, 2, 3, 4, 5, 9, 10])
            pfn = m.kernel.alloc_pages(rng.choice(gfps) + "|__GFP_NOWARN|__GFP_NORETRY", order,
                                       cpu=rng.randrange(2))
            if pfn is not None:
                if order == 0 and rng.random() < 0.2:
                    m.mem_map.mapping[pfn] = 0x1000 | 1      # an anon page, PageAnon
                held.append((pfn, order))
        elif r < 0.995:
            pfn, order = held.pop(rng.randrange(len(held)))
            if rng.random() < 0.3:
                p = pfn + rng.randrange(1 << order)
                m.mem_map.flags[p] |= _DIRTY
            m.kernel.free_pages(pfn, order, cpu=rng.randrange(2))
        else:
            m.kernel.drain_all_pages()
        if step % 500 == 0:
            m.check()
    m.check()
    # then down to the watermarks: the fast path must refuse exactly where the general
    # path does
    for gfp in ("GFP_HIGHUSER_MOVABLE", "GFP_KERNEL|__GFP_COLD", "GFP_ATOMIC", "GFP_DMA"):
        while (pfn := m.kernel.alloc_pages(gfp + "|__GFP_NOWARN|__GFP_NORETRY", 0,
                                           cpu=1)) is not None:
            held.append((pfn, 0))
        m.check()
    for pfn, order in held[::3]:
        m.kernel.free_pages(pfn, order, cpu=0)
    m.check()
    return held


def w_sequence(m):
    """The random sequence above, shortened."""
    run_sequence(m, seed=7, steps=4000)


def w_fair_batches(m):
    """Order-0 allocations that spend DMA32's fair batch and spill to DMA, both CPUs, then
    the batches reset (ZONE_FAIR_DEPLETED on the preferred zone)."""
    held = []
    for i in range(3000):
        gfp = ("GFP_KERNEL", "GFP_HIGHUSER_MOVABLE|__GFP_ZERO", "GFP_KERNEL|__GFP_COLD")[i % 3]
        held.append(m.kernel.alloc_pages(gfp, 0, cpu=i % 2))
        if i % 250 == 0:
            m.check()
    assert any(m.page_zone(p).name == "DMA" for p in held)
    for p in held[::2]:
        m.kernel.free_pages(p, 0, cpu=0)
    m.check()
    for _ in range(1000):
        held.append(m.kernel.alloc_pages("GFP_KERNEL", 0, cpu=1))
    m.check()


def w_fragmented(m):
    """Free lists of small blocks of every order: every other page of a long run freed
    (on both CPUs, hot and cold) and drained, then refills that take those small blocks
    before the big ones, and small high-order blocks."""
    held = [m.kernel.alloc_pages("GFP_HIGHUSER_MOVABLE", 0, cpu=0) for _ in range(6000)]
    m.check()
    for i, p in enumerate(held):
        if i % 2 or i % 7 == 0:
            pa.__free_pages(m.pgdat, p, 0, i % 2)
    m.check()
    m.kernel.drain_all_pages()
    m.check()
    got = []
    for i in range(4000):
        got.append(m.kernel.alloc_pages("GFP_HIGHUSER_MOVABLE", 0, cpu=i % 2))
        if i % 500 == 0:
            m.check()
    for order in (1, 2, 3, 1, 2):
        got.append(m.kernel.alloc_pages("GFP_KERNEL", order))
        m.check()
    # an UNMOVABLE refill that must fall back to MOVABLE blocks (a steal)
    for _ in range(200):
        m.kernel.alloc_pages("GFP_KERNEL|__GFP_COLD", 0, cpu=1)
    m.check()


def w_to_failure(m):
    """Every page the allocator will give, mask by mask, down to failures with their
    "page allocation failure" reports, then frees and a drain."""
    held = [(m.kernel.alloc_pages("GFP_HIGHUSER_MOVABLE|__GFP_COMP", 5), 5)
            for _ in range(100)]
    # (__GFP_NORETRY: 4.6 fails a request that may reclaim only when it may not OOM-kill)
    for gfp, order in (("GFP_KERNEL|__GFP_NORETRY", 0),
                       ("GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_NORETRY", 0),
                       ("GFP_KERNEL|__GFP_NORETRY", 3), ("GFP_ATOMIC", 0), ("GFP_ATOMIC", 2),
                       ("GFP_DMA", 0)):
        while (pfn := m.kernel.alloc_pages(gfp, order, cpu=len(held) % 2)) is not None:
            held.append((pfn, order))
        m.check()
    assert any("page allocation failure" in line for line in m.dmesg())
    for pfn, order in held[::2]:
        m.kernel.free_pages(pfn, order, cpu=1)
    m.check()
    m.kernel.drain_all_pages()
    m.check()


def w_cross_cpu(m):
    """Pages allocated on one CPU and freed on the other, past pcp high (free_pcppages_bulk
    round-robin over the migratetypes), both ways."""
    for src, dst in ((0, 1), (1, 0)):
        held = [m.kernel.alloc_pages(("GFP_KERNEL", "GFP_HIGHUSER_MOVABLE",
                                      "GFP_TEMPORARY")[i % 3], 0, cpu=src)
                for i in range(700)]
        m.check()
        for p in held:
            m.kernel.free_pages(p, 0, cpu=dst)
        m.check()


def w_high_order(m):
    """Blocks of every order, compound or not, freed with flags the free clears, and
    ALLOC_HARDER allocations that reserve a highatomic pageblock."""
    held = []
    for order in range(1, MAX_ORDER):
        for gfp in ("GFP_KERNEL", "GFP_HIGHUSER_MOVABLE|__GFP_COMP", "GFP_ATOMIC"):
            pfn = m.kernel.alloc_pages(gfp + "|__GFP_NOWARN", order)
            if pfn is not None:
                held.append((pfn, order))
        m.check()
    for i, (pfn, order) in enumerate(held):
        if i % 2:
            m.mem_map.flags[pfn + (1 << order) - 1] |= _DIRTY
        m.kernel.free_pages(pfn, order, cpu=i % 2)
        m.check()


def w_processes(m):
    """Processes faulting pages in, punching holes, forking (COW), exiting."""
    p = m.spawn("a")
    a = p.mmap(None, 24 << 20, lv.PROT_READ | lv.PROT_WRITE, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.touch(a, 24 << 20, write=True)
    m.check()
    for off in range(0, 24 << 20, 3 << 16):
        p.munmap(a + off, 1 << 16)
    m.check()
    c = p.fork()
    c.task.cpu = 1
    for off in range(0, 4 << 20, 3 << 16):          # the pieces between the holes: COW
        c.touch(a + off + (1 << 16), 2 << 16, write=True)
    m.check()
    c.exit()
    m.check()
    b = p.mmap(None, 8 << 20, lv.PROT_READ | lv.PROT_WRITE, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.touch(b, 8 << 20, write=True)
    m.check()
    p.exit()
    m.check()


WORKLOADS = [w_sequence, w_fair_batches, w_fragmented, w_to_failure, w_cross_cpu,
             w_high_order, w_processes]


def _run(workload, fast, replace=None):
    """The fingerprint of ``workload`` on a fresh 128 MiB machine; ``replace`` maps
    accelerator names to functions that stand in for them (a counting or broken one)."""
    m = lv.Machine(ram="128M", cpus=2, seed=0, fast=fast)
    for name, fn in (replace or {}).items():
        setattr(m.accel, name, fn)
    workload(m)
    m.check()
    return fingerprint(m)


_REFERENCE = {}


def _reference(workload):
    if workload not in _REFERENCE:
        _REFERENCE[workload] = _run(workload, False)
    return _REFERENCE[workload]


def _counting(name, served):
    """Accelerator ``name`` that counts the calls in which it did the work itself."""
    real = getattr(accel_pa, name)

    def count(*args):
        r = real(*args)
        if r is not False and r != NULL:
            served[name] = served.get(name, 0) + 1
        return r
    return count


# the accelerators each workload must reach (and have do the work at least once)
REACHES = {
    w_sequence: set(PAGE_ALLOC_ACCELS),
    w_fair_batches: {"alloc_order0", "free_order0", "rmqueue_bulk"},
    w_fragmented: {"alloc_order0", "free_order0", "rmqueue_bulk"},
    w_to_failure: set(PAGE_ALLOC_ACCELS),
    w_cross_cpu: {"alloc_order0", "free_order0", "rmqueue_bulk"},
    w_high_order: {"free_pages_check_block", "check_new_block"},
    w_processes: {"alloc_order0", "free_order0", "rmqueue_bulk"},
}


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda w: w.__name__)
@pytest.mark.parametrize("name", PAGE_ALLOC_ACCELS)
def test_accelerator_alone_leaves_the_reference_state(name, workload):
    served = {}
    fp = _run(workload, {name}, {name: _counting(name, served)})
    assert_same(_reference(workload), fp)
    if name in REACHES[workload]:
        assert served.get(name), f"{workload.__name__} never reached {name}"


@pytest.mark.parametrize("workload", [w_sequence, w_processes], ids=lambda w: w.__name__)
def test_all_accelerators_together(workload):
    assert_same(_reference(workload), _run(workload, True))


def w_bad_pages(m):
    """Pages in states they must not be in: a stray mapping on a pcp page and inside a
    free high-order block, a free of a mapped page and of a block with one mapped page.
    bad_page leaks them, which m.check() would report: no checks here."""
    mm = m.mem_map
    pa.reset_alloc_batches(m.pgdat.zonelist[0])      # DMA32 first, as in the fixture
    pfns = [m.kernel.alloc_pages("GFP_KERNEL", 0, cpu=0) for _ in range(6)]
    for pfn in pfns:
        m.kernel.free_pages(pfn, 0, cpu=0)
    for p in mm.list_entries(m.page_zone(pfn).pageset[0].pcp.lists[MIGRATE_UNMOVABLE],
                             5)[1:3]:
        mm.mapping[p] = 0x4000
    for _ in range(5):
        m.kernel.alloc_pages("GFP_KERNEL", 0, cpu=0)
    z = m.zones[1]
    b = mm.list_first(z.free_area[6].free_list[MIGRATE_MOVABLE])
    mm._mapcount[b + 17] = 3
    for _ in range(8):
        m.kernel.alloc_pages("GFP_HIGHUSER_MOVABLE", 5)
    p = m.kernel.alloc_pages("GFP_KERNEL", 0)
    mm._mapcount[p] = 0
    pa.__free_pages(m.pgdat, p, 0, 0)
    q = m.kernel.alloc_pages("GFP_KERNEL", 5)
    m.kernel.free_pages(q, 5)                       # a clean one first
    q = m.kernel.alloc_pages("GFP_KERNEL", 5)
    mm.mapping[q + 9] = 0x8000
    pa.__free_pages(m.pgdat, q, 5, 1)
    assert sum("Bad page state" in line for line in m.dmesg()) >= 4
    # an empty pcp list whose refill brings a bad page to its head: the first page
    # rmqueue_bulk takes (the head of the smallest free block) carries a stray mapping
    reports = sum("Bad page state" in line for line in m.dmesg())
    m.kernel.drain_all_pages()
    z = m.page_zone(m.kernel.alloc_pages("GFP_KERNEL", 0, cpu=1))
    m.kernel.drain_all_pages()
    order = next(o for o in range(MAX_ORDER) if not mm.list_empty(
        z.free_area[o].free_list[MIGRATE_UNMOVABLE]))
    mm.mapping[mm.list_first(z.free_area[order].free_list[MIGRATE_UNMOVABLE])] = 0x4000
    m.kernel.alloc_pages("GFP_KERNEL", 0, cpu=0)
    assert sum("Bad page state" in line for line in m.dmesg()) == reports + 1


def _run_unchecked(workload, fast, replace=None):
    m = lv.Machine(ram="128M", cpus=2, seed=0, fast=fast)
    for name, fn in (replace or {}).items():
        setattr(m.accel, name, fn)
    workload(m)
    return fingerprint(m)


@pytest.mark.parametrize("name", PAGE_ALLOC_ACCELS)
def test_bad_pages_are_reported_alike(name):
    served = {}
    fp = _run_unchecked(w_bad_pages, {name}, {name: _counting(name, served)})
    assert_same(_run_unchecked(w_bad_pages, False), fp)
    assert served.get(name)


# broken on purpose: each comparison must see a wrong accelerator

def _broken_alloc_order0(ac, gfp_mask, cpu):
    page = accel_pa.alloc_order0(ac, gfp_mask, cpu)
    if page != NULL:
        ac.preferred_zone.vm_stat[NR_ALLOC_BATCH] += 1       # forgets the fair batch
    return page


def _broken_free_order0(pgdat, page, cpu):
    freeing = pgdat.mem_map.rc[page] == 1
    done = accel_pa.free_order0(pgdat, page, cpu)
    if done and freeing:
        pgdat.vm_events[PGFREE] -= 1                         # forgets the pgfree event
    return done


def _broken_rmqueue_bulk(zone, order, count, head, migratetype, cold):
    # the refilled pages linked in reverse order
    return accel_pa.rmqueue_bulk(zone, order, count, head, migratetype, not cold)


def _broken_free_pages_check_block(zone, page, order):
    # passes a clean block without clearing the flags free_pages_check clears
    return order >= 4 and accel_pa._block_clean(zone.mem_map, page, order,
                                                pa.PAGE_FLAGS_CHECK_AT_FREE)


def _broken_check_new_block(zone, page, order):
    return order >= 4                                        # passes every block unchecked


BROKEN = [("alloc_order0", _broken_alloc_order0, w_fair_batches),
          ("free_order0", _broken_free_order0, w_cross_cpu),
          ("rmqueue_bulk", _broken_rmqueue_bulk, w_fragmented),
          ("free_pages_check_block", _broken_free_pages_check_block, w_high_order),
          ("check_new_block", _broken_check_new_block, w_bad_pages)]


@pytest.mark.parametrize("name,broken,workload", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_accelerator_is_caught(name, broken, workload):
    run = _run_unchecked if workload is w_bad_pages else _run
    reference = run(workload, False)
    with pytest.raises(AssertionError):
        assert_same(reference, run(workload, {name}, {name: broken}))
