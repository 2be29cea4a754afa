"""release_pages as 4.6 has it (mm/swap.c): pages that reach zero leave their LRU lists,
are collected with list_add and freed by free_hot_cold_page_list last-released first; the
mmu_gather hands them over a batch at a time (the bundle of 8, then 510 a batch). The
``release_pages`` and ``free_hot_cold_page_list`` accelerators leave the same machine."""

import numpy as np
import pytest

import linuxvm as lv
from linuxvm.accel import page_alloc as accel_page_alloc, swap as accel_swap
from linuxvm.accel.fingerprint import assert_same, fingerprint
from linuxvm.mm.swap import release_pages

from test_fault_bulk import rebound, run, w_big_exit, w_exit_and_munmap, w_fork_copy

PAGE = 4096
BOTH = {"release_pages", "free_hot_cold_page_list"}


def _kernel_pages(m, n):
    """``n`` order-0 pages of a zone whose pcp lists hold pages (not the tiny DMA zone)."""
    out = []
    while len(out) < n:
        pfn = m.kernel.alloc_pages("GFP_KERNEL", 0)
        if m.page_zone(pfn).pageset[0].pcp.high >= 8:
            out.append(pfn)
    return out


def test_reference_frees_the_collected_list_last_released_first():
    m = lv.Machine(ram="256M", cpus=1, seed=0, fast=False)
    a, b, c = _kernel_pages(m, 3)
    m.check()
    release_pages(m, [a, b, c], cpu=0)
    m.check()
    mm = m.mem_map
    zone = m.page_zone(a)
    head = zone.pageset[0].pcp.lists[mm.index[a]]
    first3 = mm.list_entries(head)[:3]
    # list_add collects c, b, a from the head; the frees go c, b, a; each hot free is a
    # list_add to the pcp list, so a ends first
    assert first3 == [a, b, c]


def test_cold_release_goes_to_the_pcp_tail():
    m = lv.Machine(ram="256M", cpus=1, seed=0, fast=False)
    pages = _kernel_pages(m, 3)
    release_pages(m, pages, cold=True, cpu=0)
    m.check()
    mm = m.mem_map
    head = m.page_zone(pages[0]).pageset[0].pcp.lists[mm.index[pages[0]]]
    # c, b, a each list_add_tail'ed: a ends last, b before it (c may already have gone
    # to the buddy lists if the list reached its high mark: the bulk free takes the tail)
    assert mm.list_entries(head)[-2:] == [pages[1], pages[0]]


def test_the_gather_releases_a_batch_at_a_time():
    #   2000 written pages unmapped: the bundle of 8, then batches of 510
    m = lv.Machine(ram="256M", cpus=1, seed=0, fast=False)
    sizes = []

    def record(m_, pfns, cold=False, cpu=None):
        sizes.append(len(pfns))
        return False                          # hand every list back to the reference
    m.accel.release_pages = record
    p = m.spawn("b")
    a = p.mmap(None, 2000 * PAGE, 3, 0x22)
    p.touch(a, 2000 * PAGE, write=True)
    m.check()
    sizes.clear()
    p.munmap(a, 2000 * PAGE)
    m.check()
    gathered = [s for s in sizes if s > 0]
    # pagevec drains release at most 14 pages; the gather's batches are 8, 510, 510, ...
    assert [s for s in gathered if s in (8, 510)][:4] == [8, 510, 510, 510]
    assert sum(s for s in gathered) >= 2000


def w_cold_and_mixed(m, touch):
    """Kernel pages from both ends of the zones released hot and cold, more than the pcp
    high mark, with some written (contents dropped on free)."""
    p = m.spawn("k")
    a = p.mmap(None, 900 * PAGE, 3, 0x22)
    touch(p, a, 900 * PAGE, True)
    p.write(a + 5 * PAGE, b"data")
    m.check()
    pages = [m.kernel.alloc_pages("GFP_DMA", 0) for _ in range(40)]
    pages += [m.kernel.alloc_pages("GFP_KERNEL", 0) for _ in range(500)]
    m.check()
    release_pages(m, pages[:200], cold=False)
    m.check()
    release_pages(m, pages[200:], cold=True)
    m.check()
    p.munmap(a, 600 * PAGE)
    m.check()
    p.exit()
    m.check()


WORKLOADS = [w_fork_copy, w_exit_and_munmap, w_big_exit, w_cold_and_mixed]


@pytest.mark.parametrize("fast", [{"free_hot_cold_page_list"}, {"release_pages"}, BOTH])
@pytest.mark.parametrize("workload", WORKLOADS)
def test_batch_free_equals_the_reference(workload, fast):
    assert_same(run(workload, False), run(workload, fast))


def _wrong_order(pgdat, pages, cold, cpu):
    """Broken on purpose: frees the list first-released first."""
    return accel_page_alloc.free_hot_cold_page_list(pgdat, list(pages)[::-1], cold, cpu)


def _hot_always(pgdat, pages, cold, cpu):
    """Broken on purpose: ignores ``cold``."""
    return accel_page_alloc.free_hot_cold_page_list(pgdat, pages, False, cpu)


@pytest.mark.parametrize("broken,workload", [(_wrong_order, w_big_exit),
                                             (_hot_always, w_cold_and_mixed)])
def test_fingerprint_catches_a_wrong_batch_free(broken, workload):
    def patch(m):
        m.accel.free_hot_cold_page_list = broken
    good = run(workload, False)
    with pytest.raises(AssertionError):
        assert_same(good, run(workload, BOTH, patch=patch))


def test_lru_survivors_keep_their_links():
    #   A and B written a page each in turn, so their pages alternate on the LRU lists;
    #   munmap(A) takes every other page off: B's pages must link to each other as after
    #   one list_del at a time
    def build(fast):
        m = lv.Machine(ram="256M", cpus=1, seed=3, fast=fast)
        p = m.spawn("l")
        a = p.mmap(None, 300 * PAGE, 3, 0x22)
        b = p.mmap(None, 300 * PAGE, 3, 0x22)
        for i in range(300):
            p.access(a + i * PAGE, "w")
            p.access(b + i * PAGE, "w")
        m.check()
        p.munmap(a, 300 * PAGE)
        m.check()
        return m
    m1, m2 = build(False), build(BOTH)
    assert np.array_equal(m1.mem_map.lru_next, m2.mem_map.lru_next)
    assert np.array_equal(m1.mem_map.lru_prev, m2.mem_map.lru_prev)
    assert_same(fingerprint(m1), fingerprint(m2))


# -- the add pagevec's drain (the ``pagevec_lru_add`` accelerator) ---------------------------

def _drains(m):
    """Pagevec drains over every kind of page: new anonymous pages one at a time, file
    pages from read(2), mlocked (unevictable) pages, pages unmapped while they wait in the
    pagevec (the drain frees them), THPs, both CPUs."""
    log = []
    p = m.spawn("drain", uid=0)                         # mlock past RLIMIT_MEMLOCK
    a = p.mmap(None, 200 * PAGE, lv.PROT_READ | lv.PROT_WRITE,
               lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    for i in range(0, 200, 3):
        p.access(a + i * PAGE, "w")
        m.check()
    p.madvise(a, 40 * PAGE, lv.MADV_DONTNEED)           # some wait in the pagevec: freed
    m.check()
    for i in range(1, 60, 3):
        p.access(a + i * PAGE, "w")
    m.check()
    p.mlock(a + 100 * PAGE, 30 * PAGE)                  # unevictable pages
    for i in range(100, 130):
        p.access(a + i * PAGE, "w")
    m.check()
    fd = p.open("/f", lv.O_RDWR | lv.O_CREAT, 0o600)
    log.append(p.sys_write(fd, a, 60 * PAGE))           # file pages into the pagevec
    m.check()
    p.task.cpu = 1
    for i in range(2, 200, 3):
        p.access(a + i * PAGE, "w")
    m.check()
    t = p.mmap(None, 8 << 20, lv.PROT_READ | lv.PROT_WRITE,
               lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.madvise(t, 8 << 20, lv.MADV_HUGEPAGE)
    for i in range(0, 2048, 97):                        # THP heads, where the model has them
        p.access(t + i * PAGE, "w")
    m.check()
    c = p.fork()
    c.touch(a, 200 * PAGE, write=True)
    m.check()
    c.exit()
    p.exit()
    m.check()
    return log


@pytest.mark.parametrize("fast", [{"pagevec_lru_add"}, True], ids=["alone", "all"])
def test_pagevec_drain_equals_the_reference(fast):
    def one(fast, patch=None):
        m = lv.Machine(ram="256M", cpus=2, seed=4, thp="always", fast=fast)
        if patch is not None:
            patch(m)
        log = _drains(m)
        fp = fingerprint(m)
        fp["log"] = log
        return fp
    assert_same(one(False), one(fast))


def test_fingerprint_catches_a_wrong_pagevec_drain():
    broken = rebound(accel_swap, "pagevec_lru_add", _ACTIVE_BIT=0)    # all inactive

    def one(fast, patch=None):
        m = lv.Machine(ram="256M", cpus=2, seed=4, thp="always", fast=fast)
        if patch is not None:
            patch(m)
        return fingerprint(m) if _drains(m) is not None else None

    def patch(m):
        m.accel.pagevec_lru_add = broken
    # the fingerprint differs, or m.check() finds the lists and flags disagree
    with pytest.raises((AssertionError, lv.KernelBug)):
        assert_same(one(False), one({"pagevec_lru_add"}, patch))
