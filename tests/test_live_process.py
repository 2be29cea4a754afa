"""``linuxvm live PID`` and helpers/live.py against a process of this machine: a child that
maps 64 private anonymous pages, writes 12 and reads 5 (the zero page), then waits. Its
residency figures are what its own pagemap says; the residency helpers take a
LiveProcess as they take a model Process, task or mm; a snapshot seeds a model process
with the same mappings (sizes, permissions) and the same resident pages."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import linuxvm as lv
from linuxvm import cli
from linuxvm.helpers.live import (LiveProcess, snapshot, spawn_from_snapshot, SPECIAL_NAMES,
                                  TOUCH_READ, TOUCH_WRITE)
from linuxvm.helpers.residency import (residency, page_types, format_residency, parse_maps,
                                       proc_source, ModelSource)

PAGE = 4096
N = 64
WRITTEN = [0, 1, 2, 3, 10, 11, 20, 30, 40, 50, 62, 63]
READ = [5, 6, 7, 33, 34]

CHILD = f"""
import ctypes, mmap, sys
m = mmap.mmap(-1, {N} * 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
m.madvise(mmap.MADV_NOHUGEPAGE)
for i in {WRITTEN}:
    m[i * 4096] = 1
for i in {READ}:
    m[i * 4096]
print(hex(ctypes.addressof(ctypes.c_char.from_buffer(m))), flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def child():
    if not os.path.exists("/proc/self/pagemap"):
        pytest.skip("this kernel has no /proc/PID/pagemap (CONFIG_PROC_PAGE_MONITOR)")
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    addr = int(proc.stdout.readline(), 16)
    # wait until it sleeps in its read of stdin: no page of it changes after that
    for _ in range(3000):
        with open(f"/proc/{proc.pid}/stat") as f:
            if f.read().split(") ", 1)[1].startswith("S"):
                before = own_pagemap(proc.pid)
                time.sleep(0.05)
                if own_pagemap(proc.pid) == before:
                    break
        time.sleep(0.01)
    else:
        pytest.fail("the child did not settle")
    yield proc.pid, addr
    proc.stdin.close()
    proc.wait(timeout=60)


def own_pagemap(pid):
    """(start, end, present pages) of each mapping, read straight from the child's files."""
    out = []
    with open(f"/proc/{pid}/maps") as f:
        maps = parse_maps(f.read())
    fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY)
    try:
        for mp in maps:
            data = os.pread(fd, mp.pages * 8, (mp.start >> 12) * 8)
            e = np.frombuffer(data, dtype="<u8")
            out.append((mp.start, mp.end, int((e >> np.uint64(63)).sum())))
    finally:
        os.close(fd)
    return out


def kpageflags_readable():
    try:
        with open("/proc/kpageflags", "rb") as f:
            f.read(8)
        return True
    except OSError:
        return False


def test_residency_equals_the_childs_own_pagemap(child):
    pid, addr = child
    with LiveProcess(pid) as lp:
        r = residency(lp)
    own = own_pagemap(pid)
    assert [(v.mapping.start, v.mapping.end, v.present) for v in r.vmas] == own
    assert r.total.present == sum(n for _, _, n in own)
    mine = next(v for v in r.vmas if v.mapping.start == addr)
    assert mine.pages == N and mine.present == len(WRITTEN) + len(READ)
    assert mine.exclusive == len(WRITTEN)                  # the zero page is not exclusive
    assert mine.file == 0 and mine.swapped == 0
    if kpageflags_readable():
        assert r.pfns_visible and r.kpageflags and r.note == ""
        assert mine.zero == len(READ) and mine.anon == len(WRITTEN) and mine.thp == 0
        assert sum(n for _, n, _ in page_types(r)) == r.total.present
    else:
        assert mine.zero is None and page_types(r) is None and r.note


def test_cli_live_prints_the_same_figures(child, capsys):
    pid, addr = child
    assert cli.main(["live", str(pid), "--all"]) == 0
    out = capsys.readouterr().out
    own = own_pagemap(pid)
    first = out.splitlines()[0]
    total = sum(n for _, _, n in own)
    assert f"{len(own)} mappings" in first and f"{total} present ({total * 4} kB)" in first
    row = next(l for l in out.splitlines() if l.strip().startswith(f"{addr:x} "))
    fields = row.split()
    assert fields[2] == "rw-p" and fields[3] == str(N * 4)
    assert fields[4] == str((len(WRITTEN) + len(READ)) * 4)          # RSS kB
    if kpageflags_readable():
        assert fields[9] == str(len(READ) * 4)                           # ZERO kB
        assert "symbolic-flags" in out
    else:
        assert "note: " in out and "unavailable" in out


def test_cli_live_errors(capsys):
    assert cli.main(["live", "0"]) == 2
    assert cli.main(["live", "not-a-pid"]) == 2
    assert cli.main(["live", str(2 ** 22 + 12345)]) == 2
    assert "no such process" in capsys.readouterr().err


def test_helpers_accept_model_and_live_processes(child):
    m = lv.Machine(ram="64M", seed=0)
    p = m.spawn("prog")
    a = p.mmap(None, 16 * PAGE, lv.PROT_READ | lv.PROT_WRITE,
               lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.touch(a, 8 * PAGE, write=True)
    p.touch(a + 8 * PAGE, 4 * PAGE)                         # the zero page
    m.check()
    for obj in (p, p.task, p.mm, ModelSource(m, p.pid)):
        r = residency(obj)
        assert (r.total.present, r.total.zero, r.total.exclusive) == (12, 4, 8)
    assert isinstance(proc_source(LiveProcess(child[0])), LiveProcess)
    with pytest.raises(TypeError):
        residency(42)
    with pytest.raises(ProcessLookupError):
        LiveProcess(2 ** 22 + 12345)
    # without CAP_SYS_ADMIN PFNs read 0: the kpageflags figures are unavailable
    m.proc.privileged = False
    r = residency(p)
    assert not r.pfns_visible and r.total.zero is None and page_types(r) is None
    assert r.total.present == 12 and r.total.exclusive == 8
    assert "PFNs read 0" in format_residency(r)
    m.check()


def _shape(maps):
    return [(mp.start, mp.end, mp.perms) for mp in maps if mp.name not in SPECIAL_NAMES]


def test_snapshot_seeds_a_model_process_with_the_same_shape(child):
    pid, addr = child
    snap = snapshot(pid)
    with open(f"/proc/{pid}/maps") as f:
        live_maps = parse_maps(f.read())
    m = lv.Machine(ram="1G", seed=0)
    seeded = spawn_from_snapshot(m, snap)
    m.check()
    p = seeded.process
    model_maps = parse_maps(m.proc.read(f"/proc/{p.pid}/maps"))
    assert _shape(model_maps) == _shape(live_maps)
    assert [mp.name for mp in model_maps] == [mp.name for mp in live_maps
                                              if mp.name not in SPECIAL_NAMES]
    assert [v.name for v in seeded.skipped] == [mp.name for mp in live_maps
                                                if mp.name in SPECIAL_NAMES]
    assert seeded.as_anon == []
    r = residency(p)
    want = {v.start: len(v.resident) for v in snap.vmas if v.kind != "special"}
    assert {v.mapping.start: v.present for v in r.vmas} == want
    mine = next(v for v in snap.vmas if v.start == addr)
    assert sorted(mine.resident.tolist()) == sorted(WRITTEN + READ)
    if snap.exact_touch:
        # the zero page stays the zero page, written pages are anonymous pages
        assert dict(zip(mine.resident.tolist(), mine.touch.tolist())) == {
            **{i: TOUCH_WRITE for i in WRITTEN}, **{i: TOUCH_READ for i in READ}}
        got = next(v for v in r.vmas if v.mapping.start == addr)
        assert (got.zero, got.anon, got.exclusive) == (len(READ), len(WRITTEN), len(WRITTEN))


def test_snapshot_with_files_as_anonymous_memory(child):
    pid, _ = child
    snap = snapshot(pid)
    m = lv.Machine(ram="1G", seed=0)
    seeded = spawn_from_snapshot(m, snap, files="anon")
    m.check()
    files = [v for v in snap.vmas if v.kind == "file"]
    assert [v for v, _ in seeded.as_anon] == files
    model_maps = parse_maps(m.proc.read(f"/proc/{seeded.process.pid}/maps"))
    # (a shared one becomes shared anonymous memory: shmem's "/dev/zero (deleted)")
    assert all(mp.inode == 0 or mp.name == "/dev/zero (deleted)" for mp in model_maps)
    r = residency(seeded.process)
    assert r.total.present == sum(len(v.resident) for v in snap.vmas if v.kind != "special")
    with pytest.raises(ValueError):
        spawn_from_snapshot(m, snap, files="copy")


def test_snapshot_of_a_model_process_round_trips():
    m = lv.Machine(ram="128M", seed=0)
    p = m.spawn("src")
    a = p.mmap(None, 32 * PAGE, lv.PROT_READ | lv.PROT_WRITE,
               lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    b = p.mmap(None, 8 * PAGE, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.touch(a, 10 * PAGE, write=True)
    p.touch(b, 3 * PAGE)
    m.check()
    snap = snapshot(p)
    m2 = lv.Machine(ram="128M", seed=1)
    seeded = spawn_from_snapshot(m2, snap)
    m2.check()
    assert m2.proc.read(f"/proc/{seeded.process.pid}/maps") == \
        m.proc.read(f"/proc/{p.pid}/maps")
    r1, r2 = residency(p), residency(seeded.process)
    assert [v[1:] for v in r1.vmas] == [v[1:] for v in r2.vmas]


def test_an_unprivileged_reader_sees_no_pfns_and_says_so():
    # a reader without CAP_SYS_ADMIN (uid nobody, reading a nobody process): PFNs read 0
    # and /proc/kpageflags is refused, so the kpageflags figures are unavailable
    if os.geteuid() != 0:
        pytest.skip("needs root to start the nobody processes")
    if not os.path.exists("/proc/self/pagemap"):
        pytest.skip("this kernel has no /proc/PID/pagemap (CONFIG_PROC_PAGE_MONITOR)")
    nobody = 65534

    def drop():
        os.setgroups([])
        os.setresgid(nobody, nobody, nobody)
        os.setresuid(nobody, nobody, nobody)
    target = subprocess.Popen(["sleep", "60"], preexec_fn=drop)
    try:
        for _ in range(3000):                              # wait until it sleeps
            with open(f"/proc/{target.pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{target.pid}/maps") as f:
                if "(sleep) S" in stat and "libc" in f.read():
                    break
            time.sleep(0.01)
        else:
            pytest.fail("sleep did not start sleeping")
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:                                       # the unprivileged reader
            try:
                os.close(rfd)
                drop()
                with LiveProcess(target.pid) as lp:
                    r = residency(lp)
                text = (f"{int(r.pfns_visible)} {int(r.kpageflags)} {r.total.present} "
                        f"{r.total.zero}\n" + format_residency(r))
                os.write(wfd, text.encode())
            finally:
                os._exit(0)
        os.close(wfd)
        with os.fdopen(rfd) as f:
            out = f.read()
        os.waitpid(pid, 0)
        with LiveProcess(target.pid) as lp:
            as_root = residency(lp)
    finally:
        target.kill()
        target.wait()
    head, report = out.split("\n", 1)
    visible, kflags, present, zero = head.split()
    assert (visible, kflags, zero) == ("0", "0", "None")
    assert int(present) == as_root.total.present
    assert "note: PFNs read 0" in report and "page types: unavailable" in report
