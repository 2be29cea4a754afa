"""/proc/sys/vm: every sysctl of 4.6's vm_table exists from boot with its default, and
writes are parsed, bounded and refused as 4.6's proc handlers do (kernel/sysctl.c)."""

import errno

import pytest

import linuxvm as lv
from linuxvm.arch.x86.page_types import TASK_UNMAPPED_BASE
from linuxvm.errors import SyscallError
from linuxvm.mm.machine_state import MachineState

# name -> 4.6 default for the modelled config (x86-64, HZ=250, no NUMA); None: computed
# at boot from the machine's memory (checked separately)
DEFAULTS = {
    "admin_reserve_kbytes": None, "block_dump": "0", "compact_unevictable_allowed": "1",
    "dirty_background_bytes": "0", "dirty_background_ratio": "10", "dirty_bytes": "0",
    "dirty_expire_centisecs": "3000", "dirty_ratio": "20",
    "dirty_writeback_centisecs": "500", "dirtytime_expire_seconds": "43200",
    "drop_caches": "0", "extfrag_threshold": "500", "hugepages_treat_as_movable": "0",
    "hugetlb_shm_group": "0", "laptop_mode": "0", "legacy_va_layout": "0",
    "lowmem_reserve_ratio": "256\t256\t32", "max_map_count": "65530",
    "memory_failure_early_kill": "0", "memory_failure_recovery": "1",
    "min_free_kbytes": None, "mmap_min_addr": "65536", "mmap_rnd_bits": "28",
    "mmap_rnd_compat_bits": "8", "nr_hugepages": "0", "nr_overcommit_hugepages": "0",
    "nr_pdflush_threads": "0", "oom_dump_tasks": "1", "oom_kill_allocating_task": "0",
    "overcommit_kbytes": "0", "overcommit_memory": "0", "overcommit_ratio": "50",
    "page-cluster": "3", "panic_on_oom": "0", "percpu_pagelist_fraction": "0",
    "stat_interval": "1", "swappiness": "60", "user_reserve_kbytes": None,
    "vfs_cache_pressure": "100", "watermark_scale_factor": "10",
    "compact_memory": None,          # mode 0200: exists, cannot be read
}


@pytest.fixture(scope="module")
def booted():
    """One machine that the read-only tests share (nothing here writes to it)."""
    return lv.Machine(ram="256M", cpus=2, seed=0)


def test_every_vm_sysctl_exists_at_boot_with_its_default(booted):
    m = booted
    assert not m.tasks
    assert m.proc.listdir("/proc/sys/vm") == sorted(DEFAULTS)
    for name, default in DEFAULTS.items():
        if default is not None:
            assert m.proc.read(f"/proc/sys/vm/{name}") == default + "\n", name
    free_kbytes = m.sysctl["vm.user_reserve_kbytes"] * 32
    assert 0 < m.sysctl["vm.user_reserve_kbytes"] <= 1 << 17
    assert m.sysctl["vm.admin_reserve_kbytes"] == min(free_kbytes // 32, 1 << 13)
    assert m.sysctl["vm.min_free_kbytes"] == m.sysctl.min_free_kbytes > 0
    m.check()


def test_dotted_and_path_names(booted):
    m = booted
    assert m.sysctl["vm.max_map_count"] == m.sysctl["/proc/sys/vm/max_map_count"] == \
        m.sysctl["vm/max_map_count"] == 65530
    assert "vm.page-cluster" in m.sysctl and "vm.nope" not in m.sysctl
    with pytest.raises(KeyError):
        m.sysctl["vm.nope"]


def test_write_only_and_read_only_entries(booted):
    m = booted
    with pytest.raises(SyscallError) as e:
        m.proc.read("/proc/sys/vm/compact_memory")
    assert e.value.errno == errno.EACCES
    with pytest.raises(SyscallError) as e:
        m.sysctl["vm.nr_pdflush_threads"] = 1
    assert e.value.errno == errno.EACCES


def test_machine_sysctl_applies_before_any_process():
    m = lv.Machine(ram="128M", sysctl={"vm.max_map_count": 100})
    assert m.proc.read("/proc/sys/vm/max_map_count") == "100\n"
    assert not m.tasks
    p = m.spawn("p")
    assert p.mm.map_count == 0
    m.check()


@pytest.mark.parametrize("sysctl,exc,what", [
    ({"vm.swappiness": 10, "vm.no_such_thing": 1}, ValueError, "vm.no_such_thing"),
    ({"vm.swappiness": 10, "vm.max_map_count": -1}, SyscallError, errno.EINVAL),
    ({"vm.swappiness": "lots"}, SyscallError, errno.EINVAL),
    ({"vm.nr_pdflush_threads": 0}, SyscallError, errno.EACCES),
])
def test_machine_sysctl_refused_before_boot(sysctl, exc, what):
    # (vm.drop_caches=3 was refused here until the slab shrinkers existed)
    with pytest.raises(exc) as e:
        lv.Machine(ram="128M", sysctl=sysctl)
    if exc is SyscallError:
        assert e.value.errno == what
    else:
        assert what in str(e.value)


# (name, value written, errno): 0 means the write succeeds but leaves the value as it was
# (proc_doulongvec_minmax skips a negative or out-of-range number without an error)
BAD_WRITES = [
    # proc_dointvec: |value| up to INT_MAX; no bounds otherwise
    ("vm.oom_dump_tasks", 1 << 31, errno.EINVAL),
    ("vm.oom_dump_tasks", "2147483648", errno.EINVAL),
    ("vm.vfs_cache_pressure", "1.5", errno.EINVAL),
    ("vm.block_dump", "", errno.EINVAL),
    ("vm.overcommit_ratio", "12abc", errno.EINVAL),
    # proc_dointvec_minmax: [extra1, extra2]
    ("vm.max_map_count", -1, errno.EINVAL),
    ("vm.page-cluster", -1, errno.EINVAL),
    ("vm.swappiness", 101, errno.EINVAL),
    ("vm.overcommit_memory", 3, errno.EINVAL),
    ("vm.panic_on_oom", "two", errno.EINVAL),
    ("vm.extfrag_threshold", 1001, errno.EINVAL),
    ("vm.dirty_ratio", 101, errno.EINVAL),
    ("vm.drop_caches", 5, errno.EINVAL),
    ("vm.drop_caches", 0, errno.EINVAL),
    ("vm.mmap_rnd_bits", 27, errno.EINVAL),
    ("vm.mmap_rnd_compat_bits", 17, errno.EINVAL),
    ("vm.memory_failure_recovery", 2, errno.EINVAL),
    ("vm.min_free_kbytes", 1 << 31, errno.EINVAL),
    ("vm.watermark_scale_factor", 0, errno.EINVAL),
    ("vm.percpu_pagelist_fraction", 7, errno.EINVAL),
    ("vm.max_map_count", True, errno.EINVAL),
    # proc_doulongvec_minmax: a bad number is EINVAL, an out-of-range one is skipped
    ("vm.user_reserve_kbytes", "x", errno.EINVAL),
    ("vm.user_reserve_kbytes", -5, 0),
    ("vm.mmap_min_addr", -4096, 0),
    ("vm.dirty_bytes", 1, 0),                      # below dirty_bytes_min (2 pages)
    ("vm.dirty_bytes", 2 * 4096 - 1, 0),
    ("vm.nr_hugepages", "lots", errno.EINVAL),
    # proc_dointvec_jiffies
    ("vm.laptop_mode", "soon", errno.EINVAL),
    ("vm.stat_interval", 1 << 62, errno.EINVAL),
]


@pytest.mark.parametrize("name,value,err", BAD_WRITES,
                         ids=[f"{n}={v!r}" for n, v, _ in BAD_WRITES])
def test_bad_writes_leave_the_value(name, value, err):
    m = lv.Machine(ram="128M")
    before = m.sysctl.items()
    marks = [list(z.watermark) for z in m.zones]
    if err:
        with pytest.raises(SyscallError) as e:
            m.sysctl[name] = value
        assert e.value.errno == err
        with pytest.raises(SyscallError):
            m.proc.write("/proc/sys/" + name.replace(".", "/"), str(value))
    else:
        m.sysctl[name] = value
    assert m.sysctl.items() == before
    assert [list(z.watermark) for z in m.zones] == marks
    m.check()


# (name, text written, value read back): how proc_get_long reads numbers
GOOD_WRITES = [
    ("vm.swappiness", "0x10", 16),                 # simple_strtoul base 0: hex
    ("vm.swappiness", "010", 8),                   # ... and octal
    ("vm.swappiness", "  7\n", 7),
    ("vm.swappiness", "5 x", 5),                   # one int: the rest is never read
    ("vm.block_dump", -3, -3),                     # proc_dointvec ignores extra1
    ("vm.oom_dump_tasks", -(1 << 31), -(1 << 31)),
    ("vm.legacy_va_layout", 1, 1),
    ("vm.laptop_mode", 5, 5),                      # stored in jiffies, read in seconds
    ("vm.dirty_writeback_centisecs", "junk", 500),  # the handler drops the error
    ("vm.admin_reserve_kbytes", 1 << 40, 1 << 40),
    ("vm.nr_hugepages", 0, 0),
    ("vm.max_map_count", 100, 100),
]


@pytest.mark.parametrize("name,value,want", GOOD_WRITES,
                         ids=[f"{n}={v!r}" for n, v, _ in GOOD_WRITES])
def test_writes_parse_as_46(name, value, want):
    m = lv.Machine(ram="128M")
    m.sysctl[name] = value
    assert m.sysctl[name] == want
    assert m.proc.read("/proc/sys/" + name.replace(".", "/")) == f"{want}\n"
    m.check()


def test_ratio_and_bytes_pairs_clear_each_other():
    m = lv.Machine(ram="128M")
    steps = [  # write, then (dirty_ratio, dirty_bytes, background_ratio, background_bytes)
        (("vm.dirty_bytes", 1 << 20), (0, 1 << 20, 10, 0)),
        (("vm.dirty_bytes", 1 << 20), (0, 1 << 20, 10, 0)),
        (("vm.dirty_ratio", 30), (30, 0, 10, 0)),
        (("vm.dirty_background_bytes", 4096), (30, 0, 0, 4096)),
        (("vm.dirty_background_bytes", 0), (30, 0, 0, 4096)),   # skipped, still clears
        (("vm.dirty_background_ratio", 5), (30, 0, 5, 0)),
        (("vm.dirty_bytes", 1), (30, 0, 5, 0)),                 # skipped: nothing cleared
    ]
    for (name, value), want in steps:
        m.sysctl[name] = value
        got = tuple(m.sysctl[f"vm.{n}"] for n in ("dirty_ratio", "dirty_bytes",
                                                   "dirty_background_ratio",
                                                   "dirty_background_bytes"))
        assert got == want, (name, value)
        m.proc.read("/proc/vmstat")
        m.check()


@pytest.mark.parametrize("name,value,missing", [
    ("vm.nr_hugepages", 4, "hugetlb"),
    ("vm.nr_overcommit_hugepages", 4, "hugetlb"),
])
def test_writes_needing_a_missing_subsystem(name, value, missing):
    m = lv.Machine(ram="128M")
    before = m.sysctl.items()
    with pytest.raises(NotImplementedError, match=missing):
        m.sysctl[name] = value
    assert m.sysctl.items() == before
    m.check()


def test_mmap_rnd_bits_bounds_the_mmap_base_offset():
    for bits in (28, 32):
        m = lv.Machine(ram="128M", seed=1, sysctl={"vm.mmap_rnd_bits": bits})
        bases = [m.spawn("p").mm.mmap_legacy_base for _ in range(8)]
        offsets = [b - TASK_UNMAPPED_BASE for b in bases]
        assert all(0 <= o < 1 << (bits + 12) for o in offsets)
        m.check()


def test_state_is_declared():
    m = lv.Machine(ram="128M")
    assert not hasattr(m, "__dict__")
    for name in MachineState.__slots__ + type(m).__slots__:
        getattr(m, name)                  # every declared slot exists from boot
    with pytest.raises(AttributeError):
        m.no_such_global = 1
    p = m.spawn("p")
    with pytest.raises(AttributeError):
        p.mm.no_such_field = 1
    a = p.mmap(None, 4096, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    with pytest.raises(AttributeError):
        p.mm.mmap.no_such_field = 1
    p.munmap(a, 4096)
    p.exit()
    m.check()
