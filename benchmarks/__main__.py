"""Every benchmark in one run: model figure, live-kernel figure, ratio; one table, one JSON.

    python -m benchmarks [--quick] [--rounds N] [--json PATH] [--scale S] [--only NAME,...]
                         [--slow]

Each row runs the same steps in the model (through the public API, as a user's program
would) and on the live kernel of this machine (benchmarks/suite_live.c and
benchmarks/workload_live.c, compiled with gcc in this run), and keeps the best of
``--rounds`` rounds on both sides alike. The ratio is model speed over live speed (1.0:
as fast as the live kernel; 0.1: ten times slower). Rows without a live counterpart
(kernel-internal calls) are measured against their absolute goal. ``--slow`` also runs
each row with every accelerator off (``Machine(fast=False)``). The JSON file (default
benchmarks/results.json) holds every row and the run's parameters, for tracking figures
over time. ``--quick`` uses the smallest sizes (for tests and CI); no test asserts on time.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import _live  # noqa: E402
import kmalloc as _kmalloc  # noqa: E402
import page_alloc as _page_alloc  # noqa: E402
import replay as _replay  # noqa: E402
import tlb as _tlb  # noqa: E402
import workload as _workload  # noqa: E402

import linuxvm as lv  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PROT = lv.PROT_READ | lv.PROT_WRITE
FLAGS = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
PAGE = 4096


class Row:
    """One benchmark: what it measures, its model rounds and its live mode."""

    def __init__(self, name, measures, unit, size, model, live=None, goal=None,
                 goal_abs=None, kind="rate"):
        self.name, self.measures, self.unit, self.size = name, measures, unit, size
        self.model, self.live, self.goal, self.goal_abs, self.kind = (
            model, live, goal, goal_abs, kind)


def _machine(mib: int, fast=True):
    return lv.Machine(ram=f"{max(1024, 4 * mib)}M", cpus=2, seed=0, fast=fast)


# -- model rounds: each returns (seconds, operations) of its timed part -----------------

def _per_page(mib, fast, step, setup=None):
    """Rounds that map ``mib`` MiB and call ``step(p, va)`` on each page in turn."""
    m = _machine(mib, fast)
    p = m.spawn("bench")
    length = mib << 20

    def one():
        a = p.mmap(None, length, PROT, FLAGS)
        if setup is not None:
            setup(p, a, length)
        f0 = p.task.min_flt
        t0 = time.perf_counter()
        for va in range(a, a + length, PAGE):
            step(p, va)
        dt = time.perf_counter() - t0
        n = p.task.min_flt - f0
        p.munmap(a, length)
        m.check()
        return dt, n
    return one


def write_access(mib, fast):
    return _per_page(mib, fast, lambda p, va: p.access(va, "w"))


def write_touch_page(mib, fast):
    return _per_page(mib, fast, lambda p, va: p.touch(va, PAGE, write=True))


def read_access(mib, fast):
    return _per_page(mib, fast, lambda p, va: p.access(va, "r"))


def write_touch_range(mib, fast, bulk=False):
    m = _machine(mib, fast)
    p = m.spawn("bench")
    length = mib << 20

    def one():
        a = p.mmap(None, length, PROT, FLAGS)
        f0 = p.task.min_flt
        t0 = time.perf_counter()
        p.touch(a, length, write=True, bulk=bulk)
        dt = time.perf_counter() - t0
        n = p.task.min_flt - f0
        p.munmap(a, length)
        m.check()
        return dt, n
    return one


def _cow(mib, fast, per_page):
    m = _machine(mib, fast)
    p = m.spawn("bench")
    length = mib << 20

    def one():
        a = p.mmap(None, length, PROT, FLAGS)
        p.touch(a, length, write=True)
        c = p.fork()
        f0 = p.task.min_flt
        t0 = time.perf_counter()
        if per_page:
            for va in range(a, a + length, PAGE):
                p.access(va, "w")
        else:
            p.touch(a, length, write=True)
        dt = time.perf_counter() - t0
        n = p.task.min_flt - f0
        c.exit()
        p.munmap(a, length)
        m.check()
        return dt, n
    return one


def cow_touch(mib, fast):
    return _cow(mib, fast, per_page=False)


def cow_access(mib, fast):
    return _cow(mib, fast, per_page=True)


def munmap_touched(mib, fast):
    m = _machine(mib, fast)
    p = m.spawn("bench")
    length = mib << 20

    def one():
        a = p.mmap(None, length, PROT, FLAGS)
        p.touch(a, length, write=True)
        t0 = time.perf_counter()
        p.munmap(a, length)
        dt = time.perf_counter() - t0
        m.check()
        return dt, length // PAGE
    return one


def exit_touched(mib, fast):
    m = _machine(mib, fast)
    length = mib << 20

    def one():
        q = m.spawn("bench")
        a = q.mmap(None, length, PROT, FLAGS)
        q.touch(a, length, write=True)
        t0 = time.perf_counter()
        q.exit()
        dt = time.perf_counter() - t0
        m.check()
        return dt, length // PAGE
    return one


def fork_exit(mib, fast):
    m = _machine(mib, fast)
    p = m.spawn("bench")
    length = mib << 20
    a = p.mmap(None, length, PROT, FLAGS)
    p.touch(a, length, write=True)

    def one():
        t0 = time.perf_counter()
        c = p.fork()
        c.exit()
        dt = time.perf_counter() - t0
        m.check()
        return dt, 1
    return one


def _mmap_pairs(n, fast, neighbours=True, touched=False):
    m = lv.Machine(ram="256M", cpus=2, seed=0, fast=fast)
    p = m.spawn("bench")
    if neighbours:
        for i in range(16):
            q = p.mmap(None, PAGE, PROT if i % 2 else lv.PROT_READ, FLAGS)
            p.touch(q, PAGE)

    def one():
        t0 = time.perf_counter()
        for _ in range(n):
            a = p.mmap(None, 1 << 16, PROT, FLAGS)
            if touched:
                for va in range(a, a + (1 << 16), PAGE):
                    p.access(va, "w")
            p.munmap(a, 1 << 16)
        dt = time.perf_counter() - t0
        m.check()
        return dt, n
    return one


def mmap_pairs(n, fast):
    return _mmap_pairs(n, fast)


def mmap_pairs_bare(n, fast):
    return _mmap_pairs(n, fast, neighbours=False)


def mmap_pairs_touched(n, fast):
    return _mmap_pairs(n, fast, touched=True)


def _internal(n, fast, make):
    m = lv.Machine(ram="1G", cpus=2, seed=0, fast=fast)
    run = make(m)

    def one():
        dt = run(n)
        m.check()
        return dt, n
    return one


def alloc_order0(n, fast):
    return _internal(n, fast, _page_alloc.direct_pairs)


def kmalloc_pairs(n, fast):
    return _internal(n, fast, _kmalloc.slab_pairs)


def tlb_hits(n, fast):
    m, cpu, base = _tlb.setup(fast)
    n = max(8, n - n % 8)

    def one():
        rate = _tlb.bench_hits(cpu, base, n)
        return n / rate, n
    return one


def replay_hits(n, fast):
    m, p = _replay.setup(fast)

    def one():
        rate, _ = _replay.bench_hits(p, int(n))
        return n / rate, n
    return one


def workload_model(scale, fast):
    procs, mib, ram = _workload.sizes(8, 512, 4, scale)

    def one():
        return _workload.model(procs, mib, ram, fast), 1
    return one


ROWS = [
    Row("write faults, p.access", "p.access(va, 'w') on each page of a fresh mapping",
        "faults/s", 32, write_access, "write", goal=0.2),
    Row("write faults, p.touch(va, 4096)", "p.touch(va, 4096, write=True) on each page",
        "faults/s", 32, write_touch_page, "write", goal=0.2),
    Row("write faults, p.touch(range)", "one p.touch over the whole range (bulk=False)",
        "faults/s", 32, write_touch_range, "write", goal=0.25),
    Row("read faults (zero page)", "p.access(va, 'r') on each page: zero-page faults",
        "faults/s", 32, read_access, "read", goal=0.25),
    Row("COW faults, p.touch(range)", "after fork, the parent writes its range (one p.touch)",
        "faults/s", 64, cow_touch, "cow", goal=0.25),
    Row("COW faults, p.access", "after fork, the parent writes each page (p.access)",
        "faults/s", 32, cow_access, "cow", goal=0.25),
    Row("munmap of touched memory", "munmap of a written range", "pages/s", 256,
        munmap_touched, "munmap", goal=0.5),
    Row("exit with touched memory", "exit of a process that wrote its range", "pages/s",
        256, exit_touched, "exit", goal=0.5),
    Row("fork+exit", "fork of a process with the range written, child exits",
        "pairs/s", 256, fork_exit, "forkexit", goal=0.5),
    Row("mmap+munmap 64 KiB", "untouched 64 KiB beside 16 read one-page neighbours",
        "pairs/s", 20000, mmap_pairs, "mmap64k", goal=0.5),
    Row("mmap+munmap 64 KiB, bare", "untouched 64 KiB, no neighbours (no PTE table)",
        "pairs/s", 20000, mmap_pairs_bare, "mmap64k-bare", goal=0.5),
    Row("mmap+munmap 64 KiB, touched", "each of the 16 pages written before munmap",
        "pairs/s", 2000, mmap_pairs_touched, "mmap64k-touched"),
    Row("order-0 alloc+free", "__alloc_pages_nodemask + __free_pages", "pairs/s", 200_000,
        alloc_order0, goal_abs=1e6),
    Row("kmalloc+kfree", "m.slab.kmalloc(64) + kfree", "pairs/s", 300_000, kmalloc_pairs,
        goal_abs=1e6),
    Row("TLB hits", "mmu.translate on a TLB-resident page", "hits/s", 2_000_000, tlb_hits,
        goal_abs=2e6),
    Row("trace replay, TLB hits", "p.access_batch of a lackey-like loop (replay-trace)",
        "accesses/s", 1_000_000, replay_hits, goal_abs=1e6),
    Row("workload", "8 procs x 512 MiB on 4 GiB, fork, child writes half, exit (scaled)",
        "runs/s", 1.0, workload_model, "workload", goal=1 / 3, kind="time"),
]

QUICK_SIZES = {"mmap64k": 200, "mmap64k-bare": 200, "mmap64k-touched": 20}


def quick_size(row):
    if row.live in QUICK_SIZES:
        return QUICK_SIZES[row.live]
    if row.live == "workload":
        return 1 / 256
    if row.goal_abs is not None:
        return 2000
    return 1


def best(one, rounds):
    """(seconds, operations) of the fastest of ``rounds`` rounds."""
    return min((one() for _ in range(rounds)), key=lambda r: r[0] / max(r[1], 1))


def live_figure(exe, row, size, rounds):
    """(seconds, operations) on the live kernel, or None."""
    if row.live is None or exe is None:
        return None
    if row.live == "workload":
        procs, mib, _ = _workload.sizes(8, 512, 4, size)
        wexe = exe["workload"]
        runs = [_live.run_c(wexe, procs, mib)["seconds"] for _ in range(rounds)]
        return min(runs), 1
    r = _live.run_c(exe["suite"], row.live, size, rounds)
    return r["seconds"], r["ops"]


def compile_live():
    exes = {}
    for name in ("suite", "workload"):
        src = open(os.path.join(HERE, f"{name}_live.c")).read()
        exe = _live.compile_c(src, f"{name}_live")
        if exe is None:
            return None
        exes[name] = exe
    return exes


def _fmt(x):
    if x is None:
        return "—"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smallest sizes, one round")
    ap.add_argument("--rounds", type=int, default=None, help="best of N (default 3; quick 1)")
    ap.add_argument("--json", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--scale", type=float, default=None,
                    help="workload scale (default 1.0; quick 1/256)")
    ap.add_argument("--workload-rounds", type=int, default=1,
                    help="best of N for the workload row, both sides (default 1: it is long)")
    ap.add_argument("--only", default=None, help="comma-separated row names (substrings)")
    ap.add_argument("--slow", action="store_true",
                    help="also measure the model with every accelerator off")
    a = ap.parse_args(argv)
    rounds = a.rounds or (1 if a.quick else 3)
    rows = ROWS
    if a.only:
        keys = [k.strip().lower() for k in a.only.split(",")]
        rows = [r for r in rows if any(k in r.name.lower() for k in keys)]
    exe = compile_live()
    load0 = os.getloadavg()[0]
    results = []
    for row in rows:
        size = quick_size(row) if a.quick else row.size
        n = rounds
        if row.live == "workload":
            n = min(rounds, a.workload_rounds)
            if a.scale is not None:
                size = a.scale
        ms, mops = best(row.model(size, True), n)
        slow = best(row.model(size, False), n) if a.slow else None
        lv_ = live_figure(exe, row, size, n)
        model_rate = mops / ms
        live_rate = None if lv_ is None else lv_[1] / lv_[0]
        ratio = None if live_rate is None else model_rate / live_rate
        res = {"name": row.name, "measures": row.measures, "unit": row.unit, "size": size,
               "rounds": n, "model_seconds": ms, "model_ops": mops,
               "model": model_rate, "live": live_rate, "ratio": ratio,
               "live_seconds": None if lv_ is None else lv_[0],
               "goal_ratio": row.goal, "goal_abs": row.goal_abs,
               "model_slow": None if slow is None else slow[1] / slow[0]}
        if row.kind == "time":
            res["unit"] = "seconds"
            res["model"], res["live"] = ms, None if lv_ is None else lv_[0]
        results.append(res)
        print(f"  {row.name}: done", file=sys.stderr, flush=True)
    print_table(results, rounds, load0, exe is not None, a.slow)
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "python": platform.python_version(), "host": platform.node(),
            "kernel": platform.release(), "rounds": rounds, "quick": a.quick,
            "load_before": load0, "load_after": os.getloadavg()[0],
            "live": exe is not None, "commit": _commit()}
    with open(a.json, "w") as f:
        json.dump({"meta": meta, "rows": results}, f, indent=1)
    print(f"wrote {a.json}")


def _commit():
    try:
        return subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip() or None
    except OSError:
        return None


def print_table(results, rounds, load, live, slow):
    print(f"# linuxvm benchmarks: best of {rounds} on both sides; ratio = model speed / live "
          f"speed; host load {load:.2f}" + ("" if live else "; gcc missing: no live figures"))
    head = f"{'benchmark':<32} {'model':>12} {'live':>12} {'unit':<9} {'ratio':>7} {'goal':>9}"
    if slow:
        head += f" {'fast=False':>12}"
    print(head)
    print("-" * len(head))
    for r in results:
        goal = (f">={r['goal_ratio']:.2g}x" if r["goal_ratio"] is not None else
                f">={r['goal_abs']:,.0f}" if r["goal_abs"] is not None else "")
        met = ""
        if r["goal_ratio"] is not None and r["ratio"] is not None:
            met = " ok" if r["ratio"] >= r["goal_ratio"] else " NO"
        elif r["goal_abs"] is not None:
            met = " ok" if r["model"] >= r["goal_abs"] else " NO"
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.3f}"
        line = (f"{r['name']:<32} {_fmt(r['model']):>12} {_fmt(r['live']):>12} "
                f"{r['unit']:<9} {ratio:>7} {goal:>9}{met}")
        if slow:
            line += f" {_fmt(r['model_slow']):>12}"
        print(line)
    print("what each row measures:")
    for r in results:
        print(f"  {r['name']}: {r['measures']} (size {r['size']:g})")


if __name__ == "__main__":
    main()
