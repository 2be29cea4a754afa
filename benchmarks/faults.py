"""Anonymous write faults per second, model vs the live kernel, on the same workload.

Usage: python benchmarks/faults.py [MiB]   (default 256)

The live side is benchmarks/faults_live.c (MADV_NOHUGEPAGE, one store per page). The
model side touches the same range one page at a time through the full per-access path
(TLB → page walk → #PF → __do_page_fault → handle_mm_fault; a first write touch of a
plain anonymous page takes those steps inline, the ``touch_write`` accelerator, and is
also timed on a machine without it), then times fork+exit of the process with the range
touched (best of 3 on both sides). Ratios are printed from this one run.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import _live  # noqa: E402

import linuxvm as lv  # noqa: E402
from linuxvm.lib.accel_registry import REGISTRY  # noqa: E402


def _fork_exit(p) -> float:
    t0 = time.perf_counter()
    c = p.fork()
    c.exit()
    return time.perf_counter() - t0


def model(mib: int, bulk: bool, fast=True) -> dict:
    m = lv.Machine(ram=f"{max(1024, mib * 4)}M", cpus=2, seed=0, fast=fast)
    p = m.spawn("bench")
    length = mib << 20
    a = p.mmap(None, length, 3, 0x22)
    f0 = p.task.min_flt
    t0 = time.perf_counter()
    p.touch(a, length, write=True, bulk=bulk)
    dt = time.perf_counter() - t0
    faults = p.task.min_flt - f0
    fork_exit = min(_fork_exit(p) for _ in range(3))     # best of 3, as the live side
    m.check()
    return {"faults": faults, "fault_seconds": dt, "faults_per_second": faults / dt,
            "fork_exit_seconds": fork_exit}


def main():
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    src = open(os.path.join(os.path.dirname(__file__), "faults_live.c")).read()
    exe = _live.compile_c(src, "faults_live")
    live = _live.run_c(exe, mib, 3) if exe else None
    mod = model(mib, bulk=False)
    blk = model(mib, bulk=True)
    # for comparison, every page through user_access and the fault handler's functions one
    # call at a time: the reference the inline first touch is proven equal to
    ref = model(mib, bulk=False, fast=set(REGISTRY) - {"touch_write"})
    print(f"workload: write-touch {mib} MiB of private anonymous memory, 4 KiB pages")
    print(f"model, per-access path: {mod['faults']:.0f} faults in {mod['fault_seconds']:.3f} s = "
          f"{mod['faults_per_second']:,.0f} faults/s; fork+exit {mod['fork_exit_seconds']:.3f} s")
    print(f"model, per-access path without touch_write: {ref['faults']:.0f} faults in "
          f"{ref['fault_seconds']:.3f} s = {ref['faults_per_second']:,.0f} faults/s")
    print(f"model, bulk path:       {blk['faults']:.0f} faults in {blk['fault_seconds']:.3f} s = "
          f"{blk['faults_per_second']:,.0f} faults/s")
    if live is None:
        print("live kernel: gcc not found, no ratio")
        return
    print(f"live:  {live['faults']:.0f} faults in {live['fault_seconds']:.3f} s = "
          f"{live['faults_per_second']:,.0f} faults/s; fork+exit {live['fork_exit_seconds']:.4f} s")
    print(f"ratio model/live faults per second, per-access path: "
          f"{mod['faults_per_second'] / live['faults_per_second']:.4f} (goal >= 0.25)")
    print(f"ratio model/live faults per second, per-access path without touch_write: "
          f"{ref['faults_per_second'] / live['faults_per_second']:.4f} (for comparison)")
    print(f"ratio model/live faults per second, bulk path: "
          f"{blk['faults_per_second'] / live['faults_per_second']:.4f} (goal >= 1.0)")
    print(f"ratio model/live fork+exit time: "
          f"{mod['fork_exit_seconds'] / live['fork_exit_seconds']:.1f}x (goal <= 2x)")


if __name__ == "__main__":
    main()
