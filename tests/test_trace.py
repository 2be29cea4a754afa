"""Tracing (issue 19 part 4): 4.6's tracepoints as events (ftrace's text), the function
graph, and ``linuxvm trace``.

Each event family's text is checked against its TP_printk in 4.6's
include/trace/events/{kmem,vmscan,compaction,oom}.h; counts of events are checked
against the vm counters the same code bumps; the function graph of one anonymous write
fault against 4.6's fault path; tracing off leaves the fingerprint of a run unchanged.
"""

import re
import struct

import pytest

import linuxvm as lv
from _proc import meminfo, vmstat
from linuxvm import cli
from linuxvm.accel.fingerprint import fingerprint, assert_same
from linuxvm.include.trace.events import all_events
from linuxvm.include.trace.events.mmflags import show_gfp_flags
from linuxvm.kernel.trace.trace_functions_graph import trace_print_graph_duration
from linuxvm.mm import gfp as G
from linuxvm.mm.swap import lru_add_drain_all

P = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
PAGE = r"ffffea[0-9a-f]{10}"
PTR = r"ffff88[0-9a-f]{10}"
# trace_print_context: "%16s-%-5d [%03d] " + "...." + " %5lu.%06lu: " then "name: text"
LINE = re.compile(r"^ {0,15}(\S{1,16})-(\d+) +\[(\d{3})\] \.\.\.\. +(\d+)\.(\d{6}): "
                  r"(\w+): (.*)$")


def lines(m):
    out = []
    for line in m.trace.read().splitlines():
        if line.startswith("#"):
            continue
        mt = LINE.match(line)
        assert mt, line
        out.append((mt.group(6), mt.group(7)))
    return out


def texts(m, name):
    return [t for n, t in lines(m) if n == name]


def fields(m, name):
    return [r.fields for r in m.trace.records() if r.name == name]


# --- the formats --------------------------------------------------------------------------

@pytest.mark.parametrize("gfp, text", [
    (0, "none"),
    (G.GFP_KERNEL, "GFP_KERNEL"),
    (G.GFP_KERNEL | G.__GFP_ZERO, "GFP_KERNEL|__GFP_ZERO"),
    (G.GFP_KERNEL | G.__GFP_HARDWALL, "GFP_USER"),        # the fast path's alloc_mask
    (G.GFP_HIGHUSER_MOVABLE | G.__GFP_ZERO, "GFP_HIGHUSER_MOVABLE|__GFP_ZERO"),
    (G.GFP_ATOMIC, "GFP_ATOMIC"),
    (G.GFP_NOWAIT, "GFP_NOWAIT"),
    (G.GFP_NOFS, "GFP_NOFS"),
    (G.GFP_TRANSHUGE, "GFP_TRANSHUGE"),
    (G.GFP_KERNEL | G.__GFP_NOWARN | G.__GFP_NORETRY, "GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY"),
    (G.__GFP_DIRECT_RECLAIM | G.__GFP_IO, "__GFP_IO|__GFP_DIRECT_RECLAIM"),
    (G.__GFP_RECLAIM | G.__GFP_NOTRACK, "GFP_NOIO|__GFP_NOTRACK"),
    (G.GFP_KERNEL | (1 << 26), "GFP_KERNEL|0x4000000"),   # a bit no name covers: hex
])
def test_show_gfp_flags_is_4_6s_table(gfp, text):
    assert show_gfp_flags(gfp) == text


def test_every_event_has_4_6s_system_and_takes_its_fields():
    evs = all_events()
    assert {e.system for e in evs.values()} == {"kmem", "vmscan", "compaction", "oom",
                                                 "filemap", "pagemap"}
    for name in ("mm_page_alloc", "mm_page_free", "mm_page_free_batched",
                 "mm_page_alloc_zone_locked", "mm_page_pcpu_drain", "mm_page_alloc_extfrag",
                 "kmem_cache_alloc", "kmem_cache_free", "kmalloc", "kfree"):
        assert evs[name].system == "kmem"
    for name in ("mm_vmscan_kswapd_wake", "mm_vmscan_kswapd_sleep", "mm_vmscan_wakeup_kswapd",
                 "mm_vmscan_direct_reclaim_begin", "mm_vmscan_direct_reclaim_end",
                 "mm_vmscan_lru_isolate", "mm_vmscan_lru_shrink_inactive",
                 "mm_vmscan_writepage", "mm_shrink_slab_start", "mm_shrink_slab_end"):
        assert evs[name].system == "vmscan"
    assert evs["oom_score_adj_update"].system == "oom"
    assert evs["mm_compaction_isolate_freepages"].system == "compaction"


@pytest.mark.parametrize("name, args, text", [
    ("mm_page_alloc", (0x1234, 0, G.GFP_KERNEL | G.__GFP_ZERO, 0),
     "page=ffffea0000048d00 pfn=4660 order=0 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_ZERO"),
    ("mm_page_alloc", (-1, 3, G.GFP_KERNEL, 0),            # a failed allocation: NULL
     "page=          (null) pfn=0 order=3 migratetype=0 gfp_flags=GFP_KERNEL"),
    ("mm_page_free", (1, 2), "page=ffffea0000000040 pfn=1 order=2"),
    ("mm_page_free_batched", (2, False), "page=ffffea0000000080 pfn=2 order=0 cold=0"),
    ("mm_page_alloc_zone_locked", (8, 0, 1),
     "page=ffffea0000000200 pfn=8 order=0 migratetype=1 percpu_refill=1"),
    ("mm_page_alloc_zone_locked", (8, 3, 1),
     "page=ffffea0000000200 pfn=8 order=3 migratetype=1 percpu_refill=0"),
    ("mm_page_pcpu_drain", (8, 0, 2), "page=ffffea0000000200 pfn=8 order=0 migratetype=2"),
    ("mm_page_alloc_extfrag", (512, 0, 10, 0, 1, True),
     "page=ffffea0000008000 pfn=512 alloc_order=0 fallback_order=10 pageblock_order=9 "
     "alloc_migratetype=0 fallback_migratetype=1 fragmenting=0 change_ownership=1"),
    ("kmalloc", ("f", 0xffff880000001000, 100, 128, G.GFP_KERNEL),
     "call_site=f ptr=ffff880000001000 bytes_req=100 bytes_alloc=128 gfp_flags=GFP_KERNEL"),
    ("kfree", ("f", 0), "call_site=f ptr=          (null)"),
    ("mm_vmscan_kswapd_wake", (0, 3), "nid=0 order=3"),
    ("mm_vmscan_kswapd_sleep", (0,), "nid=0"),
    ("mm_vmscan_wakeup_kswapd", (0, 1, 0), "nid=0 zid=1 order=0"),
    ("mm_vmscan_direct_reclaim_begin", (0, True, G.GFP_HIGHUSER_MOVABLE),
     "order=0 may_writepage=1 gfp_flags=GFP_HIGHUSER_MOVABLE"),
    ("mm_vmscan_direct_reclaim_end", (32,), "nr_reclaimed=32"),
    ("mm_vmscan_lru_isolate", (0, 32, 40, 30, 0, True),
     "isolate_mode=0 order=0 nr_requested=32 nr_scanned=40 nr_taken=30 file=1"),
    ("mm_vmscan_lru_shrink_inactive", (0, 1, 32, 30, 12, 0x9),
     "nid=0 zid=1 nr_scanned=32 nr_reclaimed=30 priority=12 "
     "flags=RECLAIM_WB_ANON|RECLAIM_WB_ASYNC"),
    ("mm_vmscan_writepage", (5, 0xa),
     "page=ffffea0000000140 pfn=5 flags=RECLAIM_WB_FILE|RECLAIM_WB_ASYNC"),
    ("mm_shrink_slab_start", ("super_cache_scan", "sb-ext4", 0, 0, G.GFP_KERNEL, 32, 1000,
                              50, 3, 3),
     "super_cache_scan sb-ext4: nid: 0 objects to shrink 0 gfp_flags GFP_KERNEL "
     "pgs_scanned 32 lru_pgs 1000 cache items 50 delta 3 total_scan 3"),
    ("mm_shrink_slab_end", ("super_cache_scan", "sb-ext4", 0, 0, 3, 2, 3),
     "super_cache_scan sb-ext4: nid: 0 unused scan count 0 new scan count 3 total_scan 3 "
     "last shrinker return val 2"),
    ("mm_compaction_isolate_migratepages", (0x1000, 0x1200, 512, 32),
     "range=(0x1000 ~ 0x1200) nr_scanned=512 nr_taken=32"),
    ("mm_compaction_begin", (0x1000, 0x1000, 0x3fe00, 0x40000, False),
     "zone_start=0x1000 migrate_pfn=0x1000 free_pfn=0x3fe00 zone_end=0x40000, mode=async"),
    ("mm_compaction_end", (0x1000, 0x2000, 0x3f000, 0x40000, True, 3),
     "zone_start=0x1000 migrate_pfn=0x2000 free_pfn=0x3f000 zone_end=0x40000, mode=sync "
     "status=partial"),
    ("mm_compaction_suitable", (0, 1, 3, 2), "node=0 zone=DMA32    order=3 ret=continue"),
    ("mm_compaction_deferred", (0, 2, 3, 1, 2, 3),
     "node=0 zone=Normal   order=3 order_failed=3 consider=1 limit=4"),
    ("mm_compaction_wakeup_kcompactd", (0, 3, 1), "nid=0 order=3 classzone_idx=DMA32   "),
    ("oom_score_adj_update", (7, "prog", -500), "pid=7 comm=prog oom_score_adj=-500"),
])
def test_event_text_is_4_6s_tp_printk(name, args, text):
    assert all_events()[name].printk(*args) == text


def test_graph_duration_column_is_4_6s():
    assert trace_print_graph_duration(123) == "0.123 us    "
    assert trace_print_graph_duration(12_345) == "12.345 us   "
    assert trace_print_graph_duration(1_234_567) == "1234.567 us "
    assert trace_print_graph_duration(123_456_789) == "123456.7 us "


# --- the API --------------------------------------------------------------------------------

def test_enable_subscribe_read_and_tracefs_files():
    m = lv.Machine(ram="128M", cpus=2)
    assert "kmem:mm_page_alloc" in m.trace.events()
    assert m.proc.read("/sys/kernel/debug/tracing/available_events").splitlines() \
        == m.trace.events()
    with pytest.raises(ValueError):
        m.trace.enable("kmem:no_such_event")
    with pytest.raises(TypeError):
        m.trace.subscribe("not callable")
    got = []
    m.trace.subscribe(got.append, "kmem:kmalloc", "kfree")
    assert m.trace.enabled() == ["kmem:kfree", "kmem:kmalloc"]
    assert m.proc.read("/sys/kernel/debug/tracing/set_event") == "kmem:kfree\nkmem:kmalloc\n"
    x = m.kernel.kmalloc(100)
    m.check()
    m.kernel.kfree(x)
    m.kernel.kfree(0)                     # 4.6 traces kfree(NULL) too
    m.check()
    assert [r.name for r in got] == ["kmalloc", "kfree", "kfree"]
    assert got[0].fields == {"call_site": "m.kernel.kmalloc", "ptr": x, "bytes_req": 100,
                             "bytes_alloc": 128, "gfp_flags": G.GFP_KERNEL}
    text = m.trace.read()
    assert text.startswith("# tracer: nop\n#\n# entries-in-buffer/entries-written: 3/3   #P:2\n")
    assert "#           TASK-PID   CPU#  ||||    TIMESTAMP  FUNCTION\n" in text
    assert texts(m, "kfree")[1] == "call_site=m.kernel.kfree ptr=          (null)"
    # the model's clock stamps the records
    m.clock_ns += 1_500_000_123
    m.kernel.kfree(0)
    assert re.search(r" 1\.500000: kfree: ", m.trace.read().splitlines()[-1])
    m.trace.unsubscribe(got.append)
    with pytest.raises(ValueError):
        m.trace.unsubscribe(got.append)
    m.proc.write("/sys/kernel/debug/tracing/trace", "")
    assert "entries-in-buffer/entries-written: 0/0" in m.trace.read()
    m.proc.write("/sys/kernel/debug/tracing/set_event", "oom:oom_score_adj_update")
    assert m.trace.enabled() == ["oom:oom_score_adj_update"]
    with pytest.raises(lv.SyscallError):
        m.proc.write("/sys/kernel/debug/tracing/set_event", "nope")
    m.trace.disable()
    assert m.trace.enabled() == []
    m.check()


def test_accelerators_step_aside_while_tracing_and_come_back():
    m = lv.Machine(ram="128M", fast={"alloc_order0", "touch_write"})
    before = m.accel.enabled()
    m.trace.enable("kmem:mm_page_alloc")
    assert m.accel.enabled() == []
    with m.trace.function_graph():
        assert m.accel.enabled() == []
    assert m.accel.enabled() == []          # the event is still on
    m.trace.disable()
    assert m.accel.enabled() == before
    with m.trace.function_graph():
        assert m.accel.enabled() == []
    assert m.accel.enabled() == before


# --- events fired by the model, against the counters -----------------------------------------

def test_page_alloc_and_free_events_match_pgalloc_and_pgfree():
    m = lv.Machine(ram="128M", cpus=2)
    p = m.spawn("prog")
    a = p.mmap(None, 600 * P, RW, ANON)
    m.trace.enable("kmem")
    v0 = vmstat(m)
    for i in range(600):
        p.write(a + i * P, b"x")
    m.check()
    blocks = [m.kernel.alloc_pages("GFP_KERNEL", o) for o in (0, 2, 5)]
    m.check()
    p.munmap(a, 600 * P)
    m.check()
    for pfn, o in zip(blocks, (0, 2, 5)):
        m.kernel.free_pages(pfn, o)
    m.kernel.drain_all_pages()
    m.check()
    v1 = vmstat(m)
    pgalloc = sum(v1[k] - v0[k] for k in v1 if k.startswith("pgalloc_"))
    allocs = fields(m, "mm_page_alloc")
    assert pgalloc == sum(1 << f["order"] for f in allocs if f["pfn"] != -1)
    order0 = [f for f in allocs if f["order"] == 0]
    assert len(order0) >= 600
    assert v1["pgfree"] - v0["pgfree"] == sum(1 << f["order"]
                                              for f in fields(m, "mm_page_free"))
    # the munmap freed its pages as a batch: each one is a free_batched and a free
    assert len(fields(m, "mm_page_free_batched")) >= 600
    # rmqueue_bulk refilled the pcp lists one __rmqueue at a time; the drain emptied them
    assert any(f["order"] == 0 for f in fields(m, "mm_page_alloc_zone_locked"))
    assert fields(m, "mm_page_pcpu_drain")
    for name, pat in [
            ("mm_page_alloc", rf"page={PAGE} pfn=\d+ order=\d+ migratetype=\d "
                              r"gfp_flags=[A-Z_|]+"),
            ("mm_page_free", rf"page={PAGE} pfn=\d+ order=\d+"),
            ("mm_page_free_batched", rf"page={PAGE} pfn=\d+ order=0 cold=[01]"),
            ("mm_page_alloc_zone_locked",
             rf"page={PAGE} pfn=\d+ order=\d+ migratetype=\d percpu_refill=[01]"),
            ("mm_page_pcpu_drain", rf"page={PAGE} pfn=\d+ order=0 migratetype=\d"),
            ("kmem_cache_alloc", rf"call_site=\w+ ptr={PTR} bytes_req=\d+ bytes_alloc=\d+ "
                                 r"gfp_flags=[A-Z_|]+")]:
        got = texts(m, name)
        assert got, name
        for t in got:
            assert re.fullmatch(pat, t), (name, t)
    # the user pages: GFP_HIGHUSER_MOVABLE|__GFP_ZERO, movable, on the fast path
    assert "gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_ZERO" in " ".join(texts(m, "mm_page_alloc"))
    # the slab caches the fault path allocates from name their callers
    sites = {f["call_site"] for f in fields(m, "kmem_cache_alloc")}
    assert sites and all(s.isidentifier() for s in sites)
    m.trace.disable()
    m.check()


def test_extfrag_event_when_a_fallback_steals():
    m = lv.Machine(ram="64M")
    m.trace.enable("kmem:mm_page_alloc_extfrag")
    held = []
    ev = m.pgdat.vm_events
    before = m.extfrag_events
    while m.extfrag_events == before:
        pfn = m.kernel.alloc_pages("GFP_KERNEL|__GFP_NOWARN", 3)
        assert pfn is not None
        held.append(pfn)
    m.check()
    got = fields(m, "mm_page_alloc_extfrag")
    assert len(got) == m.extfrag_events - before
    assert got[-1]["alloc_migratetype"] == 0 and got[-1]["fallback_migratetype"] != 0
    assert re.fullmatch(rf"page={PAGE} pfn=\d+ alloc_order=3 fallback_order=\d+ "
                        r"pageblock_order=9 alloc_migratetype=0 fallback_migratetype=\d "
                        r"fragmenting=[01] change_ownership=[01]",
                        texts(m, "mm_page_alloc_extfrag")[-1])
    assert ev is m.pgdat.vm_events


def test_reclaim_events_match_the_vmscan_counters():
    m = lv.Machine(ram="64M", swap="64M")
    p = m.spawn("big")
    n = 18000                                     # more than the free memory
    a = p.mmap(None, n * P, RW, ANON)
    m.trace.enable("vmscan")
    v0 = vmstat(m)
    for i in range(n):
        p.write(a + i * P, struct.pack("<I", i))
    m.check()
    v1 = vmstat(m)
    d = {k: v1[k] - v0[k] for k in v1}
    wake = fields(m, "mm_vmscan_kswapd_wake")
    assert wake and len(wake) == d["pageoutrun"]
    assert len(fields(m, "mm_vmscan_kswapd_sleep")) == len(wake)
    assert len(fields(m, "mm_vmscan_wakeup_kswapd")) == len(wake)
    steal = sum(d[k] for k in d if k.startswith("pgsteal_"))
    assert steal > 0
    assert steal == sum(f["nr_reclaimed"] for f in fields(m, "mm_vmscan_lru_shrink_inactive"))
    assert d["nr_vmscan_write"] == len(fields(m, "mm_vmscan_writepage")) > 0
    assert len(fields(m, "mm_vmscan_direct_reclaim_begin")) == d["allocstall"]
    assert len(fields(m, "mm_vmscan_direct_reclaim_end")) == d["allocstall"]
    assert fields(m, "mm_vmscan_lru_isolate")
    for name, pat in [
            ("mm_vmscan_kswapd_wake", r"nid=0 order=\d+"),
            ("mm_vmscan_kswapd_sleep", r"nid=0"),
            ("mm_vmscan_wakeup_kswapd", r"nid=0 zid=\d order=\d+"),
            ("mm_vmscan_lru_isolate", r"isolate_mode=\d+ order=\d+ nr_requested=\d+ "
                                      r"nr_scanned=\d+ nr_taken=\d+ file=[01]"),
            ("mm_vmscan_lru_shrink_inactive",
             r"nid=0 zid=\d nr_scanned=\d+ nr_reclaimed=\d+ priority=\d+ "
             r"flags=RECLAIM_WB_(ANON|FILE)\|RECLAIM_WB_ASYNC"),
            ("mm_vmscan_writepage", rf"page={PAGE} pfn=\d+ "
                                    r"flags=RECLAIM_WB_ANON\|RECLAIM_WB_ASYNC")]:
        for t in texts(m, name):
            assert re.fullmatch(pat, t), (name, t)
    # kswapd runs as a kernel thread: the model has no task for it (docs/tracing.md)
    kswapd_lines = [ln for ln in m.trace.read().splitlines() if "mm_vmscan_kswapd_wake" in ln]
    assert kswapd_lines[0].lstrip().startswith("<idle>-0 ")
    m.trace.disable()
    m.check()


def test_shrink_slab_events():
    m = lv.Machine(ram="64M")
    m.trace.enable("vmscan:mm_shrink_slab_*")
    m.sysctl["vm.drop_caches"] = 2
    m.check()
    start, end = fields(m, "mm_shrink_slab_start"), fields(m, "mm_shrink_slab_end")
    assert len(start) == len(end)
    for t in texts(m, "mm_shrink_slab_start"):
        assert re.fullmatch(r"\w+ \S+: nid: 0 objects to shrink \d+ gfp_flags [A-Z_|]+ "
                            r"pgs_scanned \d+ lru_pgs \d+ cache items \d+ delta \d+ "
                            r"total_scan \d+", t), t
    m.trace.disable()


def test_compaction_events_match_the_compact_counters():
    m = lv.Machine(ram="64M", seed=0, sysctl={"vm.extfrag_threshold": 1000})
    p = m.spawn("frag")
    n = meminfo(m, "MemFree") // 4 - 1500
    a = p.mmap(None, n * P, RW, ANON)
    for i in range(n):
        p.write(a + i * P, b"y")
    for i in range(0, n, 2):
        p.madvise(a + i * P, P, lv.MADV_DONTNEED)
    m.check()
    m.trace.enable("compaction")
    v0 = vmstat(m)
    m.sysctl["vm.compact_memory"] = 1
    m.check()
    v1 = vmstat(m)
    d = {k: v1[k] - v0[k] for k in v1}
    mig, free = (fields(m, "mm_compaction_isolate_migratepages"),
                 fields(m, "mm_compaction_isolate_freepages"))
    assert d["compact_migrate_scanned"] == sum(f["nr_scanned"] for f in mig) > 0
    assert d["compact_free_scanned"] == sum(f["nr_scanned"] for f in free) > 0
    assert d["compact_isolated"] == sum(f["nr_taken"] for f in mig + free)
    assert d["pgmigrate_success"] == sum(f["nr_migrated"]
                                         for f in fields(m, "mm_compaction_migratepages"))
    begin, end = fields(m, "mm_compaction_begin"), fields(m, "mm_compaction_end")
    assert len(begin) == len(end) > 0
    for name, pat in [
            ("mm_compaction_begin", r"zone_start=0x[0-9a-f]+ migrate_pfn=0x[0-9a-f]+ "
                                    r"free_pfn=0x[0-9a-f]+ zone_end=0x[0-9a-f]+, mode=sync"),
            ("mm_compaction_end", r"zone_start=0x[0-9a-f]+ migrate_pfn=0x[0-9a-f]+ "
                                  r"free_pfn=0x[0-9a-f]+ zone_end=0x[0-9a-f]+, mode=sync "
                                  r"status=(complete|partial|contended)"),
            ("mm_compaction_isolate_migratepages",
             r"range=\(0x[0-9a-f]+ ~ 0x[0-9a-f]+\) nr_scanned=\d+ nr_taken=\d+"),
            ("mm_compaction_isolate_freepages",
             r"range=\(0x[0-9a-f]+ ~ 0x[0-9a-f]+\) nr_scanned=\d+ nr_taken=\d+"),
            ("mm_compaction_finished", r"node=0 zone=(DMA|DMA32|Normal) +order=-1 "
                                       r"ret=\w+")]:
        got = texts(m, name)
        assert got, name
        for t in got:
            assert re.fullmatch(pat, t), (name, t)
    m.trace.disable()
    m.check()


def test_direct_compaction_events():
    # memory in order-0 holes only (as tests/test_compaction.py's fragmented()), then an
    # order-3 request without kswapd: the allocating task compacts
    m = lv.Machine(ram="64M", seed=0, sysctl={"vm.extfrag_threshold": 1000})
    p = m.spawn("frag")
    n = meminfo(m, "MemFree") // 4 - 1500
    a = p.mmap(None, n * P, RW, ANON)
    for i in range(n):
        p.write(a + i * P, b"z")
    for i in range(0, n, 2):
        p.madvise(a + i * P, P, lv.MADV_DONTNEED)
    while m.kernel.alloc_pages("GFP_KERNEL|__GFP_NORETRY|__GFP_NOWARN", 3) is not None:
        pass
    m.check()
    m.sysctl["vm.extfrag_threshold"] = 500
    m.trace.enable("compaction")
    direct = G.__GFP_DIRECT_RECLAIM | G.__GFP_IO | G.__GFP_FS | G.__GFP_NORETRY
    assert m.kernel.alloc_pages(direct, 3) is not None
    m.check()
    assert texts(m, "mm_compaction_try_to_compact_pages") == [
        f"order=3 gfp_mask=0x{direct:x} mode=0"]                 # MIGRATE_ASYNC
    assert any(re.fullmatch(r"node=0 zone=(DMA|DMA32) +order=3 ret=continue", t)
               for t in texts(m, "mm_compaction_suitable"))
    assert texts(m, "mm_compaction_begin")[0].endswith(", mode=async")
    assert len(fields(m, "mm_compaction_begin")) == len(fields(m, "mm_compaction_end"))
    m.trace.disable()


def test_oom_score_adj_update_event():
    m = lv.Machine(ram="64M")
    p = m.spawn("prog", uid=0)
    m.trace.enable("oom")
    m.proc.write(f"/proc/{p.pid}/oom_score_adj", "500")
    m.proc.write(f"/proc/{p.pid}/oom_adj", "-8")          # legacy: scaled, traced too
    m.check()
    assert texts(m, "oom_score_adj_update") == [
        f"pid={p.pid} comm=prog oom_score_adj=500",
        f"pid={p.pid} comm=prog oom_score_adj=-470"]
    m.trace.disable()


def test_filemap_and_lru_insertion_events():
    m = lv.Machine(ram="128M")
    p = m.spawn("prog")
    m.trace.enable("filemap", "pagemap")
    fd = p.open("/f", lv.O_RDWR | lv.O_CREAT)
    buf = p.mmap(None, 3 * P, RW, ANON)
    p.write(buf, b"q" * 3 * P)
    assert p.sys_write(fd, buf, 3 * P) == 3 * P
    lru_add_drain_all(m)
    p.fsync(fd)
    p.close(fd)
    m.sysctl["vm.drop_caches"] = 1
    m.check()
    ino = m.fs.files["/f"].i_ino
    added = texts(m, "mm_filemap_add_to_page_cache")
    assert [re.sub(r"page=\w+ pfn=\d+", "P", t) for t in added] == [
        f"dev 8:1 ino {ino:x} P ofs={i * P}" for i in range(3)]
    assert len(texts(m, "mm_filemap_delete_from_page_cache")) == 3
    ins = texts(m, "mm_lru_insertion")
    assert any(re.fullmatch(rf"page={PAGE} pfn=\d+ lru=2 flags= f    ", t) for t in ins), ins
    assert any(re.fullmatch(rf"page={PAGE} pfn=\d+ lru=1 flags=Ma b  ", t) for t in ins), ins
    m.trace.disable()
    m.check()


# --- the function graph of one anonymous write fault ----------------------------------------

# 4.6's path for a write to a fresh private anonymous page of a fresh mm, in call order
# (mm/memory.c, mm/rmap.c, mm/mempolicy.c, mm/page_alloc.c, mm/swap.c)
FAULT_4_6 = ["__do_page_fault", "find_vma", "handle_mm_fault", "__handle_mm_fault",
             "__pud_alloc", "__pmd_alloc", "__pte_alloc", "handle_pte_fault",
             "do_anonymous_page", "anon_vma_prepare", "anon_vma_chain_alloc",
             "find_mergeable_anon_vma", "anon_vma_alloc", "anon_vma_chain_link",
             "alloc_zeroed_user_highpage_movable", "alloc_page_vma", "alloc_pages_vma",
             "__alloc_pages_nodemask", "get_page_from_freelist", "buffered_rmqueue",
             "prep_new_page", "mem_cgroup_try_charge", "inc_mm_counter_fast",
             "page_add_new_anon_rmap", "__page_set_anon_rmap",
             "mem_cgroup_commit_charge", "lru_cache_add_active_or_unevictable",
             "__lru_cache_add", "set_pte_at", "update_mmu_cache"]
# what the model folds or lacks: alloc_zeroed_user_highpage_movable and alloc_pages_vma
# are alloc_page_vma (one node, no mempolicy); no memcg; set_pte_at and update_mmu_cache
# are a write of the PTE array (update_mmu_cache is empty on x86 anyway); and
# anon_vma_prepare allocates its anon_vma_chain after the anon_vma (4.6: before)
FAULT_MODEL_LACKS = {"alloc_zeroed_user_highpage_movable", "alloc_pages_vma",
                     "mem_cgroup_try_charge", "mem_cgroup_commit_charge", "set_pte_at",
                     "update_mmu_cache"}


def is_subsequence(needles, hay):
    it = iter(hay)
    return all(any(n == h for h in it) for n in needles)


def test_function_graph_of_an_anonymous_write_fault_follows_4_6s_path():
    m = lv.Machine(ram="128M", cpus=2)
    p = m.spawn("prog")
    a = p.mmap(None, P, RW, ANON)
    m.check()
    with m.trace.function_graph() as g:
        p.access(a, "w")
    m.check()
    called = g.functions()
    expected = [f for f in FAULT_4_6 if f not in FAULT_MODEL_LACKS
                and f != "anon_vma_chain_alloc"]
    assert is_subsequence(expected, called), [f for f in called if f in FAULT_4_6]
    assert "anon_vma_chain_alloc" in called
    assert not FAULT_MODEL_LACKS & set(called)
    # nothing of the accelerators, the façade or the tracer itself
    mods = {c.module for c in g.walk()}
    assert not any(mod.startswith(("linuxvm.accel", "linuxvm.kernel.trace", "linuxvm.cli",
                                   "linuxvm.helpers")) or mod in ("linuxvm.machine",
                                                                  "linuxvm.process")
                   for mod in mods), mods
    text = g.text()
    head = text.splitlines()[:4]
    assert head == ["# tracer: function_graph", "#",
                    "# CPU  DURATION                  FUNCTION CALLS",
                    "# |     |   |                     |   |   |   |"]
    body = text.splitlines()[4:]
    open_line = re.compile(r"^ 0\) {15}\|  ( *)(\w+)\(\) \{$")
    leaf_line = re.compile(r"^ 0\) [ +!#*@$] [0-9.]+ us +\|  ( *)(\w+)\(\);$")
    close_line = re.compile(r"^ 0\) [ +!#*@$] [0-9.]+ us +\|  ( *)\}$")
    depth = 0
    for line in body:
        for rx, step in ((open_line, 1), (leaf_line, 0), (close_line, -1)):
            mt = rx.match(line)
            if mt:
                if step < 0:
                    depth -= 1
                assert len(mt.group(1)) == 2 * depth, line
                depth += max(step, 0)
                break
        else:
            raise AssertionError(line)
    assert depth == 0
    assert any(re.match(r"^ 0\) {15}\| {3,}handle_mm_fault\(\) \{$", ln) for ln in body)


def test_graph_cpu_column_widens_past_ten_cpus():
    m = lv.Machine(ram="128M", cpus=12)
    with m.trace.function_graph(cpu=3) as g:
        m.kernel.kmalloc(8)
    assert g.text().splitlines()[4].startswith("  3) ")


# --- tracing leaves the machine as it was ----------------------------------------------------

def workload(m, trace_midway):
    p = m.spawn("w")
    a = p.mmap(None, 300 * P, RW, ANON)
    for i in range(0, 300, 3):
        p.write(a + i * P, struct.pack("<I", i))
    if trace_midway:
        m.trace.enable("all")
        with m.trace.function_graph():
            p.access(a + P, "w")
    else:
        p.access(a + P, "w")
    c = p.fork()
    for i in range(0, 300, 5):
        c.write(a + i * P, b"c")
    if trace_midway:
        m.trace.disable()
    m.kernel.kmalloc(3000)
    c.exit(0)
    p.munmap(a + 10 * P, 50 * P)
    m.check()
    return m


def test_tracing_leaves_the_fingerprint_unchanged():
    plain = workload(lv.Machine(ram="128M", cpus=2, seed=3), False)
    traced = workload(lv.Machine(ram="128M", cpus=2, seed=3), True)
    reference = workload(lv.Machine(ram="128M", cpus=2, seed=3, fast=False), False)
    assert traced.trace.records()                  # it did record
    assert traced.accel.enabled() == plain.accel.enabled()
    assert_same(fingerprint(plain), fingerprint(traced))
    assert_same(fingerprint(reference), fingerprint(traced))


# --- linuxvm trace ------------------------------------------------------------------------

def test_cli_trace_fault_with_events_and_graph(capsys):
    assert cli.main(["trace", "--ram", "128M", "--events", "kmem:mm_page_alloc,vmscan",
                     "--graph", "--", "fault"]) == 0
    out = capsys.readouterr().out
    assert "# tracer: nop" in out and "# tracer: function_graph" in out
    assert re.search(r"prog-\d+ +\[000\] \.\.\.\. +\d+\.\d{6}: mm_page_alloc: page=ffffea\w+ "
                     r"pfn=\d+ order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE\|__GFP_ZERO",
                     out)
    assert "do_anonymous_page() {" in out


@pytest.mark.parametrize("what, event", [("mmap", "kmem_cache_alloc"),
                                         ("alloc", "mm_page_alloc"),
                                         ("kmalloc", "kmalloc")])
def test_cli_trace_canned_operations(capsys, what, event):
    assert cli.main(["trace", "--ram", "128M", what]) == 0
    out = capsys.readouterr().out
    assert f": {event}: " in out


def test_cli_trace_scenario_and_bad_event(capsys, tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('[machine]\nram = "128M"\n\n[[process]]\nname = "a"\n\n'
                 '[[step]]\nop = "mmap"\nprocess = "a"\nsize = "64K"\nregion = "r"\n\n'
                 '[[step]]\nop = "touch"\nprocess = "a"\nregion = "r"\nwrite = true\n')
    rc = cli.main(["trace", "--events", "kmem:mm_page_alloc", str(f)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert len(re.findall(r"gfp_flags=GFP_HIGHUSER_MOVABLE\|__GFP_ZERO", out)) >= 16
    assert cli.main(["trace", "--events", "kmem:nope", "--ram", "128M", "alloc"]) == 2
