"""Shared readers of the model's /proc counters for the tests."""


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
