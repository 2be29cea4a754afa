"""Swap and page reclaim (issue 13): swap areas, swap-out through shrink_page_list, swap-in
through do_swap_page, swap entries through fork/munmap/exit/MADV_FREE/MADV_WILLNEED,
/proc output, kswapd's watermarks and direct reclaim under pressure."""

import struct

import pytest

import linuxvm as lv
from _proc import meminfo, vmstat, reclaim
from linuxvm.arch.x86.pgtable import pt_entries, is_swap_pte, pte_to_swp_entry, swp_offset
from linuxvm.mm.memory.pgtable import pte_lookup

P = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS


def status(m, p, key):
    for line in m.proc.read(f"/proc/{p.pid}/status").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def fill(p, a, n, tag=0):
    for i in range(n):
        p.write(a + i * P, struct.pack("<II", i, tag))


def verify(p, a, n, tag=0):
    for i in range(n):
        assert p.read(a + i * P, 8) == struct.pack("<II", i, tag), f"page {i}"


def swapped_ptes(m, p, a, n):
    out = []
    for i in range(n):
        ptr = pte_lookup(m, p.mm, a + i * P)
        if ptr is not None and is_swap_pte(int(pt_entries(m, ptr[0])[ptr[1]])):
            out.append(i)
    return out


@pytest.fixture
def swapm():
    m = lv.Machine(ram="128M", swap="64M", aslr=False)
    p = m.spawn("sw")
    return m, p


def test_swapon_shows_in_proc_swaps_meminfo_and_dmesg():
    m = lv.Machine(ram="64M", swap="16M")
    assert m.proc.read("/proc/swaps") == (
        "Filename\t\t\t\tType\t\tSize\tUsed\tPriority\n"
        "/dev/sdb" + " " * 32 + "partition\t16380\t0\t-1\n")
    assert meminfo(m, "SwapTotal") == 16380 and meminfo(m, "SwapFree") == 16380
    assert any("Adding 16380k swap on /dev/sdb.  Priority:-1 extents:1 across:16380k"
               in line for line in m.dmesg())
    path = m.swapon("8M", priority=7)
    m.check()
    assert path == "/dev/sdc"
    assert m.proc.read("/proc/swaps").splitlines()[2].endswith("\t8188\t0\t7")
    assert meminfo(m, "SwapTotal") == 16380 + 8188
    m.swapoff("/dev/sdb")
    m.check()
    assert meminfo(m, "SwapTotal") == 8188
    with pytest.raises(lv.SyscallError) as e:
        m.swapoff("/dev/sdb")
    assert e.value.errno == 22
    with pytest.raises(ValueError):
        m.swapon("4K")
    with pytest.raises(ValueError):
        m.swapon("1M", priority=-5)


def test_swap_out_and_back_keeps_every_byte(swapm):
    m, p = swapm
    n = 1500
    a = p.mmap(None, n * P, RW, ANON)
    fill(p, a, n)
    m.check()
    freed = reclaim(m, p, 1000)
    m.check()
    assert freed >= 32
    out = swapped_ptes(m, p, a, n)
    assert len(out) == vmstat(m, "pswpout") > 0
    assert status(m, p, "VmSwap") == 4 * len(out)
    assert meminfo(m, "SwapFree") == 65532 - 4 * len(out)
    maj = p.task.maj_flt
    verify(p, a, n)
    m.check()
    assert p.task.maj_flt > maj                         # swap-in is a major fault
    assert vmstat(m, "pswpin") >= len(out) // 8          # read ahead 2**page-cluster slots
    assert swapped_ptes(m, p, a, n) == []
    # VmSwap reads mm->rss_stat, which the task's faults update in batches of 64
    # (SPLIT_RSS_COUNTING), as on 4.6: it can lag behind the page tables
    assert status(m, p, "VmSwap") == 4 * p.mm.rss_stat[2]
    # pages read back keep their slot (swap is not full): SwapCached
    assert meminfo(m, "SwapCached") > 0
    p.munmap(a, n * P)
    m.check()
    assert meminfo(m, "SwapFree") == 65532 and meminfo(m, "SwapCached") == 0


def test_pagemap_and_smaps_show_swap_entries(swapm):
    m, p = swapm
    n = 600
    a = p.mmap(None, n * P, RW, ANON)
    fill(p, a, n)
    reclaim(m, p, 600)
    m.check()
    out = swapped_ptes(m, p, a, n)
    assert out
    i = out[0]
    raw = m.proc.read_bytes(f"/proc/{p.pid}/pagemap", ((a >> 12) + i) * 8, 8)
    ent = struct.unpack("<Q", raw)[0]
    ptr = pte_lookup(m, p.mm, a + i * P)
    entry = pte_to_swp_entry(int(pt_entries(m, ptr[0])[ptr[1]]))
    assert ent >> 62 & 1 and not ent >> 63 & 1                 # PM_SWAP, not present
    assert ent & 0x1f == 0 and (ent & ((1 << 55) - 1)) >> 5 == swp_offset(entry)
    smaps = m.proc.read(f"/proc/{p.pid}/smaps")
    swap_kb = sum(int(line.split()[1]) for line in smaps.splitlines()
                  if line.startswith("Swap:"))
    assert swap_kb == 4 * len(out)
    c = p.fork()
    m.check()
    smaps = m.proc.read(f"/proc/{p.pid}/smaps")
    swappss = sum(int(line.split()[1]) for line in smaps.splitlines()
                  if line.startswith("SwapPss:"))
    assert swappss == 2 * len(out)                   # each slot shared by two PTEs
    c.exit(0)
    m.check()


def test_fork_shares_swap_slots_and_cow_after_swap_in(swapm):
    m, p = swapm
    n = 800
    a = p.mmap(None, n * P, RW, ANON)
    fill(p, a, n, tag=1)
    reclaim(m, p, 800)
    out = swapped_ptes(m, p, a, n)
    assert out
    c = p.fork()
    m.check()
    assert status(m, c, "VmSwap") == status(m, p, "VmSwap") == 4 * len(out)
    c.write(a + out[0] * P, struct.pack("<II", out[0], 2))     # child's COW copy
    m.check()
    verify(p, a, n, tag=1)
    assert c.read(a + out[0] * P, 8) == struct.pack("<II", out[0], 2)
    c.exit(0)
    m.check()
    p.exit(0)
    m.check()
    assert meminfo(m, "SwapFree") == 65532


def test_exit_with_swapped_and_swap_cached_pages_frees_every_slot_and_frame(swapm):
    m, p = swapm
    n = 1200
    a = p.mmap(None, n * P, RW, ANON)
    fill(p, a, n)
    reclaim(m, p, 1000)
    verify(p, a, n // 2)              # half back in memory, in the swap cache
    m.check()
    p.exit(0)
    m.check()
    assert meminfo(m, "SwapFree") == 65532 and meminfo(m, "SwapCached") == 0
    assert meminfo(m, "AnonPages") == 0


def test_mlocked_pages_are_never_reclaimed(swapm):
    m, _ = swapm
    p = m.spawn("locker", uid=0)
    n = 400
    a = p.mmap(None, n * P, RW, ANON)
    fill(p, a, n)
    p.mlock(a, n * P)
    m.check()
    reclaim(m, p, 1000)
    m.check()
    assert swapped_ptes(m, p, a, n) == []
    assert vmstat(m, "pswpout") == 0


def test_madvise_willneed_reads_swapped_pages_into_the_swap_cache(swapm):
    m, p = swapm
    n = 500
    a = p.mmap(None, n * P, RW, ANON)
    fill(p, a, n)
    reclaim(m, p, 500)
    out = swapped_ptes(m, p, a, n)
    assert out
    cached0 = meminfo(m, "SwapCached")
    p.madvise(a, n * P, lv.MADV_WILLNEED)
    m.check()
    assert meminfo(m, "SwapCached") >= cached0 + 4 * len(out)
    maj = p.task.maj_flt
    verify(p, a, n)
    assert p.task.maj_flt == maj                         # all found in the swap cache
    m.check()


def test_madvise_free_with_swap_discards_clean_pages_at_reclaim(swapm):
    m, p = swapm
    n = 300
    a = p.mmap(None, n * P, RW, ANON)
    fill(p, a, n)
    p.madvise(a, n * P, lv.MADV_FREE)
    m.check()
    assert swapped_ptes(m, p, a, n) == []                # still mapped until reclaim
    assert p.read(a + 5 * P, 8) == struct.pack("<II", 5, 0)
    reclaim(m, p, 1000)
    m.check()
    assert vmstat(m, "pglazyfreed") > 0
    assert vmstat(m, "pswpout") == 0                     # discarded, not written
    freed = [i for i in range(n) if p.read(a + i * P, 8) == bytes(8)]
    assert freed                                          # freed pages read back as zeros
    m.check()


def test_swappiness_zero_keeps_anon_while_file_pages_remain():
    for swappiness, expect_anon in ((0, False), (100, True)):
        m = lv.Machine(ram="128M", swap="64M", sysctl={"vm.swappiness": swappiness})
        p = m.spawn("io")
        m.fs.create("/data", 8 << 20, data=bytes(range(256)) * (32 << 10))
        fd = p.open("/data", lv.O_RDONLY)
        f = p.mmap(None, 8 << 20, lv.PROT_READ, lv.MAP_PRIVATE, fd, 0)
        for i in range(0, 8 << 20, P):
            p.read(f + i, 1)                               # 2048 page-cache pages
        a = p.mmap(None, 2000 * P, RW, ANON)
        fill(p, a, 2000)
        m.check()
        file0 = meminfo(m, "Active(file)") + meminfo(m, "Inactive(file)")
        reclaim(m, p, 600)
        m.check()
        assert meminfo(m, "Active(file)") + meminfo(m, "Inactive(file)") < file0
        assert (vmstat(m, "pswpout") > 0) == expect_anon, swappiness
        verify(p, a, 2000)
        m.check()


def test_kswapd_wakes_below_low_and_stops_at_high():
    m = lv.Machine(ram="64M", swap="64M")
    p = m.spawn("big")
    n = 18000                                      # more than the free memory
    a = p.mmap(None, n * P, RW, ANON)
    fill(p, a, n)
    m.check()
    trace = m.pgdat.kswapd.trace
    assert trace, "kswapd never woke"
    assert vmstat(m, "pageoutrun") == len([t for t in trace if t[1] == "wake"])
    zones = [z for z in m.zones if z.managed_pages]
    for (_, what, _, free) in trace:
        if what == "wake":      # woken because an allocation found a zone below low
            assert any(fr < z.low_wmark_pages() + 2 for fr, z in zip(free, zones))
        else:                   # asleep again only with every zone at or above high
            assert all(fr >= z.high_wmark_pages() for fr, z in zip(free, zones))
    assert sum(vmstat(m, f"pgsteal_kswapd_{z}") for z in ("dma", "dma32")) > 0
    # the fill's work moved the clock less than HZ/10 (its nominal costs, docs/time.md):
    # every wake-up after the first came within kswapd's HZ/10 nap
    assert vmstat(m, "kswapd_low_wmark_hit_quickly") == vmstat(m, "pageoutrun") - 1
    assert vmstat(m, "kswapd_high_wmark_hit_quickly") == 0
    verify(p, a, n)
    m.check()
    p.exit(0)
    m.check()
    assert meminfo(m, "SwapFree") == meminfo(m, "SwapTotal")


def test_swapoff_reads_everything_back():
    m = lv.Machine(ram="128M", swap="32M")
    p = m.spawn("s")
    n = 900
    a = p.mmap(None, n * P, RW, ANON)
    fill(p, a, n)
    reclaim(m, p, 900)
    assert swapped_ptes(m, p, a, n)
    m.swapoff("/dev/sdb")
    m.check()
    assert swapped_ptes(m, p, a, n) == []
    assert meminfo(m, "SwapTotal") == 0 and status(m, p, "VmSwap") == 0
    verify(p, a, n)
    m.check()


def test_swapoff_without_the_memory_to_commit_is_enomem():
    m = lv.Machine(ram="64M", swap="64M", sysctl={"vm.overcommit_memory": 2})
    p = m.spawn("s")
    p.mmap(None, 40 << 20, RW, ANON)          # 40M committed
    # CommitLimit is half the RAM plus the swap: the swap's 64M no longer fit next to it
    with pytest.raises(lv.SyscallError) as e:
        m.swapoff("/dev/sdb")
    assert e.value.errno == 12
    m.check()
    assert meminfo(m, "SwapTotal") == 65532
    assert m.proc.read("/proc/swaps").count("/dev/sdb") == 1


def test_ramfs_pages_are_unevictable_and_never_dropped():
    m = lv.Machine(ram="128M", swap="16M")
    m.fs.mount("ramfs", "/mnt/ram")
    p = m.spawn("r")
    fd = p.open("/mnt/ram/f", lv.O_RDWR | lv.O_CREAT, 0o600)
    buf = p.mmap(None, 64 * P, RW, ANON)
    fill(p, buf, 64, tag=9)
    assert p.sys_write(fd, buf, 64 * P) == 64 * P
    f = p.mmap(None, 64 * P, lv.PROT_READ, lv.MAP_SHARED, fd, 0)   # one hole page read
    m.check()
    assert meminfo(m, "Unevictable") == 0
    reclaim(m, p, 5000)
    m.check()
    assert meminfo(m, "Unevictable") >= 4 * 60      # culled, not dropped
    verify(p, f, 64, tag=9)
    m.check()


def test_shmem_pages_under_reclaim_keep_their_bytes(swapm):
    # written pages go to swap through shmem_writepage, never-written ones (zeros) are
    # dropped as 4.6 drops clean pages; both read back as they were
    m, p = swapm
    n = 300
    s = p.mmap(None, n * P, RW, lv.MAP_SHARED | lv.MAP_ANONYMOUS)
    fill(p, s, n // 2, tag=3)
    for i in range(n // 2, n):
        assert p.read(s + i * P, 8) == bytes(8)          # read faults: clean zero pages
    c = p.fork()
    m.check()
    reclaim(m, c, 5000)
    m.check()
    verify(c, s, n // 2, tag=3)
    for i in range(n // 2, n):
        assert p.read(s + i * P, 8) == bytes(8)
    m.check()
    c.exit(0)
    m.check()


def test_file_pages_go_before_anon_at_default_swappiness():
    m = lv.Machine(ram="128M", swap="64M")
    assert m.sysctl["vm.swappiness"] == 60
    p = m.spawn("io")
    m.fs.create("/data", 8 << 20, data=bytes(range(256)) * (32 << 10))
    fd = p.open("/data", lv.O_RDONLY)
    buf = p.mmap(None, P, RW, ANON)
    for _ in range((8 << 20) // P):
        p.sys_read(fd, buf, P)                          # 2048 inactive file pages
    a = p.mmap(None, 2000 * P, RW, ANON)
    fill(p, a, 2000)
    m.check()
    file0 = meminfo(m, "Active(file)") + meminfo(m, "Inactive(file)")
    reclaim(m, p, 200)
    m.check()
    # a large inactive file list is scanned alone (get_scan_count's SCAN_FILE)
    assert meminfo(m, "Active(file)") + meminfo(m, "Inactive(file)") <= file0 - 4 * 32
    assert vmstat(m, "pswpout") == 0
    verify(p, a, 2000)
    m.check()
