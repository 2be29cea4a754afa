"""mmap/munmap: placement, accounting and every errno path of 4.6."""

import errno

import pytest

import linuxvm as lv
from _vm import P, RW, R, ANON, FIXED, BASE, machine, proc, layout, fixed, errno_of

MMAP_ERRNO = [
    # (what, kwargs for p.mmap, errno)
    ("zero length", dict(addr=0, length=0, prot=RW, flags=ANON), errno.EINVAL),
    ("unaligned offset", dict(addr=0, length=P, prot=RW, flags=ANON, offset=1), errno.EINVAL),
    ("no MAP_SHARED/PRIVATE", dict(addr=0, length=P, prot=RW, flags=lv.MAP_ANONYMOUS),
     errno.EINVAL),
    ("both types", dict(addr=0, length=P, prot=RW, flags=3 | lv.MAP_ANONYMOUS), errno.EINVAL),
    ("length overflows on alignment", dict(addr=0, length=(1 << 64) - 1, prot=RW, flags=ANON),
     errno.ENOMEM),
    ("length above TASK_SIZE", dict(addr=0, length=1 << 48, prot=RW, flags=ANON),
     errno.ENOMEM),
    ("fixed beyond TASK_SIZE", dict(addr=(1 << 47) - P, length=2 * P, prot=RW, flags=FIXED),
     errno.ENOMEM),
    ("fixed unaligned", dict(addr=BASE + 1, length=P, prot=RW, flags=FIXED), errno.EINVAL),
    ("fixed below mmap_min_addr", dict(addr=0x1000, length=P, prot=RW, flags=FIXED),
     errno.EPERM),
    ("bad fd", dict(addr=0, length=P, prot=R, flags=lv.MAP_PRIVATE, fd=42), errno.EBADF),
    ("shared GROWSDOWN", dict(addr=0, length=P, prot=RW,
                              flags=lv.MAP_SHARED | lv.MAP_ANONYMOUS | lv.MAP_GROWSDOWN),
     errno.EINVAL),
    ("hugetlb without huge pages", dict(addr=0, length=P, prot=RW, flags=ANON | lv.MAP_HUGETLB),
     errno.ENOMEM),
    ("hugetlb bad size", dict(addr=0, length=P, prot=RW,
                              flags=ANON | lv.MAP_HUGETLB | (30 << lv.MAP_HUGE_SHIFT)),
     errno.EINVAL),
    ("MAP_LOCKED over RLIMIT_MEMLOCK", dict(addr=0, length=32 * P, prot=RW,
                                            flags=ANON | lv.MAP_LOCKED), errno.EAGAIN),
]


@pytest.mark.parametrize("what,kw,err", MMAP_ERRNO, ids=[c[0] for c in MMAP_ERRNO])
def test_mmap_errno(what, kw, err):
    m = machine()
    p = proc(m)
    assert errno_of(p.mmap, **kw) == err
    m.check()
    assert p.mm.map_count == 0 and p.mm.total_vm == 0 and m.vm_committed_as == 0


def test_map_locked_with_zero_memlock_is_eperm():
    m = machine()
    p = proc(m, rlimits={"RLIMIT_MEMLOCK": 0})
    assert errno_of(p.mmap, 0, P, RW, ANON | lv.MAP_LOCKED) == errno.EPERM


def test_max_map_count_enomem():
    m = machine(sysctl={})
    p = proc(m)
    m.sysctl["vm.max_map_count"] = 4
    for i in range(5):                      # map_count may reach max_map_count + 1
        fixed(p, 2 * i, 1)
    assert p.mm.map_count == 5
    assert errno_of(p.mmap, BASE + 20 * P, P, RW, FIXED) == errno.ENOMEM
    # splitting needs map_count < max: munmap of a middle page fails too
    m.sysctl["vm.max_map_count"] = 6
    fixed(p, 30, 3)
    assert errno_of(p.munmap, BASE + 31 * P, P) == errno.ENOMEM
    m.check()


def test_rlimit_as_enomem_and_fixed_overlap_allowance():
    m = machine()
    p = proc(m, rlimits={"RLIMIT_AS": 8 * P})
    fixed(p, 0, 8)
    assert errno_of(p.mmap, 0, P, RW, ANON) == errno.ENOMEM
    fixed(p, 4, 4, R)                         # replacing pages already counted is fine
    assert layout(p) == [(0, 4, "rw-"), (4, 8, "r--")]


def test_rlimit_data_only_warns_in_46():
    m = machine()
    p = proc(m, rlimits={"RLIMIT_DATA": 4 * P})
    fixed(p, 0, 8)
    assert any("exceed data ulimit" in line for line in m.dmesg())


def test_private_writable_is_accounted_readonly_is_not():
    m = machine()
    p = proc(m)
    a = p.mmap(0, 10 << 20, RW, ANON)
    assert m.vm_committed_as == 2560
    assert p.mm.total_vm == 2560 and p.mm.data_vm == 2560
    p.mmap(0, 10 << 20, R, ANON)
    assert m.vm_committed_as == 2560
    p.mmap(0, 4 << 20, RW, ANON | lv.MAP_NORESERVE)
    assert m.vm_committed_as == 2560
    p.munmap(a, 10 << 20)
    assert m.vm_committed_as == 0
    m.check()


def test_munmap_middle_page_leaves_two():
    #   012        one 3-page VMA
    #   A.A        munmap page 1: two VMAs
    m = machine()
    p = proc(m)
    fixed(p, 0, 3)
    p.munmap(BASE + P, P)
    m.check()
    assert layout(p) == [(0, 1, "rw-"), (2, 3, "rw-")]


MUNMAP_HOLES = [
    #   0123456789
    #   AAAA  BBBB   munmap [2, 8): tail of A, the hole, head of B
    #   AA      BB
    ((2, 6), [(0, 2, "rw-"), (8, 10, "r--")]),
    #   AAAA  BBBB   munmap everything
    ((0, 10), []),
    #   AAAA  BBBB   munmap only the hole: nothing changes, success
    ((4, 2), [(0, 4, "rw-"), (6, 10, "r--")]),
]


@pytest.mark.parametrize("rng,expect", MUNMAP_HOLES)
def test_munmap_holes(rng, expect):
    m = machine()
    p = proc(m)
    fixed(p, 0, 4)
    fixed(p, 6, 4, R)
    p.munmap(BASE + rng[0] * P, rng[1] * P)
    m.check()
    assert layout(p) == expect


@pytest.mark.parametrize("addr,length", [(BASE + 1, P), (BASE, 0), ((1 << 47), P),
                                         ((1 << 47) - P, 2 * P)])
def test_munmap_einval(addr, length):
    m = machine()
    p = proc(m)
    assert errno_of(p.munmap, addr, length) == errno.EINVAL


def test_topdown_layout_without_aslr():
    m = machine(aslr=False)
    p = proc(m)
    assert p.mm.mmap_base == 0x7ffff7fff000
    assert p.mmap(0, P, RW, ANON) == 0x7ffff7ffe000


def test_unlimited_stack_gives_legacy_bottom_up():
    m = machine(aslr=False)
    p = proc(m, rlimits={"RLIMIT_STACK": lv.process.__dict__.get("RLIM_INFINITY", (1 << 64) - 1)})
    assert p.mm.mmap_base == 0x2aaaaaaab000
    a = p.mmap(0, P, RW, ANON)
    b = p.mmap(0, P, RW, ANON)
    assert (a, b) == (0x2aaaaaaab000, 0x2aaaaaaac000)


def test_aslr_is_deterministic_per_seed():
    bases = [proc(machine(seed=s)).mm.mmap_base for s in (1, 1, 2)]
    assert bases[0] == bases[1] != bases[2]
    assert bases[0] < 0x7ffff7fff000


def test_topdown_finds_highest_hole():
    #   a hole below mmap_base that fits is used before anything lower
    m = machine(aslr=False)
    p = proc(m)
    a = p.mmap(0, 4 * P, RW, ANON)
    p.mprotect(a + P, P, R)
    p.munmap(a + P, P)           # one-page hole at a+P
    assert p.mmap(0, P, R, ANON) == a + P
    assert p.mmap(0, 2 * P, R, ANON) == a - 2 * P
    m.check()


def test_hint_is_honoured_when_free_and_rounded_to_min_addr():
    m = machine()
    p = proc(m)
    assert p.mmap(BASE + 5, P, RW, ANON) == BASE                # hint &= PAGE_MASK
    assert p.mmap(0x1000, P, RW, ANON) == 0x10000               # round_hint_to_min


def test_file_mapping_checks_and_maps_line():
    m = machine()
    p = proc(m)
    m.vfs.create("/data/file.bin", 3 * P, b"abc")
    m.vfs.create("/dev/nommap", 0, mmap=False)
    ro = p.open("/data/file.bin", lv.O_RDONLY)
    wo = p.open("/data/file.bin", lv.O_WRONLY)
    nm = p.open("/dev/nommap", lv.O_RDONLY)
    assert errno_of(p.mmap, 0, P, RW, lv.MAP_SHARED, ro) == errno.EACCES
    assert errno_of(p.mmap, 0, P, R, lv.MAP_PRIVATE, wo) == errno.EACCES
    assert errno_of(p.mmap, 0, P, R, lv.MAP_PRIVATE, nm) == errno.ENODEV
    assert errno_of(p.mmap, 0, P, R, lv.MAP_PRIVATE | lv.MAP_GROWSDOWN, ro) == errno.EINVAL
    a = p.mmap(0, 2 * P, R, lv.MAP_SHARED, ro, P)
    line = m.proc.read(f"/proc/{p.pid}/maps").splitlines()[0]
    ino = m.vfs.files["/data/file.bin"].i_ino
    assert line == (f"{a:x}-{a + 2 * P:x} r--s 00001000 08:01 {ino}".ljust(72)
                    + " /data/file.bin")
    # read-only fd: MAP_SHARED drops VM_MAYWRITE, so mprotect(PROT_WRITE) is EACCES
    assert errno_of(p.mprotect, a, P, RW) == errno.EACCES
    p.close(ro)
    assert errno_of(p.close, ro) == errno.EBADF
    assert errno_of(p.open, "/nope") == errno.ENOENT
    m.check()


def test_exit_releases_everything():
    m = machine()
    p = proc(m)
    p.mmap(0, 1 << 20, RW, ANON)
    mm, task = p.mm, p.task
    p.exit()
    m.check()
    assert m.vm_committed_as == 0
    assert str(p.pid) not in m.proc.listdir("/proc")
    # the VMAs are gone; the mm itself may live on as a CPU's lazy active_mm
    assert mm.mmap is None and mm.map_count == 0 and mm.mm_users == 0
    assert task.slab_obj == 0                                 # task_struct back in SLUB
    with pytest.raises(ValueError):
        p.mmap(0, P, RW, ANON)


def test_growsdown_without_account_leaks_its_growth_charge():
    # a read-only MAP_GROWSDOWN VMA is not VM_ACCOUNT, but 4.6's acct_stack_growth
    # charges its expansion (here: the guard-page expansion when mlockall faults the
    # lowest page) and munmap returns only VM_ACCOUNT pages
    m = machine()
    p = proc(m, uid=0)
    a = p.mmap(BASE + 8 * P, P, R, FIXED | lv.MAP_GROWSDOWN)
    p.mlockall(lv.MCL_CURRENT)
    m.check()
    assert p.mm.mmap.vm_start == a - P and m.vm_committed_as == 1
    p.munmap(a - P, 2 * P)
    m.check()
    assert m.vm_committed_as == 1


def test_map_32bit_lands_in_the_low_2g_window():
    m = machine(aslr=False)
    p = proc(m)
    a = p.mmap(0, P, RW, ANON | lv.MAP_32BIT)
    b = p.mmap(0, P, RW, ANON | lv.MAP_32BIT)
    assert (a, b) == (0x40000000, 0x40001000)
    m.check()


def test_map_denywrite_from_user_space_is_ignored():
    from linuxvm.include.mm import VM_DENYWRITE
    m = machine()
    p = proc(m)
    p.mmap(0, P, RW, ANON | lv.MAP_DENYWRITE)
    assert not p.mm.mmap.vm_flags & VM_DENYWRITE


def test_append_only_file_cannot_be_mapped_shared_writable():
    m = machine()
    p = proc(m)
    m.vfs.create("/log", 4 * P, append=True)
    assert errno_of(p.open, "/log", lv.O_RDWR) == errno.EPERM     # needs O_APPEND
    fd = p.open("/log", lv.O_RDWR | lv.O_APPEND)
    assert errno_of(p.mmap, 0, P, R, lv.MAP_SHARED, fd) == errno.EACCES
    assert p.mmap(0, P, R, lv.MAP_PRIVATE, fd) > 0


def test_shared_anonymous_maps_line():
    m = machine()
    p = proc(m)
    a = p.mmap(0, 2 * P, RW, lv.MAP_SHARED | lv.MAP_ANONYMOUS)
    ino = p.mm.mmap.vm_file.inode.i_ino
    assert m.proc.read(f"/proc/{p.pid}/maps") == (
        f"{a:x}-{a + 2 * P:x} rw-s 00000000 00:05 {ino}".ljust(72) + " /dev/zero (deleted)\n")
    # not VM_ACCOUNT, but shmem_acct_size charges the whole object until it is freed
    assert not p.mm.mmap.vm_flags & 0x100000 and m.vm_committed_as == 2
    p.munmap(a + P, P)                        # a piece still holds the file
    assert m.vm_committed_as == 2
    p.munmap(a, P)
    assert m.vm_committed_as == 0
    p.mmap(0, 2 * P, RW, lv.MAP_SHARED | lv.MAP_ANONYMOUS | lv.MAP_NORESERVE)
    assert m.vm_committed_as == 0
    m.check()


def test_mmap_base_gap_follows_the_stack_rlimit():
    task_size = (1 << 47) - P
    # no ASLR: the gap is RLIMIT_STACK clamped to [128 MiB, TASK_SIZE/6*5]
    p = proc(machine(aslr=False), rlimits={"RLIMIT_STACK": (1 << 30, (1 << 64) - 1)})
    assert p.mm.mmap_base == task_size - (1 << 30)
    p = proc(machine(aslr=False), rlimits={"RLIMIT_STACK": (120 << 40, (1 << 64) - 1)})
    assert p.mm.mmap_base == (task_size - task_size // 6 * 5 + P - 1) & ~(P - 1)
    # ASLR: MIN_GAP also covers the stack's random range, then up to 2^28 pages lower
    p = proc(machine(seed=5))
    gap = (128 << 20) + (0x3fffff << 12)
    assert task_size - gap - (1 << 40) < p.mm.mmap_base <= task_size - gap
    assert p.mm.mmap_legacy_base - 0x2aaaaaaab000 == task_size - gap - p.mm.mmap_base
