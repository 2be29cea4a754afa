"""/proc/PID/clear_refs (fs/proc/task_mmu.c clear_refs_write) and soft-dirty tracking:
values 1-5, EINVAL/ERANGE for others, pagemap bit 55 after "4" and the next writes, swap
entries and THP PMDs, smaps Referenced after 1-3, VmHWM after 5; the accelerators leave
the same PTEs; and the same steps on this machine's kernel (tests/live/clear_refs.c)."""

import errno
import gzip
import os
import re
import shutil
import subprocess

import pytest

import linuxvm as lv
from linuxvm.accel.fingerprint import fingerprint, assert_same
from linuxvm.include.mm import VM_SOFTDIRTY
from _proc import reclaim

PAGE = 4096
M = 2 << 20
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "live")


def sd_bits(m, p, a, n):
    """Pagemap bit 55 of ``n`` pages from ``a``, as a string of 0/1."""
    d = m.proc.read_bytes(f"/proc/{p.pid}/pagemap", (a >> 12) * 8, n * 8)
    return "".join(str(int.from_bytes(d[i * 8:i * 8 + 8], "little") >> 55 & 1)
                   for i in range(n))


def referenced_kb(m, p, a):
    inside = False
    for line in m.proc.read(f"/proc/{p.pid}/smaps").splitlines():
        r = re.match(r"([0-9a-f]+)-([0-9a-f]+) ", line)
        if r:
            inside = int(r.group(1), 16) == a
        elif inside and line.startswith("Referenced:"):
            return int(line.split()[1])
    raise AssertionError("no such mapping")


def clear_refs(m, p, value):
    m.proc.write(f"/proc/{p.pid}/clear_refs", value)
    m.check()


def soft_dirty_steps(m, p, n=32):
    """The steps of tests/live/clear_refs.c on region ``a``: write every 2nd page, "4",
    write every 3rd, read every 5th from 1; pagemap bit 55 after each."""
    a = p.mmap(None, n * PAGE, RW, ANON)
    p.madvise(a, n * PAGE, lv.MADV_NOHUGEPAGE)
    m.check()
    out = {}
    for i in range(0, n, 2):
        p.write(a + i * PAGE, b"\1")
    m.check()
    out["before"] = sd_bits(m, p, a, n)
    clear_refs(m, p, "4")
    out["cleared"] = sd_bits(m, p, a, n)
    for i in range(0, n, 3):
        p.write(a + i * PAGE, b"\2")
    for i in range(1, n, 5):
        p.read(a + i * PAGE, 1)
    m.check()
    out["after"] = sd_bits(m, p, a, n)
    return out


MODEL_SOFT_DIRTY = {"before": "1" * 32, "cleared": "0" * 32,
                    "after": "".join("1" if i % 3 == 0 else "0" for i in range(32))}


@pytest.mark.parametrize("fast", [False, True])
def test_soft_dirty_is_set_by_writes_after_clear_refs_4(fast):
    #   0123456789...   32 pages
    #   W.W.W.W.W.      written: the new VMA is VM_SOFTDIRTY, every bit reads 1
    #   ..........      "4": VM_SOFTDIRTY and the PTE bits cleared, PTEs write-protected
    #   W..W..W..W      written again: the write fault's pte_mkdirty sets the bit
    m = lv.Machine(ram="64M", seed=0, fast=fast)
    p = m.spawn("sd")
    assert soft_dirty_steps(m, p) == MODEL_SOFT_DIRTY


def test_accelerators_leave_the_same_ptes_after_clear_refs():
    prints = []
    for fast in (False, True):
        m = lv.Machine(ram="64M", seed=0, fast=fast)
        p = m.spawn("sd")
        soft_dirty_steps(m, p)
        a = p.mmap(None, 64 * PAGE, RW, ANON)
        p.touch(a, 64 * PAGE, write=True)
        fd = p.open("/dev/shm/sd", lv.O_RDWR | lv.O_CREAT)
        p.ftruncate(fd, 32 * PAGE)
        f = p.mmap(None, 32 * PAGE, RW, lv.MAP_SHARED, fd)
        g = p.mmap(None, 32 * PAGE, RW, lv.MAP_PRIVATE, fd)
        p.touch(f, 16 * PAGE, write=True)
        p.touch(g, 16 * PAGE)
        m.check()
        clear_refs(m, p, "4")
        p.touch(a, 32 * PAGE, write=True)                # bulk writes after the clear
        p.touch(a + 32 * PAGE, 32 * PAGE)                 # bulk reads
        p.touch(f, 32 * PAGE, write=True)                 # shared: write-notify faults
        p.touch(g, 32 * PAGE, write=True)                 # private file: COW
        m.check()
        clear_refs(m, p, "1")
        p.touch(a, 64 * PAGE)
        m.check()
        prints.append(fingerprint(m))
    assert_same(*prints)


def test_clear_refs_4_write_protects_and_clears_the_vma_flag(m):
    p = m.spawn("sd")
    a = p.mmap(None, 4 * PAGE, RW, ANON)
    p.write(a, b"x")
    m.check()
    vma = p.mm.mmap
    assert vma.vm_flags & VM_SOFTDIRTY
    clear_refs(m, p, "4")
    assert not vma.vm_flags & VM_SOFTDIRTY
    from_pagemap = m.proc.read_bytes(f"/proc/{p.pid}/pagemap", (a >> 12) * 8, 8)
    assert int.from_bytes(from_pagemap, "little") >> 63 == 1          # still present
    assert sd_bits(m, p, a, 4) == "0000"
    flt = p.task.min_flt
    p.write(a, b"y")                                  # a write-protect fault, page reused
    m.check()
    assert p.task.min_flt == flt + 1
    assert sd_bits(m, p, a, 4) == "1000"
    assert p.read(a, 1) == b"y"


def test_new_mapping_after_clear_is_soft_dirty_as_a_whole(m):
    p = m.spawn("sd")
    a = p.mmap(None, 4 * PAGE, RW, ANON)
    p.write(a, b"x")
    clear_refs(m, p, "4")
    b = p.mmap(None, 4 * PAGE, lv.PROT_READ, ANON)   # new VMA: VM_SOFTDIRTY, holes too
    m.check()
    assert sd_bits(m, p, b, 4) == "1111"
    assert sd_bits(m, p, a, 4) == "0000"


def test_swap_entries_carry_soft_dirty_through_clear_refs():
    m = lv.Machine(ram="128M", swap="64M", aslr=False)
    p = m.spawn("sd")
    n = 256
    a = p.mmap(None, n * PAGE, RW, ANON)
    p.madvise(a, n * PAGE, lv.MADV_NOHUGEPAGE)
    p.touch(a, n * PAGE, write=True)
    m.check()
    reclaim(m, p, 1000)
    m.check()
    d = m.proc.read_bytes(f"/proc/{p.pid}/pagemap", (a >> 12) * 8, n * 8)
    swapped = [i for i in range(n) if int.from_bytes(d[i * 8:i * 8 + 8], "little") >> 62 & 1]
    assert swapped, "reclaim swapped nothing out"
    bits = sd_bits(m, p, a, n)
    assert all(bits[i] == "1" for i in swapped)      # _PAGE_SWP_SOFT_DIRTY kept
    clear_refs(m, p, "4")
    bits = sd_bits(m, p, a, n)
    assert bits == "0" * n
    i = swapped[0]
    p.read(a + i * PAGE, 1)                          # swap-in by a read: still clean
    m.check()
    assert sd_bits(m, p, a, n)[i] == "0"
    p.write(a + i * PAGE, b"z")
    m.check()
    assert sd_bits(m, p, a, n)[i] == "1"


def test_thp_pmd_soft_dirty_cleared_and_set_again():
    m = lv.Machine(ram="1G", seed=0)
    p = m.spawn("thp", uid=0)
    a = p.mmap(None, 8 << 20, RW, ANON)
    p.madvise(a, 8 << 20, lv.MADV_HUGEPAGE)
    h = (a + M - 1) & ~(M - 1)
    p.write(h, b"x")
    m.check()
    assert "AnonHugePages:      2048 kB" in m.proc.read("/proc/meminfo")
    assert sd_bits(m, p, h, 512) == "1" * 512
    clear_refs(m, p, "4")
    assert sd_bits(m, p, h, 512) == "0" * 512
    p.write(h + 100 * PAGE, b"y")                    # do_huge_pmd_wp_page reuses the THP
    m.check()
    assert sd_bits(m, p, h, 512) == "1" * 512
    assert "AnonHugePages:      2048 kB" in m.proc.read("/proc/meminfo")


def test_shared_file_mapping_is_write_protected_by_vm_page_prot(m):
    p = m.spawn("sd", uid=0)
    fd = p.open("/dev/shm/f", lv.O_RDWR | lv.O_CREAT)
    p.ftruncate(fd, 4 * PAGE)
    a = p.mmap(None, 4 * PAGE, RW, lv.MAP_SHARED, fd)
    p.write(a, b"x")
    m.check()
    clear_refs(m, p, "4")
    assert sd_bits(m, p, a, 4) == "0000"
    p.write(a + PAGE, b"y")                          # a new PTE under the cleared VMA
    m.check()
    assert sd_bits(m, p, a, 4) == "0100"


def referenced_steps(m, p, n=16):
    """The Referenced part of tests/live/clear_refs.c: write all, "3", "2", read 5, "1"."""
    b = p.mmap(None, (n + 1) * PAGE, RW, ANON)
    p.munmap(b + n * PAGE, PAGE)
    p.madvise(b, n * PAGE, lv.MADV_NOHUGEPAGE)
    m.check()
    out = {}
    for i in range(n):
        p.write(b + i * PAGE, b"\1")
    m.check()
    out["ref_written"] = referenced_kb(m, p, b)
    clear_refs(m, p, "3")
    out["ref_after3"] = referenced_kb(m, p, b)
    clear_refs(m, p, "2")
    out["ref_after2"] = referenced_kb(m, p, b)
    for i in range(5):
        p.read(b + i * PAGE, 1)
    m.check()
    out["ref_read5"] = referenced_kb(m, p, b)
    clear_refs(m, p, "1")
    out["ref_after1"] = referenced_kb(m, p, b)
    return out


MODEL_REFERENCED = {"ref_written": 64, "ref_after3": 64, "ref_after2": 0, "ref_read5": 20,
                    "ref_after1": 0}


def test_referenced_cleared_by_1_and_2_but_not_3_on_anon(m):
    p = m.spawn("ref")
    assert referenced_steps(m, p) == MODEL_REFERENCED


def test_clear_refs_3_clears_file_pages_only(m):
    p = m.spawn("ref", uid=0)
    fd = p.open("/dev/shm/g", lv.O_RDWR | lv.O_CREAT)
    p.ftruncate(fd, 4 * PAGE)
    f = p.mmap(None, 4 * PAGE, RW, lv.MAP_SHARED, fd)
    a = p.mmap(None, 4 * PAGE, RW, ANON)
    p.touch(f, 4 * PAGE, write=True)
    p.touch(a, 4 * PAGE, write=True)
    m.check()
    clear_refs(m, p, "3")
    assert referenced_kb(m, p, f) == 0 and referenced_kb(m, p, a) == 16
    p.read(f, 1)
    m.check()
    assert referenced_kb(m, p, f) == 4


def test_clear_refs_5_resets_vmhwm_to_current_rss(m):
    p = m.spawn("hwm")
    a = p.mmap(None, 256 * PAGE, RW, ANON)
    p.madvise(a, 256 * PAGE, lv.MADV_NOHUGEPAGE)
    p.touch(a, 256 * PAGE, write=True)
    p.munmap(a + 16 * PAGE, 240 * PAGE)
    m.check()

    def status(key):
        line = [l for l in m.proc.read(f"/proc/{p.pid}/status").splitlines()
                if l.startswith(key + ":")][0]
        return int(line.split()[1])
    # (the peak misses what SPLIT_RSS_COUNTING had not folded into the mm yet)
    assert status("VmHWM") > status("VmRSS")
    clear_refs(m, p, "5")
    assert status("VmHWM") == status("VmRSS")


@pytest.mark.parametrize("value, err", [
    ("0", errno.EINVAL), ("6", errno.EINVAL), ("x", errno.EINVAL), ("-1", errno.EINVAL),
    ("99999999999", errno.ERANGE), ("", errno.EINVAL), ("0x4", errno.EINVAL),
    ("4 4", errno.EINVAL)])
def test_bad_values_fail_as_46(m, value, err):
    p = m.spawn("bad")
    with pytest.raises(lv.SyscallError) as e:
        m.proc.write(f"/proc/{p.pid}/clear_refs", value)
    assert e.value.errno == err
    m.check()


@pytest.mark.parametrize("value", ["4\n", " 4 ", "+4", "4" + " " * 20, b"4"])
def test_accepted_spellings(m, value):
    p = m.spawn("ok")
    a = p.mmap(None, PAGE, RW, ANON)
    p.write(a, b"x")
    m.proc.write(f"/proc/{p.pid}/clear_refs", value)
    m.check()
    assert sd_bits(m, p, a, 1) == "0"


def test_clear_refs_is_write_only(m):
    p = m.spawn("ro")
    with pytest.raises(lv.SyscallError) as e:
        m.proc.read(f"/proc/{p.pid}/clear_refs")
    assert e.value.errno == errno.EINVAL
    assert "clear_refs" in m.proc.listdir(f"/proc/{p.pid}")


# -- the same steps on this machine's kernel --------------------------------------------

def _kernel_config(name):
    """'y', 'n' or None (no /proc/config.gz) for a CONFIG_ option of the running kernel."""
    try:
        text = gzip.open("/proc/config.gz", "rt").read()
    except OSError:
        return None
    if re.search(rf"^{name}=y$", text, re.M):
        return "y"
    return "n"


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    if not os.path.exists("/proc/self/pagemap"):
        pytest.skip("this kernel has no /proc/self/pagemap")
    exe = tmp_path_factory.mktemp("clear_refs") / "clear_refs"
    subprocess.run(["gcc", "-O1", "-o", str(exe), os.path.join(HERE, "clear_refs.c")],
                   check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    rows = dict(line.split(None, 1) for line in out.splitlines())
    if "unavailable" in rows:
        pytest.skip(f"/proc/self/{rows['unavailable']} cannot be opened on this kernel")
    return {k: v.strip() for k, v in rows.items()}


def test_live_soft_dirty_bits_match_the_model(live_run):
    config = _kernel_config("CONFIG_MEM_SOFT_DIRTY")
    if config == "n":
        # the declared difference (docs/deviations.md): a kernel built without
        # CONFIG_MEM_SOFT_DIRTY accepts "4" and never sets bit 55
        assert {k: live_run[k] for k in MODEL_SOFT_DIRTY} == {k: "0" * 32
                                                             for k in MODEL_SOFT_DIRTY}
        return
    if config is None and live_run["before"] == "0" * 32:
        pytest.skip("pagemap bit 55 is never set and there is no /proc/config.gz to say "
                    "whether this kernel has CONFIG_MEM_SOFT_DIRTY")
    assert {k: live_run[k] for k in MODEL_SOFT_DIRTY} == MODEL_SOFT_DIRTY


def test_live_referenced_matches_the_model(live_run):
    got = {k: int(live_run[k]) for k in MODEL_REFERENCED}
    # 6.x flushes the TLB after clear_refs only for "4" (4.6 after every value): a read
    # whose TLB entry survived "2" sets no accessed bit, so the live figure is at most
    # the model's (docs/deviations.md, "clear_refs")
    assert got["ref_read5"] <= MODEL_REFERENCED["ref_read5"]
    got["ref_read5"] = MODEL_REFERENCED["ref_read5"]
    assert got == MODEL_REFERENCED


def test_live_bad_values_fail_as_in_the_model(live_run):
    want = [errno.EINVAL, errno.EINVAL, errno.EINVAL, errno.EINVAL, errno.ERANGE,
            errno.EINVAL]
    assert [int(live_run[f"bad[{i}]"]) for i in range(6)] == want
