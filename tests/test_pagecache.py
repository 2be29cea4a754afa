"""Issue 12 foundations: files, the page cache, readahead, truncate, drop_caches and read
faults on file mappings with fault-around (mm/filemap.c, mm/readahead.c, mm/truncate.c,
mm/memory.c do_fault). m.check() after every step."""

import errno

import pytest

import linuxvm as lv
from linuxvm.arch.x86.pgtable import pt_entries, pte_present
from linuxvm.include.vm_event_item import VM_EVENT, NR_FILE_PAGES, NR_FILE_MAPPED, \
    NR_FILE_DIRTY
from linuxvm.mm.filemap import PG_readahead
from linuxvm.mm.memory.pgtable import pte_lookup
from linuxvm.mm.mm_types import MM_FILEPAGES, MM_ANONPAGES
from linuxvm.mm.readahead import get_init_ra_size, get_next_ra_size
from linuxvm.mm.fs_types import FileRaState
from linuxvm.mm.swap import lru_add_drain_all

P = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
BASE = 0x7f0000000000            # 2 MiB (and so 64 KiB) aligned


@pytest.fixture
def m():
    return lv.Machine(ram="256M", aslr=False)


def errno_of(fn, *args):
    with pytest.raises(lv.SyscallError) as e:
        fn(*args)
    return e.value.errno


def present(m, p, addr, npages):
    """Which of the ``npages`` pages from ``addr`` have a present PTE."""
    out = []
    for i in range(npages):
        ptr = pte_lookup(m, p.mm, addr + i * P)
        out.append(ptr is not None and pte_present(int(pt_entries(m, ptr[0])[ptr[1]])))
    return out


def cached_file(m, p, path, npages, fill=None):
    """A file written through write(2): its pages are in the page cache, up to date."""
    fd = p.open(path, lv.O_RDWR | lv.O_CREAT)
    buf = p.mmap(None, npages * P, RW, ANON)
    data = fill if fill is not None else bytes((i * 7 + 1) & 0xFF for i in range(npages * P))
    p.write(buf, data)
    assert p.sys_write(fd, buf, len(data)) == len(data)
    p.munmap(buf, npages * P)
    m.check()
    return fd, data


def ev(m, name):
    return m.pgdat.vm_events[VM_EVENT[name]]


# -- files and the syscalls -------------------------------------------------------------------

def test_write_then_read_back_through_the_cache(m):
    p = m.spawn("rw")
    fd, data = cached_file(m, p, "/f", 3)
    assert m.global_page_state(NR_FILE_PAGES) == 3
    assert m.global_page_state(NR_FILE_DIRTY) == 3          # nothing written back yet
    assert p.lseek(fd, 0, lv.SEEK_CUR) == 3 * P
    assert p.lseek(fd, 100, lv.SEEK_SET) == 100
    buf = p.mmap(None, 4 * P, RW, ANON)
    assert p.sys_read(fd, buf, 3 * P) == 3 * P - 100         # stops at EOF
    m.check()
    assert p.read(buf, 3 * P - 100) == data[100:]
    assert p.sys_read(fd, buf, P) == 0                       # at EOF
    assert p.pread(fd, buf, 10, 5) == 10 and p.read(buf, 10) == data[5:15]
    assert p.lseek(fd, 0, lv.SEEK_CUR) == 3 * P              # pread left the position
    m.check()


def test_fsync_writes_back_and_drop_caches_then_rereads_from_disk(m):
    p = m.spawn("wb")
    m.fs.mkdir("/data", 0o777)
    fd, data = cached_file(m, p, "/data/f", 4)
    out0 = ev(m, "pgpgout")
    assert p.fsync(fd) == 0
    m.check()
    assert ev(m, "pgpgout") - out0 == 4 * 8                  # 8 sectors a page
    assert m.global_page_state(NR_FILE_DIRTY) == 0
    assert bytes(m.fs.files["/data/f"].data) == data
    lru_add_drain_all(m)
    m.sysctl["vm.drop_caches"] = 1
    m.check()
    assert m.global_page_state(NR_FILE_PAGES) == 0
    assert ev(m, "drop_pagecache") == 1
    assert any("drop_caches: 1" in l for l in m.dmesg())
    in0 = ev(m, "pgpgin")
    buf = p.mmap(None, 4 * P, RW, ANON)
    assert p.pread(fd, buf, 4 * P, 0) == 4 * P
    m.check()
    assert p.read(buf, 4 * P) == data
    assert ev(m, "pgpgin") - in0 == 4 * 8
    vmstat = dict(l.split() for l in m.proc.read("/proc/vmstat").splitlines())
    assert int(vmstat["pgpgin"]) == ev(m, "pgpgin") // 2    # printed in KiB


def test_drop_caches_keeps_dirty_mapped_and_pagevec_pages(m):
    p = m.spawn("keep")
    fd, _ = cached_file(m, p, "/f", 3)
    m.sysctl["vm.drop_caches"] = 1                           # all dirty: nothing goes
    m.check()
    assert m.global_page_state(NR_FILE_PAGES) == 3
    p.fsync(fd)
    a = p.mmap(None, 3 * P, lv.PROT_READ, lv.MAP_PRIVATE, fd, 0)
    p.read(a, 1)                                              # maps all three (fault-around)
    lru_add_drain_all(m)
    m.sysctl["vm.drop_caches"] = 1                           # mapped: still nothing goes
    m.check()
    assert m.global_page_state(NR_FILE_PAGES) == 3
    p.munmap(a, 3 * P)
    m.sysctl["vm.drop_caches"] = 1
    m.check()
    assert m.global_page_state(NR_FILE_PAGES) == 0


def test_drop_caches_3_drops_the_page_cache_and_the_slab_objects(m):
    m.sysctl["vm.drop_caches"] = 3
    m.check()
    vmstat = dict(l.split() for l in m.proc.read("/proc/vmstat").splitlines())
    assert vmstat["drop_pagecache"] == "1" and vmstat["drop_slab"] == "1"


def test_meminfo_and_lru_counts_follow_the_cache(m):
    p = m.spawn("mi")
    cached_file(m, p, "/f", 20)
    lru_add_drain_all(m)
    m.check()
    mi = dict((l.split(":")[0], int(l.split()[1])) for l in
              m.proc.read("/proc/meminfo").splitlines())
    assert mi["Cached"] == 20 * 4 and mi["Buffers"] == 0
    # write_begin marks a new page referenced; its second access (none yet) would
    # activate it: all twenty are on the inactive file list
    assert mi["Inactive(file)"] == 20 * 4 and mi["Active(file)"] == 0
    assert mi["Dirty"] == 20 * 4


@pytest.mark.parametrize("call,args,err", [
    ("sys_read", (99, 0, 1), errno.EBADF),
    ("sys_write", (99, 0, 1), errno.EBADF),
    ("lseek", (99, 0, 0), errno.EBADF),
    ("fsync", (99,), errno.EBADF),
    ("ftruncate", (99, 0), errno.EBADF),
    ("posix_fadvise", (99, 0, 0, 0), errno.EBADF),
])
def test_bad_fd(m, call, args, err):
    p = m.spawn("bad")
    assert errno_of(getattr(p, call), *args) == err
    m.check()


def test_errno_on_misuse(m):
    p = m.spawn("misuse", uid=1000)
    m.fs.create("/ro", 2 * P, mode=0o644)                   # root's, read-only for others
    m.fs.mkdir("/d")
    assert errno_of(p.open, "/nope", lv.O_RDONLY) == errno.ENOENT
    assert errno_of(p.open, "/ro", lv.O_RDWR) == errno.EACCES
    assert errno_of(p.open, "/d", lv.O_RDWR) == errno.EISDIR
    assert errno_of(p.open, "/ro", lv.O_CREAT | lv.O_EXCL | lv.O_RDONLY) == errno.EEXIST
    assert errno_of(p.open, "/no/such/dir/f", lv.O_CREAT | lv.O_RDWR) == errno.ENOENT
    ro = p.open("/ro", lv.O_RDONLY)
    d = p.open("/d", lv.O_RDONLY)
    buf = p.mmap(None, P, RW, ANON)
    assert errno_of(p.sys_write, ro, buf, 1) == errno.EBADF       # not open for writing
    assert errno_of(p.sys_read, d, buf, 1) == errno.EISDIR
    assert errno_of(p.ftruncate, ro, 0) == errno.EINVAL           # not open for writing
    assert errno_of(p.lseek, ro, -1, lv.SEEK_SET) == errno.EINVAL
    assert errno_of(p.lseek, ro, 0, 7) == errno.EINVAL
    assert errno_of(p.pread, ro, buf, 1, -1) == errno.EINVAL
    assert errno_of(p.posix_fadvise, ro, 0, -1, 0) == errno.EINVAL
    assert errno_of(p.posix_fadvise, ro, 0, 0, 99) == errno.EINVAL
    assert errno_of(p.sys_read, ro, 0x1000, 1) == errno.EFAULT    # nothing mapped there
    assert errno_of(p.unlink, "/nope") == errno.ENOENT
    assert errno_of(p.unlink, "/d") == errno.EISDIR
    w = p.open("/mine", lv.O_CREAT | lv.O_WRONLY)
    assert errno_of(p.sys_read, w, buf, 1) == errno.EBADF
    assert errno_of(p.ftruncate, w, -1) == errno.EINVAL
    with pytest.raises(TypeError):
        p.sys_read("3", buf, 1)
    with pytest.raises(ValueError):
        p.sys_read(ro, buf, -1)
    m.check()


def test_short_copy_at_a_fault_returns_what_was_copied(m):
    p = m.spawn("short")
    fd, data = cached_file(m, p, "/f", 2)
    buf = p.mmap(BASE, 2 * P, RW, ANON | lv.MAP_FIXED)
    p.munmap(BASE + P, P)                                   # the buffer's second page is gone
    assert p.pread(fd, BASE + P // 2, P, 0) == P // 2        # copy_to_user stops at the hole
    assert p.read(BASE + P // 2, P // 2) == data[:P // 2]
    m.check()
    assert p.pwrite(fd, BASE + P // 2, P, 0) == P // 2
    m.check()
    assert buf == BASE


def test_fds_are_inherited_and_share_the_position(m):
    p = m.spawn("fork")
    fd, data = cached_file(m, p, "/f", 2)
    p.lseek(fd, 10, lv.SEEK_SET)
    c = p.fork()
    m.check()
    buf = c.mmap(None, P, RW, ANON)
    assert c.sys_read(fd, buf, 5) == 5 and c.read(buf, 5) == data[10:15]
    assert p.lseek(fd, 0, lv.SEEK_CUR) == 15                 # one open file description
    c.exit()
    m.check()


def test_append_and_ftruncate_and_unlink(m):
    p = m.spawn("app")
    fd = p.open("/log", lv.O_CREAT | lv.O_WRONLY | lv.O_APPEND)
    buf = p.mmap(None, P, RW, ANON)
    p.write(buf, b"abc")
    p.sys_write(fd, buf, 3)
    p.lseek(fd, 0, lv.SEEK_SET)
    p.sys_write(fd, buf, 3)                                  # O_APPEND: at the end anyway
    assert m.fs.files["/log"].i_size == 6
    assert p.ftruncate(fd, 2) == 0
    m.check()
    assert m.fs.files["/log"].i_size == 2
    r = p.open("/log", lv.O_RDONLY)
    assert p.sys_read(r, buf, 10) == 2 and p.read(buf, 2) == b"ab"
    assert p.unlink("/log") == 0
    m.check()
    assert errno_of(p.open, "/log", lv.O_RDONLY) == errno.ENOENT
    assert m.global_page_state(NR_FILE_PAGES) == 1          # the open files keep it
    p.close(fd)
    p.close(r)
    m.check()
    assert m.global_page_state(NR_FILE_PAGES) == 0          # evicted with the last close
    p.exit()
    m.check()


def test_ramfs_pages_are_dirty_without_accounting_and_never_dropped(m):
    m.fs.mount("ramfs", "/mnt/ram")
    p = m.spawn("ram")
    fd, data = cached_file(m, p, "/mnt/ram/f", 3)
    assert m.global_page_state(NR_FILE_DIRTY) == 0          # noop_backing_dev_info
    assert p.fsync(fd) == 0
    lru_add_drain_all(m)
    m.sysctl["vm.drop_caches"] = 1
    m.check()
    assert m.global_page_state(NR_FILE_PAGES) == 3          # still dirty: stays
    p.ftruncate(fd, 5 * P)                                  # a hole reads as zeros
    buf = p.mmap(None, 5 * P, RW, ANON)
    assert p.pread(fd, buf, 5 * P, 0) == 5 * P
    assert p.read(buf, 5 * P) == data + bytes(2 * P)
    assert ev(m, "pgpgin") == 0                              # ramfs does no I/O
    m.check()


def test_import_host(m, tmp_path):
    host = tmp_path / "blob"
    host.write_bytes(b"real bytes\n" * 1000)
    inode = m.fs.import_host(str(host), "/opt/blob")
    assert inode.i_size == 11000
    p = m.spawn("imp")
    fd = p.open("/opt/blob", lv.O_RDONLY)
    a = p.mmap(None, 3 * P, lv.PROT_READ, lv.MAP_PRIVATE, fd, 0)
    assert p.read(a + 11 * 100, 11) == b"real bytes\n"
    assert p.task.maj_flt == 1
    m.check()


# -- readahead -----------------------------------------------------------------------------

@pytest.mark.parametrize("req,want", [(1, 4), (2, 4), (3, 8), (4, 8), (8, 16), (9, 32),
                                      (32, 32), (100, 32)])
def test_get_init_ra_size(req, want):
    assert get_init_ra_size(req, 32) == want


def test_get_next_ra_size():
    ra = FileRaState(32)
    for cur, want in [(1, 4), (2, 4), (4, 8), (16, 32), (32, 32)]:
        ra.size = cur
        assert get_next_ra_size(ra, 32) == want


def test_sequential_reads_ramp_the_window(m):
    p = m.spawn("seq")
    m.fs.create("/big", 256 * P, bytes(range(256)) * (256 * P // 256))
    fd = p.open("/big", lv.O_RDONLY)
    f = p.task.files[fd]
    buf = p.mmap(None, P, RW, ANON)
    p.sys_read(fd, buf, P)                                   # page 0: initial window
    assert (f.f_ra.start, f.f_ra.size, f.f_ra.async_size) == (0, 4, 3)
    assert f.f_mapping.nrpages == 4
    marker = f.f_mapping.i_pages[1]
    assert m.mem_map.f[marker] & (1 << PG_readahead)
    p.sys_read(fd, buf, P)                                   # page 1 hits the marker
    assert (f.f_ra.start, f.f_ra.size, f.f_ra.async_size) == (4, 8, 8)
    assert f.f_mapping.nrpages == 12
    for _ in range(30):
        p.sys_read(fd, buf, P)
    m.check()
    assert f.f_ra.size == 32                                 # ra_pages caps it
    assert ev(m, "pgpgin") == 8 * f.f_mapping.nrpages


def test_fadvise_random_reads_only_what_is_asked_and_willneed_reads_ahead(m):
    p = m.spawn("fadv")
    m.fs.create("/big", 64 * P, b"x" * (64 * P))
    fd = p.open("/big", lv.O_RDONLY)
    f = p.task.files[fd]
    assert p.posix_fadvise(fd, 0, 0, lv.POSIX_FADV_RANDOM) == 0
    buf = p.mmap(None, P, RW, ANON)
    p.pread(fd, buf, 1, 10 * P)
    assert f.f_mapping.nrpages == 1
    assert p.posix_fadvise(fd, 20 * P, 8 * P, lv.POSIX_FADV_WILLNEED) == 0
    assert sorted(f.f_mapping.i_pages) == [10] + list(range(20, 28))
    assert p.posix_fadvise(fd, 0, 0, lv.POSIX_FADV_SEQUENTIAL) == 0
    assert f.f_ra.ra_pages == 64 and not f.f_mode_random
    lru_add_drain_all(m)
    assert p.posix_fadvise(fd, 0, 0, lv.POSIX_FADV_DONTNEED) == 0
    m.check()
    assert f.f_mapping.nrpages == 0


# -- read faults and fault-around -------------------------------------------------------------

def test_read_fault_maps_the_aligned_window_of_cached_pages(m):
    #   page  0 ......15 16 ......31 32 ... 63
    #         [ window  ]                      fault at 0: pages 0-15
    #                    [ window  ]           fault at 20: pages 16-31
    p = m.spawn("fa")
    fd, data = cached_file(m, p, "/f", 64)
    a = p.mmap(BASE, 64 * P, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
    flt = p.task.min_flt
    assert p.read(a, 8) == data[:8]
    m.check()
    assert present(m, p, a, 64) == [True] * 16 + [False] * 48
    assert p.task.min_flt == flt + 1 and p.task.maj_flt == 0
    assert p.mm.rss_stat[MM_FILEPAGES] + p.task.rss_stat.count[MM_FILEPAGES] == 16
    assert m.global_page_state(NR_FILE_MAPPED) == 16
    p.read(a + 20 * P, 1)
    m.check()
    assert present(m, p, a, 64) == [True] * 32 + [False] * 32
    p.munmap(a, 64 * P)
    m.check()
    assert m.global_page_state(NR_FILE_MAPPED) == 0
    assert m.global_page_state(NR_FILE_PAGES) == 64          # unmapping frees nothing


def test_fault_around_window_rules(m):
    p = m.spawn("win")
    fd, _ = cached_file(m, p, "/f", 64)
    # a VMA starting 3 pages into a window: the window starts at vm_start and runs
    # 16 pages from there (4.6 computes max_pgoff from the clamped start)
    a = p.mmap(BASE + 3 * P, 40 * P, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
    p.read(a, 1)
    m.check()
    assert present(m, p, a, 40) == [True] * 16 + [False] * 24
    # a window crossing the VMA's end is clipped to it: pages 29..31 of the window
    # [BASE+32p, BASE+48p) lie beyond the 40-page VMA ending at BASE+43p
    p.read(a + 38 * P, 1)
    m.check()
    assert present(m, p, a, 40)[29:] == [True] * 11
    p.munmap(a, 40 * P)
    # a VMA straddling a PMD boundary: the window stops at the PTE table's end
    pmd = BASE + (2 << 20)
    b = p.mmap(pmd - 2 * P, 20 * P, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
    p.read(b, 1)
    m.check()
    assert present(m, p, b, 20) == [True] * 2 + [False] * 18
    p.read(b + 2 * P, 1)
    assert present(m, p, b, 20) == [True] * 18 + [False] * 2
    m.check()


def test_short_file_maps_only_its_pages_and_sigbus_past_eof(m):
    p = m.spawn("short")
    fd, data = cached_file(m, p, "/f", 5)
    a = p.mmap(BASE, 16 * P, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
    p.read(a + 2 * P, 1)
    m.check()
    assert present(m, p, a, 16) == [True] * 5 + [False] * 11
    with pytest.raises(lv.BusError) as e:
        p.read(a + 5 * P, 1)
    assert e.value.addr == a + 5 * P
    m.check()


def test_uncached_fault_is_major_with_read_around(m):
    p = m.spawn("maj")
    m.fs.create("/disk", 128 * P, b"d" * (128 * P))
    fd = p.open("/disk", lv.O_RDONLY)
    a = p.mmap(BASE, 128 * P, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
    flt = p.task.min_flt
    m.pgdat.vm_events[VM_EVENT["pgfault"]] = 0
    p.read(a + 64 * P, 1)
    m.check()
    f = p.task.files[fd]
    # mmap read-around: 32 pages centred on the fault, the last quarter's first page
    # marked PG_readahead
    assert sorted(f.f_mapping.i_pages) == list(range(48, 80))
    assert f.f_mapping.i_pages[48 + 24] == f.f_mapping.i_pages[72]
    assert m.mem_map.f[f.f_mapping.i_pages[72]] & (1 << PG_readahead)
    assert p.task.maj_flt == 1 and ev(m, "pgmajfault") == 1
    assert ev(m, "pgpgin") == 32 * 8
    # the page was locked under I/O: the fault waited and was retried (pgfault counts
    # both passes), and the retry's fault-around mapped the window but the marker page
    assert ev(m, "pgfault") == 2 and p.task.min_flt == flt
    assert present(m, p, a, 128)[48:80] == [False] * 16 + [True] * 8 + [False] + [True] * 7
    # the next fault finds the marker page (minor) and pushes readahead on: 80..111
    p.read(a + 72 * P, 1)
    m.check()
    assert p.task.maj_flt == 1
    assert present(m, p, a, 128)[64:80] == [True] * 16
    assert sorted(f.f_mapping.i_pages) == list(range(48, 112))
    assert (f.f_ra.start, f.f_ra.size, f.f_ra.async_size) == (80, 32, 32)


def test_ramfs_miss_is_major_but_not_retried(m):
    m.fs.mount("ramfs", "/r")
    p = m.spawn("rm")
    fd = p.open("/r/f", lv.O_RDWR | lv.O_CREAT)
    p.ftruncate(fd, 8 * P)
    a = p.mmap(BASE, 8 * P, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
    pgfault = ev(m, "pgfault")
    assert p.read(a + 3 * P, 4) == bytes(4)
    m.check()
    # simple_readpage zeroes the page at once (no I/O to wait for), no readahead
    assert p.task.maj_flt == 1 and ev(m, "pgfault") == pgfault + 1
    assert present(m, p, a, 8) == [False] * 3 + [True] + [False] * 4


def test_private_write_copies_the_file_page(m):
    p = m.spawn("cow")
    fd, data = cached_file(m, p, "/f", 4)
    a = p.mmap(BASE, 4 * P, RW, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
    p.write(a + P, b"PRIVATE")                               # do_cow_fault: no read first
    m.check()
    assert p.read(a + P, 9) == b"PRIVATE" + data[P + 7:P + 9]
    assert p.mm.rss_stat[MM_ANONPAGES] + p.task.rss_stat.count[MM_ANONPAGES] == 1
    buf = p.mmap(None, P, RW, ANON)
    p.pread(fd, buf, 7, P)
    assert p.read(buf, 7) == data[P:P + 7]                   # the file is untouched
    p.read(a, 1)                                              # read fault maps 0, 2, 3
    p.write(a, b"W")                                          # do_wp_page copies page 0
    m.check()
    assert p.read(a, 2) == b"W" + data[1:2]
    c = p.fork()
    m.check()
    assert c.read(a + P, 7) == b"PRIVATE"
    c.write(a + 2 * P, b"child")
    m.check()
    assert p.read(a + 2 * P, 5) == data[2 * P:2 * P + 5]
    c.exit()
    m.check()


def test_fork_skips_file_vmas_without_anon_pages(m):
    p = m.spawn("fk")
    fd, data = cached_file(m, p, "/f", 8)
    a = p.mmap(BASE, 8 * P, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
    p.read(a, 1)
    c = p.fork()
    m.check()
    assert present(m, c, a, 8) == [False] * 8                 # copy_page_range skipped it
    assert c.read(a + 3 * P, 4) == data[3 * P:3 * P + 4]
    m.check()
    c.exit()
    m.check()


def test_truncate_unmaps_and_zeroes_the_tail(m):
    p = m.spawn("tr")
    fd, data = cached_file(m, p, "/f", 4)
    a = p.mmap(BASE, 4 * P, RW, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
    p.read(a, 1)
    p.write(a + 3 * P, b"cow")                                # a private copy of page 3
    assert p.ftruncate(fd, P + 10) == 0
    m.check()
    assert present(m, p, a, 4) == [True, True, False, False]  # even the COW copy goes
    assert p.read(a + P, 12) == data[P:P + 10] + b"\0\0"      # the tail is zeroed
    for pg in (2, 3):
        with pytest.raises(lv.BusError):
            p.read(a + pg * P, 1)
    m.check()
    assert m.global_page_state(NR_FILE_PAGES) == 2


def test_mlock_madvise_mremap_on_a_file_mapping(m):
    p = m.spawn("ops")
    fd, data = cached_file(m, p, "/f", 8)
    a = p.mmap(BASE, 8 * P, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
    p.mlock(a, 8 * P)
    m.check()
    assert all(present(m, p, a, 8))
    p.munlock(a, 8 * P)
    m.check()
    p.madvise(a, 8 * P, lv.MADV_DONTNEED)
    m.check()
    assert not any(present(m, p, a, 8))
    p.read(a, 1)
    b = p.mremap(a, 8 * P, 16 * P, lv.MREMAP_MAYMOVE)
    m.check()
    assert p.read(b + 7 * P, 3) == data[7 * P:7 * P + 3]
    p.munmap(b, 16 * P)
    p.close(fd)
    p.exit()
    m.check()


def test_fast_and_reference_paths_leave_the_same_state():
    from linuxvm.accel.fingerprint import fingerprint, assert_same
    prints = []
    for fast in (True, False):
        m = lv.Machine(ram="256M", aslr=False, fast=fast)
        p = m.spawn("fp")
        fd, _ = cached_file(m, p, "/f", 40)
        a = p.mmap(BASE, 40 * P, RW, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
        p.touch(a, 40 * P)
        p.touch(a + 5 * P, 10 * P, write=True)
        c = p.fork()
        c.touch(a, 40 * P, write=True)
        c.exit()
        p.ftruncate(fd, 7 * P)
        p.munmap(a, 40 * P)
        m.check()
        prints.append(fingerprint(m))
    assert_same(prints[0], prints[1])


def test_madvise_willneed_reads_the_range_ahead(m):
    p = m.spawn("wn")
    m.fs.create("/big", 64 * P, b"w" * (64 * P))
    fd = p.open("/big", lv.O_RDONLY)
    a = p.mmap(BASE, 64 * P, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
    assert p.madvise(a + 8 * P, 40 * P, lv.MADV_WILLNEED) == 0
    m.check()
    f = p.task.files[fd]
    # force_page_cache_readahead: at most ra_pages (32) of the 40 asked for
    assert sorted(f.f_mapping.i_pages) == list(range(8, 40))
    assert not any(present(m, p, a, 64))                    # read ahead, not mapped
    p.read(a + 20 * P, 1)                                   # a minor fault now
    assert p.task.maj_flt == 0
    m.check()


def test_rmap_walk_file_finds_every_pte_of_a_cached_page(m):
    from linuxvm.mm.rmap import rmap_walk
    p = m.spawn("rw1")
    fd, _ = cached_file(m, p, "/f", 8)
    a = p.mmap(BASE, 8 * P, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
    b = p.mmap(BASE + (4 << 20), 4 * P, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED, fd,
               4 * P)
    q = m.spawn("rw2")
    qfd = q.open("/f", lv.O_RDONLY)
    c = q.mmap(BASE, 8 * P, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED, qfd, 0)
    for proc, addr in ((p, a), (p, b), (q, c)):
        proc.read(addr, 1)
    m.check()
    pfn = p.task.files[fd].f_mapping.i_pages[5]
    seen = []
    rmap_walk(m, pfn, lambda page, vma, addr: seen.append((vma.vm_mm.pgd, addr)))
    assert sorted(seen) == sorted([(p.mm.pgd, a + 5 * P), (p.mm.pgd, b + P),
                                   (q.mm.pgd, c + 5 * P)])
    assert m.mem_map.mc[pfn] + 1 == 3


def test_fault_around_bytes_of_one_page_maps_only_the_faulting_page(m):
    p = m.spawn("fab")
    fd, _ = cached_file(m, p, "/f", 16)
    m.fault_around_bytes = P                   # debugfs fault_around_bytes = 4096
    a = p.mmap(BASE, 16 * P, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
    p.read(a + 5 * P, 1)
    m.check()
    assert present(m, p, a, 16) == [False] * 5 + [True] + [False] * 10


def test_second_read_activates_a_cached_page(m):
    p = m.spawn("act")
    fd, _ = cached_file(m, p, "/f", 1)          # write_begin: referenced
    lru_add_drain_all(m)
    buf = p.mmap(None, P, RW, ANON)
    p.pread(fd, buf, 10, 0)                     # mark_page_accessed: active
    m.check()
    mi = dict((l.split(":")[0], int(l.split()[1])) for l in
              m.proc.read("/proc/meminfo").splitlines())
    assert mi["Active(file)"] == 4 and mi["Inactive(file)"] == 0
    assert ev(m, "pgactivate") == 1
