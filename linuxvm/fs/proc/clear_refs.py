"""/proc/PID/clear_refs (fs/proc/task_mmu.c clear_refs_write): writing 1-3 clears the
accessed bits and PG_referenced of all, anonymous or file-mapped pages, 4 clears the
soft-dirty bits (and write-protects, so the next write faults and sets them again),
5 resets the peak RSS (VmHWM) to the current RSS.

>>> m.proc.write(f"/proc/{p.pid}/clear_refs", "4")
"""

import errno

from ...arch.x86 import tlb as x86_tlb
from ...arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from ...arch.x86.pgtable import (pt_entries, pte_present, is_swap_pte, pte_wrprotect,
                                 pte_clear_soft_dirty, pte_swp_clear_soft_dirty, pte_mkold,
                                 pmd_trans_huge, pmd_devmap, pmd_bad)
from ...arch.x86.pgtable_types import PTE_PFN_MASK
from ...errors import SyscallError
from ...include.mm import VM_PFNMAP, VM_HUGETLB, VM_SOFTDIRTY
from ...mm.memory.pgtable import _get, _set, _table_of, _clear_bad, none_or_clear_bad_entries
from ...mm.memory.pgtable import vm_normal_page
from ...mm.memory.rss import get_mm_rss
from ...mm.mmap import vma_set_page_prot
from ...mm.page import PG_referenced, PG_young, NULL

CLEAR_REFS_ALL, CLEAR_REFS_ANON, CLEAR_REFS_MAPPED, CLEAR_REFS_SOFT_DIRTY, \
    CLEAR_REFS_MM_HIWATER_RSS, CLEAR_REFS_LAST = range(1, 7)

PROC_NUMBUF = 13            # the write buffer: at most 12 characters are looked at
INT_MAX = (1 << 31) - 1


def kstrtoint(text: str) -> int:
    """A base-10 int as lib/kstrtox.c kstrtoint reads one: an optional sign, digits, one
    trailing newline; EINVAL for anything else, ERANGE past an int."""
    s = text[:-1] if text.endswith("\n") else text
    neg = s.startswith("-")
    if s[:1] in "+-" and s:
        s = s[1:]
    if not s or not s.isascii() or not s.isdigit():
        raise SyscallError(errno.EINVAL, "write")
    v = -int(s) if neg else int(s)
    if not -INT_MAX - 1 <= v <= INT_MAX:
        raise SyscallError(errno.ERANGE, "write")
    return v


def reset_mm_hiwater_rss(mm) -> None:
    """Set the peak RSS to the current RSS (include/linux/mm.h reset_mm_hiwater_rss)."""
    mm.hiwater_rss = get_mm_rss(mm)


def clear_soft_dirty(m, table, i: int) -> None:
    """Write-protect a present PTE and clear its soft-dirty bit, or clear a swap entry's
    (task_mmu.c clear_soft_dirty): the write-protection makes the next write fault, and
    the fault's pte_mkdirty sets the bit again."""
    ptent = int(table[i])
    if pte_present(ptent):
        table[i] = pte_clear_soft_dirty(pte_wrprotect(ptent))
    elif is_swap_pte(ptent):
        table[i] = pte_swp_clear_soft_dirty(ptent)


def clear_soft_dirty_pmd(m, pmd) -> None:
    """The same for a huge PMD (clear_soft_dirty_pmd)."""
    _set(m, pmd, pte_clear_soft_dirty(pte_wrprotect(int(_get(m, pmd)))))


def _clear_page_refs(m, page: int) -> None:
    # test_and_clear_page_young acts on the page itself (PF_ANY), ClearPageReferenced on
    # the compound head (PF_HEAD)
    mem_map = m.mem_map
    mem_map.f[page] &= ~(1 << PG_young)
    head = mem_map.compound_head_pfn(page)
    mem_map.f[head] &= ~(1 << PG_referenced)


def clear_refs_pte_range(m, vma, pmd, addr: int, end: int, type_: int) -> None:
    """One PMD's worth of the walk (clear_refs_pte_range)."""
    v = int(_get(m, pmd))
    if pmd_trans_huge(v) or pmd_devmap(v):          # pmd_trans_huge_lock
        if type_ == CLEAR_REFS_SOFT_DIRTY:
            clear_soft_dirty_pmd(m, pmd)
            return
        _set(m, pmd, pte_mkold(v))                  # pmdp_test_and_clear_young
        _clear_page_refs(m, (v & PTE_PFN_MASK) >> PAGE_SHIFT)
        return
    if pmd_bad(v):                                  # pmd_trans_unstable
        _clear_bad(m, pmd, "pmd")
        return
    table = pt_entries(m, (v & PTE_PFN_MASK) >> PAGE_SHIFT)
    while addr != end:
        i = (addr >> PAGE_SHIFT) & 511
        if type_ == CLEAR_REFS_SOFT_DIRTY:
            clear_soft_dirty(m, table, i)
        else:
            ptent = int(table[i])
            if pte_present(ptent):
                page = vm_normal_page(m, vma, addr, ptent)
                if page != NULL:
                    table[i] = pte_mkold(ptent)     # ptep_test_and_clear_young
                    _clear_page_refs(m, page)
        addr += PAGE_SIZE


def clear_refs_test_walk(vma, type_: int) -> bool:
    """Whether the walk skips ``vma`` (clear_refs_test_walk, plus walk_page_range's skip of
    a hugetlb VMA, which this walk gives no hugetlb_entry)."""
    if vma.vm_flags & (VM_PFNMAP | VM_HUGETLB):
        return True
    if type_ == CLEAR_REFS_ANON and vma.vm_file is not None:
        return True
    return type_ == CLEAR_REFS_MAPPED and vma.vm_file is None


def walk_vma(m, vma, type_: int) -> None:
    """walk_pgd_range → walk_pud_range → walk_pmd_range over one VMA, calling
    clear_refs_pte_range for each present PMD."""
    for pgd, _, a, nxt in none_or_clear_bad_entries(m, vma.vm_mm.pgd, vma.vm_start,
                                                    vma.vm_end, "pgd"):
        for _, pud_v, b, nxt2 in none_or_clear_bad_entries(m, _table_of(_get(m, pgd)), a,
                                                           nxt, "pud"):
            for pmd, _, c, nxt3 in none_or_clear_bad_entries(m, _table_of(pud_v), b, nxt2,
                                                             "pmd", False):
                clear_refs_pte_range(m, vma, pmd, c, nxt3, type_)


def clear_refs_write(m, task, text) -> None:
    """A write to /proc/PID/clear_refs (task_mmu.c clear_refs_write).

    :raises SyscallError: EINVAL for anything but 1-5 (ERANGE past an int)
    """
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
    type_ = kstrtoint(data[:PROC_NUMBUF - 1].decode("latin-1").strip(" \t\n\v\f\r"))
    if not CLEAR_REFS_ALL <= type_ < CLEAR_REFS_LAST:
        raise SyscallError(errno.EINVAL, "write")
    mm = task.mm
    if mm is None:
        return
    if type_ == CLEAR_REFS_MM_HIWATER_RSS:
        reset_mm_hiwater_rss(mm)
        return
    if type_ == CLEAR_REFS_SOFT_DIRTY:
        if any(v.vm_flags & VM_SOFTDIRTY for v in _vmas(mm)):
            for v in _vmas(mm):
                v.vm_flags &= ~VM_SOFTDIRTY
                vma_set_page_prot(v)
    for vma in _vmas(mm):
        if not clear_refs_test_walk(vma, type_):
            walk_vma(m, vma, type_)
    x86_tlb.flush_tlb_mm(m, mm)


def clear_refs_read(m, task):
    """clear_refs has no read method: read(2) fails with EINVAL."""
    raise SyscallError(errno.EINVAL, "read")


def _vmas(mm):
    vma = mm.mmap
    while vma is not None:
        yield vma
        vma = vma.vm_next
