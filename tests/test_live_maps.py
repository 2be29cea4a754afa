"""Issue 4: /proc/PID/maps shapes after mmap/mprotect/munmap/mremap/brk/mlock sequences,
on this machine's kernel and in the model (scenarios: live/scenarios.py MAPS; the two
tests and their rules: live/harness.py scenario_tests and compare)."""

from live.harness import scenario_tests
from live.scenarios import MAPS

test_live_side_runs, test_model_matches_live = scenario_tests(MAPS)


def test_enough_scenarios():
    assert len(MAPS) >= 20
