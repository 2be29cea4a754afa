"""shmem and tmpfs (mm/shmem.c), /dev/zero (drivers/char/mem.c): shared anonymous memory
across fork, RssShmem/Shmem/Committed_AS, tmpfs files on /dev/shm (read, write, mmap,
truncate, SIGBUS, unlink while mapped, MADV_REMOVE, the size limit), /dev/zero mappings."""

import pytest

import linuxvm as lv
from linuxvm.arch.x86.pgtable import pt_entries, pte_write, pte_dirty, pte_pfn
from linuxvm.mm.memory.pgtable import pte_lookup
from linuxvm.mm.memory.rss import sync_mm_rss
from linuxvm.mm.page import PG_dirty, PG_swapbacked, PG_lru, PG_active, PG_uptodate
from linuxvm.mm.swap import lru_add_drain_all, page_lru, LRU_INACTIVE_ANON

P = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
SHANON = lv.MAP_SHARED | lv.MAP_ANONYMOUS


def _kb(m, key, path="/proc/meminfo"):
    for line in m.proc.read(path).splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _pte(m, p, addr):
    ptr = pte_lookup(m, p.mm, addr)
    return int(pt_entries(m, ptr[0])[ptr[1]]) if ptr is not None else 0


def _rss_shmem(m, p):
    sync_mm_rss(p.mm, p.task)
    return _kb(m, "RssShmem", f"/proc/{p.pid}/status")


@pytest.fixture
def m():
    return lv.Machine(ram="256M", aslr=False)


def test_shared_anon_after_fork_both_ways(m):
    #   parent: SSSS  MAP_SHARED|MAP_ANONYMOUS, one shmem file "dev/zero"
    #   child:  SSSS  fork: the same file, no PTEs copied (no anon_vma)
    p = m.spawn("sh")
    a = p.mmap(None, 4 * P, RW, SHANON)
    p.write(a, b"parent")
    m.check()
    c = p.fork()
    m.check()
    assert _pte(m, c, a) == 0, "copy_page_range skips a shared VMA without anon_vma"
    assert c.read(a, 6) == b"parent"
    m.check()
    c.write(a + 2 * P, b"child")
    m.check()
    assert p.read(a + 2 * P, 5) == b"child"
    p.write(a + 2 * P, b"CH")
    assert c.read(a + 2 * P, 5) == b"CHild"
    m.check()
    # both map the same frame
    assert pte_pfn(_pte(m, p, a + 2 * P)) == pte_pfn(_pte(m, c, a + 2 * P))
    c.exit()
    m.check()
    p.munmap(a, 4 * P)
    m.check()
    assert _kb(m, "Shmem") == 0


def test_read_fault_allocates_a_real_page_clean_on_the_anon_lru(m):
    p = m.spawn("sh")
    shmem0 = _kb(m, "Shmem")
    a = p.mmap(None, 4 * P, RW, SHANON)
    assert p.read(a + P, 4) == bytes(4)           # shmem_fault SGP_CACHE: no zero page
    m.check()
    pte = _pte(m, p, a + P)
    pfn = pte_pfn(pte)
    assert pfn != m.zero_pfn
    f = int(m.mem_map.f[pfn])
    assert f & (1 << PG_swapbacked) and f & (1 << PG_uptodate)
    assert not f & (1 << PG_dirty), "SGP_CACHE leaves a new page clean"
    # shmem needs no write-notify: the read fault maps it writable (PAGE_SHARED), clean
    assert pte_write(pte) and not pte_dirty(pte)
    lru_add_drain_all(m)
    assert m.mem_map.f[pfn] & (1 << PG_lru) and not m.mem_map.f[pfn] & (1 << PG_active)
    assert page_lru(m.mem_map, pfn) == LRU_INACTIVE_ANON
    assert _kb(m, "Shmem") == shmem0 + 4
    assert _rss_shmem(m, p) == 4
    assert _kb(m, "RssFile", f"/proc/{p.pid}/status") == 0
    m.check()


def test_write_fault_dirties_and_fault_around_maps_cached_pages(m):
    p = m.spawn("sh")
    a = p.mmap(None, 16 * P, RW, SHANON)
    p.touch(a, 8 * P, write=True)                 # do_shared_fault: 8 dirty pages
    m.check()
    for i in range(8):
        assert m.mem_map.f[pte_pfn(_pte(m, p, a + i * P))] & (1 << PG_dirty)
    c = p.fork()
    # one read in the child: filemap_map_pages maps the other cached pages around it
    assert c.read(a + 3 * P, 1) == b"\0"
    m.check()
    mapped = [i for i in range(16) if _pte(m, c, a + i * P)]
    # the 64 KiB-aligned window around the fault, clipped to the VMA and to what is cached
    first = max(a, (a + 3 * P) & ~0xFFFF)
    assert mapped == list(range((first - a) // P, 8))
    c.exit()
    m.check()


def test_committed_as_and_noreserve(m):
    p = m.spawn("sh")
    c0 = _kb(m, "Committed_AS")
    a = p.mmap(None, 16 * P, RW, SHANON)          # shmem_acct_size: charged whole
    assert _kb(m, "Committed_AS") == c0 + 64
    b = p.mmap(None, 16 * P, RW, SHANON | lv.MAP_NORESERVE)
    assert _kb(m, "Committed_AS") == c0 + 64
    p.touch(b, 3 * P, write=True)                 # shmem_acct_block: per page
    assert _kb(m, "Committed_AS") == c0 + 64 + 12
    m.check()
    p.munmap(a, 16 * P)
    p.munmap(b, 16 * P)
    assert _kb(m, "Committed_AS") == c0
    m.check()


def test_madvise_dontneed_keeps_pages_remove_punches(m):
    p = m.spawn("sh")
    a = p.mmap(None, 4 * P, RW, SHANON)
    p.write(a, b"A" * (4 * P))
    shmem = _kb(m, "Shmem")
    p.madvise(a, 2 * P, lv.MADV_DONTNEED)
    m.check()
    assert _pte(m, p, a) == 0 and _kb(m, "Shmem") == shmem
    assert p.read(a, 2) == b"AA"                  # the page is still in the file
    p.madvise(a + P, 2 * P, lv.MADV_REMOVE)       # shmem_fallocate(PUNCH_HOLE)
    m.check()
    assert _kb(m, "Shmem") == shmem - 8
    assert p.read(a + P, 2) == b"\0\0" and p.read(a + 2 * P, 2) == b"\0\0"
    assert p.read(a + 3 * P, 2) == b"AA"
    m.check()


def test_madvise_remove_keeps_private_cow_copies(m):
    p = m.spawn("sh")
    fd = p.open("/dev/shm/f", lv.O_RDWR | lv.O_CREAT)
    p.ftruncate(fd, 2 * P)
    s = p.mmap(None, 2 * P, RW, lv.MAP_SHARED, fd, 0)
    q = p.mmap(None, 2 * P, RW, lv.MAP_PRIVATE, fd, 0)
    p.write(s, b"shared")
    p.write(q + 6, b"!")                          # COW: a private copy
    m.check()
    p.madvise(s, 2 * P, lv.MADV_REMOVE)           # unmap_mapping_range without even_cows
    m.check()
    assert p.read(q, 7) == b"shared!"
    assert p.read(s, 6) == bytes(6)
    m.check()


def test_mremap_and_mprotect_of_shared_anon(m):
    p = m.spawn("sh")
    a = p.mmap(None, 2 * P, RW, SHANON)
    p.write(a + P, b"xy")
    c = p.fork()
    b = p.mremap(a, 2 * P, 4 * P, lv.MREMAP_MAYMOVE)
    m.check()
    assert p.read(b + P, 2) == b"xy"
    # the shmem file is still 2 pages: past it is SIGBUS
    with pytest.raises(lv.BusError):
        p.read(b + 2 * P, 1)
    m.check()
    p.mprotect(b, P, lv.PROT_READ)
    with pytest.raises(lv.SegmentationFault):
        p.write(b, b"z")
    c.write(a + P, b"Q")
    assert p.read(b + P, 2) == b"Qy"
    m.check()
    c.exit()
    m.check()


# -- tmpfs ---------------------------------------------------------------------------------------

def test_dev_shm_is_tmpfs_and_files_read_write(m):
    p = m.spawn("sh", uid=1000)
    assert m.fs.sb_of("/dev/shm/x").fstype == "tmpfs"
    shmem0, cached0 = _kb(m, "Shmem"), _kb(m, "Cached")
    fd = p.open("/dev/shm/seg", lv.O_RDWR | lv.O_CREAT, 0o600)
    buf = p.mmap(None, 4 * P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.write(buf, b"hello tmpfs")
    assert p.pwrite(fd, buf, 11, 2 * P + 5) == 11
    m.check()
    # one page: the written one; the hole before it stays unallocated
    assert _kb(m, "Shmem") == shmem0 + 4 and _kb(m, "Cached") == cached0 + 4
    assert _kb(m, "Dirty") == 0, "tmpfs does not account dirty pages"
    assert p.pread(fd, buf + P, 2 * P + 16, 0) == 2 * P + 16
    assert p.read(buf + P, 8) == bytes(8)         # a hole reads as zeros (SGP_READ)
    assert p.read(buf + 3 * P + 5, 11) == b"hello tmpfs"
    assert _kb(m, "Shmem") == shmem0 + 4          # reading holes allocated nothing
    m.check()
    # drop_caches never drops a dirty shmem page
    m.sysctl["vm.drop_caches"] = 1
    assert _kb(m, "Shmem") == shmem0 + 4
    m.check()


def test_tmpfs_mmap_shared_private_truncate_sigbus(m):
    p = m.spawn("sh")
    fd = p.open("/dev/shm/m", lv.O_RDWR | lv.O_CREAT)
    p.ftruncate(fd, 3 * P)
    s = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    q = p.mmap(None, 4 * P, RW, lv.MAP_PRIVATE, fd, 0)
    p.write(s + P, b"one")
    assert p.read(q + P, 3) == b"one"             # private read maps the shmem page
    m.check()
    p.write(q + P, b"ONE")                        # private write: COW into an anon page
    p.write(q + 2 * P, b"two")
    m.check()
    assert p.read(s + P, 3) == b"one" and p.read(q + P, 3) == b"ONE"
    assert m.mem_map.mapping[pte_pfn(_pte(m, p, q + P))] & 1
    with pytest.raises(lv.BusError):
        p.read(s + 3 * P, 1)                      # past i_size
    m.check()
    p.ftruncate(fd, P + 2)                        # shmem_setattr
    m.check()
    assert p.read(s + P, 3) == b"on\0"            # the partial page's tail is zeroed
    assert p.read(q + P, 3) == b"ONE"             # a COW copy inside the file stays
    assert _pte(m, p, q + 2 * P) == 0, "truncation unmaps private COW copies past it"
    with pytest.raises(lv.BusError):
        p.read(s + 2 * P, 1)
    m.check()


def test_unlink_while_mapped_then_evicted(m):
    p = m.spawn("sh")
    shmem0 = _kb(m, "Shmem")
    fd = p.open("/dev/shm/u", lv.O_RDWR | lv.O_CREAT)
    p.ftruncate(fd, 4 * P)
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    p.touch(a, 4 * P, write=True)
    p.close(fd)
    p.unlink("/dev/shm/u")
    m.check()
    assert _kb(m, "Shmem") == shmem0 + 16         # the mapping holds the inode
    assert p.read(a + 3 * P, 1) == b"\0"
    p.munmap(a, 4 * P)                            # last reference: shmem_evict_inode
    m.check()
    assert _kb(m, "Shmem") == shmem0
    with pytest.raises(lv.SyscallError) as e:
        p.open("/dev/shm/u", lv.O_RDONLY)
    assert e.value.errno == 2


def test_tmpfs_write_past_limit_is_short_then_enospc(m):
    p = m.spawn("sh")
    m.fs.mount("tmpfs", "/mnt/small", size=2 * P)
    fd = p.open("/mnt/small/f", lv.O_RDWR | lv.O_CREAT)
    buf = p.mmap(None, 4 * P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.write(buf, b"x" * (3 * P))
    assert p.pwrite(fd, buf, 3 * P, 0) == 2 * P   # generic_perform_write: a short write
    with pytest.raises(lv.SyscallError) as e:
        p.pwrite(fd, buf, P, 2 * P)
    assert e.value.errno == 28                    # ENOSPC
    m.check()
    # a fault on a hole past the limit is SIGBUS
    p.ftruncate(fd, 4 * P)
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    with pytest.raises(lv.BusError):
        p.read(a + 3 * P, 1)
    m.check()


# -- /dev/zero ------------------------------------------------------------------------------------

def test_dev_zero_read_write(m):
    p = m.spawn("sh", uid=1000)
    fd = p.open("/dev/zero", lv.O_RDWR)
    buf = p.mmap(None, 3 * P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.write(buf, b"\xff" * (3 * P))
    assert p.pread(fd, buf + 1, 2 * P, 0) == 2 * P
    assert p.read(buf, 2 * P + 2) == b"\xff" + bytes(2 * P) + b"\xff"
    assert p.pwrite(fd, buf, 5, 0) == 5
    with pytest.raises(lv.SyscallError) as e:
        p.ftruncate(fd, 0)
    assert e.value.errno == 22
    m.check()


def test_dev_zero_private_is_anonymous_shared_is_shmem(m):
    p = m.spawn("sh")
    fd = p.open("/dev/zero", lv.O_RDWR)
    a = p.mmap(None, 2 * P, RW, lv.MAP_PRIVATE, fd, 0)
    assert p.read(a, 1) == b"\0"
    assert pte_pfn(_pte(m, p, a)) == m.zero_pfn   # do_anonymous_page: the zero page
    p.write(a, b"anon")
    assert m.mem_map.mapping[pte_pfn(_pte(m, p, a))] & 1
    m.check()
    shmem0 = _kb(m, "Shmem")
    s = p.mmap(None, 2 * P, RW, lv.MAP_SHARED, fd, 0)
    c = p.fork()
    c.write(s, b"zz")
    assert p.read(s, 2) == b"zz"
    assert _kb(m, "Shmem") == shmem0 + 4
    maps = m.proc.read(f"/proc/{p.pid}/maps")
    assert "/dev/zero (deleted)" in maps and " /dev/zero\n" in maps
    m.check()
    c.exit()
    p.close(fd)
    m.check()


def test_dev_zero_shared_with_offset_sigbus_past_the_object(m):
    # shmem_zero_setup sizes the object by the mapping, not offset + length
    p = m.spawn("sh")
    fd = p.open("/dev/zero", lv.O_RDWR)
    s = p.mmap(None, 2 * P, RW, lv.MAP_SHARED, fd, P)
    p.write(s, b"a")
    with pytest.raises(lv.BusError):
        p.read(s + P, 1)
    m.check()


# -- System V shm ----------------------------------------------------------------------------------

def _err(fn, *a):
    with pytest.raises(lv.SyscallError) as e:
        fn(*a)
    return e.value.errno


def test_sysv_shm_lifecycle(m):
    p = m.spawn("sh", uid=1000)
    c0 = _kb(m, "Committed_AS")
    shmid = p.shmget(0x1234, 3 * P + 5, lv.IPC_CREAT | 0o600)
    assert shmid == 0                             # index 0, sequence 0
    assert _kb(m, "Committed_AS") == c0 + 16      # shmem_acct_size: 4 pages
    assert p.shmget(0x1234, P, 0) == shmid
    a = p.shmat(shmid)
    p.write(a + 3 * P, b"sysv")
    m.check()
    st = p.shmctl(shmid, lv.IPC_STAT)
    assert (st.shm_segsz, st.shm_nattch, st.shm_cpid) == (3 * P + 5, 1, p.pid)
    assert st.shm_perm.key == 0x1234 and st.shm_perm.mode == 0o600
    maps = m.proc.read(f"/proc/{p.pid}/maps")
    assert "00:05 0 " in maps and "/SYSV00001234 (deleted)" in maps
    c = p.fork()
    assert p.shmctl(shmid, lv.IPC_STAT).shm_nattch == 2     # shm_open from dup_mmap
    assert c.read(a + 3 * P, 4) == b"sysv"
    m.check()
    assert p.shmctl(shmid, lv.IPC_RMID) == 0      # attached: only marked
    st = p.shmctl(shmid, lv.IPC_STAT)
    assert st.shm_perm.mode & lv.SHM_DEST and st.shm_perm.key == lv.IPC_PRIVATE
    assert _err(p.shmget, 0x1234, P, 0) == 2      # ENOENT: the key is gone
    c.exit()
    m.check()
    assert p.shmctl(shmid, lv.IPC_STAT).shm_nattch == 1
    assert p.shmdt(a) == 0                        # last attach: shm_destroy
    m.check()
    assert _err(p.shmctl, shmid, lv.IPC_STAT) == 22
    assert _kb(m, "Committed_AS") == c0 and _kb(m, "Shmem") == 0
    # the next segment takes index 0 again with the next sequence number
    assert p.shmget(lv.IPC_PRIVATE, P, 0o600) == 32768
    m.check()


def test_sysv_shm_errors(m):
    p = m.spawn("sh", uid=1000)
    q = m.spawn("other", uid=1001)
    assert _err(p.shmget, 5, P, 0) == 2                              # ENOENT
    assert _err(p.shmget, 5, 0, lv.IPC_CREAT) == 22                  # EINVAL: size < SHMMIN
    shmid = p.shmget(5, 2 * P, lv.IPC_CREAT | 0o600)
    assert _err(p.shmget, 5, P, lv.IPC_CREAT | lv.IPC_EXCL) == 17    # EEXIST
    assert _err(p.shmget, 5, 3 * P, 0) == 22                         # EINVAL: larger
    assert _err(q.shmget, 5, P, 0o400) == 13                         # EACCES
    assert _err(q.shmat, shmid, 0, 0) == 13
    assert _err(q.shmctl, shmid, lv.IPC_STAT) == 13
    assert _err(q.shmctl, shmid, lv.IPC_RMID) == 1                   # EPERM
    assert _err(p.shmat, shmid + 1, 0, 0) == 22                      # no such index
    assert _err(p.shmat, shmid + 32768, 0, 0) == 22                  # stale sequence
    assert _err(p.shmat, -1, 0, 0) == 22
    assert _err(p.shmat, shmid, 0x10001, 0) == 22                    # unaligned
    assert _err(p.shmat, shmid, 0, lv.SHM_REMAP) == 22
    assert _err(p.shmdt, 0x1000) == 22
    m.sysctl["kernel.shmmax"] = P
    assert _err(p.shmget, lv.IPC_PRIVATE, P + 1, 0) == 22
    m.sysctl["kernel.shmall"] = 2
    assert _err(p.shmget, lv.IPC_PRIVATE, P, 0) == 28                # ENOSPC: shm_tot
    m.sysctl["kernel.shmall"] = 100
    m.sysctl["kernel.shmmni"] = 1
    assert _err(p.shmget, lv.IPC_PRIVATE, P, 0) == 28                # ENOSPC: shmmni
    m.check()


def test_sysv_shm_rdonly_rnd_and_partial_unmap(m):
    p = m.spawn("sh")
    shmid = p.shmget(lv.IPC_PRIVATE, 4 * P, 0o600)
    a = p.shmat(shmid)
    p.write(a, b"w")
    r = p.shmat(shmid, 0x500000000005, lv.SHM_RND | lv.SHM_RDONLY)
    assert r == 0x500000000000                    # SHM_RND: rounded down to SHMLBA
    assert _err(p.shmat, shmid, r, 0) == 22       # already mapped there, no SHM_REMAP
    assert p.read(r, 1) == b"w"
    with pytest.raises(lv.SegmentationFault):
        p.write(r, b"x")
    assert p.shmctl(shmid, lv.IPC_STAT).shm_nattch == 2
    p.munmap(a + P, P)                            # split: the fragments count apart
    assert p.shmctl(shmid, lv.IPC_STAT).shm_nattch == 3
    m.check()
    p.shmdt(a)                                    # both fragments of the first attach
    assert p.shmctl(shmid, lv.IPC_STAT).shm_nattch == 1
    p.shmdt(r)
    assert p.shmctl(shmid, lv.IPC_STAT).shm_nattch == 0
    p.shmctl(shmid, lv.IPC_RMID)
    m.check()
    assert _kb(m, "Shmem") == 0


def test_drop_caches_drops_only_clean_unmapped_shmem_pages(m):
    # 4.6's invalidate_inode_page has no shmem exception: a page that was only read
    # through a mapping is clean (SGP_CACHE) and goes once unmapped; written pages stay
    p = m.spawn("sh")
    c0 = _kb(m, "Committed_AS")
    fd = p.open("/dev/shm/d", lv.O_RDWR | lv.O_CREAT)
    p.ftruncate(fd, 4 * P)
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    p.write(a, b"keep")
    p.read(a + 2 * P, 1)
    s = p.mmap(None, 4 * P, RW, SHANON)
    p.read(s, 1)
    p.write(s + P, b"x")
    shmem = _kb(m, "Shmem")
    m.sysctl["vm.drop_caches"] = 1
    assert _kb(m, "Shmem") == shmem, "mapped pages stay"
    m.check()
    p.munmap(a, 4 * P)
    p.madvise(s, 4 * P, lv.MADV_DONTNEED)
    m.check()
    m.sysctl["vm.drop_caches"] = 1
    m.check()
    # the read-only page of each file went (fault-around mapped only what was cached)
    assert _kb(m, "Shmem") == shmem - 8
    assert p.pread(fd, s + 2 * P, 4, 0) == 4 and p.read(s + 2 * P, 4) == b"keep"
    # the block of the dropped tmpfs page is still charged until shmem_recalc_inode runs
    assert _kb(m, "Committed_AS") == c0 + 16 + 8
    p.ftruncate(fd, 0)                               # shmem_undo_range recalculates
    assert _kb(m, "Committed_AS") == c0 + 16
    m.check()


def test_fadvise_on_tmpfs_is_ignored(m):
    # tmpfs has noop_backing_dev_info: 4.6's fadvise accepts the advice and does nothing
    p = m.spawn("sh")
    fd = p.open("/dev/shm/a", lv.O_RDWR | lv.O_CREAT)
    p.ftruncate(fd, 4 * P)
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    p.read(a, 1)
    p.munmap(a, 4 * P)
    shmem = _kb(m, "Shmem")
    assert p.posix_fadvise(fd, 0, 0, lv.POSIX_FADV_DONTNEED) == 0
    assert p.posix_fadvise(fd, 0, 0, lv.POSIX_FADV_WILLNEED) == 0
    assert _kb(m, "Shmem") == shmem
    with pytest.raises(lv.SyscallError) as e:
        p.posix_fadvise(fd, 0, 0, 99)
    assert e.value.errno == 22
    m.check()
