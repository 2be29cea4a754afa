"""What-if runs (issue 18 part 4): one scenario and seed run twice with two sets of sysctl
overrides, its snapshot files and /proc/vmstat counters shown side by side.

Lines that differ carry a ``!`` marker in the middle column (and are highlighted when the
output is a terminal); equal lines carry a space.
"""

import itertools

from . import scenario

WIDTH = 60


def parse_overrides(items) -> dict:
    """``["vm.swappiness=10", ...]`` -> {name: value}.

    :raises ValueError: an item without ``=``
    """
    out = {}
    for item in items or ():
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise ValueError(f"an override is NAME=VALUE, not {item!r}")
        out[name.strip()] = value.strip()
    return out


def what_if(path: str, a: dict, b: dict, check=False):
    """Run the scenario at ``path`` with overrides ``a`` and with ``b``: the two Results.

    :raises ScenarioError: the file (or an override) is bad; nothing has booted
    """
    sa = scenario.load(path, a)
    sb = scenario.load(path, b)
    return scenario.run(sa, check=check), scenario.run(sb, check=check)


def _cell(text, width):
    return text if len(text) <= width else text[:width - 1] + "…"


def side_by_side(left: str, right: str, width=WIDTH, only_diff=False):
    """Rows (marker, left line, right line); ``marker`` is "!" where they differ."""
    rows = []
    for l, r in itertools.zip_longest(left.expandtabs().splitlines(),
                                      right.expandtabs().splitlines(), fillvalue=""):
        mark = "!" if l != r else " "
        if only_diff and mark == " ":
            continue
        rows.append((mark, _cell(l, width), _cell(r, width)))
    return rows


def report(ra, rb, label_a: str, label_b: str, width=WIDTH, only_diff=False):
    """The report as (text line, differs) pairs: each snapshot file, then /proc/vmstat."""
    out = []

    def emit(rows):
        for mark, l, r in rows:
            out.append((f"{l:<{width}} {mark} {r}", mark == "!"))

    out.append((f"{'A: ' + label_a:<{width}}   {'B: ' + label_b}", False))
    for (name, path, ta), (_, pb, tb) in itertools.zip_longest(
            ra.snapshots, rb.snapshots, fillvalue=("", "", "")):
        out.append((f"== {name}: {path} ==", False))
        emit(side_by_side(ta, tb, width, only_diff))
    va, vb = scenario.vmstat(ra.machine), scenario.vmstat(rb.machine)
    out.append(("== /proc/vmstat at the end ==", False))
    for k in sorted(set(va) | set(vb), key=list(va).index if set(vb) <= set(va) else None):
        x, y = va.get(k), vb.get(k)
        if only_diff and x == y:
            continue
        emit([("!" if x != y else " ", f"{k} {x}", f"{k} {y}")])
    la, lb = ra.log, rb.log
    if la or lb:
        out.append(("== step log ==", False))
        emit(side_by_side("\n".join(la), "\n".join(lb), width, only_diff))
    return out
