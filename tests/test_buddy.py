"""The buddy allocator: split, merge, free-list order and fallback stealing (mm/page_alloc.c).

Scenario tests work at the buddy level: the zone is emptied by taking every free block
with ``__rmqueue_smallest`` (marked allocated, as buffered_rmqueue leaves them), then
chosen blocks are handed back with ``__free_one_page`` to build the state a case needs.
"""

import pytest

import linuxvm as lv
from linuxvm.mm import page_alloc as pa
from linuxvm.mm import show_mem
from linuxvm.mm.mmzone import (MAX_ORDER, MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE,
                               MIGRATE_UNMOVABLE, MIGRATE_TYPES, pageblock_nr_pages)
from linuxvm.include.vm_event_item import NR_FREE_PAGES

rmqueue_smallest = pa.__rmqueue_smallest
rmqueue = pa.__rmqueue
free_one_page = pa.__free_one_page


def nr_free(zone):
    return [zone.free_area[o].nr_free for o in range(MAX_ORDER)]


def take(zone, order, mt, rmqueue_fn=None):
    """Take a block off the buddy lists (``__rmqueue_smallest`` unless another rmqueue
    function is given) and account it as allocated, as buffered_rmqueue does."""
    page = (rmqueue_fn or rmqueue_smallest)(zone, order, mt)
    assert page != lv.mm.page.NULL
    zone.vm_stat[NR_FREE_PAGES] -= 1 << order
    mark_allocated(zone, page, order)
    return page


def mark_allocated(zone, page, order):
    mm = zone.mem_map
    mm.idx[page] = 0
    for p in range(page, page + (1 << order)):
        mm.rc[p] = 1                     # like split_page: every page its own allocation


def give(zone, page, order, mt):
    """Hand a block (all of whose pages are allocated) back to the buddy lists."""
    mm = zone.mem_map
    for p in range(page, page + (1 << order)):
        assert mm.rc[p] == 1
        mm.rc[p] = 0
    free_one_page(page, page, zone, order, mt)


def empty_zone(m, zone):
    """Take every free block of ``zone``; returns {order: [pfns]} of what was taken."""
    m.kernel.drain_all_pages()
    taken = {o: [] for o in range(MAX_ORDER)}
    for order in range(MAX_ORDER - 1, -1, -1):
        for mt in range(MIGRATE_TYPES):
            while not zone.mem_map.list_empty(zone.free_area[order].free_list[mt]):
                taken[order].append(take(zone, order, mt))
    assert zone.vm_stat[NR_FREE_PAGES] == 0 and nr_free(zone) == [0] * MAX_ORDER
    m.check()
    return taken


@pytest.fixture
def mz():
    """(machine, DMA32 zone emptied, an allocated order-10 block base B in it)."""
    m = lv.Machine(ram="128M", cpus=2, seed=0)
    zone = m.zones[1]
    taken = empty_zone(m, zone)
    return m, zone, taken[MAX_ORDER - 1][0]


def test_single_order10_block_splits_for_order0_and_merges_back(mz):
    m, zone, B = mz
    give(zone, B, 10, MIGRATE_MOVABLE)
    m.check()
    assert nr_free(zone) == [0] * 10 + [1]
    page = take(zone, 0, MIGRATE_MOVABLE)
    m.check()
    assert page == B                                  # the caller gets the lowest sub-block
    assert nr_free(zone) == [1] * 10 + [0]
    # expand put the upper halves at B+1, B+2, B+4, ..., B+512
    mm = zone.mem_map
    for order in range(10):
        assert mm.list_entries(zone.free_area[order].free_list[MIGRATE_MOVABLE]) == \
            [B + (1 << order)]
    give(zone, page, 0, MIGRATE_MOVABLE)
    m.check()
    assert nr_free(zone) == [0] * 10 + [1]
    assert zone.vm_stat[NR_FREE_PAGES] == 1024


def split(zone, B):
    """Treat the allocated order-10 block at B as 1024 separately allocated pages."""
    m = zone.zone_pgdat.machine
    m.page_owner_order.pop(B, None)
    mark_allocated(zone, B, 10)


# (blocks freed in order as (offset, order); expected free blocks as (offset, order))
MERGE_CASES = [
    ("pfn 5 next to free pfn 4 merges to order 1 at 4",
     [(4, 0), (5, 0)], [(4, 1)]),
    ("no further merge while 6-7 are allocated",
     [(4, 0), (5, 0), (0, 1)], [(0, 1), (4, 1)]),
    ("6-7 free as order 1 lets 4-5 merge on to order 2",
     [(6, 1), (4, 0), (5, 0)], [(4, 2)]),
    ("both buddies free merge all the way up",
     [(0, 0), (1, 0), (2, 1), (4, 2), (8, 3), (16, 4), (32, 5), (64, 6), (128, 7),
      (256, 8), (512, 9)], [(0, 10)]),
    ("freeing the upper buddy first gives the same merge",
     [(512, 9), (256, 8), (128, 7), (64, 6), (32, 5), (16, 4), (8, 3), (4, 2), (2, 1),
      (1, 0), (0, 0)], [(0, 10)]),
    ("a block does not merge with a free block of a different order",
     [(2, 0), (0, 1)], [(0, 1), (2, 0)]),
]


@pytest.mark.parametrize("name,frees,expect", MERGE_CASES, ids=[c[0] for c in MERGE_CASES])
def test_free_one_page_merging(mz, name, frees, expect):
    m, zone, B = mz
    split(zone, B)
    m.check()
    for off, order in frees:
        give(zone, B + off, order, MIGRATE_MOVABLE)
        m.check()
    mm = zone.mem_map
    got = sorted((pfn - B, order) for order in range(MAX_ORDER)
                 for pfn in mm.list_entries(zone.free_area[order].free_list[MIGRATE_MOVABLE]))
    assert got == sorted(expect)
    assert zone.vm_stat[NR_FREE_PAGES] == sum(1 << o for _, o in expect)


def test_tail_add_when_the_higher_buddy_is_free(mz):
    #   0 1 2 3 ... 8 9 10 11
    #   . . F F     . F  .  .     2-3 free at order 1, 9 free at order 0
    #   F . F F     . F           free 0: its higher buddy (2-3) is free -> list tail
    m, zone, B = mz
    split(zone, B)
    give(zone, B + 2, 1, MIGRATE_MOVABLE)
    give(zone, B + 9, 0, MIGRATE_MOVABLE)
    give(zone, B + 0, 0, MIGRATE_MOVABLE)
    m.check()
    mm = zone.mem_map
    assert mm.list_entries(zone.free_area[0].free_list[MIGRATE_MOVABLE]) == [B + 9, B + 0]
    # so the next order-0 request gets pfn 9 (the head), not 0
    assert take(zone, 0, MIGRATE_MOVABLE) == B + 9
    m.check()
    # freeing 1 now merges 0-1, then with 2-3 into order 2
    give(zone, B + 1, 0, MIGRATE_MOVABLE)
    m.check()
    assert mm.list_entries(zone.free_area[2].free_list[MIGRATE_MOVABLE]) == [B]


def test_smallest_block_is_used_first(mz):
    m, zone, B = mz
    split(zone, B)
    give(zone, B + 512, 9, MIGRATE_MOVABLE)
    give(zone, B + 8, 3, MIGRATE_MOVABLE)
    m.check()
    # an order-1 request splits the order-3 block, not the order-9 one
    assert rmqueue_smallest(zone, 1, MIGRATE_MOVABLE) == B + 8
    assert nr_free(zone)[:10] == [0, 1, 1, 0, 0, 0, 0, 0, 0, 1]


def set_block_type(zone, pfn, mt):
    zone.pb.set_pageblock_migratetype(pfn, mt)


def test_movable_request_steals_whole_order10_unmovable_block(mz):
    m, zone, B = mz
    set_block_type(zone, B, MIGRATE_UNMOVABLE)
    set_block_type(zone, B + pageblock_nr_pages, MIGRATE_UNMOVABLE)
    give(zone, B, 10, MIGRATE_UNMOVABLE)
    m.check()
    events = m.extfrag_events
    page = take(zone, 0, MIGRATE_MOVABLE, rmqueue)
    m.check()
    assert page == B
    assert m.extfrag_events == events + 1
    # order 10 >= pageblock_order: both pageblocks change type
    assert zone.pb.get_pageblock_migratetype(B) == MIGRATE_MOVABLE
    assert zone.pb.get_pageblock_migratetype(B + pageblock_nr_pages) == MIGRATE_MOVABLE
    # the rest was expanded onto the MOVABLE lists
    mm = zone.mem_map
    for order in range(10):
        assert mm.list_entries(zone.free_area[order].free_list[MIGRATE_MOVABLE]) == \
            [B + (1 << order)]
        assert mm.list_empty(zone.free_area[order].free_list[MIGRATE_UNMOVABLE])


# (requester, fallback block order, extra free page, pageblock type after, lists moved)
STEAL_CASES = [
    # 256 + 1 pages move: at least half a pageblock, the pageblock is claimed
    ("movable order-8 steal moves 257 pages: claimed", MIGRATE_MOVABLE, 8, True, True),
    # 128 + 1 pages move: less than half, the type stays but the free pages moved
    ("movable order-7 steal moves 129 pages: not claimed", MIGRATE_MOVABLE, 7, False, True),
    # order 2 < pageblock_order/2 and a MOVABLE requester: no steal at all
    ("movable order-2 fallback: no steal", MIGRATE_MOVABLE, 2, False, False),
    # an UNMOVABLE requester always steals; 4 + 1 pages are too few to claim
    ("reclaimable order-2 fallback steals but does not claim", MIGRATE_RECLAIMABLE, 2, False,
     True),
]


@pytest.mark.parametrize("name,requester,order,claimed,moved", STEAL_CASES,
                         ids=[c[0] for c in STEAL_CASES])
def test_small_steal(mz, name, requester, order, claimed, moved):
    m, zone, B = mz
    split(zone, B)
    owner = MIGRATE_UNMOVABLE if requester == MIGRATE_MOVABLE else MIGRATE_MOVABLE
    set_block_type(zone, B, owner)
    give(zone, B, order, owner)
    give(zone, B + 300, 0, owner)
    m.check()
    page = take(zone, 0, requester, rmqueue)
    m.check()
    assert page == B                          # fallback takes the largest block first
    assert zone.pb.get_pageblock_migratetype(B) == (requester if claimed else owner)
    mm = zone.mem_map
    lone = requester if moved else owner
    assert B + 300 in mm.list_entries(zone.free_area[0].free_list[lone])
    # the remainder of the block is expanded onto the requester's lists either way
    assert all(mm.list_entries(zone.free_area[o].free_list[requester]).count(B + (1 << o)) == 1
               for o in range(order))


def test_fallback_order_of_types(mz):
    m, zone, B = mz
    split(zone, B)
    # UNMOVABLE falls back to RECLAIMABLE before MOVABLE
    give(zone, B + 8, 3, MIGRATE_MOVABLE)
    give(zone, B + 16, 3, MIGRATE_RECLAIMABLE)
    m.check()
    page = rmqueue(zone, 3, MIGRATE_UNMOVABLE)
    assert page == B + 16


ROUND_TRIP_GFP = ["GFP_KERNEL", "GFP_HIGHUSER_MOVABLE", "GFP_TEMPORARY", "GFP_DMA",
                  "GFP_DMA32", "GFP_ATOMIC"]


@pytest.mark.parametrize("gfp", ROUND_TRIP_GFP)
def test_round_trip_every_order(gfp):
    m = lv.Machine(ram="256M", cpus=2, seed=0)
    m.kernel.drain_all_pages()
    before = [nr_free(z) for z in m.zones]
    free_before = m.nr_free_pages()
    zone_idx = lv.mm.gfp.gfp_zone(lv.mm.gfp.parse_gfp(gfp))
    for order in range(MAX_ORDER):
        pfn = m.kernel.alloc_pages(gfp, order)
        m.check()
        assert pfn is not None and pfn % (1 << order) == 0
        assert m.page_zone(pfn).idx <= zone_idx
        assert m.mem_map.rc[pfn] == 1
        m.kernel.free_pages(pfn, order)
        m.check()
        m.kernel.drain_all_pages()
        m.check()
        assert m.nr_free_pages() == free_before
    assert [nr_free(z) for z in m.zones] == before


def test_order_too_large_fails_with_one_warning():
    m = lv.Machine(ram="128M", cpus=1, seed=0)
    n = len(m.dmesg())
    assert m.kernel.alloc_pages("GFP_KERNEL", MAX_ORDER) is None
    assert m.kernel.alloc_pages("GFP_KERNEL", MAX_ORDER + 3) is None
    m.check()
    new = m.dmesg()[n:]
    # WARN_ON_ONCE in __alloc_pages_slowpath: printed once, no allocation-failure report
    assert sum("------------[ cut here ]------------" in l for l in new) == 1
    text = [l.split("] ", 1)[1] for l in new]
    assert text == ["------------[ cut here ]------------",
                    "WARNING: CPU: 0 PID: 0 at mm/page_alloc.c:3133 __alloc_pages_slowpath",
                    "Modules linked in:",
                    "CPU: 0 PID: 0 Comm: swapper/0 Not tainted 4.6.0 #1"]
    assert "W" in m.taint                        # TAINT_WARN, added after the report


def test_order_too_large_with_nowarn_is_silent():
    m = lv.Machine(ram="128M", cpus=1, seed=0)
    n = len(m.dmesg())
    assert m.kernel.alloc_pages("GFP_KERNEL|__GFP_NOWARN", MAX_ORDER) is None
    assert m.dmesg()[n:] == []


def test_compound_allocation_and_free():
    m = lv.Machine(ram="128M", cpus=1, seed=0)
    pfn = m.kernel.alloc_pages("GFP_KERNEL|__GFP_COMP", 4)
    m.check()
    mm = m.mem_map
    assert mm.PageHead(pfn) and all(mm.PageTail(p) for p in range(pfn + 1, pfn + 16))
    m.kernel.free_pages(pfn, 4)
    m.check()
    assert not mm.PageHead(pfn)


def test_fresh_page_index_is_cleared():
    # prep_new_page: clear_page_pfmemalloc leaves page->index 0 (not the pcp migratetype)
    m = lv.Machine(ram="128M", cpus=1, seed=0)
    pfn = m.kernel.alloc_pages("GFP_HIGHUSER_MOVABLE", 0)
    assert m.mem_map.idx[pfn] == 0
    pfn = m.kernel.alloc_pages("GFP_KERNEL|__GFP_MEMALLOC", 0)
    assert m.mem_map.idx[pfn] == 0          # fast path succeeded: not a reserve page


def test_high_order_atomic_reserves_a_highatomic_pageblock():
    m = lv.Machine(ram="128M", cpus=1, seed=0)
    pa.reset_alloc_batches(m.pgdat.zonelist[0])      # fresh fair batches (see test_pcp)
    zone = m.zones[1]
    assert zone.nr_reserved_highatomic == 0
    assert m.kernel.alloc_pages("GFP_ATOMIC", 2) is not None
    m.check()
    # ALLOC_HARDER comes only from the slow path; the fast path served this one
    assert zone.nr_reserved_highatomic == 0
    # make the fast path fail (free pages at the low mark) so the slow path's HARDER
    # attempt serves an order-2 atomic request and reserves its pageblock
    zones = m.zones[:2]
    while any(z.vm_stat[lv.include.vm_event_item.NR_FREE_PAGES] > z.watermark[1]
              + z.lowmem_reserve[1] + 2 for z in zones):
        assert m.kernel.alloc_pages("GFP_DMA32", 0) is not None
    m.check()
    pfn2 = m.kernel.alloc_pages("GFP_ATOMIC", 2)
    m.check()
    assert pfn2 is not None and m.page_zone(pfn2) is zone
    assert zone.pb.get_pageblock_migratetype(pfn2) == lv.mm.mmzone.MIGRATE_HIGHATOMIC
    assert zone.nr_reserved_highatomic == pageblock_nr_pages
    # an order-0 free from that pageblock goes to the MOVABLE pcp list but back to the
    # HIGHATOMIC free list when drained
    m.kernel.free_pages(pfn2, 2)
    m.kernel.drain_all_pages()
    m.check()
    mm = m.mem_map
    assert any(pfn2 >> 9 == p >> 9 for o in range(MAX_ORDER)
               for p in mm.list_entries(zone.free_area[o].free_list[3]))


def test_bad_page_report_on_free():
    m = lv.Machine(ram="128M", cpus=1, seed=0)
    pfn = m.kernel.alloc_pages("GFP_KERNEL", 0)
    mm = m.mem_map
    mm.mc[pfn] = 0                                   # still mapped once
    n = len(m.dmesg())
    pa.__free_pages(m.pgdat, pfn, 0, 0)
    text = [l.split("] ", 1)[1] for l in m.dmesg()[n:]]
    flags = int(mm.f[pfn])
    assert text == [
        f"BUG: Bad page state in process swapper/0  pfn:{pfn:05x}",
        f"page:{0xffffea0000000000 + pfn * 64:016x} count:0 mapcount:1 mapping:(null) "
        f"index:0x0",
        f"flags: {flags:#x}()",
        "page dumped because: nonzero mapcount",
        "Disabling lock debugging due to kernel taint"]
    assert "B" in m.taint and mm.mc[pfn] == -1
    # the page is leaked, not put on a free list; a second report does not repeat the
    # lock-debugging line
    pfn2 = m.kernel.alloc_pages("GFP_KERNEL", 0)
    mm.mapping[pfn2] = 0x1000                        # a page-cache mapping left behind
    n = len(m.dmesg())
    pa.__free_pages(m.pgdat, pfn2, 0, 0)
    text = [l.split("] ", 1)[1] for l in m.dmesg()[n:]]
    assert text[-1] == "page dumped because: non-NULL mapping"
    assert "mapping:0000000000001000" in text[1]
    assert pfn not in mm.list_entries(m.zones[1].pageset[0].pcp.lists[0])


def test_show_free_areas_reference_sample():
    # the reference's DMA sample "1 1 1 0 2 1 0 0 1 1 3" adds up to 15644 kB; built here
    # in an emptied DMA32 zone from four order-10 blocks
    m = lv.Machine(ram="128M", cpus=1, seed=0)
    zone = m.zones[1]
    B, *big = empty_zone(m, zone)[MAX_ORDER - 1][:4]
    for b in big:
        give(zone, b, 10, MIGRATE_UNMOVABLE)
    split(zone, B)
    for off, order in [(1, 0), (2, 1), (4, 2), (16, 4), (48, 4), (64, 5), (512, 9),
                       (256, 8)]:
        give(zone, B + off, order, MIGRATE_UNMOVABLE)
    m.check()
    line = next(l for l in show_mem.show_free_areas(m.pgdat) if l.startswith("Node 0 DMA32: "))
    assert line == ("Node 0 DMA32: 1*4kB (U) 1*8kB (U) 1*16kB (U) 0*32kB 2*64kB (U) "
                    "1*128kB (U) 0*256kB 0*512kB 1*1024kB (U) 1*2048kB (U) 3*4096kB (U) "
                    "= 15644kB")
