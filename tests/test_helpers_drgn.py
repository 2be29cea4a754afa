"""Issue 19 part 2: the drgn-named helpers of lv.helpers against the model's own structures
and /proc, and the crash-like ``linuxvm kmem|ps|vm`` commands."""

import re
import struct
import subprocess
import sys

import pytest

import linuxvm as lv
from linuxvm.helpers import (for_each_task, find_task, task_state_to_char, for_each_vma,
                             find_vma, follow_page, follow_pfn, follow_phys, vtop,
                             page_to_pfn, pfn_to_page, virt_to_page, virt_to_pfn,
                             page_to_virt, page_to_phys, pfn_to_virt, decode_page_flags,
                             dump_page, task_rss, cmdline, environ, for_each_zone,
                             for_each_free_area, for_each_pcp_page, for_each_slab_cache,
                             find_slab_cache, slab_cache_for_each_allocated_object,
                             slab_object_info, Page)
from linuxvm.helpers import crash
from linuxvm.helpers.pagemap import decode_pagemap_entry
from linuxvm.mm.page import decode_page_flags as kernel_flags_text
from linuxvm.mm.page_alloc import dump_page_lines

P = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS


@pytest.fixture
def m():
    return lv.Machine(ram="128M", cpus=2, seed=0)


def _proc(m, size=16 * P, comm="prog"):
    p = m.spawn(comm)
    a = p.mmap(None, size, RW, ANON)
    p.touch(a, size, write=True)
    m.check()
    return p, a


def _pagemap_pfn(m, p, va):
    raw = m.proc.read_bytes(f"/proc/{p.pid}/pagemap", va // P * 8, 8)
    return decode_pagemap_entry(struct.unpack("<Q", raw)[0])["pfn"]


def test_tasks_are_the_proc_pids(m):
    _proc(m)
    _proc(m, comm="two")
    m.spawn("three").exit()
    m.check()
    pids = [t.pid for t in for_each_task(m)]
    proc_pids = sorted(int(n) for n in m.proc.listdir("/proc") if n.isdigit())
    assert pids == proc_pids == sorted(m.tasks)
    for t in for_each_task(m):
        assert find_task(m, t.pid) is t
        assert m.proc.read(f"/proc/{t.pid}/comm") == t.comm + "\n"
        stat = m.proc.read(f"/proc/{t.pid}/stat")
        assert stat.split(") ", 1)[1][0] == task_state_to_char(m, t)
    assert find_task(m, 12345) is None
    with pytest.raises(TypeError):
        find_task(m, "1")
    with pytest.raises(TypeError):
        list(for_each_task(object()))


def test_vmas_are_the_maps_lines(m):
    p, a = _proc(m)
    p.mmap(None, 4 * P, lv.PROT_READ, ANON)
    p.mprotect(a + 4 * P, P, lv.PROT_READ)          # splits the first mapping in three
    m.check()
    maps = [l.split()[0] for l in m.proc.read(f"/proc/{p.pid}/maps").splitlines()]
    vmas = list(for_each_vma(p.mm))
    assert [f"{v.vm_start:08x}-{v.vm_end:08x}" for v in vmas] == maps
    assert len(vmas) == p.mm.map_count
    for v in vmas:
        assert find_vma(p.mm, v.vm_start) is v
        assert find_vma(p.mm, v.vm_end - 1) is v
    assert find_vma(p.mm, 0) is None                  # a gap: drgn's None, not the next VMA
    assert find_vma(p.mm, vmas[-1].vm_end) is None
    with pytest.raises(TypeError):
        list(for_each_vma(None))
    with pytest.raises(ValueError):
        find_vma(p.mm, -1)


def test_follow_against_pagemap_and_vtop(m):
    p, a = _proc(m)
    for va in range(a, a + 16 * P, P):
        pfn = _pagemap_pfn(m, p, va)
        assert follow_pfn(p.mm, va) == pfn
        assert follow_phys(p.mm, va + 123) == pfn * P + 123 == vtop(p.mm, va + 123).phys
        page = follow_page(p.mm, va)
        assert page_to_pfn(page) == pfn and page == pfn_to_page(m, pfn)
        assert int(m.mem_map.mapping[pfn]) and page._mapcount == 0
    c = p.fork()
    m.check()
    assert follow_pfn(c.mm, a) == follow_pfn(p.mm, a)   # shared until a write
    c.write(a, b"x")
    m.check()
    assert follow_pfn(c.mm, a) != follow_pfn(p.mm, a)
    p.munmap(a, P)
    m.check()
    assert follow_page(p.mm, a) is None and follow_pfn(p.mm, a) is None
    assert follow_phys(p.mm, a) is None
    # reading never faults: a mapped page not yet touched stays absent
    b = p.mmap(None, P, RW, ANON)
    assert follow_page(p.mm, b) is None
    assert _pagemap_pfn(m, p, b) is None
    m.check()
    # the kernel's direct map through init_mm
    assert follow_pfn(m.init_mm, pfn_to_virt(0x1234)) == 0x1234


def test_page_conversions_and_flags(m):
    addr = m.kernel.kmalloc(100)
    page = virt_to_page(m, addr)
    assert page_to_pfn(page) == virt_to_pfn(addr) == (addr - 0xffff880000000000) >> 12
    assert page_to_virt(page) == addr & ~(P - 1)
    assert page_to_phys(page) == page_to_pfn(page) * P
    assert "PG_slab" in decode_page_flags(page).split("|")
    assert repr(page) == f"(struct page *){0xffffea0000000000 + page.pfn * 64:#x}"
    names = kernel_flags_text(page.flags).split("(")[1].rstrip(")").split("|")
    assert decode_page_flags(page).split("|") == [f"PG_{n}" for n in names]
    assert "._count = (atomic_t){ .counter = (int)1 }" in str(page)
    with pytest.raises(ValueError):
        pfn_to_page(m, m.mem_map.nr_frames)
    with pytest.raises(ValueError):
        virt_to_page(m, 0x1000)
    with pytest.raises(TypeError):
        decode_page_flags(page.pfn)


def test_dump_page_is_the_bad_page_text(m):
    """dump_page prints what a bad-page report logs for the page."""
    p, a = _proc(m)
    page = follow_page(p.mm, a)
    text = dump_page(page, "test")
    assert text.splitlines() == dump_page_lines(m.mem_map, page.pfn, "test")
    head, flags, why = text.splitlines()
    assert re.fullmatch(r"page:ffffea[0-9a-f]{10} count:1 mapcount:1 mapping:[0-9a-f]{16} "
                        r"index:0x[0-9a-f]+", head)
    assert flags.startswith("flags: 0x") and "lru" in flags and why == "page dumped because: test"
    # the free of a page with a stray mapcount: the bad-page report holds the same lines
    # (with the count the free is about to leave)
    pfn = m.kernel.alloc_pages("GFP_KERNEL", 0)
    m.mem_map.mc[pfn] = 0                      # a stray mapcount, as a buggy driver leaves
    want = dump_page(pfn_to_page(m, pfn), "nonzero mapcount").splitlines()
    with pytest.raises(lv.KernelBug) as e:
        m.kernel.free_pages(pfn, 0)
    assert str(e.value).splitlines()[1:] == [want[0].replace(" count:1 ", " count:0 "),
                                            *want[1:]]
    m.mem_map.mc[pfn] = -1
    m.kernel.free_pages(pfn, 0)
    m.check()


def test_task_rss_is_the_present_pages(m):
    p, a = _proc(m, 40 * P)
    present = sum(1 for va in range(a, a + 40 * P, P) if _pagemap_pfn(m, p, va) is not None)
    r = task_rss(p.task)
    assert r.anon == present == 40 and r.file == r.shmem == r.swap == 0 and r.total == 40
    status = m.proc.read(f"/proc/{p.pid}/status")
    vmrss = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))
    unfolded = sum(p.task.rss_stat.count[:2]) + p.task.rss_stat.count[3]
    assert vmrss == (r.total - unfolded) * 4      # status reads only the mm counters
    assert task_rss(m.spawn("empty").task).total == 0


def test_cmdline_and_environ(m):
    p = m.spawn("prog")
    assert cmdline(p.task) == [] and environ(p.task) == []
    args, env = b"prog\0-v\0", b"HOME=/\0X=1\0"
    a = p.mmap(None, 2 * P, RW, ANON)
    p.write(a, args + env)
    mm = p.mm
    mm.arg_start, mm.arg_end = a, a + len(args)
    mm.env_start, mm.env_end = a + len(args), a + len(args) + len(env)
    m.check()
    assert cmdline(p.task) == [b"prog", b"-v"]
    assert environ(p.task) == [b"HOME=/", b"X=1"]
    assert b"\0".join(cmdline(p.task)) + b"\0" == m.proc.read_bytes(f"/proc/{p.pid}/cmdline")
    with pytest.raises(TypeError):
        cmdline(p)


def test_free_areas_and_pcp_pages(m):
    _proc(m)
    blocks = list(for_each_free_area(m))
    vmstat = dict(l.split() for l in m.proc.read("/proc/vmstat").splitlines())
    assert sum(1 << b.order for b in blocks) == int(vmstat["nr_free_pages"])
    for b in blocks:
        assert b.page._mapcount == -128 and b.page.private == b.order   # PageBuddy, order
    buddyinfo = m.proc.read("/proc/buddyinfo").splitlines()
    for z, line in zip([z for z in for_each_zone(m) if z.present_pages], buddyinfo):
        counts = [sum(1 for b in for_each_free_area(z) if b.order == o) for o in range(11)]
        assert line.split()[4:] == [str(c) for c in counts]
    pcp = list(for_each_pcp_page(m))
    assert len(pcp) == sum(ps.pcp.count for z in for_each_zone(m) for ps in z.pageset)
    pfn = m.kernel.alloc_pages("GFP_KERNEL", 0, cpu=1)
    assert all(x.page.pfn != pfn for x in for_each_pcp_page(m))
    m.kernel.free_pages(pfn, 0, cpu=1)
    m.check()
    on = [x for x in for_each_pcp_page(m) if x.page.pfn == pfn]
    assert len(on) == 1 and on[0].cpu == 1 and on[0].migratetype == "Unmovable"
    with pytest.raises(TypeError):
        list(for_each_free_area(42))


def test_slab_objects(m):
    s = find_slab_cache(m, "kmalloc-128")
    before = set(slab_cache_for_each_allocated_object(s))
    objs = [m.kernel.kmalloc(128) for _ in range(100)]
    m.check()
    after = set(slab_cache_for_each_allocated_object(s))
    assert after == before | set(objs)
    for o in objs[::2]:
        m.kernel.kfree(o)
    m.check()
    assert set(slab_cache_for_each_allocated_object(s)) == before | set(objs[1::2])
    for o in objs[:4]:
        info = slab_object_info(m, o + 5)
        assert info.slab_cache is s and info.address == o
        assert info.allocated == (o in objs[1::2])
        assert m.slab.object_state(o)[2] == ("allocated" if info.allocated else "free")
        assert info.slab == virt_to_page(m, o)
    assert slab_object_info(m, pfn_to_virt(0)) is None
    assert slab_object_info(m, 0x1000) is None
    assert s in list(for_each_slab_cache(m))
    # every cache's count agrees with /proc/slabinfo once the CPU slabs are flushed
    m.slab.shrink_all()
    m.check()
    active = {}
    for line in m.proc.read("/proc/slabinfo").splitlines()[2:]:
        f = line.split()
        active[f[0]] = int(f[1])
    for c in for_each_slab_cache(m):
        if c.name in active:
            assert sum(1 for _ in slab_cache_for_each_allocated_object(c)) == active[c.name]


def test_crash_tables_use_the_model_counters(m):
    p, a = _proc(m, 64 * P)
    mi = {l.split(":")[0]: int(l.split()[1]) for l in m.proc.read("/proc/meminfo").splitlines()}
    rows = {l[:13].strip(): l[13:].split() for l in crash.kmem_i(m).splitlines()[1:] if l}
    assert int(rows["TOTAL MEM"][0]) * 4 == mi["MemTotal"]
    assert int(rows["FREE"][0]) * 4 == mi["MemFree"]
    assert int(rows["USED"][0]) * 4 == mi["MemTotal"] - mi["MemFree"]
    assert int(rows["SLAB"][0]) * 4 == mi["Slab"]
    assert int(rows["COMMIT LIMIT"][0]) * 4 == mi["CommitLimit"]
    assert crash.kmem_f(m).endswith("(verified)\n")
    pfn = follow_pfn(p.mm, a)
    line = crash.kmem_p(m, pfn, pfn + 1).splitlines()[1].split()
    assert line[:2] == [f"{0xffffea0000000000 + pfn * 64:x}", f"{pfn * P:x}"]
    assert line[4] == "1" and "lru" in line[6].split(",")
    s = crash.kmem_s(m)
    vma_line = [l for l in s.splitlines() if l.endswith(" vm_area_struct")][0].split()
    c = find_slab_cache(m, "vm_area_struct")
    assert int(vma_line[2]) == sum(1 for _ in slab_cache_for_each_allocated_object(c))
    ps = crash.ps(m).splitlines()
    row = [l for l in ps[1:] if l.split()[-1] == "prog"][0].lstrip(">").split()
    assert row[0] == str(p.pid) and int(row[6]) == 256 and int(row[7]) == 256
    v = crash.vm(m, p.task).splitlines()
    assert v[0].startswith(f"PID: {p.pid} ") and 'COMMAND: "prog"' in v[0]
    assert v[3].split()[:4] == ["VMA", "START", "END", "FLAGS"]
    assert v[4].split()[1:3] == [f"{a:x}", f"{a + 64 * P:x}"]


def run(*argv):
    r = subprocess.run([sys.executable, "-m", "linuxvm.cli", *argv], capture_output=True,
                       text=True, timeout=300)
    return r.returncode, r.stdout, r.stderr


def test_cli_kmem_i_and_f():
    rc, out, err = run("kmem", "-i", "--ram", "128M", "--user", "1M")
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["PAGES", "TOTAL", "PERCENTAGE"]
    assert [l[:13].strip() for l in lines[1:8]] == ["TOTAL MEM", "FREE", "USED", "SHARED",
                                                   "BUFFERS", "CACHED", "SLAB"]
    assert "% of TOTAL MEM" in lines[2]
    rc, out, err = run("kmem", "-f", "--ram", "128M")
    assert (rc, err) == (0, "")
    assert "AREA    SIZE  FREE_AREA_STRUCT  BLOCKS  PAGES" in out
    assert out.splitlines()[-1].endswith("(verified)")


def test_cli_kmem_p_and_s():
    rc, out, err = run("kmem", "-p", "0x100-0x104", "--ram", "128M")
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["PAGE", "PHYSICAL", "MAPPING", "INDEX", "CNT", "FLAGS"]
    assert len(lines) == 5 and lines[1].split()[:2] == ["ffffea0000004000", "100000"]
    rc, out, err = run("kmem", "-s", "--ram", "128M")
    assert (rc, err) == (0, "")
    assert out.splitlines()[0].split() == ["CACHE", "OBJSIZE", "ALLOCATED", "TOTAL", "SLABS",
                                           "SSIZE", "NAME"]
    assert any(l.endswith(" kmalloc-64") for l in out.splitlines())


def test_cli_ps_and_vm():
    rc, out, err = run("ps", "--ram", "128M", "--user", "1M", "--user", "64K")
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["PID", "PPID", "CPU", "TASK", "ST", "%MEM", "VSZ", "RSS",
                                "COMM"]
    assert [l.lstrip(">").split()[0] for l in lines[1:]] == ["1", "2"]
    assert lines[1].lstrip(">").split()[6:8] == ["1024", "1024"]
    rc, out, err = run("vm", "1", "--ram", "128M", "--user", "1M")
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("PID: 1 ") and lines[1].split() == ["MM", "PGD", "RSS",
                                                                 "TOTAL_VM"]
    assert lines[2].split()[2:] == ["1024k", "1024k"]
    assert lines[3].split() == ["VMA", "START", "END", "FLAGS", "FILE"] and len(lines) == 5


@pytest.mark.parametrize("argv", [
    ["vm", "7", "--ram", "128M"],
    ["vm", "seven", "--ram", "128M"],
    ["kmem", "-p", "0x99999999", "--ram", "128M"],
    ["kmem", "-p", "zz", "--ram", "128M"],
])
def test_cli_bad_input_is_one_line_exit_2(argv):
    rc, out, err = run(*argv)
    assert rc == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("linuxvm: error: ")
