"""The worked example of docs/pictures/README.md: boot a 256 MiB machine, spawn a process
that touches 64 MiB, fork it, let the child write a quarter of it (copy on write), map and
write an 8 MiB file (page cache), then free every other MiB of the parent's mapping and
exit the child; draw physmap.png, frag.png and pagetables.png next to this script; then
run examples/autopsy.toml and draw timeline.png from its snapshots.

    PYTHONPATH=. python docs/pictures/make.py
"""

import os

import linuxvm as lv
from linuxvm.tools import scenario

HERE = os.path.dirname(os.path.abspath(__file__))
MiB = 1 << 20


def build():
    m = lv.Machine(ram="256M", seed=0)
    p = m.spawn("prog")
    size = 64 * MiB
    a = p.mmap(None, size, lv.PROT_READ | lv.PROT_WRITE, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.touch(a, size, write=True)
    c = p.fork()
    c.touch(a, size // 4, write=True)               # COW: the child gets its own 16 MiB
    fd = p.open("/data", lv.O_CREAT | lv.O_RDWR)
    p.ftruncate(fd, 8 * MiB)
    f = p.mmap(None, 8 * MiB, lv.PROT_READ | lv.PROT_WRITE, lv.MAP_SHARED, fd, 0)
    p.touch(f, 8 * MiB, write=True)                 # page-cache pages of /data
    for off in range(0, size, 2 * MiB):             # drop every other MiB: holes
        p.munmap(a + off, MiB)
    c.exit()
    m.check()
    return m, p


def main():
    m, p = build()
    lv.viz.physical_map(m, os.path.join(HERE, "physmap.png"))
    lv.viz.fragmentation(m, os.path.join(HERE, "frag.png"))
    lv.viz.page_table_tree(m, p.pid, os.path.join(HERE, "pagetables.png"))
    m.check()
    autopsy = os.path.join(HERE, "..", "..", "examples", "autopsy.toml")
    res = scenario.run(scenario.load(autopsy), check=True)
    lv.viz.timeline(res, os.path.join(HERE, "timeline.png"))
    print(m.proc.read("/proc/buddyinfo"), end="")
    print(m.proc.read("/sys/kernel/debug/extfrag/unusable_index"), end="")


if __name__ == "__main__":
    main()
