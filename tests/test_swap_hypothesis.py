"""Random mmap/touch/fork/exit/munmap/madvise sequences under memory pressure with swap
(64 MiB RAM + 64 MiB swap): a byte-level oracle of every page, m.check() after every
step, and at the end no swap slot, swap-cache page or anonymous page left behind."""

import struct

from hypothesis import given, settings, HealthCheck, strategies as st

import linuxvm as lv
from _proc import meminfo
from linuxvm.mm import gfp as G
from linuxvm.mm.vmscan.reclaim import ScanControl, do_try_to_free_pages

P = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
REGION = 96                      # pages per region
BASE = 0x7f0000000000

proc = st.integers(0, 3)
region = st.integers(0, 2)
span = st.tuples(st.integers(0, REGION - 1), st.integers(1, 48))
step = st.one_of(
    st.tuples(st.just("write"), proc, region, span),
    st.tuples(st.just("read"), proc, region, span),
    st.tuples(st.just("reclaim"), st.integers(16, 600)),
    st.tuples(st.just("fork"), proc),
    st.tuples(st.just("exit"), proc),
    st.tuples(st.just("munmap"), proc, region, span),
    st.tuples(st.just("madvise"), proc, region, span,
              st.sampled_from([lv.MADV_DONTNEED, lv.MADV_FREE, lv.MADV_WILLNEED])),
    st.tuples(st.just("mprotect"), proc, region, span,
              st.sampled_from([lv.PROT_READ, RW])),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=30))
def test_random_work_under_swap_pressure_keeps_every_byte(steps):
    m = lv.Machine(ram="64M", swap="64M", aslr=False)
    init = m.spawn("init", uid=0)
    first = m.spawn("p0")
    procs = [first]
    # oracle: per process, page address -> the expected 16 bytes, or ("free", bytes):
    # those bytes or zeros (a MADV_FREE page reclaim may have discarded)
    oracle = [{}]
    prot = [{}]                  # per process: page address -> writable
    for r in range(3):
        a = BASE + r * (REGION + 16) * P
        first.mmap(a, REGION * P, RW, ANON | lv.MAP_FIXED)
        for i in range(REGION):
            prot[0][a + i * P] = True
    m.check()
    seq = 0
    for s in steps:
        op = s[0]
        if op == "reclaim":
            saved = m.current
            m.current = None
            do_try_to_free_pages(m, G.GFP_KERNEL, ScanControl(G.GFP_KERNEL, 0, s[1]))
            m.current = saved
            m.check()
            continue
        k = s[1] % len(procs)
        p, orc, prt = procs[k], oracle[k], prot[k]
        if op == "fork":
            if len(procs) < 4:
                procs.append(p.fork())
                oracle.append(dict(orc))
                prot.append(dict(prt))
            m.check()
            continue
        if op == "exit":
            if len(procs) > 1:
                p.exit(0)
                del procs[k], oracle[k], prot[k]
            m.check()
            continue
        r, (first_page, n) = s[2], s[3]
        n = min(n, REGION - first_page)
        a = BASE + r * (REGION + 16) * P + first_page * P
        pages = [a + i * P for i in range(n)]
        if op == "write":
            for va in pages:
                if va not in prt:
                    continue
                if not prt[va]:
                    continue
                seq += 1
                data = struct.pack("<QQ", va, seq)
                p.write(va, data)
                orc[va] = data
        elif op == "read":
            for va in pages:
                if va not in prt:
                    continue
                got = p.read(va, 16)
                want = orc.get(va, bytes(16))
                if isinstance(want, tuple):
                    assert got in (bytes(16), want[1]), (hex(va), got, want)
                    orc[va] = got         # what it reads now it keeps
                else:
                    assert got == want, (hex(va), got, want)
        elif op == "munmap":
            p.munmap(a, n * P)
            for va in pages:
                orc.pop(va, None)
                prt.pop(va, None)
        elif op == "madvise":
            advice = s[4]
            try:
                p.madvise(a, n * P, advice)
            except lv.SyscallError:
                pass              # a hole in the range: ENOMEM after advising the rest
            if advice == lv.MADV_DONTNEED:
                for va in pages:
                    if va in prt:
                        orc.pop(va, None)
            elif advice == lv.MADV_FREE:
                for va in pages:
                    if va in prt and va in orc and not isinstance(orc[va], tuple):
                        orc[va] = ("free", orc[va])
        elif op == "mprotect":
            try:
                p.mprotect(a, n * P, s[4])
            except lv.SyscallError:
                continue
            for va in pages:
                if va in prt:
                    prt[va] = bool(s[4] & lv.PROT_WRITE)
        m.check()
    for p, orc in zip(procs, oracle):
        for va, want in orc.items():
            got = p.read(va, 16)
            assert got in (bytes(16), want[1]) if isinstance(want, tuple) else got == want
    m.check()
    for p in procs:
        p.exit(0)
        m.check()
    init.exit(0)
    m.check()
    assert meminfo(m, "SwapFree") == meminfo(m, "SwapTotal")
    assert meminfo(m, "SwapCached") == 0
    assert meminfo(m, "AnonPages") == 0
