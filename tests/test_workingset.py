"""Workingset detection (mm/workingset.c): reclaim leaves shadow entries for evicted file
pages; a page read in again soon enough after its eviction comes back active."""

import linuxvm as lv
from _proc import meminfo, vmstat
from linuxvm.mm import gfp as G
from linuxvm.mm.vmscan.reclaim import ScanControl, do_try_to_free_pages

P = 4096


def read_file(p, fd, buf, npages):
    p.lseek(fd, 0, 0)
    for _ in range(npages):
        assert p.sys_read(fd, buf, P) == P


def test_evicted_file_pages_leave_shadows_and_refault_active():
    m = lv.Machine(ram="128M", aslr=False)
    p = m.spawn("ws")
    m.fs.create("/hot", 1024 * P, data=bytes([1]) * (1024 * P))
    m.fs.create("/cold", 512 * P, data=bytes([2]) * (512 * P))
    buf = p.mmap(None, P, lv.PROT_READ | lv.PROT_WRITE, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    hot = p.open("/hot", lv.O_RDONLY)
    cold = p.open("/cold", lv.O_RDONLY)
    read_file(p, hot, buf, 1024)
    read_file(p, hot, buf, 1024)           # the second read activates (mark_page_accessed)
    read_file(p, cold, buf, 512)           # read once: inactive
    m.check()
    assert meminfo(m, "Active(file)") >= 4 * 1000
    do_try_to_free_pages(m, G.GFP_KERNEL, ScanControl(G.GFP_KERNEL, 0, 400))
    m.check()
    cold_inode = [i for i in m.vfs.sb_of("/cold").inodes if i.path == "/cold"][0]
    mapping = cold_inode.i_mapping
    evicted = len(mapping.shadows)
    assert evicted > 0 and evicted + mapping.nrpages == 512
    assert vmstat(m, "workingset_refault") == 0
    read_file(p, cold, buf, 512)           # the evicted pages come back
    m.check()
    assert vmstat(m, "workingset_refault") == evicted
    # each zone's eviction clock and active list decide: most come back active (the
    # distance is small next to the hot file's active pages), each activation aging
    # the zone's inactive list for the refaults after it
    activated = vmstat(m, "workingset_activate")
    assert evicted // 2 < activated <= evicted
    assert not mapping.shadows
    active = sum(1 for pfn in mapping.i_pages.values() if m.mem_map.f[pfn] & (1 << 6))
    assert active == activated                       # PG_active
    m.check()


def test_refault_without_an_active_list_stays_inactive():
    m = lv.Machine(ram="128M", aslr=False)
    p = m.spawn("ws")
    m.fs.create("/cold", 512 * P, data=bytes([2]) * (512 * P))
    buf = p.mmap(None, P, lv.PROT_READ | lv.PROT_WRITE, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    cold = p.open("/cold", lv.O_RDONLY)
    read_file(p, cold, buf, 512)
    assert meminfo(m, "Active(file)") == 0
    do_try_to_free_pages(m, G.GFP_KERNEL, ScanControl(G.GFP_KERNEL, 0, 400))
    m.check()
    read_file(p, cold, buf, 512)
    m.check()
    assert vmstat(m, "workingset_refault") > 0
    # the active list is empty: only a refault at distance 0 qualifies, the page a zone
    # evicted last when nothing has aged the zone since (then the activation ages it)
    zones = sum(1 for z in m.zones if z.managed_pages)
    assert vmstat(m, "workingset_activate") <= zones
    assert meminfo(m, "Active(file)") <= 4 * zones


def test_truncate_and_unlink_drop_shadow_entries():
    m = lv.Machine(ram="128M", aslr=False)
    p = m.spawn("ws")
    m.fs.create("/f", 256 * P, data=bytes([3]) * (256 * P))
    buf = p.mmap(None, P, lv.PROT_READ | lv.PROT_WRITE, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    fd = p.open("/f", lv.O_RDWR)
    read_file(p, fd, buf, 256)
    do_try_to_free_pages(m, G.GFP_KERNEL, ScanControl(G.GFP_KERNEL, 0, 400))
    m.check()
    inode = [i for i in m.vfs.sb_of("/f").inodes if i.path == "/f"][0]
    assert inode.i_mapping.shadows
    p.ftruncate(fd, 100 * P)
    m.check()
    assert all(i < 100 for i in inode.i_mapping.shadows)
    p.ftruncate(fd, 0)
    m.check()
    assert not inode.i_mapping.shadows
