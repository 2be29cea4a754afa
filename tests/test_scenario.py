"""Scenario files and what-if runs (issue 18 parts 2 and 4): the worked examples in
examples/ run with m.check() after every step; ``linuxvm run`` and ``linuxvm diff``."""

import os
import subprocess
import sys

import pytest

from linuxvm.tools import diff, scenario

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EX = os.path.join(ROOT, "examples")


def example(name):
    return os.path.join(EX, name)


def snap(res, name, path_end):
    return next(t for n, p, t in res.snapshots if n == name and p.endswith(path_end))


def field(text, key):
    return scenario._field(text, key)


def test_autopsy_example():
    res = scenario.run(scenario.load(example("autopsy.toml")), check=True)
    assert res.failed == 0
    ends = snap(res, "after the two end writes", "smaps")
    full = snap(res, "after memset", "smaps")
    assert field(ends, "Size") == 10240
    assert field(ends, "Rss") == 8 and field(ends, "Anonymous") == 8   # two pages
    assert field(full, "Rss") == 10240
    rows, mach = scenario.summary(res)
    assert rows[0][0] == "autopsy" and rows[0][2] == 10240
    assert dict(mach)["OOM kills"] == "0"


def test_forkbomb_example():
    scn = scenario.load(example("forkbomb.toml"))
    assert scn.sysctl["vm.overcommit_memory"] == 2
    res = scenario.run(scn, check=True)
    assert res.failed == 1 and res.log[-1].endswith("failed: ENOMEM")
    before = field(snap(res, "before the forks", "meminfo"), "Committed_AS")
    after = snap(res, "after fork failed", "meminfo")
    forks = sum(1 for line in res.log if "fork bomb:" in line and "is pid" in line)
    assert 0 < forks < 64
    # each child commits the parent's 16 MiB private writable mapping
    assert field(after, "Committed_AS") == before + forks * 16384
    assert field(after, "Committed_AS") + 16384 > field(after, "CommitLimit") - 8192


def test_fragmentation_example():
    res = scenario.run(scenario.load(example("fragmentation.toml")), check=True)
    order, got = res.kernel_allocs[-1]
    assert order == 3 and got[-1] == "failed"
    buddy = snap(res, "after the order-3 allocations", "buddyinfo")
    for line in buddy.splitlines():
        counts = [int(x) for x in line.split()[4:]]
        assert sum(counts[3:]) == 0 and counts[0] > 100       # free, but only small blocks
    assert field(snap(res, "after the order-3 allocations", "meminfo"), "MemFree") > 40000


def test_steps_of_every_kind(tmp_path):
    """Every op once, with snapshots by label and by number, in two processes."""
    host = "/bin/true" if os.path.isfile("/bin/true") else sys.executable
    text = f"""
[machine]
ram = "256M"
swap = "64M"
[machine.sysctl]
vm.swappiness = 30
[[process]]
name = "p"
[[step]]
op = "mmap"
process = "p"
region = "r"
size = "64K"
[[step]]
op = "touch"
process = "p"
region = "r"
length = "16K"
stride = "32K"
[[step]]
op = "write"
process = "p"
region = "r"
data = "hello"
length = 5
[[step]]
op = "read"
process = "p"
region = "r"
length = 5
[[step]]
op = "mprotect"
process = "p"
region = "r"
prot = "r"
offset = "4K"
length = "4K"
[[step]]
op = "mlock"
process = "p"
region = "r"
length = "8K"
[[step]]
op = "munlock"
process = "p"
region = "r"
length = "8K"
[[step]]
op = "madvise"
process = "p"
region = "r"
advice = "DONTNEED"
offset = "32K"
[[step]]
op = "brk"
process = "p"
grow = "128K"
[[step]]
op = "open"
process = "p"
path = "/f"
fd = "f"
[[step]]
op = "write"
process = "p"
fd = "f"
region = "r"
length = "4K"
[[step]]
op = "close"
process = "p"
fd = "f"
[[step]]
op = "fork"
process = "p"
child = "c"
label = "forked"
[[step]]
op = "munmap"
process = "c"
region = "r"
[[step]]
op = "exec"
process = "c"
host = "{host}"
[[step]]
op = "sysctl"
name = "vm.dirty_expire_centisecs"
value = 100
[[step]]
op = "sleep"
seconds = 5
[[step]]
op = "kernel_alloc"
order = 1
[[step]]
op = "exit"
process = "p"
[[snapshot]]
after = "forked"
files = ["/proc/{{p}}/maps", "/proc/{{c}}/maps"]
[[snapshot]]
after = 1
files = ["/proc/sys/vm/swappiness"]
[[snapshot]]
files = ["/proc/{{p}}/status"]
"""
    res = scenario.run(scenario.loads(text, "all.toml"), check=True)
    assert res.failed == 0, res.log
    assert snap(res, "after step 1", "swappiness") == "30\n"
    assert "/f" not in snap(res, "after step 13", "1/maps")
    assert res.snapshots[-1][2].startswith("(/proc/1/status")        # p has exited
    assert res.machine.sysctl["vm.dirty_expire_centisecs"] == 100
    # the 5 s sleep plus the nominal time of the steps' work (linuxvm/kernel/time.py)
    assert 5 * 10**9 < res.machine.clock_ns < 5 * 10**9 + 10**6
    assert res.procs["c"].task.mm is not None


def test_step_failure_stops_the_run(tmp_path):
    text = """[machine]\nram = "128M"\n[[process]]\nname = "a"\n[[step]]
op = "mmap"\nprocess = "a"\nsize = "1T"\n"""
    with pytest.raises(scenario.StepFailed, match=r"^x.toml:5: step 1 \(mmap\) failed: ENOMEM"):
        scenario.run(scenario.loads(text, "x.toml"), check=True)


def cli(*argv):
    p = subprocess.run([sys.executable, "-m", "linuxvm.cli", *argv], capture_output=True,
                       text=True, timeout=300, cwd=ROOT)
    return p.returncode, p.stdout, p.stderr


def test_cli_run_summary():
    rc, out, err = cli("run", "examples/autopsy.toml", "--check")
    assert (rc, err) == (0, "")
    assert "== after memset: /proc/1/smaps ==" in out
    for word in ("VSZ kB", "RSS kB", "swap kB", "MemFree", "Cached", "SwapUsed", "OOM kills",
                 "major faults"):
        assert word in out
    assert "│ autopsy │   1 │  10240 │" in out


def test_diff_side_by_side(tmp_path):
    rc, out, err = cli("diff", "examples/forkbomb.toml", "--a", "vm.overcommit_memory=2",
                       "--b", "vm.overcommit_memory=1", "--only-diff")
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("A: vm.overcommit_memory=2") and "B: vm.overcommit_memory=1" \
        in lines[0]
    committed = [l for l in lines if l.startswith("Committed_AS")]
    assert committed and all(" ! " in l for l in committed)
    assert any(l.startswith("== /proc/vmstat at the end ==") for l in lines)
    assert any("failed: ENOMEM" in l and " ! " in l for l in lines)      # A fails, B does not


def test_diff_same_overrides_is_all_equal():
    ra, rb = diff.what_if(example("autopsy.toml"), {"vm.swappiness": "10"},
                          {"vm.swappiness": "10"})
    rows = diff.report(ra, rb, "a", "b")
    assert rows and not any(d for _, d in rows)
    assert diff.report(ra, rb, "a", "b", only_diff=True)[-1][0].startswith("== ")


def test_diff_bad_override():
    rc, out, err = cli("diff", "examples/autopsy.toml", "--a", "vm.nosuch=1")
    assert rc == 2 and "unknown sysctl 'vm.nosuch'" in err and "Traceback" not in err
    rc, out, err = cli("diff", "examples/autopsy.toml", "--b", "swappiness")
    assert rc == 2 and "NAME=VALUE" in err


def test_cli_step_failure_status_1(tmp_path):
    f = tmp_path / "big.toml"
    f.write_text('[machine]\nram = "128M"\n[[process]]\nname = "a"\n[[step]]\n'
                 'op = "mmap"\nprocess = "a"\nsize = "1T"\n')
    rc, out, err = cli("run", str(f))
    assert rc == 1 and err == f"linuxvm: {f}:5: step 1 (mmap) failed: ENOMEM\n"


def test_cli_run_plot(tmp_path):
    """`linuxvm run --plot DIR` draws the run: the machine at the end, and the
    snapshots' free pages and RSS over time."""
    rc, out, err = cli("run", "examples/autopsy.toml", "--plot", str(tmp_path / "pics"))
    assert (rc, err) == (0, "")
    for name in ("physmap.png", "frag.png", "timeline.png"):
        f = tmp_path / "pics" / name
        assert f"wrote {f}" in out
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_run_plot_without_time_series(tmp_path):
    """A run whose snapshots hold no meminfo or status still gets the two end pictures."""
    f = tmp_path / "s.toml"
    f.write_text('[machine]\nram = "128M"\n[[process]]\nname = "a"\n[[step]]\n'
                 'op = "mmap"\nprocess = "a"\nsize = "1M"\n[[snapshot]]\nname = "end"\n'
                 'files = ["/proc/buddyinfo"]\n')
    rc, out, err = cli("run", str(f), "--plot", str(tmp_path / "pics"))
    assert (rc, err) == (0, "")
    assert sorted(p.name for p in (tmp_path / "pics").iterdir()) == ["frag.png", "physmap.png"]


def test_cli_run_plot_unwritable(tmp_path):
    (tmp_path / "file").write_text("")
    rc, out, err = cli("run", "examples/autopsy.toml", "--plot", str(tmp_path / "file"))
    assert rc == 2 and "cannot write pictures to" in err and "Traceback" not in err
