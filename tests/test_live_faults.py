"""Issue 5: anonymous faults, COW, fork, madvise, mremap, brk, stack growth and page tables,
compared with this machine's kernel (scenarios in tests/live/scenarios.py).

``test_live_side_runs`` needs only gcc and the live kernel: it checks the C program ran,
printed every snapshot, and that the live numbers are the ones the scenario expects.
``test_model_matches_live`` (marked ``live``) runs the same steps in the model and
compares them by the rules in ``live.harness.compare``.
"""

import pytest

from live import harness as H
from live.scenarios import FAULTS

pytestmark = pytest.mark.skipif(H.live_available() is not None,
                                reason=f"live kernel comparison: {H.live_available()}")

test_live_side_runs, test_model_matches_live = H.scenario_tests(FAULTS)


def test_enough_scenarios():
    assert len(FAULTS) >= 25


# -- the comparison rules themselves (no model needed) ---------------------------------------

def _doctored(run, label, field, delta):
    import copy
    out = copy.deepcopy(run)
    for s in out.snaps:
        if s.label == label:
            s.status[field] += delta
    return out


def test_compare_accepts_identical_runs():
    for sc in FAULTS:
        if not sc.devs and not sc.pud_tables:
            live = H.run_live(sc)
            assert H.compare(live, live, sc) == [], sc.name


def test_compare_reports_a_difference():
    sc = next(s for s in FAULTS if s.name == "write_touch_16")
    live = H.run_live(sc)
    problems = H.compare(_doctored(live, "written", "RssAnon", 4), live, sc)
    assert len(problems) == 1 and "RssAnon" in problems[0], problems


def test_declared_deviation_must_be_exact():
    import dataclasses
    sc = next(s for s in FAULTS if s.name == "write_touch_16")
    live = H.run_live(sc)
    model = _doctored(live, "written", "VmSize", 8)
    key = ("delta", "written", "VmSize")
    right = dataclasses.replace(sc, devs=(H.Dev("test", key, lambda v: v - 8),))
    wrong = dataclasses.replace(sc, devs=(H.Dev("test", key, lambda v: v - 4),))
    assert H.compare(model, live, right) == []
    assert ["deviation test" in p for p in H.compare(model, live, wrong)] == [True]


def test_vmpte_counts_all_levels_on_live_kernel():
    """6.x VmPTE grows by PUD+PMD+PTE pages for a touch 512 GiB away (4.6: PTE page only)."""
    sc = next(s for s in FAULTS if s.name == "pagetables_512gib_apart")
    d = H.deltas(H.run_live(sc))
    assert d["first"]["VmPTE"] == 12 and d["second"]["VmPTE"] == 8
    assert "VmPMD" not in H.run_live(sc).snap("start").status


def test_deviations_are_documented():
    import os
    text = open(os.path.join(os.path.dirname(__file__), "..", "docs", "deviations.md")).read()
    section = text.split("## Live kernel comparison", 1)[1]
    names = {"vmpte_counts_all_levels", "split_rss_counting", "vdso_in_mmap_area"}
    for sc in FAULTS + __import__("live.scenarios", fromlist=["MAPS"]).MAPS:
        for d in sc.devs:
            names.update(d.name.split("+"))
        if sc.differs:
            names.add(sc.differs)
    for n in names:
        assert f"`{n}`" in section, f"deviation {n} is not described in docs/deviations.md"


def test_vdso_in_mmap_area():
    """6.x maps [vvar]/[vdso] at the top of the mmap area (4.6: near the stack); the model
    gets a pad of the same size so that both runs place regions at the same addresses."""
    assert H.live_top_gap(H.run_live(FAULTS[0])) > 0
