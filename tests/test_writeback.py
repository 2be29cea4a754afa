"""Dirty tracking of shared file mappings and writeback: page_mkclean (mm/rmap.c) from
clear_page_dirty_for_io, msync (mm/msync.c), balance_dirty_pages at 4.6's thresholds
(mm/page-writeback.c), the flusher (fs/fs-writeback.c wb_workfn) and sync(2)."""

import errno

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import linuxvm as lv
from linuxvm.arch.x86.pgtable import (pt_entries, pte_write, pte_dirty, pte_pfn,
                                      _PAGE_RW, _PAGE_DIRTY)
from linuxvm.include.vm_event_item import (NR_FILE_DIRTY, NR_WRITEBACK, NR_WRITTEN,
                                           NR_DIRTIED)
from linuxvm.mm.backing_dev import I_DIRTY_PAGES
from linuxvm.mm.memory.pgtable import pte_lookup
from linuxvm.mm.page import PG_dirty, PG_locked, PG_writeback
from linuxvm.mm.page_writeback import (global_dirty_limits, dirty_freerun_ceiling,
                                       dirty_poll_interval, zone_dirty_limit, zone_dirty_ok)
from linuxvm.mm.rmap import page_mkclean
from linuxvm.mm.swap import lru_add_drain_all

P = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
BUF = 0x7e0000000000


def _pte(m, p, addr):
    ptr = pte_lookup(m, p.mm, addr)
    return int(pt_entries(m, ptr[0])[ptr[1]])


def _set_pte(m, p, addr, val):
    ptr = pte_lookup(m, p.mm, addr)
    pt_entries(m, ptr[0])[ptr[1]] = val


def _vmstat(m, key):
    for line in m.proc.read("/proc/vmstat").splitlines():
        name, val = line.split()
        if name == key:
            return int(val)
    raise KeyError(key)


def _dirty(m):
    return m.global_page_state(NR_FILE_DIRTY)


def _setup(npages=4, fast=True, ram="256M"):
    m = lv.Machine(ram=ram, aslr=False, fast=fast)
    p = m.spawn("sh")
    m.fs.create("/f", npages * P, data=bytes([0x41]) * (npages * P))
    fd = p.open("/f", lv.O_RDWR)
    m.check()
    return m, p, fd


def _disk(m, path="/f"):
    return bytes(m.fs.files[path].data)


# -- page_mkclean: cleaning write-protects, the next write faults and re-dirties --------------

def test_fsync_cleans_the_pte_and_the_next_write_dirties_again():
    m, p, fd = _setup()
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    p.write(a + 5, b"one")                        # do_shared_fault
    m.check()
    pfn = pte_pfn(_pte(m, p, a))
    assert _dirty(m) == 1
    assert p.fsync(fd) == 0                       # clear_page_dirty_for_io → page_mkclean
    m.check()
    pte = _pte(m, p, a)
    assert not pte_write(pte) and not pte_dirty(pte), "page_mkclean write-protects"
    assert not m.mem_map.f[pfn] & (1 << PG_dirty)
    assert _dirty(m) == 0 and m.global_page_state(NR_WRITEBACK) == 0
    assert _disk(m)[:8] == b"AAAAAone"
    flt = p.task.min_flt
    p.write(a + 5, b"two")                        # wp_page_shared: the TLB entry went too
    m.check()
    assert p.task.min_flt == flt + 1
    assert m.mem_map.f[pfn] & (1 << PG_dirty) and _dirty(m) == 1
    assert pte_write(_pte(m, p, a))
    assert p.fsync(fd) == 0
    m.check()
    assert _disk(m)[:8] == b"AAAAAtwo" and _dirty(m) == 0


def test_page_mkclean_counts_shared_ptes_only_and_moves_pte_dirt_to_the_page():
    m, p, fd = _setup()
    q = m.spawn("other")
    fq = q.open("/f", lv.O_RDWR)
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    b = q.mmap(None, 4 * P, RW, lv.MAP_SHARED, fq, 0)
    c = p.mmap(None, 4 * P, lv.PROT_READ, lv.MAP_PRIVATE, fd, 0)
    p.write(a, b"x")
    q.write(b + 1, b"y")
    assert p.read(c, 2) == b"xy"                  # a private read-only mapping of it too
    m.check()
    pfn = pte_pfn(_pte(m, p, a))
    assert pte_pfn(_pte(m, p, c)) == pfn
    f = m.mem_map.f
    f[pfn] = f[pfn] | (1 << PG_locked)
    assert page_mkclean(m, pfn) == 2             # the private PTE is not walked
    assert page_mkclean(m, pfn) == 0             # nothing left writable or dirty
    f[pfn] = f[pfn] & ~(1 << PG_locked)
    m.check()
    with pytest.raises(lv.KernelBug):
        page_mkclean(m, pfn)                      # BUG_ON(!PageLocked(page))


def test_a_dirty_pte_behind_a_clean_page_is_written_once_zap_moves_it_to_the_page():
    # a PTE the hardware dirtied behind a clean page (hand-made: 4.6 never leaves a clean
    # accounted page writable): writeback looks pages up by their dirty tag, so msync
    # does not see it; unmapping moves the PTE's dirt to the page, and then fsync does
    m, p, fd = _setup()
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    assert p.read(a, 1) == b"A"
    pte = _pte(m, p, a)
    pfn = pte_pfn(pte)
    m.page_contents[pfn] = bytearray(b"Z" * P)
    _set_pte(m, p, a, pte | _PAGE_RW | _PAGE_DIRTY)
    dirtied = m.global_page_state(NR_DIRTIED)
    assert p.msync(a, P, lv.MS_SYNC) == 0
    assert _disk(m)[:P] == b"A" * P
    p.munmap(a, 4 * P)
    m.check()
    assert m.global_page_state(NR_DIRTIED) == dirtied + 1
    assert p.fsync(fd) == 0
    m.check()
    assert _disk(m)[:P] == b"Z" * P


@pytest.mark.parametrize("fast", [True, False])
def test_zap_of_a_dirty_pte_dirties_the_file_page(fast):
    m, p, fd = _setup(fast=fast)
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    p.touch(a, 4 * P)                             # read faults: clean, read-only PTEs
    m.check()
    for i in range(4):
        _set_pte(m, p, a + i * P, _pte(m, p, a + i * P) | _PAGE_RW | _PAGE_DIRTY)
    pfns = [pte_pfn(_pte(m, p, a + i * P)) for i in range(4)]
    p.munmap(a, 4 * P)                            # zap_pte_range: pte_dirty → set_page_dirty
    m.check()
    assert all(m.mem_map.f[x] & (1 << PG_dirty) for x in pfns)
    assert _dirty(m) == 4
    assert m.fs.files["/f"].i_state & I_DIRTY_PAGES


# -- msync ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("args,err", [
    ((0, P, lv.MS_SYNC | 8), errno.EINVAL),                       # unknown flag
    ((1, P, lv.MS_SYNC), errno.EINVAL),                           # unaligned start
    ((0, P, lv.MS_SYNC | lv.MS_ASYNC), errno.EINVAL),             # both
    ((-P, 2 * P, lv.MS_SYNC), errno.ENOMEM),                       # wraps
    ((4 * P, P, lv.MS_SYNC), errno.ENOMEM),                        # past the mapping
])
def test_msync_errors(args, err):
    m, p, fd = _setup()
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    start, length, flags = args
    with pytest.raises(lv.SyscallError) as e:
        p.msync((a + start) & ((1 << 64) - 1), length, flags)
    assert e.value.errno == err
    m.check()


def test_msync_invalidate_on_locked_mapping_is_ebusy_and_nothing_is_invalidated():
    m, p, fd = _setup()
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    p.write(a, b"kept")
    assert p.msync(a, 4 * P, lv.MS_INVALIDATE) == 0
    assert p.read(a, 4) == b"kept" and _dirty(m) == 1   # 4.6 invalidates nothing
    p.mlock(a, 4 * P)
    with pytest.raises(lv.SyscallError) as e:
        p.msync(a, 4 * P, lv.MS_INVALIDATE | lv.MS_SYNC)
    assert e.value.errno == errno.EBUSY
    assert _dirty(m) == 1                          # EBUSY before anything is written
    m.check()


def test_msync_async_writes_nothing_and_sync_writes_the_vma_file_range():
    m, p, fd = _setup(npages=8)
    # map file pages 2..7 at a; dirty pages 2, 4 and 6 of the file
    a = p.mmap(None, 6 * P, RW, lv.MAP_SHARED, fd, 2 * P)
    for pg in (2, 4, 6):
        p.write(a + (pg - 2) * P, bytes([0x30 + pg]) * 4)
    m.check()
    assert _dirty(m) == 3
    out0, written0 = _vmstat(m, "pgpgout"), _vmstat(m, "nr_written")
    assert p.msync(a, 6 * P, lv.MS_ASYNC) == 0
    assert _dirty(m) == 3 and _vmstat(m, "pgpgout") == out0
    # msync of mapping pages 1..2 = file pages 3..4: only file page 4 is written
    assert p.msync(a + P, 2 * P, lv.MS_SYNC) == 0
    m.check()
    assert _dirty(m) == 2
    assert _vmstat(m, "nr_written") == written0 + 1
    assert _vmstat(m, "pgpgout") == out0 + 4       # 8 sectors, shown as KiB
    disk = _disk(m)
    assert disk[4 * P:4 * P + 4] == b"4444" and disk[2 * P:2 * P + 4] == b"AAAA"
    assert p.msync(a, 6 * P, lv.MS_SYNC) == 0
    m.check()
    assert _dirty(m) == 0 and m.global_page_state(NR_WRITEBACK) == 0
    assert _vmstat(m, "nr_written") == written0 + 3
    assert _disk(m)[6 * P:6 * P + 4] == b"6666"


def test_msync_over_a_hole_syncs_what_is_mapped_and_reports_enomem():
    m, p, fd = _setup()
    base = 0x7f1000000000
    p.mmap(base, P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS | lv.MAP_FIXED)
    p.mmap(base + 2 * P, 2 * P, RW, lv.MAP_SHARED | lv.MAP_FIXED, fd, 0)
    p.write(base + 2 * P, b"past the hole")
    with pytest.raises(lv.SyscallError) as e:
        p.msync(base, 4 * P, lv.MS_SYNC)
    assert e.value.errno == errno.ENOMEM
    m.check()
    assert _dirty(m) == 0 and _disk(m)[:13] == b"past the hole"


def test_msync_sync_bytes_reach_the_disk_and_come_back_after_drop_caches():
    m, p, fd = _setup()
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    p.write(a + P + 100, b"through mmap")
    assert p.msync(a, 4 * P, lv.MS_SYNC) == 0
    m.check()
    assert _disk(m)[P + 100:P + 112] == b"through mmap"
    p.munmap(a, 4 * P)
    lru_add_drain_all(m)
    m.sysctl["vm.drop_caches"] = 1
    m.check()
    assert m.fs.files["/f"].i_mapping.nrpages == 0
    pgpgin = _vmstat(m, "pgpgin")
    p.mmap(BUF, P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS | lv.MAP_FIXED)
    assert p.pread(fd, BUF, 12, P + 100) == 12
    assert p.read(BUF, 12) == b"through mmap"
    assert _vmstat(m, "pgpgin") > pgpgin            # read back from "disk"
    m.check()


# -- truncate, writeback state -----------------------------------------------------------------

def test_truncate_of_a_dirty_mapped_page_cancels_its_dirtiness():
    m, p, fd = _setup()
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    for i in range(4):
        p.write(a + i * P, b"d")
    assert _dirty(m) == 4
    dirtied = m.global_page_state(NR_DIRTIED)
    assert p.ftruncate(fd, P) == 0                 # unmap_mapping_range, cancel_dirty_page
    m.check()
    assert _dirty(m) == 1
    assert m.global_page_state(NR_DIRTIED) == dirtied
    assert not any("dirty pfn" in line for line in m.dmesg())
    assert p.fsync(fd) == 0
    m.check()
    assert _disk(m)[:1] == b"d" and len(_disk(m)) <= 4 * P


def test_no_page_stays_under_writeback():
    m, p, fd = _setup()
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    p.touch(a, 4 * P, write=True)
    assert p.fsync(fd) == 0
    f = m.mem_map.f
    assert not any(f[x] & (1 << PG_writeback)
                   for x in m.fs.files["/f"].i_mapping.i_pages.values())
    assert m.global_page_state(NR_WRITEBACK) == 0
    assert m.global_page_state(NR_WRITTEN) >= 4


# -- the flusher and sync(2) ---------------------------------------------------------------------

def test_flusher_writes_nothing_below_the_background_threshold_until_data_expires():
    m, p, fd = _setup()
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    p.write(a, b"old")
    assert m.run_flusher() == 0                    # 1 dirty page: far below bg_thresh
    m.check()
    assert _dirty(m) == 1
    m.clock_ns += 29 * 10 ** 9                     # younger than dirty_expire_centisecs
    assert m.run_flusher() == 0
    assert _dirty(m) == 1
    m.clock_ns += 2 * 10 ** 9                      # 31 s: expired (3000 centisecs), but
    assert m.run_flusher() == 0                    # the last periodic run was at 29 s
    m.clock_ns += 4 * 10 ** 9                      # 35 s: dirty_writeback_centisecs on
    assert m.run_flusher() == 1                    # wb_check_old_data_flush
    m.check()
    assert _dirty(m) == 0 and _disk(m)[:3] == b"old"
    assert not m.fs.files["/f"].i_state & I_DIRTY_PAGES


def test_old_data_flush_waits_dirty_writeback_centisecs_between_runs():
    m, p, fd = _setup()
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    m.clock_ns += 40 * 10 ** 9
    assert m.run_flusher() == 0                    # nothing dirty; the interval restarts
    p.write(a, b"x")
    m.clock_ns += 31 * 10 ** 9
    assert m.run_flusher() == 1
    p.write(a + P, b"y")
    m.clock_ns += 31 * 10 ** 9
    m.sysctl["vm.dirty_writeback_centisecs"] = 0   # periodic writeback off
    assert m.run_flusher() == 0
    m.sysctl["vm.dirty_writeback_centisecs"] = 500
    assert m.run_flusher() == 1
    m.check()


def test_flusher_background_writeback_above_bg_thresh():
    m, p, fd = _setup(npages=600)
    m.sysctl["vm.dirty_background_bytes"] = 100 * P
    m.sysctl["vm.dirty_bytes"] = 2000 * P          # no throttling in the way
    a = p.mmap(None, 600 * P, RW, lv.MAP_SHARED, fd, 0)
    p.touch(a, 600 * P, write=True)
    m.check()
    assert _dirty(m) == 600
    bg, thresh = global_dirty_limits(m)
    assert bg == 100
    wrote = m.run_flusher()
    m.check()
    # one pass writes a chunk (at least MIN_WRITEBACK_PAGES = 1024) of the one inode
    assert wrote == 600 and _dirty(m) == 0


def test_sync_writes_everything_and_ramfs_is_never_written():
    m, p, fd = _setup()
    m.fs.mount("ramfs", "/r")
    fr = p.open("/r/g", lv.O_RDWR | lv.O_CREAT)
    assert p.ftruncate(fr, 2 * P) == 0
    r = p.mmap(None, 2 * P, RW, lv.MAP_SHARED, fr, 0)
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    p.write(r, b"in ram")
    p.write(a + 3 * P, b"on disk")
    m.check()
    assert _dirty(m) == 1                          # ramfs does not account dirty pages
    out = _vmstat(m, "pgpgout")
    assert p.sync() == 0
    m.check()
    assert _dirty(m) == 0 and _disk(m)[3 * P:3 * P + 7] == b"on disk"
    assert _vmstat(m, "pgpgout") == out + 4
    rpfn = pte_pfn(_pte(m, p, r))
    assert m.mem_map.f[rpfn] & (1 << PG_dirty)    # ramfs keeps its page dirty
    assert pte_write(_pte(m, p, r))
    assert m.run_flusher() == 0
    assert p.read(r, 6) == b"in ram"


# -- dirty limits: balance_dirty_pages ---------------------------------------------------------

def test_freerun_below_the_ceiling_only_sets_the_next_check_point():
    m, p, fd = _setup(npages=64)
    t = p.task
    assert t.nr_dirtied == 0 and t.nr_dirtied_pause == 32
    a = p.mmap(None, 64 * P, RW, lv.MAP_SHARED, fd, 0)
    p.touch(a, 31 * P, write=True)
    assert t.nr_dirtied == 31                      # below nr_dirtied_pause: no check yet
    p.touch(a + 31 * P, P, write=True)
    bg, thresh = global_dirty_limits(m)
    assert 32 <= dirty_freerun_ceiling(thresh, bg)
    assert t.nr_dirtied == 0                       # balance_dirty_pages ran: freerun
    assert t.nr_dirtied_pause == dirty_poll_interval(32, thresh)
    assert _dirty(m) == 32 and m.global_page_state(NR_WRITTEN) == 0
    m.check()


def test_dirty_poll_interval_is_sqrt_of_the_room_left():
    assert dirty_poll_interval(0, 1) == 1
    assert dirty_poll_interval(0, 4) == 2
    assert dirty_poll_interval(0, 1 << 20) == 1 << 10
    assert dirty_poll_interval(100, 100) == 1
    assert dirty_poll_interval(200, 100) == 1


def test_ratelimit_pages_follows_dirty_bytes():
    m = lv.Machine(ram="256M", cpus=2, aslr=False)
    _, thresh = global_dirty_limits(m)
    # computed at boot (page_writeback_init), from the free memory of that moment
    assert abs(m.writeback.dirty_limit - thresh) < thresh // 100
    assert m.writeback.ratelimit_pages == max(16, m.writeback.dirty_limit // 64)
    m.sysctl["vm.dirty_bytes"] = 4096 * P
    assert m.writeback.ratelimit_pages == 4096 // 64 and m.writeback.dirty_limit == 4096
    m.sysctl["vm.dirty_bytes"] = 100 * P
    assert m.writeback.ratelimit_pages == 16


@pytest.mark.parametrize("how", ["mmap", "write"])
def test_dirtier_is_throttled_at_the_dirty_limit(how):
    npages = 1504
    m, p, fd = _setup(npages=npages)
    m.sysctl["vm.dirty_background_bytes"] = 100 * P
    m.sysctl["vm.dirty_bytes"] = 200 * P
    bg, thresh = global_dirty_limits(m)
    assert (bg, thresh) == (100, 200)
    wb = m.fs.mounts["/"].s_bdi.wb
    wakeups = wb.wakeups
    written0 = m.global_page_state(NR_WRITTEN)
    a = p.mmap(None, npages * P, RW, lv.MAP_SHARED, fd, 0)
    if how == "write":
        p.mmap(BUF, 16 * P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS | lv.MAP_FIXED)
        p.write(BUF, b"w" * 16 * P)
    peak = 0
    for i in range(0, npages, 16):
        if how == "mmap":
            p.touch(a + i * P, 16 * P, write=True)
        else:
            assert p.pwrite(fd, BUF, 16 * P, i * P) == 16 * P
        peak = max(peak, _dirty(m))
        assert m.global_page_state(NR_WRITEBACK) == 0
    m.check()
    # above the freerun ceiling (150) the flusher was woken; nobody got far past the limit:
    # at most the pages dirtied between two checks (nr_dirtied_pause, 8 while exceeded)
    assert wb.wakeups > wakeups
    assert dirty_freerun_ceiling(thresh, bg) < peak <= thresh + 16
    assert m.global_page_state(NR_WRITTEN) - written0 >= npages - thresh
    assert _dirty(m) <= thresh + 16
    assert p.fsync(fd) == 0
    m.check()
    want = b"w" if how == "write" else b"A"
    assert _disk(m) == want * (npages * P)


def test_throttling_charges_the_dirtier_not_the_flusher():
    m, p, fd = _setup(npages=400)
    m.sysctl["vm.dirty_bytes"] = 64 * P
    a = p.mmap(None, 400 * P, RW, lv.MAP_SHARED, fd, 0)
    p.touch(a, 400 * P, write=True)
    m.check()
    t = p.task
    assert t.nr_dirtied < t.nr_dirtied_pause or t.nr_dirtied <= 8
    assert m.current is not None


# -- a random history with a content oracle and a disk oracle ------------------------------------

MAXP = 10
MAP_AT = 0x7f0000000000
op = st.one_of(
    st.tuples(st.just("write"), st.integers(0, MAXP * P - 1), st.integers(1, 2 * P),
              st.integers(1, 255)),
    st.tuples(st.just("mapwrite"), st.integers(0, MAXP - 1), st.integers(0, P - 8),
              st.integers(1, 255), st.booleans()),
    st.tuples(st.just("mapread"), st.integers(0, MAXP - 1), st.integers(0, P - 1)),
    st.tuples(st.just("msync"), st.integers(0, MAXP - 1), st.integers(1, MAXP),
              st.sampled_from([lv.MS_SYNC, lv.MS_ASYNC])),
    st.tuples(st.just("truncate"), st.integers(0, MAXP * P)),
    st.tuples(st.just("fork")),
    st.tuples(st.just("fsync")),
    st.tuples(st.just("sync")),
    st.tuples(st.just("flusher"), st.integers(0, 40)),
    st.tuples(st.just("drop")),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=25), st.sampled_from([0, 4, 12]))
def test_random_shared_writes_msync_and_writeback_keep_contents(ops, limit_pages):
    m = lv.Machine(ram="256M", aslr=False)
    if limit_pages:
        m.sysctl["vm.dirty_background_bytes"] = (limit_pages // 2) * P
        m.sysctl["vm.dirty_bytes"] = limit_pages * P
    p = m.spawn("fz")
    init = bytes((i * 7 + 3) & 0xFF for i in range(5 * P + 10))
    m.fs.create("/f", len(init), init)
    fd = p.open("/f", lv.O_RDWR)
    p.mmap(BUF, 3 * P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS | lv.MAP_FIXED)
    p.mmap(MAP_AT, MAXP * P, RW, lv.MAP_SHARED | lv.MAP_FIXED, fd, 0)
    content = bytearray(init)
    child = None

    def disk_matches():
        size = len(content)
        return bytes(m.fs.files["/f"].data[:size]).ljust(size, b"\0") == bytes(content)

    for o in ops:
        kind = o[0]
        if kind == "write":
            _, off, n, val = o
            n = min(n, MAXP * P - off)
            p.write(BUF, bytes([val]) * n)
            assert p.pwrite(fd, BUF, n, off) == n
            if off > len(content):
                content.extend(bytes(off - len(content)))
            content[off:off + n] = bytes([val]) * n
        elif kind in ("mapwrite", "mapread"):
            pg, off = o[1], o[2]
            who = child if kind == "mapwrite" and o[4] and child is not None else p
            inside = pg * P < len(content)
            try:
                if kind == "mapwrite":
                    who.write(MAP_AT + pg * P + off, bytes([o[3]]) * 8)
                    assert inside
                    end = min(len(content), pg * P + off + 8)
                    content[pg * P + off:end] = bytes([o[3]]) * (end - pg * P - off)
                else:
                    got = who.read(MAP_AT + pg * P + off, 1)
                    assert inside
                    want = content[pg * P + off:pg * P + off + 1] or b"\0"
                    assert got == want
            except lv.BusError:
                assert not inside
        elif kind == "msync":
            _, pg, n, flags = o
            n = min(n, MAXP - pg)
            assert p.msync(MAP_AT + pg * P, n * P, flags) == 0
            if flags == lv.MS_SYNC and pg == 0 and n == MAXP:
                assert disk_matches()
        elif kind == "truncate":
            assert p.ftruncate(fd, o[1]) == 0
            content = content[:o[1]].ljust(o[1], b"\0")
        elif kind == "fork":
            if child is not None:
                child.exit()
            child = p.fork()
        elif kind == "fsync":
            assert p.fsync(fd) == 0
            assert disk_matches()
        elif kind == "sync":
            assert p.sync() == 0
            assert disk_matches()
            assert _dirty(m) == 0
        elif kind == "flusher":
            m.clock_ns += o[1] * 10 ** 9
            m.run_flusher()
        elif kind == "drop":
            lru_add_drain_all(m)
            m.sysctl["vm.drop_caches"] = 1
        m.check()
        assert m.global_page_state(NR_WRITEBACK) == 0
        if limit_pages:
            assert _dirty(m) <= limit_pages + 8
    # every byte, through read(2) and through the mapping, then from disk after a drop
    n = len(content)
    assert p.fsync(fd) == 0
    assert disk_matches()
    if n:
        p.munmap(BUF, 3 * P)
        p.mmap(BUF, MAXP * P + P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS | lv.MAP_FIXED)
        assert p.pread(fd, BUF, n, 0) == n
        assert p.read(BUF, n) == bytes(content)
        assert p.read(MAP_AT, n) == bytes(content)
    if child is not None:
        child.exit()
    p.exit()
    m.check()


def test_page_cache_writes_spread_over_zones_by_their_dirty_limits():
    # zone_dirty_ok: a __GFP_WRITE allocation skips a zone already holding its share of
    # the dirty limit, so no zone gets more than one page past its share
    m = lv.Machine(ram="5G", aslr=False)
    p = m.spawn("sh")
    m.fs.create("/f", 0)
    fd = p.open("/f", lv.O_RDWR)
    m.sysctl["vm.dirty_bytes"] = 6000 * P
    m.sysctl["vm.dirty_background_bytes"] = 5000 * P
    p.mmap(BUF, 64 * P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS | lv.MAP_FIXED)
    p.write(BUF, b"q" * 64 * P)
    worst = None
    for i in range(0, 5056, 64):
        assert p.pwrite(fd, BUF, 64 * P, i * P) == 64 * P
        over = max(z.vm_stat[NR_FILE_DIRTY] - zone_dirty_limit(m, z) for z in m.zones)
        worst = over if worst is None else max(worst, over)
    m.check()
    assert worst <= 1
    normal, dma32 = m.zones[2], m.zones[1]
    assert normal.vm_stat[NR_FILE_DIRTY] > 0 and dma32.vm_stat[NR_FILE_DIRTY] > 0
    assert all(zone_dirty_ok(z) == (z.vm_stat[NR_FILE_DIRTY] + z.vm_stat[NR_WRITEBACK]
                                    <= zone_dirty_limit(m, z)) for z in m.zones)


def test_an_exiting_dirtier_leaves_its_pages_to_the_next_one():
    m, p, fd = _setup(npages=64)
    c = p.fork()
    a = c.mmap(None, 64 * P, RW, lv.MAP_SHARED, fd, 0)
    c.touch(a, 10 * P, write=True)
    assert c.task.nr_dirtied == 10
    cpu = m.current_cpu
    c.exit()
    assert m.writeback.dirty_throttle_leaks[cpu] == 10
    b = p.mmap(None, 64 * P, RW, lv.MAP_SHARED, fd, 0)
    p.write(b + 20 * P, b"x")                      # balance_dirty_pages_ratelimited
    assert m.writeback.dirty_throttle_leaks[cpu] == 0
    assert p.task.nr_dirtied == 11
    m.check()
