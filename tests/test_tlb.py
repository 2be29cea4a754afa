"""Per-CPU TLBs: hits until flushed, CR3 writes keep globals, missing flushes leave
stale translations, the flush ceiling, shootdowns and lazy TLB."""

import pytest

from linuxvm.arch.x86 import pgtable as P
from linuxvm.arch.x86 import mmu, tlb as T
from linuxvm.arch.x86.cpu import switch_mm, context_switch, TLBSTATE_LAZY
from linuxvm.arch.x86.mmu import PageFault, PF_USER as U, PF_WRITE as W
from linuxvm.arch.x86.page_types import PAGE_OFFSET
from linuxvm.mm import memory
from linuxvm.include.vm_event_item import VM_EVENT
from tests.test_pgtable import new_mm, pfn_pte
from linuxvm.include.mm import VM_PFNMAP

VA = 0x7F0000001000


class Task:
    __slots__ = ("mm", "active_mm", "comm", "pid")

    def __init__(self, mm, comm="t", pid=1):
        self.mm, self.active_mm, self.comm, self.pid = mm, mm, comm, pid


def ev(m, name):
    return m.pgdat.vm_events[VM_EVENT[name]]


@pytest.fixture
def env(m):
    mm = new_mm(m)
    for i in range(64):
        memory.pte_alloc_map(m, mm, VA + i * 0x1000)
        P.set_entry(m, memory.pte_alloc_map(m, mm, VA + i * 0x1000),
                    P.pfn_pte(0x1000 + i, P.PAGE_SHARED))
    cpu = m.cpus[0]
    context_switch(m, cpu, None, Task(mm))
    return m, mm, cpu


def test_served_from_tlb_until_flushed(env):
    m, mm, cpu = env
    assert mmu.translate(cpu, VA, U) == 0x1000000
    walks = cpu.tlb.walks
    ptr = memory.follow_pte(mm, VA)
    P.set_entry(m, ptr, P.pfn_pte(0x2222, P.PAGE_SHARED))
    assert mmu.translate(cpu, VA, U) == 0x1000000       # stale: nobody flushed
    assert cpu.tlb.walks == walks and cpu.tlb.hits >= 1
    T.flush_tlb_mm_range(m, mm, VA, VA + 0x1000)
    assert mmu.translate(cpu, VA, U) == 0x2222000
    assert cpu.tlb.walks == walks + 1
    m.check()


def test_cr3_write_keeps_only_globals(env):
    m, mm, cpu = env
    mmu.translate(cpu, VA, U)
    mmu.translate(cpu, PAGE_OFFSET + 0x5000)                # direct map: _PAGE_GLOBAL
    keys = lambda: {(lv.name, k) for lv in cpu.tlb.levels() for k in lv.keys()}  # noqa: E731
    before = keys()
    cpu.write_cr3(cpu.cr3)
    after = keys()
    assert after and after < before
    assert all(e[2] for lv in cpu.tlb.levels() for s in lv.sets for e in s.values())
    walks = cpu.tlb.walks
    mmu.translate(cpu, PAGE_OFFSET + 0x5000)
    assert cpu.tlb.walks == walks                            # still cached
    mmu.translate(cpu, VA, U)
    assert cpu.tlb.walks == walks + 1                        # user entry was dropped
    T.flush_tlb_all(m)
    assert cpu.tlb.nr_entries() == 0


def test_omitted_flush_shows_stale_translation(env):
    m, mm, cpu = env
    mmu.translate(cpu, VA, U | W)
    # zap the PTE but "forget" the flush: the CPU keeps using the freed translation
    P.set_entry(m, memory.follow_pte(mm, VA), 0)
    assert mmu.translate(cpu, VA, U | W) == 0x1000000
    # the same zap through an mmu_gather flushes, and the access faults
    P.set_entry(m, memory.pte_alloc_map(m, mm, VA), pfn_pte(0x1000, P.PAGE_SHARED))

    class V:        # VM_PFNMAP: no struct page state behind the frame (see test_pgtable.Vma)
        vm_mm, vm_start, vm_end, vm_flags, vm_next = mm, VA, VA + 0x1000, 3 | VM_PFNMAP, None
    tlb = memory.tlb_gather_mmu(m, mm, VA, VA + 0x1000)
    memory.unmap_page_range(tlb, V, VA, VA + 0x1000)
    memory.tlb_finish_mmu(tlb)
    with pytest.raises(PageFault) as e:
        mmu.translate(cpu, VA, U | W)
    assert e.value.error_code == U | W
    m.check()


@pytest.mark.parametrize("pages,one,full", [(10, 10, 0), (33, 33, 0), (34, 0, 1), (40, 0, 1)])
def test_single_page_flush_ceiling(env, pages, one, full):
    m, mm, cpu = env
    o, f = ev(m, "nr_tlb_local_flush_one"), ev(m, "nr_tlb_local_flush_all")
    T.flush_tlb_mm_range(m, mm, VA, VA + pages * 0x1000)
    assert ev(m, "nr_tlb_local_flush_one") - o == one
    assert ev(m, "nr_tlb_local_flush_all") - f == full


def test_ceiling_is_tunable_through_debugfs(env):
    m, mm, cpu = env
    path = "/sys/kernel/debug/x86/tlb_single_page_flush_ceiling"
    assert m.proc.read(path) == "33\n"
    m.proc.write(path, "0")
    f = ev(m, "nr_tlb_local_flush_all")
    T.flush_tlb_mm_range(m, mm, VA, VA + 0x1000)
    assert ev(m, "nr_tlb_local_flush_all") == f + 1


def test_remote_shootdown_and_lazy_tlb(env):
    m, mm, cpu0 = env
    cpu1 = m.cpus[1]
    t1 = Task(mm, pid=2)
    context_switch(m, cpu1, None, t1)
    assert mm.cpu_vm_mask == {0, 1}
    mmu.translate(cpu1, VA, U)
    r, rr = ev(m, "nr_tlb_remote_flush"), ev(m, "nr_tlb_remote_flush_received")
    T.flush_tlb_mm_range(m, mm, VA, VA + 0x1000)
    assert (ev(m, "nr_tlb_remote_flush") - r, ev(m, "nr_tlb_remote_flush_received") - rr) == (1, 1)
    assert cpu1.tlb.ipis == 1
    walks = cpu1.tlb.walks
    mmu.translate(cpu1, VA, U)
    assert cpu1.tlb.walks == walks + 1                       # the IPI dropped it
    # cpu1 switches to a kernel thread: lazy, CR3 untouched
    cr3 = cpu1.cr3
    kthread = Task(None, "kworker/1:0", 3)
    context_switch(m, cpu1, t1, kthread)
    assert cpu1.tlbstate == TLBSTATE_LAZY and cpu1.cr3 == cr3 and kthread.active_mm is mm
    # a flush of mm reaches the lazy CPU: it leaves mm and loads swapper_pg_dir
    T.flush_tlb_mm(m, mm)
    assert cpu1.cr3 == m.swapper_pg_dir << 12 and 1 not in mm.cpu_vm_mask
    # switching back to a task of mm reloads CR3
    context_switch(m, cpu1, kthread, t1)
    assert cpu1.cr3 == mm.pgd << 12 and 1 in mm.cpu_vm_mask
    m.check()


def test_set_associative_eviction_and_stlb(env):
    m, mm, cpu = env
    l1 = cpu.tlb.l1_4k
    # 5 pages in the same 4-way L1 set (16 sets): the first is evicted from L1 …
    vas = [VA + i * l1.nsets * 0x1000 for i in range(5) if i * l1.nsets < 64]
    vas = vas[:4] + [VA + 4 * l1.nsets * 0x1000] if len(vas) == 4 else vas
    for va in vas[:4]:
        mmu.translate(cpu, va, U)
    extra = VA - l1.nsets * 0x1000
    memory.pte_alloc_map(m, mm, extra)
    P.set_entry(m, memory.pte_alloc_map(m, mm, extra), P.pfn_pte(0x999, P.PAGE_SHARED))
    mmu.translate(cpu, extra, U)
    assert (vas[0] >> 12) not in l1.sets[(vas[0] >> 12) & l1.mask]
    stlb, walks = cpu.tlb.stlb_hits, cpu.tlb.walks
    mmu.translate(cpu, vas[0], U)                             # … but the STLB still has it
    assert cpu.tlb.stlb_hits == stlb + 1 and cpu.tlb.walks == walks


def test_stale_rights_fault_once_then_walk(env):
    m, mm, cpu = env
    ptr = memory.follow_pte(mm, VA)
    P.set_entry(m, ptr, P.pfn_pte(0x1000, P.PAGE_READONLY))
    T.flush_tlb_mm_range(m, mm, VA, VA + 0x1000)
    mmu.translate(cpu, VA, U)
    P.set_entry(m, ptr, P.pfn_pte(0x1000, P.PAGE_SHARED))    # upgrade without a flush
    with pytest.raises(PageFault):                            # spurious fault …
        mmu.translate(cpu, VA, U | W)
    assert mmu.translate(cpu, VA, U | W) == 0x1000000         # … and the retry walks


def test_geometry_is_configurable():
    with pytest.raises(ValueError):
        T.Tlb({"l1_4k": (64, 5)})
    t = T.Tlb({"stlb": (2048, 16)})
    assert (t.stlb.nsets, t.stlb.ways) == (128, 16)
