"""The soak (linuxvm/tools/soak.py): a short run passes, runs are deterministic, and a
failure is shrunk to a small reproducer that replays."""

import linuxvm as lv
from linuxvm import cli
from linuxvm.tools import soak


def test_short_soak_passes():
    # CI's soak: a few thousand steps over a few seeds, zero failures, no leaked frames
    results = [soak.soak_seed(seed, 500, quiet=True) for seed in range(4)]
    text = soak.summary(results)
    assert all(r["failure"] is None for r in results), text
    for r in results:
        assert soak.census_total(r["end"]) == soak.census_total(r["boot"]), text
        assert r["end"]["kernel_stack"] == 0         # every process has exited
    assert "failures: 0" in text
    # every kind of operation ran
    counts = set().union(*(r["counts"] for r in results))
    assert set(soak.OPS) - counts <= {"munlock", "munlockall"}, set(soak.OPS) - counts


def test_same_seed_same_run():
    a, fa = soak.execute(5, soak.plan(5, 200))
    b, fb = soak.execute(5, soak.plan(5, 200))
    assert fa is None and fb is None
    assert a.lines == b.lines
    assert soak.plan(5, 50) != soak.plan(6, 50)


def _injected(monkeypatch):
    """mprotect fails (a stand-in for a model bug) once the process has 2 or more VMAs."""
    real = lv.Process.mprotect

    def mprotect(self, addr, length, prot):
        if self.mm.map_count >= 2:
            raise RuntimeError("injected failure")
        return real(self, addr, length, prot)
    monkeypatch.setattr(lv.Process, "mprotect", mprotect)


def test_shrinker_gives_a_small_reproducer_that_replays(monkeypatch):
    _injected(monkeypatch)
    res = soak.soak_seed(0, 400, quiet=True, shrink_budget=60)
    assert res["failure"] is not None
    assert "RuntimeError: injected failure" in res["failure"]
    assert "FAILURE: seed 0, step" in res["failure"]
    # spawn, two mmaps and the mprotect are all it takes
    assert res["shrunk_steps"] <= 5, res["reproducer"]
    code = res["reproducer"]
    assert code.startswith("import linuxvm as lv")
    try:
        exec(compile(code, "<reproducer>", "exec"), {})
    except RuntimeError as e:
        assert str(e) == "injected failure"
    else:
        raise AssertionError("the reproducer did not fail:\n" + code)


def test_a_leaked_frame_is_a_failure(monkeypatch):
    real = lv.Kernel.free_pages

    def free_pages(self, pfn, order=0, cpu=None):
        if order == 1:
            return None         # forgets the block: its two frames leak
        return real(self, pfn, order, cpu)
    monkeypatch.setattr(lv.Kernel, "free_pages", free_pages)
    plan = [s for s in soak.plan(1, 3000) if s[0] == "alloc_pages"][:200]
    run, fail = soak.execute(1, plan)
    assert fail is not None and fail.phase == "leak"
    small, sfail = soak.shrink(1, plan, fail, budget_s=60)
    assert len(small) == 1 and sfail.phase == "leak"
    code = soak.reproducer(sfail)
    assert "K.free_pages(" in code and code.rstrip().endswith("frame_census(m)")
    try:
        exec(compile(code, "<reproducer>", "exec"), {})
    except AssertionError:
        pass
    else:
        raise AssertionError("the reproducer did not show the leak:\n" + code)


def test_cli_soak(capsys):
    assert cli.main(["soak", "--seed", "2", "--steps", "100", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "soak: 1 seed(s), 100 steps" in out
    assert "frame-leak check: 1 seed(s)" in out and "(0 frames leaked)" in out


def test_cli_soak_fails_with_status_1(monkeypatch, capsys):
    _injected(monkeypatch)
    assert soak.main(["--seed", "0", "--steps", "400", "--quiet",
                      "--shrink-budget", "20"]) == 1
    out = capsys.readouterr().out
    assert "failures: 1" in out and "minimal reproducer" in out


