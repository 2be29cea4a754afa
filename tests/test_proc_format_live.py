"""The model's /proc memory files against this machine's live kernel, read with the same
parsers: same layout and field names where 4.6 has them, and each known 4.6-vs-6.x
difference asserted as such (docs/deviations.md, "/proc formats")."""

import numpy as np
import pytest

import linuxvm as lv
from linuxvm.helpers.procparse import (parse_buddyinfo, parse_pagetypeinfo, parse_zoneinfo,
                                       parse_meminfo, parse_vmstat, meminfo_columns)

ZONE_NAMES = {"DMA", "DMA32", "Normal", "Movable", "Device"}


def live(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        pytest.skip(f"live {path} is not readable here: {e.strerror}")


def live_bytes(path, offset, n):
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(n)
    except OSError as e:
        pytest.skip(f"live {path} is not readable here: {e.strerror}")


@pytest.fixture(scope="module")
def model():
    return lv.Machine(ram="4G", cpus=2, seed=0)


# --- buddyinfo and pagetypeinfo: same layout -------------------------------------

def test_buddyinfo_same_layout(model):
    got = parse_buddyinfo(live("/proc/buddyinfo"))
    mine = parse_buddyinfo(model.proc.read("/proc/buddyinfo"))
    assert got and all(len(b.counts) == 11 for b in got + mine)
    assert {b.zone for b in got} <= ZONE_NAMES
    assert [b.zone for b in mine] == ["DMA", "DMA32", "Normal"]


def test_pagetypeinfo_same_layout(model):
    got = parse_pagetypeinfo(live("/proc/pagetypeinfo"))
    mine = parse_pagetypeinfo(model.proc.read("/proc/pagetypeinfo"))
    for key in ("pageblock_order", "pages_per_block", "orders"):
        assert got[key] == mine[key]
    assert mine["block_types"] == ["Unmovable", "Movable", "Reclaimable", "HighAtomic",
                                   "Isolate"]
    # a live kernel built with CONFIG_CMA lists one more type; otherwise the same
    assert [t for t in got["block_types"] if t != "CMA"] == mine["block_types"]
    assert mine["extra"] == []


# --- zoneinfo ----------------------------------------------------------------------

def test_zoneinfo_common_fields(model):
    got = parse_zoneinfo(live("/proc/zoneinfo"))
    mine = parse_zoneinfo(model.proc.read("/proc/zoneinfo"))
    pop = [z for z in got if z["pages"].get("present")]
    assert pop
    for z in pop + mine:
        assert {"free", "min", "low", "high", "spanned", "present", "managed"} <= set(z["pages"])
        assert z["pagesets"] and {"cpu", "count", "high", "batch",
                                  "vm stats threshold"} <= set(z["pagesets"][0])
        assert "start_pfn" in z["tail"]
        assert {"nr_free_pages", "nr_mlock", "nr_free_cma"} <= set(z["stats"])


def test_zoneinfo_live_differs_from_46(model):
    text = live("/proc/zoneinfo")
    got = parse_zoneinfo(text)
    mine = parse_zoneinfo(model.proc.read("/proc/zoneinfo"))
    pop = [z for z in got if z["pages"].get("present")]
    # live prints every zone, empty ones too; 4.6 only populated zones
    assert any(not z["pages"].get("present") for z in got)
    assert all(z["pages"]["present"] for z in mine)
    # live has a per-node stats block in the first zone; 4.6 has none
    assert got[0]["per_node"] and not any(z["per_node"] for z in mine)
    # live: boost/promo/cma, no "scanned"; 4.6: scanned
    assert "scanned" not in pop[0]["pages"] and "boost" in pop[0]["pages"]
    assert "scanned" in mine[0]["pages"] and "boost" not in mine[0]["pages"]
    # live prints protection before the zone counters; 4.6 after them
    assert pop[0]["order"].index("protection") < pop[0]["order"].index("stat")
    assert mine[0]["order"].index("protection") > mine[0]["order"].index("stat")
    # live: one protection slot per zone including ZONE_DEVICE (5); 4.6 model: 4
    assert len(mine[0]["protection"]) == 4
    assert len(pop[0]["protection"]) == len(got)
    # live counters are indented 6 spaces, 4.6's 4
    assert "\n      nr_free_pages " in text
    assert "\n    nr_free_pages " in model.proc.read("/proc/zoneinfo")
    # live: node_unreclaimable and no inactive_ratio; 4.6: all_unreclaimable, inactive_ratio
    assert "node_unreclaimable" in pop[0]["tail"] and "inactive_ratio" not in pop[0]["tail"]
    assert set(mine[0]["tail"]) == {"all_unreclaimable", "start_pfn", "inactive_ratio"}
    # live zone counters moved to the node (nr_alloc_batch and nr_pages_scanned are gone)
    assert "nr_alloc_batch" not in pop[0]["stats"] and "nr_alloc_batch" in mine[0]["stats"]
    # live pagesets add high_min/high_max (6.7+) and pad the values
    assert set(mine[0]["pagesets"][0]) == {"cpu", "count", "high", "batch",
                                           "vm stats threshold"}


# --- meminfo -----------------------------------------------------------------------

# lines this 6.x kernel prints that 4.6 does not (each its own deviation entry)
LIVE_ONLY = ["Zswap", "Zswapped", "KReclaimable", "SecPageTables", "Percpu",
             "ShmemHugePages", "ShmemPmdMapped", "FileHugePages", "FilePmdMapped", "Hugetlb",
             "Unaccepted", "Balloon", "CmaTotal", "CmaFree"]


def test_meminfo_common_lines_same_order_and_columns(model):
    text = live("/proc/meminfo")
    got = parse_meminfo(text)
    mine_text = model.proc.read("/proc/meminfo")
    mine = parse_meminfo(mine_text)
    common = [n for n in mine if n in got]
    assert [n for n in got if n in mine] == common          # same relative order
    # all but the lines a config can drop are common
    assert set(mine) - set(got) <= {"HardwareCorrupted", "DirectMap1G", "HugePages_Total",
                                    "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp",
                                    "Hugepagesize", "AnonHugePages"}
    lc, mc = meminfo_columns(text), meminfo_columns(mine_text)
    for n in common:
        assert got[n].unit == mine[n].unit, n
        if n != "VmallocTotal":
            assert lc[n] == mc[n] == 24, n
    assert set(got) - set(mine) <= set(LIVE_ONLY)


@pytest.mark.parametrize("name", LIVE_ONLY)
def test_meminfo_live_only_lines(model, name):
    got = parse_meminfo(live("/proc/meminfo"))
    if name not in got:
        pytest.skip(f"this live kernel's config does not print {name} either")
    assert name not in parse_meminfo(model.proc.read("/proc/meminfo"))


def test_meminfo_vmalloc_used(model):
    # 4.6 printed 0 for VmallocUsed and VmallocChunk; 5.3+ report vmalloc use again
    got = parse_meminfo(live("/proc/meminfo"))
    mine = parse_meminfo(model.proc.read("/proc/meminfo"))
    assert mine["VmallocUsed"].value == 0 and mine["VmallocChunk"].value == 0
    assert got["VmallocTotal"].value == mine["VmallocTotal"].value == 34359738367
    assert got["VmallocUsed"].value > 0


def test_meminfo_hardware_corrupted(model):
    got = parse_meminfo(live("/proc/meminfo"))
    if "HardwareCorrupted" in got:
        pytest.skip("this live kernel has CONFIG_MEMORY_FAILURE like the model")
    # the model's config has MEMORY_FAILURE (PG_hwpoison); this live kernel's does not
    assert "HardwareCorrupted" in parse_meminfo(model.proc.read("/proc/meminfo"))


# --- vmstat ------------------------------------------------------------------------

def test_vmstat_layout_and_renamed_counters(model):
    got = parse_vmstat(live("/proc/vmstat"))
    mine = parse_vmstat(model.proc.read("/proc/vmstat"))
    names, mnames = list(got), list(mine)
    # both: zone/node counters, then the dirty thresholds, then the events from pgpgin
    for order in (names, mnames):
        assert order.index("nr_dirty_threshold") + 1 == \
            order.index("nr_dirty_background_threshold") < order.index("pgpgin")
    shared = {"nr_free_pages", "nr_mlock", "nr_anon_pages", "nr_mapped", "nr_file_pages",
              "nr_dirty", "nr_page_table_pages", "pgfault", "pgfree", "pgalloc_dma32",
              "thp_fault_alloc", "compact_stall"}
    assert shared <= set(got) and shared <= set(mine)
    # gone from live since the node-based LRU (4.8) and the refault split (5.9)
    for name in ("nr_alloc_batch", "nr_pages_scanned", "workingset_refault"):
        assert name in mine and name not in got
    for name in ("nr_zone_inactive_anon", "workingset_refault_file"):
        assert name in got and name not in mine


# --- kpageflags / kpagecount ---------------------------------------------------------

def test_kpage_files_buddy_pages(model):
    flags = np.frombuffer(live_bytes("/proc/kpageflags", 0, 8 << 16), "<u8")
    counts = np.frombuffer(live_bytes("/proc/kpagecount", 0, 8 << 16), "<u8")
    buddy = np.flatnonzero((flags >> 10) & 1)
    if not buddy.size:
        pytest.skip("no free pages in the first 256 MiB of the live machine")
    # both kernels mark every page of a free block BUDDY (is_free_buddy_page) ...
    mf = np.frombuffer(model.proc.read_bytes("/proc/kpageflags", 0, 8 << 16), "<u8")
    mbuddy = np.flatnonzero((mf >> 10) & 1)
    heads = mbuddy[model.mem_map._mapcount[mbuddy] == -128]
    assert len(heads) < len(mbuddy)
    # ... but 6.x reports kpagecount 0 for them, while 4.6's page_mapcount gives a free
    # head _mapcount + 1 = -127
    assert (counts[buddy] == 0).all()
    mc = np.frombuffer(model.proc.read_bytes("/proc/kpagecount", 0, 8 << 16), "<u8")
    assert (mc[heads] == 2 ** 64 - 127).all()
