"""Translations per second through the model's MMU: the TLB-hit path and the miss path
(page walk + fill). Goal: >= 2,000,000 TLB-hit translations/s."""

import time

import linuxvm as lv
from linuxvm.arch.x86 import mmu, pgtable as P
from linuxvm.arch.x86.cpu import switch_mm
from linuxvm.arch.x86.pgalloc import mm_alloc_pgd
from linuxvm.mm import memory
from linuxvm.mm.mm_types import MmStruct

N_PAGES = 4096


def setup(fast=True):
    m = lv.Machine(ram="1G", cpus=1, fast=fast)
    mm = MmStruct()
    mm_alloc_pgd(m, mm)
    base = 0x7F0000000000
    for i in range(N_PAGES):
        P.set_entry(m, memory.pte_alloc_map(m, mm, base + i * 4096),
                    P.pfn_pte(0x10000 + i, P.PAGE_SHARED))
    cpu = m.cpus[0]
    switch_mm(m, cpu, cpu.active_mm, mm)
    return m, cpu, base


def bench_hits(cpu, base, n=2_000_000):
    tr = mmu.translate
    acc = mmu.PF_USER
    tr(cpu, base, acc)
    t = time.perf_counter()
    for _ in range(n // 8):
        tr(cpu, base, acc); tr(cpu, base + 8, acc); tr(cpu, base + 16, acc)    # noqa: E702
        tr(cpu, base + 24, acc); tr(cpu, base + 32, acc); tr(cpu, base + 40, acc)  # noqa: E702
        tr(cpu, base + 48, acc); tr(cpu, base + 56, acc)                       # noqa: E702
    return n / (time.perf_counter() - t)


def bench_large_hits(cpu, n=500_000):
    """Hits on 2 MiB direct-map entries (L1 2M TLB), which take the second lookup."""
    tr = mmu.translate
    va = 0xFFFF880000000000 + (64 << 20)
    tr(cpu, va)
    t = time.perf_counter()
    for i in range(n):
        tr(cpu, va + (i & 0xFFFF) * 8)
    return n / (time.perf_counter() - t)


def bench_misses(cpu, base, n=200_000):
    tr = mmu.translate
    acc = mmu.PF_USER
    vas = [base + i * 4096 for i in range(N_PAGES)]       # 4096 pages > 1536 STLB entries
    misses0 = cpu.tlb.misses
    t = time.perf_counter()
    done = 0
    while done < n:
        for va in vas:
            tr(cpu, va, acc)
        done += len(vas)
    dt = time.perf_counter() - t
    return done / dt, (cpu.tlb.misses - misses0) / done


def main():
    import os
    m, cpu, base = setup()
    print(f"host load average {os.getloadavg()[0]:.2f} (figures drop when other work shares the CPUs)")
    hit = bench_hits(cpu, base)
    large = bench_large_hits(cpu)
    miss, rate = bench_misses(cpu, base)
    print(f"TLB-hit path : {hit:12,.0f} translations/s (goal 2,000,000: "
          f"{'met' if hit >= 2_000_000 else 'NOT met'})")
    print(f"2 MiB hits   : {large:12,.0f} translations/s (direct map, L1 2M TLB)")
    print(f"miss path    : {miss:12,.0f} translations/s (STLB miss rate {rate:.0%}, "
          f"each a 4-level walk)")
    print(f"hit/miss speed ratio: {hit / miss:.1f}")
    m.check()


if __name__ == "__main__":
    main()
