"""GFP flags: 4.6 values, parsing expressions, %pGg, gfp_zone and migratetypes
(include/linux/gfp.h, include/trace/events/mmflags.h)."""

import pytest

import linuxvm as lv
from linuxvm.mm import gfp as G
from linuxvm.mm import page_alloc as pa
from linuxvm.mm.gfp import parse_gfp, format_gfp, gfp_zone, gfpflags_to_migratetype
from linuxvm.mm.mmzone import MIGRATE_UNMOVABLE, MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE

VALUES = [
    ("GFP_KERNEL", 0x24000c0), ("GFP_HIGHUSER_MOVABLE", 0x24200ca),
    ("GFP_ATOMIC", 0x2080020), ("GFP_USER", 0x24200c0), ("GFP_NOWAIT", 0x2000000),
    ("GFP_NOIO", 0x2400000), ("GFP_NOFS", 0x2400040), ("GFP_TEMPORARY", 0x24000d0),
    ("GFP_DMA", 0x1), ("GFP_DMA32", 0x4), ("GFP_HIGHUSER", 0x24200c2),
    ("GFP_TRANSHUGE", 0x352ca), ("__GFP_ZERO", 0x8000), ("__GFP_COLD", 0x100),
    ("__GFP_NOWARN", 0x200), ("__GFP_COMP", 0x4000), ("__GFP_KSWAPD_RECLAIM", 0x2000000),
]


@pytest.mark.parametrize("name,value", VALUES)
def test_values(name, value):
    assert parse_gfp(name) == value == G.GFP_NAMES[name]


EXPRESSIONS = [
    ("GFP_KERNEL|__GFP_ZERO", 0x24080c0),
    (" GFP_KERNEL | __GFP_ZERO ", 0x24080c0),
    ("GFP_KERNEL&~__GFP_FS", 0x2400040),            # left to right: GFP_NOFS
    ("GFP_HIGHUSER_MOVABLE & ~__GFP_MOVABLE", 0x24200c2),
    ("0x24000c0|__GFP_COMP", 0x24040c0),
    ("64|128", 0xc0),
    (0x24200ca, 0x24200ca),
    (0, 0),
]


@pytest.mark.parametrize("expr,value", EXPRESSIONS)
def test_parse_expressions(expr, value):
    assert parse_gfp(expr) == value


BAD = [
    ("GFP_KERNAL", "GFP_KERNAL"),
    ("GFP_KERNEL|__GFP_BOGUS", "__GFP_BOGUS"),
    ("GFP_KERNEL|", "ends with an operator"),
    ("GFP_KERNEL+__GFP_ZERO", "+__GFP_ZERO"),
    ("", "empty"),
    (1 << 26, "__GFP_BITS_MASK"),
    (-1, "__GFP_BITS_MASK"),
    (3.5, "3.5"),
]


@pytest.mark.parametrize("expr,named", BAD)
def test_bad_tokens_raise_value_error_naming_them(expr, named):
    with pytest.raises(ValueError) as e:
        parse_gfp(expr)
    assert named in str(e.value)


def test_kernel_entry_rejects_bad_gfp_without_touching_state():
    m = lv.Machine(ram="128M", cpus=1)
    free = m.nr_free_pages()
    with pytest.raises(ValueError, match="GFP_NOPE"):
        m.kernel.alloc_pages("GFP_KERNEL|GFP_NOPE", 0)
    assert m.nr_free_pages() == free
    m.check()


FORMATS = [
    (0x24200ca, "GFP_HIGHUSER_MOVABLE"),
    (0x24000c0, "GFP_KERNEL"),
    (0x24080c0, "GFP_KERNEL|__GFP_ZERO"),
    (0x24201ca, "GFP_HIGHUSER_MOVABLE|__GFP_COLD"),
    (0x352ca, "GFP_TRANSHUGE"),
    (0x2080020, "GFP_ATOMIC"),
    (0x24000c0 | 0x20000, "GFP_USER"),             # composites with most bits win
    (0x2400040, "GFP_NOFS"),
    (0x400000, "__GFP_DIRECT_RECLAIM"),
    (0x8000 | (1 << 27), "__GFP_ZERO|0x8000000"),  # leftover bits in hex
    (0, ""),
]


@pytest.mark.parametrize("value,text", FORMATS)
def test_format_gfp(value, text):
    assert format_gfp(value) == text


ZONES = [
    ("GFP_KERNEL", 2), ("GFP_USER", 2), ("GFP_HIGHUSER", 2), ("GFP_HIGHUSER_MOVABLE", 3),
    ("GFP_DMA", 0), ("GFP_DMA32", 1), ("GFP_KERNEL|__GFP_MOVABLE", 2),
    ("GFP_DMA32|__GFP_MOVABLE", 1), ("GFP_DMA|__GFP_MOVABLE", 0),
]


@pytest.mark.parametrize("expr,zone", ZONES)
def test_gfp_zone(expr, zone):
    assert gfp_zone(parse_gfp(expr)) == zone


@pytest.mark.parametrize("bits", [0x1 | 0x2, 0x1 | 0x4, 0x2 | 0x4, 0x7, 0xf])
def test_gfp_zone_bad_combinations(bits):
    with pytest.raises(ValueError):
        gfp_zone(bits)


@pytest.mark.parametrize("expr,mt", [("GFP_KERNEL", MIGRATE_UNMOVABLE),
                                     ("GFP_HIGHUSER_MOVABLE", MIGRATE_MOVABLE),
                                     ("GFP_TEMPORARY", MIGRATE_RECLAIMABLE),
                                     ("GFP_ATOMIC", MIGRATE_UNMOVABLE),
                                     ("GFP_TRANSHUGE", MIGRATE_MOVABLE)])
def test_gfpflags_to_migratetype(expr, mt):
    assert gfpflags_to_migratetype(parse_gfp(expr)) == mt


ALLOC_FLAGS = [
    ("GFP_KERNEL", pa.ALLOC_WMARK_MIN | pa.ALLOC_CPUSET),
    ("GFP_ATOMIC", pa.ALLOC_WMARK_MIN | pa.ALLOC_HIGH | pa.ALLOC_HARDER),
    ("GFP_ATOMIC|__GFP_NOMEMALLOC", pa.ALLOC_WMARK_MIN | pa.ALLOC_HIGH),
    ("GFP_KERNEL|__GFP_HIGH", pa.ALLOC_WMARK_MIN | pa.ALLOC_CPUSET | pa.ALLOC_HIGH),
    ("GFP_KERNEL|__GFP_MEMALLOC",
     pa.ALLOC_WMARK_MIN | pa.ALLOC_CPUSET | pa.ALLOC_NO_WATERMARKS),
    ("GFP_KERNEL|__GFP_MEMALLOC|__GFP_NOMEMALLOC", pa.ALLOC_WMARK_MIN | pa.ALLOC_CPUSET),
]


@pytest.mark.parametrize("expr,flags", ALLOC_FLAGS)
def test_gfp_to_alloc_flags(expr, flags):
    assert pa.gfp_to_alloc_flags(parse_gfp(expr)) == flags


class _Task:
    """Just the task_struct fields gfp_to_alloc_flags reads."""

    def __init__(self, flags=0, rt_priority=0, memdie=False):
        self.flags, self.rt_priority, self.memdie = flags, rt_priority, memdie
        self.pid, self.comm = 42, "t"


@pytest.mark.parametrize("task,extra", [
    (_Task(rt_priority=50), pa.ALLOC_HARDER),
    (_Task(flags=pa.PF_MEMALLOC), pa.ALLOC_NO_WATERMARKS),
    (_Task(memdie=True), pa.ALLOC_NO_WATERMARKS),
    (_Task(), 0)])
def test_gfp_to_alloc_flags_from_the_task(task, extra):
    m = lv.Machine(ram="128M", cpus=1)
    m.current = task
    assert pa.gfp_to_alloc_flags(G.GFP_KERNEL, m) == \
        pa.ALLOC_WMARK_MIN | pa.ALLOC_CPUSET | extra
