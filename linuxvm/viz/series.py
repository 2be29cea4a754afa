"""Free pages and per-process RSS over a scenario's snapshots (linuxvm/tools/scenario.py):
the snapshots of /proc/meminfo give MemFree, those of /proc/PID/status give VmRSS, each
drawn at its snapshot's place in the run.

>>> snapshot_series([("a", "/proc/meminfo", "MemFree:  400 kB\\n")]).free_pages
[100]
"""

import re
from collections import namedtuple

from ..arch.x86.page_types import PAGE_SIZE
from . import output

Series = namedtuple("Series", "names free_pages rss")
Series.__doc__ = ("Snapshot names in run order, MemFree in pages at each (None where the "
                  "snapshot has no /proc/meminfo), and {pid: [VmRSS kB or None, ...]}.")

_STATUS = re.compile(r"^/proc/(\d+)/status$")


def _kb(text: str, key: str):
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def snapshot_series(snapshots) -> Series:
    """Group scenario snapshots ``[(name, path, text), ...]`` (``Result.snapshots``) by
    name, in the order they were taken, and read MemFree and each pid's VmRSS."""
    names, by_name = [], {}
    for name, path, text in snapshots:
        if name not in by_name:
            names.append(name)
            by_name[name] = []
        by_name[name].append((path, text))
    free, rss = [], {}
    for i, name in enumerate(names):
        free.append(None)
        for path, text in by_name[name]:
            if path == "/proc/meminfo":
                kb = _kb(text, "MemFree")
                free[i] = None if kb is None else kb * 1024 // PAGE_SIZE
            hit = _STATUS.match(path)
            if hit:
                rss.setdefault(int(hit.group(1)), [None] * len(names))[i] = _kb(text, "VmRSS")
    return Series(names, free, rss)


def timeline(result, path) -> str:
    """Draw free pages and each process's RSS over the snapshots of a scenario run
    (a ``scenario.Result`` or its ``snapshots`` list) to ``path``. Returns the path."""
    output.check_path(path)
    snaps = getattr(result, "snapshots", result)
    s = snapshot_series(snaps)
    if all(v is None for v in s.free_pages) and not s.rss:
        raise ValueError("no snapshot holds /proc/meminfo or /proc/PID/status: nothing to draw")
    fig = output.new_figure(max(6.0, 1.3 * len(s.names) + 2), 6.0)
    top, bottom = fig.subplots(2, 1, sharex=True)
    xs = range(len(s.names))
    pts = [(x, v) for x, v in zip(xs, s.free_pages) if v is not None]
    if pts:
        top.plot(*zip(*pts), marker="o", color="#377eb8")
    top.set_ylabel("free pages (MemFree)")
    top.grid(linewidth=0.3)
    for pid, values in sorted(s.rss.items()):
        pts = [(x, v) for x, v in zip(xs, values) if v is not None]
        bottom.plot(*zip(*pts), marker="o", label=f"pid {pid}")
    if s.rss:
        bottom.legend(fontsize=8)
    bottom.set_ylabel("VmRSS (kB)")
    bottom.grid(linewidth=0.3)
    bottom.set_xticks(list(xs), s.names, rotation=20, ha="right", fontsize=8)
    fig.suptitle("over the scenario's snapshots", fontsize=11)
    return output.save(fig, path)
