"""Allocating and freeing page-table pages (arch/x86/mm/pgtable.c, arch/x86/include/asm/pgalloc.h,
include/linux/mm.h pgtable_page_ctor/dtor).

Interface (stable):

* ``mm_alloc_pgd(m, mm) -> 0 | -ENOMEM`` and ``mm_free_pgd(m, mm)`` (kernel/fork.c):
  a new PGD page whose kernel half (entries KERNEL_PGD_BOUNDARY..511) is copied
  from ``swapper_pg_dir``; the page joins ``m.pgd_list`` (pfn -> mm).
* ``pte_alloc_one / pmd_alloc_one / pud_alloc_one(m, mm, addr) -> pfn | None`` and
  ``pte_free / pmd_free / pud_free(m, mm, pfn)``, with 4.6's gfp flags.
* Accounting: only PTE pages count in zone ``NR_PAGETABLE`` (pgtable_page_ctor);
  ``mm.nr_ptes`` / ``mm.nr_pmds`` are kept by mm/memory.py where the kernel keeps them.
* ``check_pgtables(m)``: linuxvm.mm.debug's m.check() runs it.
"""

import errno

import numpy as np

from ...errors import KernelBug
from ...mm import gfp as G
from ...mm import page_alloc
from ...mm.page import NULL, PG_reserved
from ...include.vm_event_item import NR_PAGETABLE
from .page_types import KERNEL_PGD_BOUNDARY, PAGE_SHIFT
from .pgtable import pt_entries, pt_array, pt_release, read_array
from .pgtable_types import _PAGE_PRESENT, _PAGE_PSE, PTE_PFN_MASK

# pgtable.c: x86-64 has no CONFIG_HIGHPTE so user PTEs use PGALLOC_GFP too
__userpte_alloc_gfp = G.PGALLOC_GFP
PMD_ALLOC_GFP = G.GFP_KERNEL | G.__GFP_REPEAT | G.__GFP_ZERO   # pmd_alloc_one
PUD_ALLOC_GFP = G.GFP_KERNEL | G.__GFP_REPEAT | G.__GFP_ZERO   # get_zeroed_page(GFP_KERNEL|REPEAT)

_alloc = page_alloc.__alloc_pages_nodemask
_free = page_alloc.__free_pages


def alloc_pgtable_page(m, gfp: int):
    """One zeroed frame holding an empty table, or None when the allocator fails."""
    pfn = _alloc(m.pgdat, gfp, 0, m.current_cpu)
    if pfn == NULL:
        return None
    pt_entries(m, pfn)
    return pfn


def free_pgtable_page(m, pfn: int) -> None:
    """__free_page of a table frame: its entries go with it."""
    pt_release(m, pfn)
    _free(m.pgdat, pfn, 0, m.current_cpu)


# -- PTE pages -------------------------------------------------------------------

def pgtable_page_ctor(m, pfn: int) -> bool:
    """Split ptlock (fits in struct page: nothing to allocate) and NR_PAGETABLE++."""
    m.page_zone(pfn).vm_stat[NR_PAGETABLE] += 1
    return True


def pgtable_page_dtor(m, pfn: int) -> None:
    m.page_zone(pfn).vm_stat[NR_PAGETABLE] -= 1


def pte_alloc_one(m, mm, addr: int = 0):
    pfn = alloc_pgtable_page(m, __userpte_alloc_gfp)
    if pfn is None:
        return None
    if not pgtable_page_ctor(m, pfn):
        free_pgtable_page(m, pfn)
        return None
    return pfn


def pte_alloc_one_kernel(m, mm=None, addr: int = 0):
    """Kernel PTE page: no ctor, not counted in NR_PAGETABLE."""
    return alloc_pgtable_page(m, G.PGALLOC_GFP)


def pte_free(m, mm, pfn: int) -> None:
    pgtable_page_dtor(m, pfn)
    free_pgtable_page(m, pfn)


def pte_free_kernel(m, mm, pfn: int) -> None:
    free_pgtable_page(m, pfn)


# -- PMD / PUD pages -------------------------------------------------------------

def pmd_alloc_one(m, mm, addr: int = 0):
    """pgtable_pmd_page_ctor only sets up the split PMD lock: no NR_PAGETABLE."""
    pfn = alloc_pgtable_page(m, PMD_ALLOC_GFP)
    if pfn is not None:
        m.mem_map.priv[pfn] = 0          # pmd_huge_pte = NULL
    return pfn


def pmd_free(m, mm, pfn: int) -> None:
    free_pgtable_page(m, pfn)


def pud_alloc_one(m, mm, addr: int = 0):
    return alloc_pgtable_page(m, PUD_ALLOC_GFP)


def pud_free(m, mm, pfn: int) -> None:
    free_pgtable_page(m, pfn)


# -- PGD pages -------------------------------------------------------------------

def pgd_ctor(m, mm, pfn: int) -> None:
    """Copy the kernel half from swapper_pg_dir and join pgd_list (SHARED_KERNEL_PMD = 0)."""
    src = pt_array(m, m.init_mm.pgd)
    dst = pt_array(m, pfn)
    dst[KERNEL_PGD_BOUNDARY:] = src[KERNEL_PGD_BOUNDARY:]
    # pgd_set_mm: page->index = mm (the mm_struct's address, stored as a signed 64-bit value)
    obj = mm.slab_obj or 0
    m.mem_map.index[pfn] = obj - (1 << 64) if obj >= 1 << 63 else obj
    m.pgd_list[pfn] = mm


def pgd_dtor(m, pfn: int) -> None:
    m.pgd_list.pop(pfn, None)


def pgd_alloc(m, mm):
    """A new PGD page for ``mm``; its frame number, or None (pgd_alloc)."""
    pfn = alloc_pgtable_page(m, G.PGALLOC_GFP)
    if pfn is None:
        return None
    pgd_ctor(m, mm, pfn)
    return pfn


def pgd_free(m, mm, pfn: int) -> None:
    pgd_dtor(m, pfn)
    m.mem_map.index[pfn] = 0
    free_pgtable_page(m, pfn)


def mm_alloc_pgd(m, mm) -> int:
    """Give ``mm`` its PGD (kernel/fork.c mm_alloc_pgd); 0 or -ENOMEM."""
    pfn = pgd_alloc(m, mm)
    if pfn is None:
        return -errno.ENOMEM
    mm.pgd = pfn
    mm.machine = m
    return 0


def mm_free_pgd(m, mm) -> None:
    if mm.pgd < 0:
        raise KernelBug("mm_free_pgd: mm has no pgd")
    pgd_free(m, mm, mm.pgd)
    mm.pgd = -1


# -- invariants ----------------------------------------------------------------------

def count_user_tables(m, pgd_pfn: int) -> tuple:
    """(PUD, PMD, PTE) table pages below the user half of a PGD, and their frames."""
    frames = []
    counts = [0, 0, 0]
    pgd = read_array(m, pgd_pfn)[:KERNEL_PGD_BOUNDARY]
    level_tables = [pgd]
    for lvl in range(3):
        nxt = []
        for tab in level_tables:
            ents = tab[(tab & np.uint64(_PAGE_PRESENT)) != 0]
            if lvl > 0:          # PUD and PMD leaves point at data, not tables
                ents = ents[(ents & np.uint64(_PAGE_PSE)) == 0]
            for e in ents.tolist():
                pfn = (e & PTE_PFN_MASK) >> PAGE_SHIFT
                counts[lvl] += 1
                frames.append(pfn)
                if lvl < 2:
                    nxt.append(read_array(m, pfn))
        level_tables = nxt
    return counts, frames


def count_huge_pmds(m, pgd_pfn: int) -> int:
    """2 MiB leaves (PSE PMD entries, present or PROT_NONE) below a PGD's user half."""
    n = 0
    pgd = read_array(m, pgd_pfn)[:KERNEL_PGD_BOUNDARY]
    for e in pgd[(pgd & np.uint64(_PAGE_PRESENT)) != 0].tolist():
        pud = read_array(m, (e & PTE_PFN_MASK) >> PAGE_SHIFT)
        for e2 in pud[(pud & np.uint64(_PAGE_PRESENT | _PAGE_PSE)) == _PAGE_PRESENT].tolist():
            pmd = read_array(m, (e2 & PTE_PFN_MASK) >> PAGE_SHIFT)
            n += int(((pmd & np.uint64(_PAGE_PSE)) != 0).sum())
    return n


def check_pgtables(m) -> None:
    """nr_ptes/nr_pmds of every mm and zone NR_PAGETABLE match the tables; tables are frames."""
    if not hasattr(m, "pgtables"):
        return
    mem = m.mem_map
    for pfn, view in m.pgtables.items():
        if m.page_contents.get(pfn) is not view.obj:
            raise KernelBug(f"page table {pfn:#x}: entries view lost its frame's bytes")
        if mem.rc[pfn] <= 0 and not mem.test(pfn, PG_reserved):
            raise KernelBug(f"page table {pfn:#x} is a free frame (refcount {mem.rc[pfn]})")
    ptes = 0
    seen = set()
    kernel = read_array(m, m.init_mm.pgd)[KERNEL_PGD_BOUNDARY:]
    for pgd, mm in m.pgd_list.items():
        if mm.pgd != pgd:
            raise KernelBug(f"pgd_list page {pgd:#x} belongs to an mm whose pgd is {mm.pgd:#x}")
        k = read_array(m, pgd)[KERNEL_PGD_BOUNDARY:]
        bad = np.flatnonzero((k != kernel) & (k != 0))
        if bad.size:
            raise KernelBug(f"pgd {pgd:#x} entry {KERNEL_PGD_BOUNDARY + int(bad[0])} differs "
                            f"from swapper_pg_dir")
        (puds, pmds, pte_pages), frames = count_user_tables(m, pgd)
        for f in frames:
            if f in seen:
                raise KernelBug(f"page-table frame {f:#x} is linked twice")
            seen.add(f)
            if f not in m.pgtables:
                raise KernelBug(f"pgd {pgd:#x} links table frame {f:#x} that holds no table")
        if pmds != mm.nr_pmds:
            raise KernelBug(f"mm with pgd {pgd:#x}: nr_pmds is {mm.nr_pmds} but its tables "
                            f"hold {pmds} PMD pages")
        # a huge PMD's deposited table counts in nr_ptes and NR_PAGETABLE (4.6)
        pte_pages += count_huge_pmds(m, pgd)
        if pte_pages != mm.nr_ptes:
            raise KernelBug(f"mm with pgd {pgd:#x}: nr_ptes is {mm.nr_ptes} but its tables "
                            f"hold {pte_pages} PTE pages")
        ptes += pte_pages
    nr = m.global_page_state(NR_PAGETABLE)
    if nr != ptes:
        raise KernelBug(f"NR_PAGETABLE is {nr} but the mms' tables hold {ptes} PTE pages")

