"""Faulting in a range for the kernel: mm_populate, populate_vma_page_range and
__get_user_pages (mm/gup.c), used by MAP_POPULATE, mlock and MAP_LOCKED."""

import errno

from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from ..arch.x86.pgtable import pt_entries, pte_present, pte_write, pte_dirty, pte_pfn
from ..errors import KernelBug
from ..include.mm import (VM_LOCKONFAULT, VM_WRITE, VM_SHARED, VM_READ, VM_EXEC, VM_LOCKED,
                          VM_IO, VM_PFNMAP, VM_MAYREAD)
# memory.c's fault path mlocks pages (mlock.py), and mlock.py calls back into this module:
# memory is held as a module so that any of the three may be imported first
from . import memory
from . import huge_memory
# follow_page_pte mlocks pages and mlock.py calls back into this module: held as a module
# so that either may be imported first
from . import mlock
from .page import NULL, PG_dirty, PG_locked, PageTransCompound
from .swap import mark_page_accessed, lru_add_drain
from .vm_ops import (VM_FAULT_ERROR, VM_FAULT_MAJOR, VM_FAULT_WRITE, VM_FAULT_OOM,
                     VM_FAULT_SIGBUS)
from .vma import find_vma

FOLL_WRITE = 0x01
FOLL_TOUCH = 0x02
FOLL_GET = 0x04
FOLL_DUMP = 0x08
FOLL_FORCE = 0x10
FOLL_NOWAIT = 0x20
FOLL_POPULATE = 0x40
FOLL_SPLIT = 0x80
FOLL_HWPOISON = 0x100
FOLL_NUMA = 0x200
FOLL_MIGRATION = 0x400
FOLL_TRIED = 0x800
FOLL_MLOCK = 0x1000
FOLL_REMOTE = 0x2000


def follow_trans_huge_pmd(m, vma, address: int, pmd, flags: int):
    """The subpage a huge PMD maps at ``address`` if the access needs no fault, mlocking
    the THP for FOLL_MLOCK when only this PMD maps it; None to fault, -EFAULT for the
    huge zero page under FOLL_DUMP (mm/huge_memory.c follow_trans_huge_pmd)."""
    v = pt_entries(m, pmd[0])[pmd[1]]
    if flags & FOLL_WRITE and not pte_write(v):
        return None
    if flags & FOLL_DUMP and huge_memory.is_huge_zero_pmd(m, v):
        return -errno.EFAULT
    page = pte_pfn(v)
    mem_map = m.mem_map
    if flags & FOLL_TOUCH:
        huge_memory.touch_pmd(m, vma, address, pmd)
    if flags & FOLL_MLOCK and vma.vm_flags & VM_LOCKED and page != m.huge_zero_pfn:
        # 4.6 mlocks only a THP this PMD alone maps, never a PTE-mapped one
        if huge_memory.compound_mapcount(mem_map, page) == 1 and \
                not huge_memory.PageDoubleMap(mem_map, page) and mem_map.mapping[page] and \
                not mem_map.f[page] & (1 << PG_locked):
            lru_add_drain(m)
            mlock.mlock_vma_page(m, page)
    return page + ((address >> PAGE_SHIFT) & (huge_memory.HPAGE_PMD_NR - 1))


def follow_page_mask(m, vma, address: int, flags: int):
    """(page or None or -errno, page_mask): the PTE path, or a huge PMD's subpage with the
    mask of the rest of its 2 MiB (mm/gup.c follow_page_mask)."""
    pmd = huge_memory.huge_pmd_lookup(m, vma.vm_mm, address)
    if pmd is not None:
        return follow_trans_huge_pmd(m, vma, address, pmd, flags), \
            huge_memory.HPAGE_PMD_NR - 1
    return follow_page_pte(m, vma, address, flags), 0


def follow_page_pte(m, vma, address: int, flags: int):
    """The page mapped at ``address`` if the access ``flags`` needs no fault; else None."""
    pmd = huge_memory.huge_pmd_lookup(m, vma.vm_mm, address)
    if pmd is not None:
        page = follow_trans_huge_pmd(m, vma, address, pmd, flags)
        return None if page is not None and page < 0 else page
    ptr = memory.pte_lookup(m, vma.vm_mm, address)
    if ptr is None:
        return None
    pte = pt_entries(m, ptr[0])[ptr[1]]
    if not pte_present(pte):
        return None
    if flags & FOLL_WRITE and not pte_write(pte):
        return None
    page = memory.vm_normal_page(m, vma, address, pte)
    if page == NULL:
        if memory.is_zero_pfn(m, pte_pfn(pte)):
            return pte_pfn(pte)
        raise KernelBug(f"follow_page_pte: bad page at {address:#x}")
    mem_map = m.mem_map
    if flags & FOLL_TOUCH:
        if flags & FOLL_WRITE and not pte_dirty(pte) and not mem_map.f[page] & (1 << PG_dirty):
            mem_map.f[page] = mem_map.f[page] | (1 << PG_dirty)
        mark_page_accessed(m, page)
    if flags & FOLL_MLOCK and vma.vm_flags & VM_LOCKED:
        # a PTE-mapped THP is not mlocked here (its huge PMD mapping would be)
        if mem_map.mapping[page] and not PageTransCompound(mem_map, page):
            lru_add_drain(m)
            mlock.mlock_vma_page(m, page)
    return page


def faultin_page(m, task, vma, address: int, flags: list) -> int:
    """Fault the page in for the kernel; 0, or a negative errno (mm/gup.c)."""
    fault_flags = memory.FAULT_FLAG_WRITE if flags[0] & FOLL_WRITE else 0
    ret = memory.handle_mm_fault(m, vma.vm_mm, vma, address, fault_flags)
    if ret & VM_FAULT_ERROR:
        if ret & VM_FAULT_OOM:
            return -errno.ENOMEM
        if ret & VM_FAULT_SIGBUS:
            return -14
        return -14
    if task is not None:
        if ret & VM_FAULT_MAJOR:
            task.maj_flt += 1
        else:
            task.min_flt += 1
    if ret & VM_FAULT_WRITE and not vma.vm_flags & VM_WRITE:
        flags[0] &= ~FOLL_WRITE      # a FOLL_FORCE COW broke: a read will do now
    return 0


def check_vma_flags(vma, gup_flags: int) -> int:
    """Whether this kind of access may fault pages of ``vma`` in (mm/gup.c); 0 or -EFAULT."""
    f = vma.vm_flags
    if f & (VM_IO | VM_PFNMAP):
        return -14
    if gup_flags & FOLL_WRITE:
        if not f & VM_WRITE:
            if not gup_flags & FOLL_FORCE or not memory.is_cow_mapping(f):
                return -14
    elif not f & VM_READ:
        if not gup_flags & FOLL_FORCE or not f & VM_MAYREAD:
            return -14
    return 0


def __get_user_pages(m, task, mm, vma, start: int, nr_pages: int, gup_flags: int) -> int:
    """Fault in ``nr_pages`` from ``start`` within ``vma``; pages done or -errno."""
    done = 0
    flags = [gup_flags]
    err = check_vma_flags(vma, gup_flags)
    if err:
        return err
    while nr_pages:
        page, page_mask = follow_page_mask(m, vma, start, flags[0])
        if page is None:
            ret = faultin_page(m, task, vma, start, flags)
            if ret:
                return done or ret
            continue
        if page < 0:
            return done or page
        page_increm = min(1 + (~(start >> PAGE_SHIFT) & page_mask), nr_pages)
        done += page_increm
        start += page_increm * PAGE_SIZE
        nr_pages -= page_increm
    return done


def populate_vma_page_range(m, vma, start: int, end: int) -> int:
    """Fault in [start, end) of ``vma`` as MAP_POPULATE / mlock do (mm/gup.c)."""
    if start & (PAGE_SIZE - 1) or end & (PAGE_SIZE - 1):
        raise KernelBug("populate_vma_page_range: unaligned range")
    if not vma.vm_start <= start <= end <= vma.vm_end:
        raise KernelBug("populate_vma_page_range: range outside the VMA")
    gup_flags = FOLL_TOUCH | FOLL_POPULATE | FOLL_MLOCK
    if vma.vm_flags & VM_LOCKONFAULT:
        gup_flags &= ~FOLL_POPULATE
    if (vma.vm_flags & (VM_WRITE | VM_SHARED)) == VM_WRITE:
        gup_flags |= FOLL_WRITE
    if vma.vm_flags & (VM_READ | VM_WRITE | VM_EXEC):
        gup_flags |= FOLL_FORCE
    if not gup_flags & FOLL_POPULATE:
        # MLOCK_ONFAULT: lock what is present, fault nothing new in
        return _mlock_present(m, vma, start, end)
    return __get_user_pages(m, m.current, vma.vm_mm, vma, start, (end - start) >> PAGE_SHIFT,
                            gup_flags)


def _mlock_present(m, vma, start: int, end: int) -> int:
    done = 0
    for addr in range(start, end, PAGE_SIZE):
        if follow_page_pte(m, vma, addr, FOLL_MLOCK) is not None:
            done += 1
    return done


def mm_populate(m, start: int, length: int) -> None:
    """Fault in [start, start+len) of the current mm, ignoring errors (mm/gup.c
    __mm_populate with ignore_errors, as include/linux/mm.h mm_populate calls it)."""
    mm = m.current.mm
    end = start + length
    vma = find_vma(mm, start)
    while vma is not None and vma.vm_start < end:
        lo, hi = max(start, vma.vm_start), min(end, vma.vm_end)
        # __mm_populate skips IO/PFNMAP; gup's check_vma_flags fails (ignored) on PROT_NONE
        if not vma.vm_flags & (VM_IO | VM_PFNMAP) and \
                vma.vm_flags & (VM_READ | VM_WRITE | VM_EXEC):
            populate_vma_page_range(m, vma, lo, hi)
        vma = vma.vm_next
