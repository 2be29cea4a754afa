"""Page tables in mm/memory.c: building the path on demand (__pud_alloc, __pmd_alloc,
__pte_alloc and their wrappers), walking it (follow_pte), the walk over one table's
entries that skips none entries and clears bad ones (the 4.6 pXX_none_or_clear_bad loop),
and the page behind a present PTE (vm_normal_page).

Pointers are ``(table_pfn, index)`` pairs as in arch/x86/pgtable.py.

* ``pud_alloc(m, mm, pgd_ptr, addr)``, ``pmd_alloc(m, mm, pud_ptr, addr)`` return the next
  pointer or None; ``pte_alloc(m, mm, pmd_ptr, addr)`` 0 or -ENOMEM.
* ``pte_alloc_map(m, mm, addr) -> (pte_table_pfn, index) | None``: the whole path.
* ``walk(mm, va) -> (level, entry)`` with level "pgd"/"pud"/"pmd"/"pte" (the level
  where the walk stopped: a none/non-present entry or a leaf; 2M/1G are leaves).
* ``follow_pte(mm, addr) -> (table_pfn, index)``, raising SyscallError(EINVAL)
  as __follow_pte returns -EINVAL.
"""

import errno

from ...arch.x86 import pgalloc
from ...arch.x86.page_types import PAGE_SIZE, PMD_SIZE, PUD_SIZE, PGDIR_SIZE, PAGE_SHIFT
from ...arch.x86.pgtable import (pt_entries, pgd_offset, pud_offset, pmd_offset, pte_offset_map,
                                 pgd_none, pud_none, pmd_none, pgd_bad, pud_bad, pmd_bad,
                                 pgd_present, pud_present, pmd_present, pte_present,
                                 pte_special, pmd_huge, pud_large, pmd_large, U64)
from ...arch.x86.pgtable_types import _PAGE_TABLE, PTE_PFN_MASK
from ...errors import KernelBug, SyscallError
from ...include.mm import VM_PFNMAP, VM_MIXEDMAP
from ..page import NULL

PMD_MASK = ~(PMD_SIZE - 1) & U64
PUD_MASK = ~(PUD_SIZE - 1) & U64
PGDIR_MASK = ~(PGDIR_SIZE - 1) & U64


def _machine(mm):
    return mm.machine


def _get(m, ptr):
    return pt_entries(m, ptr[0])[ptr[1]]


def _set(m, ptr, v):
    pt_entries(m, ptr[0])[ptr[1]] = v


def _addr_end(addr: int, end: int, size: int) -> int:
    """pXX_addr_end: the next boundary, or ``end`` (compared as unsigned - 1)."""
    boundary = ((addr + size) & ~(size - 1)) & U64
    return boundary if ((boundary - 1) & U64) < ((end - 1) & U64) else end


# -- building the path -----------------------------------------------------------

def __pud_alloc(m, mm, pgd, address: int) -> int:
    new = pgalloc.pud_alloc_one(m, mm, address)
    if new is None:
        return -errno.ENOMEM
    if pgd_present(_get(m, pgd)):               # another thread populated it first
        pgalloc.pud_free(m, mm, new)
    else:
        _set(m, pgd, (new << PAGE_SHIFT) | _PAGE_TABLE)      # pgd_populate
    return 0


def __pmd_alloc(m, mm, pud, address: int) -> int:
    new = pgalloc.pmd_alloc_one(m, mm, address)
    if new is None:
        return -errno.ENOMEM
    if not pud_present(_get(m, pud)):
        mm.nr_pmds += 1                          # mm_inc_nr_pmds
        _set(m, pud, (new << PAGE_SHIFT) | _PAGE_TABLE)      # pud_populate
    else:
        pgalloc.pmd_free(m, mm, new)
    return 0


def __pte_alloc(m, mm, pmd, address: int) -> int:
    new = pgalloc.pte_alloc_one(m, mm, address)
    if new is None:
        return -errno.ENOMEM
    if pmd_none(_get(m, pmd)):
        mm.nr_ptes += 1
        _set(m, pmd, (new << PAGE_SHIFT) | _PAGE_TABLE)      # pmd_populate
        new = None
    if new is not None:
        pgalloc.pte_free(m, mm, new)
    return 0


def __pte_alloc_kernel(m, pmd, address: int) -> int:
    new = pgalloc.pte_alloc_one_kernel(m, m.init_mm, address)
    if new is None:
        return -errno.ENOMEM
    if pmd_none(_get(m, pmd)):
        _set(m, pmd, (new << PAGE_SHIFT) | _PAGE_TABLE)
    else:
        pgalloc.pte_free_kernel(m, m.init_mm, new)
    return 0


def pud_alloc(m, mm, pgd, address: int):
    if pgd_none(_get(m, pgd)) and __pud_alloc(m, mm, pgd, address):
        return None
    return pud_offset(_get(m, pgd), address)


def pmd_alloc(m, mm, pud, address: int):
    if pud_none(_get(m, pud)) and __pmd_alloc(m, mm, pud, address):
        return None
    return pmd_offset(_get(m, pud), address)


def pte_alloc(m, mm, pmd, address: int) -> int:
    """0, or -ENOMEM (the 4.6 ``pte_alloc`` macro's truth value)."""
    if pmd_none(_get(m, pmd)):
        return __pte_alloc(m, mm, pmd, address)
    return 0


def pte_alloc_map(m, mm, address: int):
    """Allocate whatever is missing down to the PTE for ``address``; the PTE pointer
    ``(table_pfn, index)``, or None when an allocation failed (levels already
    allocated stay, as in __handle_mm_fault)."""
    pud = pud_alloc(m, mm, pgd_offset(mm, address), address)
    if pud is None:
        return None
    pmd = pmd_alloc(m, mm, pud, address)
    if pmd is None:
        return None
    v = _get(m, pmd)
    if pmd_large(v):
        raise KernelBug(f"pte_alloc_map: PMD for {address:#x} is a huge page")
    if pte_alloc(m, mm, pmd, address):
        return None
    return pte_offset_map(_get(m, pmd), address)


# -- walking -------------------------------------------------------------------------

def walk(mm, va: int):
    """(level, entry): where a software walk of ``mm`` for ``va`` ends."""
    m = _machine(mm)
    e = _get(m, pgd_offset(mm, va))
    if not pgd_present(e):
        return "pgd", e
    e2 = _get(m, pud_offset(e, va))
    if not pud_present(e2) or pud_large(e2):
        return "pud", e2
    e3 = _get(m, pmd_offset(e2, va))
    if not pmd_present(e3) or pmd_large(e3):
        return "pmd", e3
    return "pte", _get(m, pte_offset_map(e3, va))


def pte_lookup(m, mm, address: int):
    """The PTE pointer for ``address`` when a PTE table covers it (the entry itself may be
    none), else None; no allocation.

    :raises NotImplementedError: a huge PMD covers it (callers that meet THPs look for a
        huge PMD first: huge_memory.huge_pmd_lookup)
    """
    e = _get(m, pgd_offset(mm, address))
    if not pgd_present(e):
        return None
    e = _get(m, pud_offset(e, address))
    if not pud_present(e) or pud_large(e):
        return None
    e = _get(m, pmd_offset(e, address))
    if not pmd_present(e):
        return None
    if pmd_large(e):
        raise NotImplementedError(f"pte_lookup at {address:#x}: a huge PMD maps it and "
                                  f"this caller does not handle transparent huge pages")
    return pte_offset_map(e, address)


def follow_pte(mm, address: int):
    """The PTE pointer mapping ``address`` (__follow_pte).

    :raises SyscallError: EINVAL when a level is none/bad, the PMD is huge or the
        PTE is not present
    """
    m = _machine(mm)
    e = _get(m, pgd_offset(mm, address))
    if pgd_none(e) or pgd_bad(e):
        raise SyscallError(errno.EINVAL, "follow_pte")
    e = _get(m, pud_offset(e, address))
    if pud_none(e) or pud_bad(e):
        raise SyscallError(errno.EINVAL, "follow_pte")
    e = _get(m, pmd_offset(e, address))
    if pmd_huge(e) or pmd_none(e) or pmd_bad(e):
        raise SyscallError(errno.EINVAL, "follow_pte")
    ptr = pte_offset_map(e, address)
    if not pte_present(_get(m, ptr)):
        raise SyscallError(errno.EINVAL, "follow_pte")
    return ptr


# -- the entries one level of a walk descends through ---------------------------------------

def _clear_bad(m, ptr, what: str) -> None:
    """pgd_clear_bad & co (mm/pgtable-generic.c): report a bad entry and clear it."""
    m.log.pr_err(f"mm/pgtable-generic.c: bad {what} ({_get(m, ptr):016x})")
    _set(m, ptr, 0)


_LEVEL = {"pgd": (PGDIR_SIZE, pgd_bad), "pud": (PUD_SIZE, pud_bad), "pmd": (PMD_SIZE, pmd_bad)}


def none_or_clear_bad_entries(m, table: int, addr: int, end: int, what: str,
                              check_bad: bool = True):
    """(ptr, value, addr, next) for each non-none entry of one ``what``-level table over
    [addr, end), in order; with ``check_bad`` a bad entry is reported and cleared instead
    of yielded. This is the loop 4.6 writes in each of free_pXX_range, zap_pXX_range and
    change_pXX_range: ``do { next = pXX_addr_end(addr, end); if
    (pXX_none_or_clear_bad(p)) continue; ... } while (p++, addr = next, addr != end)``.

    Accelerator: ``none_or_clear_bad_entries`` in linuxvm/accel/memory.py.
    """
    fast = m.accel.none_or_clear_bad_entries
    if fast is not None:
        return fast(m, table, addr, end, what, check_bad)
    return none_or_clear_bad_loop(m, table, addr, end, what, check_bad)


def none_or_clear_bad_loop(m, table: int, addr: int, end: int, what: str, check_bad: bool):
    """The entry-at-a-time body of none_or_clear_bad_entries (each entry is read at its
    turn, after the caller has dealt with the one before)."""
    size, bad = _LEVEL[what]
    shift = size.bit_length() - 1
    while True:
        nxt = _addr_end(addr, end, size)
        ptr = (table, (addr >> shift) & 511)
        v = _get(m, ptr)
        if v:
            if check_bad and bad(v):
                _clear_bad(m, ptr, what)
            else:
                yield ptr, v, addr, nxt
        addr = nxt
        if addr == end:
            return


def _table_of(v: int) -> int:
    """The frame of the table an upper-level entry points to (pXX_page_vaddr)."""
    return (v & PTE_PFN_MASK) >> PAGE_SHIFT


# -- the page behind a PTE -----------------------------------------------------------------

def is_zero_pfn(m, pfn: int) -> bool:
    """``pfn`` is the shared zero page (is_zero_pfn)."""
    return pfn == m.zero_pfn


def print_bad_pte(m, vma, addr: int, pte: int, page: int) -> None:
    """Report a PTE that maps no valid page and taint the kernel (print_bad_pte)."""
    m.log.printk(1, f"BUG: Bad page map in process {m.current_comm()}  pte:{pte:016x} "
                    f"pmd:00000000")
    m.add_taint("B")


def vm_normal_page(m, vma, addr: int, pte: int) -> int:
    """The frame behind a present PTE, or NULL for special mappings and the zero page
    (mm/memory.c vm_normal_page)."""
    pfn = (pte & PTE_PFN_MASK) >> PAGE_SHIFT
    if pte_special(pte):
        if vma.vm_flags & (VM_PFNMAP | VM_MIXEDMAP):
            return NULL
        if pfn == m.zero_pfn:
            return NULL
        print_bad_pte(m, vma, addr, pte, NULL)
        return NULL
    if pfn >= m.max_pfn:
        print_bad_pte(m, vma, addr, pte, NULL)
        return NULL
    return pfn
