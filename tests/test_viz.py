"""Issue 19 part 3: pictures (lv.viz, ``linuxvm plot``). Each picture is a valid PNG and
SVG, plotting leaves the machine exactly as it was (whole-machine fingerprint), and the
owner classification of the physical map adds up to the model's own counters."""

import doctest
import pathlib

import numpy as np
import pytest

import linuxvm as lv
from linuxvm.accel.fingerprint import assert_same, fingerprint
from linuxvm.cli import PLOT_KINDS, main
from linuxvm.include.vm_event_item import (NR_ANON_PAGES, NR_FILE_PAGES, NR_PAGETABLE,
                                           NR_SLAB_RECLAIMABLE, NR_SLAB_UNRECLAIMABLE)
from linuxvm.tools import scenario
from linuxvm.viz import frag, physmap, pgtree, series

MiB = 1 << 20
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def machine():
    """256 MiB: pid 1 touched 16 MiB, forked (pid 2 wrote 4 MiB of it), wrote a 2 MiB
    shared file mapping, and unmapped every other MiB; no swap."""
    m = lv.Machine(ram="256M", seed=0)
    p = m.spawn("prog")
    a = p.mmap(None, 16 * MiB, lv.PROT_READ | lv.PROT_WRITE, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.touch(a, 16 * MiB, write=True)
    m.check()
    c = p.fork()
    c.touch(a, 4 * MiB, write=True)
    m.check()
    fd = p.open("/data", lv.O_CREAT | lv.O_RDWR)
    p.ftruncate(fd, 2 * MiB)
    f = p.mmap(None, 2 * MiB, lv.PROT_READ | lv.PROT_WRITE, lv.MAP_SHARED, fd, 0)
    p.touch(f, 2 * MiB, write=True)
    m.check()
    for off in range(0, 16 * MiB, 2 * MiB):
        p.munmap(a + off, MiB)
        m.check()
    return m, p, c


def _valid(path, fmt):
    data = path.read_bytes()
    assert len(data) > 0
    if fmt == "png":
        assert data.startswith(PNG)
    else:
        assert data.lstrip().startswith(b"<?xml") and b"<svg" in data[:1000]
        assert data.rstrip().endswith(b"</svg>")


@pytest.mark.parametrize("fmt", ["png", "svg"])
@pytest.mark.parametrize("kind", ["physmap", "frag", "pagetables"])
def test_picture_is_valid_and_changes_nothing(machine, tmp_path, kind, fmt):
    m, p, _ = machine
    before = fingerprint(m)
    out = tmp_path / f"{kind}.{fmt}"
    if kind == "physmap":
        got = lv.viz.physical_map(m, out)
    elif kind == "frag":
        got = lv.viz.fragmentation(m, out)
    else:
        got = lv.viz.page_table_tree(m, p.pid, out)
    assert got == str(out)
    _valid(out, fmt)
    m.check()
    assert_same(before, fingerprint(m))


def test_same_machine_same_picture(machine, tmp_path):
    m, _, _ = machine
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    lv.viz.fragmentation(m, a)
    lv.viz.fragmentation(m, b)
    assert a.read_bytes() == b.read_bytes()


def test_owner_classes_equal_the_counters(machine):
    m, _, _ = machine
    cls = lv.viz.classify_frames(m)
    counts = np.bincount(cls, minlength=len(lv.viz.OWNER_NAMES))
    g = m.global_page_state
    assert counts.sum() == m.mem_map.nr_frames
    assert counts[physmap.OWNER_FREE] == m.nr_free_pages()
    assert counts[physmap.OWNER_PCP] == sum(ps.pcp.count for z in m.zones for ps in z.pageset)
    assert counts[physmap.OWNER_PCP] > 0
    assert counts[physmap.OWNER_SLAB] == g(NR_SLAB_RECLAIMABLE) + g(NR_SLAB_UNRECLAIMABLE)
    # every page-table page of every mm and the kernel's; user PTE pages are NR_PAGETABLE
    assert counts[physmap.OWNER_PGTABLE] == len(m.pgtables) > g(NR_PAGETABLE) > 0
    # no swap: every anon page is mapped: the 16 MiB touched, less the 2 MiB whose both
    # parent and child mappings went (the parent unmapped it, the child copied it), plus
    # the child's 4 MiB of copies; the page cache holds only /data
    assert counts[physmap.OWNER_ANON] == g(NR_ANON_PAGES) == (16 - 2 + 4) * MiB // 4096
    assert counts[physmap.OWNER_FILE] == g(NR_FILE_PAGES) == 2 * MiB // 4096
    reserved = (m.mem_map.flags & np.uint64(1 << lv.mm.page.PG_reserved)) != 0
    tables = np.zeros(m.mem_map.nr_frames, bool)
    tables[list(m.pgtables)] = True
    assert counts[physmap.OWNER_RESERVED] == int((reserved & ~tables).sum())


def test_zone_and_migratetype_panels(machine):
    m, _, _ = machine
    zones = physmap.zone_of_frames(m)
    for z in m.zones:
        assert (zones == z.idx).sum() == z.spanned_pages
    mt = physmap.migratetype_of_frames(m)
    pfns = range(0, m.mem_map.nr_frames, 4099)
    assert [int(mt[p]) for p in pfns] == \
        [m.pgdat.pageblock_flags.get_pageblock_migratetype(p) for p in pfns]


def test_grid_groups_frames_on_a_big_machine():
    values = np.repeat(np.arange(4, dtype=np.int8), (1 << 20) // 4)
    grid, per_cell, width = physmap._grid(values, 4)
    assert per_cell == 4 and grid.size <= physmap.MAX_CELLS
    assert list(np.bincount(grid.ravel())) == [grid.size // 4] * 4


def test_unusable_index_is_debugfs(machine):
    m, _, _ = machine
    text = m.proc.read("/sys/kernel/debug/extfrag/unusable_index").splitlines()
    table = lv.viz.unusable_index_table(m)
    assert len(text) == len(table)
    for line, (name, idx) in zip(text, table):
        assert line.split()[3] == name
        assert line.split()[4:] == [f"{i // 1000}.{i % 1000:03d}" for i in idx]


def test_page_table_tree_counts(machine):
    m, p, c = machine
    t = lv.viz.walk_page_table_tree(m, p.pid)
    assert t.level == "PGD" and t.pfn == p.mm.pgd

    def leaves(n):
        return [n] if n.level == "PTE" else [x for ch in n.children for x in leaves(ch)]
    ptes = leaves(t)
    assert len(ptes) == p.mm.nr_ptes
    rss = lv.helpers.mm.task_rss(m.tasks[p.pid]).total
    assert sum(x.present for x in ptes) == rss
    with pytest.raises(ValueError):
        lv.viz.walk_page_table_tree(m, 99)


def test_bad_paths_and_kinds(machine, tmp_path):
    m, _, _ = machine
    with pytest.raises(ValueError):
        lv.viz.physical_map(m, tmp_path / "x.jpg")
    with pytest.raises(ValueError):
        lv.viz.physical_map(m, tmp_path / "x.png", panels=("nope",))
    with pytest.raises(TypeError):
        lv.viz.fragmentation(m, 3)
    with pytest.raises(ValueError):
        lv.viz.plot(m, "nope", tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


def test_cli_kinds_match():
    assert PLOT_KINDS == lv.viz.KINDS


@pytest.mark.parametrize("kind", PLOT_KINDS)
def test_cli_plot_writes_the_file(tmp_path, capsys, kind):
    out = tmp_path / f"{kind}.png"
    assert main(["plot", kind, "--ram", "128M", "--user", "4M", "-o", str(out)]) == 0
    _valid(out, "png")
    assert f"wrote {out}" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["plot", "bogus", "-o", "x.png"],
                                  ["plot", "physmap", "-o", "x.jpg"],
                                  ["plot", "pagetables", "--ram", "128M", "-o", "x.png"],
                                  ["plot", "pagetables", "--ram", "128M", "--pid", "7",
                                   "-o", "x.png"]])
def test_cli_plot_bad_input_exits_2(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert "linuxvm: error:" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("mod", [physmap, frag, pgtree, series])
def test_doctests(machine, mod):
    m, _, _ = machine
    g = dict(vars(mod), m=m, lv=lv)
    tests = doctest.DocTestFinder().find(mod, globs=g)
    assert sum(len(t.examples) for t in tests)
    runner = doctest.DocTestRunner()
    for t in tests:
        runner.run(t)
    assert runner.failures == 0


def test_timeline_over_scenario_snapshots(tmp_path):
    scn = scenario.load(str(pathlib.Path(__file__).parent.parent / "examples" / "autopsy.toml"))
    res = scenario.run(scn, check=True)
    s = lv.viz.snapshot_series(res.snapshots)
    assert s.names == ["after mmap", "after the two end writes", "after memset"]
    pid = res.procs["autopsy"].pid
    assert s.rss[pid][0] < s.rss[pid][2] and s.rss[pid][1] is None
    assert s.free_pages[0] > s.free_pages[2]
    before = fingerprint(res.machine)
    for fmt in ("png", "svg"):
        out = tmp_path / f"timeline.{fmt}"
        assert lv.viz.timeline(res, out) == str(out)
        _valid(out, fmt)
    assert_same(before, fingerprint(res.machine))
    with pytest.raises(ValueError):
        lv.viz.timeline([("x", "/proc/buddyinfo", "")], tmp_path / "t.png")
