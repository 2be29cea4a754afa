"""Issue 19: the /proc files procps needs (stat, cpuinfo, uptime, loadavg, self,
PID/cmdline|comm|environ) and ``linuxvm cat`` decoding pagemap, kpageflags and kpagecount
(``--raw`` for the bytes)."""

import struct
import subprocess
import sys

import pytest

import linuxvm as lv
from linuxvm import cli
from linuxvm.accel.fingerprint import fingerprint, assert_same
from linuxvm.fs.proc.page import decode_kpageflags
from linuxvm.fs.proc.stat import nr_irqs
from linuxvm.helpers.pagemap import (decode_pagemap_entry, format_binary, format_kpagecount,
                                     pagemap_lines)
from linuxvm.mm import gfp as G
from linuxvm.mm.vmscan.reclaim import ScanControl, do_try_to_free_pages

P = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS


def run(*argv):
    r = subprocess.run([sys.executable, "-m", "linuxvm.cli", *argv], capture_output=True,
                       timeout=300)
    return r.returncode, r.stdout, r.stderr.decode()


# -- the new /proc files ---------------------------------------------------------------

def test_proc_stat_layout():
    m = lv.Machine(ram="128M", cpus=3, seed=0)
    p = m.spawn("a")
    p.fork()
    m.check()
    lines = m.proc.read("/proc/stat").splitlines()
    assert lines[0] == "cpu " + " 0" * 10
    assert lines[1:4] == [f"cpu{i}" + " 0" * 10 for i in range(3)]
    intr = lines[4].split()
    # arch_probe_nr_irqs: 24 IO-APIC pins + 16 legacy + 8 per CPU + 24 * 16 for MSI
    assert intr[0] == "intr" and len(intr) == 2 + nr_irqs(m) == 2 + 24 + 16 + 24 + 384
    assert lines[5:10] == ["ctxt 0", "btime 0", "processes 2", "procs_running 0",
                           "procs_blocked 0"]
    assert lines[10] == "softirq 0" + " 0" * 10 and len(lines) == 11
    p.touch(p.mmap(None, P, RW, ANON), P)       # p runs: it is current
    assert "procs_running 1" in m.proc.read("/proc/stat")
    m.check()


def test_uptime_and_loadavg_follow_the_model():
    m = lv.Machine(ram="128M", seed=0)
    assert m.proc.read("/proc/uptime") == "0.00 0.00\n"
    assert m.proc.read("/proc/loadavg") == "0.00 0.00 0.00 0/0 0\n"
    p = m.spawn("a")
    c = p.fork()
    c.exit()
    m.clock_ns += 12_345_678_901
    # the idle column counts the CPU's idle ticks: the spawn, fork and exit took less
    # than one 4 ms tick of the model's clock (linuxvm/kernel/time.py), the rest was idle
    assert m.proc.read("/proc/uptime") == "12.34 12.34\n"
    # one task left, the last pid handed out was 2
    assert m.proc.read("/proc/loadavg") == "0.00 0.00 0.00 0/1 2\n"
    m.check()


def test_cpuinfo_one_block_per_cpu():
    m = lv.Machine(ram="128M", cpus=2, seed=0, cmdline="nosmap")
    blocks = m.proc.read("/proc/cpuinfo").split("\n\n")
    assert blocks[-1] == "" and len(blocks) == 3
    for i, b in enumerate(blocks[:2]):
        fields = [l.split(":", 1)[0].rstrip("\t ") for l in b.splitlines()]
        assert fields == ["processor", "vendor_id", "cpu family", "model", "model name",
                          "stepping", "physical id", "siblings", "core id", "cpu cores",
                          "apicid", "initial apicid", "fpu", "fpu_exception", "cpuid level",
                          "wp", "flags", "bugs", "bogomips", "clflush size",
                          "cache_alignment", "address sizes", "power management"]
        assert f"processor\t: {i}\n" in b and f"apicid\t\t: {i}\n" in b
        # smap is cleared by nosmap (setup_clear_cpu_cap); cpufeatures.h order
        assert "flags\t\t: pse pge nx pdpe1gb smep\n" in b


def test_pid_files_and_self():
    m = lv.Machine(ram="128M", cpus=2, seed=0)
    assert "self" not in m.proc.listdir("/proc")     # no task: nothing to name
    p = m.spawn("parent")
    c = p.fork()
    m.check()
    assert m.proc.listdir("/proc")[:3] == ["1", "2", "buddyinfo"]
    assert "self" in m.proc.listdir("/proc")
    assert m.proc.readlink("/proc/self") == "1"          # no current task: the oldest
    m.current = c.task
    assert m.proc.readlink("/proc/self") == "2"
    assert m.proc.read("/proc/self/comm") == "parent\n"
    assert m.proc.listdir("/proc/self") == m.proc.listdir("/proc/2")
    m.current = None
    for pid in (1, 2):
        assert m.proc.read(f"/proc/{pid}/cmdline") == ""    # env_end 0: no argument area
        assert m.proc.read(f"/proc/{pid}/environ") == ""
    f = m.proc.read("/proc/2/stat").split()
    assert len(f) == 52
    assert (f[0], f[1], f[3], f[38]) == ("2", "(parent)", "1", str(c.task.cpu))
    assert f[8] == str(0x400000)                          # task->flags: PF_RANDOMIZE
    m.check()
    m = lv.Machine(ram="128M", seed=0, aslr=False)
    p = m.spawn("a")
    assert m.proc.read(f"/proc/{p.pid}/stat").split()[8] == "0"


# -- decoding ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, want", [
    (0, dict(present=False, swapped=False, pfn=None, swap_type=None, soft_dirty=False,
             exclusive=False, file=False)),
    (0x8180000000012345, dict(present=True, swapped=False, pfn=0x12345, soft_dirty=True,
                              exclusive=True, file=False)),
    (0xA000000000000000, dict(present=True, pfn=0, file=True, exclusive=False)),
    ((1 << 62) | (0x1234 << 5) | 3, dict(present=False, swapped=True, pfn=None, swap_type=3,
                                         swap_offset=0x1234)),
])
def test_decode_pagemap_entry(value, want):
    got = decode_pagemap_entry(value)
    assert {k: got[k] for k in want} == want


def test_pagemap_table_of_a_swapped_and_present_mapping():
    m = lv.Machine(ram="128M", swap="16M", seed=0)
    p = m.spawn("a")
    a = p.mmap(None, 64 * P, RW, ANON)
    p.touch(a, 64 * P, write=True)
    m.current = p.task
    do_try_to_free_pages(m, G.GFP_KERNEL, ScanControl(G.GFP_KERNEL, 0, 32))
    m.current = None
    m.check()
    path = f"/proc/{p.pid}/pagemap"
    raw = m.proc.read_bytes(path, a // P * 8, 64 * 8)
    rows = pagemap_lines(raw, a)
    entries = struct.unpack("<64Q", raw)
    swapped = present = 0
    for i, (row, v) in enumerate(zip(rows, entries)):
        f = row.split()
        assert int(f[0], 16) == a + i * P and int(f[1], 16) == v
        if v >> 63:
            present += 1
            assert f[2:5] == ["1", "0", "pfn"] and int(f[5], 16) == v & ((1 << 55) - 1)
        elif v >> 62 & 1:
            swapped += 1
            typ, off = f[5].split(":")
            assert f[2:5] == ["0", "1", "swap"] and int(typ) == v & 31
            assert int(off, 16) == (v & ((1 << 55) - 1)) >> 5
    assert swapped and present and swapped + present == 64
    # the CLI table shows the same rows for every mapping of the task
    table = format_binary(m.proc, path)
    assert all(r in table for r in rows)


def test_cli_cat_pagemap_kpageflags_kpagecount_and_raw():
    rc, out, err = run("cat", "/proc/1/pagemap", "--ram", "128M", "--user", "16K")
    assert (rc, err) == (0, "")
    lines = out.decode().splitlines()
    assert lines[0].split()[:4] == ["VADDR", "ENTRY", "PRESENT", "SWAPPED"]
    assert len(lines) == 5 and all("pfn 0x" in l and "exclusive" in l for l in lines[1:])
    # the same machine, in this process: the pfns are the model's
    m = lv.Machine(ram="128M", cpus=2, seed=0)
    p = m.spawn("prog")
    a = p.mmap(None, 4 * P, RW, ANON)
    p.touch(a, 4 * P, write=True)
    assert format_binary(m.proc, "/proc/1/pagemap") == out.decode()

    rc, out, err = run("cat", "/proc/kpageflags", "--ram", "128M", "--offset", str(8 * 40000),
                       "--bytes", "24")
    assert rc == 0
    vals = struct.unpack("<3Q", m.proc.read_bytes("/proc/kpageflags", 8 * 40000, 24))
    for line, v, pfn in zip(out.decode().splitlines()[1:], vals, range(40000, 40003)):
        assert line.split() == [f"{pfn:#018x}", f"{v:#018x}"] + \
            (decode_kpageflags(v) or ["-"])
    rc, out, err = run("cat", "/proc/kpageflags", "--ram", "128M", "--raw", "--offset",
                       str(8 * 40000), "--bytes", "24")
    assert rc == 0 and out == m.proc.read_bytes("/proc/kpageflags", 8 * 40000, 24)
    rc, out, err = run("cat", "/proc/1/pagemap", "--ram", "128M", "--user", "16K", "--raw",
                       "--offset", str(a // P * 8), "--bytes", "32")
    assert rc == 0 and out == m.proc.read_bytes("/proc/1/pagemap", a // P * 8, 32)
    m.check()


def test_kpagecount_table_signed():
    # a free buddy head reads _mapcount + 1 = -127 in 4.6 (as a u64): shown signed
    data = struct.pack("<3Q", 0, 1, 2 ** 64 - 127)
    assert format_kpagecount(data, 7).splitlines()[1:] == [
        "0x0000000000000007  0", "0x0000000000000008  1", "0x0000000000000009  -127"]


@pytest.mark.parametrize("argv", [
    ["cat", "/proc/kpageflags", "--offset", "3"],
    ["cat", "/proc/kpageflags", "--bytes", "-8"],
    ["cat", "/proc/1/pagemap"],                    # no process without --user
])
def test_cli_cat_bad_input(argv, capsys):
    assert cli.main(argv + ["--ram", "128M"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("linuxvm: error: ") and err.count("\n") == 1


def _with_args(m, p, args: bytes, env: bytes):
    """Lay out an argument and environment area as exec leaves it (the model's spawn has
    none): the strings in a mapping, mm->arg_start..env_end around them."""
    a = p.mmap(None, 2 * P, RW, ANON)
    p.write(a, args + env)
    mm = p.mm
    mm.arg_start, mm.arg_end = a, a + len(args)
    mm.env_start, mm.env_end = a + len(args), a + len(args) + len(env)
    return a


def test_cmdline_and_environ_read_the_argument_area():
    m = lv.Machine(ram="128M", seed=0)
    p = m.spawn("prog")
    a = _with_args(m, p, b"prog\0-v\0caf\xc3\xa9\0", b"HOME=/\0X=\xff\0")
    m.check()
    assert m.proc.read_bytes(f"/proc/{p.pid}/cmdline") == b"prog\0-v\0caf\xc3\xa9\0"
    assert m.proc.read_bytes(f"/proc/{p.pid}/environ") == b"HOME=/\0X=\xff\0"
    # setproctitle: argv overwritten without its last NUL runs on into the environment
    p.write(a, b"prog: worker status"[:14])
    assert m.proc.read_bytes(f"/proc/{p.pid}/cmdline") == b"prog: worker s" + b"HOME=/"
    m.check()


def test_argument_area_read_without_faults():
    m = lv.Machine(ram="128M", swap="16M", seed=0)
    p = m.spawn("prog")
    a = _with_args(m, p, b"prog\0x\0", b"A=1\0")
    pad = p.mmap(None, 256 * P, RW, ANON)          # enough anon for reclaim to go to swap
    p.touch(pad, 256 * P, write=True)
    path = f"/proc/{p.pid}/pagemap"
    # swapped out: the slot's bytes (reclaim until the page leaves the page tables)
    m.current = p.task
    for _ in range(20):
        do_try_to_free_pages(m, G.GFP_KERNEL, ScanControl(G.GFP_KERNEL, 0, 1024))
        entry = struct.unpack("<Q", m.proc.read_bytes(path, a // P * 8, 8))[0]
        if entry >> 62 & 1:
            break
    m.current = None
    assert entry >> 62 & 1 and not entry >> 63
    before = fingerprint(m)
    assert m.proc.read_bytes(f"/proc/{p.pid}/cmdline") == b"prog\0x\0"
    assert m.proc.read_bytes(f"/proc/{p.pid}/environ") == b"A=1\0"
    assert_same(before, fingerprint(m))            # nothing was faulted back in
    # an anonymous page never faulted reads as zeros (the zero page a fault would map)
    p.mm.env_start, p.mm.env_end = a + P, a + P + 4
    assert m.proc.read_bytes(f"/proc/{p.pid}/environ") == bytes(4)
    # past the end of every VMA the copy stops short, as access_remote_vm does
    p.mm.env_start, p.mm.env_end = a + 2 * P - 2, a + 2 * P + 6
    assert m.proc.read_bytes(f"/proc/{p.pid}/environ") == bytes(2)
    # a file page not in the page tables would need the page cache and a fault
    fd = p.open("/f", lv.O_RDWR | lv.O_CREAT)
    p.ftruncate(fd, P)
    f = p.mmap(None, P, RW, lv.MAP_SHARED, fd, 0)
    p.mm.env_start, p.mm.env_end = f, f + 4
    with pytest.raises(NotImplementedError, match="access_remote_vm"):
        m.proc.read(f"/proc/{p.pid}/environ")
    m.check()


def test_cli_ls_proc_lists_the_pids(capsys):
    assert cli.main(["ls", "/proc", "--ram", "128M"]) == 0
    names = capsys.readouterr().out.split()
    assert "self" not in names and not any(n.isdigit() for n in names)   # no task yet
    assert cli.main(["ls", "/proc", "--ram", "128M", "--user", "64K"]) == 0
    names = capsys.readouterr().out.split()
    assert names[0] == "1" and "self" in names and "stat" in names and "cpuinfo" in names
