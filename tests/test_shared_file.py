"""Writes through MAP_SHARED file mappings: do_shared_fault, wp_page_shared and
filemap_page_mkwrite dirty the page-cache page itself, so write(2)/read(2) and every
mapping of the file see the same bytes (mm/memory.c, mm/filemap.c)."""

import linuxvm as lv
from linuxvm.arch.x86.pgtable import pt_entries, pte_write, pte_dirty, pte_pfn
from linuxvm.mm.memory.pgtable import pte_lookup
from linuxvm.mm.page import PG_dirty

P = 4096
RW = lv.PROT_READ | lv.PROT_WRITE


def _pte(m, p, addr):
    ptr = pte_lookup(m, p.mm, addr)
    return int(pt_entries(m, ptr[0])[ptr[1]])


def _meminfo_kb(m, key):
    for line in m.proc.read("/proc/meminfo").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _setup(fs_path="/f", npages=4):
    m = lv.Machine(ram="256M", aslr=False)
    p = m.spawn("sh")
    m.fs.create(fs_path, npages * P, data=bytes([0x41]) * (npages * P))
    fd = p.open(fs_path, lv.O_RDWR)
    m.check()
    return m, p, fd


def test_write_fault_maps_the_cache_page_dirty_and_writable():
    m, p, fd = _setup()
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    dirty0 = _meminfo_kb(m, "Dirty")
    p.write(a + 3, b"xyz")                       # do_shared_fault
    m.check()
    pte = _pte(m, p, a)
    assert pte_write(pte) and pte_dirty(pte)
    pfn = pte_pfn(pte)
    assert m.mem_map.f[pfn] & (1 << PG_dirty)
    assert _meminfo_kb(m, "Dirty") == dirty0 + 4
    # the page is the page cache's own: read(2) sees the bytes
    buf = p.mmap(None, P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    assert p.pread(fd, buf, 8, 0) == 8
    assert p.read(buf, 8) == b"AAAxyzAA"
    m.check()


def test_read_then_write_goes_through_wp_page_shared():
    m, p, fd = _setup()
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    assert p.read(a + P, 1) == b"A"              # read fault: mapped read-only
    m.check()
    pte = _pte(m, p, a + P)
    assert not pte_write(pte), "writenotify: a shared writable file page starts read-only"
    pfn = pte_pfn(pte)
    assert not m.mem_map.f[pfn] & (1 << PG_dirty)
    mn = p.task.min_flt
    p.write(a + P, b"w")                          # wp_page_shared → page_mkwrite
    m.check()
    assert p.task.min_flt == mn + 1
    pte = _pte(m, p, a + P)
    assert pte_write(pte) and pte_pfn(pte) == pfn   # the same page, now writable
    assert m.mem_map.f[pfn] & (1 << PG_dirty)


def test_shared_writes_are_seen_by_a_second_process_and_after_fork():
    m, p, fd = _setup()
    a = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    q = m.spawn("other")
    fq = q.open("/f", lv.O_RDWR)
    b = q.mmap(None, 4 * P, RW, lv.MAP_SHARED, fq, 0)
    p.write(a + 2 * P, b"from p")
    m.check()
    assert q.read(b + 2 * P, 6) == b"from p"
    q.write(b + 2 * P + 10, b"from q")
    m.check()
    assert p.read(a + 2 * P + 10, 6) == b"from q"
    c = p.fork()
    m.check()
    c.write(a + 3 * P, b"child")
    m.check()
    assert p.read(a + 3 * P, 5) == b"child" and q.read(b + 3 * P, 5) == b"child"
    c.exit(0)
    q.exit(0)
    m.check()


def test_private_mapping_still_copies_on_write():
    m, p, fd = _setup()
    s = p.mmap(None, 4 * P, RW, lv.MAP_SHARED, fd, 0)
    a = p.mmap(None, 4 * P, RW, lv.MAP_PRIVATE, fd, 0)
    p.write(a, b"private")
    m.check()
    assert p.read(s, 7) == b"AAAAAAA"
    assert p.read(a, 7) == b"private"


def test_read_only_shared_mapping_is_not_written():
    m, p, fd = _setup()
    a = p.mmap(None, 4 * P, lv.PROT_READ, lv.MAP_SHARED, fd, 0)
    try:
        p.write(a, b"x")
        raise AssertionError("a write to a PROT_READ mapping must fault")
    except lv.SegmentationFault:
        pass
    m.check()


def test_write_fault_throttled_at_a_zero_dirty_limit_still_lands():
    # the soak's failure at seed 8005: with vm.dirty_ratio 0 the faulting task runs the
    # flusher inside balance_dirty_pages; the page it is writing must not be cleaned and
    # write-protected again before its store lands (4.6's flusher is asynchronous)
    m, p, fd = _setup()
    m.sysctl["vm.dirty_ratio"] = 0
    a = p.mmap(None, 4 * P, lv.PROT_WRITE, lv.MAP_SHARED, fd, 0)     # write-only
    for i in range(4):
        p.write(a + i * P, b"zz")
        m.check()
    buf = p.mmap(None, P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    for i in range(4):
        assert p.pread(fd, buf, 2, i * P) == 2
        assert p.read(buf, 2) == b"zz"
    m.check()
