"""Slab shrinkers (issue 13): the dentry and inode caches of each filesystem, their LRUs,
super_cache_scan through shrink_slab from kswapd and direct reclaim, vm.drop_caches=2/3,
vm.vfs_cache_pressure, negative dentries, and the counters (slabs_scanned, pginodesteal,
kswapd_inodesteal, drop_slab)."""

import struct

import pytest
from hypothesis import example, given, settings, HealthCheck, strategies as st

import linuxvm as lv
from _proc import meminfo, vmstat
from linuxvm.mm import gfp as G
from linuxvm.mm.swap import lru_add_drain_all
from linuxvm.mm.vmscan.reclaim import ScanControl, do_try_to_free_pages
from linuxvm.mm.vmscan.shrinker import shrink_slab, do_shrink_slab, Shrinker, ShrinkControl
from linuxvm.fs.super import super_cache_count

P = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS


def slabinfo(m, name):
    """(active_objs, num_objs, objsize, flags) of one cache."""
    for line in m.proc.read("/proc/slabinfo").splitlines():
        f = line.split()
        if f and f[0] == name:
            return int(f[1]), int(f[2]), int(f[3])
    raise KeyError(name)


def root(m):
    return m.vfs.mounts["/"]


def make_files(m, n, pages=1, base="/data", check_every=1):
    for i in range(n):
        data = struct.pack("<I", i) * 8
        m.fs.create(f"{base}/d{i % 5}/f{i}", pages * P, data)
        if i % check_every == 0:
            m.check()
    m.check()


def read_files(m, p, n, base="/data", step=1):
    buf = p.mmap(None, 16 * P, RW, ANON)
    for i in range(0, n, step):
        fd = p.open(f"{base}/d{i % 5}/f{i}", lv.O_RDONLY)
        assert p.sys_read(fd, buf, P) == P
        assert p.read(buf, 4) == struct.pack("<I", i)
        p.close(fd)
    m.check()


def in_core(m, path):
    return m.vfs.files[path].slab_obj != 0


def test_boot_has_the_vfs_caches_with_their_flags():
    m = lv.Machine(ram="128M")
    for name, size in (("dentry", 192), ("inode_cache", 592), ("ext4_inode_cache", 1072),
                       ("shmem_inode_cache", 680)):
        assert slabinfo(m, name)[2] >= size
    # dentry and the ext4 inodes are reclaimable slab (SReclaimable), shmem's are not
    flags = {s.name: s.flags for s in m.slab.slab_caches}
    assert flags["dentry"] & 0x00020000 and flags["ext4_inode_cache"] & 0x00020000
    assert not flags["shmem_inode_cache"] & 0x00020000
    assert len(m.shrinker_list) >= 2          # the root filesystem's and shm_mnt's
    m.check()


def test_files_cost_dentries_and_inodes_and_stay_cached_unused():
    m = lv.Machine(ram="128M")
    srecl0 = meminfo(m, "SReclaimable")
    inodes0, names0 = len(root(m).inodes), len(m.vfs.dcache)
    make_files(m, 200)
    # 200 files and 6 directories, each an ext4 inode and a dentry
    assert len(root(m).inodes) == inodes0 + 206 and len(m.vfs.dcache) == names0 + 206
    assert slabinfo(m, "ext4_inode_cache")[1] >= len(root(m).inodes)
    assert slabinfo(m, "dentry")[1] >= len(m.vfs.dcache)
    assert meminfo(m, "SReclaimable") > srecl0
    # every file's dentry is unused and on the LRU; the directories hold their children
    assert len(root(m).s_dentry_lru) == 200
    assert len(root(m).s_inode_lru) == 0                   # the dentries pin the inodes
    assert super_cache_count(m, root(m)) == 200


def test_drop_caches_2_frees_dentries_inodes_and_their_page_cache():
    m = lv.Machine(ram="128M")
    make_files(m, 150)
    p = m.spawn("reader")
    read_files(m, p, 150, step=3)                          # 50 files in the page cache
    lru_add_drain_all(m)          # pages still in a pagevec cannot be invalidated (4.6)
    cached = meminfo(m, "Cached")
    srecl = meminfo(m, "SReclaimable")
    m.proc.write("/proc/sys/vm/drop_caches", "2")
    m.check()
    assert vmstat(m, "drop_slab") == 1
    assert vmstat(m, "slabs_scanned") > 0
    # an unused inode's clean pages go with it, counted as stolen by a direct pruner
    assert vmstat(m, "pginodesteal") == 50
    assert vmstat(m, "kswapd_inodesteal") == 0
    assert meminfo(m, "Cached") == cached - 50 * 4
    assert meminfo(m, "SReclaimable") < srecl
    assert not any(in_core(m, f"/data/d{i % 5}/f{i}") for i in range(150))
    assert not root(m).s_dentry_lru and not root(m).s_inode_lru
    # the files are still there: a lookup reads each in again, with its bytes
    read_files(m, p, 150, step=7)
    assert in_core(m, "/data/d0/f0")
    assert vmstat(m, "drop_pagecache") == 0
    m.proc.write("/proc/sys/vm/drop_caches", "3")
    assert vmstat(m, "drop_pagecache") == 1 and vmstat(m, "drop_slab") == 2
    m.check()


def test_open_files_and_mappings_keep_their_dentry_inode_and_pages():
    m = lv.Machine(ram="128M")
    make_files(m, 20, pages=4)
    p = m.spawn("holder")
    fd = p.open("/data/d0/f0", lv.O_RDONLY)
    fd2 = p.open("/data/d1/f1", lv.O_RDONLY)
    a = p.mmap(None, 4 * P, lv.PROT_READ, lv.MAP_SHARED, fd2)
    p.close(fd2)
    assert p.read(a, 4) == struct.pack("<I", 1)
    buf = p.mmap(None, P, RW, ANON)
    p.sys_read(fd, buf, P)
    lru_add_drain_all(m)
    cached = m.vfs.files["/data/d0/f0"].i_mapping.nrpages
    assert cached                                   # the read and its readahead
    m.proc.write("/proc/sys/vm/drop_caches", "2")
    m.check()
    assert in_core(m, "/data/d0/f0") and in_core(m, "/data/d1/f1")
    assert m.vfs.files["/data/d0/f0"].i_mapping.nrpages == cached
    assert p.read(a, 4) == struct.pack("<I", 1)
    assert not in_core(m, "/data/d2/f2")
    p.munmap(a, 4 * P)
    p.close(fd)
    m.check()
    # now unused: dropping takes them, in a few writes: with so few objects one
    # drop_slab pass scans three, and the first look at a recently used one only
    # clears its referenced bit (4.6 does the same)
    lru_add_drain_all(m)
    for _ in range(4):
        m.proc.write("/proc/sys/vm/drop_caches", "2")
    m.check()
    assert not in_core(m, "/data/d0/f0") and not in_core(m, "/data/d1/f1")


def test_a_dirty_inode_is_kept_until_written_back():
    m = lv.Machine(ram="128M")
    p = m.spawn("w")
    m.fs.mkdir("/data", 0o1777)
    fd = p.open("/data/dirty", lv.O_RDWR | lv.O_CREAT, 0o644)
    buf = p.mmap(None, P, RW, ANON)
    p.write(buf, b"dirty bytes")
    p.sys_write(fd, buf, 11)
    p.close(fd)
    lru_add_drain_all(m)
    m.proc.write("/proc/sys/vm/drop_caches", "2")
    m.check()
    inode = m.vfs.files["/data/dirty"]
    assert inode.slab_obj and inode.i_mapping.nrpages == 1       # I_DIRTY_PAGES: kept
    p.sync()
    m.check()
    lru_add_drain_all(m)
    for _ in range(4):
        m.proc.write("/proc/sys/vm/drop_caches", "2")
    m.check()
    assert not inode.slab_obj
    fd = p.open("/data/dirty", lv.O_RDONLY)
    assert p.sys_read(fd, buf, 100) == 11 and p.read(buf, 11) == b"dirty bytes"
    p.close(fd)
    m.check()


def test_negative_dentries_from_failed_lookups_and_unlink():
    m = lv.Machine(ram="128M")
    p = m.spawn("n")
    d0 = slabinfo(m, "dentry")[0]
    m.fs.create("/data/a", P, b"a")
    with pytest.raises(lv.SyscallError):
        p.open("/data/missing", lv.O_RDONLY)
    neg = m.vfs.dcache["/data/missing"]
    assert neg.d_inode is None and neg.d_lru                  # cached, unused
    assert p.unlink("/data/a") == 0
    m.check()
    neg_a = m.vfs.dcache["/data/a"]
    assert neg_a.d_inode is None                               # the name stays, negative
    # creating the name again instantiates the negative dentry, no new object
    fd = p.open("/data/a", lv.O_RDWR | lv.O_CREAT, 0o644)
    assert m.vfs.dcache["/data/a"] is neg_a and neg_a.d_inode is m.vfs.files["/data/a"]
    p.close(fd)
    assert slabinfo(m, "dentry")[0] >= d0
    m.proc.write("/proc/sys/vm/drop_caches", "2")
    m.proc.write("/proc/sys/vm/drop_caches", "2")
    m.check()
    assert "/data/missing" not in m.vfs.dcache
    # an unlinked file still open keeps its (unhashed) dentry until the last close
    m.fs.create("/data/b", P, b"b")
    fd = p.open("/data/b", lv.O_RDONLY)
    inode = m.vfs.files["/data/b"]
    assert p.unlink("/data/b") == 0
    assert "/data/b" not in m.vfs.dcache and inode.i_dentry is not None
    p.close(fd)
    m.check()
    assert inode.i_dentry is None and not inode.slab_obj


def test_tmpfs_and_ramfs_names_are_pinned():
    m = lv.Machine(ram="128M")
    m.fs.mount("ramfs", "/mnt/ram")
    p = m.spawn("t")
    for path in ("/dev/shm/x", "/mnt/ram/y"):
        fd = p.open(path, lv.O_RDWR | lv.O_CREAT, 0o600)
        p.close(fd)
    s0 = slabinfo(m, "shmem_inode_cache")[0]
    m.proc.write("/proc/sys/vm/drop_caches", "2")
    m.check()
    for path in ("/dev/shm/x", "/mnt/ram/y"):
        assert in_core(m, path) and m.vfs.files[path].i_dentry is not None
    assert slabinfo(m, "shmem_inode_cache")[0] == s0
    # unlinking a pinned name frees it at once
    assert p.unlink("/dev/shm/x") == 0
    m.check()
    assert "/dev/shm/x" not in m.vfs.dcache


def test_anonymous_shared_memory_has_a_shmem_inode_and_dentry():
    m = lv.Machine(ram="128M")
    p = m.spawn("s")
    s0, d0 = slabinfo(m, "shmem_inode_cache")[0], len(m.vfs.dcache)
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED | lv.MAP_ANONYMOUS)
    objs = [s for s in m.slab.slab_caches if s.name == "shmem_inode_cache"][0]
    assert slabinfo(m, "shmem_inode_cache")[0] >= s0
    inode = p.mm.mmap.vm_file.inode if hasattr(p.mm, "mmap") else None
    p.munmap(a, 4 * P)
    m.check()
    assert len(m.vfs.dcache) == d0                 # the pseudo dentry was never hashed
    assert objs is not None and (inode is None or not inode.slab_obj)


def test_vfs_cache_pressure_scales_the_count_and_0_keeps_everything():
    m = lv.Machine(ram="128M")
    make_files(m, 100)
    assert super_cache_count(m, root(m)) == 100
    m.proc.write("/proc/sys/vm/vfs_cache_pressure", "200")
    assert super_cache_count(m, root(m)) == 200
    m.proc.write("/proc/sys/vm/vfs_cache_pressure", "0")
    assert super_cache_count(m, root(m)) == 0
    m.proc.write("/proc/sys/vm/drop_caches", "2")
    assert len(root(m).s_dentry_lru) == 100 and vmstat(m, "slabs_scanned") == 0
    m.check()


def test_do_shrink_slab_scans_in_proportion_and_defers_the_rest():
    m = lv.Machine(ram="128M")
    calls = []

    def scan(shrinker, sc):
        calls.append(sc.nr_to_scan)
        return sc.nr_to_scan

    s = Shrinker("test", lambda shrinker, sc: 10000, scan)
    # 4 * 32 scanned / 2 seeks * 10000 objects / (1000 + 1) eligible pages = 639
    freed = do_shrink_slab(m, ShrinkControl(G.GFP_KERNEL), s, 32, 1000)
    assert calls == [128] * 4 and freed == 512
    assert s.nr_deferred == 639 - 512
    assert vmstat(m, "slabs_scanned") == 512
    # a pass with no GFP_FS: the superblock shrinker refuses (SHRINK_STOP)
    make_files(m, 300)
    before = len(root(m).s_dentry_lru)
    shrink_slab(m, G.GFP_NOFS, 0, None, 1000, 1000)
    assert len(root(m).s_dentry_lru) == before


def test_direct_reclaim_and_kswapd_shrink_the_caches_under_pressure():
    m = lv.Machine(ram="64M", sysctl={"vm.overcommit_memory": 1})
    # more than twice the superblock shrinker's batch of 1024: below that, reclaim's
    # proportional pressure never adds up to one batch (4.6 caps a pass at half the cache)
    make_files(m, 3000, check_every=250)
    p = m.spawn("reader")
    read_files(m, p, 3000, step=2)                            # 1500 files, 1500 pages
    m.check()
    lru0 = len(root(m).s_dentry_lru)
    # fill memory with anonymous pages: kswapd and direct reclaim must free the file
    # pages and, in proportion, the dentries and inodes
    n = meminfo(m, "MemFree") // 4 + 1200          # most of the page cache must go
    a = p.mmap(None, n * P, RW, ANON)
    for i in range(n):
        p.write(a + i * P, struct.pack("<I", i))
    m.check()
    assert vmstat(m, "pageoutrun") > 0
    assert vmstat(m, "slabs_scanned") > 0
    assert len(root(m).s_dentry_lru) + len(root(m).s_inode_lru) < lru0
    assert vmstat(m, "kswapd_inodesteal") + vmstat(m, "pginodesteal") >= 0
    for i in range(0, n, 997):
        assert p.read(a + i * P, 4) == struct.pack("<I", i)
    read_files(m, p, 3000, step=11)                           # the files still read
    p.exit(0)
    m.check()


def test_kswapd_that_cannot_balance_counts_high_wmark_hit_quickly():
    # the page cache is all that could be reclaimed, and every page of it is locked (as
    # by reads in flight on other CPUs): kswapd's pass ends with the zones still below
    # high yet reclaimable, a premature sleep
    m = lv.Machine(ram="64M")
    make_files(m, 400, pages=8, check_every=100)
    p = m.spawn("reader")
    read_files(m, p, 400)
    lru_add_drain_all(m)
    from linuxvm.mm.page import PG_locked
    cache = [pfn for path, ino in m.vfs.files.items() if path.startswith("/data/")
             for pfn in ino.i_mapping.i_pages.values()]
    assert len(cache) > 1000
    for pfn in cache:
        m.mem_map.f[pfn] |= 1 << PG_locked
    held = []
    while vmstat(m, "pageoutrun") == 0:
        held.append(m.kernel.alloc_pages("GFP_KERNEL", 0))
    runs = vmstat(m, "pageoutrun")
    assert vmstat(m, "kswapd_high_wmark_hit_quickly") == runs           # every one of them
    assert vmstat(m, "pgsteal_kswapd_dma32") + vmstat(m, "pgsteal_kswapd_dma") == 0
    trace = m.pgdat.kswapd.trace
    zones = [z for z in m.zones if z.managed_pages]
    assert trace[-1][1] == "sleep"
    assert any(fr < z.high_wmark_pages() for fr, z in zip(trace[-1][3], zones))
    for pfn in cache:
        m.mem_map.f[pfn] &= ~(1 << PG_locked)
    m.check()
    # unlocked, the next wake-up balances the node and sleeps properly
    while vmstat(m, "pageoutrun") == runs:
        held.append(m.kernel.alloc_pages("GFP_KERNEL", 0))
    assert vmstat(m, "kswapd_high_wmark_hit_quickly") == runs
    assert vmstat(m, "pgsteal_kswapd_dma32") + vmstat(m, "pgsteal_kswapd_dma") > 0
    for pfn in held:
        m.kernel.free_pages(pfn, 0)
    m.check()


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@example([("create", 0), ("pressure", 0), ("unlink", 0)])     # unlink of a pruned name
@given(st.lists(st.tuples(st.sampled_from(["create", "read", "write", "unlink", "drop",
                                           "pressure", "missing", "sync"]),
                          st.integers(0, 11)), min_size=1, max_size=30))
def test_random_file_and_cache_operations_keep_content_and_invariants(ops):
    m = lv.Machine(ram="64M")
    p = m.spawn("h")
    buf = p.mmap(None, 2 * P, RW, ANON)
    oracle = {}
    for op, k in ops:
        path = f"/h/d{k % 3}/f{k}"
        if op == "create" and path not in oracle:
            data = struct.pack("<II", k, len(oracle)) * 4
            m.fs.create(path, P, data)
            oracle[path] = data
        elif op == "read" and path in oracle:
            fd = p.open(path, lv.O_RDONLY)
            assert p.sys_read(fd, buf, P) == P
            assert p.read(buf, 32) == oracle[path]
            p.close(fd)
        elif op == "write" and path in oracle:
            data = struct.pack("<II", k, 99) * 4
            fd = p.open(path, lv.O_RDWR)
            p.write(buf, data)
            assert p.sys_write(fd, buf, 32) == 32
            p.close(fd)
            oracle[path] = data
        elif op == "unlink" and path in oracle:
            assert p.unlink(path) == 0
            del oracle[path]
        elif op == "drop":
            m.proc.write("/proc/sys/vm/drop_caches", str(2 + (k & 1)))
        elif op == "pressure":
            saved = m.current
            m.current = p.task
            try:
                do_try_to_free_pages(m, G.GFP_KERNEL, ScanControl(G.GFP_KERNEL, 0, 32))
            finally:
                m.current = saved
        elif op == "missing":
            with pytest.raises(lv.SyscallError):
                p.open(f"/h/none{k}", lv.O_RDONLY)
        elif op == "sync":
            p.sync()
        m.check()
    for path, data in oracle.items():
        fd = p.open(path, lv.O_RDONLY)
        assert p.sys_read(fd, buf, P) == P and p.read(buf, 32) == data
        p.close(fd)
    p.exit(0)
    m.check()
