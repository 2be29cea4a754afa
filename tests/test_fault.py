"""Demand paging for anonymous memory: the fault path, zero page, COW, fork, exit, rmap and
pagemap (issue 5). Every step is followed by m.check()."""

import struct

import pytest

import linuxvm as lv
from linuxvm.include.vm_event_item import VM_EVENT, NR_ANON_PAGES

PAGE = 4096
RW = 3
PRIV_ANON = 0x22
PM_PRESENT, PM_EXCL, PM_SOFT_DIRTY = 1 << 63, 1 << 56, 1 << 55
PFN_MASK = (1 << 55) - 1


@pytest.fixture
def m():
    return lv.Machine(ram="512M", cpus=2, seed=1)


STEPS = ("mmap", "munmap", "mprotect", "mremap", "madvise", "mlock", "munlock", "brk", "open",
         "close", "fork", "exit", "read", "write", "touch", "access")


@pytest.fixture(autouse=True)
def check_after_every_step(monkeypatch):
    """Every system call and access of every process in this module is followed by
    m.check(), whether it returned or raised."""
    def checked(name):
        orig = getattr(lv.Process, name)

        def call(self, *args, **kwargs):
            try:
                return orig(self, *args, **kwargs)
            finally:
                self.m.check()
        return call

    for name in STEPS:
        monkeypatch.setattr(lv.Process, name, checked(name))


def pagemap(m, p, addr, n=1):
    raw = m.proc.read_bytes(f"/proc/{p.pid}/pagemap", (addr >> 12) * 8, n * 8)
    return list(struct.unpack(f"{n}Q", raw))


def status(m, p, field):
    for line in m.proc.read(f"/proc/{p.pid}/status").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def rss_anon_pages(p):
    """MM_ANONPAGES including the task's SPLIT_RSS_COUNTING cache (the exact figure)."""
    return p.mm.rss_stat[1] + p.task.rss_stat.count[1]


def test_write_fault_allocates_zeroed_page(m):
    p = m.spawn("w")
    a = p.mmap(None, 16 * PAGE, RW, PRIV_ANON)
    flt = p.task.min_flt
    p.touch(a, 16 * PAGE, write=True)
    m.check()
    assert p.task.min_flt - flt == 16
    assert rss_anon_pages(p) == 16
    assert p.read(a + 5, 3) == b"\0\0\0"
    ents = pagemap(m, p, a, 16)
    assert all(e & PM_PRESENT and e & PM_EXCL for e in ents)
    assert len({e & PFN_MASK for e in ents}) == 16
    m.check()


def test_read_fault_maps_shared_zero_page(m):
    p = m.spawn("r")
    a = p.mmap(None, 64 * PAGE, RW, PRIV_ANON)
    free = m.nr_free_pages()
    p.touch(a, 64 * PAGE)
    m.check()
    assert rss_anon_pages(p) == 0
    ents = pagemap(m, p, a, 64)
    assert {e & PFN_MASK for e in ents} == {m.zero_pfn}
    assert all(e & PM_PRESENT and not e & PM_EXCL for e in ents)
    # only page tables were allocated, no data pages
    assert free - m.nr_free_pages() <= 8
    assert m.mem_map.rc[m.zero_pfn] >= 1 and p.task.min_flt >= 64
    m.check()


def test_read_then_write_breaks_zero_page_cow(m):
    p = m.spawn("rw")
    a = p.mmap(None, PAGE, RW, PRIV_ANON)
    p.touch(a, PAGE)
    f0 = p.task.min_flt
    p.write(a, b"x")
    m.check()
    assert p.task.min_flt - f0 == 1
    (e,) = pagemap(m, p, a)
    assert e & PFN_MASK != m.zero_pfn and e & PM_EXCL
    assert p.read(a, 2) == b"x\0"
    m.check()


def test_fork_child_writes_copy_and_parent_keeps_data(m):
    #   parent: AAAA written; fork; child writes pages 0,1 -> private copies in the child
    p = m.spawn("parent")
    a = p.mmap(None, 4 * PAGE, RW, PRIV_ANON)
    p.write(a, b"parent")
    p.touch(a, 4 * PAGE, write=True)
    m.check()
    before = pagemap(m, p, a, 4)
    c = p.fork()
    m.check()
    after_fork = pagemap(m, p, a, 4)
    assert [e & PFN_MASK for e in after_fork] == [e & PFN_MASK for e in before]
    assert all(not e & PM_EXCL for e in after_fork)          # shared by two PTEs now
    f0 = c.task.min_flt
    c.write(a, b"child!")
    c.touch(a + PAGE, PAGE, write=True)
    m.check()
    assert c.task.min_flt - f0 == 2
    assert p.read(a, 6) == b"parent" and c.read(a, 6) == b"child!"
    cp = pagemap(m, c, a, 4)
    assert cp[0] & PFN_MASK != before[0] & PFN_MASK
    assert cp[2] & PFN_MASK == before[2] & PFN_MASK           # untouched: still shared
    c.exit()
    m.check()


def test_parent_write_after_child_exit_reuses_page(m):
    p = m.spawn("parent")
    a = p.mmap(None, 2 * PAGE, RW, PRIV_ANON)
    p.touch(a, 2 * PAGE, write=True)
    c = p.fork()
    c.exit()
    m.check()
    before = pagemap(m, p, a, 2)
    free = m.nr_free_pages()
    f0 = p.task.min_flt
    p.touch(a, 2 * PAGE, write=True)      # write-protected PTEs: do_wp_page reuses
    m.check()
    assert p.task.min_flt - f0 == 2
    assert [e & PFN_MASK for e in pagemap(m, p, a, 2)] == [e & PFN_MASK for e in before]
    assert m.nr_free_pages() >= free       # nothing copied
    m.check()


def test_fork_parent_writes_copies_in_parent(m):
    p = m.spawn("parent")
    a = p.mmap(None, 3 * PAGE, RW, PRIV_ANON)
    p.touch(a, 3 * PAGE, write=True)
    c = p.fork()
    cbefore = pagemap(m, c, a, 3)
    p.touch(a, 3 * PAGE, write=True)
    m.check()
    assert [e & PFN_MASK for e in pagemap(m, c, a, 3)] == [e & PFN_MASK for e in cbefore]
    assert all(e & PM_EXCL for e in pagemap(m, c, a, 3))     # the child is now alone
    c.exit()
    p.exit()
    m.check()


def test_zero_page_ptes_are_not_copied_without_anon_vma(m):
    # a read-only-faulted VMA has no anon_vma: copy_page_range skips it, the child refaults
    p = m.spawn("z")
    a = p.mmap(None, 4 * PAGE, RW, PRIV_ANON)
    p.touch(a, 4 * PAGE)
    c = p.fork()
    m.check()
    assert c.mm.nr_ptes == 0
    assert pagemap(m, c, a, 1)[0] & PM_PRESENT == 0
    c.exit()
    m.check()


@pytest.mark.parametrize("advice", [4, 8])           # MADV_DONTNEED, MADV_FREE (no swap)
def test_madv_dontneed_then_read_write(m, advice):
    p = m.spawn("d")
    a = p.mmap(None, 8 * PAGE, RW, PRIV_ANON)
    p.write(a, b"data")
    p.touch(a, 8 * PAGE, write=True)
    p.madvise(a, 8 * PAGE, advice)
    m.check()
    assert rss_anon_pages(p) == 0
    assert p.read(a, 4) == b"\0\0\0\0"                  # zero page after DONTNEED
    p.touch(a, 8 * PAGE, write=True)
    m.check()
    assert rss_anon_pages(p) == 8


def test_munmap_then_access_is_segv_maperr(m):
    p = m.spawn("u")
    a = p.mmap(None, 4 * PAGE, RW, PRIV_ANON)
    p.touch(a, 4 * PAGE, write=True)
    p.munmap(a, 4 * PAGE)
    m.check()
    with pytest.raises(lv.SegmentationFault) as e:
        p.read(a + 100, 1)
    assert (e.value.signo, e.value.code, e.value.addr) == (11, 1, a + 100)
    m.check()


def test_write_to_prot_read_is_segv_accerr(m):
    p = m.spawn("ro")
    a = p.mmap(None, PAGE, 1, PRIV_ANON)
    assert p.read(a, 1) == b"\0"
    with pytest.raises(lv.SegmentationFault) as e:
        p.write(a, b"x")
    assert (e.value.code, e.value.addr) == (2, a)
    m.check()


def test_exec_of_nx_page_is_segv_accerr(m):
    p = m.spawn("nx")
    a = p.mmap(None, PAGE, RW, PRIV_ANON)
    with pytest.raises(lv.SegmentationFault) as e:
        p.access(a, "x")
    assert e.value.code == 2
    m.check()


def test_kernel_address_from_user_is_segv(m):
    p = m.spawn("k")
    with pytest.raises(lv.SegmentationFault) as e:
        p.read(0xFFFF880000001000, 1)
    assert e.value.code == 1
    m.check()


def test_mremap_move_keeps_frames_and_contents(m):
    p = m.spawn("mv")
    a = p.mmap(None, 4 * PAGE, RW, PRIV_ANON)
    p.write(a, b"hello")
    p.touch(a, 4 * PAGE, write=True)
    frames = [e & PFN_MASK for e in pagemap(m, p, a, 4)]
    b = p.mremap(a, 4 * PAGE, 64 * PAGE, 1)             # MREMAP_MAYMOVE
    m.check()
    if b != a:
        assert [e & PFN_MASK for e in pagemap(m, p, b, 4)] == frames
    assert p.read(b, 5) == b"hello"
    m.check()


def test_brk_shrink_then_regrow_reads_zeros(m):
    p = m.spawn("brk")
    base = p.brk(0)
    top = p.brk(base + 8 * PAGE)
    p.write(base + 4 * PAGE, b"abc")
    p.brk(base + 2 * PAGE)
    m.check()
    p.brk(top)
    assert p.read(base + 4 * PAGE, 3) == b"\0\0\0"
    m.check()


def test_stack_growth_within_window_and_beyond(m):
    p = m.spawn("stk")
    top = 0x7FFF00000000
    a = p.mmap(top - 4 * PAGE, 4 * PAGE, RW, PRIV_ANON | 0x0100 | 0x10)   # GROWSDOWN|FIXED
    p.sp = top - 4 * PAGE
    p.write(top - 6 * PAGE, b"s")          # below the VMA but within 64K+256 of sp: grows
    m.check()
    vma = next(v for v in _vmas(p) if v.vm_end == top)
    assert vma.vm_start <= top - 6 * PAGE
    with pytest.raises(lv.SegmentationFault) as e:
        p.write(top - 64 * PAGE - 65536, b"s")        # far below sp: a bug, SIGSEGV
    assert e.value.code == 1
    m.check()


def _vmas(p):
    v = p.mm.mmap
    while v is not None:
        yield v
        v = v.vm_next


@pytest.mark.parametrize("stride,ptes,pmds", [(1 << 21, 2, 1), (1 << 30, 2, 2)])
def test_page_tables_for_spread_touches(m, stride, ptes, pmds):
    p = m.spawn("pt")
    a = p.mmap(0x100000000000, 2 * stride, RW, PRIV_ANON | 0x10 | 0x4000)   # NORESERVE
    p.touch(a, 1, write=True)
    p.touch(a + stride, 1, write=True)
    m.check()
    assert p.mm.nr_ptes == ptes and p.mm.nr_pmds == pmds
    assert status(m, p, "VmPTE") == 4 * ptes
    p.munmap(a, 2 * stride)
    m.check()
    assert p.mm.nr_ptes == 0


def test_split_rss_counting_lags_by_design(m):
    # 4.6 folds the per-task RSS cache into the mm at the 66th fault of a series
    p = m.spawn("rss")
    a = p.mmap(None, 100 * PAGE, RW, PRIV_ANON)
    p.touch(a, 65 * PAGE, write=True)
    assert status(m, p, "RssAnon") == 0 and rss_anon_pages(p) == 65
    p.touch(a + 65 * PAGE, PAGE, write=True)
    assert status(m, p, "RssAnon") == 65 * 4
    m.check()


def test_no_frame_leaks_after_everything_exits(m):
    free0 = m.nr_free_pages()
    p = m.spawn("a")
    a = p.mmap(None, 64 * PAGE, RW, PRIV_ANON)
    p.touch(a, 64 * PAGE, write=True)
    c = p.fork()
    c.touch(a, 32 * PAGE, write=True)
    gc = c.fork()
    gc.touch(a, 8 * PAGE, write=True)
    for q in (gc, c, p):
        q.exit()
        m.check()
    # the exited tasks' CPU keeps the last mm lazily until something else runs there
    q = m.spawn("b")
    b = q.mmap(None, PAGE, RW, PRIV_ANON)
    q.touch(b, PAGE, write=True)
    q.exit()
    m.kernel.drain_all_pages()
    m.check()
    assert m.global_page_state(NR_ANON_PAGES) == 0
    slab = getattr(m, "slab", None)
    # free memory is back to the boot value up to what caches legitimately keep
    assert free0 - m.nr_free_pages() <= 64


def test_pgfault_vmstat_counts_faults(m):
    p = m.spawn("v")
    a = p.mmap(None, 10 * PAGE, RW, PRIV_ANON)
    before = m.pgdat.vm_events[VM_EVENT["pgfault"]]
    p.touch(a, 10 * PAGE, write=True)
    assert m.pgdat.vm_events[VM_EVENT["pgfault"]] - before == 10
    m.check()


def test_mlocked_pages_are_unevictable_and_counted(m):
    p = m.spawn("ml", uid=0)
    a = p.mmap(None, 4 * PAGE, RW, PRIV_ANON | 0x2000)     # MAP_LOCKED
    m.check()
    assert rss_anon_pages(p) == 4
    mi = m.proc.read("/proc/meminfo")
    assert "Mlocked:              16 kB" in mi
    p.munlock(a, 4 * PAGE)
    m.check()
    assert "Mlocked:               0 kB" in m.proc.read("/proc/meminfo")


def _anon_huge_kb(m):
    line = [l for l in m.proc.read("/proc/meminfo").splitlines()
            if l.startswith("AnonHugePages:")][0]
    return int(line.split()[1])


def test_thp_fault_maps_a_huge_page_where_46_would():
    # 4.6 with thp=always maps a huge page for an aligned 2 MiB range inside the VMA
    m = lv.Machine(ram="1G", cpus=1, thp="always")
    p = m.spawn("thp")
    a = p.mmap(0x200000000, 4 << 20, RW, PRIV_ANON | 0x10)
    p.touch(a, PAGE, write=True)
    m.check()
    assert _anon_huge_kb(m) == 2048
    # MADV_NOHUGEPAGE, or a range whose 2 MiB block leaves the VMA, takes 4 KiB pages
    p.madvise(a, 4 << 20, 15)                    # MADV_NOHUGEPAGE
    p.touch(a + (2 << 20), PAGE, write=True)
    b = p.mmap(0x300000000 + PAGE, 8 * PAGE, RW, PRIV_ANON | 0x10)
    p.touch(b, 8 * PAGE, write=True)
    m.check()
    assert _anon_huge_kb(m) == 2048
    # madvise mode (the default): only MADV_HUGEPAGE VMAs are eligible
    m2 = lv.Machine(ram="1G", cpus=1)
    q = m2.spawn("madv")
    c = q.mmap(0x200000000, 4 << 20, RW, PRIV_ANON | 0x10)
    q.touch(c, 4 << 20, write=True)
    q.madvise(c, 4 << 20, 14)                    # MADV_HUGEPAGE: the next new PMD is eligible
    assert _anon_huge_kb(m2) == 0
    d = q.mmap(0x400000000, 4 << 20, RW, PRIV_ANON | 0x10)
    q.madvise(d, 4 << 20, 14)
    q.touch(d, PAGE, write=True)
    m2.check()
    assert _anon_huge_kb(m2) == 2048
    # below 512 MiB of RAM 4.6 boots with THP off, whatever thp= says
    m3 = lv.Machine(ram="512M", cpus=1, thp="always")
    r = m3.spawn("small")
    e = r.mmap(0x200000000, 4 << 20, RW, PRIV_ANON | 0x10)
    r.touch(e, PAGE, write=True)
    assert _anon_huge_kb(m3) == 0 and m3.thp == "never"


def test_fork_shares_open_files_and_file_mappings(m):
    p = m.spawn("files")
    m.vfs.create("/data", 8 * PAGE)
    fd = p.open("/data", lv.O_RDWR)
    a = p.mmap(None, 8 * PAGE, 1, lv.MAP_PRIVATE, fd, 0)
    f = p.task.files[fd]
    refs = f.f_count
    c = p.fork()
    m.check()
    assert c.task.files[fd] is f and f.f_count == refs + 2       # the fd and the VMA's file
    assert any(l.endswith("/data") for l in m.proc.read(f"/proc/{c.pid}/maps").splitlines())
    c.exit()
    m.check()
    assert f.f_count == refs
    p.munmap(a, 8 * PAGE)
    p.close(fd)
    m.check()


def test_no_frame_leaks_exact_equation():
    # free pages + (slab pages - slab pages at the start) + PGDs of mms a CPU still holds
    # lazily == free pages at the start, after every process exits and pcp lists drain
    from linuxvm.include.vm_event_item import NR_SLAB_RECLAIMABLE, NR_SLAB_UNRECLAIMABLE
    m = lv.Machine(ram="512M", cpus=2, seed=9)

    def slab():
        return m.global_page_state(NR_SLAB_RECLAIMABLE) + m.global_page_state(
            NR_SLAB_UNRECLAIMABLE)

    m.kernel.drain_all_pages()
    free0, slab0 = m.nr_free_pages(), slab()
    p = m.spawn("a")
    a = p.mmap(None, 300 * PAGE, RW, PRIV_ANON)
    p.touch(a, 300 * PAGE, write=True)
    b = p.mmap(None, 8 * PAGE, RW, PRIV_ANON | 0x2000)              # MAP_LOCKED, 32 KiB
    c = p.fork()
    c.touch(a, 120 * PAGE, write=True)
    c.task.cpu = 1                                                   # runs on the other CPU
    c.touch(a + 200 * PAGE, 50 * PAGE, write=True)
    d = c.fork()
    d.madvise(a, 100 * PAGE, 4)
    p.munmap(b, 8 * PAGE)
    for q in (d, c, p):
        q.exit()
        m.check()
    m.kernel.drain_all_pages()
    m.check()
    lazy = {id(cpu.active_mm): cpu.active_mm for cpu in m.cpus
            if cpu.active_mm is not m.init_mm and cpu.active_mm.mm_users == 0}
    assert all(mm.nr_ptes == 0 and mm.nr_pmds == 0 for mm in lazy.values())
    assert m.nr_free_pages() + (slab() - slab0) + len(lazy) == free0


def test_a_task_moved_to_another_cpu_migrates():
    """Setting task.cpu while the task runs elsewhere migrates it: the old CPU switches to
    idle and keeps the mm lazily (a later shootdown makes it leave_mm), and exit works."""
    from linuxvm.arch.x86.tlb import TLBSTATE_LAZY, TLBSTATE_OK
    m = lv.Machine(ram="256M", cpus=2, seed=0)
    p = m.spawn("mover")
    a = p.mmap(None, 64 * 4096, 3, 0x22)
    p.touch(a, 64 * 4096, write=True)
    m.check()
    assert m.cpus[0].current is p.task
    p.task.cpu = 1
    p.touch(a, 64 * 4096, write=True)
    m.check()
    assert m.cpus[0].current is None and m.cpus[1].current is p.task
    assert m.cpus[0].tlbstate == TLBSTATE_LAZY and m.cpus[1].tlbstate == TLBSTATE_OK
    assert m.cpus[0].active_mm is p.mm and 0 in p.mm.cpu_vm_mask
    p.munmap(a, 4096)                       # the shootdown reaches the lazy CPU: leave_mm
    m.check()
    assert 0 not in p.mm.cpu_vm_mask
    p.task.cpu = 0
    p.exit()
    m.check()
    assert all(c.current is None for c in m.cpus)


def test_fork_child_keeps_neighbours_that_only_vm_locked_kept_apart():
    """dup_mmap clears VM_LOCKED in the child without merging: two neighbours that differed
    only in it stay two VMAs there, as on 4.6 (the invariant checker allows it)."""
    m = lv.Machine(ram="256M", cpus=1, seed=0)
    p = m.spawn("locker", uid=0)
    a = p.mmap(None, 2 * 4096, 0, 0x22)                  # PROT_NONE: nothing populated
    p.mmap(a + 4096, 4096, 0, 0x22 | 0x10 | 0x2000)      # MAP_FIXED | MAP_LOCKED
    c = p.fork()
    m.check()
    maps = m.proc.read(f"/proc/{c.pid}/maps").splitlines()
    assert sum(1 for line in maps if line.startswith(f"{a:x}-") or
               line.startswith(f"{a + 4096:x}-")) == 2
    c.exit()
    p.exit()
