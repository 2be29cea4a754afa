"""Stack growth, the expand_stack half of mm/mmap.c (acct_stack_growth, expand_downwards)."""

import errno

from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE, PAGE_MASK
from ..include.mm import VM_GROWSDOWN, VM_LOCKED, VM_ACCOUNT
from ..include.resource import RLIMIT_STACK, RLIMIT_MEMLOCK
from .mmap import may_expand_vm, vm_stat_account
from .rmap import anon_vma_prepare
from .util import security_vm_enough_memory_mm
from . import gup
from .vma import find_vma, vma_gap_update


def acct_stack_growth(m, vma, size: int, grow: int) -> int:
    """Check the limits a stack growth of ``grow`` pages to ``size`` bytes must respect."""
    mm = vma.vm_mm
    task = m.current
    if not may_expand_vm(m, mm, vma.vm_flags, grow):
        return -errno.ENOMEM
    actual_size = size
    if size and vma.vm_flags & VM_GROWSDOWN:
        actual_size -= PAGE_SIZE
    if actual_size > task.rlimit(RLIMIT_STACK):
        return -errno.ENOMEM
    if vma.vm_flags & VM_LOCKED:
        locked = mm.locked_vm + grow
        limit = task.rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT
        if locked > limit and not task.capable("CAP_IPC_LOCK"):
            return -errno.ENOMEM
    if security_vm_enough_memory_mm(m, mm, grow):
        return -errno.ENOMEM
    return 0


def expand_downwards(m, vma, address: int) -> int:
    """Grow a VM_GROWSDOWN VMA down to ``address``; 0 or a negative errno."""
    mm = vma.vm_mm
    address &= PAGE_MASK
    task = m.current
    if address < m.sysctl["vm.mmap_min_addr"] and not task.capable("CAP_SYS_RAWIO"):
        return -errno.EPERM
    anon_vma_prepare(m, vma)
    error = 0
    if address < vma.vm_start:
        size = vma.vm_end - address
        grow = (vma.vm_start - address) >> PAGE_SHIFT
        error = -errno.ENOMEM
        if grow <= vma.vm_pgoff:
            error = acct_stack_growth(m, vma, size, grow)
            if not error:
                if not vma.vm_flags & VM_ACCOUNT:
                    # 4.6 charges the growth even without VM_ACCOUNT and never returns it
                    m.committed_outside_vmas = getattr(m, "committed_outside_vmas", 0) + grow
                if vma.vm_flags & VM_LOCKED:
                    mm.locked_vm += grow
                vm_stat_account(mm, vma.vm_flags, grow)
                vma.vm_start = address
                vma.vm_pgoff -= grow
                vma_gap_update(mm, vma)
    return error


def expand_stack(m, vma, address: int) -> int:
    address &= PAGE_MASK
    prev = vma.vm_prev
    if prev is not None and prev.vm_end == address and not prev.vm_flags & VM_GROWSDOWN:
        return -errno.ENOMEM
    return expand_downwards(m, vma, address)


def find_extend_vma(m, mm, addr: int):
    """The VMA holding ``addr``, growing a stack VMA down to it if it lies below one;
    None if there is none (mm/mmap.c find_extend_vma, !CONFIG_STACK_GROWSUP)."""
    addr &= PAGE_MASK
    vma = find_vma(mm, addr)
    if vma is None:
        return None
    if vma.vm_start <= addr:
        return vma
    if not vma.vm_flags & VM_GROWSDOWN:
        return None
    start = vma.vm_start
    if expand_stack(m, vma, addr):
        return None
    if vma.vm_flags & VM_LOCKED:
        gup.populate_vma_page_range(m, vma, addr, start)
    return vma
