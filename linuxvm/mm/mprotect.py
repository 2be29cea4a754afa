"""mprotect (mm/mprotect.c): change a range's access bits, splitting or merging VMAs."""

import errno

from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from ..kernel.sched import READ_IMPLIES_EXEC
from .mm_flags import (VM_READ, VM_WRITE, VM_EXEC, VM_SHARED, VM_ACCOUNT, VM_HUGETLB,
                       VM_NORESERVE, VM_LOCKED, VM_GROWSDOWN, VM_GROWSUP)
from .mman import PROT_READ, PROT_WRITE, PROT_EXEC, PROT_SEM, PROT_GROWSDOWN, PROT_GROWSUP
from .mmap import (may_expand_vm, vma_modify_flags, vma_set_page_prot, vm_stat_account,
                   vma_wants_writenotify, calc_vm_prot_bits, page_align, fixup_vma_range)
from .util import security_vm_enough_memory_mm, vm_unacct_memory
from .vma import find_vma


def change_protection(m, vma, start, end, newprot, dirty_accountable) -> None:
    """Rewrite the PTEs of [start, end). Wiring point: the page tables are the paging
    code's; until ``linuxvm.mm.memory.change_protection`` exists no PTE can be present."""
    try:
        from .memory import change_protection as cp
    except ImportError:
        return
    cp(m, vma, start, end, newprot, dirty_accountable)


def mprotect_fixup(m, vma, prev, start, end, newflags):
    """Give [start, end) of ``vma`` the flags ``newflags``; ``(prev, err)``."""
    mm = vma.vm_mm
    oldflags = vma.vm_flags
    nrpages = (end - start) >> PAGE_SHIFT
    if newflags == oldflags:
        return vma, 0
    charged = 0
    if newflags & VM_WRITE:
        if not may_expand_vm(m, mm, newflags, nrpages) and may_expand_vm(m, mm, oldflags,
                                                                           nrpages):
            return prev, -errno.ENOMEM
        if not oldflags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE):
            charged = nrpages
            if security_vm_enough_memory_mm(m, mm, charged):
                return prev, -errno.ENOMEM
            newflags |= VM_ACCOUNT
    vma, prev, err = vma_modify_flags(m, mm, vma, prev, start, end, newflags)
    if err:
        vm_unacct_memory(m, charged)
        return prev, err
    vma.vm_flags = newflags
    dirty_accountable = vma_wants_writenotify(vma)
    vma_set_page_prot(vma)
    change_protection(m, vma, start, end, vma.vm_page_prot, dirty_accountable)
    vm_stat_account(mm, oldflags, -nrpages)
    vm_stat_account(mm, newflags, nrpages)
    if (oldflags & (VM_WRITE | VM_SHARED | VM_LOCKED)) == VM_LOCKED and newflags & VM_WRITE:
        # break COW of the locked pages now (4.6 does this before the stats; nothing here
        # reads them, and the VMA state is complete if population cannot proceed)
        from .gup import mm_populate
        mm_populate(m, start, end - start)
    return prev, 0


def sys_mprotect(m, start, length, prot) -> int:
    """The mprotect system call; 0 or -errno."""
    task = m.current
    grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP)
    prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP)
    if grows == (PROT_GROWSDOWN | PROT_GROWSUP):
        return -errno.EINVAL
    if start & (PAGE_SIZE - 1):
        return -errno.EINVAL
    if not length:
        return 0
    length = page_align(length)
    end = start + length
    if end <= start or end >= 1 << 64:
        return -errno.ENOMEM
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM):
        return -errno.EINVAL
    if prot & PROT_READ and task.personality & READ_IMPLIES_EXEC:
        prot |= PROT_EXEC
    vma = find_vma(task.mm, start)
    if vma is None:
        return -errno.ENOMEM
    prev = vma.vm_prev
    if grows & PROT_GROWSDOWN:
        if vma.vm_start >= end:
            return -errno.ENOMEM
        start = vma.vm_start
        if not vma.vm_flags & VM_GROWSDOWN:
            return -errno.EINVAL
    else:
        if vma.vm_start > start:
            return -errno.ENOMEM
        if grows & PROT_GROWSUP:
            end = vma.vm_end
            if not vma.vm_flags & VM_GROWSUP:
                return -errno.EINVAL
    if start > vma.vm_start:
        prev = vma

    def fixup(vma, prev, lo, hi):
        newflags = calc_vm_prot_bits(prot) | (vma.vm_flags & ~(VM_READ | VM_WRITE | VM_EXEC))
        if (newflags & ~(newflags >> 4)) & (VM_READ | VM_WRITE | VM_EXEC):
            return prev, -errno.EACCES
        return mprotect_fixup(m, vma, prev, lo, hi, newflags)
    return fixup_vma_range(vma, prev, start, end, fixup)
