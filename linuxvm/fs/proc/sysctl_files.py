"""/proc/sys: one file per registered sysctl (fs/proc/proc_sysctl.c)."""

from . import Node


def register(procfs):
    m = procfs.m

    def resolve(path):
        name = path[len("/proc/sys/"):].replace("/", ".")
        entry = m.sysctl.entry(name)
        if entry is None:
            return None
        write = (lambda data, n=name: m.sysctl.__setitem__(n, data)) if entry.mode & 0o200 \
            else None
        return Node("text", lambda n=name: m.sysctl.render(n), write)

    def lister(path):
        d = path[len("/proc/sys"):].strip("/").replace("/", ".")
        names = set()
        for key in m.sysctl.keys():
            if d == "":
                names.add(key.split(".")[0])
            elif key.startswith(d + "."):
                names.add(key[len(d) + 1:].split(".")[0])
        return sorted(names) or None

    procfs.add_provider("/proc/sys", resolve, lister)
