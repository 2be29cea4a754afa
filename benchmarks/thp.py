"""2 MiB THP faults per second and the cost of a PMD split, model vs the live kernel.

Usage: python benchmarks/thp.py [blocks]   (default 64)

Both sides map an MADV_HUGEPAGE region, store once into each 2 MiB block (one
do_huge_pmd_anonymous_page each), then unmap one 4 KiB page inside each block (one
split_huge_pmd each, the THP going on the deferred split queue). The live side is
benchmarks/thp_live.c; where the live kernel serves no huge pages its figures are only
printed. Ratios are printed from this one run.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import _live  # noqa: E402

import linuxvm as lv  # noqa: E402

M = 2 << 20


def model(n: int) -> dict:
    m = lv.Machine(ram=f"{max(1024, 4 * n * 2 + 256)}M", seed=0)
    p = m.spawn("bench")
    a = p.mmap(None, (n + 1) * M, 3, 0x22)
    b = (a + M - 1) & ~(M - 1)
    p.madvise(a, (n + 1) * M, lv.MADV_HUGEPAGE)
    t0 = time.perf_counter()
    for i in range(n):
        p.write(b + i * M, b"\1")
    t1 = time.perf_counter()
    for i in range(n):
        p.munmap(b + i * M + 4096, 4096)
    t2 = time.perf_counter()
    vm = {k: int(v) for k, v in (l.split() for l in m.proc.read("/proc/vmstat").splitlines())}
    assert vm["thp_fault_alloc"] == n and vm["thp_split_pmd"] == n
    return {"fault_s": t1 - t0, "split_s": t2 - t1}


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    mo = model(n)
    print(f"model: {n / mo['fault_s']:10.0f} THP faults/s   {mo['split_s'] / n * 1e6:10.1f} "
          f"us per split (munmap of one page in a huge PMD)")
    src = open(os.path.join(os.path.dirname(__file__), "thp_live.c")).read()
    exe = _live.compile_c(src, "thp_live")
    if exe is None:
        print("live:  gcc missing, no comparison")
        return
    lv_ = _live.run_c(exe, n)
    served = int(lv_["thp_kb"]) // 2048
    print(f"live:  {n / lv_['fault_s']:10.0f} THP faults/s   {lv_['split_s'] / n * 1e6:10.1f} "
          f"us per split   ({served} of {n} blocks got a huge page; the rest fell back, "
          f"or the faults include direct compaction)")
    print(f"ratio model/live: faults/s {(n / mo['fault_s']) / (n / lv_['fault_s']):.4f}   "
          f"split cost {mo['split_s'] / lv_['split_s']:.1f}x")


if __name__ == "__main__":
    main()
