"""mremap (mm/mremap.c): shrink, grow in place, or move a mapping."""

import errno

from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE, TASK_SIZE
from ..kernel.sched import RLIMIT_MEMLOCK
from .mm_flags import (VM_ACCOUNT, VM_LOCKED, VM_DONTEXPAND, VM_PFNMAP, VM_HUGETLB,
                       VM_MAYSHARE, VM_MERGEABLE)
from .mman import MREMAP_FIXED, MREMAP_MAYMOVE, MAP_FIXED, MAP_SHARED
from .debug import note_unmerged_boundary
from .gup import mm_populate
from .mmap import (do_munmap, may_expand_vm, get_unmapped_area, copy_vma, vma_adjust,
                   vm_stat_account, sysctl_max_map_count, page_align)
from .util import security_vm_enough_memory_mm, vm_unacct_memory
from .vma import find_vma


def move_page_tables(m, vma, old_addr, new_vma, new_addr, length) -> int:
    """Move the PTEs of [old_addr, +len) to new_addr; bytes moved. Wiring point for the
    paging code (``linuxvm.mm.memory.move_page_tables``): before it exists no PTE can be
    present, so everything "moves"."""
    try:
        from .memory import move_page_tables as mpt
    except ImportError:
        return length
    return mpt(m, vma, old_addr, new_vma, new_addr, length)


def move_vma(m, vma, old_addr, old_len, new_len, new_addr):
    """``(ret, locked)``: copy the VMA to new_addr, move its page tables, unmap the old."""
    mm = vma.vm_mm
    if mm.map_count >= sysctl_max_map_count(m) - 3:
        return -errno.ENOMEM, False
    vm_flags = vma.vm_flags
    if vm_flags & VM_MERGEABLE:
        vma.vm_flags &= ~VM_MERGEABLE             # ksm_madvise(MADV_UNMERGEABLE)
        vm_flags = vma.vm_flags
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
            note_unmerged_boundary(mm, vma)         # vma_adjust does not merge
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
