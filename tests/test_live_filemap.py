"""Issue 12: read faults on file mappings and fault-around, compared with this machine's
kernel. One small C program (tests/live/filemap_fault_around.c) makes a file with
write(2), maps it, reads one byte and counts the pages the fault mapped
(/proc/self/pagemap); the model runs the same steps.

The live kernel (6.x) caches files in large folios when it can and maps whole folios
(fault-around since 357b92761d94, finish_fault since 19773df031bc); 4.6 has only 4 KiB
pages. Writing the file one page per write(2) gives the live kernel order-0 folios, so
the fault-around window rules compare one to one; the rows with a ``dev`` are the
declared differences (docs/deviations.md, "Page cache and file faults").
"""

import hashlib
import os
import subprocess
import tempfile

import pytest

import linuxvm as lv
from linuxvm.arch.x86.pgtable import pt_entries, pte_present
from linuxvm.mm.memory.pgtable import pte_lookup
from live import harness as H

pytestmark = pytest.mark.skipif(H.live_available() is not None,
                                reason=f"live kernel comparison: {H.live_available()}")

P = 4096
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "live",
                   "filemap_fault_around.c")
BASE = 0x7f0000000000

# name, file bytes, map offset (pages from a 2 MiB boundary), map pages, fault page
# (in the mapping), uncached, write chunk, 4.6 outcome, (live outcome, reason) or None
SCENARIOS = [
    ("small_file_whole_window", 16 * P, 0, 16, 0, 0, P,
     dict(present=16, minflt=1, majflt=0, sigbus=0), None),
    ("window_around_page_20", 64 * P, 0, 64, 20, 0, P,
     dict(present=16, minflt=1, majflt=0, sigbus=0), None),
    ("last_window", 64 * P, 0, 64, 63, 0, P,
     dict(present=16, minflt=1, majflt=0, sigbus=0), None),
    ("unaligned_vma_start", 64 * P, 3, 40, 0, 0, P,
     dict(present=16, minflt=1, majflt=0, sigbus=0), None),
    ("window_crossing_vma_end", 64 * P, 3, 40, 38, 0, P,
     dict(present=11, minflt=1, majflt=0, sigbus=0), None),
    ("file_shorter_than_window", 5 * P, 0, 16, 2, 0, P,
     dict(present=5, minflt=1, majflt=0, sigbus=0), None),
    ("partial_last_page", 5 * P + 100, 0, 16, 0, 0, P,
     dict(present=6, minflt=1, majflt=0, sigbus=0), None),
    ("window_clipped_by_pmd", 64 * P, 510, 20, 0, 0, P,
     dict(present=2, minflt=1, majflt=0, sigbus=0), None),
    ("sigbus_past_eof_after_fault_around", 5 * P, 0, 16, 6, 0, P,
     dict(present=5, minflt=0, majflt=0, sigbus=1), None),
    ("uncached_major_fault_at_0", 64 * P, 0, 64, 0, 1, P,
     dict(present=16, minflt=0, majflt=1, sigbus=0), None),
    ("uncached_major_fault_at_40", 64 * P, 0, 64, 40, 1, P,
     dict(present=16, minflt=0, majflt=1, sigbus=0), None),
    ("uncached_readahead_marker_in_window", 64 * P, 0, 64, 20, 1, P,
     dict(present=15, minflt=0, majflt=1, sigbus=0),
     (dict(present=16, minflt=0, majflt=1, sigbus=0),
      "6.x reads ahead into large folios and maps the faulting folio whole "
      "(finish_fault); 4.6 skips the PG_readahead page 28 in the window")),
    ("one_write_large_folio", 64 * P, 0, 64, 20, 0, 64 * P,
     dict(present=16, minflt=1, majflt=0, sigbus=0),
     (dict(present=64, minflt=1, majflt=0, sigbus=0),
      "6.x caches a 256 KiB write in one large folio and fault-around maps the whole "
      "folio (357b92761d94); 4.6 maps its 16-page window")),
]


def _binary():
    with open(SRC, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    exe = os.path.join(H.cache_dir(), f"filemap_fault_around-{digest}")
    if not os.path.exists(exe):
        subprocess.run(["gcc", "-O1", "-o", exe, SRC], check=True)
    return exe


def run_live(sc):
    _, nbytes, moff, npages, fpage, uncached, chunk, _, _ = sc
    # (the file's filesystem matters: tmpfs is shmem, not a disk filesystem's cache)
    with tempfile.TemporaryDirectory(dir=H.cache_dir()) as d:
        out = subprocess.run([_binary(), os.path.join(d, "f"), str(nbytes), str(moff),
                              str(npages), str(fpage), str(uncached), str(chunk)],
                             check=True, capture_output=True, text=True).stdout
    vals = dict(kv.split("=") for kv in out.split())
    return {k: int(vals[k]) for k in ("present", "minflt", "majflt", "sigbus")}


def run_model(sc):
    _, nbytes, moff, npages, fpage, uncached, chunk, _, _ = sc
    m = lv.Machine(ram="256M", aslr=False)
    p = m.spawn("fa")
    fd = p.open("/f", lv.O_RDWR | lv.O_CREAT | lv.O_TRUNC, 0o600)
    buf = p.mmap(None, nbytes + P, lv.PROT_READ | lv.PROT_WRITE,
                 lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.write(buf, bytes((i * 7 + 1) & 0xFF for i in range(nbytes)))
    for off in range(0, nbytes, chunk):
        p.sys_write(fd, buf + off, min(chunk, nbytes - off))
    if uncached:
        p.fsync(fd)
        p.posix_fadvise(fd, 0, 0, lv.POSIX_FADV_DONTNEED)
    a = p.mmap(BASE + moff * P, npages * P, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_FIXED,
               fd, 0)
    m.check()
    mn, mj = p.task.min_flt, p.task.maj_flt
    sigbus = 0
    try:
        p.read(a + fpage * P + 1, 1)
    except lv.BusError:
        sigbus = 1
    m.check()
    present = 0
    for i in range(npages):
        ptr = pte_lookup(m, p.mm, a + i * P)
        if ptr is not None and pte_present(int(pt_entries(m, ptr[0])[ptr[1]])):
            present += 1
    return dict(present=present, minflt=p.task.min_flt - mn, majflt=p.task.maj_flt - mj,
                sigbus=sigbus)


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_model_is_4_6(sc):
    assert run_model(sc) == sc[7]


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_live_matches_or_differs_as_declared(sc):
    live = run_live(sc)
    dev = sc[8]
    if dev is None:
        assert live == sc[7] == run_model(sc)
    else:
        assert live == dev[0] and live != sc[7], dev[1]


def test_enough_comparisons():
    assert sum(1 for s in SCENARIOS if s[8] is None) >= 4
