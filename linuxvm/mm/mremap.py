"""mremap (mm/mremap.c): shrink, grow in place, or move a mapping."""

import errno

from ..arch.x86 import tlb as x86_tlb
from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE, PMD_SIZE, TASK_SIZE
from ..arch.x86.pgtable import (pt_entries, pgd_offset, pud_offset, pmd_offset, pgd_bad,
                                pud_bad, pmd_none, pte_present, pmd_trans_huge,
                                pte_mksoft_dirty, pte_swp_mksoft_dirty, is_swap_pte)
from ..arch.x86.pgtable_types import PTE_PFN_MASK
from ..errors import KernelBug
from ..include.resource import RLIMIT_MEMLOCK
from .memory.pgtable import PMD_MASK, _get, _clear_bad, pud_alloc, pmd_alloc, pte_alloc
from ..include.mm import (VM_ACCOUNT, VM_LOCKED, VM_DONTEXPAND, VM_PFNMAP, VM_HUGETLB,
                       VM_MAYSHARE, VM_MERGEABLE)
from .mman import MREMAP_FIXED, MREMAP_MAYMOVE, MAP_FIXED, MAP_SHARED
from .gup import mm_populate
from . import huge_memory
from .mmap import (do_munmap, may_expand_vm, get_unmapped_area, copy_vma, vma_adjust,
                   vm_stat_account, sysctl_max_map_count, page_align)
from .util import security_vm_enough_memory_mm, vm_unacct_memory
from .vma import find_vma


LATENCY_LIMIT = 64 * PAGE_SIZE


def get_old_pmd(m, mm, addr: int):
    """The PMD entry over ``addr`` when one exists (reporting and clearing a bad PGD or
    PUD entry on the way), else None."""
    e = _get(m, pgd_offset(mm, addr))
    if not e or pgd_bad(e):
        if e:
            _clear_bad(m, pgd_offset(mm, addr), "pgd")
        return None
    pud = pud_offset(e, addr)
    e = _get(m, pud)
    if not e or pud_bad(e):
        if e:
            _clear_bad(m, pud, "pud")
        return None
    pmd = pmd_offset(e, addr)
    return None if pmd_none(_get(m, pmd)) else pmd


def alloc_new_pmd(m, mm, vma, addr: int):
    """The PMD entry over ``addr``, allocating the PUD and PMD tables if missing; None
    when an allocation fails."""
    pud = pud_alloc(m, mm, pgd_offset(mm, addr), addr)
    if pud is None:
        return None
    pmd = pmd_alloc(m, mm, pud, addr)
    if pmd is not None and pmd_trans_huge(_get(m, pmd)):
        raise KernelBug(f"alloc_new_pmd: huge PMD at {addr:#x}")
    return pmd


def move_ptes(m, vma, old_pmd, old_addr: int, old_end: int, new_vma, new_pmd,
              new_addr: int) -> None:
    """Move PTEs one by one, marking them soft-dirty (move_soft_dirty_pte)."""
    old = pt_entries(m, (_get(m, old_pmd) & PTE_PFN_MASK) >> PAGE_SHIFT)
    new = pt_entries(m, (_get(m, new_pmd) & PTE_PFN_MASK) >> PAGE_SHIFT)
    while old_addr < old_end:
        i = (old_addr >> PAGE_SHIFT) & 511
        pte = old[i]
        if pte:
            old[i] = 0
            if pte_present(pte):
                pte = pte_mksoft_dirty(pte)
            elif is_swap_pte(pte):
                pte = pte_swp_mksoft_dirty(pte)
            new[(new_addr >> PAGE_SHIFT) & 511] = pte
        old_addr += PAGE_SIZE
        new_addr += PAGE_SIZE


def move_page_tables(m, vma, old_addr: int, new_vma, new_addr: int, length: int,
                     need_rmap_locks: bool = False) -> int:
    """Move the PTEs of [old_addr, old_addr+len) to new_addr (mm/mremap.c); bytes moved."""
    mm = vma.vm_mm
    old_end = old_addr + length
    need_flush = False
    while old_addr < old_end:
        nxt = (old_addr + PMD_SIZE) & PMD_MASK
        extent = min(nxt - old_addr, old_end - old_addr)
        old_pmd = get_old_pmd(m, mm, old_addr)
        if old_pmd is None:
            old_addr += extent
            new_addr += extent
            continue
        new_pmd = alloc_new_pmd(m, mm, vma, new_addr)
        if new_pmd is None:
            break
        if pmd_trans_huge(_get(m, old_pmd)):
            if extent == PMD_SIZE:
                if huge_memory.move_huge_pmd(m, vma, new_vma, old_addr, new_addr, old_end,
                                             old_pmd, new_pmd):
                    need_flush = True
                    old_addr += extent
                    new_addr += extent
                    continue
            huge_memory.split_huge_pmd(m, vma, old_pmd, old_addr)
        if pte_alloc(m, new_vma.vm_mm, new_pmd, new_addr):
            break
        nxt = (new_addr + PMD_SIZE) & PMD_MASK
        extent = min(extent, nxt - new_addr, LATENCY_LIMIT)
        move_ptes(m, vma, old_pmd, old_addr, old_addr + extent, new_vma, new_pmd, new_addr)
        need_flush = True
        old_addr += extent
        new_addr += extent
    if need_flush:
        x86_tlb.flush_tlb_range(m, vma, old_end - length, old_addr)
    return length + old_addr - old_end


def move_vma(m, vma, old_addr, old_len, new_len, new_addr):
    """``(ret, locked)``: copy the VMA to new_addr, move its page tables, unmap the old."""
    mm = vma.vm_mm
    if mm.map_count >= sysctl_max_map_count(m) - 3:
        return -errno.ENOMEM, False
    # ksm_madvise(MADV_UNMERGEABLE) on a local copy only: both VMAs keep VM_MERGEABLE so
    # that KSM may merge them again later
    vm_flags = vma.vm_flags & ~VM_MERGEABLE
    new_pgoff = vma.vm_pgoff + ((old_addr - vma.vm_start) >> PAGE_SHIFT)
    new_vma, vma = copy_vma(m, vma, new_addr, new_len, new_pgoff)
    if new_vma is None:
        return -errno.ENOMEM, False
    moved = move_page_tables(m, vma, old_addr, new_vma, new_addr, old_len)
    if moved < old_len:
        move_page_tables(m, new_vma, new_addr, vma, old_addr, moved)
        vma, old_len, old_addr, new_addr = new_vma, new_len, new_addr, -errno.ENOMEM
    excess = 0
    split = False
    if vm_flags & VM_ACCOUNT:
        vma.vm_flags &= ~VM_ACCOUNT
        excess = vma.vm_end - vma.vm_start - old_len
        if old_addr > vma.vm_start and old_addr + old_len < vma.vm_end:
            split = True
    hiwater_vm = mm.hiwater_vm
    vm_stat_account(mm, vma.vm_flags, new_len >> PAGE_SHIFT)
    if do_munmap(m, mm, old_addr, old_len) < 0:
        vm_unacct_memory(m, excess >> PAGE_SHIFT)
        excess = 0
    mm.hiwater_vm = hiwater_vm
    if excess:
        vma.vm_flags |= VM_ACCOUNT
        if split:
            vma.vm_next.vm_flags |= VM_ACCOUNT
    if vm_flags & VM_LOCKED:
        mm.locked_vm += new_len >> PAGE_SHIFT
        return new_addr, True
    return new_addr, False


def vma_to_resize(m, addr, old_len, new_len):
    """``(vma or -errno, charged)``: the VMA to resize, with the growth checked and charged."""
    task = m.current
    mm = task.mm
    vma = find_vma(mm, addr)
    if vma is None or vma.vm_start > addr:
        return -errno.EFAULT, 0
    if vma.vm_flags & VM_HUGETLB:
        return -errno.EINVAL, 0
    if old_len > vma.vm_end - addr:
        return -errno.EFAULT, 0
    if new_len == old_len:
        return vma, 0
    pgoff = ((addr - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
    if pgoff + (new_len >> PAGE_SHIFT) >= 1 << 64:
        return -errno.EINVAL, 0
    if vma.vm_flags & (VM_DONTEXPAND | VM_PFNMAP):
        return -errno.EFAULT, 0
    if vma.vm_flags & VM_LOCKED:
        locked = (mm.locked_vm << PAGE_SHIFT) + new_len - old_len
        if locked > task.rlimit(RLIMIT_MEMLOCK) and not task.capable("CAP_IPC_LOCK"):
            return -errno.EAGAIN, 0
    if not may_expand_vm(m, mm, vma.vm_flags, (new_len - old_len) >> PAGE_SHIFT):
        return -errno.ENOMEM, 0
    charged = 0
    if vma.vm_flags & VM_ACCOUNT:
        charged = (new_len - old_len) >> PAGE_SHIFT
        if security_vm_enough_memory_mm(m, mm, charged):
            return -errno.ENOMEM, 0
    return vma, charged


def mremap_to(m, addr, old_len, new_addr, new_len):
    mm = m.current.mm
    if new_addr & (PAGE_SIZE - 1):
        return -errno.EINVAL, False
    if new_len > TASK_SIZE or new_addr > TASK_SIZE - new_len:
        return -errno.EINVAL, False
    if addr + old_len > new_addr and new_addr + new_len > addr:
        return -errno.EINVAL, False
    ret = do_munmap(m, mm, new_addr, new_len)
    if ret:
        return ret, False
    if old_len >= new_len:
        ret = do_munmap(m, mm, addr + new_len, old_len - new_len)
        if ret and old_len != new_len:
            return ret, False
        old_len = new_len
    vma, charged = vma_to_resize(m, addr, old_len, new_len)
    if isinstance(vma, int):
        return vma, False
    map_flags = MAP_FIXED | (MAP_SHARED if vma.vm_flags & VM_MAYSHARE else 0)
    ret = get_unmapped_area(m, vma.vm_file, new_addr, new_len,
                            vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT), map_flags)
    if ret >= 0 and not ret & (PAGE_SIZE - 1):
        ret, locked = move_vma(m, vma, addr, old_len, new_len, new_addr)
        if ret >= 0:
            return ret, locked
    vm_unacct_memory(m, charged)
    return ret, False


def vma_expandable(m, vma, delta) -> bool:
    end = vma.vm_end + delta
    if vma.vm_next is not None and vma.vm_next.vm_start < end:
        return False
    got = get_unmapped_area(m, None, vma.vm_start, end - vma.vm_start, 0, MAP_FIXED)
    return got >= 0 and not got & (PAGE_SIZE - 1)


def sys_mremap(m, addr, old_len, new_len, flags, new_addr=0) -> int:
    """The mremap system call; the (possibly new) address or -errno."""
    mm = m.current.mm
    if flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE):
        return -errno.EINVAL
    if flags & MREMAP_FIXED and not flags & MREMAP_MAYMOVE:
        return -errno.EINVAL
    if addr & (PAGE_SIZE - 1):
        return -errno.EINVAL
    old_len = page_align(old_len) & ((1 << 64) - 1)
    new_len = page_align(new_len) & ((1 << 64) - 1)
    if not new_len:
        return -errno.EINVAL
    locked = False
    charged = 0
    if flags & MREMAP_FIXED:
        ret, locked = mremap_to(m, addr, old_len, new_addr, new_len)
    elif old_len >= new_len:
        ret = do_munmap(m, mm, addr + new_len, old_len - new_len)
        if not (ret and old_len != new_len):
            ret = addr
    else:
        vma, charged = vma_to_resize(m, addr, old_len, new_len)
        if isinstance(vma, int):
            return vma
        ret = -errno.ENOMEM
        done = False
        if old_len == vma.vm_end - addr and vma_expandable(m, vma, new_len - old_len):
            pages = (new_len - old_len) >> PAGE_SHIFT
            vma_adjust(m, vma, vma.vm_start, addr + new_len, vma.vm_pgoff)
            vm_stat_account(mm, vma.vm_flags, pages)
            if vma.vm_flags & VM_LOCKED:
                mm.locked_vm += pages
                locked = True
                new_addr = addr
            ret = addr
            done = True
        if not done and flags & MREMAP_MAYMOVE:
            map_flags = MAP_SHARED if vma.vm_flags & VM_MAYSHARE else 0
            new_addr = get_unmapped_area(m, vma.vm_file, 0, new_len,
                                         vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT),
                                         map_flags)
            if new_addr < 0 or new_addr & (PAGE_SIZE - 1):
                ret = new_addr
            else:
                ret, locked = move_vma(m, vma, addr, old_len, new_len, new_addr)
    if ret < 0 or ret & (PAGE_SIZE - 1):
        vm_unacct_memory(m, charged)
        return ret
    if locked and new_len > old_len:
        mm_populate(m, ret + old_len, new_len - old_len)
    return ret
