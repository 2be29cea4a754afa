"""Transparent huge pages (mm/huge_memory.c): the sysfs knobs, PMD-mapped faults, the huge
zero page, COW, fork, split on partial munmap/mprotect/mremap/madvise, exit with nothing
left behind, the counters and the /proc output; m.check() after every step."""

import struct

import pytest

import linuxvm as lv
from _proc import meminfo, vmstat
from linuxvm.mm import huge_memory as H
from linuxvm.fs.proc.page import decode_kpageflags
from linuxvm.mm.memory import walk
from linuxvm.mm.swap import lru_add_drain
from linuxvm.mm.rmap import page_referenced
from linuxvm.helpers import vtop
from linuxvm.arch.x86.dump_pagetables import ptdump_walk_pgd_level

M = 2 << 20
P = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
SYS = "/sys/kernel/mm/transparent_hugepage"


def huge_region(m, size=8 << 20, advise=True):
    p = m.spawn("thp", uid=0)
    a = p.mmap(None, size, RW, ANON)
    if advise:
        p.madvise(a, size, lv.MADV_HUGEPAGE)
    m.check()
    return p, (a + M - 1) & ~(M - 1)


@pytest.fixture
def m():
    return lv.Machine(ram="1G", seed=0)


def test_sysfs_knobs_have_46_formats(m):
    assert m.proc.read(f"{SYS}/enabled") == "always [madvise] never\n"
    assert m.proc.read(f"{SYS}/defrag") == "always defer [madvise] never\n"
    assert m.proc.read(f"{SYS}/use_zero_page") == "1\n"
    k = {n: m.proc.read(f"{SYS}/khugepaged/{n}") for n in (
        "defrag", "max_ptes_none", "pages_to_scan", "pages_collapsed", "full_scans",
        "scan_sleep_millisecs", "alloc_sleep_millisecs")}
    assert k == {"defrag": "1\n", "max_ptes_none": "511\n", "pages_to_scan": "4096\n",
                 "pages_collapsed": "0\n", "full_scans": "0\n",
                 "scan_sleep_millisecs": "10000\n", "alloc_sleep_millisecs": "60000\n"}
    m.proc.write(f"{SYS}/enabled", "always\n")
    assert m.proc.read(f"{SYS}/enabled") == "[always] madvise never\n" and m.thp == "always"
    m.proc.write(f"{SYS}/defrag", "defer")
    assert m.proc.read(f"{SYS}/defrag") == "always [defer] madvise never\n"
    for path, bad in (("enabled", "defer"), ("enabled", "sometimes"), ("use_zero_page", "2"),
                      ("khugepaged/max_ptes_none", "512"), ("khugepaged/pages_to_scan", "0")):
        with pytest.raises(lv.SyscallError) as e:
            m.proc.write(f"{SYS}/{path}", bad)
        assert e.value.errno == 22
    with pytest.raises(lv.SyscallError):
        m.proc.write(f"{SYS}/khugepaged/full_scans", "1")
    m.check()


def test_small_machine_boots_with_thp_off_and_no_watermark_raise():
    small = lv.Machine(ram="256M", thp="always")
    big = lv.Machine(ram="1G", thp="never")
    assert small.proc.read(f"{SYS}/enabled") == "always madvise [never]\n"
    assert small.proc.read(f"{SYS}/defrag") == "always defer madvise [never]\n"
    assert small.proc.read(f"{SYS}/use_zero_page") == "0\n"
    assert not any("transparent hugepage" in l for l in small.dmesg())
    before = small.sysctl["vm.min_free_kbytes"]
    small.proc.write(f"{SYS}/enabled", "madvise")      # start_stop_khugepaged raises it
    assert small.sysctl["vm.min_free_kbytes"] > before
    assert big.sysctl["vm.min_free_kbytes"] < lv.Machine(ram="1G").sysctl["vm.min_free_kbytes"]


def test_madvise_sets_flags_and_fault_maps_a_huge_pmd(m):
    p, b = huge_region(m)
    ev = vmstat(m)
    p.write(b + 5, b"hello")
    m.check()
    assert vmstat(m)["thp_fault_alloc"] == ev["thp_fault_alloc"] + 1
    assert meminfo(m, "AnonHugePages") == 2048
    assert p.read(b + 5, 5) == b"hello" and p.read(b + M - 1, 1) == b"\0"
    level, entry = walk(p.mm, b)
    assert level == "pmd" and entry & 0x80                 # the PSE leaf
    smaps = m.proc.read(f"/proc/{p.pid}/smaps")
    assert "AnonHugePages:      2048 kB" in smaps and "KernelPageSize:        4 kB" in smaps
    assert p.mm.nr_ptes == 1                         # the deposited table
    assert meminfo(m, "PageTables") >= 4


def test_no_thp_without_madvise_and_range_outside_vma(m):
    p = m.spawn("t")
    a = p.mmap(None, 4 << 20, RW, ANON)
    p.touch(a, 4 << 20, write=True)
    assert meminfo(m, "AnonHugePages") == 0
    q = m.spawn("u")
    c = q.mmap(None, M, RW, ANON)        # not aligned: the 2 MiB block leaves the VMA
    q.madvise(c, M, lv.MADV_HUGEPAGE)
    if c & (M - 1):
        q.write(c, b"x")
        assert meminfo(m, "AnonHugePages") == 0
    m.check()


def test_huge_zero_page_on_read_then_cow(m):
    p, b = huge_region(m)
    ev = vmstat(m)
    assert p.read(b + 100, 4) == b"\0" * 4
    m.check()
    assert vmstat(m)["thp_zero_page_alloc"] == ev["thp_zero_page_alloc"] + 1
    assert meminfo(m, "AnonHugePages") == 0
    assert m.transparent_hugepage.huge_zero_refcount == 2
    pm = m.proc.read_bytes(f"/proc/{p.pid}/pagemap", (b >> 12) * 8, 8)
    pfn = struct.unpack("Q", pm)[0] & ((1 << 55) - 1)
    assert pfn == m.huge_zero_pfn
    kp = struct.unpack("Q", m.proc.read_bytes("/proc/kpageflags", pfn * 8, 8))[0]
    assert {"ZERO_PAGE", "THP", "COMPOUND_HEAD"} <= set(decode_kpageflags(kp))
    p.write(b + 100, b"data")                   # do_huge_pmd_wp_page on the zero page
    m.check()
    assert vmstat(m)["thp_fault_alloc"] == ev["thp_fault_alloc"] + 1
    assert p.read(b + 100, 4) == b"data" and p.read(b, 4) == b"\0" * 4
    assert m.transparent_hugepage.huge_zero_refcount == 1
    assert H.shrink_huge_zero_page(m) == 512 and m.huge_zero_pfn is None
    m.check()


def test_fork_shares_then_cow_copies_2m(m):
    p, b = huge_region(m)
    p.write(b, b"parent")
    c = p.fork()
    m.check()
    assert meminfo(m, "AnonHugePages") == 2048          # one THP, two PMDs
    ev = vmstat(m)
    c.write(b + 8, b"child")
    m.check()
    assert vmstat(m)["thp_fault_alloc"] == ev["thp_fault_alloc"] + 1
    assert meminfo(m, "AnonHugePages") == 4096
    assert p.read(b, 6) == b"parent" and c.read(b, 6) == b"parent"
    assert c.read(b + 8, 5) == b"child" and p.read(b + 8, 5) == b"\0" * 5
    p.write(b + 8, b"again")                    # the parent's THP is its own again: reused
    m.check()
    assert vmstat(m)["thp_fault_alloc"] == ev["thp_fault_alloc"] + 1
    c.exit()
    p.exit()
    m.check()
    assert meminfo(m, "AnonHugePages") == 0 and meminfo(m, "AnonPages") == 0


def test_partial_munmap_splits_pmd_and_defers_split(m):
    p, b = huge_region(m)
    p.write(b + 3 * P, b"keep")
    ev = vmstat(m)
    p.munmap(b + 10 * P, P)
    m.check()
    e = vmstat(m)
    assert e["thp_split_pmd"] == ev["thp_split_pmd"] + 1
    assert e["thp_deferred_split_page"] == ev["thp_deferred_split_page"] + 1
    assert meminfo(m, "AnonHugePages") == 0
    assert p.read(b + 3 * P, 4) == b"keep"
    with pytest.raises(lv.SegmentationFault):
        p.read(b + 10 * P, 1)
    free = m.nr_free_pages()
    assert H.deferred_split_scan(m) == 1          # the shrinker splits it, frees the hole
    m.check()
    assert vmstat(m)["thp_split_page"] == e["thp_split_page"] + 1
    assert m.nr_free_pages() == free + 1
    assert p.read(b + 3 * P, 4) == b"keep"
    p.exit()
    m.check()


def test_mprotect_whole_and_partial(m):
    p, b = huge_region(m)
    p.write(b, b"x")
    p.mprotect(b, M, lv.PROT_READ)               # change_huge_pmd
    m.check()
    assert meminfo(m, "AnonHugePages") == 2048
    with pytest.raises(lv.SegmentationFault):
        p.write(b, b"y")
    p.mprotect(b, M, RW)
    p.write(b + 1, b"y")
    p.mprotect(b + P, P, lv.PROT_READ)           # splits the PMD
    m.check()
    assert meminfo(m, "AnonHugePages") == 0
    assert p.read(b, 2) == b"xy"
    p.exit()
    m.check()


def test_mremap_moves_huge_pmd(m):
    p, b = huge_region(m, 16 << 20)
    p.write(b + 7, b"move me")
    dst = b + 8 * M
    p.munmap(dst, 2 * M)
    r = p.mremap(b, M, M, lv.MREMAP_MAYMOVE | lv.MREMAP_FIXED, dst)
    assert r == dst
    m.check()
    assert meminfo(m, "AnonHugePages") == 2048
    assert p.read(dst + 7, 7) == b"move me"
    r = p.mremap(dst, M, M, lv.MREMAP_MAYMOVE | lv.MREMAP_FIXED, dst + M + 5 * P)
    m.check()
    assert p.read(r + 7, 7) == b"move me"
    p.exit()
    m.check()


def test_madvise_dontneed_part_and_whole(m):
    p, b = huge_region(m)
    p.write(b, b"a")
    p.write(b + M, b"b")
    p.madvise(b + P, P, lv.MADV_DONTNEED)
    p.madvise(b + M, M, lv.MADV_DONTNEED)
    m.check()
    assert p.read(b, 1) == b"a" and p.read(b + M, 1) == b"\0"
    p.exit()
    m.check()


def test_exit_leaves_nothing(m):
    ev = vmstat(m)
    tables = meminfo(m, "PageTables")
    p, b = huge_region(m, 16 << 20)
    for i in range(4):
        p.write(b + i * M + 64, b"z")
    p.read(b + 5 * M, 1)
    c = p.fork()
    c.munmap(b + 2 * M + P, P)
    m.check()
    c.exit()
    p.exit()
    m.check()
    assert meminfo(m, "AnonHugePages") == 0 and meminfo(m, "AnonPages") == 0
    assert meminfo(m, "PageTables") == tables
    assert m.transparent_hugepage.split_queue_len == 0
    assert not m.transparent_hugepage.pmd_huge_pte
    assert vmstat(m)["thp_fault_alloc"] == ev["thp_fault_alloc"] + 4


def test_fallback_when_no_huge_page(m):
    m.proc.write(f"{SYS}/defrag", "never")
    p, b = huge_region(m)
    ev = vmstat(m)
    # take every free order-9 block away
    held = []
    while True:
        try:
            held.append(m.kernel.alloc_pages("GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY", 9))
        except Exception:
            break
        if held[-1] is None:
            held.pop()
            break
    p.write(b, b"small")
    m.check()
    e = vmstat(m)
    assert e["thp_fault_fallback"] >= ev["thp_fault_fallback"] + 1
    assert p.read(b, 5) == b"small"


def test_reclaim_splits_thp_before_swapping_it():
    m = lv.Machine(ram="128M", swap="256M", seed=0)
    m.proc.write(f"{SYS}/enabled", "always")
    p = m.spawn("big")
    size = 200 << 20
    a = p.mmap(None, size, RW, ANON)
    p.touch(a, size, write=True)
    for off in range(0, size, 1 << 20):
        p.write(a + off, b"%d" % off)
    m.check()
    e = vmstat(m)
    assert e["thp_fault_alloc"] > 0 and e["thp_split_page"] > 0 and e["pswpout"] > 0
    for off in range(0, size, 1 << 20):
        assert p.read(a + off, len(b"%d" % off)) == b"%d" % off
    m.check()
    p.exit()
    m.check()
    assert meminfo(m, "AnonPages") == 0 and meminfo(m, "AnonHugePages") == 0


def test_mlock_of_thp_and_munlock(m):
    p, b = huge_region(m)
    p.write(b, b"x")
    p.mlock(b, M)
    m.check()
    assert meminfo(m, "Mlocked") == 2048 and meminfo(m, "AnonHugePages") == 2048
    p.munlock(b + P, P)                 # splits the PMD: 4.6 clears the THP's mlock
    m.check()
    assert meminfo(m, "Mlocked") == 0
    p.mlock(b + M, M)
    c = p.fork()
    m.check()
    assert meminfo(m, "Mlocked") == 2048
    c.exit()
    p.munlock(b + M, M)
    m.check()
    assert meminfo(m, "Mlocked") == 0 and meminfo(m, "Unevictable") == 0
    p.exit()
    m.check()


def test_vtop_ptdump_and_tlb_show_the_2m_leaf(m):
    p, b = huge_region(m)
    p.write(b + 0x1234, b"x")
    out = str(vtop(p.mm, b + 0x1234))
    assert "PSE" in out and "(2MB)" in out
    dump = ptdump_walk_pgd_level(m, p.mm.pgd)
    assert any(l.startswith(f"0x{b:016x}-0x{b + M:016x}") and "PSE" in l and "USR" in l
               for l in dump.splitlines())
    p.read(b + 0x5000, 1)
    entry, shift = m.cpus[m.current_cpu].tlb.lookup_slow(b + 0x5000)
    assert entry is not None and shift == 21
    m.check()


def test_madv_free_whole_and_part_of_a_thp():
    m = lv.Machine(ram="1G", swap="64M", seed=0)
    p, b = huge_region(m)
    p.write(b, b"a")
    p.write(b + M, b"b")
    ev = vmstat(m)
    p.madvise(b, M, lv.MADV_FREE)               # the whole PMD: clean and old, kept huge
    m.check()
    assert meminfo(m, "AnonHugePages") == 4096
    pmd = H.huge_pmd_lookup(m, p.mm, b)
    assert pmd is not None and not m.pgtables[pmd[0]][pmd[1]] & 0x40     # !_PAGE_DIRTY
    p.madvise(b + M + P, P, lv.MADV_FREE)      # a part: the THP is split
    m.check()
    assert vmstat(m)["thp_split_page"] == ev["thp_split_page"] + 1
    assert meminfo(m, "AnonHugePages") == 2048
    assert p.read(b, 1) == b"a" and p.read(b + M, 1) == b"b"
    p.exit()
    m.check()


def test_khugepaged_collapses_and_respects_max_ptes_none(m):
    p = m.spawn("k")
    a = p.mmap(None, 8 << 20, RW, ANON)
    b = (a + M - 1) & ~(M - 1)
    for i in range(0, 300):
        p.write(b + i * P, b"%d" % i)
        p.write(b + M + i * P, b"%d" % -i)
    p.madvise(a, 8 << 20, lv.MADV_HUGEPAGE)       # registers the mm (enter_vma_merge)
    m.proc.write(f"{SYS}/khugepaged/max_ptes_none", "211")
    lru_add_drain(m)
    m.check()
    assert m.run_khugepaged() == 0                  # 212 none PTEs in each block > 211
    m.proc.write(f"{SYS}/khugepaged/max_ptes_none", "212")
    ev = vmstat(m)
    assert m.run_khugepaged() == 2
    m.check()
    assert vmstat(m)["thp_collapse_alloc"] >= ev["thp_collapse_alloc"] + 2
    assert meminfo(m, "AnonHugePages") == 4096
    assert m.proc.read(f"{SYS}/khugepaged/pages_collapsed") == "2\n"
    for i in range(0, 300):
        assert p.read(b + i * P, len(b"%d" % i)) == b"%d" % i
        assert p.read(b + M + i * P, len(b"%d" % -i)) == b"%d" % -i
    assert p.read(b + 400 * P, 4) == b"\0" * 4
    c = p.fork()
    c.exit()
    p.exit()
    m.check()
    assert not m.transparent_hugepage.khugepaged_scan.mm_head


@pytest.mark.parametrize("fast", [True, False])
def test_touch_over_a_thp_after_nohugepage(fast):
    # a huge PMD left from before MADV_NOHUGEPAGE: the bulk touch goes around it, and a
    # THP waiting in the pagevec counts 512 on its LRU list when the pagevec drains
    m = lv.Machine(ram="1G", fast=fast)
    p, b = huge_region(m)
    p.write(b, b"x")
    p.madvise(b, 4 << 20, lv.MADV_NOHUGEPAGE)
    p.touch(b, 4 << 20, write=True)
    p.touch(b, 4 << 20)
    m.check()
    assert meminfo(m, "AnonHugePages") == 2048 and p.read(b, 1) == b"x"


def test_page_referenced_sees_the_pmd_young_bit(m):
    p, b = huge_region(m)
    p.write(b, b"x")
    head = H.huge_pmd_lookup(m, p.mm, b)
    page = m.pgtables[head[0]][head[1]] >> 12 & ((1 << 40) - 1)
    assert page_referenced(m, int(page))[0] == 1          # the PMD was young: now old
    assert page_referenced(m, int(page))[0] == 0
    p.read(b + 5 * P, 1)                                   # the walk sets it again
    assert page_referenced(m, int(page))[0] == 1
    m.check()


def _take_all_order9(m):
    held = []
    while True:
        try:
            pfn = m.kernel.alloc_pages("GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY", 9)
        except Exception:
            break
        if pfn is None:
            break
        held.append(pfn)
    return held


def test_cow_of_a_shared_thp_without_a_huge_page_copies_512_small_pages(m):
    m.proc.write(f"{SYS}/defrag", "never")
    p, b = huge_region(m)
    p.write(b, b"parent")
    p.write(b + M - 8, b"end")
    c = p.fork()
    held = _take_all_order9(m)
    assert held and m.nr_free_pages() > 600
    ev = vmstat(m)
    c.write(b + 4 * P, b"child")                # do_huge_pmd_wp_page_fallback
    m.check()
    e = vmstat(m)
    assert e["thp_fault_fallback"] == ev["thp_fault_fallback"] + 1
    assert meminfo(m, "AnonHugePages") == 2048          # the parent's PMD only
    assert c.read(b, 6) == b"parent" and c.read(b + M - 8, 3) == b"end"
    assert c.read(b + 4 * P, 5) == b"child" and p.read(b + 4 * P, 5) == b"\0" * 5
    p.write(b + 8, b"mine")                     # the parent's THP is its own again: reused
    m.check()
    assert c.read(b + 8, 4) == b"\0" * 4
    for pfn in held:
        m.kernel.free_pages(pfn, 9)
    c.exit()
    p.exit()
    m.check()


def test_a_pmd_mapped_thp_counts_as_mapped_for_reclaim(m):
    # page_mapped reads the compound mapcount and every subpage's: ISOLATE_UNMAPPED
    # (reclaim with may_unmap off) must leave a PMD-mapped THP alone
    from linuxvm.mm.rmap import page_mapped
    from linuxvm.mm.vmscan.reclaim import __isolate_lru_page, ISOLATE_UNMAPPED
    p, b = huge_region(m)
    p.write(b, b"x")
    lru_add_drain(m)
    head = H.huge_pmd_lookup(m, p.mm, b)
    page = int(m.pgtables[head[0]][head[1]] >> 12 & ((1 << 40) - 1))
    assert m.mem_map.mc[page] < 0 and page_mapped(m, page) and page_mapped(m, page + 7)
    assert __isolate_lru_page(m, page, ISOLATE_UNMAPPED) == -16          # -EBUSY
    m.check()
    p.munmap(b, M)
    m.check()
    assert not page_mapped(m, page)
