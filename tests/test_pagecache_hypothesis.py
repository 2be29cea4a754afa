"""Random open/write/read/mmap/private-write/truncate/fork/fsync/drop_caches sequences on
one file, checked byte for byte against an oracle of the file's contents and of each
private mapping's contents, with m.check() after every step."""

from hypothesis import HealthCheck, given, settings, strategies as st

import linuxvm as lv
from linuxvm.mm.swap import lru_add_drain_all

P = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
MAXP = 12                          # the file stays within 12 pages
MAP_AT = 0x7f0000000000
BUF = 0x7e0000000000

offset = st.integers(0, MAXP * P - 1)
size = st.integers(1, 3 * P)
op = st.one_of(
    st.tuples(st.just("write"), offset, size, st.integers(1, 255)),
    st.tuples(st.just("read"), offset, size),
    st.tuples(st.just("mapread"), st.integers(0, MAXP - 1), st.integers(0, P - 1)),
    st.tuples(st.just("mapwrite"), st.integers(0, MAXP - 1), st.integers(0, P - 8),
              st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, MAXP * P)),
    st.tuples(st.just("fork")),
    st.tuples(st.just("fsync")),
    st.tuples(st.just("drop")),
    st.tuples(st.just("remap")),
)


def file_bytes(size_, data):
    return bytes(data[:size_]) + bytes(max(0, size_ - len(data)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, min_size=1, max_size=20), st.sampled_from(["disk", "ramfs", "tmpfs"]))
def test_random_file_io_keeps_contents_and_invariants(ops, fstype):
    on_disk = fstype == "disk"
    m = lv.Machine(ram="256M", aslr=False)
    p = m.spawn("fz")
    init = bytes((i * 13 + 5) & 0xFF for i in range(3 * P + 100))
    if on_disk:
        m.fs.create("/f", len(init), init)
    else:
        m.fs.mount(fstype, "/r")
    path = "/f" if on_disk else "/r/f"
    fd = p.open(path, lv.O_RDWR | lv.O_CREAT)
    p.mmap(BUF, 4 * P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS | lv.MAP_FIXED)
    content = bytearray(init if on_disk else b"")       # the file, as write(2) left it
    # the private mapping: page index -> bytes the process wrote there (its COW copy)
    private = {}
    p.mmap(MAP_AT, MAXP * P, RW, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)

    def expect_map_page(pg):
        if pg in private:
            return private[pg]
        return file_bytes(len(content), content)[pg * P:(pg + 1) * P].ljust(P, b"\0")

    procs = [p]
    for o in ops:
        kind = o[0]
        if kind == "write":
            _, off, n, val = o
            n = min(n, MAXP * P - off)
            p.write(BUF, bytes([val]) * n)
            assert p.pwrite(fd, BUF, n, off) == n
            if off > len(content):
                content.extend(bytes(off - len(content)))
            content[off:off + n] = bytes([val]) * n
        elif kind == "read":
            _, off, n = o
            got = p.pread(fd, BUF, n, off)
            want = bytes(content[off:off + n])
            assert got == len(want)
            assert p.read(BUF, got) == want
        elif kind in ("mapread", "mapwrite"):
            pg = o[1]
            addr = MAP_AT + pg * P
            inside = pg * P < len(content)
            try:
                if kind == "mapread":
                    got = p.read(addr + o[2], 1)
                    assert inside or pg in private
                    assert got == expect_map_page(pg)[o[2]:o[2] + 1]
                else:
                    p.write(addr + o[2], bytes([o[3]]) * 8)
                    assert inside or pg in private
                    page = bytearray(expect_map_page(pg))
                    page[o[2]:o[2] + 8] = bytes([o[3]]) * 8
                    private[pg] = bytes(page)
            except lv.BusError:
                assert not inside and pg not in private
        elif kind == "truncate":
            new = o[1]
            assert p.ftruncate(fd, new) == 0
            content = bytearray(file_bytes(new, content))
            # truncate_pagecache zaps the private copies past the new end too
            first_gone = (new + P - 1) // P
            for pg in [k for k in private if k >= first_gone]:
                del private[pg]
            # (a private copy of the page holding the new end keeps its bytes)
        elif kind == "fork":
            c = p.fork()
            for pg in range(MAXP):
                if pg in private:
                    assert c.read(MAP_AT + pg * P, 16) == private[pg][:16]
            c.exit()
        elif kind == "fsync":
            assert p.fsync(fd) == 0
        elif kind == "drop":
            lru_add_drain_all(m)
            m.sysctl["vm.drop_caches"] = 1
        elif kind == "remap":
            # unmap and map again: the private copies are gone
            p.munmap(MAP_AT, MAXP * P)
            p.mmap(MAP_AT, MAXP * P, RW, lv.MAP_PRIVATE | lv.MAP_FIXED, fd, 0)
            private.clear()
        m.check()
        assert m.fs.files[path].i_size == len(content)
    # the whole file, read back
    n = len(content)
    if n:
        p.munmap(BUF, 4 * P)
        p.mmap(BUF, MAXP * P + P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS | lv.MAP_FIXED)
        assert p.pread(fd, BUF, n, 0) == n
        assert p.read(BUF, n) == bytes(content)
    for q in procs:
        q.exit()
    m.check()
