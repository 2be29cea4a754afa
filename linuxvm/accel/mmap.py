"""Accelerators of linuxvm/mm/mmap.py: a munmap whose mmu_gather would find nothing.

Most munmaps in a running process unmap a range that was never touched, or lies
where no page table exists at all. ``unmap_region`` then zaps nothing, frees no page
table and (its range gather staying empty) flushes nothing: what remains of
free_pgtables is unlinking each VMA from its anon_vmas and file. These accelerators
see that from the page tables and do only that.

Each returns True when it did ``unmap_region``'s whole work, False (having changed
nothing) to let the reference run.
"""

from ..arch.x86.page_types import PGDIR_SHIFT, TASK_SIZE
from ..arch.x86.pgtable import pt_entries
from ..lib.accel_registry import register
from ..mm.memory import update_hiwater_rss
from ..mm.memory import free_pgd_bounds
from .memory import zap_finds_nothing
from ..mm.memory import _unlink as free_pgtables_unlink
from ..include.mm import VM_HUGETLB
from ..mm.mmap import FIRST_USER_ADDRESS, USER_PGTABLES_CEILING
from ..mm.swap import lru_add_drain

__all__ = ["unmap_region_empty_range", "unmap_region_no_tables"]


@register("unmap_region_empty_range", "linuxvm.mm.mmap.unmap_region")
def unmap_region_empty_range(m, mm, vmas, prev, nxt, start, end) -> bool:
    """Skip the gather for one VMA with only none entries under it and no table to free.

    The usual munmap of an untouched mapping beside used ones: the PTE table under it
    exists (its neighbours use it) but holds nothing in the range, and no page table
    lies wholly between the neighbours.
    """
    if len(vmas) != 1 or (start == 0 and end >= TASK_SIZE):
        return False                # the whole-range gather flushes even when empty
    v = vmas[0]
    if v.vm_flags & VM_HUGETLB:
        return False
    floor = prev.vm_end if prev is not None else FIRST_USER_ADDRESS
    ceiling = nxt.vm_start if nxt is not None else USER_PGTABLES_CEILING
    if free_pgd_bounds(v.vm_start, v.vm_end, floor, ceiling) is not None:
        return False
    lo = v.vm_start if v.vm_start > start else start        # unmap_single_vma's range
    hi = v.vm_end if v.vm_end < end else end
    if lo < hi and not zap_finds_nothing(m, mm, lo, hi):
        return False
    lru_add_drain(m)
    update_hiwater_rss(mm)
    free_pgtables_unlink(m, v)
    return True


def _no_user_tables(m, mm, lo: int, hi: int) -> bool:
    """No PGD entry of ``mm`` covers any of [lo, hi)."""
    pgd = pt_entries(m, mm.pgd)
    i = lo >> PGDIR_SHIFT
    last = (hi - 1) >> PGDIR_SHIFT
    if i == last:                       # the usual case: one 512 GiB slot
        return not pgd[i]
    while i <= last:
        if pgd[i]:
            return False
        i += 1
    return True


@register("unmap_region_no_tables", "linuxvm.mm.mmap.unmap_region")
def unmap_region_no_tables(m, mm, vmas, prev, nxt, start, end) -> bool:
    """Skip the gather when no PGD entry covers the VMAs at all (nothing to zap or free)."""
    if not vmas or (start == 0 and end >= TASK_SIZE):
        return False                # the whole-range gather flushes even when empty
    if not _no_user_tables(m, mm, vmas[0].vm_start, vmas[-1].vm_end):
        return False
    lru_add_drain(m)
    update_hiwater_rss(mm)
    for v in vmas:
        free_pgtables_unlink(m, v)
    return True
