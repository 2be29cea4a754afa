"""Boot time, peak host memory and host bytes per simulated frame for 1, 16 and 64 GiB.

Each size boots in its own subprocess so peak RSS (getrusage ru_maxrss) belongs to that
boot alone; the RSS after importing linuxvm is reported too, so the machine's own cost
is the difference. Goal: at most 64 host bytes per frame (the size of a struct page).

    python benchmarks/boot.py [SIZE ...]
"""

import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import linuxvm as lv
from linuxvm.mm.mmzone import pageblock_nr_pages
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
m = lv.Machine(ram=sys.argv[1], cpus=2, seed=0)
boot = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
mm = m.mem_map
frames = mm.nr_frames
pb = m.zones[0].pb.bits.nbytes
print(json.dumps(dict(ram=sys.argv[1], boot_s=boot, rss_import_kb=base, rss_peak_kb=peak,
                      frames=frames, mem_map_bytes=mm.host_bytes(), pageblock_bytes=pb,
                      free_pages=m.nr_free_pages())))
"""


def measure(size: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, size], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


def main(sizes):
    print(f"{'RAM':>5} {'boot s':>8} {'peak RSS MiB':>13} {'machine MiB':>12} "
          f"{'frames':>10} {'B/frame':>8}")
    for size in sizes:
        r = measure(size)
        per_frame = (r["mem_map_bytes"] + r["pageblock_bytes"]) / r["frames"]
        print(f"{r['ram']:>5} {r['boot_s']:8.3f} {r['rss_peak_kb'] / 1024:13.1f} "
              f"{(r['rss_peak_kb'] - r['rss_import_kb']) / 1024:12.1f} {r['frames']:10d} "
              f"{per_frame:8.2f}")
    print("B/frame = (mem_map arrays + pageblock bits) / frames; goal <= 64")


if __name__ == "__main__":
    main(sys.argv[1:] or ["1G", "16G", "64G"])
