"""SLUB: kmalloc size classes, slab movement between CPU slab, CPU partial, node partial
and the page allocator, merging, destroy/shrink, accounting and the kernel objects."""

import re

import pytest

import linuxvm as lv
from linuxvm.kernel.fork_stack import alloc_thread_stack, free_thread_stack


@pytest.fixture
def m():
    return lv.Machine(ram="512M", cpus=2, seed=0)


def row(m, name):
    """[active_objs, num_objs, objsize, objperslab, pagesperslab, active_slabs, num_slabs]"""
    for line in m.proc.read("/proc/slabinfo").splitlines():
        if line.split(" ", 1)[0] == name:
            nums = re.findall(r"\d+", line[17:])
            return [int(x) for x in nums[:5] + nums[8:10]]
    return None


def sysfs(m, cache, attr):
    return m.proc.read(f"/sys/kernel/slab/{cache}/{attr}").rstrip("\n")


def cache_of(m, addr):
    return m.slab.object_state(addr)[0].name


def pfn_of(addr):
    return (addr - 0xFFFF880000000000) >> 12


def slab_of(m, addr):
    return m.slab.object_state(addr)[1]


def test_slabinfo_header_and_format(m):
    lines = m.proc.read("/proc/slabinfo").splitlines()
    assert lines[0] == "slabinfo - version: 2.1"
    assert lines[1] == ("# name            <active_objs> <num_objs> <objsize> <objperslab> "
                        "<pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : "
                        "slabdata <active_slabs> <num_slabs> <sharedavail>")
    assert lines[-1].startswith("kmem_cache ")          # oldest cache last
    assert lines[-2].startswith("kmem_cache_node ")
    assert "kmem_cache_node       64     64     64   64    1 : tunables    0    0    0 : " \
           "slabdata      1      1      0" in lines


@pytest.mark.parametrize("size,cache", [(1, "kmalloc-8"), (8, "kmalloc-8"), (9, "kmalloc-16"),
                                        (65, "kmalloc-96"), (96, "kmalloc-96"),
                                        (100, "kmalloc-128"), (129, "kmalloc-192"),
                                        (193, "kmalloc-256"), (4097, "kmalloc-8192"),
                                        (8192, "kmalloc-8192")])
def test_kmalloc_size_classes(m, size, cache):
    a = m.kernel.kmalloc(size)
    assert cache_of(m, a) == cache
    assert m.kernel.ksize(a) == int(cache.split("-")[1])
    m.check()
    m.kernel.kfree(a)
    m.check()


def test_kmalloc_zero_large_and_dma(m):
    assert m.kernel.kmalloc(0) == 16                    # ZERO_SIZE_PTR
    m.kernel.kfree(16)
    before = m.proc.read("/proc/slabinfo")
    free = m.nr_free_pages()
    a = m.kernel.kmalloc(8193)                          # kmalloc_large: order 2
    assert m.nr_free_pages() == free - 4
    assert m.kernel.ksize(a) == 16384
    assert m.proc.read("/proc/slabinfo") == before
    m.check()
    m.kernel.kfree(a)
    m.check()
    d = m.kernel.kmalloc(100, "GFP_KERNEL|GFP_DMA")
    assert cache_of(m, d) == "dma-kmalloc-128"
    assert m.page_zone(pfn_of(d)).name == "DMA"
    m.kernel.kfree(d)
    m.check()


def test_first_allocation_creates_one_slab_full_of_cpu_objects(m):
    s = m.kernel.kmem_cache_create("first", 300)        # 304 bytes: no kmalloc cache fits
    assert row(m, "first") == [0, 0, 304, 13, 1, 0, 0]
    m.kernel.kmem_cache_alloc(s)
    # the other 12 objects sit on the CPU freelist, so they count as active
    assert row(m, "first") == [13, 13, 304, 13, 1, 1, 1]
    m.check()


def test_slab_moves_cpu_slab_cpu_partial_node_partial_freed(m):
    # size 1000, 2 CPUs: 16 objects per order-2 slab, cpu_partial 13, min_partial 5
    s = m.kernel.kmem_cache_create("demo", 1000)
    assert [sysfs(m, "demo", a) for a in ("objs_per_slab", "order", "cpu_partial",
                                          "min_partial")] == ["16", "2", "13", "5"]
    # 1. the first 16 objects fill slab A, the 17th opens slab B; A is full and on no list
    objs = [m.kernel.kmem_cache_alloc(s, cpu=0) for _ in range(17)]
    a_pfn, b_pfn = slab_of(m, objs[0]), slab_of(m, objs[16])
    assert {slab_of(m, o) for o in objs[:16]} == {a_pfn} and a_pfn != b_pfn
    assert row(m, "demo") == [32, 32, 1000, 16, 4, 2, 2]
    assert sysfs(m, "demo", "partial") == "0" and sysfs(m, "demo", "cpu_slabs") == "1"
    m.check()
    # 2. freeing into the full slab A freezes it onto CPU 0's partial list
    m.kernel.kmem_cache_free(s, objs[0], cpu=0)
    assert sysfs(m, "demo", "slabs_cpu_partial") == "1(1) C0=1(1)"
    assert sysfs(m, "demo", "cpu_slabs") == "2"         # cpu slab + one cpu partial slab
    assert row(m, "demo")[:2] == [32, 32]               # frozen free objects count active
    m.check()
    # 3. the rest of A's objects go back while it is frozen: it stays on the CPU
    for o in objs[1:16]:
        m.kernel.kmem_cache_free(s, o, cpu=0)
    assert sysfs(m, "demo", "slabs_cpu_partial") == "1(1) C0=1(1)"
    m.check()
    # 4. shrink: flush B to the node partial list, A too (nr_partial < min_partial), then
    #    discard the empty A
    assert m.kernel.kmem_cache_shrink(s) == 1
    assert row(m, "demo") == [1, 16, 1000, 16, 4, 1, 1]
    assert sysfs(m, "demo", "partial") == "1" and sysfs(m, "demo", "cpu_slabs") == "0"
    assert sysfs(m, "demo", "objects_partial") == "1"
    m.check()
    # 5. the last free leaves B empty on the node partial list (nr_partial < min_partial)
    m.kernel.kmem_cache_free(s, objs[16], cpu=0)
    assert row(m, "demo") == [0, 16, 1000, 16, 4, 1, 1]
    m.check()
    # 6. destroy gives everything back
    free = m.nr_free_pages()
    m.kernel.kmem_cache_destroy(s)
    assert row(m, "demo") is None
    assert not m.proc.exists("/sys/kernel/slab/demo")
    assert m.nr_free_pages() >= free + 4
    m.check()


def test_cpu_partial_drain_and_node_partial_refill(m):
    s = m.kernel.kmem_cache_create("drain", 1000)
    m.proc.write("/sys/kernel/slab/drain/cpu_partial", "1")
    objs = [m.kernel.kmem_cache_alloc(s, cpu=0) for _ in range(49)]   # A, B, C full; D cpu
    slabs = [objs[0], objs[16], objs[32]]
    m.kernel.kmem_cache_free(s, slabs[0], cpu=0)        # A -> cpu partial (pobjects 1)
    m.kernel.kmem_cache_free(s, slabs[1], cpu=0)        # B -> cpu partial (pobjects 2)
    assert sysfs(m, "drain", "slabs_cpu_partial") == "2(2) C0=2(2)"
    m.kernel.kmem_cache_free(s, slabs[2], cpu=0)        # 2 > cpu_partial: drain, then C
    assert sysfs(m, "drain", "slabs_cpu_partial") == "1(1) C0=1(1)"
    assert sysfs(m, "drain", "partial") == "2"
    m.check()
    # CPU 1 has no slab: it takes the first node partial slab (1 free object > 1/2). The
    # drain walked CPU 0's chain newest first (B, A) adding each at the tail: B comes first
    got = m.kernel.kmem_cache_alloc(s, cpu=1)
    assert got == slabs[1]
    assert sysfs(m, "drain", "partial") == "1"
    assert sysfs(m, "drain", "cpu_slabs") == "3"        # D on cpu0, C cpu0 partial, B on cpu1
    m.check()


def test_merging_and_aliases(m):
    s = m.kernel.kmem_cache_create("test60", 60)
    assert s is m.slab.find_cache("kmalloc-64")
    assert s.object_size == 64 and sysfs(m, "kmalloc-64", "aliases") == "1"
    assert m.proc.readlink("/sys/kernel/slab/test60") == "/sys/kernel/slab/:t-0000064"
    assert m.proc.readlink("/sys/kernel/slab/kmalloc-64") == "/sys/kernel/slab/:t-0000064"
    assert "test60" in m.proc.listdir("/sys/kernel/slab")
    assert "objs_per_slab" in m.proc.listdir("/sys/kernel/slab/test60")
    assert row(m, "test60") is None
    # the kernel's own caches merge by the same rules: fs_cache into anon_vma_chain
    assert m.proc.readlink("/sys/kernel/slab/fs_cache") == "/sys/kernel/slab/:tA-0000064"
    # a ctor or a debug flag keeps a cache apart, under its own name
    c = m.kernel.kmem_cache_create("ctor24", 24, ctor=lambda addr: None)
    assert (c.offset, c.size) == (24, 32)
    assert m.proc.lookup("/sys/kernel/slab/ctor24").kind == "dir"
    p = m.kernel.kmem_cache_create("poisoned", 64, flags="SLAB_POISON")
    assert p is not s and sysfs(m, "poisoned", "poison") == "1"
    with pytest.raises(ValueError, match="SLAB_BOGUS"):
        m.kernel.kmem_cache_create("bad", 64, flags="SLAB_HWCACHE_ALIGN|SLAB_BOGUS")
    # destroying an alias only drops the reference
    m.kernel.kmem_cache_destroy(s)
    assert sysfs(m, "kmalloc-64", "aliases") == "0"
    m.check()


def test_nomerge_cmdline():
    m = lv.Machine(ram="256M", cpus=1, cmdline="slub_nomerge")
    s = m.kernel.kmem_cache_create("test60", 60)
    assert s.name == "test60" and row(m, "test60")[2] == 64
    assert m.proc.lookup("/sys/kernel/slab/kmalloc-64").kind == "dir"


def test_destroy_with_objects_complains(m):
    s = m.kernel.kmem_cache_create("leaky", 1000)
    a = m.kernel.kmem_cache_alloc(s)
    m.kernel.kmem_cache_alloc(s)
    m.kernel.kmem_cache_free(s, a)
    m.kernel.kmem_cache_destroy(s)
    log = m.dmesg()
    assert any(l.endswith("kmem_cache_destroy leaky: Slab cache still has objects") for l in log)
    assert any(l.endswith("BUG leaky (Not tainted): Objects remaining in leaky on "
                          "__kmem_cache_shutdown()") for l in log)
    assert any(re.search(r"INFO: Object 0xffff8800[0-9a-f]{8} @offset=1000$", l) for l in log)
    assert row(m, "leaky") is not None                  # the cache stays
    m.check()


def test_meminfo_slab_counters(m):
    def kb(field):
        for line in m.proc.read("/proc/meminfo").splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    unrec, rec = kb("SUnreclaim"), kb("SReclaimable")
    objs = [m.slab.alloc_obj("task_struct") for _ in range(10)]      # 2 order-3 slabs
    assert kb("SUnreclaim") == unrec + 2 * 32
    r = m.slab.alloc_obj("radix_tree_node")                          # SLAB_RECLAIM_ACCOUNT
    assert kb("SReclaimable") == rec + 8
    assert kb("Slab") == kb("SUnreclaim") + kb("SReclaimable")
    for o in objs:
        m.slab.free_obj("task_struct", o)
    m.slab.free_obj("radix_tree_node", r)
    m.slab.shrink_all()
    assert (kb("SUnreclaim"), kb("SReclaimable")) == (unrec, rec)
    m.check()


def test_kernel_stacks(m):
    def stack_kb():
        return [l for l in m.proc.read("/proc/meminfo").splitlines()
                if l.startswith("KernelStack:")][0].split()[1]
    free = m.nr_free_pages()
    pfn = alloc_thread_stack(m)
    assert stack_kb() == "16" and m.nr_free_pages() == free - 4
    m.check()
    free_thread_stack(m, pfn)
    assert stack_kb() == "0"
    m.check()


def test_kzalloc_krealloc_keep_bytes(m):
    a = m.kernel.kmalloc(40)
    m.kernel.write_kernel(a, b"hello world")
    b = m.kernel.krealloc(a, 60)                  # still fits kmalloc-64: same object
    assert b == a
    c = m.kernel.krealloc(b, 3000)
    assert c != b and cache_of(m, c) == "kmalloc-4096"
    assert m.kernel.read_kernel(c, 11) == b"hello world"
    z = m.kernel.kzalloc(64)
    m.kernel.write_kernel(z, b"\xff" * 64)
    m.kernel.kfree(z)
    z2 = m.kernel.kzalloc(64)
    assert z2 == z and m.kernel.read_kernel(z2, 64) == bytes(64)
    assert m.kernel.krealloc(c, 0) == 16
    m.check()


def test_bad_calls_leave_state_alone(m):
    a = m.kernel.kmalloc(64)
    m.kernel.kfree(a)
    with pytest.raises(ValueError, match="double free"):
        m.kernel.kfree(a)
    with pytest.raises(ValueError, match="not the start of an object"):
        m.kernel.kfree(m.kernel.kmalloc(64) + 8)
    with pytest.raises(ValueError):
        m.kernel.kfree(0x1234)
    with pytest.raises(ValueError, match="unknown gfp"):
        m.kernel.kmalloc(64, "GFP_BOGUS")
    with pytest.raises(ValueError, match="__GFP_HIGHMEM"):
        m.kernel.kmalloc(64, "GFP_HIGHUSER")
    with pytest.raises(ValueError, match="no slab cache"):
        m.kernel.kmem_cache_alloc("no_such_cache")
    s = m.kernel.kmem_cache_create("other", 1000)
    with pytest.raises(ValueError, match="belongs to kmalloc-64"):
        m.kernel.kmem_cache_free(s, m.kernel.kmalloc(64))
    m.check()


def test_object_api_workload_moves_slabinfo_up_and_back(m):
    base = {n: row(m, n) for n in ("vm_area_struct", "mm_struct")}
    mms = [m.slab.alloc_obj("mm_struct") for _ in range(100)]
    vmas = [m.slab.alloc_obj("vm_area_struct") for _ in range(5000)]
    m.check()
    assert row(m, "mm_struct")[:2] == [102, 102] and row(m, "mm_struct")[6] == 6
    assert row(m, "vm_area_struct")[:2] == [5000, 5000] and row(m, "vm_area_struct")[6] == 250
    m.rng.shuffle(vmas)
    for v in vmas:
        m.slab.free_obj("vm_area_struct", v)
    for x in mms:
        m.slab.free_obj("mm_struct", x)
    m.check()
    assert row(m, "vm_area_struct")[6] < 250
    m.slab.shrink_all()
    m.check()
    assert {n: row(m, n) for n in base} == base


def test_sysfs_order_store_and_existing_slabs(m):
    s = m.kernel.kmem_cache_create("reorder", 1000)
    a = m.kernel.kmem_cache_alloc(s)
    m.proc.write("/sys/kernel/slab/reorder/order", "3")
    assert sysfs(m, "reorder", "order") == "3" and sysfs(m, "reorder", "objs_per_slab") == "32"
    objs = [m.kernel.kmem_cache_alloc(s) for _ in range(40)]
    m.check()                                   # order-2 and order-3 slabs side by side
    with pytest.raises(OSError):
        m.proc.write("/sys/kernel/slab/reorder/order", "4")       # above slub_max_order
    for o in objs + [a]:
        m.kernel.kmem_cache_free(s, o)
    m.kernel.kmem_cache_shrink(s)
    assert row(m, "reorder")[:2] == [0, 0]
    m.check()


def test_cli_slabinfo(capsys):
    from linuxvm import cli
    assert cli.main(["slabinfo", "--ram", "256M", "--alloc", "vm_area_struct=45"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("Name                   Objects Objsize           Space")
    vma = [l for l in out if l.startswith("vm_area_struct ")][0].split()
    # 45 objects need 3 slabs: 2 full, one on the CPU (2/0/1), order 0, 20 per slab; the
    # CPU slab's free objects count as objects in use (total - free on node partials)
    assert vma[1:7] == ["60", "200", "12.2K", "2/0/1", "20", "0"]
    assert cli.main(["slabinfo", "--ram", "256M", "--alloc", "nope=1"]) == 2
    assert cli.main(["slabinfo", "--ram", "256M", "-a"]) == 0
    assert ":tA-0000064          -> anon_vma_chain fs_cache" in capsys.readouterr().out


def test_kernel_accessors_reach_only_slab_and_kmalloc_memory(m):
    big = m.kernel.kmalloc(20000)                       # kmalloc_large, order 3
    m.kernel.write_kernel(big + 16380, b"abcdefgh")     # across a frame boundary
    assert m.kernel.read_kernel(big + 16380, 8) == b"abcdefgh"
    pfn = m.kernel.alloc_pages("GFP_KERNEL", 0)
    with pytest.raises(ValueError, match="neither slab nor kmalloc"):
        m.kernel.memset(0xFFFF880000000000 + (pfn << 12), 0, 8)
    with pytest.raises(ValueError, match="neither a slab object nor a kmalloc_large"):
        m.kernel.kfree(0xFFFF880000000000 + (pfn << 12))
    m.kernel.kfree(big)
    with pytest.raises(ValueError):
        m.kernel.read_kernel(big, 8)
    m.check()


def test_shrink_sorts_partial_slabs_fullest_first(m):
    s = m.kernel.kmem_cache_create("sorted", 1000)          # 16 objects per slab
    objs = [m.kernel.kmem_cache_alloc(s) for _ in range(16 * 4)]
    by_slab = {}
    for o in objs:
        by_slab.setdefault(slab_of(m, o), []).append(o)
    # leave 5, 2, 9 free objects in three slabs; the fourth stays full
    slabs = list(by_slab)
    for pfn, nfree in zip(slabs[:3], (5, 2, 9)):
        for o in by_slab[pfn][:nfree]:
            m.kernel.kmem_cache_free(s, o)
    m.kernel.kmem_cache_shrink(s)
    mm = m.mem_map
    partial = mm.list_entries(s.node[0].partial)
    free = [16 - (int(mm.mc[p]) & 0xFFFF) for p in partial]
    assert free == [2, 5, 9]
    m.check()


def test_out_of_memory_warning():
    m = lv.Machine(ram="64M", cpus=1)
    got = []
    while True:
        a = m.kernel.kmalloc(8192, "GFP_KERNEL|__GFP_NORETRY")   # no OOM kill: it fails
        if not a:
            break
        got.append(a)
    log = [l.split("] ", 1)[1] for l in m.dmesg()]
    i = log.index("SLUB: Unable to allocate memory on node -1, gfp=0x24010c0(GFP_KERNEL|__GFP_NORETRY)")
    assert log[i + 1] == ("  cache: kmalloc-8192, object size: 8192, buffer size: 8192, "
                          "default order: 3, min order: 1")
    # order-3 slabs of 4 objects, and the min-order (order-1) slabs of one object each
    # that allocate_slab falls back to once order 3 fails
    slabs = len({m.mem_map.compound_head_pfn((a - 0xffff880000000000) >> 12) for a in got})
    assert len(got) // 4 <= slabs < len(got)
    assert log[i + 2] == f"  node 0: slabs: {slabs}, objs: {len(got)}, free: 0"
    m.check()
    for a in got:
        m.kernel.kfree(a)
    m.check()


def test_kernel_caches_cannot_be_destroyed(m):
    for name in ("kmalloc-64", "kmem_cache", "vm_area_struct"):
        with pytest.raises(ValueError, match="kernel's own caches"):
            m.kernel.kmem_cache_destroy(name)
    alias = m.kernel.kmem_cache_create("mine64", 64)        # an extra reference: droppable
    m.kernel.kmem_cache_destroy(alias)
    with pytest.raises(ValueError):
        m.kernel.kmem_cache_destroy(alias)
    assert m.kernel.kmalloc(64)
    m.check()
