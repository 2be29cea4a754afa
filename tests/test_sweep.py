"""Sweeps (issue 18 part 5): one scenario over parameter combinations x seeds, one row per
run; the same table from this process, local processes and a Dask LocalCluster; bad
arguments as one line with status 2; sweeps over the worked examples in examples/."""

import importlib.util
import io
import os

import pytest

from linuxvm import cli
from linuxvm.errors import KernelBug
from linuxvm.tools import scenario, sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EX = os.path.join(ROOT, "examples")

# a tiny machine: map and touch 8 MiB, then four order-2 atomic kernel allocations
TINY = """\
description = "tiny: 8 MiB touched, four order-2 kernel allocations"
[machine]
ram = "64M"
seed = 0

[[process]]
name = "a"

[[step]]
op = "mmap"
process = "a"
region = "buf"
size = "8M"

[[step]]
op = "touch"
process = "a"
region = "buf"
write = true

[[step]]
op = "kernel_alloc"
order = 2
gfp = "GFP_ATOMIC"
count = 4
"""
PARAMS = [("vm.min_free_kbytes", ["1024", "4096"]), ("vm.swappiness", ["10", "60"])]
SEEDS = [0, 1]
FIGS = ("free_pages", "processes", "failed_steps", "aborted_at", "kernel_allocs",
        "meminfo.AnonPages", "vmstat.pgfault", "buddyinfo.0", "status.a.VmRSS", "digest")


def tiny(**kw):
    kw.setdefault("figures", FIGS)
    return sweep.sweep(TINY, PARAMS, SEEDS, path="tiny.toml", **kw)


@pytest.fixture(scope="module")
def serial():
    return tiny(jobs=1, check_each=True)      # m.check() after every step of every run


def test_small_sweep_rows(serial):
    t = serial
    assert t.columns == ["vm.min_free_kbytes", "vm.swappiness", "seed", *FIGS]
    # parameters x seeds, in the order given
    assert [r[:3] for r in t.rows] == [(1024, 10, 0), (1024, 10, 1), (1024, 60, 0),
                                      (1024, 60, 1), (4096, 10, 0), (4096, 10, 1),
                                      (4096, 60, 0), (4096, 60, 1)]
    col = {c: i for i, c in enumerate(t.columns)}
    for r in t.rows:
        assert r[col["processes"]] == 1 and r[col["failed_steps"]] == 0
        assert r[col["aborted_at"]] == 0 and r[col["kernel_allocs"]] == 4
        assert r[col["meminfo.AnonPages"]] == 8192
        # VmRSS lags: the task's RSS events reach the mm every 64 (SPLIT_RSS_COUNTING)
        assert 8192 - 64 * 4 < r[col["status.a.VmRSS"]] <= 8192
        assert r[col["vmstat.pgfault"]] >= 2048          # one fault per page at least
        assert len(r[col["digest"]]) == 16
    # each row is what run_one gives for that run alone
    one = sweep.run_one(TINY, "tiny.toml", (("vm.min_free_kbytes", "4096"),
                                            ("vm.swappiness", "60")), 1, FIGS)
    assert t.rows[-1][3:] == one


def test_sweep_is_deterministic(serial):
    assert tiny(jobs=1) == serial


def test_local_processes_give_the_same_table(serial):
    assert tiny(jobs=2) == serial


def test_dask_local_cluster_gives_the_same_table(serial):
    if importlib.util.find_spec("distributed") is None:
        pytest.skip("dask.distributed is not installed (pip install 'linuxvm[cluster]')")
    done = []
    t = tiny(scheduler="local", jobs=1, progress=lambda d, n: done.append((d, n)),
             cluster_options=dict(processes=False, n_workers=1, threads_per_worker=1))
    assert t == serial
    assert done[-1] == (8, 8)


def test_dask_unreachable_scheduler():
    if importlib.util.find_spec("distributed") is None:
        pytest.skip("dask.distributed is not installed (pip install 'linuxvm[cluster]')")
    with pytest.raises(sweep.SweepError, match="cannot reach the Dask scheduler"):
        tiny(scheduler="tcp://127.0.0.1:9", connect_timeout=1)


def test_csv_and_summary(serial):
    f = io.StringIO()
    serial.write_csv(f)
    lines = f.getvalue().splitlines()
    assert lines[0] == "vm.min_free_kbytes,vm.swappiness,seed," + ",".join(FIGS)
    assert len(lines) == 9 and lines[1].startswith("1024,10,0,")
    header, rows = sweep.summary(serial, 2)
    assert header[:3] == ["vm.min_free_kbytes", "vm.swappiness", "runs"]
    assert [r[:3] for r in rows] == [["1024", "10", "2"], ["1024", "60", "2"],
                                     ["4096", "10", "2"], ["4096", "60", "2"]]
    assert rows[0][header.index("kernel_allocs")] == "4"


def test_parquet(serial, tmp_path, monkeypatch):
    if importlib.util.find_spec("pyarrow") is not None:
        import pyarrow.parquet
        serial.write(str(tmp_path / "t.parquet"))
        back = pyarrow.parquet.read_table(str(tmp_path / "t.parquet"))
        assert back.column_names == serial.columns and back.num_rows == 8
    monkeypatch.setattr(sweep, "parquet_available", lambda: False)
    with pytest.raises(sweep.SweepError, match="needs pyarrow"):
        serial.write(str(tmp_path / "u.parquet"))


def test_machine_params_and_refused_run():
    t = sweep.sweep(TINY, [("ram", ["64M", "128M"])], [0], ("free_pages",))
    assert t.rows[0][0] == "64M" and t.rows[1][2] > t.rows[0][2] + 8192
    # checked before any run: a size that is no size; at run time: too small to boot
    with pytest.raises(sweep.SweepError, match="--param ram=lots"):
        sweep.sweep(TINY, [("ram", ["lots"])], [0])
    with pytest.raises(sweep.SweepError, match=r"run ram=16M, seed 0: .*too small"):
        sweep.sweep(TINY, [("ram", ["16M"])], [0])


def test_aborted_run_is_measured_where_it_stopped():
    text = TINY.replace('size = "8M"', 'size = "1G"')    # heuristic overcommit: ENOMEM
    t = sweep.sweep(text, [], [0], ("failed_steps", "aborted_at", "processes",
                                    "kernel_allocs"))
    assert t.columns == ["seed", "failed_steps", "aborted_at", "processes", "kernel_allocs"]
    assert t.rows == [(0, 1, 1, 1, 0)]


def test_a_model_defect_names_its_run(monkeypatch):
    def boom(scn, check=False, progress=None):
        raise KernelBug("bad page state")
    monkeypatch.setattr(scenario, "run", boom)
    with pytest.raises(sweep.RunError, match=r"run vm.swappiness=10, seed 3: KernelBug: "
                                             r"bad page state") as e:
        sweep.sweep(TINY, [("vm.swappiness", ["10"])], [3])
    assert "Traceback" in e.value.detail


@pytest.mark.parametrize("text, expected", [
    ("0..3", [0, 1, 2, 3]), ("7", [7]), ("0..2,9,1", [0, 1, 2, 9]), ("5..5", [5]),
])
def test_parse_seeds(text, expected):
    assert sweep.parse_seeds(text) == expected


BAD = [   # (extra arguments, a part of the one error line)
    (["--param", "vm.swappiness"], "--param is NAME=VALUE"),
    (["--param", "=1,2"], "--param is NAME=VALUE"),
    (["--param", "vm.swappiness=1,,2"], "empty value"),
    (["--param", "vm.swappiness=1", "--param", "vm.swappiness=2"], "given twice"),
    (["--param", "vm.nosuch=1"], "not a sysctl"),
    (["--param", "vm.swappiness=300"], "the sysctl refuses it"),
    (["--param", "cpus=0"], "cpus must be from 1 to 256"),
    (["--param", "seed=1,2"], "--seeds"),
    (["--seeds", "a..b"], "--seeds wants N, A..B"),
    (["--seeds", "5..1"], "empty range"),
    (["--seeds", "-1"], "--seeds wants"),
    (["--figure", "nosuch"], "unknown figure 'nosuch'"),
    (["--figure", "vmstat.nosuch"], "/proc/vmstat has no field"),
    (["--figure", "buddyinfo.11"], "order is 0 to 10"),
    (["--figure", "status.b.VmRSS"], "no process 'b'"),
    (["--figure", "status.a.Name"], "has no number 'Name'"),
    (["--out", "t.txt"], "--out wants a .csv or .parquet"),
    (["--jobs", "0"], "--jobs must be at least 1"),
    (["--scheduler", "somewhere"], "--scheduler wants tcp://"),
]


@pytest.mark.parametrize("extra, message", BAD)
def test_bad_arguments(tmp_path, capsys, extra, message):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    assert cli.main(["sweep", str(path), "--jobs", "1", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("linuxvm: error: ") and message in err
    assert "Traceback" not in err


def test_bad_files_and_missing_extras(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text(TINY.replace('op = "touch"', 'op = "tuoch"'))
    cases = [([str(tmp_path / "none.toml")], "none.toml: No such file"),
             ([str(bad)], "bad.toml:16: unknown step op 'tuoch'")]
    monkeypatch.setattr(sweep, "dask_available", lambda: False)
    monkeypatch.setattr(sweep, "parquet_available", lambda: False)
    good = tmp_path / "tiny.toml"
    good.write_text(TINY)
    cases += [([str(good), "--scheduler", "local"], "pip install 'linuxvm[cluster]'"),
              ([str(good), "--scheduler", "tcp://h:8786"], "needs dask.distributed"),
              ([str(good), "--out", "t.parquet"], "needs pyarrow")]
    for args, message in cases:
        assert cli.main(["sweep", *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


def test_cli_writes_the_table(tmp_path, capsys, serial):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    out = tmp_path / "t.csv"
    assert cli.main(["sweep", str(path), "--param", "vm.min_free_kbytes=1024,4096",
                     "--param", "vm.swappiness=10,60", "--seeds", "0..1",
                     "--figure", ",".join(FIGS), "--out", str(out), "--jobs", "1"]) == 0
    f = io.StringIO()
    serial.write_csv(f)
    assert out.read_text() == f.getvalue()
    text = capsys.readouterr().out
    assert "= 8 runs on this process" in text and "wrote 8 rows to" in text


def test_cli_table_on_stdout(tmp_path, capsys):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    assert cli.main(["sweep", str(path), "--figure", "kernel_allocs", "--jobs", "1"]) == 0
    cap = capsys.readouterr()
    assert cap.out == "seed,kernel_allocs\n0,4\n"      # the scenario's own seed
    assert "1 seed = 1 run on this process" in cap.err


# -- the worked examples ------------------------------------------------------------------------
def example_text(name):
    with open(os.path.join(EX, name), encoding="utf-8") as f:
        return f.read()


def test_sweep_fragmentation_example():
    figs = ("kernel_allocs", "kernel_alloc_failures", "aborted_at", "buddyinfo.3")
    t = sweep.sweep(example_text("fragmentation.toml"),
                    [("vm.min_free_kbytes", ["1024", "8192"])], [0, 1], figs,
                    path="examples/fragmentation.toml", jobs=2)
    rows = {(r[0], r[1]): r[2:] for r in t.rows}
    for seed in (0, 1):
        allocs, failures, aborted, order3 = rows[1024, seed]
        assert allocs > 0 and failures == 1 and aborted == 0 and order3 == 0
        # a bigger reserve: the 104 MiB mmap itself fails (heuristic overcommit leaves
        # out totalreserve_pages), so the run ends at step 1
        assert rows[8192, seed][:3] == (0, 0, 1)


def test_sweep_forkbomb_example():
    figs = ("processes", "failed_steps", "meminfo.Committed_AS", "meminfo.CommitLimit")
    t = sweep.sweep(example_text("forkbomb.toml"),
                    [("vm.overcommit_ratio", ["25", "50"])], [0, 1], figs, jobs=1)
    by = {(r[0], r[1]): r[2:] for r in t.rows}
    for seed in (0, 1):
        for ratio in (25, 50):
            procs, failed, committed, limit = by[ratio, seed]
            assert failed == 1 and committed + 16384 > limit - 8192 >= committed - 8192
        assert by[50, seed][0] > by[25, seed][0] > 1     # more room, more copies
