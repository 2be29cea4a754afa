"""The bulk touch path leaves exactly the state the per-access path leaves (DESIGN §3: fast
paths must equal slow paths). Two machines run the same workload, one through
``uaccess.touch`` (one access at a time), one through ``uaccess.touch_bulk``; every
struct page array, free list, pcp and LRU list, page-table byte, TLB set and counter,
RSS figure, content tag and log line must then be equal."""

import numpy as np
import pytest

import linuxvm as lv
from linuxvm.arch.x86 import uaccess

PAGE = 4096


def fingerprint(m):
    mm = m.mem_map
    out = {}
    for name in ("flags", "_refcount", "_mapcount", "mapping", "index", "private",
                 "lru_next", "lru_prev", "compound_head", "content"):
        out[name] = getattr(mm, name).copy()
    out["pageblocks"] = m.pgdat.pageblock_flags.bits.copy()
    out["zones"] = [(list(z.vm_stat), [a.nr_free for a in z.free_area], z.flags,
                     [(ps.pcp.count, ps.pcp.high, ps.pcp.batch) for ps in z.pageset])
                    for z in m.zones]
    out["events"] = list(m.pgdat.vm_events)
    out["contents"] = {pfn: bytes(b) for pfn, b in m.page_contents.items()}
    out["content_seq"] = m.content_seq
    out["pagevecs"] = [list(p) for p in m.lru.lru_add_pvec]
    out["tlb"] = [(c.cr2, c.cr3, c.tlb.counters(),
                   [[list(s.items()) for s in lv_.sets] for lv_ in c.tlb.levels()])
                  for c in m.cpus]
    out["tasks"] = [(t.pid, t.min_flt, t.maj_flt, list(t.rss_stat.count), t.rss_stat.events,
                     list(t.mm.rss_stat) if t.mm else None,
                     (t.mm.nr_ptes, t.mm.nr_pmds, t.mm.hiwater_rss) if t.mm else None)
                    for t in m.tasks.values()]
    out["anon_vmas"] = sorted((h, av.degree, av.refcount, len(av.rb_root))
                              for h, av in m.anon_vmas.items())
    out["log"] = m.dmesg()
    return out


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, np.ndarray):
            diff = np.flatnonzero(x != y)
            assert diff.size == 0, f"{k} differs at index {diff[:5]}: {x[diff[:5]]} vs {y[diff[:5]]}"
        else:
            assert x == y, f"{k} differs"


def run(workload, bulk):
    m = lv.Machine(ram="512M", cpus=2, seed=7)
    touch = uaccess.touch_bulk if bulk else uaccess.touch

    def step(p, a, n, w=False):
        touch(m, p.task, a, n, w)
        m.check()                       # read-only: both runs stay comparable

    workload(m, step)
    m.check()
    return fingerprint(m)


def w_write_range(m, touch):
    #   one 3 MiB region written end to end: a PTE table per 2 MiB, pagevec drains every 14
    p = m.spawn("a")
    m.check()
    a = p.mmap(None, 3 << 20, 3, 0x22)
    m.check()
    touch(p, a + 5 * PAGE, (3 << 20) - 5 * PAGE, True)


def w_read_then_write(m, touch):
    p = m.spawn("b")
    m.check()
    a = p.mmap(None, 600 * PAGE, 3, 0x22)
    m.check()
    touch(p, a, 300 * PAGE)                     # zero page
    touch(p, a + 100 * PAGE, 400 * PAGE, True)  # COW of zero-page PTEs, then fresh faults


def w_holes_and_fork(m, touch):
    p = m.spawn("c")
    m.check()
    a = p.mmap(None, 256 * PAGE, 3, 0x22)
    m.check()
    touch(p, a, 10 * PAGE, True)
    touch(p, a + 50 * PAGE, 100 * PAGE, True)
    c = p.fork()
    m.check()
    touch(c, a, 256 * PAGE, True)               # COW breaks and fresh faults, interleaved
    touch(p, a, 256 * PAGE)
    b = p.mmap(None, 64 * PAGE, 1, 0x22)        # read-only VMA
    m.check()
    touch(p, b, 64 * PAGE)
    c.exit()
    m.check()


def w_many_vmas(m, touch):
    p = m.spawn("d")
    m.check()
    addrs = [p.mmap(None, 37 * PAGE, 3, 0x22) for _ in range(5)]
    m.check()
    p.mprotect(addrs[2], 10 * PAGE, 1)
    m.check()
    for a in addrs:
        touch(p, a, 37 * PAGE, a != addrs[2])
    # a range spanning several VMAs and a hole
    touch(p, addrs[-1], 37 * PAGE, True)


def w_cross_cpu_free(m, touch):
    # pages wait in CPU 0's pagevec; the task moves to CPU 1 and unmaps them (the zap drains
    # only CPU 1's pagevec), so CPU 0's next drain frees them between two allocations
    p = m.spawn("x")
    m.check()
    a = p.mmap(None, 40 * PAGE, 3, 0x22)
    m.check()
    touch(p, a, 5 * PAGE, True)
    p.task.cpu = 1
    m.check()
    p.munmap(a, 5 * PAGE)
    m.check()
    p.task.cpu = 0
    m.check()
    touch(p, a + 8 * PAGE, 30 * PAGE, True)


@pytest.mark.parametrize("workload", [w_write_range, w_read_then_write, w_holes_and_fork,
                                      w_many_vmas, w_cross_cpu_free])
def test_bulk_touch_equals_per_access(workload):
    assert_same(run(workload, False), run(workload, True))


def test_bulk_touch_segfaults_like_per_access():
    m = lv.Machine(ram="256M", cpus=1, seed=2)
    p = m.spawn("s")
    a = p.mmap(None, 8 * PAGE, 3, 0x22)
    p.munmap(a + 4 * PAGE, 4 * PAGE)
    with pytest.raises(lv.SegmentationFault) as e:
        uaccess.touch_bulk(m, p.task, a, 8 * PAGE, True)
    assert (e.value.code, e.value.addr) == (1, a + 4 * PAGE)
    m.check()
    assert p.task.min_flt >= 4


def w_exit_and_munmap(m, touch):
    p = m.spawn("z")
    m.check()
    a = p.mmap(None, 3000 * PAGE, 3, 0x22)
    m.check()
    touch(p, a, 1200 * PAGE)
    touch(p, a + 100 * PAGE, 2800 * PAGE, True)         # > one gather batch (510 pages)
    c = p.fork()
    m.check()
    touch(c, a + 500 * PAGE, 300 * PAGE, True)
    p.munmap(a + 7 * PAGE, 1100 * PAGE)                  # partial tables at both ends
    m.check()
    p.madvise(a + 2000 * PAGE, 600 * PAGE, 4)            # MADV_DONTNEED
    m.check()
    c.exit()
    m.check()
    p.exit()
    m.check()


def w_fork_copy(m, touch):
    w_holes_and_fork(m, touch)
    p = m.spawn("forker")
    m.check()
    a = p.mmap(None, 700 * PAGE, 3, 0x22)
    m.check()
    touch(p, a, 300 * PAGE)
    touch(p, a + 200 * PAGE, 500 * PAGE, True)
    p.mprotect(a + 600 * PAGE, 50 * PAGE, 1)
    m.check()
    c = p.fork()
    m.check()
    c.fork()
    m.check()
    touch(c, a, 600 * PAGE, True)


def w_big_exit(m, touch):
    """More pages than the gather holds (8 + 19 * 510), so flushes are forced mid-zap;
    zero-page entries, an mlocked stretch (per-entry fallback) and a COW split."""
    p = m.spawn("big")
    a = p.mmap(None, 12000 * PAGE, 3, 0x22)
    m.check()
    touch(p, a, 12000 * PAGE, True)
    p.munmap(a + 5000 * PAGE, 40 * PAGE)
    b = p.mmap(a + 5000 * PAGE, 40 * PAGE, 3, 0x32)     # MAP_FIXED: read faults map zero pages
    touch(p, b, 40 * PAGE)
    m.check()
    p.mlock(a + 7000 * PAGE, 12 * PAGE)
    m.check()
    c = p.fork()
    m.check()
    touch(c, a + 100 * PAGE, 2000 * PAGE, True)
    c.exit()                                             # shared pages: references only
    m.check()
    p.munmap(a + 1000 * PAGE, 10500 * PAGE)              # frees, several forced flushes
    m.check()
    p.exit()
    m.check()


# each batch path and the one-at-a-time path it must equal: (module, switch)
FAST_PATHS = [("fault", "COPY_PTE_RANGE_VECTORISED"), ("fault", "ZAP_PTE_RANGE_VECTORISED"),
              ("swap", "RELEASE_PAGES_VECTORISED")]


@pytest.mark.parametrize("module,switch", FAST_PATHS)
@pytest.mark.parametrize("workload", [w_fork_copy, w_exit_and_munmap, w_big_exit])
def test_batch_path_equals_one_at_a_time(module, switch, workload, monkeypatch):
    import importlib
    mod = importlib.import_module(f"linuxvm.mm.{module}")
    monkeypatch.setattr(mod, switch, False)
    slow = run(workload, False)
    monkeypatch.setattr(mod, switch, True)
    assert_same(slow, run(workload, False))


def test_fingerprint_catches_a_wrong_free_order(monkeypatch):
    """A vectorised zap that gathers its pages in the wrong order frees them in the wrong
    order; the comparison above must see that (so it can fail)."""
    from linuxvm.mm import fault
    good = run(w_big_exit, False)
    real = fault.zap_pte_tables

    def reversed_gather(tlb, vma, tables):
        before = len(tlb.pages)
        done = real(tlb, vma, tables)
        tlb.pages[before:] = [p[::-1] for p in reversed(tlb.pages[before:])]
        return done

    monkeypatch.setattr(fault, "zap_pte_tables", reversed_gather)
    with pytest.raises(AssertionError):
        assert_same(good, run(w_big_exit, False))
