"""Issue 12: accounting of file-backed memory compared with this machine's kernel: the smaps
Shared/Private split and Pss of file pages (read faults, a private COW write, sharing after
fork, two shared mappings, dirty page cache), pagemap bit 61 (file) and 56 (exclusive) on
file, anonymous and zero pages, kpageflags/kpagecount of page-cache pages, RssFile, the
maps device and inode, the " (deleted)" of an unlinked mapped file, and the
nr_mapped/Mapped deltas.

One C program (tests/live/fileacct.c) runs each scenario on the live kernel with a file
on a disk filesystem (the harness's cache directory, not tmpfs, which is shmem); the
model runs the same steps through the façade. Each scenario states the 4.6 outcome; the
live kernel must give the same values, except the declared differences (docs/deviations.md):

* ``split_rss_counting``: 4.6's status RssFile lags (per-task RSS cache); the live value
  equals the model's exact count (the mm's counters plus the task's cache).
* ``kpf_referenced_write``: 4.6's write(2) takes a new page-cache page with FGP_ACCESSED
  (PG_referenced set); 6.x's write_begin does not mark the folio accessed.
* ``kpf_private_buffer_heads``: ext4 attaches buffer heads (PG_private) to pages it wrote;
  the model has no buffer heads (a model simplification, 4.6 sets it too).
* ``kpf_anon_exclusive``: 6.x reuses PG_mappedtodisk as PG_anon_exclusive, so an
  exclusive anonymous page shows KPF_MAPPEDTODISK.
"""

import hashlib
import os
import struct
import subprocess
import tempfile

import pytest

import linuxvm as lv
from linuxvm.fs.proc.page import (KPF_ANON, KPF_COMPOUND_HEAD, KPF_COMPOUND_TAIL, KPF_DIRTY,
                                  KPF_MAPPEDTODISK, KPF_MMAP, KPF_PRIVATE, KPF_REFERENCED,
                                  KPF_SWAPBACKED, KPF_UPTODATE, KPF_WRITEBACK)
from linuxvm.mm.mm_types import MM_ANONPAGES, MM_FILEPAGES
from live import harness as H

pytestmark = pytest.mark.skipif(H.live_available() is not None,
                                reason=f"live kernel comparison: {H.live_available()}")

P = 4096
N = 32                      # pages in the file (two fault-around windows)
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "live", "fileacct.c")
SMAPS_KEYS = ("Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean",
              "Private_Dirty", "Referenced", "Anonymous")
# the kpageflags bits compared one to one (LRU and ACTIVE depend on per-CPU batches and on
# the LRU flavour; REFERENCED, PRIVATE and MAPPEDTODISK are the declared differences)
KPF_COMPARED = sum(1 << b for b in (KPF_UPTODATE, KPF_DIRTY, KPF_MMAP, KPF_ANON,
                                    KPF_SWAPBACKED, KPF_WRITEBACK, KPF_COMPOUND_HEAD,
                                    KPF_COMPOUND_TAIL))
FILE_KPF = 1 << KPF_UPTODATE | 1 << KPF_MMAP
ANON_KPF = 1 << KPF_UPTODATE | 1 << KPF_MMAP | 1 << KPF_ANON | 1 << KPF_SWAPBACKED
RSS_KEYS = ("dRssFile", "dRssAnon")


def _smaps(prefix, rss, pss, sc=0, sd=0, pc=0, pd=0, ref=None, anon=0):
    vals = dict(Rss=rss, Pss=pss, Shared_Clean=sc, Shared_Dirty=sd, Private_Clean=pc,
                Private_Dirty=pd, Referenced=rss if ref is None else ref, Anonymous=anon)
    return {prefix + k: v for k, v in vals.items()}


# scenario → the 4.6 outcome (smaps in kB, pagemap counts over the mapping, kpageflags
# bits of KPF_COMPARED, kpagecount, RSS deltas in kB counted exactly)
SCENARIOS = {
    # read faults on a private mapping of a clean cached file: all Private_Clean, the
    # pages are the page cache's (bit 61), mapped once (bit 56)
    "private_read": dict(
        **_smaps("", 128, 128, pc=128), present=N, file=N, excl=N,
        p0kpf=FILE_KPF, p0kpc=1, p3kpf=FILE_KPF, p3kpc=1, dRssFile=128, dRssAnon=0),
    # a write to page 3 copies it (do_cow_fault/do_wp_page): one anonymous dirty page in
    # the file VMA, not a file page any more
    "private_write_cow": dict(
        **_smaps("", 128, 128, pc=124, pd=4, anon=4), present=N, file=N - 1, excl=N,
        p0kpf=FILE_KPF, p0kpc=1, p3kpf=ANON_KPF, p3kpc=1,
        dRssFile=124, dRssAnon=4),
    # pages dirtied by write(2) and not written back count as dirty though only read
    # through the mapping (smaps_account: dirty || PageDirty)
    "dirty_cache_private_read": dict(
        **_smaps("", 128, 128, pd=128), present=N, file=N, excl=N,
        p0kpf=FILE_KPF | 1 << KPF_DIRTY, p0kpc=1, p3kpf=FILE_KPF | 1 << KPF_DIRTY,
        p3kpc=1, dRssFile=128, dRssAnon=0),
    # fork copies no PTEs of a file VMA without anon pages; the child's own read faults
    # map the pages a second time: Shared_Clean, Pss halved, not exclusive; after the
    # child exits they are private again
    "fork_child_reads": dict(
        **_smaps("", 128, 64, sc=128), present=N, file=N, excl=0, p0kpf=FILE_KPF,
        p0kpc=2, **_smaps("after_exit_", 128, 128, pc=128), dRssFile=128, dRssAnon=0),
    # two MAP_SHARED mappings of the file in one process, the second read over its
    # first half: that half is shared by the two VMAs (Pss 1/2 in each)
    "shared_two_mappings": dict(
        **_smaps("a", 128, 96, sc=64, pc=64), **_smaps("b", 64, 32, sc=64),
        apresent=N, afile=N, aexcl=N // 2, a0kpf=FILE_KPF, a0kpc=2, alastkpf=FILE_KPF,
        alastkpc=1, dRssFile=192, dRssAnon=0),
    # pagemap of a file page (present, file, exclusive), a written anonymous page
    # (present, exclusive) and the zero page (present only: vm_normal_page is NULL)
    "pagemap_file_anon_zero": dict(
        fpresent=1, ffile=1, fexcl=1, wpresent=1, wfile=0, wexcl=1, zpresent=1, zfile=0,
        zexcl=0, fkpf=FILE_KPF, fkpc=1, wkpf=ANON_KPF, wkpc=1,
        dRssFile=64, dRssAnon=4),
    # a shared mapping at offset 4096: /proc/PID/maps shows the file's device and inode
    "maps_dev_inode": dict(maps_match=1, dRssFile=0, dRssAnon=0),
    # the mapped file unlinked: maps prints its name with " (deleted)" (d_path)
    "maps_unlinked": dict(deleted_match=1, dRssFile=0, dRssAnon=0),
    # every page of the file mapped once more: nr_mapped (NR_FILE_MAPPED, counted in
    # page_add_file_rmap/page_remove_rmap) and Mapped rise by the file and fall back
    "nr_mapped_delta": dict(d_nr_mapped=N, d_Mapped=N * 4, d_nr_mapped_unmap=-N,
                            dRssFile=128, dRssAnon=0),
}

# the kpageflags keys of each scenario and the pages they describe (see fileacct.c)
KPF_KEYS = [k for sc in SCENARIOS.values() for k in sc if k.endswith("kpf")]


def _binary():
    with open(SRC, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    exe = os.path.join(H.cache_dir(), f"fileacct-{digest}")
    if not os.path.exists(exe):
        subprocess.run(["gcc", "-O1", "-static", "-o", exe + ".tmp", SRC], check=True)
        os.replace(exe + ".tmp", exe)
    return exe


def run_live(name):
    with tempfile.TemporaryDirectory(dir=H.cache_dir()) as d:
        path = os.path.join(d, "f")
        out = subprocess.run([_binary(), name, path, str(N)], check=True,
                             capture_output=True, text=True).stdout
    vals = dict(kv.split("=") for kv in out.split())
    return {k: int(v) for k, v in vals.items() if not k.startswith("warm_")}


# --- the model side --------------------------------------------------------------------

class ModelRun:
    def __init__(self, dirty=False):
        self.m = m = lv.Machine(ram="256M", aslr=False)
        self.p = p = m.spawn("fileacct")
        self.fd = p.open("/f", lv.O_RDWR | lv.O_CREAT | lv.O_TRUNC, 0o600)
        buf = p.mmap(None, P, lv.PROT_READ | lv.PROT_WRITE,
                     lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
        p.write(buf, bytes((i * 7 + 1) & 0xFF for i in range(P)))
        for _ in range(N):
            p.sys_write(self.fd, buf, P)
        if not dirty:
            p.fsync(self.fd)
        m.check()
        self.out = {}
        self.rss0 = self.rss()

    def rss(self, exact=True):
        """(file, anon) pages of the process: the mm's counters, plus the task's cache
        when ``exact`` (what 6.x shows; 4.6's status shows only the mm's)."""
        mm, t = self.p.mm, self.p.task
        return tuple(mm.rss_stat[i] + (t.rss_stat.count[i] if exact else 0)
                     for i in (MM_FILEPAGES, MM_ANONPAGES))

    def snap(self):
        self.m.check()
        (f0, a0), (f1, a1) = self.rss0, self.rss()
        self.out.update(dRssFile=(f1 - f0) * 4, dRssAnon=(a1 - a0) * 4)

    def touch(self, a, n, p=None):
        for i in range(n):
            (p or self.p).read(a + i * P, 1)
        self.m.check()

    def smaps(self, prefix, a, p=None):
        lines = self.m.proc.read(f"/proc/{(p or self.p).pid}/smaps").splitlines()
        i = next(i for i, ln in enumerate(lines) if ln.startswith(f"{a:x}-"))
        for ln in lines[i + 1:]:
            if ln.startswith("VmFlags"):
                break
            key, val = ln.split(":")
            if key in SMAPS_KEYS:
                self.out[prefix + key] = int(val.split()[0])

    def pagemap(self, a, n=1):
        raw = self.m.proc.read_bytes(f"/proc/{self.p.pid}/pagemap", (a >> 12) * 8, n * 8)
        return struct.unpack(f"<{n}Q", raw)

    def pagemap_counts(self, prefix, a, n):
        es = self.pagemap(a, n)
        self.out.update({prefix + "present": sum(e >> 63 & 1 for e in es),
                         prefix + "file": sum(e >> 61 & 1 for e in es),
                         prefix + "excl": sum(e >> 56 & 1 for e in es)})

    def kpage(self, prefix, a):
        pfn = self.pagemap(a)[0] & ((1 << 55) - 1)
        self.out[prefix + "kpf"] = struct.unpack(
            "<Q", self.m.proc.read_bytes("/proc/kpageflags", pfn * 8, 8))[0]
        self.out[prefix + "kpc"] = struct.unpack(
            "<Q", self.m.proc.read_bytes("/proc/kpagecount", pfn * 8, 8))[0]

    def vm(self, key, path="/proc/vmstat"):
        for ln in self.m.proc.read(path).splitlines():
            k, v = ln.replace(":", " ").split()[:2]
            if k == key:
                return int(v)
        raise KeyError(key)


def run_model(name):
    r = ModelRun(dirty=name == "dirty_cache_private_read")
    p, fd = r.p, r.fd
    rw, ro = lv.PROT_READ | lv.PROT_WRITE, lv.PROT_READ
    if name in ("private_read", "private_write_cow", "dirty_cache_private_read"):
        a = p.mmap(None, N * P, rw, lv.MAP_PRIVATE, fd, 0)
        r.touch(a, N)
        if name == "private_write_cow":
            p.write(a + 3 * P, b"\x01")
        r.snap()
        r.smaps("", a)
        r.pagemap_counts("", a, N)
        r.kpage("p0", a)
        r.kpage("p3", a + 3 * P)
    elif name == "fork_child_reads":
        a = p.mmap(None, N * P, ro, lv.MAP_PRIVATE, fd, 0)
        r.touch(a, N)
        c = p.fork()
        r.touch(a, N, c)
        r.snap()
        r.smaps("", a)
        r.pagemap_counts("", a, N)
        r.kpage("p0", a)
        c.exit()
        r.m.check()
        r.smaps("after_exit_", a)
    elif name == "shared_two_mappings":
        a = p.mmap(None, N * P, ro, lv.MAP_SHARED, fd, 0)
        b = p.mmap(None, N * P, ro, lv.MAP_SHARED, fd, 0)
        r.touch(a, N)
        r.touch(b, N // 2)
        r.snap()
        r.smaps("a", a)
        r.smaps("b", b)
        r.pagemap_counts("a", a, N)
        r.kpage("a0", a)
        r.kpage("alast", a + (N - 1) * P)
    elif name == "pagemap_file_anon_zero":
        a = p.mmap(None, N * P, ro, lv.MAP_PRIVATE, fd, 0)
        w = p.mmap(None, P, rw, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
        z = p.mmap(None, P, ro, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
        r.touch(a, 1)
        p.write(w, b"\x01")
        r.touch(z, 1)
        r.snap()
        for prefix, addr in (("f", a), ("w", w), ("z", z)):
            r.pagemap_counts(prefix, addr, 1)
        r.kpage("f", a)
        r.kpage("w", w)
    elif name == "maps_dev_inode":
        a = p.mmap(None, N * P, ro, lv.MAP_SHARED, fd, P)
        r.snap()
        inode = r.m.fs.files["/f"]
        want = (f"{a:x}-{a + N * P:x} r--s {P:08x} {inode.dev[0]:02x}:{inode.dev[1]:02x} "
                f"{inode.i_ino} ")
        maps = r.m.proc.read(f"/proc/{p.pid}/maps").splitlines()
        r.out["maps_match"] = int(any(ln.startswith(want) and ln.endswith(" /f")
                                      for ln in maps))
    elif name == "maps_unlinked":
        a = p.mmap(None, N * P, ro, lv.MAP_PRIVATE, fd, 0)
        r.snap()
        p.unlink("/f")
        maps = r.m.proc.read(f"/proc/{p.pid}/maps").splitlines()
        r.out["deleted_match"] = int(any(ln.startswith(f"{a:x}-") and ln.endswith(
            " /f (deleted)") for ln in maps))
    elif name == "nr_mapped_delta":
        v0, k0 = r.vm("nr_mapped"), r.vm("Mapped", "/proc/meminfo")
        a = p.mmap(None, N * P, ro, lv.MAP_PRIVATE, fd, 0)
        r.touch(a, N)
        r.snap()
        v1, k1 = r.vm("nr_mapped"), r.vm("Mapped", "/proc/meminfo")
        r.out.update(d_nr_mapped=v1 - v0, d_Mapped=k1 - k0)
        p.munmap(a, N * P)
        r.m.check()
        r.out["d_nr_mapped_unmap"] = r.vm("nr_mapped") - v1
    r.out["_status_lag"] = tuple(e - s for e, s in zip(r.rss(), r.rss(exact=False)))
    return r.out


def _compared(out):
    return {k: (v & KPF_COMPARED if k.endswith("kpf") else v)
            for k, v in out.items() if not k.startswith("_")}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_model_is_4_6(name):
    out = run_model(name)
    assert _compared(out) == SCENARIOS[name]
    # 4.6's status shows the mm's counters only: the task's cache (fewer than 64 faults
    # since the last fold) is the lag (split_rss_counting)
    lag_file, lag_anon = out["_status_lag"]
    assert 0 <= lag_file < 64 and 0 <= lag_anon < 64


def _live_once(name):
    live = run_live(name)
    return live, _compared(live)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_live_matches_4_6(name):
    want = SCENARIOS[name]
    # system-wide counters (nr_mapped, Mapped) move with every other process on the
    # machine, and now and then the live fault-around skips a folio something else holds
    # locked (next_uptodate_folio's trylock): the scenario passes when one of a few runs
    # sees only its own pages
    tries = 5 if name == "nr_mapped_delta" else 3
    for _ in range(tries):
        live, got = _live_once(name)
        if got == want:
            break
    assert got == want


# --- declared differences: kpageflags bits the model and 6.x do not share ---------------

def _kpf(name, key):
    return run_live(name)[key], run_model(name)[key]


def test_kpf_referenced_write():
    """4.6 sets PG_referenced on a page write(2) created (FGP_ACCESSED in
    grab_cache_page_write_begin); 6.x does not."""
    live, model = _kpf("private_read", "p0kpf")
    assert model >> KPF_REFERENCED & 1 == 1
    assert live >> KPF_REFERENCED & 1 == 0


def test_kpf_private_buffer_heads():
    """ext4 pages written through write(2) carry buffer heads (PG_private) on the live
    kernel (as on 4.6); the model has no buffer heads."""
    live, model = _kpf("private_read", "p0kpf")
    assert live >> KPF_PRIVATE & 1 == 1
    assert model >> KPF_PRIVATE & 1 == 0


def test_kpf_anon_exclusive():
    """6.x's PG_anon_exclusive is PG_mappedtodisk: an exclusive anonymous page reads as
    MAPPEDTODISK; 4.6 has no such bit on anonymous pages."""
    live, model = _kpf("private_write_cow", "p3kpf")
    assert live >> KPF_MAPPEDTODISK & 1 == 1
    assert model >> KPF_MAPPEDTODISK & 1 == 0


def test_split_rss_counting_status_lags():
    """What 4.6's /proc/PID/status shows after the 2 read faults of private_read: the
    32 pages are still in the task's RSS cache, so RssFile has not moved (the live
    kernel shows +128 kB, the exact count)."""
    r = ModelRun()
    a = r.p.mmap(None, N * P, lv.PROT_READ, lv.MAP_PRIVATE, r.fd, 0)
    before = r.m.proc.read(f"/proc/{r.p.pid}/status")
    r.touch(a, N)
    after = r.m.proc.read(f"/proc/{r.p.pid}/status")

    def rss_file(text):
        return int(next(ln for ln in text.splitlines() if ln.startswith("RssFile:")).split()[1])

    assert rss_file(after) - rss_file(before) == 0
    assert r.rss()[0] * 4 - rss_file(after) == 128
    assert run_live("private_read")["dRssFile"] == 128


def test_enough_comparisons():
    assert len(SCENARIOS) >= 6
