"""mmap+munmap pairs per second, model vs the live kernel in the same run, and find_vma
cost as the number of VMAs grows (O(log n)).

    python benchmarks/mmap_munmap.py [pairs]
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import linuxvm as lv                       # noqa: E402
from _live import compile_c, run_c         # noqa: E402
from linuxvm.mm.vma import find_vma        # noqa: E402

C_SOURCE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    /* the model's set-up: 16 one-page neighbours, alternately read-only and writable,
       each read (so page tables cover them); each new mapping merges with the lowest */
    for (int i = 0; i < 16; i++) {
        volatile char *q = mmap(NULL, 4096, i % 2 ? PROT_READ | PROT_WRITE : PROT_READ,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (q == MAP_FAILED) return 1;
        (void)q[0];
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        void *p = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return 1;
        munmap(p, 1 << 16);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    printf("pairs_per_s %f\n", n / s);
    return 0;
}
"""

PROT = lv.PROT_READ | lv.PROT_WRITE
FLAGS = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS


def model_pairs_per_s(n: int) -> float:
    m = lv.Machine(ram="256M", seed=0)
    p = m.spawn("bench")
    # a few neighbours so the tree is not trivial, read like the live program's so page
    # tables cover the region, as they do in any running process
    for i in range(16):
        a = p.mmap(None, 4096, PROT if i % 2 else lv.PROT_READ, FLAGS)
        p.touch(a, 4096)
    t0 = time.perf_counter()
    for _ in range(n):
        a = p.mmap(None, 1 << 16, PROT, FLAGS)
        p.munmap(a, 1 << 16)
    dt = time.perf_counter() - t0
    m.check()
    return n / dt


def nodes_visited(mm, addr: int) -> int:
    """How many tree nodes find_vma's descent looks at for ``addr``."""
    n, seen = mm.mm_rb, 0
    while n is not None:
        seen += 1
        if n.vm_end > addr:
            if n.vm_start <= addr:
                break
            n = n.rb_left
        else:
            n = n.rb_right
    return seen


def find_vma_cost(nvmas: int, lookups: int = 20000) -> tuple:
    """(ns per find_vma, tree height, mean nodes visited) with ``nvmas`` unmergeable VMAs."""
    m = lv.Machine(ram="256M", seed=0)
    p = m.spawn("bench")
    m.sysctl["vm.max_map_count"] = nvmas + 10
    base = 0x10000000
    for i in range(nvmas):
        p.mmap(base + 2 * i * 4096, 4096, PROT if i % 2 else lv.PROT_READ,
               FLAGS | lv.MAP_FIXED)
    mm = p.mm
    addrs = [base + (i * 7919 % (2 * nvmas)) * 4096 for i in range(lookups)]
    t0 = time.perf_counter()
    for a in addrs:
        find_vma(mm, a)
    dt = time.perf_counter() - t0
    visits = sum(nodes_visited(mm, a) for a in addrs) / lookups
    return dt / lookups * 1e9, mm.mm_rb.rb_height, visits


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    model = model_pairs_per_s(n)
    print(f"model: {model:,.0f} mmap+munmap pairs/s ({n} pairs, 64 KiB anonymous)")
    exe = compile_c(C_SOURCE, "mmap_pairs")
    if exe is None:
        print("live: skipped (no gcc)")
    else:
        live = run_c(exe, n * 10)["pairs_per_s"]
        print(f"live:  {live:,.0f} mmap+munmap pairs/s")
        print(f"ratio model/live: {model / live:.3f}")
    print("find_vma with n VMAs (O(log n): cost per lookup grows with the tree height)")
    for nv in (1000, 10000, 60000):
        ns, h, visits = find_vma_cost(nv)
        print(f"  n={nv:6d}  height={h:2d}  {visits:5.1f} nodes/lookup  {ns:7.0f} ns/lookup")


if __name__ == "__main__":
    main()
