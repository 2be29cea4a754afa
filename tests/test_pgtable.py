"""Entry encoding, page-table allocation/accounting and free_pgtables' floor/ceiling."""

import pytest

import linuxvm as lv
from linuxvm.arch.x86 import pgtable as P
from linuxvm.arch.x86.pgalloc import mm_alloc_pgd, mm_free_pgd, count_user_tables
from linuxvm.arch.x86.page_types import KERNEL_PGD_BOUNDARY, PMD_SIZE, PUD_SIZE, PGDIR_SIZE
from linuxvm.mm import memory
from linuxvm.include.mm import VM_PFNMAP
from linuxvm.mm.mprotect import change_protection
from linuxvm.mm.mremap import move_page_tables
from linuxvm.mm.mm_types import MmStruct
from linuxvm.include.vm_event_item import NR_PAGETABLE


class Vma:
    """The few vm_area_struct fields the page-table code reads. These tests put frames of
    their choice into PTEs with no struct page state behind them, as remap_pfn_range
    does: a VM_PFNMAP mapping of special PTEs, which zapping clears without touching a
    page (vm_normal_page gives NULL)."""
    __slots__ = ("vm_start", "vm_end", "vm_next", "vm_flags", "vm_mm")

    def __init__(self, mm, start, end, flags=0x3 | VM_PFNMAP):
        self.vm_mm, self.vm_start, self.vm_end, self.vm_flags = mm, start, end, flags
        self.vm_next = None


def pfn_pte(pfn, prot):
    """A special PTE for ``pfn`` (pte_mkspecial(pfn_pte(...)), as remap_pfn_range sets)."""
    return P.pte_mkspecial(P.pfn_pte(pfn, prot))


def new_mm(m):
    mm = MmStruct()
    assert mm_alloc_pgd(m, mm) == 0
    return mm


def map_page(m, mm, addr, pfn=0x1234):
    ptr = memory.pte_alloc_map(m, mm, addr)
    P.set_entry(m, ptr, pfn_pte(pfn, P.PAGE_READONLY))
    return ptr


# -- entry encoding -------------------------------------------------------------------

def test_constants_and_masks():
    assert P._PAGE_TABLE == 0x067 and P._KERNPG_TABLE == 0x063
    assert P.PTE_PFN_MASK == 0x00003FFFFFFFF000
    assert P.PTE_FLAGS_MASK == 0xFFFFC00000000FFF
    assert P.pmd_pfn_mask(P._PAGE_PSE) == 0x00003FFFFFE00000
    assert P.pud_pfn_mask(P._PAGE_PSE) == 0x00003FFFC0000000
    assert (P.pgd_index(0xB17010), P.pud_index(0xB17010), P.pmd_index(0xB17010),
            P.pte_index(0xB17010)) == (0, 0, 5, 279)
    assert [f(0x7FFFFFFFEFFF) for f in (P.pgd_index, P.pud_index, P.pmd_index, P.pte_index)] \
        == [255, 511, 511, 510]


@pytest.mark.parametrize("fn,before,after", [
    (P.pte_mkdirty, 0x1, 0x1 | P._PAGE_DIRTY | P._PAGE_SOFT_DIRTY),   # mkdirty sets soft-dirty too
    (P.pte_mkclean, 0x1 | P._PAGE_DIRTY | P._PAGE_SOFT_DIRTY, 0x1 | P._PAGE_SOFT_DIRTY),
    (P.pte_mkyoung, 0x1, 0x21), (P.pte_mkold, 0x21, 0x1),
    (P.pte_mkwrite, 0x1, 0x3), (P.pte_wrprotect, 0x3, 0x1),
    (P.pte_mkexec, 0x1 | P._PAGE_NX, 0x1), (P.pte_mkspecial, 0x1, 0x201),
    (P.pte_mkglobal, 0x1, 0x101), (P.pte_clrglobal, 0x101, 0x1),
    (P.pmd_mknotpresent, 0x181, 0x80),
])
def test_pte_modifiers(fn, before, after):
    assert fn(before) == after


def test_predicates():
    assert P.pte_exec(0x1) and not P.pte_exec(0x1 | P._PAGE_NX)
    prot_none = P.pfn_pte(5, P.PAGE_NONE)
    assert P.pte_present(prot_none) and P.pte_protnone(prot_none)
    assert P.pmd_present(P._PAGE_PSE) and not P.pud_present(P._PAGE_PSE)
    assert P.pmd_bad(0x1000 | P._PAGE_PSE | 0x63) and not P.pmd_bad(0x1000 | 0x67)
    assert not P.pud_bad(0x1000 | 0x67) and P.pud_bad(0x1000 | 0x67 | P._PAGE_PSE)
    assert P.pmd_trans_huge(0xe7) and not P.pmd_trans_huge(0xe7 | P._PAGE_DEVMAP)
    assert P.pud_large(0x81) and not P.pud_large(0x80)
    assert P.pmd_huge(0x80) and not P.pmd_huge(0x1) and not P.pmd_huge(0)
    assert P.pte_modify(P.pfn_pte(7, P.PAGE_SHARED) | P._PAGE_DIRTY, P.PAGE_READONLY) \
        == P.pfn_pte(7, P.PAGE_READONLY) | P._PAGE_DIRTY


def test_swap_entry_encoding():
    e = P.swp_entry(3, 0x12345)
    pte = P.swp_entry_to_pte(e)
    assert pte == (3 << 1) | (0x12345 << 9)
    assert not P.pte_present(pte) and P.is_swap_pte(pte)
    assert P.pte_to_swp_entry(P.pte_swp_mksoft_dirty(pte)) == e
    assert P.swp_type(e) == 3 and P.swp_offset(e) == 0x12345
    assert P.MAX_SWAPFILES == 29 and P.non_swap_entry(P.swp_entry(P.SWP_MIGRATION_WRITE, 1))


def test_protection_map_private_write_has_no_rw():
    assert not P.vm_get_page_prot(0x3) & P._PAGE_RW            # VM_READ|VM_WRITE private
    assert P.vm_get_page_prot(0xB) & P._PAGE_RW                # … shared


# -- allocation and accounting ------------------------------------------------------------

def test_new_pgd_copies_kernel_half(m):
    mm = new_mm(m)
    k = P.pt_array(m, m.init_mm.pgd)
    u = P.pt_array(m, mm.pgd)
    assert (u[KERNEL_PGD_BOUNDARY:] == k[KERNEL_PGD_BOUNDARY:]).all()
    assert not u[:KERNEL_PGD_BOUNDARY].any()
    assert u[KERNEL_PGD_BOUNDARY] != 0                          # the direct map is there
    assert mm.pgd in m.pgd_list and (mm.nr_ptes, mm.nr_pmds) == (0, 0)
    m.check()
    mm_free_pgd(m, mm)
    assert mm.pgd == -1 and not m.pgd_list
    m.check()


# address -> (new PUD, PMD, PTE pages) implied by the index bits
ACCOUNTING = [
    (0x400000, (1, 1, 1)),                  # first fault: one of each
    (0x401000, (0, 0, 0)),                  # same 2 MiB region: shares the PTE page
    (0x400000 + PMD_SIZE, (0, 0, 1)),       # next 2 MiB: a new PTE page
    (0x400000 + PUD_SIZE, (0, 1, 1)),       # next 1 GiB: new PMD and PTE pages
    (0x400000 + PGDIR_SIZE, (1, 1, 1)),     # next 512 GiB: a new PUD too
    (0x7FFFFFFFE000, (1, 1, 1)),
]


def test_accounting_follows_address_bits(m):
    mm = new_mm(m)
    base = m.global_page_state(NR_PAGETABLE)
    total = [0, 0, 0]
    for addr, new in ACCOUNTING:
        map_page(m, mm, addr)
        total = [a + b for a, b in zip(total, new)]
        counts, _ = count_user_tables(m, mm.pgd)
        assert counts == total, hex(addr)
        assert (mm.nr_pmds, mm.nr_ptes) == (total[1], total[2])
        assert m.global_page_state(NR_PAGETABLE) - base == total[2]   # PTE pages only
        m.check()
    # every level above the leaf carries _PAGE_TABLE
    lvl, e = memory.walk(mm, 0x400000)
    assert lvl == "pte" and P.pte_pfn(e) == 0x1234
    e = P.get_entry(m, P.pgd_offset(mm, 0x400000))
    assert e & 0xFFF == 0x067


def test_follow_pte(m):
    mm = new_mm(m)
    ptr = map_page(m, mm, 0x600000)
    assert memory.follow_pte(mm, 0x600123) == ptr
    with pytest.raises(lv.SyscallError):
        memory.follow_pte(mm, 0x601000)
    with pytest.raises(lv.SyscallError):
        memory.follow_pte(mm, 1 << 40)


def test_pte_alloc_enomem_keeps_upper_levels(m, monkeypatch):
    from linuxvm.arch.x86 import pgalloc
    mm = new_mm(m)
    monkeypatch.setattr(pgalloc, "pte_alloc_one", lambda *a: None)
    assert memory.pte_alloc_map(m, mm, 0x400000) is None
    assert (mm.nr_pmds, mm.nr_ptes) == (1, 0)
    m.check()


def _free_all(m, mm, vmas, floor=0, ceiling=0):
    tlb = memory.tlb_gather_mmu(m, mm, 0, -1)
    memory.unmap_vmas(tlb, vmas, 0, -1 & ((1 << 64) - 1))
    memory.free_pgtables(tlb, vmas, floor, ceiling)
    memory.tlb_finish_mmu(tlb, 0, -1)


def test_free_pgtables_whole_mm_frees_everything(m):
    mm = new_mm(m)
    free0 = m.nr_free_pages()
    vmas = []
    for addr, _ in ACCOUNTING:
        map_page(m, mm, addr)
        vmas.append(Vma(mm, addr, addr + 0x1000))
    vmas.sort(key=lambda v: v.vm_start)
    _free_all(m, mm, vmas)
    assert (mm.nr_ptes, mm.nr_pmds) == (0, 0)
    assert not P.pt_array(m, mm.pgd)[:KERNEL_PGD_BOUNDARY].any()
    m.kernel.drain_all_pages()
    assert m.nr_free_pages() >= free0
    m.check()


@pytest.mark.parametrize("floor,ceiling,freed_ptes", [
    #   |0x400000       |0x600000       one 4K VMA at 0x401000; neighbours end at floor,
    #   .VVV............|               start at ceiling (0 = none)
    (0, 0, 1),                                # nothing around: the PTE page goes
    (0x401000, 0, 0),                         # a VMA ends inside the same 2 MiB: kept
    (0x400000, 0, 1),                         # floor on the 2 MiB line: freed
    (0, 0x5FF000, 0),                         # a VMA starts inside the same 2 MiB: kept
    (0, 0x600000, 1),                         # ceiling on the next 2 MiB line: freed
])
def test_free_pgtables_floor_ceiling(m, floor, ceiling, freed_ptes):
    mm = new_mm(m)
    map_page(m, mm, 0x401000)
    v = Vma(mm, 0x401000, 0x402000)
    tlb = memory.tlb_gather_mmu(m, mm, 0x401000, 0x402000)
    memory.unmap_vmas(tlb, v, 0x401000, 0x402000)
    memory.free_pgtables(tlb, v, floor, ceiling)
    memory.tlb_finish_mmu(tlb)
    assert mm.nr_ptes == 1 - freed_ptes
    # the PMD page lies in [0, 1 GiB): only freed when nothing limits the range
    assert mm.nr_pmds == (0 if (floor, ceiling) == (0, 0) else 1)
    m.check()


def test_zap_clears_entries_and_flushes_range(m):
    mm = new_mm(m)
    for i in range(4):
        map_page(m, mm, 0x400000 + i * 0x1000)
    v = Vma(mm, 0x400000, 0x404000)
    tlb = memory.tlb_gather_mmu(m, mm, 0x400000, 0x404000)
    memory.unmap_page_range(tlb, v, 0x400000, 0x404000)
    assert (tlb.start, tlb.end) == (0x400000, 0x404000)
    memory.tlb_finish_mmu(tlb)
    assert memory.walk(mm, 0x401000) == ("pte", 0)
    assert mm.nr_ptes == 1
    m.check()


def test_change_protection_rewrites_present_ptes_and_flushes(m):
    from linuxvm.include.vm_event_item import VM_EVENT
    mm = new_mm(m)
    for i in range(3):
        P.set_entry(m, memory.pte_alloc_map(m, mm, 0x400000 + i * 0x1000),
                    P.pfn_pte(0x100 + i, P.PAGE_SHARED) | P._PAGE_DIRTY)
    v = Vma(mm, 0x400000, 0x404000)
    cpu = m.cpus[0]
    from linuxvm.arch.x86.cpu import switch_mm
    switch_mm(m, cpu, cpu.active_mm, mm)
    one = m.pgdat.vm_events[VM_EVENT["nr_tlb_local_flush_one"]]
    assert change_protection(m, v, 0x400000, 0x404000, P.PAGE_READONLY, 0) == 3
    e = P.get_entry(m, memory.follow_pte(mm, 0x401000))
    assert not P.pte_write(e) and P.pte_dirty(e) and P.pte_pfn(e) == 0x101
    assert m.pgdat.vm_events[VM_EVENT["nr_tlb_local_flush_one"]] - one == 4
    # dirty_accountable: a dirty, soft-dirty page stays writable
    change_protection(m, v, 0x400000, 0x404000, P.PAGE_SHARED, 0)
    P.set_entry(m, memory.follow_pte(mm, 0x400000),
                P.pte_mkdirty(P.get_entry(m, memory.follow_pte(mm, 0x400000))))
    change_protection(m, v, 0x400000, 0x404000, P.PAGE_READONLY, 1)
    assert P.pte_write(P.get_entry(m, memory.follow_pte(mm, 0x400000)))
    m.check()


def test_move_page_tables_across_pmd_boundary(m):
    #   old: 0x400000 + 4 pages          new: 0x9ff000 (straddles the 0xa00000 line)
    mm = new_mm(m)
    for i in range(4):
        P.set_entry(m, memory.pte_alloc_map(m, mm, 0x400000 + i * 0x1000),
                    P.pfn_pte(0x200 + i, P.PAGE_READONLY))
    v = Vma(mm, 0x400000, 0x404000)
    nv = Vma(mm, 0x9FF000, 0xA03000)
    assert move_page_tables(m, v, 0x400000, nv, 0x9FF000, 0x4000) == 0x4000
    for i in range(4):
        e = P.get_entry(m, memory.follow_pte(mm, 0x9FF000 + i * 0x1000))
        assert P.pte_pfn(e) == 0x200 + i and P.pte_soft_dirty(e)
        assert memory.walk(mm, 0x400000 + i * 0x1000) == ("pte", 0)
    assert mm.nr_ptes == 3                 # the old PTE page stays until free_pgtables
    m.check()


def test_zap_page_range(m):
    mm = new_mm(m)
    for i in range(2):
        map_page(m, mm, 0x400000 + i * 0x1000)
    memory.zap_page_range(m, Vma(mm, 0x400000, 0x402000), 0x400000, 0x2000)
    assert memory.walk(mm, 0x400000) == ("pte", 0) and mm.nr_ptes == 1
    m.check()


def test_unmap_region_frees_tables_under_one_gather(m):
    """mm/mmap.py's unmap_region: unmap_vmas then free_pgtables under one mmu_gather
    leaves no page table behind."""
    from linuxvm.mm.mmap import unmap_region
    mm = new_mm(m)
    map_page(m, mm, 0x400000)
    vmas = [Vma(mm, 0x400000, 0x401000)]
    unmap_region(m, mm, vmas, None, None, 0x400000, 0x401000)
    assert (mm.nr_ptes, mm.nr_pmds) == (0, 0)
    m.check()


def test_pagetables_in_meminfo_and_vmstat(m):
    mm = new_mm(m)
    for addr, _ in ACCOUNTING:
        map_page(m, mm, addr)
    n = m.global_page_state(NR_PAGETABLE)
    assert n >= 5
    assert f"PageTables:     {n * 4:8d} kB" in m.proc.read("/proc/meminfo")
    assert f"nr_page_table_pages {n}\n" in m.proc.read("/proc/vmstat")
    m.check()


def test_sync_global_pgds_reaches_every_mm(m):
    from linuxvm.arch.x86.init_64 import sync_global_pgds
    from linuxvm.arch.x86.page_types import VMALLOC_START
    a, b = new_mm(m), new_mm(m)
    i = P.pgd_index(VMALLOC_START)
    # a vmalloc area gets its first PUD page in swapper_pg_dir …
    pud = m.kernel.alloc_pages("GFP_KERNEL|__GFP_ZERO", 0)
    P.pt_entries(m, pud)
    P.set_entry(m, (m.init_mm.pgd, i), (pud << 12) | P._PAGE_TABLE)
    assert P.get_entry(m, (a.pgd, i)) == 0
    sync_global_pgds(m, VMALLOC_START, VMALLOC_START)
    # … and every mm sees it
    assert P.get_entry(m, (a.pgd, i)) == P.get_entry(m, (b.pgd, i)) == (pud << 12) | 0x67
    m.check()
