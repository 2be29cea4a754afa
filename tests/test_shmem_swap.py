"""Shared memory on swap (issue 13): shmem_writepage under reclaim, the swap entries a
shmem file keeps in place of its pages, shmem swap-in (a major fault from a mapping,
none from read()), truncation and eviction freeing the slots, swapoff's shmem_unuse,
smaps Swap of shmem mappings, and no swap: the pages stay."""

import struct

from hypothesis import given, settings, HealthCheck, strategies as st

import linuxvm as lv
from _proc import meminfo, vmstat
from linuxvm.mm import gfp as G
from linuxvm.mm.fs_types import AOP_WRITEPAGE_ACTIVATE
from linuxvm.mm.page import PG_locked, PG_dirty
from linuxvm.mm.shmem import shmem_writepage
from linuxvm.mm.swap import lru_add_drain_all
from linuxvm.mm.vmscan.reclaim import ScanControl, do_try_to_free_pages

P = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
SHARED_ANON = lv.MAP_SHARED | lv.MAP_ANONYMOUS


def reclaim_until(m, cond, nr=1500, tries=20):
    """Direct reclaim passes until ``cond()``: mapped pages were used, so the first
    passes only age them."""
    for _ in range(tries):
        if cond():
            return
        reclaim(m, nr)
        m.check()
    assert cond()


def reclaim(m, nr):
    saved = m.current
    m.current = None
    try:
        return do_try_to_free_pages(m, G.GFP_KERNEL, ScanControl(G.GFP_KERNEL, 0, nr))
    finally:
        m.current = saved


def smaps_swap(m, p, start):
    lines = m.proc.read(f"/proc/{p.pid}/smaps").splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"{start:x}-"):
            for l2 in lines[i + 1:]:
                if l2.startswith("Swap:"):
                    return int(l2.split()[1])
    raise KeyError(hex(start))


def test_shared_anonymous_memory_larger_than_ram_goes_to_swap_and_back():
    m = lv.Machine(ram="64M", swap="64M")
    p = m.spawn("shm")
    n = 9000                                        # 35 MiB shared, then 35 MiB private
    a = p.mmap(None, n * P, RW, SHARED_ANON)
    for i in range(n):
        p.write(a + i * P, struct.pack("<II", i, 7))
    m.check()
    shmem0 = meminfo(m, "Shmem")
    assert shmem0 == n * 4
    b = p.mmap(None, n * P, RW, ANON)
    for i in range(n):
        p.write(b + i * P, struct.pack("<II", i, 9))
    m.check()
    inode = next(v for v in p.mm.vmas() if v.vm_start == a).vm_file.inode \
        if hasattr(p.mm, "vmas") else None
    out = shmem0 - meminfo(m, "Shmem")
    assert out > 0 and vmstat(m, "pswpout") * 4 >= out
    assert smaps_swap(m, p, a) == out                # the shared mapping's swapped pages
    maj0, pgmaj0 = p.task.maj_flt, vmstat(m, "pgmajfault")
    for i in range(n):
        assert p.read(a + i * P, 8) == struct.pack("<II", i, 7), i
    m.check()
    assert p.task.maj_flt > maj0 and vmstat(m, "pgmajfault") > pgmaj0
    assert meminfo(m, "Shmem") == n * 4
    for i in range(0, n, 7):
        assert p.read(b + i * P, 8) == struct.pack("<II", i, 9), i
    m.check()
    p.munmap(a, n * P)                              # the last user: the file and its slots go
    m.check()
    p.exit(0)
    m.check()
    assert meminfo(m, "SwapFree") == meminfo(m, "SwapTotal")
    assert meminfo(m, "Shmem") == 0
    assert inode is None or not inode.shmem_info.swap


def test_tmpfs_file_pages_swap_out_read_back_and_truncate_frees_slots():
    m = lv.Machine(ram="64M", swap="64M")
    p = m.spawn("t")
    fd = p.open("/dev/shm/big", lv.O_RDWR | lv.O_CREAT, 0o600)
    buf = p.mmap(None, P, RW, ANON)
    n = 3000
    for i in range(n):
        p.write(buf, struct.pack("<II", i, 3))
        assert p.pwrite(fd, buf, 8, i * P) == 8
    m.check()
    reclaim(m, 2500)
    m.check()
    info = m.vfs.files["/dev/shm/big"].shmem_info
    assert info.swapped > 0 and len(info.swap) == info.swapped
    assert meminfo(m, "Shmem") == (n - info.swapped) * 4
    swapped = info.swapped
    pgmaj = vmstat(m, "pgmajfault")
    for i in range(n):
        assert p.pread(fd, buf, 8, i * P) == 8
        assert p.read(buf, 8) == struct.pack("<II", i, 3), i
    m.check()
    assert vmstat(m, "pgmajfault") == pgmaj            # read() is no fault
    assert vmstat(m, "pswpin") >= swapped
    reclaim(m, 2500)
    m.check()
    assert info.swapped
    free = meminfo(m, "SwapFree")
    assert p.ftruncate(fd, (n // 2) * P) == 0           # the half past the end goes
    m.check()
    assert all(i < n // 2 for i in info.swap)
    assert meminfo(m, "SwapFree") > free
    p.close(fd)
    assert p.unlink("/dev/shm/big") == 0
    m.check()
    assert meminfo(m, "SwapFree") == meminfo(m, "SwapTotal")
    assert info not in m.swap.shmem_swaplist


def test_swapoff_brings_shmem_pages_back():
    m = lv.Machine(ram="128M", swap="32M")
    p = m.spawn("s")
    n = 1500
    a = p.mmap(None, n * P, RW, SHARED_ANON)
    for i in range(n):
        p.write(a + i * P, struct.pack("<II", i, 5))
    reclaim_until(m, lambda: meminfo(m, "Shmem") < n * 2)
    m.swapoff("/dev/sdb")
    m.check()
    assert meminfo(m, "Shmem") == n * 4 and meminfo(m, "SwapTotal") == 0
    assert not m.swap.shmem_swaplist
    maj = p.task.maj_flt
    for i in range(n):
        assert p.read(a + i * P, 8) == struct.pack("<II", i, 5)
    assert p.task.maj_flt == maj                        # all in memory again
    p.exit(0)
    m.check()


def test_smaps_of_a_private_writable_shmem_mapping_counts_only_the_holes():
    m = lv.Machine(ram="128M", swap="32M")
    p = m.spawn("v")
    fd = p.open("/dev/shm/f", lv.O_RDWR | lv.O_CREAT, 0o600)
    assert p.ftruncate(fd, 8 * P) == 0
    buf = p.mmap(None, P, RW, ANON)
    for i in range(8):
        p.write(buf, b"x" * 8)
        p.pwrite(fd, buf, 8, i * P)
    priv = p.mmap(None, 8 * P, RW, lv.MAP_PRIVATE, fd)
    p.write(priv, b"mine")                              # page 0: a private COW copy
    p.read(priv + P, 1)                                 # page 1: the file's page mapped
    shared = p.mmap(None, 8 * P, lv.PROT_READ, lv.MAP_SHARED, fd)
    lru_add_drain_all(m)            # so few pages may all sit in the CPU's pagevec still
    info = m.vfs.files["/dev/shm/f"].shmem_info
    reclaim_until(m, lambda: info.swapped == 8, 4000)
    assert smaps_swap(m, p, shared) == 8 * 4
    # the private mapping: page 0 is its own anonymous copy (swapped as anon or not),
    # page 1's PTE went with the page; pages 1-7 are holes backed by swapped entries
    anon_swapped = 4 if smaps_swap(m, p, priv) == 8 * 4 else 0
    assert smaps_swap(m, p, priv) == 7 * 4 + anon_swapped
    assert p.read(priv, 4) == b"mine" and p.read(priv + 2 * P, 1) == b"x"
    m.check()
    p.exit(0)
    m.check()


def test_without_swap_shmem_pages_stay_in_memory():
    m = lv.Machine(ram="128M")
    p = m.spawn("n")
    a = p.mmap(None, 500 * P, RW, SHARED_ANON)
    for i in range(500):
        p.write(a + i * P, struct.pack("<I", i))
    for _ in range(5):
        reclaim(m, 500)
        m.check()
    # no swap: get_scan_count leaves the anon lists (where shmem pages are) alone
    assert meminfo(m, "Shmem") == 500 * 4 and vmstat(m, "pswpout") == 0
    # and shmem_writepage itself keeps a page it is handed: dirty, locked, to activate
    inode = next(i for i in m.shm_mnt_sbinfo.sb.inodes if i.i_mapping.nrpages)
    pfn = inode.i_mapping.i_pages[0]
    m.mem_map.f[pfn] |= 1 << PG_locked
    m.mem_map.f[pfn] &= ~(1 << PG_dirty)
    assert shmem_writepage(m, pfn) == AOP_WRITEPAGE_ACTIVATE
    assert m.mem_map.f[pfn] & (1 << PG_dirty) and m.mem_map.f[pfn] & (1 << PG_locked)
    m.mem_map.f[pfn] &= ~(1 << PG_locked)
    m.check()
    assert p.read(a, 4) == struct.pack("<I", 0)


ops = st.lists(st.tuples(st.sampled_from(["mwrite", "fwrite", "read", "reclaim", "fork",
                                          "truncate", "exit"]),
                         st.integers(0, 63), st.integers(0, 255)), min_size=1, max_size=25)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops)
def test_random_shmem_work_under_swap_keeps_every_byte(steps):
    m = lv.Machine(ram="64M", swap="64M")
    p = m.spawn("h")
    fd = p.open("/dev/shm/h", lv.O_RDWR | lv.O_CREAT, 0o600)
    npages = 64
    assert p.ftruncate(fd, npages * P) == 0
    a = p.mmap(None, npages * P, RW, lv.MAP_SHARED, fd)
    buf = p.mmap(None, P, RW, ANON)
    size = npages
    oracle = {}                         # page -> byte written at its start
    procs = [p]
    for op, page, val in steps:
        q = procs[page % len(procs)]
        if op == "mwrite" and page < size:
            q.write(a + page * P, bytes([val]))
            oracle[page] = val
        elif op == "fwrite" and page < size:
            q.write(buf, bytes([val]))
            assert q.pwrite(fd, buf, 1, page * P) == 1
            oracle[page] = val
        elif op == "read" and page < size:
            assert q.read(a + page * P, 1) == bytes([oracle.get(page, 0)])
        elif op == "reclaim":
            lru_add_drain_all(m)
            reclaim(m, 64 + val * 8)
        elif op == "fork" and len(procs) < 3:
            procs.append(q.fork())
        elif op == "exit" and q is not p:
            q.exit(0)
            procs.remove(q)
        elif op == "truncate":
            size = page + 1
            assert p.ftruncate(fd, size * P) == 0
            oracle = {k: v for k, v in oracle.items() if k < size}
            assert p.ftruncate(fd, npages * P) == 0
            size = npages
        m.check()
    for page in range(npages):
        assert p.pread(fd, buf, 1, page * P) == 1
        assert p.read(buf, 1) == bytes([oracle.get(page, 0)]), page
    for q in procs[1:]:
        q.exit(0)
    p.close(fd)
    p.exit(0)
    m.check()
    m.fs.unlink("/dev/shm/h")
    m.check()
    assert meminfo(m, "SwapFree") == meminfo(m, "SwapTotal")
