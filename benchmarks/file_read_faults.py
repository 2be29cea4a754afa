"""File read faults per second on cached pages with fault-around, model vs the live kernel.

Usage: python benchmarks/file_read_faults.py [MiB]   (default 64)

The live side is benchmarks/file_read_faults_live.c: it writes the file one page per
write(2) (order-0 folios, as 4.6's pages), fsyncs it, then maps it MAP_PRIVATE read-only,
reads one byte of every page and unmaps it, best of 5 rounds; every fault is minor and
fault-around (fault_around_bytes 65536) maps up to 16 cached pages per fault. The model
does the same on its disk filesystem with the file's pages cached: through the public
API one page at a time (``p.access`` and ``p.read``: TLB → page walk → #PF →
handle_mm_fault → do_read_fault → do_fault_around/filemap_map_pages) and with one
``p.touch`` over the whole range, best of 5 rounds each. Ratios are from this one run.

Where the model's time goes (64 MiB, a loaded 2-core machine, three runs): through the
one-page-at-a-time API (``p.access``, ``p.read``) each access is a TLB miss (16384 pages
overflow the TLB) with an inline walk (accel/mmu.py translate_user) of 5-8 us, so a
16-page window costs ~100 us in accesses alone against ~5 us for the live kernel's whole
fault: those stay at 0.03-0.06x whatever the fault costs (the fault itself,
do_read_fault → do_fault_around → filemap_map_pages, is ~30 us with the
``filemap_map_pages`` accelerator). ``p.touch`` over the range goes to the
``touch_file_read`` accelerator (accel/uaccess_filemap.py), which works out a whole PTE
table's faults, fault-around windows, rmap/refcount/RSS/PTE changes and TLB fills at
once: ~0.65 us a page, ~10 us a window, 0.37-0.75x live (the live figure moves with the
load). Of ~10.6 ms for the 64 MiB: page-cache lookups ~0.9 ms, page-table allocations
~0.5 ms, the TLB fills (made once, at the end, set by set) ~0.8 ms, and ~8.4 ms in the
per-table NumPy work (~40 small-array operations a table) and the per-fault Python loop
(fault-around windows and the SPLIT_RSS sync points, 32 faults a table).
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import _live  # noqa: E402

import linuxvm as lv  # noqa: E402

P = 4096
ROUNDS = 5


def model(mib: int, fast=True) -> dict:
    n = mib << 20
    m = lv.Machine(ram=f"{max(512, mib * 4)}M", seed=0, fast=fast)
    p = m.spawn("bench")
    fd = p.open("/f", lv.O_RDWR | lv.O_CREAT | lv.O_TRUNC, 0o600)
    buf = p.mmap(None, P, lv.PROT_READ | lv.PROT_WRITE, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.write(buf, bytes((i + 1) & 0xFF for i in range(P)))
    for _ in range(n // P):
        p.sys_write(fd, buf, P)
    p.fsync(fd)
    out = {}
    for kind in ("access", "read", "touch"):
        best, faults = 1e9, 0
        for _ in range(ROUNDS):
            a = p.mmap(None, n, lv.PROT_READ, lv.MAP_PRIVATE, fd, 0)
            f0, j0 = p.task.min_flt, p.task.maj_flt
            t0 = time.perf_counter()
            if kind == "access":
                for off in range(0, n, P):
                    p.access(a + off)
            elif kind == "read":
                for off in range(0, n, P):
                    p.read(a + off, 1)
            else:
                p.touch(a, n)
            dt = time.perf_counter() - t0
            assert p.task.maj_flt == j0, "a page was not cached"
            faults = p.task.min_flt - f0
            best = min(best, dt)
            p.munmap(a, n)
        out[kind] = {"faults": faults, "seconds": best, "faults_per_second": faults / best,
                     "pages_per_second": (n // P) / best}
    m.check()
    return out


def main():
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    src = open(os.path.join(os.path.dirname(__file__), "file_read_faults_live.c")).read()
    exe = _live.compile_c(src, "file_read_faults_live")
    live = None
    if exe:
        # a disk filesystem, not tmpfs (/dev/shm would be shmem, not a file's page cache)
        d = tempfile.mkdtemp(prefix="linuxvm-bench-", dir=os.path.expanduser("~")
                             if os.path.isdir(os.path.expanduser("~")) else None)
        live = _live.run_c(exe, os.path.join(d, "f"), mib, ROUNDS)
        os.rmdir(d)
    mod = model(mib)
    ref = model(mib, fast=False)
    print(f"workload: read one byte of every page of a cached {mib} MiB file mapped "
          f"MAP_PRIVATE (fault-around 64 KiB), best of {ROUNDS}")
    for name, res in (("model", mod), ("model, accelerators off", ref)):
        for kind in ("access", "read", "touch"):
            r = res[kind]
            print(f"{name}, p.{kind}: {r['faults']:.0f} faults in {r['seconds']:.4f} s = "
                  f"{r['faults_per_second']:,.0f} faults/s ({r['pages_per_second']:,.0f} "
                  f"pages/s)")
    if live is None:
        print("live kernel: gcc not found, no ratio")
        return
    print(f"live: {live['faults']:.0f} faults in {live['fault_seconds']:.5f} s = "
          f"{live['faults_per_second']:,.0f} faults/s ({live['pages_per_second']:,.0f} "
          f"pages/s)")
    for kind in ("access", "read", "touch"):
        print(f"ratio model/live faults per second, p.{kind}: "
              f"{mod[kind]['faults_per_second'] / live['faults_per_second']:.4f} "
              f"(goal >= 0.25)")


if __name__ == "__main__":
    main()
