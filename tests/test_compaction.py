"""Compaction and page migration (issue 13, item 4): an order-3 request that fails while
compaction is switched off succeeds through direct compaction, kcompactd or
vm.compact_memory; migrated pages keep their bytes, mappings and counts (anonymous,
shared after fork, page cache, shmem, swap cache, mlocked); migration entries; deferral
after a compaction that failed; the compact_* and pgmigrate_* counters.

Compaction is "switched off" with ``vm.extfrag_threshold=1000``: compaction_suitable
then calls every fragmentation index a lack of memory (COMPACT_NOT_SUITABLE_ZONE), so
neither the allocator nor kcompactd compacts — while ``vm.compact_memory`` still does.
"""

import struct

import pytest
from hypothesis import given, settings, HealthCheck, strategies as st

import linuxvm as lv
from _proc import meminfo, vmstat
from linuxvm.arch.x86.pgtable import (pt_entries, pte_pfn, pte_present, is_swap_pte,
                                      pte_to_swp_entry, swp_type, swp_offset,
                                      SWP_MIGRATION_READ, SWP_MIGRATION_WRITE)
from linuxvm.include.vm_event_item import NR_ISOLATED_ANON
from linuxvm.mm import gfp as G
from linuxvm.mm import rmap
from linuxvm.mm.compaction import compaction_suitable, COMPACT_SKIPPED, COMPACT_CONTINUE
from linuxvm.mm.memory.pgtable import pte_lookup
from linuxvm.mm.migrate import (migrate_pages, remove_migration_ptes, MR_SYSCALL,
                                MIGRATE_SYNC)
from linuxvm.mm.page import PG_locked, PG_mlocked, PG_unevictable
from linuxvm.mm.page_alloc import __alloc_pages_nodemask
from linuxvm.mm.swap import lru_add_drain
from linuxvm.mm.vmscan import isolate_lru_page, putback_lru_page
from linuxvm.mm.vmscan.reclaim import ScanControl, do_try_to_free_pages, try_to_free_pages

P = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
# GFP_KERNEL without __GFP_KSWAPD_RECLAIM: kswapd (and so kcompactd) stays asleep, so
# only the allocating task's own direct compaction can make the block
DIRECT = "__GFP_DIRECT_RECLAIM|__GFP_IO|__GFP_FS|__GFP_NORETRY"
COMPACT_EVENTS = ("compact_migrate_scanned", "compact_free_scanned", "compact_isolated",
                  "compact_stall", "compact_fail", "compact_success", "compact_daemon_wake",
                  "pgmigrate_success", "pgmigrate_fail")


def delta(before, after):
    return {k: after[k] - before[k] for k in COMPACT_EVENTS}


def buddyinfo(m):
    """{zone name: [nr_free per order]} from /proc/buddyinfo."""
    out = {}
    for line in m.proc.read("/proc/buddyinfo").splitlines():
        f = line.split()
        out[f[3]] = [int(x) for x in f[4:]]
    return out


def high_order_blocks(m, order=3):
    return sum(sum(c[order:]) for c in buddyinfo(m).values())


def pte_of(m, p, addr):
    ptr = pte_lookup(m, p.mm, addr)
    return int(pt_entries(m, ptr[0])[ptr[1]])


def pfn_of(m, p, addr):
    pte = pte_of(m, p, addr)
    assert pte_present(pte), hex(addr)
    return pte_pfn(pte)


def fill(p, a, idxs, tag):
    for i in idxs:
        p.write(a + i * P, struct.pack("<II", i, tag))


def verify(p, a, idxs, tag):
    for i in idxs:
        assert p.read(a + i * P, 8) == struct.pack("<II", i, tag), f"page {i}"


def sink_high_orders(m):
    """Hold every free block of order 3 or more (as kernel allocations), so that only
    the fragments are left free. Compaction must be off (extfrag_threshold 1000)."""
    held = []
    while True:
        pfn = m.kernel.alloc_pages("GFP_KERNEL|__GFP_NORETRY|__GFP_NOWARN", 3)
        if pfn is None:
            return held
        held.append(pfn)


def fragmented(ram="64M", spare=1500, **kw):
    """A machine whose free memory is order-0 holes between the pages of a process:
    fill (almost) all memory with anonymous pages, drop every other one, hold what high
    orders remain. (m, p, addr, kept page indexes)."""
    m = lv.Machine(ram=ram, seed=0, sysctl={"vm.extfrag_threshold": 1000}, **kw)
    p = m.spawn("frag")
    n = meminfo(m, "MemFree") // 4 - spare
    a = p.mmap(None, n * P, RW, ANON)
    fill(p, a, range(n), 7)
    m.check()
    for i in range(0, n, 2):
        p.madvise(a + i * P, P, lv.MADV_DONTNEED)
    m.check()
    sink_high_orders(m)
    m.check()
    return m, p, a, range(1, n, 2)


def test_order3_fails_without_compaction_and_succeeds_through_direct_compaction():
    m, p, a, kept = fragmented()
    # plenty of memory is free, none of it in a block of order 3 or more
    assert meminfo(m, "MemFree") > 12 << 10
    assert high_order_blocks(m) == 0
    before = vmstat(m)
    assert m.kernel.alloc_pages(DIRECT, 3) is None      # compaction off: it fails
    m.check()
    d = delta(before, vmstat(m))
    assert d["compact_stall"] == 0 and d["pgmigrate_success"] == 0
    assert "page allocation failure: order:3" in "\n".join(m.dmesg())
    assert all(compaction_suitable(z, 3, 0, z.idx) == COMPACT_SKIPPED
               for z in m.zones if z.managed_pages)     # NOT_SUITABLE_ZONE, reported so

    m.sysctl["vm.extfrag_threshold"] = 500
    assert any(compaction_suitable(z, 3, 0, z.idx) == COMPACT_CONTINUE
               for z in m.zones if z.managed_pages)
    before = vmstat(m)
    frags_before = buddyinfo(m)
    pfn = m.kernel.alloc_pages(DIRECT, 3)
    m.check()
    assert pfn is not None and pfn % 8 == 0
    d = delta(before, vmstat(m))
    # the first (async) direct compaction made the block: one stall, one success
    assert d["compact_stall"] == 1 and d["compact_success"] == 1 and d["compact_fail"] == 0
    assert d["compact_daemon_wake"] == 0
    assert 4 <= d["pgmigrate_success"] <= 64 and d["pgmigrate_fail"] == 0
    assert d["compact_migrate_scanned"] > 0 and d["compact_free_scanned"] > 0
    assert d["compact_isolated"] >= 2 * d["pgmigrate_success"]   # each source and target
    assert buddyinfo(m) != frags_before
    verify(p, a, kept, 7)                                # every byte where it was
    m.check()
    zone = m.zones[m.mem_map.f[pfn] >> 62]
    assert zone.compact_defer_shift == 0 and zone.compact_order_failed == 4
    m.kernel.free_pages(pfn, 3)
    m.check()


def test_kswapd_wakes_kcompactd_which_makes_the_block():
    m, p, a, kept = fragmented()
    m.sysctl["vm.extfrag_threshold"] = 500
    before = vmstat(m)
    pfn = m.kernel.alloc_pages("GFP_KERNEL|__GFP_NORETRY", 3)
    m.check()
    assert pfn is not None
    d = delta(before, vmstat(m))
    # kswapd found the node balanced at order 0 and handed order 3 to kcompactd, which
    # ran (synchronously, in the model) before the allocation looked again
    assert d["compact_daemon_wake"] == 1
    assert d["compact_stall"] == 0 and d["pgmigrate_success"] > 0
    assert m.pgdat.kcompactd_max_order == 0
    verify(p, a, kept, 7)
    m.check()


def test_compact_memory_sysctl_compacts_every_zone():
    m, p, a, kept = fragmented()
    info0 = buddyinfo(m)
    pt0 = m.proc.read("/proc/pagetypeinfo")
    before = vmstat(m)
    m.sysctl["vm.compact_memory"] = 1
    m.check()
    d = delta(before, vmstat(m))
    info1 = buddyinfo(m)
    # far fewer, larger free blocks: the order-0 holes were filled from the zones' tops
    for zone in info0:
        assert sum(info1[zone]) < sum(info0[zone]) // 4
    assert high_order_blocks(m, 9) > 0
    assert m.proc.read("/proc/pagetypeinfo") != pt0
    assert d["pgmigrate_success"] > 1000 and d["pgmigrate_fail"] == 0
    assert d["compact_stall"] == 0 and d["compact_daemon_wake"] == 0
    verify(p, a, kept, 7)
    m.check()
    # an order-3 request now succeeds on the fast path, compaction off or not
    assert m.kernel.alloc_pages(DIRECT, 3) is not None
    m.check()


def test_compact_memory_is_write_only_and_any_value_compacts():
    m = lv.Machine(ram="64M", seed=0)
    with pytest.raises(lv.SyscallError):
        m.sysctl["vm.compact_memory"]
    m.sysctl["vm.compact_memory"] = "anything"
    m.check()
    with pytest.raises(lv.SyscallError):
        m.sysctl["vm.extfrag_threshold"] = 1001          # proc_dointvec_minmax: 0..1000


def test_migration_keeps_bytes_and_mappings_of_every_kind_of_page():
    # anon shared by fork, private anon, page cache (mapped and not), shmem, mlocked
    m = lv.Machine(ram="128M", seed=1)
    p = m.spawn("owner")
    n = 200
    pad = p.mmap(None, 6000 * P, RW, ANON)
    fill(p, pad, range(6000), 1)                        # pages low in the zones
    anon = p.mmap(None, n * P, RW, ANON)
    fill(p, anon, range(n), 2)
    shm = p.mmap(None, n * P, RW, lv.MAP_SHARED | lv.MAP_ANONYMOUS)
    fill(p, shm, range(n), 3)
    m.fs.create("/data", n * P, data=b"".join(struct.pack("<II", i, 4).ljust(P, b"\0")
                                              for i in range(n)))
    fd = p.open("/data", lv.O_RDONLY)
    fmap = p.mmap(None, n * P, lv.PROT_READ, lv.MAP_SHARED, fd, 0)
    verify(p, fmap, range(0, n, 2), 4)                  # half of the file mapped
    rbuf = p.mmap(None, P, RW, ANON)
    assert p.pread(fd, rbuf, 8, (n - 1) * P) == 8       # a page in the cache only
    assert p.read(rbuf, 8) == struct.pack("<II", n - 1, 4)
    locked = p.mmap(None, 16 * P, RW, ANON)            # RLIMIT_MEMLOCK: 64 KiB
    fill(p, locked, range(16), 5)
    p.mlock(locked, 16 * P)
    c = p.fork()
    m.check()
    verify(c, shm, range(n), 3)             # fork copies no shared PTEs: fault them in
    m.check()
    for i in range(0, 6000, 2):                         # holes low in the zones
        p.madvise(pad + i * P, P, lv.MADV_DONTNEED)
    c.munmap(pad, 6000 * P)
    m.check()
    before = {(name, i): pfn_of(m, p, base + i * P)
              for name, base, count in (("anon", anon, n), ("shm", shm, n),
                                        ("file", fmap, n), ("locked", locked, 16))
              for i in range(0, count, 2 if name == "file" else 1)}
    mlocked0 = meminfo(m, "Mlocked")
    ev0 = vmstat(m)
    m.sysctl["vm.compact_memory"] = 1
    m.check()
    d = delta(ev0, vmstat(m))
    moved = {k for k, pfn in before.items()
             if pfn_of(m, p, {"anon": anon, "shm": shm, "file": fmap,
                              "locked": locked}[k[0]] + k[1] * P) != pfn}
    for kind in ("anon", "shm", "file", "locked"):
        assert any(k[0] == kind for k in moved), kind
    assert d["pgmigrate_success"] >= len(moved) and d["pgmigrate_fail"] == 0
    # the shared pages moved once, for both processes
    for i in range(n):
        assert pfn_of(m, p, anon + i * P) == pfn_of(m, c, anon + i * P)
        assert pfn_of(m, p, shm + i * P) == pfn_of(m, c, shm + i * P)
    for proc in (p, c):
        verify(proc, anon, range(n), 2)
        verify(proc, shm, range(n), 3)
        verify(proc, fmap, range(n), 4)
        verify(proc, locked, range(16), 5)
    verify(p, pad, range(1, 6000, 2), 1)
    assert p.pread(fd, rbuf + 8, 8, (n - 1) * P) == 8
    assert p.read(rbuf + 8, 8) == struct.pack("<II", n - 1, 4)
    # mlocked pages stay mlocked and unevictable where they went (compact_unevictable_
    # allowed is 1 by default)
    assert meminfo(m, "Mlocked") == mlocked0
    f = m.mem_map.f
    for i in range(16):
        pfn = pfn_of(m, p, locked + i * P)
        assert f[pfn] & (1 << PG_mlocked) and f[pfn] & (1 << PG_unevictable)
    m.check()
    # copy-on-write still separates parent and child after the move
    fill(c, anon, range(n), 6)
    fill(p, shm, range(n), 8)
    verify(p, anon, range(n), 2)
    verify(c, shm, range(n), 8)
    m.check()
    c.exit(0)
    p.exit(0)
    m.check()


def test_unevictable_pages_stay_when_compact_unevictable_allowed_is_0():
    m = lv.Machine(ram="64M", seed=2, sysctl={"vm.compact_unevictable_allowed": 0})
    p = m.spawn("lock")
    pad = p.mmap(None, 3000 * P, RW, ANON)
    fill(p, pad, range(3000), 1)
    locked = p.mmap(None, 16 * P, RW, ANON)            # RLIMIT_MEMLOCK: 64 KiB
    fill(p, locked, range(16), 5)
    p.mlock(locked, 16 * P)
    p.munmap(pad, 3000 * P)
    m.check()
    pfns = [pfn_of(m, p, locked + i * P) for i in range(16)]
    m.sysctl["vm.compact_memory"] = 1
    m.check()
    assert [pfn_of(m, p, locked + i * P) for i in range(16)] == pfns
    verify(p, locked, range(16), 5)


def test_swap_cache_pages_migrate_through_the_swapper_space():
    m = lv.Machine(ram="64M", swap="64M", seed=3)
    p = m.spawn("sw")
    n = 2000
    a = p.mmap(None, n * P, RW, ANON)
    fill(p, a, range(n), 9)
    saved = m.current
    m.current = p.task
    try:
        do_try_to_free_pages(m, G.GFP_KERNEL, ScanControl(G.GFP_KERNEL, 0, 1500))
    finally:
        m.current = saved
    m.check()
    verify(p, a, range(n), 9)                           # swapped in: still in the cache
    m.check()
    cached = meminfo(m, "SwapCached")
    assert cached > 0
    before = {i: pfn_of(m, p, a + i * P) for i in range(n)}
    ev0 = vmstat(m)
    m.sysctl["vm.compact_memory"] = 1
    m.check()
    assert vmstat(m)["pgmigrate_success"] > ev0["pgmigrate_success"]
    assert sum(pfn_of(m, p, a + i * P) != before[i] for i in range(n)) > 0
    assert meminfo(m, "SwapCached") == cached
    verify(p, a, range(n), 9)
    m.check()
    p.exit(0)
    m.check()


def test_ramfs_pages_cannot_migrate_and_count_as_failures():
    # ramfs_aops has no migratepage: fallback_migrate_page cannot write a dirty page out
    # (no writepage), so a sync compaction fails each one (-EINVAL) and leaves it
    m = lv.Machine(ram="64M", seed=4)
    # THP on (4.6 boots this small a machine with it off): khugepaged's min_free_kbytes
    # raise gives the layout where the 32 ramfs pages sit together, all in the migration
    # scanner's reach
    m.proc.write("/sys/kernel/mm/transparent_hugepage/enabled", "madvise")
    m.fs.mount("ramfs", "/mnt/ram")
    p = m.spawn("r")
    pad = p.mmap(None, 3000 * P, RW, ANON)
    fill(p, pad, range(3000), 1)
    fd = p.open("/mnt/ram/f", lv.O_RDWR | lv.O_CREAT, 0o600)
    buf = p.mmap(None, 32 * P, RW, ANON)
    fill(p, buf, range(32), 6)
    assert p.sys_write(fd, buf, 32 * P) == 32 * P
    f = p.mmap(None, 32 * P, lv.PROT_READ, lv.MAP_SHARED, fd, 0)
    verify(p, f, range(32), 6)
    pfns = [pfn_of(m, p, f + i * P) for i in range(32)]
    p.munmap(pad, 3000 * P)
    m.check()
    ev0 = vmstat(m)
    m.sysctl["vm.compact_memory"] = 1
    m.check()
    d = delta(ev0, vmstat(m))
    # every ramfs page the migration scanner reached failed (those above where the two
    # scanners met are not tried: how many that is depends on the boot's layout), and
    # none moved
    assert 0 < d["pgmigrate_fail"] <= 32
    assert [pfn_of(m, p, f + i * P) for i in range(32)] == pfns
    verify(p, f, range(32), 6)
    m.check()


def test_compaction_that_cannot_succeed_is_deferred():
    # every aligned order-3 block keeps one kernel page: nothing movable can free one
    m = lv.Machine(ram="64M", seed=5, sysctl={"vm.extfrag_threshold": 1000})
    k = m.kernel
    held = set()
    while meminfo(m, "MemFree") > 6 << 10:
        pfn = k.alloc_pages("GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY", 0)
        assert pfn is not None
        held.add(pfn)
    for base in {pfn & ~7 for pfn in held}:
        block = [base + i for i in range(8)]
        if all(b in held for b in block):
            for b in block[1:]:
                k.free_pages(b, 0)
                held.discard(b)
    m.check()
    sink_high_orders(m)
    assert high_order_blocks(m) == 0
    m.sysctl["vm.extfrag_threshold"] = 500
    zones = [z for z in m.zones if z.managed_pages]
    assert any(compaction_suitable(z, 3, 0, z.idx) == COMPACT_CONTINUE for z in zones)
    ev0 = vmstat(m)
    assert k.alloc_pages(DIRECT + "|__GFP_NOWARN", 3) is None
    m.check()
    d = delta(ev0, vmstat(m))
    # async compaction first (no deferral), then after reclaim the noretry sync-light
    # pass covers each zone in vain: defer_compaction
    assert d["compact_stall"] == d["compact_fail"] > 0 and d["compact_success"] == 0
    assert d["pgmigrate_success"] == 0
    deferred = [z for z in zones if z.compact_defer_shift == 1]
    # compact_order_failed starts at 0 (no success yet raised it): every order defers
    assert deferred and all(z.compact_order_failed == 0 for z in deferred)
    # the next attempt is skipped once (considered 1 < 2), then compaction runs again
    # and, failing, doubles the deferral
    ev1 = vmstat(m)
    assert k.alloc_pages(DIRECT + "|__GFP_NOWARN", 3) is None
    m.check()
    d = delta(ev1, vmstat(m))
    assert d["compact_stall"] == d["compact_fail"] > 0
    assert all(z.compact_defer_shift == 2 for z in deferred)
    assert [z.compact_considered for z in deferred] == [0] * len(deferred)


def test_costly_order_direct_reclaim_stops_when_compaction_is_ready():
    # shrink_zones skips a zone with free pages enough for compaction to make an order-4
    # block (compaction_ready) and do_try_to_free_pages reports progress without
    # reclaiming; while compaction would be skipped, reclaim goes ahead
    m, p, a, kept = fragmented()
    m.fs.create("/f", 512 * P, data=bytes(range(256)) * (2 * 512))
    fd = p.open("/f", lv.O_RDONLY)
    f = p.mmap(None, 512 * P, lv.PROT_READ, lv.MAP_PRIVATE, fd, 0)
    for i in range(512):
        p.read(f + i * P, 1)
    p.munmap(f, 512 * P)
    m.check()

    def direct_reclaim(order):
        saved = m.current
        m.current = p.task
        try:
            return try_to_free_pages(m, order, G.GFP_KERNEL)
        finally:
            m.current = saved

    file0 = meminfo(m, "Active(file)") + meminfo(m, "Inactive(file)")
    steal0 = sum(v for k, v in vmstat(m).items() if k.startswith("pgsteal_"))
    m.sysctl["vm.extfrag_threshold"] = 500
    assert direct_reclaim(4) == 1
    m.check()
    assert meminfo(m, "Active(file)") + meminfo(m, "Inactive(file)") == file0
    assert sum(v for k, v in vmstat(m).items() if k.startswith("pgsteal_")) == steal0
    m.sysctl["vm.extfrag_threshold"] = 1000              # compaction would be skipped
    assert direct_reclaim(4) >= 32
    m.check()
    assert meminfo(m, "Active(file)") + meminfo(m, "Inactive(file)") < file0
    verify(p, a, kept, 7)
    m.check()


def test_migrate_pages_of_one_page_and_its_migration_entries():
    m = lv.Machine(ram="64M", seed=6)
    p = m.spawn("one")
    a = p.mmap(None, 2 * P, RW, ANON)
    fill(p, a, range(2), 3)
    p.mprotect(a + P, P, lv.PROT_READ)
    c = p.fork()
    lru_add_drain(m)                                    # the new pages onto the LRU
    m.check()
    # try_to_unmap(TTU_MIGRATION) writes migration entries naming the frame, WRITE for a
    # writable PTE and READ otherwise; remove_migration_ptes puts the page back
    old = pfn_of(m, p, a + P)
    assert isolate_lru_page(m, old) == 0
    f = m.mem_map.f
    f[old] = f[old] | (1 << PG_locked)
    rmap.try_to_unmap(m, old, rmap.TTU_MIGRATION | rmap.TTU_IGNORE_MLOCK
                      | rmap.TTU_IGNORE_ACCESS)
    for proc in (p, c):
        pte = pte_of(m, proc, a + P)
        assert is_swap_pte(pte)
        entry = pte_to_swp_entry(pte)
        assert swp_type(entry) == SWP_MIGRATION_READ and swp_offset(entry) == old
    remove_migration_ptes(m, old, old)
    f[old] = f[old] & ~(1 << PG_locked)
    putback_lru_page(m, old)
    m.check()
    # a private page after fork is read-only in both: a READ entry; the parent's own
    # writable page gets a WRITE entry — migrate it for real
    p.write(a, b"x")                                    # COW: the parent's own page
    lru_add_drain(m)
    m.check()
    old = pfn_of(m, p, a)
    assert isolate_lru_page(m, old) == 0
    m.page_zone(old).vm_stat[NR_ISOLATED_ANON] += 1
    seen = []

    def new_page(m_, page, private):
        seen.append(swp_type(pte_to_swp_entry(pte_of(m, p, a))) if is_swap_pte(
            pte_of(m, p, a)) else None)
        return __alloc_pages_nodemask(m.pgdat, G.GFP_HIGHUSER_MOVABLE, 0)

    pages = [old]
    assert migrate_pages(m, pages, new_page, None, None, MIGRATE_SYNC, MR_SYSCALL) == 0
    assert pages == [] and seen == [None]               # the target comes before unmap
    m.check()
    new = pfn_of(m, p, a)
    assert new != old and pte_of(m, p, a) & 2           # still writable (a WRITE entry)
    assert p.read(a, 8) == b"x" + struct.pack("<II", 0, 3)[1:]
    assert m.page_zone(old).vm_stat[NR_ISOLATED_ANON] == 0
    assert SWP_MIGRATION_WRITE != SWP_MIGRATION_READ
    m.check()


def test_a_migration_entry_met_by_a_fault_is_a_kernel_bug():
    m = lv.Machine(ram="64M", seed=7)
    p = m.spawn("bug")
    a = p.mmap(None, P, RW, ANON)
    p.write(a, b"y")
    lru_add_drain(m)
    pfn = pfn_of(m, p, a)
    isolate_lru_page(m, pfn)
    f = m.mem_map.f
    f[pfn] = f[pfn] | (1 << PG_locked)
    rmap.try_to_unmap(m, pfn, rmap.TTU_MIGRATION | rmap.TTU_IGNORE_MLOCK
                      | rmap.TTU_IGNORE_ACCESS)
    with pytest.raises(lv.KernelBug, match="completes within one call"):
        p.read(a, 1)


# --- random work with compaction in between (Hypothesis) ----------------------------------

REGION = 256
BASE = 0x7f0000000000
_proc = st.integers(0, 3)
_span = st.tuples(st.integers(0, REGION - 1), st.integers(1, 96))
_step = st.one_of(
    st.tuples(st.just("write"), _proc, _span),
    st.tuples(st.just("fork"), _proc),
    st.tuples(st.just("exit"), _proc),
    st.tuples(st.just("dontneed"), _proc, _span, st.integers(2, 4)),
    st.tuples(st.just("reclaim"), st.integers(16, 400)),
    st.tuples(st.just("compact")),
    st.tuples(st.just("alloc"), st.integers(1, 4), st.booleans()),
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_step, min_size=1, max_size=25))
def test_random_work_with_compaction_keeps_every_byte(steps):
    m = lv.Machine(ram="64M", swap="32M", aslr=False, seed=9)
    first = m.spawn("p0")
    first.mmap(BASE, REGION * P, RW, ANON | lv.MAP_FIXED)
    procs, oracle, held = [first], [{}], []
    m.check()
    seq = 0
    for s in steps:
        op = s[0]
        if op == "reclaim":
            saved = m.current
            m.current = None
            do_try_to_free_pages(m, G.GFP_KERNEL, ScanControl(G.GFP_KERNEL, 0, s[1]))
            m.current = saved
        elif op == "compact":
            m.sysctl["vm.compact_memory"] = 1
        elif op == "alloc":
            pfn = m.kernel.alloc_pages(DIRECT + "|__GFP_NOWARN", s[1])
            if pfn is not None:
                if s[2]:
                    held.append((pfn, s[1]))
                else:
                    m.kernel.free_pages(pfn, s[1])
        else:
            k = s[1] % len(procs)
            p, orc = procs[k], oracle[k]
            if op == "fork":
                if len(procs) < 4:
                    procs.append(p.fork())
                    oracle.append(dict(orc))
            elif op == "exit":
                if len(procs) > 1:
                    p.exit(0)
                    del procs[k], oracle[k]
            else:
                first_page, n = s[2]
                pages = range(first_page, min(REGION, first_page + n))
                if op == "write":
                    for i in pages:
                        seq += 1
                        data = struct.pack("<QQ", i, seq)
                        p.write(BASE + i * P, data)
                        orc[i] = data
                else:
                    for i in pages[::s[3]]:
                        p.madvise(BASE + i * P, P, lv.MADV_DONTNEED)
                        orc.pop(i, None)
        m.check()
    for p, orc in zip(procs, oracle):
        for i in range(REGION):
            assert p.read(BASE + i * P, 16) == orc.get(i, bytes(16)), i
    m.check()
    for pfn, order in held:
        m.kernel.free_pages(pfn, order)
    for p in procs:
        p.exit(0)
    m.check()
