"""MAP_HUGETLB on a 4.6 machine with no huge pages reserved (nr_hugepages 0): ENOMEM
without MAP_NORESERVE; with it a 2 MiB-aligned hugetlbfs VMA whose first touch is SIGBUS.
m.check() after every step."""

import errno

import pytest

import linuxvm as lv

MB2 = 2 << 20
RW = lv.PROT_READ | lv.PROT_WRITE
HUGE = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS | lv.MAP_HUGETLB


@pytest.fixture
def m():
    return lv.Machine(ram="512M", cpus=1, seed=5)


def test_without_noreserve_no_pages_to_reserve(m):
    p = m.spawn("h")
    with pytest.raises(lv.SyscallError) as e:
        p.mmap(None, MB2, RW, HUGE)
    assert e.value.errno == errno.ENOMEM
    m.check()


def test_noreserve_maps_an_aligned_hugetlbfs_vma(m):
    p = m.spawn("h")
    committed = m.vm_committed_as
    a = p.mmap(None, 1 << 20, RW, HUGE | lv.MAP_NORESERVE)     # rounded up to 2 MiB
    m.check()
    assert a % MB2 == 0
    line = next(l for l in m.proc.read(f"/proc/{p.pid}/maps").splitlines()
                if l.startswith(f"{a:x}-"))
    assert line.startswith(f"{a:x}-{a + MB2:x} rw-p 00000000 00:0d ")
    assert line.endswith("/anon_hugepage (deleted)")
    smaps = m.proc.read(f"/proc/{p.pid}/smaps")
    assert " ht " in smaps.split(f"{a:x}-")[1].split("VmFlags:")[1].splitlines()[0] + " "
    assert m.vm_committed_as == committed                        # hugetlb is never accounted


def test_first_touch_is_sigbus_after_building_the_pmd_path(m):
    p = m.spawn("h")
    a = p.mmap(0x40000000, MB2, RW, HUGE | lv.MAP_NORESERVE | lv.MAP_FIXED)
    m.check()
    pmds, ptes = p.mm.nr_pmds, p.mm.nr_ptes
    with pytest.raises(lv.BusError) as e:
        p.write(a + 123, b"x")
    assert (e.value.signo, e.value.code, e.value.addr) == (7, 2, a + 123)
    m.check()
    assert p.mm.nr_pmds == pmds + 1 and p.mm.nr_ptes == ptes     # huge_pte_alloc's PMD page
    c = p.fork()                                                  # the child gets the path
    m.check()
    assert c.mm.nr_pmds == p.mm.nr_pmds
    c.exit()
    m.check()
    p.munmap(a, MB2)
    m.check()
    assert p.mm.nr_pmds == pmds


@pytest.mark.parametrize("call,err", [
    (lambda p, a: p.mmap(a + 4096, MB2, RW, HUGE | lv.MAP_NORESERVE | lv.MAP_FIXED),
     errno.EINVAL),                                               # prepare_hugepage_range
    (lambda p, a: p.mprotect(a, 4096, lv.PROT_READ), errno.EINVAL),   # split off 2 MiB
    (lambda p, a: p.munmap(a + 4096, 4096), errno.EINVAL),
    (lambda p, a: p.madvise(a, MB2, lv.MADV_DONTNEED), errno.EINVAL),
    (lambda p, a: p.mremap(a, MB2, 2 * MB2, lv.MREMAP_MAYMOVE), errno.EINVAL),
])
def test_hugetlb_errno_paths(m, call, err):
    p = m.spawn("h")
    a = p.mmap(0x40000000, MB2, RW, HUGE | lv.MAP_NORESERVE | lv.MAP_FIXED)
    m.check()
    with pytest.raises(lv.SyscallError) as e:
        call(p, a)
    assert e.value.errno == err
    m.check()


def test_whole_vma_mprotect_and_exit(m):
    p = m.spawn("h")
    a = p.mmap(None, 2 * MB2, RW, HUGE | lv.MAP_NORESERVE)
    m.check()
    p.mprotect(a, 2 * MB2, lv.PROT_READ)
    m.check()
    with pytest.raises(lv.BusError):
        p.read(a, 1)
    m.check()
    p.exit()
    m.check()


def test_mm_reaches_hugetlbfs_and_shmem_through_ops_tables(m):
    #   HH....SS      a MAP_HUGETLB mapping and a shared anonymous one: each VMA carries
    #                 the vm_operations_struct and its file the file_operations that mm
    #                 calls (get_unmapped_area, mmap) instead of importing linuxvm/fs
    from linuxvm.fs.hugetlbfs import hugetlbfs_file_operations
    from linuxvm.mm.hugetlb import hugetlb_vm_ops
    from linuxvm.mm.shmem import shmem_vm_ops, shmem_file_operations
    from linuxvm.mm.vma import find_vma
    p = m.spawn("h")
    h = p.mmap(None, MB2, RW, HUGE | lv.MAP_NORESERVE)
    m.check()
    s = p.mmap(None, 4 << 12, RW, lv.MAP_SHARED | lv.MAP_ANONYMOUS)
    m.check()
    hv, sv = find_vma(p.mm, h), find_vma(p.mm, s)
    assert hv.vm_ops is hugetlb_vm_ops and hv.vm_file.f_op is hugetlbfs_file_operations
    assert sv.vm_ops is shmem_vm_ops and sv.vm_file.f_op is shmem_file_operations
    with pytest.raises(lv.KernelBug):                # 4.6 BUG()s: hugetlb_fault is called
        hugetlb_vm_ops.fault(hv, None)               # directly by handle_mm_fault


def test_mm_imports_nothing_from_fs():
    import pathlib
    import re
    root = pathlib.Path(lv.__file__).parent / "mm"
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"from \.\.fs\b|linuxvm\.fs\b|import fs\b", text), path
