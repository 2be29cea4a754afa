"""The compiled core (linuxvm/accel/_cpage_alloc.pyx, registered by linuxvm/accel/ccore.py)
leaves exactly the state of the pure-Python accelerators it replaces and of the reference
code (``Machine(fast=False)``); where it is not built, the pure-Python bodies are used
after one warning line, and ``LINUXVM_NO_CCORE=1`` chooses them without one."""

import os
import subprocess
import sys

import pytest

import linuxvm as lv
from linuxvm.accel import ccore
from linuxvm.accel.fingerprint import assert_same, fingerprint
from linuxvm.lib.accel_registry import REGISTRY

import test_fault_bulk
import test_fault_fast
import test_pcp
import test_release_pages
import test_uaccess_one

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PCP_WORKLOADS = [test_pcp.w_sequence, test_pcp.w_fair_batches, test_pcp.w_fragmented,
                 test_pcp.w_cross_cpu, test_pcp.w_processes, test_pcp.w_high_order]
# touched memory unmapped and exited: release_pages, free_hot_cold_page_list, the merges
BULK_WORKLOADS = [test_release_pages.w_cold_and_mixed, test_fault_bulk.w_exit_and_munmap,
                  test_fault_bulk.w_big_exit, test_fault_bulk.w_fork_copy]


def _pure(m):
    for name, fn in ccore.PURE.items():
        setattr(m.accel, name, fn)


def test_pure_bodies_are_kept_for_every_compiled_name():
    assert set(ccore.PURE) == set(ccore.COMPILED_NAMES)
    for name in ccore.COMPILED_NAMES:
        assert ccore.PURE[name].__module__ in ("linuxvm.accel.page_alloc", "linuxvm.accel.swap",
                                              "linuxvm.accel.uaccess_one")
        assert REGISTRY[name].function is ccore.COMPILED.get(name, ccore.PURE[name])


def test_compiled_core_is_registered_where_built():
    pytest.importorskip("linuxvm.accel._cpage_alloc",
                        reason="compiled core not built here (pip install . builds it)")
    assert set(ccore.COMPILED) == set(ccore.COMPILED_NAMES)
    m = lv.Machine(ram="64M")
    assert all(getattr(m.accel, n) is ccore.COMPILED[n] for n in ccore.COMPILED_NAMES)
    assert lv.Machine(ram="64M", fast=False).accel.enabled() == []


@pytest.mark.parametrize("workload", PCP_WORKLOADS, ids=lambda w: w.__name__)
def test_allocator_workloads_compiled_pure_and_reference_agree(workload):
    #   the registered (compiled) bodies, the pure-Python ones, and the reference code
    reference = test_pcp._reference(workload)
    assert_same(test_pcp._run(workload, True), reference)
    assert_same(test_pcp._run(workload, True, ccore.PURE), reference)


@pytest.mark.parametrize("workload", BULK_WORKLOADS, ids=lambda w: w.__name__)
def test_unmap_and_exit_workloads_compiled_pure_and_reference_agree(workload):
    reference = test_fault_bulk.run(workload, False)
    assert_same(test_fault_bulk.run(workload, True), reference)
    assert_same(test_fault_bulk.run(workload, True, patch=_pure), reference)


def _big_unmap(m):
    # 16 MiB written, half unmapped, a fork whose child writes and exits, then exit:
    # pcp lists overflow many times over, every merge order is reached
    p = m.spawn("big")
    a = p.mmap(None, 16 << 20, lv.PROT_READ | lv.PROT_WRITE, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.touch(a, 16 << 20, write=True)
    m.check()
    p.munmap(a + (4 << 20), 8 << 20)
    m.check()
    c = p.fork()
    c.touch(a, 2 << 20, write=True)
    m.check()
    c.exit()
    m.check()
    p.exit()
    m.check()


@pytest.mark.parametrize("ram", ["64M", "256M"])
def test_big_unmap_compiled_pure_and_reference_agree(ram):
    def run(fast, patch=None):
        m = lv.Machine(ram=ram, cpus=2, seed=5, fast=fast)
        if patch:
            patch(m)
        _big_unmap(m)
        return fingerprint(m)
    reference = run(False)
    assert_same(run(True), reference)
    assert_same(run(True, _pure), reference)


def _python(code: str, **env):
    e = dict(os.environ, PYTHONPATH=ROOT, **env)
    return subprocess.run([sys.executable, "-c", code], env=e, capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


_SHOW = ("import linuxvm as lv; from linuxvm.accel import ccore; "
         "from linuxvm.lib.accel_registry import REGISTRY; "
         "m = lv.Machine(ram='64M'); m.check(); "
         "print(all(REGISTRY[n].function is ccore.PURE[n] for n in ccore.COMPILED_NAMES))")


def test_without_the_compiled_core_one_warning_line_and_pure_bodies():
    # the extension made unimportable, as on a machine without a C compiler
    r = _python("import sys; sys.modules['linuxvm.accel._cpage_alloc'] = None; "
                "sys.modules['linuxvm.accel._cuaccess'] = None; " + _SHOW)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "CompiledCoreMissing" in lines[0] and "pure-Python accelerators" in lines[0]


def test_no_ccore_environment_chooses_pure_bodies_silently():
    r = _python(_SHOW, LINUXVM_NO_CCORE="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"
    assert r.stderr.strip() == ""


def w_around_huge_pages(m, step, act):
    # one-page accesses beside a THP (its 2 MiB STLB entry hands a miss back), across
    # both CPUs, after munmap and mprotect flushes, and at non-canonical addresses
    m.proc.write("/sys/kernel/mm/transparent_hugepage/enabled", "madvise")  # (off at 512M)
    p = m.spawn("huge")
    a = p.mmap(None, 8 << 20, lv.PROT_READ | lv.PROT_WRITE, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    h = (a + (2 << 20) - 1) & ~((2 << 20) - 1)
    p.madvise(h, 2 << 20, lv.MADV_HUGEPAGE)
    act(p, h, "w")                                   # a huge page
    assert "AnonHugePages:      2048 kB" in m.proc.read("/proc/meminfo")
    for i in range(0, 512, 37):
        act(p, h + i * 4096, "r")
    big = p.mmap(None, 100 << 20, lv.PROT_READ | lv.PROT_WRITE,
                 lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    hb = (big + (2 << 20) - 1) & ~((2 << 20) - 1)
    p.madvise(hb, 96 << 20, lv.MADV_HUGEPAGE)
    for i in range(48):                              # more huge pages than the L1 2M TLB
        act(p, hb + (i << 21), "w")                  # holds: the STLB keeps them
    for i in range(48):
        act(p, hb + (i << 21) + 4096 * (i + 1), "r")
    for i in range(0, 64):
        act(p, a + i * 4096, "r" if i % 3 else "w")
    p.mprotect(a, 16 * 4096, lv.PROT_READ)
    for i in range(0, 32):
        act(p, a + i * 4096, "w" if i % 2 else "r")
    q = m.spawn("other")
    b = q.mmap(None, 1 << 20, lv.PROT_READ | lv.PROT_WRITE, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    for i in range(0, 256, 5):                       # two tasks on one CPU: switches
        act(q, b + i * 4096, "r")
        act(p, a + (64 + i) * 4096, "w")
    p.munmap(a + 64 * 4096, 64 * 4096)
    act(p, a + 70 * 4096, "r")                       # SIGSEGV
    act(p, 1 << 63, "r")                             # non-canonical: #GP
    act(p, (1 << 47) - 4096, "r")
    p.exit()
    q.exit()


# (tests/test_uaccess_one.py runs its longer workloads with both bodies)
UACCESS_WORKLOADS = [test_uaccess_one.w_cow_with_swap, w_around_huge_pages]


@pytest.mark.parametrize("workload", UACCESS_WORKLOADS, ids=lambda w: w.__name__)
def test_one_access_workloads_compiled_pure_and_reference_agree(workload):
    reference = test_fault_fast.run(workload, False)
    for patch in (None, _pure):
        quick = test_fault_fast.run(workload, True, patch=patch)
        assert_same(quick, reference)
        assert quick["signals"] == reference["signals"]


def test_one_extension_missing_keeps_the_other_and_names_the_missing_one():
    pytest.importorskip("linuxvm.accel._cpage_alloc",
                        reason="compiled core not built here (pip install . builds it)")
    r = _python("import sys; sys.modules['linuxvm.accel._cuaccess'] = None; "
                "import linuxvm as lv; from linuxvm.accel import ccore; "
                "m = lv.Machine(ram='64M'); m.check(); "
                "print(sorted(ccore.COMPILED), m.accel.user_access is ccore.PURE['user_access'])")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("]")[1].strip() == "True"
    assert "'user_access'" not in r.stdout and "'alloc_order0'" in r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "_cuaccess extension" in lines[0], r.stderr
    assert "_cpage_alloc" not in lines[0]
