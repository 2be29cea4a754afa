"""`python -m benchmarks --quick` runs every row and writes them all to its JSON file.

Nothing here looks at a time: the figures depend on the host; the test checks that the
suite runs end to end at its smallest sizes and reports each benchmark once.
"""

import importlib.util
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NAMES = ["write faults, p.access", "write faults, p.touch(va, 4096)",
         "write faults, p.touch(range)", "read faults (zero page)",
         "COW faults, p.touch(range)", "COW faults, p.access", "munmap of touched memory",
         "exit with touched memory", "fork+exit", "mmap+munmap 64 KiB",
         "mmap+munmap 64 KiB, bare", "mmap+munmap 64 KiB, touched", "order-0 alloc+free",
         "kmalloc+kfree", "TLB hits", "trace replay, TLB hits", "workload"]


def test_quick_run_prints_and_writes_every_row(tmp_path):
    out = tmp_path / "results.json"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    table = r.stdout.splitlines()
    for name in NAMES:
        assert sum(line.startswith(name + " ") for line in table) == 1, name
    data = json.loads(out.read_text())
    assert [row["name"] for row in data["rows"]] == NAMES
    for row in data["rows"]:
        assert row["model"] > 0
        if data["meta"]["live"] and row["goal_abs"] is None:
            assert row["live"] > 0 and row["ratio"] > 0, row["name"]
    assert data["meta"]["quick"] is True


def _benchmark_module(name):
    """Load benchmarks/NAME.py by its path: benchmarks/ on sys.path would let a benchmark
    module shadow a standard-library module of its name (benchmarks/mmap.py once did)."""
    spec = importlib.util.spec_from_file_location(
        f"benchmarks_{name}", os.path.join(ROOT, "benchmarks", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_workload_scale_keeps_a_bootable_machine():
    workload = _benchmark_module("workload")
    assert workload.sizes(8, 512, 4, 1.0) == (8, 512, 4096)
    procs, mib, ram = workload.sizes(8, 512, 4, 1 / 1024)
    assert (procs, mib) == (8, 1) and ram >= 256
