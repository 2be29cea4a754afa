"""slub_debug: each corruption is detected from the object bytes and reported in 4.6's
format; the model repairs what the kernel repairs and carries on."""

import re

import pytest

import linuxvm as lv

HEX = "ffff8800[0-9a-f]{8}"


@pytest.fixture
def m():
    return lv.Machine(ram="256M", cpus=2, cmdline="slub_debug=FZPU,kmalloc-64")


def new_log(m, n):
    return [l.split("] ", 1)[1] for l in m.dmesg()[n:]]


def test_debug_layout(m):
    s = m.slab.find_cache("kmalloc-64")
    # 64 + 8 red zone = inuse 72; free pointer after it (poison): 80; two tracks: 384;
    # right red zone word + left pad: 400
    assert (s.object_size, s.inuse, s.offset, s.red_left_pad, s.size) == (64, 72, 72, 8, 400)
    assert m.proc.read("/sys/kernel/slab/kmalloc-64/cpu_partial") == "0\n"
    for attr in ("sanity_checks", "red_zone", "poison", "store_user"):
        assert m.proc.read(f"/sys/kernel/slab/kmalloc-64/{attr}") == "1\n"
    assert m.proc.read("/sys/kernel/slab/kmalloc-128/poison") == "0\n"
    # debug caches do not merge: kmalloc-64 has its own directory now
    assert m.proc.lookup("/sys/kernel/slab/kmalloc-64").kind == "dir"
    p = m.kernel.kmalloc(64)
    assert m.kernel.read_kernel(p - 8, 8) == b"\xcc" * 8           # active red zone
    assert m.kernel.read_kernel(p, 64) == b"\x6b" * 63 + b"\xa5"   # poison
    m.kernel.kfree(p)
    assert m.kernel.read_kernel(p - 8, 8) == b"\xbb" * 8           # inactive red zone
    m.check()


def test_use_after_free_is_poison_overwritten(m):
    p = m.kernel.kmalloc(64)
    m.kernel.kfree(p)
    m.kernel.memset(p, 0x41, 8)                 # write after free
    n = len(m.dmesg())
    q = m.kernel.kmalloc(64)
    assert q and q != p                         # the bad slab is marked used; a new one serves
    log = new_log(m, n)
    assert log[:4] == ["=" * 77, "BUG kmalloc-64 (Not tainted): Poison overwritten", "-" * 77, ""]
    assert re.fullmatch(rf"INFO: 0x{HEX}-0x{HEX}\. First byte 0x41 instead of 0x6b", log[4])
    assert log[5].startswith("INFO: Allocated in __kmalloc age=") and log[5].endswith(
        "cpu=0 pid=0")
    assert log[6].startswith("INFO: Freed in kfree age=")
    assert re.fullmatch(r"INFO: Slab 0xffffea[0-9a-f]{10} objects=20 used=20 "
                        r"fp=0x {10}\(null\) flags=0x[0-9a-f]{4,}", log[7])
    assert re.fullmatch(rf"INFO: Object 0x{HEX} @offset=\d+ fp=0x{HEX}", log[8])
    assert f"Object {p:016x}: 41 41 41 41 41 41 41 41 6b 6b 6b 6b 6b 6b 6b 6b  " \
           f"AAAAAAAAkkkkkkkk" in log
    assert f"Redzone {p - 8:016x}: bb bb bb bb bb bb bb bb                          " \
           f"........" in log
    assert f"FIX kmalloc-64: Restoring 0x{p:016x}-0x{p + 7:016x}=0x6b" in log
    assert log[-1] == "FIX kmalloc-64: Marking all objects used"
    assert m.taint_string() == "Tainted: B"
    assert m.kernel.read_kernel(p, 8) == b"\x6b" * 8   # restored
    m.check()


def test_redzone_overwrite_detected_on_free(m):
    p = m.kernel.kmalloc(60)
    m.kernel.write_kernel(p + 64, b"\x00")      # one byte past the object
    n = len(m.dmesg())
    m.kernel.kfree(p)
    log = new_log(m, n)
    assert log[1] == "BUG kmalloc-64 (Not tainted): Redzone overwritten"
    assert log[4] == f"INFO: 0x{p + 64:016x}-0x{p + 64:016x}. First byte 0x0 instead of 0xcc"
    assert f"Redzone {p + 64:016x}: 00 cc cc cc cc cc cc cc                          " \
           f"........" in log
    assert log[-1] == f"FIX kmalloc-64: Object at 0x{p:016x} not freed"
    m.check()
    # the object was not freed; it is still allocated and can be freed cleanly now
    assert m.slab.object_state(p)[2] == "allocated"
    m.kernel.kfree(p)
    m.check()


def test_double_free_reported(m):
    p = m.kernel.kmalloc(64)
    m.kernel.kmalloc(64)                         # keep the slab from being freed
    m.kernel.kfree(p)
    n = len(m.dmesg())
    m.kernel.kfree(p)
    log = new_log(m, n)
    assert log[1] == "BUG kmalloc-64 (Not tainted): Object already free"
    assert log[-1] == f"FIX kmalloc-64: Object at 0x{p:016x} not freed"
    m.check()


def test_freepointer_corrupt_and_padding(m):
    a = m.kernel.kmalloc(64)
    b = m.kernel.kmalloc(64)
    m.kernel.kfree(b)
    m.kernel.write_kernel(b + 72, (0x1234).to_bytes(8, "little"))   # free pointer of b
    n = len(m.dmesg())
    m.kernel.kmalloc(64)
    log = new_log(m, n)
    assert "BUG kmalloc-64 (Not tainted): Freepointer corrupt" in log
    m.check()
    # padding at the end of the slab (20 * 400 = 8000 of 8192 bytes)
    base = a - 8 - ((a - 8) & 0x1FFF)
    m.kernel.write_kernel(base + 8100, b"\x00\x00")
    n = len(m.dmesg())
    m.proc.write("/sys/kernel/slab/kmalloc-64/validate", "1")
    log = new_log(m, n)
    assert f"BUG kmalloc-64 (Tainted: B): Padding overwritten. 0x{base + 8100:016x}-" \
           f"0x{base + 8101:016x}" in log
    assert any(l.startswith("FIX kmalloc-64: Restoring") and l.endswith("=0x5a") for l in log)
    m.check()


def test_full_debug_boot_and_workload():
    m = lv.Machine(ram="256M", cpus=1, cmdline="slub_debug")
    assert m.slab.find_cache("vm_area_struct").flags & 0x10000           # SLAB_STORE_USER
    objs = [m.slab.alloc_obj("vm_area_struct") for _ in range(50)]
    for o in objs:
        m.slab.free_obj("vm_area_struct", o)
    assert not any("BUG" in l for l in m.dmesg())
    m.check()


def test_unknown_debug_letter_reported():
    m = lv.Machine(ram="256M", cpus=1, cmdline="slub_debug=FQ")
    assert any(l.endswith("slub_debug option 'Q' unknown. skipped") for l in m.dmesg())
    assert m.slab.find_cache("kmalloc-8").flags & 0x100


@pytest.mark.parametrize("cmdline,debug64,debug128", [
    ("slub_debug=-", False, False),
    ("slub_debug=P,kmalloc-128", False, True),
    ("slub_debug=,kmalloc-6", True, False),          # no letters: the default FZPU
])
def test_slub_debug_selection(cmdline, debug64, debug128):
    m = lv.Machine(ram="128M", cpus=1, cmdline=cmdline)
    assert bool(m.slab.find_cache("kmalloc-64").flags & 0x800) == debug64      # SLAB_POISON
    assert bool(m.slab.find_cache("kmalloc-128").flags & 0x800) == debug128


def test_slub_debug_O_keeps_order():
    # red zone + tracking would push kmalloc-4096 objects past one page (order 1 -> 2):
    # with O the metadata is dropped for such caches
    m = lv.Machine(ram="128M", cpus=1, cmdline="slub_debug=FZPUO")
    assert m.slab.find_cache("kmalloc-4096").size == 4096
    assert m.slab.find_cache("kmalloc-64").flags & 0x10000                     # still U


def test_trace_prints_alloc_and_free(m):
    m = lv.Machine(ram="128M", cpus=1, cmdline="slub_debug=T,kmalloc-32")
    n = len(m.dmesg())
    a = m.kernel.kmalloc(32)
    m.kernel.kfree(a)
    log = new_log(m, n)
    assert log[0] == (f"TRACE kmalloc-32 alloc 0x{a:016x} inuse=128 fp=0x          (null)")
    assert log[1].startswith(f"TRACE kmalloc-32 free 0x{a:016x} inuse=")
    assert log[2].startswith(f"Object {a:016x}: ")
    m.check()


def test_alloc_and_free_calls():
    m = lv.Machine(ram="128M", cpus=2, cmdline="slub_debug=U,vm_area_struct")
    a = [m.slab.alloc_obj("vm_area_struct", cpu=i % 2, caller="mmap_region")
         for i in range(30)]
    b = [m.kernel.kmem_cache_alloc("vm_area_struct") for _ in range(5)]
    for x in a[:10]:
        m.slab.free_obj("vm_area_struct", x, caller="remove_vma")
    assert m.proc.read("/sys/kernel/slab/vm_area_struct/alloc_calls") == (
        "     20 mmap_region age=0 pid=0 cpus=0-1\n"
        "      5 kmem_cache_alloc age=0 pid=0 cpus=0\n")
    # objects never freed have an empty free track
    assert m.proc.read("/sys/kernel/slab/vm_area_struct/free_calls") == (
        f"     25 <not-available> age={(-300 * 250) & 0xFFFFFFFF} pid=0 cpus=0\n")
    with pytest.raises(OSError):
        m.proc.read("/sys/kernel/slab/kmalloc-64/alloc_calls")
    for x in a[10:] + b:
        m.kernel.kmem_cache_free("vm_area_struct", x)
    m.check()
