"""Random madvise/touch/fork/munmap/mprotect/mlock/reclaim/khugepaged/exit sequences over
THP-eligible regions with a byte-level oracle of every page written, m.check() after
every step, and at the end no anonymous page, THP, deposited table or queued split
left behind."""

from hypothesis import example, given, settings, HealthCheck, strategies as st

import linuxvm as lv
from _proc import meminfo
from linuxvm.mm import gfp as G
from linuxvm.mm import huge_memory as H
from linuxvm.mm.swap import lru_add_drain
from linuxvm.mm.vmscan.reclaim import ScanControl, do_try_to_free_pages

P = 4096
M = 2 << 20
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
REGION = 3 * 512                 # pages per region: three 2 MiB blocks
BASE = 0x7f0000000000

proc = st.integers(0, 2)
span = st.tuples(st.integers(0, REGION - 1), st.integers(1, 600))
step = st.one_of(
    st.tuples(st.just("write"), proc, span),
    st.tuples(st.just("read"), proc, span),
    st.tuples(st.just("fork"), proc),
    st.tuples(st.just("exit"), proc),
    st.tuples(st.just("munmap"), proc, span),
    st.tuples(st.just("madvise"), proc, span,
              st.sampled_from([lv.MADV_HUGEPAGE, lv.MADV_NOHUGEPAGE, lv.MADV_DONTNEED,
                               lv.MADV_FREE])),
    st.tuples(st.just("mprotect"), proc, span, st.sampled_from([lv.PROT_READ, RW])),
    st.tuples(st.just("split"),),
    st.tuples(st.just("mlock"), proc, span, st.booleans()),
    st.tuples(st.just("reclaim"), st.integers(16, 1200)),
    st.tuples(st.just("khugepaged"),),
)


def check(p, pg, want):
    got = p.read(pg + 8, 8)
    if isinstance(want, tuple):                 # MADV_FREE: the bytes, or zeros
        assert got in (want[1], b"\0" * 8), hex(pg)
    else:
        assert got == want, hex(pg)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example([("write", 0, (0, 1)), ("mlock", 0, (1, 1), True)])   # mlock of a PTE-mapped THP
@example([("mlock", 0, (0, 94), True), ("madvise", 0, (0, 329), 8)])   # FREE of locked: EINVAL
@given(st.lists(step, min_size=1, max_size=25))
def test_random_thp_work_keeps_every_byte(steps):
    m = lv.Machine(ram="1G", swap="256M", aslr=False)
    first = m.spawn("p0", uid=0)
    first.mmap(BASE, REGION * P, RW, ANON | lv.MAP_FIXED)
    first.madvise(BASE, REGION * P, lv.MADV_HUGEPAGE)
    procs = [first]
    oracle = [{}]                # per process: page address -> expected 8 bytes
    prot = [{BASE + i * P: True for i in range(REGION)}]
    m.check()
    seq = 0
    for s in steps:
        kind = s[0]
        if kind == "split":
            H.deferred_split_scan(m)
            H.shrink_huge_zero_page(m)
        elif kind == "khugepaged":
            lru_add_drain(m)
            m.run_khugepaged()
        elif kind == "reclaim":
            saved = m.current
            m.current = None
            do_try_to_free_pages(m, G.GFP_KERNEL, ScanControl(G.GFP_KERNEL, 0, s[1]))
            m.current = saved
        elif kind in ("fork", "exit"):
            i = s[1] % len(procs)
            if procs[i] is None:
                continue
            if kind == "fork":
                if len(procs) < 6:
                    procs.append(procs[i].fork())
                    oracle.append(dict(oracle[i]))
                    prot.append(dict(prot[i]))
            else:
                procs[i].exit()
                procs[i] = None
        else:
            i = s[1] % len(procs)
            p = procs[i]
            if p is None:
                continue
            first_pg, n = s[2]
            n = min(n, REGION - first_pg)
            a = BASE + first_pg * P
            pages = [a + k * P for k in range(n)]
            if kind == "write":
                for pg in pages:
                    if prot[i].get(pg):
                        seq += 1
                        data = seq.to_bytes(8, "little")
                        p.write(pg + 8, data)
                        oracle[i][pg] = data
            elif kind == "read":
                for pg in pages:
                    if pg in prot[i]:
                        check(p, pg, oracle[i].get(pg, b"\0" * 8))
            elif kind == "munmap":
                p.munmap(a, n * P)
                for pg in pages:
                    prot[i].pop(pg, None)
                    oracle[i].pop(pg, None)
            elif kind == "madvise":
                if all(pg in prot[i] for pg in pages):
                    advice = s[3]
                    try:
                        p.madvise(a, n * P, advice)
                    except lv.SyscallError as e:
                        # DONTNEED/FREE of a VM_LOCKED range: EINVAL, nothing done (4.6)
                        assert e.errno == 22 and advice in (lv.MADV_DONTNEED, lv.MADV_FREE)
                        advice = None
                    if advice == lv.MADV_DONTNEED:
                        for pg in pages:
                            oracle[i].pop(pg, None)
                    elif advice == lv.MADV_FREE:     # reclaim may discard them now
                        for pg in pages:
                            if pg in oracle[i] and not isinstance(oracle[i][pg], tuple):
                                oracle[i][pg] = ("free", oracle[i][pg])
            elif kind == "mlock":
                if all(pg in prot[i] for pg in pages):
                    (p.mlock if s[3] else p.munlock)(a, n * P)
            elif kind == "mprotect":
                if all(pg in prot[i] for pg in pages):
                    p.mprotect(a, n * P, s[3])
                    for pg in pages:
                        prot[i][pg] = s[3] == RW
        m.check()
    for i, p in enumerate(procs):
        if p is not None:
            for pg in oracle[i]:
                check(p, pg, oracle[i][pg])
            p.exit()
            m.check()
    H.deferred_split_scan(m)
    H.shrink_huge_zero_page(m)
    m.check()
    thp = m.transparent_hugepage
    assert meminfo(m, "AnonPages") == 0 and meminfo(m, "AnonHugePages") == 0
    assert meminfo(m, "PageTables") == 0
    assert thp.split_queue_len == 0 and not thp.pmd_huge_pte and thp.huge_zero_refcount == 0
