"""Shared readers of the model's /proc counters for the tests, and direct reclaim."""

from linuxvm.mm import gfp as G
from linuxvm.mm.vmscan.reclaim import ScanControl, do_try_to_free_pages


def _table(m, path, sep):
    out = {}
    for line in m.proc.read(path).splitlines():
        name, rest = line.split(sep, 1) if sep else line.split(None, 1)
        out[name.strip()] = int(rest.split()[0])
    return out


def meminfo(m, key=None):
    """/proc/meminfo in kB: every line as a dict, or the value of ``key``."""
    t = _table(m, "/proc/meminfo", ":")
    return t if key is None else t[key]


def vmstat(m, key=None):
    """/proc/vmstat: every counter as a dict, or the value of ``key``."""
    t = _table(m, "/proc/vmstat", None)
    return t if key is None else t[key]


def reclaim(m, p, nr):
    """Direct reclaim of ``nr`` pages as if ``p`` allocated (try_to_free_pages); ``p``
    None: as a kernel thread."""
    saved = m.current
    m.current = p.task if p is not None else None
    try:
        return do_try_to_free_pages(m, G.GFP_KERNEL, ScanControl(G.GFP_KERNEL, 0, nr))
    finally:
        m.current = saved
