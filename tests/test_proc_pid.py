"""/proc/PID files: maps, smaps, status, statm, stat, oom_score_adj, oom_adj."""

import errno

import pytest

import linuxvm as lv
from _vm import P, RW, R, BASE, FIXED, machine, proc, fixed


def test_maps_format_and_names():
    m = machine(aslr=False)
    p = proc(m)
    s = p.brk(0)
    p.brk(s + P)
    a = p.mmap(0, 2 * P, R, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    text = m.proc.read(f"/proc/{p.pid}/maps")
    assert text == ("555555554000-555555555000 rw-p 00000000 00:00 0"
                    + " " * 25 + " [heap]\n"
                    f"{a:x}-{a + 2 * P:x} r--p 00000000 00:00 0 \n")


def test_maps_hides_the_stack_guard_page():
    m = machine()
    p = proc(m)
    fixed(p, 0, 4, RW, FIXED | lv.MAP_GROWSDOWN)
    line = m.proc.read(f"/proc/{p.pid}/maps")
    assert line.startswith(f"{BASE + P:08x}-{BASE + 4 * P:08x} rw-p")


def test_smaps_fields_in_46_order():
    m = machine()
    p = proc(m)
    fixed(p, 0, 3)
    text = m.proc.read(f"/proc/{p.pid}/smaps").splitlines()
    names = [l.split(":")[0] for l in text[1:]]
    assert names == ["Size", "Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean",
                     "Private_Dirty", "Referenced", "Anonymous", "AnonHugePages",
                     "Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss",
                     "KernelPageSize", "MMUPageSize", "Locked", "VmFlags"]
    assert text[1] == "Size:                 12 kB"
    assert text[12] == "Private_Hugetlb:       0 kB"          # %7lu in 4.6
    assert text[-1] == "VmFlags: rd wr mr mw me ac sd "


def test_status_statm_stat_follow_the_mm():
    m = machine()
    p = proc(m)
    fixed(p, 0, 2560)
    p.mlock(BASE, 4 * P)
    st = m.proc.read(f"/proc/{p.pid}/status")
    assert "VmSize:\t   10240 kB\n" in st
    assert "VmData:\t   10240 kB\n" in st
    assert "VmLck:\t      16 kB\n" in st
    vm = [l.split(":")[0] for l in st.splitlines() if l.startswith(("Vm", "Rss"))]
    assert vm == ["VmPeak", "VmSize", "VmLck", "VmPin", "VmHWM", "VmRSS", "RssAnon",
                  "RssFile", "RssShmem", "VmData", "VmStk", "VmExe", "VmLib", "VmPTE",
                  "VmPMD", "VmSwap"]
    p.munmap(BASE, 2560 * P)
    st = m.proc.read(f"/proc/{p.pid}/status")
    assert "VmPeak:\t   10240 kB\n" in st and "VmSize:\t       0 kB\n" in st
    assert m.proc.read(f"/proc/{p.pid}/statm") == "0 0 0 0 0 0 0\n"
    stat = m.proc.read(f"/proc/{p.pid}/stat").split()
    assert len(stat) == 52
    assert stat[0] == str(p.pid) and stat[1] == "(t)"
    assert stat[9] == str(p.task.min_flt) and stat[11] == str(p.task.maj_flt)
    assert stat[22] == "0" and stat[23] == "0"            # vsize, rss after the munmap


def test_oom_score_adj_rules():
    m = machine()
    p = proc(m)
    path = f"/proc/{p.pid}/oom_score_adj"
    assert m.proc.read(path) == "0\n"
    m.proc.write(path, "500")
    assert m.proc.read(path) == "500\n"
    assert m.proc.read(f"/proc/{p.pid}/oom_adj") == "8\n"          # 500 * 17 / 1000
    for bad in ("1001", "-1001", "x"):
        with pytest.raises(lv.SyscallError) as ei:
            m.proc.write(path, bad)
        assert ei.value.errno == errno.EINVAL
    # lowering below oom_score_adj_min (0) needs CAP_SYS_RESOURCE
    with pytest.raises(lv.SyscallError) as ei:
        m.proc.write(path, "-1")
    assert ei.value.errno == errno.EACCES
    root = proc(m, uid=0)
    m.current = root.task
    m.proc.write(path, "-1000")
    m.current = None
    assert m.proc.read(path) == "-1000\n"
    assert m.proc.read(f"/proc/{p.pid}/oom_adj") == "-17\n"
    m.proc.write(f"/proc/{p.pid}/oom_adj", "15")
    assert m.proc.read(path) == "1000\n"
    assert any("oom_adj is deprecated" in l for l in m.dmesg())


def test_proc_lists_pids():
    m = machine()
    a, b = proc(m), proc(m)
    assert (a.pid, b.pid) == (1, 2)
    names = m.proc.listdir("/proc")
    assert "1" in names and "2" in names
    assert "maps" in m.proc.listdir("/proc/1")
    b.exit()
    assert not m.proc.exists("/proc/2/maps")


def test_smaps_counts_pages_from_the_page_tables():
    #   16 pages mapped; 5 written (private dirty anonymous), 1 read (the zero page:
    #   vm_normal_page skips it, so it is not in Rss)
    m = machine()
    p = proc(m)
    a = p.mmap(0, 16 * P, RW, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.touch(a, 5 * P, write=True)
    p.touch(a + 8 * P, P)
    m.check()
    lines = dict(l.split(":", 1) for l in m.proc.read(f"/proc/{p.pid}/smaps").splitlines()
                 if not l.startswith(("VmFlags", f"{a:x}")))
    kb = {k: int(v.split()[0]) for k, v in lines.items()}
    assert kb["Size"] == 64 and kb["Rss"] == 20 and kb["Pss"] == 20
    assert kb["Private_Dirty"] == 20 and kb["Anonymous"] == 20 and kb["Referenced"] == 20
    assert kb["Shared_Clean"] == kb["Shared_Dirty"] == kb["Private_Clean"] == 0
    p.mlock(a, 16 * P)
    kb = {l.split(":")[0]: l.split()[1] for l in m.proc.read(f"/proc/{p.pid}/smaps")
          .splitlines() if l.startswith("Locked")}
    assert kb["Locked"] == "64"                 # mlock faulted the rest in
