"""Issue 12 item 5: /proc output for file-backed memory, against the state it is computed
from (fs/proc/meminfo.c, fs/proc/task_mmu.c, fs/proc/page.c, mm/vmstat.c). The live
comparisons are in test_live_fileacct.py; m.check() after every step."""

import struct

import numpy as np
import pytest

import linuxvm as lv
from _proc import meminfo, vmstat
from linuxvm.arch.x86.pgtable_types import _PAGE_ACCESSED
from linuxvm.fs.proc.page import KPF_MAPPEDTODISK, KPF_MMAP, KPF_UPTODATE, decode_kpageflags
from linuxvm.mm import gfp as G
from linuxvm.mm.filemap import __page_cache_alloc, add_to_page_cache_lru, unlock_page
from linuxvm.mm.memory.rss import mm_counter
from linuxvm.mm.mm_types import MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES
from linuxvm.mm.page import PAGE_MAPPING_ANON, PG_dirty, PG_mappedtodisk, PG_swapbacked
from linuxvm.mm.swap import lru_add_drain_all, put_page

P = 4096
RW = lv.PROT_READ | lv.PROT_WRITE


@pytest.fixture
def m():
    return lv.Machine(ram="256M", aslr=False)


def cache_pages(m):
    """The frames of every address_space, counted from the mappings themselves."""
    return [pfn for a in m.address_spaces.values() for pfn in a.i_pages.values()]


def test_buffers_counts_the_block_devices_page_cache(m):
    """Buffers is nr_blockdev_pages (the page caches of the bdev inodes), and Cached leaves
    those pages out; before, Buffers was a constant 0."""
    before = meminfo(m)
    assert before["Buffers"] == 0
    bd = m.fs.sda.bd_inode.i_mapping
    pfn = __page_cache_alloc(m, G.GFP_HIGHUSER_MOVABLE)
    assert add_to_page_cache_lru(m, pfn, bd, 7) == 0
    unlock_page(m, pfn)
    put_page(m, pfn)                           # the allocation's reference
    m.check()
    after = meminfo(m)
    assert after["Buffers"] == 4
    assert after["Cached"] == before["Cached"]
    assert vmstat(m)["nr_file_pages"] == len(cache_pages(m))


def test_mm_counter_of_a_swap_backed_cache_page_is_shmem(m):
    """include/linux/mm.h mm_counter: anon, else MM_SHMEMPAGES for PageSwapBacked, else
    MM_FILEPAGES (the model counted shmem pages as file pages)."""
    p = m.spawn("x")
    a = p.mmap(None, P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.write(a, b"x")
    pfn = p.access(a) >> 12
    assert mm_counter(m, pfn) == MM_ANONPAGES
    mm = m.mem_map
    saved = int(mm.mapping[pfn]), int(mm.flags[pfn])
    try:
        mm.mapping[pfn] = 0
        mm.flags[pfn] = np.uint64(saved[1] & ~(1 << PG_swapbacked))
        assert mm_counter(m, pfn) == MM_FILEPAGES
        mm.flags[pfn] = np.uint64(saved[1] | 1 << PG_swapbacked)
        assert mm_counter(m, pfn) == MM_SHMEMPAGES
    finally:
        mm.mapping[pfn], mm.flags[pfn] = saved[0], saved[1]
    m.check()


def test_meminfo_file_lines_follow_the_cache(m):
    """Cached, Mapped, Dirty, Writeback, Active(file)+Inactive(file) and MemAvailable's
    page-cache part, each against the frames it counts."""
    p = m.spawn("x")
    m.fs.create("/data", size=64 * P, data=bytes(range(256)) * (64 * P // 256))
    fd = p.open("/data", lv.O_RDWR)
    a = p.mmap(None, 64 * P, lv.PROT_READ, lv.MAP_SHARED, fd, 0)
    p.read(a, 1)                               # a major fault, read-around
    p.read(a + 40 * P, 1)
    buf = p.mmap(None, P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.write(buf, b"y" * P)
    p.pwrite(fd, buf, P, 50 * P)               # one dirty cached page
    m.check()
    lru_add_drain_all(m)
    m.check()
    mi, vs = meminfo(m), vmstat(m)
    pages = cache_pages(m)
    mem = m.mem_map
    mapped = sum(1 for pfn in pages if mem.mc[pfn] >= 0)
    dirty = sum(1 for pfn in pages if mem.f[pfn] & (1 << PG_dirty))
    assert mapped and dirty == 1
    assert mi["Cached"] == 4 * len(pages) and vs["nr_file_pages"] == len(pages)
    assert mi["Mapped"] == 4 * mapped and vs["nr_mapped"] == mapped
    assert mi["Dirty"] == 4 * dirty and vs["nr_dirty"] == dirty
    assert mi["Writeback"] == 0 and vs["nr_writeback"] == 0
    assert mi["Active(file)"] + mi["Inactive(file)"] == 4 * len(pages)
    # si_mem_available: free - totalreserve + pagecache - min(pagecache / 2, wmark_low)
    # + reclaimable slab - min(slab / 2, wmark_low)
    wmark_low = sum(z.watermark[1] for z in m.pgdat.node_zones)
    pc = len(pages)
    slab = vs["nr_slab_reclaimable"]
    want = (vs["nr_free_pages"] - m.pgdat.totalreserve_pages + pc - min(pc // 2, wmark_low)
            + slab - min(slab // 2, wmark_low))
    assert mi["MemAvailable"] == 4 * want
    # both read faults missed (the read-around of the first covers pages 0..31): major
    # faults, their read-around in pgpgin (KiB)
    assert vs["pgmajfault"] == 2 and p.task.maj_flt == 2
    read_in = sum(1 for pfn in pages if mem.f[pfn] & (1 << PG_mappedtodisk))
    assert read_in and vs["pgpgin"] == 4 * read_in == m.fs.sda.sectors_read // 2
    p.fsync(fd)
    m.check()
    vs2 = vmstat(m)
    assert vs2["nr_dirty"] == 0 and vs2["pgpgout"] == vs["pgpgout"] + 4


def test_pagemap_and_kpageflags_of_a_page_read_from_disk(m):
    """A page read from the disk: pagemap present|file|exclusive (bits 63, 61, 56, and 55
    for the new VMA's VM_SOFTDIRTY); kpageflags UPTODATE|MMAP|MAPPEDTODISK; kpagecount 1."""
    p = m.spawn("x")
    m.fs.create("/data", size=4 * P, data=b"z" * (4 * P))
    fd = p.open("/data", lv.O_RDONLY)
    a = p.mmap(None, 4 * P, lv.PROT_READ, lv.MAP_PRIVATE, fd, 0)
    p.read(a, 1)
    m.check()
    e = struct.unpack("<Q", m.proc.read_bytes(f"/proc/{p.pid}/pagemap", (a >> 12) * 8, 8))[0]
    assert e >> 55 == (1 << 63 - 55 | 1 << 61 - 55 | 1 << 56 - 55 | 1)
    pfn = e & ((1 << 55) - 1)
    kpf = struct.unpack("<Q", m.proc.read_bytes("/proc/kpageflags", pfn * 8, 8))[0]
    names = decode_kpageflags(kpf)
    for bit in (KPF_UPTODATE, KPF_MMAP, KPF_MAPPEDTODISK):
        assert kpf >> bit & 1, names
    assert "ANON" not in names and "DIRTY" not in names
    assert struct.unpack("<Q", m.proc.read_bytes("/proc/kpagecount", pfn * 8, 8))[0] == 1
    assert not m.mem_map.mapping[pfn] & PAGE_MAPPING_ANON


def test_smaps_of_a_cow_page_shared_after_fork(m):
    """A private file VMA with one COW page: fork copies its PTEs (it has an anon_vma), so
    the file pages and the anonymous copy are mapped twice: all Shared, Pss halved,
    Anonymous counts the copy; Private_Dirty comes back in the parent when the child
    exits."""
    p = m.spawn("x")
    m.fs.create("/data", size=16 * P, data=b"q" * (16 * P))
    fd = p.open("/data", lv.O_RDONLY)
    a = p.mmap(None, 16 * P, RW, lv.MAP_PRIVATE, fd, 0)
    p.touch(a, 16 * P)
    p.write(a, b"w")
    c = p.fork()
    m.check()

    def smaps(pid):
        lines = m.proc.read(f"/proc/{pid}/smaps").splitlines()
        i = next(i for i, ln in enumerate(lines) if ln.startswith(f"{a:x}-"))
        return {ln.split(":")[0]: int(ln.split()[1]) for ln in lines[i + 1:i + 17]
                if ln.split(":")[0] != "VmFlags"}

    s = smaps(p.pid)
    assert (s["Rss"], s["Pss"], s["Shared_Clean"], s["Shared_Dirty"], s["Private_Clean"],
            s["Private_Dirty"], s["Anonymous"]) == (64, 32, 60, 4, 0, 0, 4)
    # the child's PTEs are old (copy_one_pte: pte_mkold) and no page is PG_referenced
    assert smaps(c.pid) == dict(s, Referenced=0)
    c.exit()
    m.check()
    s = smaps(p.pid)
    assert (s["Pss"], s["Private_Clean"], s["Private_Dirty"], s["Anonymous"]) == \
        (64, 60, 4, 4)


def test_status_rss_file_and_shmem_from_the_mm_counters(m):
    """RssFile/RssShmem are the mm's MM_FILEPAGES/MM_SHMEMPAGES (4.6 task_mem), which the
    task's cache folds into every 64 faults."""
    p = m.spawn("x")
    m.fs.create("/data", size=2048 * P)
    fd = p.open("/data", lv.O_RDONLY)
    a = p.mmap(None, 2048 * P, lv.PROT_READ, lv.MAP_PRIVATE, fd, 0)
    p.touch(a, 2048 * P)
    m.check()
    st = {ln.split(":")[0]: int(ln.split()[1]) for ln in
          m.proc.read(f"/proc/{p.pid}/status").splitlines() if ln.startswith("Rss")}
    assert st["RssFile"] == 4 * max(p.mm.rss_stat[MM_FILEPAGES], 0)
    assert st["RssShmem"] == 0
    lag = p.task.rss_stat.count[MM_FILEPAGES]
    assert 0 <= lag < 64 * 16 and st["RssFile"] + 4 * lag == 2048 * 4


def test_maps_names_an_unlinked_file_deleted(m):
    """d_path appends " (deleted)" to a mapped file whose last link is gone (the maps line
    kept the old name)."""
    p = m.spawn("x")
    m.fs.create("/d/f", size=2 * P, data=b"a" * (2 * P))
    fd = p.open("/d/f", lv.O_RDONLY)
    a = p.mmap(None, 2 * P, lv.PROT_READ, lv.MAP_PRIVATE, fd, 0)
    line = next(ln for ln in m.proc.read(f"/proc/{p.pid}/maps").splitlines()
                if ln.startswith(f"{a:x}-"))
    assert line.endswith(" /d/f")
    p.unlink("/d/f")
    m.check()
    for path in (f"/proc/{p.pid}/maps", f"/proc/{p.pid}/smaps"):
        line = next(ln for ln in m.proc.read(path).splitlines() if ln.startswith(f"{a:x}-"))
        assert line.endswith(" /d/f (deleted)")


def _map_pages_workload(m):
    """Fault-around over cached, uncached, partly mapped and short windows."""
    p = m.spawn("fa")
    m.fs.create("/disk", size=100 * P + 7, data=bytes(range(256)) * 64)
    fd = p.open("/disk", lv.O_RDONLY)
    a = p.mmap(0x7f0000000000 + 3 * P, 101 * P, lv.PROT_READ,
               lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
    for i in (0, 20, 21, 2, 40, 47, 99):                  # misses, hits, readahead markers
        p.access(a + i * P)
        m.check()
    b = p.mmap(None, 64 * P, RW, lv.MAP_PRIVATE, fd, 10 * P)
    p.write(b + 4 * P, b"x")                              # COW, then fault-around beside it
    p.access(b + 6 * P)
    c = p.fork()
    c.touch(b, 64 * P)
    m.check()
    c.exit()
    p.munmap(a, 101 * P)
    m.check()
    ra = p.task.files[fd].f_ra
    return p.task.min_flt, p.task.maj_flt, (ra.start, ra.size, ra.async_size, ra.mmap_miss)


def test_filemap_map_pages_accelerator_leaves_the_reference_state():
    """linuxvm/accel/filemap.py alone against the reference, whole machines compared; a
    version that maps the window's first page without the accessed bit is caught."""
    from linuxvm.accel.fingerprint import assert_same, fingerprint

    def run(fast, wrong=False):
        m = lv.Machine(ram="256M", aslr=False, fast=fast)
        if wrong:
            real = m.accel.filemap_map_pages

            def forgetful(vma, vmf):
                real(vma, vmf)
                table = m.pgtables[vmf.pte[0]]
                i = next((i for i in range(vmf.pte[1], 512) if table[i]), None)
                if i is not None:
                    table[i] = table[i] & ~_PAGE_ACCESSED
            m.accel.set("filemap_map_pages", True)
            m.accel.filemap_map_pages = forgetful
        out = _map_pages_workload(m)
        fp = fingerprint(m)
        fp["returned"] = out
        return fp

    ref = run(False)
    assert_same(run({"filemap_map_pages"}), ref)
    with pytest.raises(AssertionError):
        assert_same(run({"filemap_map_pages"}, wrong=True), ref)
