"""The real procps tools read the model (issue 19): ``m.proc.export(DIR)`` writes the
model's /proc and /sys, the test bind-mounts them over /proc and /sys in private mount
and pid namespaces and runs ``free``, ``vmstat``, ``vmstat -s``, ``vmstat -m``,
``slabtop -o``, ``pmap -x`` and ``ps``; every figure they print must be the model's.

The tool runs as pid 1 of a new pid namespace (``exec`` after the mounts): procps looks
itself up as /proc/<getpid()>, and pid 1 is a model task (the one /proc/self names).
"""

import os
import re
import shutil
import subprocess
import sys

import pytest

import linuxvm as lv
from _proc import meminfo, reclaim
from linuxvm.accel.fingerprint import fingerprint, assert_same

P = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
TOOLS = ["free", "vmstat", "pmap", "slabtop", "ps"]


def _unshare_prefix():
    """The unshare command that gives private mount and pid namespaces here, or None."""
    if shutil.which("unshare") is None:
        return None
    for prefix in (["unshare", "-pfm"], ["unshare", "-rpfm"]):
        try:
            r = subprocess.run(prefix + ["sh", "-c", "mount --bind /tmp /tmp && exit 0"],
                               capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if r.returncode == 0:
            return prefix
    return None


UNSHARE = _unshare_prefix()
needs_ns = pytest.mark.skipif(UNSHARE is None, reason="unshare of mount+pid namespaces with "
                                                      "a bind mount is not permitted here")


def need(tool):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} (procps) is not installed")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A machine with anon, file, swapped and forked memory, exported once."""
    m = lv.Machine(ram="256M", cpus=2, swap="64M", seed=0)
    p = m.spawn("prog")
    a = p.mmap(None, 16 << 20, RW, ANON)
    p.touch(a, 16 << 20, write=True)
    m.check()
    fd = p.open("/data", lv.O_RDWR | lv.O_CREAT)
    p.ftruncate(fd, 2 << 20)
    f = p.mmap(None, 2 << 20, RW, lv.MAP_SHARED, fd, 0)
    p.touch(f, 1 << 20, write=True)          # page cache, some of it dirty
    p.touch(f + (1 << 20), 1 << 20)
    m.check()
    c = p.fork()
    c.touch(a, 1 << 20, write=True)           # COW breaks: the child owns 256 pages
    m.check()
    reclaim(m, p, 2048)                       # some anon goes to swap
    m.check()
    out = tmp_path_factory.mktemp("model")
    before = fingerprint(m)
    result = m.proc.export(out)
    assert_same(before, fingerprint(m))       # renderers never change the model
    m.check()
    return m, p, c, str(out), result


def tool(root, cmd):
    """Output of ``cmd`` run against the exported tree (as pid 1 of a new pid namespace)."""
    script = (f"mount --bind {root}/proc /proc && mount --bind {root}/sys /sys && "
              f"exec {cmd}")
    r = subprocess.run(UNSHARE + ["sh", "-c", script], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, (cmd, r.stdout, r.stderr)
    return r.stdout


def vmstat_file(m):
    return {k: int(v) for k, v in (l.split() for l in m.proc.read("/proc/vmstat")
                                   .splitlines())}


def slabinfo(m):
    """name -> (active_objs, num_objs, objsize, objperslab, pagesperslab, active_slabs,
    num_slabs) from /proc/slabinfo."""
    out = {}
    for line in m.proc.read("/proc/slabinfo").splitlines()[2:]:
        f = line.split()
        out[f[0]] = tuple(int(x) for x in f[1:6]) + (int(f[13]), int(f[14]))
    return out


# -- the export itself ---------------------------------------------------------------

def test_export_writes_what_the_model_renders(model):
    m, p, c, root, result = model
    for path in ["/proc/meminfo", "/proc/vmstat", "/proc/slabinfo", "/proc/stat",
                 "/proc/cpuinfo", "/proc/uptime", "/proc/loadavg", "/proc/zoneinfo",
                 "/proc/sys/vm/min_free_kbytes", f"/proc/{p.pid}/smaps",
                 f"/proc/{c.pid}/status", f"/proc/{c.pid}/stat", f"/proc/{p.pid}/comm",
                 "/sys/kernel/slab/vm_area_struct/objs_per_slab"]:
        with open(root + path) as f:
            assert f.read() == m.proc.read(path), path
    for path in ["/proc/kpageflags", "/proc/kpagecount"]:
        with open(root + path, "rb") as f:
            assert f.read() == m.proc.read_bytes(path), path
    # /proc/self is the current task: the child, which touched memory last
    assert m.current is c.task
    assert os.readlink(root + "/proc/self") == m.proc.readlink("/proc/self") == str(c.pid)
    assert sorted(x for x in os.listdir(root + "/proc") if x.isdigit()) == \
        [str(p.pid), str(c.pid)]
    # alias links are relative, as sysfs writes them
    link = os.readlink(root + "/sys/kernel/slab/anon_vma_chain")
    assert not link.startswith("/") and os.path.isdir(root + "/sys/kernel/slab/" + link)
    # cmdline and environ are empty: spawned tasks have no argument area (env_end 0)
    assert open(root + f"/proc/{p.pid}/cmdline", "rb").read() == b""
    assert open(root + f"/proc/{p.pid}/environ", "rb").read() == b""
    assert ("/proc/sys/vm/compact_memory" in dict(result.skipped))


def test_export_pagemap_is_sparse_and_exact(model):
    m, p, c, root, result = model
    path = f"/proc/{p.pid}/pagemap"
    st = os.stat(root + path)
    assert st.st_size == m.proc.read_bytes(path, 0, 0) .__len__() + \
        ((1 << 47) - P) // P * 8
    assert st.st_blocks * 512 < 64 << 20       # the holes take no space
    with open(root + path, "rb") as f:
        for line in m.proc.read(f"/proc/{p.pid}/maps").splitlines():
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            f.seek(lo // P * 8)
            data = f.read((hi - lo) // P * 8)
            assert data == m.proc.read_bytes(path, lo // P * 8, (hi - lo) // P * 8)
        f.seek(0)
        assert f.read(4096) == bytes(4096)


def test_export_replaces_an_earlier_export_and_refuses_bad_dirs(tmp_path):
    m = lv.Machine(ram="128M", seed=0)
    p = m.spawn("a")
    m.proc.export(tmp_path / "x")
    p.exit()
    q = m.spawn("b")
    m.check()
    m.proc.export(tmp_path / "x")
    assert sorted(x for x in os.listdir(tmp_path / "x/proc") if x.isdigit()) == [str(q.pid)]
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        m.proc.export(tmp_path / "file")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine").write_text("keep")
    with pytest.raises(FileExistsError):
        m.proc.export(tmp_path / "full")
    assert (tmp_path / "full" / "mine").read_text() == "keep"
    with pytest.raises(FileNotFoundError):
        m.proc.export(tmp_path / "no" / "such")
    with pytest.raises(TypeError):
        m.proc.export(3)
    m.check()


def _cli(*argv):
    r = subprocess.run([sys.executable, "-m", "linuxvm.cli", *argv], capture_output=True,
                       text=True, timeout=300)
    return r.returncode, r.stdout, r.stderr


def test_cli_export_proc(tmp_path):
    rc, out, err = _cli("export-proc", str(tmp_path / "e"), "--ram", "128M", "--user", "1M")
    assert (rc, err) == (0, "")
    assert "wrote" in out and os.path.isfile(tmp_path / "e/proc/1/smaps")
    (tmp_path / "f").write_text("")
    for bad in [str(tmp_path / "f"), str(tmp_path / "f" / "sub"), str(tmp_path / "a" / "b")]:
        rc, out, err = _cli("export-proc", bad, "--ram", "128M")
        assert rc == 2 and out == "" and err.count("\n") == 1, (bad, err)
        assert err.startswith("linuxvm: error: cannot export to ")


# -- the tools -----------------------------------------------------------------------

@needs_ns
def test_free(model):
    need("free")
    m, p, c, root, _ = model
    mi = meminfo(m)
    rows = {l.split(":")[0]: [int(x) for x in l.split()[1:]]
            for l in tool(root, "free -k").splitlines()[1:]}
    total, used, free, shared, buffcache, avail = rows["Mem"]
    assert (total, free, shared, avail) == (mi["MemTotal"], mi["MemFree"], mi["Shmem"],
                                            mi["MemAvailable"])
    assert buffcache == mi["Buffers"] + mi["Cached"] + mi["SReclaimable"]
    assert mi["Cached"] > 0
    # procps 4 counts used as total - available, 3.3 as total - free - buff/cache
    assert used in (total - avail, total - free - buffcache)
    assert rows["Swap"] == [mi["SwapTotal"], mi["SwapTotal"] - mi["SwapFree"], mi["SwapFree"]]
    assert mi["SwapTotal"] > mi["SwapFree"]          # something was swapped out


@needs_ns
def test_vmstat(model):
    need("vmstat")
    m, p, c, root, _ = model
    mi, vm = meminfo(m), vmstat_file(m)
    lines = tool(root, "vmstat").splitlines()
    head, row = lines[1].split(), [int(x) for x in lines[2].split()]
    f = dict(zip(head, row))
    assert f["swpd"] == mi["SwapTotal"] - mi["SwapFree"]
    assert (f["free"], f["buff"], f["cache"]) == (mi["MemFree"], mi["Buffers"],
                                                 mi["Cached"] + mi["SReclaimable"])
    # the first line's rates divide by the CPU ticks since boot: the fixture's work takes
    # less than one USER_HZ tick of the model's clock (docs/time.md), so /proc/stat's CPU
    # times read 0, which vmstat takes as 1 tick: pages * KiB * CLK_TCK
    hz = os.sysconf("SC_CLK_TCK")
    assert f["si"] == vm["pswpin"] * 4 * hz and f["so"] == vm["pswpout"] * 4 * hz
    assert vm["pswpout"] > 0
    assert f["r"] == 1 and f["b"] == 0                # the child runs (m.current)


@needs_ns
def test_vmstat_s(model):
    need("vmstat")
    m, p, c, root, _ = model
    mi, vm = meminfo(m), vmstat_file(m)
    got = {}
    for line in tool(root, "vmstat -s").splitlines():
        mt = re.match(r"\s*(\d+) (?:K )?(.*)", line)
        got[mt.group(2)] = int(mt.group(1))
    want = {"total memory": mi["MemTotal"], "free memory": mi["MemFree"],
            "active memory": mi["Active"], "inactive memory": mi["Inactive"],
            "buffer memory": mi["Buffers"], "swap cache": mi["Cached"] + mi["SReclaimable"],
            "total swap": mi["SwapTotal"], "used swap": mi["SwapTotal"] - mi["SwapFree"],
            "free swap": mi["SwapFree"], "paged in": vm["pgpgin"], "paged out": vm["pgpgout"],
            "pages swapped in": vm["pswpin"], "pages swapped out": vm["pswpout"],
            "forks": m.next_pid - 1, "boot time": 0, "interrupts": 0,
            "CPU context switches": 0}
    for k, v in want.items():
        assert got[k] == v, k
    assert got["used memory"] in (mi["MemTotal"] - mi["MemAvailable"],
                                  mi["MemTotal"] - mi["MemFree"] - mi["Buffers"]
                                  - mi["Cached"] - mi["SReclaimable"])


@needs_ns
def test_vmstat_m_and_slabtop(model):
    need("vmstat")
    need("slabtop")
    m, p, c, root, _ = model
    si = slabinfo(m)
    rows = {}
    for line in tool(root, "vmstat -m").splitlines():
        if line.startswith("Cache "):              # the header, repeated every 22 rows
            continue
        name, num, total, size, pages = line.split()
        rows[name] = (int(num), int(total), int(size), int(pages))
    assert set(rows) == set(si)
    for name in ["vm_area_struct", "anon_vma", "kmalloc-64", "radix_tree_node", "mm_struct"]:
        a, n, sz, per, _, _, _ = si[name]
        assert rows[name] == (a, n, sz, per), name
    out = tool(root, "slabtop -o").splitlines()
    top = {}
    for line in out[out.index(next(l for l in out if l.lstrip().startswith("OBJS"))) + 1:]:
        f = line.split()
        if f:
            top[f[-1]] = f
    for name in ["vm_area_struct", "anon_vma", "kmalloc-64"]:
        objs, active, _, objsize, slabs, perslab, cachesize = top[name][:7]
        a, n, sz, per, pps, _, nslabs = si[name]
        assert (int(objs), int(active), int(slabs), int(perslab)) == (n, a, nslabs, per)
        assert objsize == f"{sz / 1024:.2f}K"
        assert cachesize == f"{nslabs * pps * 4}K"
    total_objs = sum(v[1] for v in si.values())
    active_objs = sum(v[0] for v in si.values())
    assert re.search(rf"Active / Total Objects \(% used\)\s*: {active_objs} / {total_objs} ",
                     "\n".join(out))


def smaps_entries(m, pid):
    """(start, Size kB, Rss kB) of each mapping in /proc/PID/smaps."""
    out, cur = [], None
    for line in m.proc.read(f"/proc/{pid}/smaps").splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            cur = [int(line.split("-")[0], 16), None, None]
            out.append(cur)
        elif line.startswith("Size:"):
            cur[1] = int(line.split()[1])
        elif line.startswith("Rss:"):
            cur[2] = int(line.split()[1])
    return out


@needs_ns
def test_pmap_x(model):
    need("pmap")
    m, p, c, root, _ = model
    for proc in (p, c):
        out = tool(root, f"pmap -x {proc.pid}").splitlines()
        assert out[0] == f"{proc.pid}:   [prog]"      # an empty cmdline: pmap shows [comm]
        rows = [l.split() for l in out[2:] if re.match(r"^[0-9a-f]{16} ", l)]
        want = smaps_entries(m, proc.pid)
        assert [(int(r[0], 16), int(r[1]), int(r[2])) for r in rows] == \
            [tuple(w) for w in want]
        total = out[-1].split()
        assert total[:2] == ["total", "kB"]
        assert int(total[2]) == sum(w[1] for w in want)
        assert int(total[3]) == sum(w[2] for w in want)


@needs_ns
def test_ps(model):
    need("ps")
    m, p, c, root, _ = model
    out = tool(root, "ps -eo pid,ppid,rss,vsz,comm").splitlines()
    assert out[0].split() == ["PID", "PPID", "RSS", "VSZ", "COMMAND"]
    rows = {int(l.split()[0]): l.split() for l in out[1:]}
    assert sorted(rows) == sorted(m.tasks)
    for pid, task in m.tasks.items():
        stat = m.proc.read(f"/proc/{pid}/stat").split()
        _, ppid, rss, vsz, comm = rows[pid]
        assert comm == task.comm
        assert int(ppid) == int(stat[3])
        assert int(rss) == int(stat[23]) * 4
        assert int(vsz) * 1024 == int(stat[22])
    assert rows[c.pid][1] == str(p.pid)


@needs_ns
def test_pmap_and_ps_show_the_command_line(tmp_path):
    need("pmap")
    need("ps")
    m = lv.Machine(ram="128M", seed=0)
    p = m.spawn("server")
    # an argument area as exec leaves one (the model's spawn has none)
    args, env = b"/usr/sbin/server\0-p\0" + b"8080\0", b"HOME=/\0"
    a = p.mmap(None, P, RW, ANON)
    p.write(a, args + env)
    p.mm.arg_start, p.mm.arg_end = a, a + len(args)
    p.mm.env_start, p.mm.env_end = a + len(args), a + len(args) + len(env)
    m.check()
    m.proc.export(tmp_path)
    assert tool(str(tmp_path), f"pmap {p.pid}").splitlines()[0] == \
        f"{p.pid}:   /usr/sbin/server -p 8080"
    assert tool(str(tmp_path), "ps -eo pid,comm,args").splitlines()[1].split() == \
        [str(p.pid), "server", "/usr/sbin/server", "-p", "8080"]
