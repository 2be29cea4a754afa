"""Page-table walks behind /proc/PID/smaps and /proc/PID/pagemap (fs/proc/task_mmu.c
smaps_pte_range / smaps_account and pagemap_pmd_range / pte_to_pagemap_entry, over the
walker of mm/pagewalk.c)."""

import errno

import numpy as np

from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE, TASK_SIZE
from ..arch.x86.pgtable import (pt_array, pte_to_swp_entry, non_swap_entry, swp_type,
                                swp_offset, pte_swp_soft_dirty, MAX_SWAPFILES_SHIFT,
                                SWP_MIGRATION_READ, SWP_MIGRATION_WRITE)
from ..arch.x86.pgtable_types import (PTE_PFN_MASK, _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE,
                                      _PAGE_SPECIAL, _PAGE_ACCESSED, _PAGE_DIRTY,
                                      _PAGE_SOFT_DIRTY)
from ..errors import SyscallError, KernelBug
from ..include.mm import VM_SOFTDIRTY, VM_HUGETLB
from .page import PAGE_MAPPING_ANON, PG_dirty, PG_referenced, PG_young
from . import hugetlb
from . import huge_memory
from .swapfile import swp_swapcount
from .vma import find_vma

PM_ENTRY_BYTES = 8
PM_PFRAME_BITS = 55
PM_PFRAME_MASK = (1 << PM_PFRAME_BITS) - 1
PM_SOFT_DIRTY = 1 << 55
PM_MMAP_EXCLUSIVE = 1 << 56
PM_FILE = 1 << 61
PM_SWAP = 1 << 62
PM_PRESENT = 1 << 63
PSS_SHIFT = 12

_PRESENT = np.uint64(_PAGE_PRESENT | _PAGE_PROTNONE)


def vma_ptes(m, vma, start: int = None, end: int = None, huge=None):
    """(addresses, pte values) of the non-empty PTEs in [start, end) of ``vma``, ascending;
    ``huge``, a list, gets (first address, end address, PMD value) of each huge PMD met.

    :raises NotImplementedError: a huge PMD when no ``huge`` list is given
    """
    start = vma.vm_start if start is None else start
    end = vma.vm_end if end is None else end
    addrs, vals = [], []
    pgd = pt_array(m, vma.vm_mm.pgd)
    a = start
    while a < end:
        e = int(pgd[(a >> 39) & 511])
        nxt = ((a >> 39) + 1) << 39
        if not e & _PAGE_PRESENT:
            a = nxt
            continue
        pud = pt_array(m, (e & PTE_PFN_MASK) >> PAGE_SHIFT)
        b = a
        lim = min(end, nxt)
        while b < lim:
            e2 = int(pud[(b >> 30) & 511])
            nxt2 = ((b >> 30) + 1) << 30
            if not e2 & _PAGE_PRESENT:
                b = nxt2
                continue
            pmd = pt_array(m, (e2 & PTE_PFN_MASK) >> PAGE_SHIFT)
            c = b
            lim2 = min(lim, nxt2)
            while c < lim2:
                e3 = int(pmd[(c >> 21) & 511])
                nxt3 = ((c >> 21) + 1) << 21
                if e3 & _PAGE_PSE:
                    if huge is None:
                        raise NotImplementedError("huge PMD in a page walk that does not "
                                                  "take one")
                    huge.append((c, min(lim2, nxt3), e3))
                elif e3 & _PAGE_PRESENT:
                    pte = pt_array(m, (e3 & PTE_PFN_MASK) >> PAGE_SHIFT)
                    lo = (c >> PAGE_SHIFT) & 511
                    hi = lo + ((min(lim2, nxt3) - c) >> PAGE_SHIFT)
                    seg = pte[lo:hi]
                    nz = np.flatnonzero(seg)
                    if nz.size:
                        vals.append(seg[nz].copy())
                        addrs.append(c + (nz.astype(np.int64) << PAGE_SHIFT))
                c = nxt3
            b = nxt2
        a = nxt
    if not vals:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    return np.concatenate(addrs), np.concatenate(vals)


def smaps_account(m, vma, mss) -> None:
    """Add the pages mapped in ``vma`` to a MemSizeStats (smaps_pte_range/smaps_account)."""
    mem_map = m.mem_map
    huge = []
    _, vals = vma_ptes(m, vma, huge=huge)
    for _lo, _hi, pmd in huge:
        smaps_pmd_entry(m, pmd, mss)
    mapped = (vals & _PRESENT) != 0
    present = vals[mapped]
    if present.size != vals.size:
        for pte in vals[~mapped].tolist():        # swap entries (smaps_pte_entry)
            entry = pte_to_swp_entry(pte)
            if non_swap_entry(entry):
                if swp_type(entry) in (SWP_MIGRATION_READ, SWP_MIGRATION_WRITE):
                    raise KernelBug("smaps of a migration entry: the model's "
                                    "migrate_pages completes within one call, so no "
                                    "PTE holds a migration entry between calls")
                raise NotImplementedError("smaps of a hwpoison entry: memory failure is "
                                          "not modelled")
            mss.swap += PAGE_SIZE
            mapcount = swp_swapcount(m, entry)
            if mapcount >= 2:
                mss.swap_pss += (PAGE_SIZE << PSS_SHIFT) // mapcount
            else:
                mss.swap_pss += PAGE_SIZE << PSS_SHIFT
    normal = present[(present & np.uint64(_PAGE_SPECIAL)) == 0]
    for pte in normal.tolist():
        page = (pte & PTE_PFN_MASK) >> PAGE_SHIFT
        young = bool(pte & _PAGE_ACCESSED)
        dirty = bool(pte & _PAGE_DIRTY)
        flags = int(mem_map.f[page])
        if mem_map.mapping[page] & PAGE_MAPPING_ANON:
            mss.anonymous += PAGE_SIZE
        mss.resident += PAGE_SIZE
        if young or flags & ((1 << PG_young) | (1 << PG_referenced)):
            mss.referenced += PAGE_SIZE
        pdirty = dirty or flags & (1 << PG_dirty)
        mapcount = huge_memory.page_mapcount(mem_map, page)
        if mem_map.rc[mem_map.compound_head_pfn(page)] == 1 or mapcount < 2:
            if pdirty:
                mss.private_dirty += PAGE_SIZE
            else:
                mss.private_clean += PAGE_SIZE
            mss.pss += PAGE_SIZE << PSS_SHIFT
        else:
            if pdirty:
                mss.shared_dirty += PAGE_SIZE
            else:
                mss.shared_clean += PAGE_SIZE
            mss.pss += (PAGE_SIZE << PSS_SHIFT) // mapcount


def smaps_pmd_entry(m, pmd: int, mss) -> None:
    """A huge PMD in smaps: the THP counted whole, AnonHugePages too; the huge zero page
    is skipped (follow_trans_huge_pmd with FOLL_DUMP) (fs/proc/task_mmu.c)."""
    if huge_memory.is_huge_zero_pmd(m, pmd):
        return
    mem_map = m.mem_map
    page = (pmd & PTE_PFN_MASK) >> PAGE_SHIFT
    nr = huge_memory.HPAGE_PMD_NR
    size = nr * PAGE_SIZE
    flags = int(mem_map.f[page])
    if mem_map.mapping[page] & PAGE_MAPPING_ANON:
        mss.anonymous_thp += size
        mss.anonymous += size
    mss.resident += size
    if pmd & _PAGE_ACCESSED or flags & ((1 << PG_young) | (1 << PG_referenced)):
        mss.referenced += size
    dirty = bool(pmd & _PAGE_DIRTY)
    if mem_map.rc[page] == 1:
        if dirty or flags & (1 << PG_dirty):
            mss.private_dirty += size
        else:
            mss.private_clean += size
        mss.pss += size << PSS_SHIFT
        return
    for i in range(nr):
        mapcount = huge_memory.page_mapcount(mem_map, page + i)
        pdirty = dirty or mem_map.f[page + i] & (1 << PG_dirty)
        if mapcount >= 2:
            if pdirty:
                mss.shared_dirty += PAGE_SIZE
            else:
                mss.shared_clean += PAGE_SIZE
            mss.pss += (PAGE_SIZE << PSS_SHIFT) // mapcount
        else:
            if pdirty:
                mss.private_dirty += PAGE_SIZE
            else:
                mss.private_clean += PAGE_SIZE
            mss.pss += PAGE_SIZE << PSS_SHIFT


def pagemap_read(m, task, offset: int, count, show_pfn: bool = True) -> bytes:
    """Bytes of /proc/PID/pagemap: one u64 per virtual page (fs/proc/task_mmu.c).

    :param show_pfn: whether the reader has CAP_SYS_ADMIN (else PFNs read as 0, as since 4.0)
    :raises SyscallError: EINVAL for an offset or length that is not a multiple of 8
    """
    mm = task.mm
    if mm is None:
        return b""
    if count is None:
        count = (TASK_SIZE >> PAGE_SHIFT) * PM_ENTRY_BYTES - offset
    if offset % PM_ENTRY_BYTES or count % PM_ENTRY_BYTES:
        raise SyscallError(errno.EINVAL, "read")
    start_vaddr = (offset // PM_ENTRY_BYTES) << PAGE_SHIFT
    end_vaddr = TASK_SIZE
    if start_vaddr > end_vaddr:
        start_vaddr = end_vaddr
    want = count // PM_ENTRY_BYTES
    parts = []
    got = 0
    # walk_hugetlb_range emits nothing for the part of a hugetlb VMA with no page-table
    # path (huge_pte_offset is NULL) and pagemap_read goes on past it, so the entries that
    # follow move up: read on until ``want`` entries are had or the address space ends
    step = 512
    while got < want and start_vaddr < end_vaddr:
        n = min(max(want - got, step), (end_vaddr - start_vaddr) >> PAGE_SHIFT)
        out, emit = _pagemap_entries(m, mm, start_vaddr, n, show_pfn)
        part = out if emit is None else out[emit]
        parts.append(part)
        got += part.size
        start_vaddr += n << PAGE_SHIFT
        step = min(step * 2, 1 << 20)     # across a long hugetlb VMA without tables
    if not parts:
        return b""
    return np.concatenate(parts)[:want].tobytes()


def _pagemap_entries(m, mm, start_vaddr: int, n: int, show_pfn: bool):
    """The pagemap entries of ``n`` pages from ``start_vaddr``, and which of them 4.6's
    walk emits (None: all of them)."""
    out = np.zeros(n, dtype=np.uint64)
    emit = None
    end = start_vaddr + (n << PAGE_SHIFT)
    vma = find_vma(mm, start_vaddr)
    mem_map = m.mem_map
    while vma is not None and vma.vm_start < end:
        lo, hi = max(vma.vm_start, start_vaddr), min(vma.vm_end, end)
        if vma.vm_flags & VM_HUGETLB:
            # pagemap_hugetlb_range; the model never maps a huge page (nr_hugepages 0)
            if hugetlb.huge_entries_present(m, mm, lo, hi):
                raise NotImplementedError("pagemap of a mapped huge page: the model never "
                                          "maps one")
            i0, i1 = (lo - start_vaddr) >> PAGE_SHIFT, (hi - start_vaddr) >> PAGE_SHIFT
            if vma.vm_flags & VM_SOFTDIRTY:
                out[i0:i1] = PM_SOFT_DIRTY
            if emit is None:
                emit = np.ones(n, dtype=bool)
            emit[i0:i1] = False
            for plo, phi, _ in hugetlb.huge_pmd_tables(m, mm, lo, hi):
                emit[(plo - start_vaddr) >> PAGE_SHIFT:(phi - start_vaddr) >> PAGE_SHIFT] = True
            vma = vma.vm_next
            continue
        i0, i1 = (lo - start_vaddr) >> PAGE_SHIFT, (hi - start_vaddr) >> PAGE_SHIFT
        if vma.vm_flags & VM_SOFTDIRTY:
            out[i0:i1] = PM_SOFT_DIRTY           # holes inside a soft-dirty VMA
        huge = []
        addrs, vals = vma_ptes(m, vma, lo, hi, huge)
        for hlo, hhi, pmd in huge:            # pagemap_pmd_range's huge PMD
            flags = PM_SOFT_DIRTY if vma.vm_flags & VM_SOFTDIRTY or pmd & _PAGE_SOFT_DIRTY \
                else 0
            frame = 0
            if pmd & (_PAGE_PRESENT | _PAGE_PROTNONE):
                page = (pmd & PTE_PFN_MASK) >> PAGE_SHIFT
                if huge_memory.page_mapcount(mem_map, page) == 1:
                    flags |= PM_MMAP_EXCLUSIVE
                flags |= PM_PRESENT
                if show_pfn:
                    frame = page + ((hlo >> PAGE_SHIFT) & 511)
            i0, i1 = (hlo - start_vaddr) >> PAGE_SHIFT, (hhi - start_vaddr) >> PAGE_SHIFT
            ent = np.arange(frame, frame + i1 - i0, dtype=np.uint64) if frame else \
                np.zeros(i1 - i0, np.uint64)
            out[i0:i1] = (ent & np.uint64(PM_PFRAME_MASK)) | np.uint64(flags)
        for a, pte in zip(addrs.tolist(), vals.tolist()):
            i = (a - start_vaddr) >> PAGE_SHIFT
            flags = 0
            frame = 0
            if pte & (_PAGE_PRESENT | _PAGE_PROTNONE):
                pfn = (pte & PTE_PFN_MASK) >> PAGE_SHIFT
                if show_pfn:
                    frame = pfn
                flags |= PM_PRESENT
                if pte & _PAGE_SOFT_DIRTY:
                    flags |= PM_SOFT_DIRTY
                page = None if pte & _PAGE_SPECIAL else pfn
                if page is not None:
                    if not mem_map.mapping[page] & PAGE_MAPPING_ANON:
                        flags |= PM_FILE
                    if mem_map.mc[page] + 1 == 1:
                        flags |= PM_MMAP_EXCLUSIVE
            else:
                # a swap entry: its type and offset, whether or not PFNs may be shown
                if pte_swp_soft_dirty(pte):
                    flags |= PM_SOFT_DIRTY
                entry = pte_to_swp_entry(pte)
                frame = swp_type(entry) | (swp_offset(entry) << MAX_SWAPFILES_SHIFT)
                flags |= PM_SWAP
            if vma.vm_flags & VM_SOFTDIRTY:
                flags |= PM_SOFT_DIRTY
            out[i] = (frame & PM_PFRAME_MASK) | flags
        vma = vma.vm_next
    return out, emit
