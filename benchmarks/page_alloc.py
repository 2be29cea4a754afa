"""Order-0 alloc+free pairs per second, through ``m.kernel.alloc_pages/free_pages`` and
through ``__alloc_pages_nodemask/__free_pages`` directly. Goal: 1,000,000 pairs/s.

Also a mixed pattern (runs of 64 allocations then 64 frees) that exercises the pcp
refill and free_pcppages_bulk, order-3 pairs that go to the buddy lists, and order-9
compound pairs (the page checks are vectorised from order 4 up). The general path (the
reference code, ``Machine(fast=False)``) is measured in the same run for the ratio.

    python benchmarks/page_alloc.py [--profile]
"""

import cProfile
import pstats
import sys
import time

import linuxvm as lv
from linuxvm.mm import page_alloc as pa
from linuxvm.mm.gfp import GFP_KERNEL

alloc_pages_nodemask = pa.__alloc_pages_nodemask
free_pages = pa.__free_pages


def best_of(fn, n, repeat=3):
    return max(n / fn(n) for _ in range(repeat))


def kernel_pairs(m, gfp="GFP_KERNEL", order=0):
    k = m.kernel

    def run(n):
        t = time.perf_counter()
        for _ in range(n):
            k.free_pages(k.alloc_pages(gfp, order), order)
        return time.perf_counter() - t
    return run


def direct_pairs(m, order=0):
    pgdat = m.pgdat

    def run(n):
        t = time.perf_counter()
        for _ in range(n):
            free_pages(pgdat, alloc_pages_nodemask(pgdat, GFP_KERNEL, order, 0), order, 0)
        return time.perf_counter() - t
    return run


def direct_runs(m, run_len=64):
    pgdat = m.pgdat

    def run(n):
        held = [0] * run_len
        t = time.perf_counter()
        for _ in range(n // run_len):
            for i in range(run_len):
                held[i] = alloc_pages_nodemask(pgdat, GFP_KERNEL, 0, 0)
            for p in held:
                free_pages(pgdat, p, 0, 0)
        return time.perf_counter() - t
    return run


def main(argv):
    m = lv.Machine(ram="1G", cpus=2, seed=0)
    reference = lv.Machine(ram="1G", cpus=2, seed=0, fast=False)
    n = 200_000
    if "--profile" in argv:
        prof = cProfile.Profile()
        prof.runcall(direct_runs(m), n)
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
        return
    general = best_of(direct_pairs(reference), n)
    rows = [
        ("m.kernel.alloc_pages/free_pages, order 0", best_of(kernel_pairs(m), n)),
        ("__alloc_pages_nodemask/__free_pages, order 0", best_of(direct_pairs(m), n)),
        ("  the same with fast=False (general path)", general),
        ("direct, runs of 64 allocs then 64 frees", best_of(direct_runs(m), n)),
        ("m.kernel order 3 (buddy lists, no pcp)", best_of(kernel_pairs(m, order=3), n // 4)),
        ("m.kernel order 9, __GFP_COMP (a THP's block)",
         best_of(kernel_pairs(m, "GFP_HIGHUSER_MOVABLE|__GFP_COMP", 9), n // 20)),
    ]
    m.check()
    reference.check()
    for name, rate in rows:
        print(f"{name:<48} {rate:12,.0f} pairs/s")
    print(f"fused fast path / general path: {rows[1][1] / general:.2f}x")
    print("goal: 1,000,000 order-0 pairs/s")


if __name__ == "__main__":
    main(sys.argv[1:])
