"""The ``wp_page_copy`` accelerator (COW of an anonymous page with its helpers inlined)
leaves exactly the machine the reference leaves; ``touch_bulk`` hands runs of mapped
pages to the per-access path as a whole. Whole-machine fingerprints, ``m.check()`` after
every step, and broken-on-purpose variants the fingerprint must catch."""

import functools

import pytest

import linuxvm as lv
from linuxvm.accel import memory as accel_memory
from linuxvm.accel.fingerprint import assert_same, fingerprint
from linuxvm.lib.accel_registry import REGISTRY
from linuxvm.mm.page import PG_active
from linuxvm.mm.swap import PAGEVEC_SIZE

from test_fault_bulk import rebound

PAGE = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS


def w_cow_per_access(m, exit=True):
    #   parent writes 40 pages (some with bytes), forks; the parent writes them one
    #   access at a time (COW copies), the child then writes its own (reuse: last mapper)
    p = m.spawn("cow")
    a = p.mmap(None, 40 * PAGE, RW, ANON)
    p.touch(a, 40 * PAGE, write=True)
    p.write(a + 3 * PAGE, b"bytes that must follow the copy")
    m.check()
    c = p.fork()
    m.check()
    for i in range(40):
        p.access(a + i * PAGE, "w")
        m.check()
    assert p.read(a + 3 * PAGE, 5) == b"bytes"
    for i in range(0, 40, 3):
        c.access(a + i * PAGE, "w")
    m.check()
    if exit:                            # else the pagevecs stay as the copies left them
        c.exit()
        m.check()


def w_cow_mixed(m):
    #   a COW range written with one touch (touch_bulk's mapped run), a zero-page range
    #   (read, then written: the zero page's copy is the reference's), an mlocked range
    #   (VM_LOCKED: the reference), two children so pages stay shared after one copy
    p = m.spawn("mix")
    a = p.mmap(None, 600 * PAGE, RW, ANON)
    p.touch(a, 600 * PAGE, write=True)
    z = p.mmap(None, 30 * PAGE, RW, ANON)
    p.touch(z, 30 * PAGE)
    m.check()
    c1 = p.fork()
    c2 = p.fork()
    m.check()
    p.touch(a, 600 * PAGE, write=True)
    m.check()
    p.touch(z, 30 * PAGE, write=True)
    m.check()
    c1.mlock(a, 12 * PAGE)              # under the 64 KiB RLIMIT_MEMLOCK
    m.check()
    c1.touch(a, 20 * PAGE, write=True)
    c2.touch(a + 100 * PAGE, 300 * PAGE, write=True)
    m.check()
    c1.exit()
    c2.exit()
    p.munmap(a, 600 * PAGE)
    m.check()


def run(workload, fast, patch=None):
    m = lv.Machine(ram="256M", cpus=2, seed=5, fast=fast)
    if patch is not None:
        patch(m)
    workload(m)
    return fingerprint(m)


WORKLOADS = [w_cow_per_access, w_cow_mixed]


@pytest.mark.parametrize("fast", [{"wp_page_copy"}, {"touch_bulk"}, True])
@pytest.mark.parametrize("workload", WORKLOADS)
def test_cow_equals_the_reference(workload, fast):
    assert_same(run(workload, False), run(workload, fast))


def _no_active(m, mm, vma, address, ptr, orig_pte, old_page):
    """Broken on purpose: the new page misses PG_active (it would go to the inactive list)."""
    ret = accel_memory.wp_page_copy(m, mm, vma, address, ptr, orig_pte, old_page)
    if ret is not None:
        pvec = m.lru.lru_add_pvec[m.current_cpu]
        if pvec:
            pfn = pvec[-1]
            m.mem_map.f[pfn] = m.mem_map.f[pfn] & ~(1 << PG_active)
    return ret


# Broken on purpose: drains the pagevec one page early
_early_drain = rebound(accel_memory, "wp_page_copy", PAGEVEC_SIZE=PAGEVEC_SIZE - 1)


@pytest.mark.parametrize("broken", [_no_active, _early_drain])
def test_fingerprint_catches_a_wrong_copy(broken):
    def patch(m):
        m.accel.wp_page_copy = broken
    workload = functools.partial(w_cow_per_access, exit=False)
    good = run(workload, False)
    with pytest.raises(AssertionError):
        assert_same(good, run(workload, {"wp_page_copy"}, patch=patch))


def test_registered_for_its_reference():
    assert REGISTRY["wp_page_copy"].reference == "linuxvm.mm.memory.fault.wp_page_copy"
