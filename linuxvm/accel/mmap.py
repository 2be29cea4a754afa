"""Accelerators of linuxvm/mm/mmap.py: a munmap whose mmu_gather would find nothing, the
plain anonymous mmap, and the munmap of one VMA's whole or lower part.

Most munmaps in a running process unmap a range that was never touched, or lies
where no page table exists at all. ``unmap_region`` then zaps nothing, frees no page
table and (its range gather staying empty) flushes nothing: what remains of
free_pgtables is unlinking each VMA from its anon_vmas and file. These accelerators
see that from the page tables and do only that.

Each returns True when it did ``unmap_region``'s whole work, False (having changed
nothing) to let the reference run.

``do_mmap_anon`` and ``do_munmap_one_vma`` fuse the steps of a system call that 4.6
spreads over a dozen functions (do_mmap, get_unmapped_area, mmap_region, vma_link,
vm_stat_account, vma_set_page_prot; do_munmap, __split_vma, vma_adjust, remove_vma_list)
for the cases the benchmarks and most programs make. They still call the reference for
every step with a policy of its own (the address search, Committed_AS, vma_merge, the
VMA tree's insert and erase, unmap_region) and return None, having changed nothing, for
any case they do not cover.
"""

import errno

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
from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from ..arch.x86.pgtable_types import vm_get_page_prot
from ..include.mm import (VM_WRITE, VM_SHARED, VM_NORESERVE, VM_ACCOUNT, VM_SOFTDIRTY,
                          VM_LOCKED, VM_MAYREAD, VM_MAYWRITE, VM_MAYEXEC, VM_EXEC, VM_STACK)
from ..include.personality import READ_IMPLIES_EXEC
from ..include.resource import RLIMIT_AS, RLIMIT_DATA
from ..mm import huge_memory
from ..mm.mman import (PROT_READ, PROT_WRITE, PROT_EXEC, MAP_TYPE, MAP_PRIVATE, MAP_FIXED,
                       MAP_GROWSDOWN, MAP_DENYWRITE, MAP_LOCKED, MAP_NORESERVE, MAP_POPULATE)
from ..mm.mmap import (vm_area_alloc, vma_copy, vma_link, vma_merge, vma_adjust, remove_vma,
                       can_vma_merge_before, khugepaged_enter_vma_merge, unmap_region,
                       _unlink as vma_unlink_one)
from ..mm.util import security_vm_enough_memory_mm, vm_unacct_memory
from ..mm.vma import find_vma, find_vma_links, vma_gap_update

__all__ = ["unmap_region_empty_range", "unmap_region_no_tables", "do_mmap_anon",
           "do_munmap_one_vma"]


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


_LOW = PAGE_SIZE - 1
_MASK = ~_LOW
# what do_mmap would act on beyond a plain private anonymous mapping: handed back
_MAP_OTHER = MAP_FIXED | MAP_GROWSDOWN | MAP_DENYWRITE | MAP_LOCKED | MAP_NORESERVE | \
    MAP_POPULATE
_PROT_RWX = PROT_READ | PROT_WRITE | PROT_EXEC
_VM_MAY_RWX = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC


@register("do_mmap_anon", "linuxvm.mm.mmap.do_mmap")
def do_mmap_anon(m, file, addr, length, prot, flags, vm_flags, pgoff):
    """A private anonymous mmap without a hint: do_mmap and mmap_region in one pass.

    ``(addr or -errno, 0)``, or None (nothing changed) for what it does not cover: a file,
    a shared, fixed, hinted, locked, populated, growsdown or noreserve mapping, extra
    vm_flags or def_flags, READ_IMPLIES_EXEC, a search that fails, an RLIMIT_AS or
    RLIMIT_DATA overrun (the warning is the reference's), and an overlap.
    """
    if file is not None or addr or vm_flags or flags & _MAP_OTHER or \
            flags & MAP_TYPE != MAP_PRIVATE or not length:
        return None
    task = m.current
    mm = task.mm
    if task.personality & READ_IMPLIES_EXEC or mm.def_flags:
        return None
    length = (length + _LOW) & _MASK
    if not length or length >= 1 << 64 or pgoff + (length >> PAGE_SHIFT) >= 1 << 64 or \
            length > TASK_SIZE:
        return None
    s = m.sysctl.values
    if mm.map_count > s["vm.max_map_count"]:
        return None
    # get_unmapped_area: the search is a pure function of the tree, so a handback redoes it
    addr = mm.get_unmapped_area(m, mm, None, 0, length, pgoff, flags)
    if addr < 0 or addr > TASK_SIZE - length or addr & _LOW:
        return None
    if addr < s["vm.mmap_min_addr"] and not task.capable("CAP_SYS_RAWIO"):
        return None
    vm_flags = (prot & _PROT_RWX) | _VM_MAY_RWX
    pgoff = addr >> PAGE_SHIFT
    # mmap_region
    npages = length >> PAGE_SHIFT
    data = (vm_flags & (VM_WRITE | VM_SHARED | VM_STACK)) == VM_WRITE     # is_data_mapping
    if mm.total_vm + npages > task.rlimit(RLIMIT_AS) >> PAGE_SHIFT or \
            (data and mm.data_vm + npages > task.rlimit(RLIMIT_DATA) >> PAGE_SHIFT):
        return None
    end = addr + length
    overlaps, prev = find_vma_links(mm, addr, end)
    if overlaps:
        return None
    if vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE) == VM_WRITE:   # accountable_mapping
        if security_vm_enough_memory_mm(m, mm, npages):
            return -errno.ENOMEM, 0
        vm_flags |= VM_ACCOUNT
    nxt = prev.vm_next if prev is not None else mm.mmap
    vma = None
    # only a neighbour touching the range can merge (vma_merge finds none otherwise)
    if prev is not None and prev.vm_end == addr:
        vma = vma_merge(m, mm, prev, addr, end, vm_flags, None, None, pgoff, None)
    elif nxt is not None and nxt.vm_start == end and \
            can_vma_merge_before(nxt, vm_flags, None, None, pgoff + npages, None):
        # vma_merge's case 8 (only the next VMA touches the range; no VM_SPECIAL here)
        vma_adjust(m, nxt, addr, nxt.vm_end, nxt.vm_pgoff - npages)
        khugepaged_enter_vma_merge(m, nxt, vm_flags)
        vma = nxt
    if vma is None:
        vma = vm_area_alloc(m, mm, addr, end, vm_flags, pgoff)
        vma_link(m, mm, vma, prev)
    # vm_stat_account
    mm.total_vm += npages
    if (vm_flags & (VM_EXEC | VM_WRITE | VM_STACK)) == VM_EXEC:
        mm.exec_vm += npages
    elif (vm_flags & VM_STACK) == VM_STACK:
        mm.stack_vm += npages
    elif data:
        mm.data_vm += npages
    f = vma.vm_flags | VM_SOFTDIRTY
    vma.vm_flags = f
    vma.vm_page_prot = vm_get_page_prot(f)   # vma_set_page_prot of a private mapping
    return addr, 0


def _leaf_insert_rotates(mm, start: int) -> bool:
    """Whether inserting a leaf keyed ``start`` would rotate (vma_rb_insert's heights)."""
    path = []
    n = mm.mm_rb
    while n is not None:
        path.append(n)
        n = n.rb_left if start < n.vm_start else n.rb_right
    h = 1
    for n in reversed(path):
        if start < n.vm_start:
            other = n.rb_right
        else:
            other = n.rb_left
        ho = other.rb_height if other is not None else 0
        if h - ho > 1:
            return True
        nh = (h if h > ho else ho) + 1
        if nh == n.rb_height:
            return False                # nothing above changes height
        h = nh
    return False


@register("do_munmap_one_vma", "linuxvm.mm.mmap.do_munmap")
def do_munmap_one_vma(m, mm, start, length):
    """A munmap of one whole VMA, or of the lower part of an anonymous one, in one pass.

    0, or None (nothing changed) for what it does not cover: bad arguments, a range that
    starts in a hole or inside a VMA or spans several, a locked or hugetlb VMA, and a
    lower-part split of a VMA with a file, vm_ops or anon_vmas.
    """
    if start & _LOW or start > TASK_SIZE or length > TASK_SIZE - start:
        return None
    length = (length + _LOW) & _MASK
    if not length:
        return None
    end = start + length
    vma = find_vma(mm, start)
    if vma is None or vma.vm_start != start:
        return None
    flags = vma.vm_flags
    if flags & (VM_LOCKED | VM_HUGETLB):
        return None
    vend = vma.vm_end
    prev = vma.vm_prev
    if end < vend:
        if vma.vm_ops is not None or vma.vm_file is not None or vma.anon_vma_chain:
            return None
        # __split_vma(vma, end, new_below) and vma_adjust's insert-below case
        new = vma_copy(m, vma)
        new.vm_end = end
        huge_memory.vma_adjust_trans_huge(m, vma, end, vend, 0)
        vma.vm_start = end
        vma.vm_pgoff += (end - start) >> PAGE_SHIFT
        if not _leaf_insert_rotates(mm, start):
            # Linking ``new`` and erasing it again leaves the tree's shape and heights as
            # they were (a leaf whose insertion rotates nothing also erases without a
            # rotation), the list as it was, map_count as it was: only ``vma``'s own gap
            # (its start moved up) and the three vmacache_seqnum bumps remain.
            vma_gap_update(mm, vma)
            mm.vmacache_seqnum += 3     # vma_link, vma_adjust, __vma_unlink
            vma = new
        else:
            vma_link(m, mm, new, prev)
            if vma.vm_next is None:
                mm.highest_vm_end = vend
            mm.vmacache_seqnum += 1
            vma = new
            vma_unlink_one(m, mm, vma)
    elif end != vend:
        return None
    else:
        vma_unlink_one(m, mm, vma)
    unmap_region(m, mm, [vma], prev, prev.vm_next if prev is not None else mm.mmap,
                 start, end)
    # remove_vma_list of the one VMA
    if mm.hiwater_vm < mm.total_vm:
        mm.hiwater_vm = mm.total_vm
    n = length >> PAGE_SHIFT
    mm.total_vm -= n
    if (flags & (VM_EXEC | VM_WRITE | VM_STACK)) == VM_EXEC:
        mm.exec_vm -= n
    elif (flags & VM_STACK) == VM_STACK:
        mm.stack_vm -= n
    elif (flags & (VM_WRITE | VM_SHARED | VM_STACK)) == VM_WRITE:
        mm.data_vm -= n
    remove_vma(m, vma)
    if flags & VM_ACCOUNT:
        vm_unacct_memory(m, n)
    return 0
