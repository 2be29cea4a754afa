"""Replayed accesses per second through the model's TLB and MMU (``linuxvm replay-trace``'s
loop, ``Process.access_batch``). Goal: >= 1,000,000 accesses/s on TLB hits.

The trace is made to look like a lackey trace of a loop: instruction fetches walking a
code page, every other instruction a load or store into a 16-page data set, so that every
access after the first round is an L1 TLB hit (the code and data pages hold 17 of the 64
L1 entries). ``python benchmarks/replay.py`` prints the accelerated and reference rates
and the shipped lackey trace's rate (faults included); ``--profile`` adds a cProfile of
the accelerated run.
"""

import cProfile
import os
import pstats
import sys
import time

import linuxvm as lv
from linuxvm.tools import replay_trace

HERE = os.path.dirname(os.path.abspath(__file__))
LACKEY = os.path.join(HERE, "..", "examples", "replay", "lackey_demo.lackey")
CODE = 0x400000
DATA = 0x600000
DATA_PAGES = 16


def synthetic(n: int):
    """n accesses: fetches through a 4 KiB loop body, loads/stores into the data set."""
    addrs, kinds = [], []
    ip = 0
    d = 0
    while len(addrs) < n:
        addrs.append(CODE + ip)
        kinds.append("x")
        ip = (ip + 4) & 0xFFF
        if ip & 4:
            addrs.append(DATA + d)
            kinds.append("w" if d & 64 else "r")
            d = (d + 8) % (DATA_PAGES << 12)
    return addrs[:n], "".join(kinds[:n])


def setup(fast=True):
    m = lv.Machine(ram="256M", cpus=1, seed=0, fast=fast)
    p = m.spawn("replay", uid=0)
    rw = lv.PROT_READ | lv.PROT_WRITE
    flags = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS | lv.MAP_FIXED
    p.mmap(CODE, 4096, rw | lv.PROT_EXEC, flags)
    p.mmap(DATA, DATA_PAGES << 12, rw, flags)
    # first round: faults, TLB fills and the first writes' dirty walks
    p.access_batch(*synthetic(4 * (DATA_PAGES << 12) // 8))
    return m, p


def bench_hits(p, n: int) -> tuple:
    """(accesses/s, the counters) of n TLB-hit accesses."""
    addrs, kinds = synthetic(n)
    t = time.perf_counter()
    got = p.access_batch(addrs, kinds)
    dt = time.perf_counter() - t
    return n / dt, got


def bench_lackey(fast=True) -> tuple:
    m = lv.Machine(ram="256M", cpus=1, seed=0, fast=fast)
    p = m.spawn("lackey", uid=0)
    trace = replay_trace.parse(LACKEY)
    replay_trace.map_pages(p, trace)
    t = time.perf_counter()
    got = replay_trace.replay(p, trace)
    dt = time.perf_counter() - t
    m.check()
    return len(trace.addrs) / dt, got


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    n = 1_000_000
    print(f"host load average {os.getloadavg()[0]:.2f} (figures drop when other work "
          f"shares the CPUs)")
    rates = {}
    for fast in (True, False):
        m, p = setup(fast)
        rate, got = bench_hits(p, n if fast else n // 5)
        m.check()
        assert got["tlb_hits"] == got["accesses"] and got["faults"] == 0, got
        rates[fast] = rate
        print(f"TLB-hit replay, {'accelerated' if fast else 'reference  '}: "
              f"{rate:12,.0f} accesses/s")
    print(f"goal 1,000,000 accesses/s: {'met' if rates[True] >= 1e6 else 'NOT met'} "
          f"(speed-up over the reference {rates[True] / rates[False]:.1f}x)")
    for fast in (True, False):
        rate, got = bench_lackey(fast)
        print(f"lackey_demo trace ({got['accesses']} accesses, {got['faults']} faults), "
              f"{'accelerated' if fast else 'reference'}: {rate:,.0f} accesses/s")
    if "--profile" in argv:
        m, p = setup(True)
        addrs, kinds = synthetic(n)
        pr = cProfile.Profile()
        pr.enable()
        p.access_batch(addrs, kinds)
        pr.disable()
        pstats.Stats(pr).sort_stats("cumulative").print_stats(8)


if __name__ == "__main__":
    main()
