"""madvise (mm/madvise.c): advice flags on VMAs, and the range operations DONTNEED, FREE,
REMOVE and WILLNEED."""

import errno

from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE, PMD_SIZE
from ..arch.x86.pgtable import pt_entries, pte_index, is_swap_pte, pte_to_swp_entry, \
    non_swap_entry, pte_present, pte_young, pte_dirty, pte_mkclean, pte_mkold
from ..arch.x86.pgtable_types import PTE_PFN_MASK, _PAGE_ACCESSED, _PAGE_DIRTY
from ..arch.x86.tlb import flush_tlb_mm_range
from .memory import vm_normal_page, update_hiwater_rss
from .mm_types import MM_SWAPENTS
from .page import PG_swapcache, PG_dirty, PG_locked, PG_active, PageTransCompound
from . import huge_memory
from .swapfile import free_swap_and_cache, try_to_free_swap
from . import gfp as G
from .page import NULL
from .rmap import mm_find_pmd
from .swap import put_page, get_page, lru_add_drain, deactivate_page
from .swap_state import read_swap_cache_async
from ..include.mm import (VM_RAND_READ, VM_SEQ_READ, VM_DONTCOPY, VM_IO, VM_DONTDUMP,
                       VM_SPECIAL, VM_MERGEABLE, VM_SHARED, VM_MAYSHARE, VM_PFNMAP,
                       VM_DONTEXPAND, VM_HUGETLB, VM_MIXEDMAP, VM_HUGEPAGE, VM_NOHUGEPAGE,
                       VM_LOCKED, VM_WRITE)
from .readahead import force_page_cache_readahead
from .shmem import FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE
from .mman import (MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTNEED,
                   MADV_FREE, MADV_REMOVE, MADV_DONTFORK, MADV_DOFORK, MADV_MERGEABLE,
                   MADV_UNMERGEABLE, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_DONTDUMP,
                   MADV_DODUMP, MADV_HWPOISON, MADV_SOFT_OFFLINE)
from .memory import zap_page_range
from .mmap import vma_modify_flags, khugepaged_enter_vma_merge
from .util import get_nr_swap_pages
from .vma import find_vma, find_vma_prev, vma_is_anonymous

VALID_BEHAVIOURS = frozenset((
    MADV_DOFORK, MADV_DONTFORK, MADV_NORMAL, MADV_SEQUENTIAL, MADV_RANDOM, MADV_REMOVE,
    MADV_WILLNEED, MADV_DONTNEED, MADV_FREE, MADV_MERGEABLE, MADV_UNMERGEABLE,
    MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_DONTDUMP, MADV_DODUMP))
VM_NO_THP = VM_SPECIAL | VM_HUGETLB | VM_SHARED | VM_MAYSHARE     # 4.6: no shmem THP yet
KSM_NEVER = (VM_MERGEABLE | VM_SHARED | VM_MAYSHARE | VM_PFNMAP | VM_IO | VM_DONTEXPAND
             | VM_HUGETLB | VM_MIXEDMAP)


_U64 = 0xFFFFFFFFFFFFFFFF


def madvise_behavior(m, vma, prev, start, end, behavior):
    new_flags = vma.vm_flags
    err = 0
    if behavior == MADV_NORMAL:
        new_flags &= ~(VM_RAND_READ | VM_SEQ_READ)
    elif behavior == MADV_SEQUENTIAL:
        new_flags = (new_flags & ~VM_RAND_READ) | VM_SEQ_READ
    elif behavior == MADV_RANDOM:
        new_flags = (new_flags & ~VM_SEQ_READ) | VM_RAND_READ
    elif behavior == MADV_DONTFORK:
        new_flags |= VM_DONTCOPY
    elif behavior == MADV_DOFORK:
        if vma.vm_flags & VM_IO:
            return prev, -errno.EINVAL
        new_flags &= ~VM_DONTCOPY
    elif behavior == MADV_DONTDUMP:
        new_flags |= VM_DONTDUMP
    elif behavior == MADV_DODUMP:
        if new_flags & VM_SPECIAL:
            return prev, -errno.EINVAL
        new_flags &= ~VM_DONTDUMP
    elif behavior == MADV_MERGEABLE:
        if not new_flags & KSM_NEVER:
            new_flags |= VM_MERGEABLE
    elif behavior == MADV_UNMERGEABLE:
        new_flags &= ~VM_MERGEABLE
    elif behavior in (MADV_HUGEPAGE, MADV_NOHUGEPAGE):
        if new_flags & VM_NO_THP:
            return prev, -errno.EINVAL
        if behavior == MADV_HUGEPAGE:
            new_flags = (new_flags & ~VM_NOHUGEPAGE) | VM_HUGEPAGE
            khugepaged_enter_vma_merge(m, vma, new_flags)
        else:
            new_flags = (new_flags & ~VM_HUGEPAGE) | VM_NOHUGEPAGE
    if new_flags == vma.vm_flags:
        return vma, 0
    vma, prev, err = vma_modify_flags(m, vma.vm_mm, vma, prev, start, end, new_flags)
    if not err:
        vma.vm_flags = new_flags
    if err == -errno.ENOMEM:
        err = -errno.EAGAIN
    return prev, err


def madvise_vma(m, vma, prev, start, end, behavior):
    if behavior == MADV_REMOVE:
        if vma.vm_flags & VM_LOCKED:
            return None, -errno.EINVAL
        if vma.vm_file is None:
            return None, -errno.EINVAL
        if (vma.vm_flags & (VM_SHARED | VM_WRITE)) != (VM_SHARED | VM_WRITE):
            return None, -errno.EACCES
        f = vma.vm_file
        if f.f_op.fallocate is None:
            # a filesystem the model gives no fallocate: the range's PTEs go, as before
            zap_page_range(m, vma, start, end - start)
            return None, 0
        # vfs_fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) at the file offset
        if not f.f_mode_write:
            return None, -errno.EBADF
        offset = (start - vma.vm_start) + (vma.vm_pgoff << PAGE_SHIFT)
        f.get_file()
        err = f.f_op.fallocate(m, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset,
                               end - start)
        f.fput()
        return None, err
    if behavior == MADV_WILLNEED:
        return vma, madvise_willneed(m, vma, start, end)
    if behavior == MADV_FREE and get_nr_swap_pages(m) > 0:
        if vma.vm_flags & (VM_LOCKED | VM_HUGETLB | VM_PFNMAP):
            return vma, -errno.EINVAL
        if not vma_is_anonymous(vma):
            return vma, -errno.EINVAL
        return vma, madvise_free_single_vma(m, vma, start, end)
    if behavior in (MADV_FREE, MADV_DONTNEED):
        # without swap, MADV_FREE behaves as MADV_DONTNEED
        if vma.vm_flags & (VM_LOCKED | VM_HUGETLB | VM_PFNMAP):
            return vma, -errno.EINVAL
        zap_page_range(m, vma, start, end - start)
        return vma, 0
    return madvise_behavior(m, vma, prev, start, end, behavior)


def sys_madvise(m, start, len_in, behavior) -> int:
    """The madvise system call; 0 or -errno."""
    task = m.current
    if behavior in (MADV_HWPOISON, MADV_SOFT_OFFLINE):
        if not task.capable("CAP_SYS_ADMIN"):
            return -errno.EPERM
        raise NotImplementedError("MADV_HWPOISON/MADV_SOFT_OFFLINE (memory-failure) "
                                  "are not modelled")
    if behavior not in VALID_BEHAVIOURS:
        return -errno.EINVAL
    if start & (PAGE_SIZE - 1):
        return -errno.EINVAL
    length = (len_in + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1) & ((1 << 64) - 1)
    if len_in and not length:
        return -errno.EINVAL
    end = start + length
    if end >= 1 << 64:
        return -errno.EINVAL
    if end == start:
        return 0
    mm = task.mm
    vma, prev = find_vma_prev(mm, start)
    if vma is not None and start > vma.vm_start:
        prev = vma
    unmapped_error = 0
    while True:
        if vma is None:
            return -errno.ENOMEM
        if start < vma.vm_start:
            unmapped_error = -errno.ENOMEM
            start = vma.vm_start
            if start >= end:
                return -errno.ENOMEM
        tmp = min(vma.vm_end, end)
        prev, err = madvise_vma(m, vma, prev, start, tmp, behavior)
        if err:
            return err
        start = tmp
        if prev is not None and start < prev.vm_end:
            start = prev.vm_end
        if start >= end:
            return unmapped_error
        vma = prev.vm_next if prev is not None else find_vma(mm, start)


def _pte_slots(m, mm, start: int, end: int):
    """(PTE table entries, index, address) for each page of [start, end) a PTE table
    covers, skipping the PMD ranges without one (the walk's pte_hole)."""
    addr = start
    while addr < end:
        table = mm_find_pmd(m, mm, addr)
        if table < 0:
            addr = (addr | (PMD_SIZE - 1)) + 1
            continue
        entries = pt_entries(m, table)
        stop = min(end, (addr | (PMD_SIZE - 1)) + 1)
        while addr < stop:
            yield entries, pte_index(addr), addr
            addr += PAGE_SIZE


def force_swapin_readahead(m, vma, start: int, end: int) -> None:
    """Start reading each swapped-out page of [start, end) into the swap cache
    (mm/madvise.c force_swapin_readahead)."""
    for entries, i, addr in _pte_slots(m, vma.vm_mm, start, end):
        pte = int(entries[i])
        if is_swap_pte(pte):
            entry = pte_to_swp_entry(pte)
            if not non_swap_entry(entry):
                pfn = read_swap_cache_async(m, entry, G.GFP_HIGHUSER_MOVABLE, vma, addr)
                if pfn != NULL:
                    put_page(m, pfn)


def madvise_free_pte_range(m, vma, start: int, end: int) -> bool:
    """Mark the anonymous pages of [start, end) lazily freeable: swap entries are
    dropped, and each page only this PTE maps loses its swap slot and its dirty bits, so
    reclaim may discard it instead of swapping it out, unless it is written again
    first (mm/madvise.c madvise_free_pte_range). True if a PTE changed."""
    mm = vma.vm_mm
    mem_map = m.mem_map
    f = mem_map.f
    nr_swap = 0
    changed = False
    skip_to = start                  # the rest of a PMD the walk left ("goto out")
    huge = set()                     # PMD ranges a huge PMD took (the walk goes on past)
    for a in range(start & ~(PMD_SIZE - 1), end, PMD_SIZE):
        pmd = huge_memory.huge_pmd_lookup(m, mm, max(a, start))
        if pmd is not None:
            huge.add(a)
            changed |= madvise_free_huge_pmd(m, vma, pmd, max(a, start),
                                             min(a + PMD_SIZE, end))
    for entries, i, addr in _pte_slots(m, mm, start, end):
        if addr < skip_to or (addr & ~(PMD_SIZE - 1)) in huge:
            continue
        ptent = int(entries[i])
        if not ptent:
            continue
        if not pte_present(ptent):
            entry = pte_to_swp_entry(ptent)
            if non_swap_entry(entry):
                continue
            nr_swap -= 1
            free_swap_and_cache(m, entry)
            entries[i] = 0
            continue
        page = vm_normal_page(m, vma, addr, ptent)
        if page == NULL:
            continue
        if PageTransCompound(mem_map, page):
            # a PTE-mapped THP: split it, then look at this PTE again; if it cannot be
            # split the walk of this PMD ends ("goto out")
            head = mem_map.compound_head_pfn(page)
            if huge_memory.page_mapcount(mem_map, page) != 1 or f[head] & (1 << PG_locked):
                skip_to = (addr | (PMD_SIZE - 1)) + 1
                continue
            get_page(m, page)
            f[head] = f[head] | (1 << PG_locked)
            failed = huge_memory.split_huge_page(m, page)
            f[page] = f[page] & ~(1 << PG_locked) & _U64
            put_page(m, page)
            if failed:
                skip_to = (addr | (PMD_SIZE - 1)) + 1
                continue
            ptent = int(entries[i])
            if not pte_present(ptent):
                continue
        if f[page] & ((1 << PG_swapcache) | (1 << PG_dirty)):
            if f[page] & (1 << PG_locked):
                continue                          # trylock_page failed
            if mem_map.mc[page] + 1 != 1:
                continue
            if f[page] & (1 << PG_swapcache):
                f[page] = f[page] | (1 << PG_locked)
                freed = try_to_free_swap(m, page)
                f[page] = f[page] & ~(1 << PG_locked) & _U64
                if not freed:
                    continue
            f[page] = f[page] & ~(1 << PG_dirty) & _U64
        if pte_young(ptent) or pte_dirty(ptent):
            entries[i] = pte_mkclean(pte_mkold(ptent))
            changed = True
            if f[page] & (1 << PG_active):
                deactivate_page(m, page)
    if nr_swap:
        mm.rss_stat[MM_SWAPENTS] += nr_swap
    return changed or bool(nr_swap)


def madvise_free_huge_pmd(m, vma, pmd, addr: int, nxt: int) -> bool:
    """MADV_FREE over a huge PMD: a part of it splits the THP (and the walk skips that
    range this time, as 4.6 does); the whole of one only this PMD maps becomes clean and
    old, deactivated (mm/huge_memory.c madvise_free_huge_pmd). True if the PMD changed."""
    mem_map = m.mem_map
    f = mem_map.f
    orig = int(pt_entries(m, pmd[0])[pmd[1]])
    if huge_memory.is_huge_zero_pmd(m, orig):
        return False
    page = (orig & PTE_PFN_MASK) >> PAGE_SHIFT
    if huge_memory.page_mapcount(mem_map, page) != 1 or f[page] & (1 << PG_locked):
        return False
    if nxt - addr != PMD_SIZE:
        get_page(m, page)
        f[page] = f[page] | (1 << PG_locked)
        huge_memory.split_huge_page(m, page)
        put_page(m, page)
        f[page] = f[page] & ~(1 << PG_locked) & _U64
        return False
    f[page] = f[page] & ~(1 << PG_dirty) & _U64
    if f[page] & (1 << PG_active):
        deactivate_page(m, page)
    if orig & (_PAGE_ACCESSED | _PAGE_DIRTY):
        pt_entries(m, pmd[0])[pmd[1]] = orig & ~(_PAGE_ACCESSED | _PAGE_DIRTY) & _U64
        return True
    return False


def madvise_free_single_vma(m, vma, start_addr: int, end_addr: int) -> int:
    """MADV_FREE of one anonymous VMA once there is swap (mm/madvise.c)."""
    if vma.vm_flags & (VM_LOCKED | VM_HUGETLB | VM_PFNMAP):
        return -errno.EINVAL
    if not vma_is_anonymous(vma):
        return -errno.EINVAL
    start = max(vma.vm_start, start_addr)
    if start >= vma.vm_end:
        return -errno.EINVAL
    end = min(vma.vm_end, end_addr)
    if end <= vma.vm_start:
        return -errno.EINVAL
    lru_add_drain(m)
    update_hiwater_rss(vma.vm_mm)
    if madvise_free_pte_range(m, vma, start, end):
        flush_tlb_mm_range(m, vma.vm_mm, start, end)    # tlb_finish_mmu
    return 0


def madvise_willneed(m, vma, start: int, end: int) -> int:
    """Read a file mapping's range into the page cache, or an anonymous range's swapped
    pages into the swap cache (mm/madvise.c madvise_willneed)."""
    file = vma.vm_file
    if file is None:
        force_swapin_readahead(m, vma, start, end)
        return 0
    mapping = file.f_mapping
    if mapping.a_ops is None or mapping.a_ops.readpage is None:
        return 0                    # shmem, hugetlbfs: no page cache reads to start
    first = ((start - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
    end = min(end, vma.vm_end)
    last = ((end - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
    force_page_cache_readahead(m, mapping, file, first, last - first)
    return 0
