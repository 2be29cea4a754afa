"""A realistic run, model vs the live kernel: each of N processes touches M MiB on a
machine of R GiB, forks a child that writes half of it, both exit.

    python benchmarks/workload.py [--procs 8] [--mib 512] [--ram-gib 4] [--scale 1.0]

The processes run one after another (the live side is benchmarks/workload_live.c, the
same steps in C). ``--scale`` multiplies M and R (the model's machine never goes below
256 MiB) so CI can run a small copy; the figure is the wall time of the whole run on
each side and their ratio.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import _live  # noqa: E402

import linuxvm as lv  # noqa: E402

PROT = lv.PROT_READ | lv.PROT_WRITE
FLAGS = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS


def sizes(procs: int, mib: int, ram_gib: float, scale: float) -> tuple:
    """(processes, MiB each, machine MiB) after scaling."""
    mib = max(1, int(mib * scale))
    ram = max(256, int(ram_gib * 1024 * scale))
    return procs, mib, ram


def model(procs: int, mib: int, ram_mib: int, fast=True) -> float:
    """Seconds the model takes for the run (boot excluded)."""
    m = lv.Machine(ram=f"{ram_mib}M", cpus=2, seed=0, fast=fast)
    length = mib << 20
    t0 = time.perf_counter()
    for i in range(procs):
        p = m.spawn(f"worker{i}")
        a = p.mmap(None, length, PROT, FLAGS)
        p.touch(a, length, write=True)
        c = p.fork()
        c.touch(a, length // 2, write=True)
        c.exit()
        p.exit()
    dt = time.perf_counter() - t0
    m.check()
    return dt


def live(procs: int, mib: int) -> float | None:
    """Seconds the live kernel takes for the same run; None without gcc."""
    src = open(os.path.join(os.path.dirname(__file__), "workload_live.c")).read()
    exe = _live.compile_c(src, "workload_live")
    if exe is None:
        return None
    return _live.run_c(exe, procs, mib)["seconds"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--ram-gib", type=float, default=4)
    ap.add_argument("--scale", type=float, default=1.0)
    a = ap.parse_args(argv)
    procs, mib, ram = sizes(a.procs, a.mib, a.ram_gib, a.scale)
    print(f"workload: {procs} processes x {mib} MiB on a {ram} MiB machine, each forks a "
          f"child that writes half, both exit")
    t_live = live(procs, mib)
    t_model = model(procs, mib, ram)
    print(f"model {t_model:.2f} s")
    if t_live is None:
        print("live: gcc not found, no ratio")
        return
    print(f"live  {t_live:.2f} s")
    print(f"model/live time: {t_model / t_live:.1f}x (goal <= 3x)")


if __name__ == "__main__":
    main()
