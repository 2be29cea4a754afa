"""The hardware walk over hand-built tables: leaves, faults and their error codes, A/D bits;
and the access paths' translate_user with and without its accelerator."""

import pytest

import linuxvm as lv
from linuxvm.accel.fingerprint import fingerprint, assert_same
from linuxvm.arch.x86 import pgtable as P
from linuxvm.arch.x86 import mmu
from linuxvm.arch.x86.cpu import switch_mm, CpuModel, X86_CR0_WP, EFER_NX
from linuxvm.arch.x86.mmu import PageFault, PF_PROT, PF_WRITE, PF_USER, PF_RSVD, PF_INSTR
from linuxvm.arch.x86.page_types import PAGE_OFFSET, PMD_SIZE, PUD_SIZE
from linuxvm.arch.x86.tlb import flush_tlb_mm_range
from linuxvm.mm import memory
from tests.test_pgtable import new_mm

U, W, I = PF_USER, PF_WRITE, PF_INSTR
VA = 0x7F0000001000


@pytest.fixture
def env(m):
    mm = new_mm(m)
    cpu = m.cpus[0]
    switch_mm(m, cpu, cpu.active_mm, mm)
    return m, mm, cpu


def pte_at(m, mm, va, pfn, prot):
    ptr = memory.pte_alloc_map(m, mm, va)
    P.set_entry(m, ptr, P.pfn_pte(pfn, prot))
    return ptr


def pmd_ptr(m, mm, va):
    pud = memory.pud_alloc(m, mm, P.pgd_offset(mm, va), va)
    return memory.pmd_alloc(m, mm, pud, va)


def fault(cpu, va, access):
    with pytest.raises(PageFault) as e:
        mmu.translate(cpu, va, access)
    assert e.value.cr2 == va and cpu.cr2 == va
    return e.value.error_code


def path_entries(m, mm, va):
    pgd = P.get_entry(m, P.pgd_offset(mm, va))
    pud = P.get_entry(m, P.pud_offset(pgd, va))
    pmd = P.get_entry(m, P.pmd_offset(pud, va))
    out = [pgd, pud, pmd]
    if not pmd & P._PAGE_PSE:
        out.append(P.get_entry(m, P.pte_offset_map(pmd, va)))
    return out


def test_kernel_direct_map_walk(m):
    cpu = m.cpus[0]
    assert mmu.translate(cpu, PAGE_OFFSET + 0x1000) == 0x1000
    assert mmu.translate(cpu, PAGE_OFFSET + (200 << 20) + 0x123) == (200 << 20) + 0x123
    m.check()


@pytest.mark.parametrize("size", ["4K", "2M", "1G"])
def test_leaves(env, size):
    m, mm, cpu = env
    if size == "4K":
        pfn = m.kernel.alloc_pages("GFP_KERNEL", 0)
        pte_at(m, mm, VA, pfn, P.PAGE_SHARED)
        phys, va = pfn << 12, VA
    elif size == "2M":
        va, phys = 0x7F0000200000, 0x40000000
        P.set_entry(m, pmd_ptr(m, mm, va), P.pfn_pmd(phys >> 12, P.PAGE_SHARED | P._PAGE_PSE))
    else:
        va, phys = 0x7F0040000000, 0x80000000
        pud = memory.pud_alloc(m, mm, P.pgd_offset(mm, va), va)
        P.set_entry(m, pud, P.pfn_pud(phys >> 12, P.PAGE_SHARED | P._PAGE_PSE))
    off = 0x234 if size == "4K" else 0x1234
    assert mmu.translate(cpu, va + off, U) == phys + off
    assert mmu.translate(cpu, va + off, U | W) == phys + off
    if size == "2M":
        # a hand-made 2 MiB leaf is no THP (no compound page, no deposited table), which
        # m.check() reports: take it away first
        P.set_entry(m, pmd_ptr(m, mm, va), 0)
    m.check()


@pytest.mark.parametrize("level", ["2M", "1G"])
def test_misaligned_large_frame_is_reserved(env, level):
    m, mm, cpu = env
    if level == "2M":
        va = 0x7F0000200000
        P.set_entry(m, pmd_ptr(m, mm, va), 0x40000000 | 0x2000 | P.PAGE_SHARED | P._PAGE_PSE)
    else:
        va = 0x7F0040000000
        pud = memory.pud_alloc(m, mm, P.pgd_offset(mm, va), va)
        P.set_entry(m, pud, 0x80000000 | 0x200000 | P.PAGE_SHARED | P._PAGE_PSE)
    assert fault(cpu, va, U) == PF_PROT | PF_RSVD | U
    assert fault(cpu, va, U | W) == PF_PROT | PF_RSVD | U | W
    if level == "2M":
        P.set_entry(m, pmd_ptr(m, mm, va), 0)      # no THP behind it: see test_leaves
    m.check()


def test_1g_leaf_without_pdpe1gb_is_reserved(m):
    m.cpus[0].has_gbpages = False
    mm = new_mm(m)
    cpu = m.cpus[0]
    switch_mm(m, cpu, cpu.active_mm, mm)
    va = 0x7F0040000000
    pud = memory.pud_alloc(m, mm, P.pgd_offset(mm, va), va)
    P.set_entry(m, pud, P.pfn_pud(0x80000, P.PAGE_SHARED | P._PAGE_PSE))
    assert fault(cpu, va, U) == PF_PROT | PF_RSVD | U


def test_high_physical_bits_are_reserved(env):
    m, mm, cpu = env
    pte_at(m, mm, VA, 1 << 34, P.PAGE_SHARED)          # frame above MAXPHYADDR 46
    assert fault(cpu, VA, U) == PF_PROT | PF_RSVD | U


@pytest.mark.parametrize("level", ["pgd", "pud", "pmd", "pte"])
def test_not_present_at_each_level(env, level):
    m, mm, cpu = env
    va = 0x7F0000001000
    if level != "pgd":
        pud = memory.pud_alloc(m, mm, P.pgd_offset(mm, va), va)
        if level != "pud":
            pmd = memory.pmd_alloc(m, mm, pud, va)
            if level != "pmd":
                assert memory.pte_alloc(m, mm, pmd, va) == 0
    assert fault(cpu, va, U) == U
    assert fault(cpu, va, U | W) == U | W
    assert fault(cpu, va, 0) == 0
    m.check()


def test_prot_none_is_not_present(env):
    m, mm, cpu = env
    pte_at(m, mm, VA, 0x4321, P.PAGE_NONE)
    e = P.get_entry(m, memory.follow_pte(mm, VA))    # present to the kernel …
    assert P.pte_protnone(e)
    assert fault(cpu, VA, U) == U                      # … not to the hardware


def test_nx_on_instruction_fetch(env):
    m, mm, cpu = env
    pte_at(m, mm, VA, 0x4321, P.PAGE_READONLY)         # NX
    assert mmu.translate(cpu, VA, U) == 0x4321000
    assert fault(cpu, VA, U | I) == PF_PROT | U | I
    pte_at(m, mm, VA + 0x1000, 0x4322, P.PAGE_READONLY_EXEC)
    assert mmu.translate(cpu, VA + 0x1000, U | I) == 0x4322000


def test_nx_bit_reserved_without_efer_nxe(env):
    m, mm, cpu = env
    cpu.write_efer(cpu.efer & ~EFER_NX)
    pte_at(m, mm, VA, 0x4321, P.PAGE_READONLY)
    assert fault(cpu, VA, U) == PF_PROT | PF_RSVD | U
    pte_at(m, mm, VA + 0x1000, 0x4322, P.PAGE_READONLY_EXEC)
    # without NXE (and with SMEP off) the I bit is not reported
    cpu.write_cr4(cpu.cr4 & ~(1 << 20))
    assert fault(cpu, VA + 0x1000, U | I | W) == PF_PROT | U | W


def test_user_access_to_supervisor_page(env):
    m, mm, cpu = env
    pte_at(m, mm, VA, 0x4321, P.PAGE_KERNEL)
    assert fault(cpu, VA, U) == PF_PROT | U
    assert fault(cpu, VA, U | W) == PF_PROT | U | W
    assert mmu.translate(cpu, VA, W) == 0x4321000       # the kernel may
    assert fault(cpu, PAGE_OFFSET, U) == PF_PROT | U     # the direct map is supervisor-only


def test_write_to_read_only_with_and_without_wp(env):
    m, mm, cpu = env
    ptr = pte_at(m, mm, VA, 0x4321, P.PAGE_KERNEL_RO)
    assert fault(cpu, VA, W) == PF_PROT | W
    cpu.write_cr0(cpu.cr0 & ~X86_CR0_WP)
    assert mmu.translate(cpu, VA, W) == 0x4321000
    assert P.get_entry(m, ptr) & P._PAGE_DIRTY
    pte_at(m, mm, VA + 0x1000, 0x4322, P.PAGE_READONLY)
    cpu.clac()
    cpu.write_cr4(cpu.cr4 & ~(1 << 21))               # SMAP off: the kernel writes a user RO page
    assert mmu.translate(cpu, VA + 0x1000, W) == 0x4322000
    assert fault(cpu, VA + 0x1000, U | W) == PF_PROT | U | W   # CR0.WP never helps user mode


def test_smep_and_smap(env):
    m, mm, cpu = env
    pte_at(m, mm, VA, 0x4321, P.PAGE_SHARED_EXEC)
    assert fault(cpu, VA, I) == PF_PROT | I            # SMEP
    assert fault(cpu, VA, 0) == PF_PROT                # SMAP, EFLAGS.AC clear
    cpu.stac()
    assert mmu.translate(cpu, VA, W) == 0x4321000
    cpu.clac()


def test_accessed_dirty_exactly_when_hardware_sets_them(env):
    m, mm, cpu = env
    ptr = pte_at(m, mm, VA, 0x4321, P.PAGE_READONLY & ~P._PAGE_ACCESSED)
    # the upper levels carry A already (_PAGE_TABLE); clear them to watch the walk
    for lvl_ptr in (P.pgd_offset(mm, VA),):
        P.set_entry(m, lvl_ptr, P.get_entry(m, lvl_ptr) & ~P._PAGE_ACCESSED)
    fault(cpu, VA, U | W)                              # a failing write sets nothing
    assert not P.get_entry(m, ptr) & (P._PAGE_ACCESSED | P._PAGE_DIRTY)
    assert not P.get_entry(m, P.pgd_offset(mm, VA)) & P._PAGE_ACCESSED
    mmu.translate(cpu, VA, U)                          # a read sets A on the path, not D
    assert all(e & P._PAGE_ACCESSED for e in path_entries(m, mm, VA))
    assert not P.get_entry(m, ptr) & P._PAGE_DIRTY
    P.set_entry(m, ptr, P.pte_mkwrite(P.get_entry(m, ptr)))
    memory_flush(m, mm, VA)
    mmu.translate(cpu, VA, U)                          # D stays clear on reads …
    assert not P.get_entry(m, ptr) & P._PAGE_DIRTY
    mmu.translate(cpu, VA, U | W)                      # … the first write through a clean
    assert P.get_entry(m, ptr) & P._PAGE_DIRTY         # TLB entry walks and sets D
    walks = cpu.tlb.walks
    mmu.translate(cpu, VA, U | W)
    assert cpu.tlb.walks == walks                      # now a plain hit
    m.check()


def test_dirty_bit_on_2m_leaf(env):
    m, mm, cpu = env
    va = 0x7F0000200000
    ptr = pmd_ptr(m, mm, va)
    P.set_entry(m, ptr, P.pfn_pmd(0x40000, (P.PAGE_SHARED | P._PAGE_PSE) & ~P._PAGE_ACCESSED))
    mmu.translate(cpu, va + 5, U | W)
    assert P.get_entry(m, ptr) & (P._PAGE_ACCESSED | P._PAGE_DIRTY) == 0x60


def memory_flush(m, mm, va):
    flush_tlb_mm_range(m, mm, va, va + 0x1000)


def test_non_canonical_is_gp(m):
    with pytest.raises(mmu.GeneralProtection):
        mmu.translate(m.cpus[0], 0x0000800000000000)


# translate_user's accelerator (linuxvm/accel/mmu.py) against its reference (translate, with
# the fault returned as ~error_code) over the same hand-built tables: one row per case, each
# a builder that writes the tables and returns the accesses to make, in order

def _t_4k(m, mm, cpu):
    pte_at(m, mm, VA, 0x4321, P.PAGE_SHARED)
    pte_at(m, mm, VA + 0x1000, 0x4322, P.PAGE_READONLY)
    return [(VA, U), (VA + 8, U | W), (VA + 0x1000, U), (VA + 0x1000, U | W), (VA, U | I),
            (VA + 0x2000, U)]


def _t_large(m, mm, cpu):
    va2, va1 = 0x7F0000200000, 0x7F0040000000
    P.set_entry(m, pmd_ptr(m, mm, va2), P.pfn_pmd(0x40000, P.PAGE_SHARED | P._PAGE_PSE))
    pud = memory.pud_alloc(m, mm, P.pgd_offset(mm, va1), va1)
    P.set_entry(m, pud, P.pfn_pud(0x80000, P.PAGE_SHARED | P._PAGE_PSE))
    return [(va2 + 0x1234, U), (va2 + 0x5000, U | W), (va1 + 0x1234, U | W), (va1, U)]


def _t_reserved(m, mm, cpu):
    pte_at(m, mm, VA, 1 << 34, P.PAGE_SHARED)                       # above MAXPHYADDR
    va = 0x7F0000200000
    P.set_entry(m, pmd_ptr(m, mm, va), 0x40000000 | 0x2000 | P.PAGE_SHARED | P._PAGE_PSE)
    return [(VA, U), (VA, U | W), (va, U)]


def _t_not_present(m, mm, cpu):
    va = 0x7F0000001000
    pmd = memory.pmd_alloc(m, mm, memory.pud_alloc(m, mm, P.pgd_offset(mm, va), va), va)
    memory.pte_alloc(m, mm, pmd, va)
    pte_at(m, mm, VA + 0x3000, 0x4321, P.PAGE_NONE)
    return [(va, U), (va, U | W), (0x7E0000000000, U), (0x7F8000000000, U | W),
            (VA + 0x3000, U)]


def _t_rights(m, mm, cpu):
    pte_at(m, mm, VA, 0x4321, P.PAGE_KERNEL)
    pte_at(m, mm, VA + 0x1000, 0x4322, P.PAGE_READONLY)
    pte_at(m, mm, VA + 0x2000, 0x4323, P.PAGE_READONLY_EXEC)
    return [(VA, U), (VA + 0x1000, U | W), (VA + 0x1000, U | I), (VA + 0x2000, U | I),
            (VA + 0x2000, U | W), (PAGE_OFFSET, U)]


def _t_accessed_dirty(m, mm, cpu):
    ptr = pte_at(m, mm, VA, 0x4321, P.PAGE_SHARED & ~P._PAGE_ACCESSED)
    pgd = P.pgd_offset(mm, VA)
    P.set_entry(m, pgd, P.get_entry(m, pgd) & ~P._PAGE_ACCESSED)
    assert ptr is not None
    return [(VA, U | W), (VA, U), (VA + 0x10, U | W)]


def _t_no_nxe(m, mm, cpu):
    cpu.write_efer(cpu.efer & ~EFER_NX)
    pte_at(m, mm, VA, 0x4321, P.PAGE_READONLY)
    pte_at(m, mm, VA + 0x1000, 0x4322, P.PAGE_READONLY_EXEC)
    return [(VA, U), (VA + 0x1000, U), (VA + 0x1000, U | I)]


def _t_stale_and_evicted(m, mm, cpu):
    # more pages than the STLB holds: hits in L1, hits in the STLB, misses after eviction
    for i in range(2000):
        pte_at(m, mm, VA + i * 0x1000, 0x10000 + i, P.PAGE_SHARED)
    out = [(VA + i * 0x1000, U) for i in range(2000)]
    out += [(VA + i * 0x1000, U | W) for i in range(0, 2000, 7)]
    out += [(VA + i * 0x1000, U) for i in range(1990, 2000)]
    out += [(0x0000800000000000, U)]                                # non-canonical: #GP
    return out


@pytest.mark.parametrize("build", [_t_4k, _t_large, _t_reserved, _t_not_present, _t_rights,
                                   _t_accessed_dirty, _t_no_nxe, _t_stale_and_evicted])
def test_translate_user_accelerator_equals_reference(build):
    def one(fast):
        m = lv.Machine(ram="512M", cpus=2, seed=0, fast=fast)
        mm = new_mm(m)
        cpu = m.cpus[0]
        switch_mm(m, cpu, cpu.active_mm, mm)
        results = []
        for va, access in build(m, mm, cpu):
            try:
                results.append((mmu.translate_user(cpu, va, access), cpu.cr2))
            except mmu.GeneralProtection:
                results.append("GP")
        return results, fingerprint(m)

    slow, fast = one(False), one({"translate_user"})
    assert slow[0] == fast[0]
    assert_same(slow[1], fast[1])
