"""The façade answers misuse of the Python API with TypeError/ValueError naming the
argument, passes to the kernel only what a C caller could, and refuses a machine the host
cannot hold before allocating it (issue 11). The bad-input table (tests/bad_inputs.py)
has one row per misuse; these are the cases a row cannot say in one line."""

import errno
import tracemalloc

import pytest

import linuxvm as lv
from linuxvm import machine as machine_mod
from linuxvm.mm import page as page_mod
from linuxvm.machine import HOST_BYTES_PER_FRAME, HostMemoryError, host_bytes_needed

PG = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
PA = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS


class Int(int):
    """An int subclass, as an IntFlag constant is."""


@pytest.fixture
def m():
    return lv.Machine(ram="256M", seed=0)


# -- host memory --------------------------------------------------------------------------
def test_machine_too_big_for_the_host_is_refused_before_allocating(monkeypatch):
    made = []
    monkeypatch.setattr(machine_mod, "host_mem_available", lambda: 1 << 30)
    monkeypatch.setattr(page_mod.MemMap, "__init__",
                        lambda self, *a, **k: made.append(a) or None)
    with pytest.raises(HostMemoryError) as e:
        lv.Machine(ram="4T")
    assert isinstance(e.value, MemoryError)
    assert "64.0 GiB of host memory" in str(e.value) and "1.0 GiB available" in str(e.value)
    assert made == []                       # nothing was allocated


def test_machine_that_fits_boots(monkeypatch):
    monkeypatch.setattr(machine_mod, "host_mem_available", lambda: 1 << 30)
    m = lv.Machine(ram="256M")              # needs 4 MiB
    m.check()


def test_unreadable_meminfo_does_not_refuse(monkeypatch):
    monkeypatch.setattr(machine_mod, "host_mem_available", lambda: None)
    lv.Machine(ram="64M").check()


def test_host_cost_per_gib_is_16_mib():
    # up to the end of the last e820 RAM range: 1G ends 128 KiB short (reserved), 4T spans
    # the PCI hole from 3 to 4 GiB
    assert host_bytes_needed(1 << 30) == ((1 << 30) - (128 << 10)) // PG * 64
    assert host_bytes_needed(4 << 40) == ((4 << 40) + (1 << 30)) // PG * 64
    assert HOST_BYTES_PER_FRAME * ((1 << 30) // PG) == 16 << 20


@pytest.mark.parametrize("ram", ["1G", "4G"])
def test_boot_peak_stays_within_the_stated_host_cost(ram):
    # the README's figure: boot's traced peak is within HOST_BYTES_PER_FRAME per spanned
    # frame, plus a little fixed cost (slab caches, the VFS, the interpreter's objects)
    tracemalloc.start()
    try:
        m = lv.Machine(ram=ram)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    m.check()
    assert peak <= host_bytes_needed(m.ram) + (2 << 20)
    arrays = sum(getattr(m.mem_map, f).nbytes for f in
                 ("flags", "_refcount", "_mapcount", "mapping", "index", "private",
                  "compound_head", "content", "lru_next", "lru_prev"))
    assert arrays <= m.mem_map.nr_frames * 56 + (1 << 20)


# -- integer arguments as a C caller passes them ------------------------------------------
@pytest.mark.parametrize("length", [-1, -(1 << 63), (1 << 64) - 1, (1 << 64) - PG])
def test_lengths_a_c_caller_can_pass_reach_the_kernel(m, length):
    p = m.spawn()
    with pytest.raises(lv.SyscallError) as e:
        p.mmap(None, length, RW, PA)        # the fast path
    fast = e.value.errno
    with pytest.raises(lv.SyscallError) as e:
        p.mmap(None, Int(length), RW, PA)   # an int subclass takes the checked path
    assert e.value.errno == fast == errno.ENOMEM
    m.check()


@pytest.mark.parametrize("length", [1 << 64, (1 << 64) + PG, -(1 << 63) - 1, 1 << 100])
def test_lengths_no_c_caller_can_pass_are_refused(m, length):
    p = m.spawn()
    a = p.mmap(None, 4 * PG, RW, PA)
    for call in (lambda: p.mmap(None, length, RW, PA), lambda: p.munmap(a, length),
                 lambda: p.mlock(a, length), lambda: p.mprotect(a, length, RW),
                 lambda: p.madvise(a, length, lv.MADV_DONTNEED),
                 lambda: p.msync(a, length, lv.MS_SYNC), lambda: p.mremap(a, PG, length)):
        with pytest.raises(ValueError, match="does not fit an unsigned long"):
            call()
        m.check()
    assert p.mm.map_count == 1 and p.mm.total_vm == 4     # nothing changed


@pytest.mark.parametrize("value,outcome", [(-1, errno.EINVAL), ((1 << 32) - 1, errno.EINVAL),
                                           (-(1 << 31), errno.EINVAL), (1 << 32, ValueError),
                                           (-(1 << 31) - 1, ValueError), (1.0, TypeError)])
def test_int_arguments_are_32_bits(m, value, outcome):
    p = m.spawn()
    a = p.mmap(None, PG, RW, PA)
    if isinstance(outcome, int):
        with pytest.raises(lv.SyscallError) as e:
            p.madvise(a, PG, value)
        assert e.value.errno == outcome
    else:
        with pytest.raises(outcome, match="advice"):
            p.madvise(a, PG, value)
    m.check()


# -- open(2) flags: build_open_flags ---------------------------------------------------------
O_TMPFILE = 0o20000000 | 0o200000


@pytest.mark.parametrize("flags,err", [
    (-1, errno.EINVAL),                                  # every bit: __O_TMPFILE with O_CREAT
    (O_TMPFILE, errno.EINVAL),                           # O_TMPFILE needs write access
    (0o20000000 | lv.O_RDWR, errno.EINVAL),              # __O_TMPFILE without O_DIRECTORY
    (O_TMPFILE | lv.O_CREAT | lv.O_RDWR, errno.EINVAL),
    (0o10000000 | 0o100000, 0),                          # O_PATH, O_LARGEFILE: accepted
    (0x80000000, 0),                                     # an unknown high bit is ignored
])
def test_open_flags(m, flags, err):
    p = m.spawn()
    m.vfs.create("/data", PG)
    files0 = set(m.vfs.files)
    if err:
        with pytest.raises(lv.SyscallError) as e:
            p.open("/data", flags)
        assert e.value.errno == err
        assert set(m.vfs.files) == files0 and p.task.files == {}
    else:
        assert p.open("/data", flags) == 3
    m.check()


# -- the CPU-access helpers ------------------------------------------------------------------
def test_write_takes_bytes_like_data_only(m):
    p = m.spawn()
    a = p.mmap(None, 2 * PG, RW, PA)
    p.write(a, bytearray(b"ab"))
    p.write(a + 2, memoryview(b"cd"))
    m.check()
    for bad in (5, "text", [1, 2], None):
        with pytest.raises(TypeError, match="data must be bytes"):
            p.write(a + 4, bad)
        m.check()
    assert p.read(a, 6) == b"abcd\0\0"
    m.check()


def test_zero_length_accesses(m):
    p = m.spawn()
    a = p.mmap(None, PG, RW, PA)
    assert p.read(a, 0) == b""
    p.touch(a, 0)
    m.check()
    assert p.mm.nr_ptes == 0                # nothing faulted


# -- spawn -----------------------------------------------------------------------------------
def test_spawn_takes_every_46_capability_name(m):
    p = m.spawn(caps=("CAP_CHOWN", "CAP_IPC_LOCK", "CAP_AUDIT_READ"))
    assert p.task.cred.cap_effective == {"CAP_CHOWN", "CAP_IPC_LOCK", "CAP_AUDIT_READ"}
    m.check()
    before = m.next_pid
    for caps, exc in (([None], ValueError), (["cap_ipc_lock"], ValueError), (5, TypeError)):
        with pytest.raises(exc, match="cap"):
            m.spawn(caps=caps)
        m.check()
    assert m.next_pid == before             # a refused spawn uses no pid


def test_spawn_rlimits_pairs(m):
    p = m.spawn(rlimits={"RLIMIT_MEMLOCK": (1 << 20, None)})
    assert p.task.signal.rlim[8] == (1 << 20, (1 << 64) - 1)
    m.check()
    with pytest.raises(TypeError, match="RLIMIT_MEMLOCK"):
        m.spawn(rlimits={"RLIMIT_MEMLOCK": (1, "x")})
    m.check()


# -- helpers ---------------------------------------------------------------------------------
def test_vtop_refuses_what_is_not_an_mm(m):
    with pytest.raises(TypeError, match="mm must be an mm_struct"):
        lv.helpers.vtop(m, 0)
    with pytest.raises(ValueError, match="64-bit"):
        lv.helpers.vtop(m.init_mm, True)
    print(lv.helpers.vtop(m.init_mm, 0xffff880000001000))
    m.check()
