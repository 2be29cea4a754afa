"""mm_struct lifetime: mm_alloc/mm_init, mmput, mmdrop (kernel/fork.c)."""

import errno

from ..arch.x86 import tlb as x86_tlb
from ..arch.x86.page_types import TASK_SIZE
from ..arch.x86.pgalloc import mm_alloc_pgd, mm_free_pgd
from ..include.mm import (VM_DENYWRITE, VM_DONTCOPY, VM_ACCOUNT, VM_LOCKED, VM_LOCKONFAULT,
                          VM_UFFD_MISSING, VM_UFFD_WP, VM_INIT_DEF_MASK)
from ..mm.memory import copy_page_range, get_mm_rss
from ..mm.mm_types import MmStruct
from ..mm.mmap import exit_mmap, vm_stat_account, vma_copy
from ..mm.rmap import anon_vma_fork
from ..mm.khugepaged import khugepaged_fork, khugepaged_exit
from ..mm.slab_common import slab_alloc_obj, slab_free_obj
from ..mm.util import security_vm_enough_memory_mm, vm_unacct_memory
from ..mm.vma import __vma_link_list, __vma_link_rb, vma_pages
from . import fork_stack
from .sched import TaskStruct, Cred


def mm_alloc(m, task):
    """A new, empty address space with its PGD; None when the PGD cannot be allocated."""
    mm = MmStruct()
    slab_alloc_obj(m, "mm_struct", mm)
    mm.mm_users = mm.mm_count = 1
    mm.task_size = TASK_SIZE
    mm.owner = task
    if mm_alloc_pgd(m, mm):
        slab_free_obj(m, "mm_struct", mm)
        return None
    return mm


def mmput(m, mm) -> None:
    """Drop a user of ``mm``; the last one tears the address space down."""
    mm.mm_users -= 1
    if mm.mm_users == 0:
        khugepaged_exit(m, mm)
        exit_mmap(m, mm)
        if mm.exe_file is not None:              # set_mm_exe_file(mm, NULL)
            mm.exe_file.fput()
            mm.exe_file = None
        mmdrop(m, mm)


def mmdrop(m, mm) -> None:
    """Drop a reference to the mm_struct itself; the last one frees it (include/linux/sched.h
    mmdrop). Called by mmput here and by finish_task_switch in arch/x86/cpu.py."""
    mm.mm_count -= 1
    if mm.mm_count == 0:
        __mmdrop(m, mm)


def __mmdrop(m, mm) -> None:
    """Free an mm_struct whose last reference went away: its PGD and its object."""
    mm_free_pgd(m, mm)
    slab_free_obj(m, "mm_struct", mm)


# --- fork: duplicating an address space and a task (kernel/fork.c) --------------------------


def dup_mmap(m, mm, oldmm) -> int:
    """Copy every VMA of ``oldmm`` into ``mm`` and their page tables (kernel/fork.c);
    0 or a negative errno."""
    mm.total_vm = oldmm.total_vm
    mm.data_vm = oldmm.data_vm
    mm.exec_vm = oldmm.exec_vm
    mm.stack_vm = oldmm.stack_vm
    khugepaged_fork(m, mm, oldmm)
    retval = 0
    prev = None
    mpnt = oldmm.mmap
    while mpnt is not None:
        if mpnt.vm_flags & VM_DONTCOPY:
            vm_stat_account(mm, mpnt.vm_flags, -vma_pages(mpnt))
            mpnt = mpnt.vm_next
            continue
        charge = 0
        if mpnt.vm_flags & VM_ACCOUNT:
            length = vma_pages(mpnt)
            if security_vm_enough_memory_mm(m, oldmm, length):
                retval = -errno.ENOMEM
                break
            charge = length
        tmp = vma_copy(m, mpnt)
        tmp.anon_vma_chain = []
        tmp.vm_mm = mm
        anon_vma_fork(m, tmp, mpnt)
        tmp.vm_flags &= ~(VM_LOCKED | VM_LOCKONFAULT | VM_UFFD_MISSING | VM_UFFD_WP)
        tmp.vm_next = tmp.vm_prev = None
        tmp.vm_userfaultfd_ctx = None
        if tmp.vm_file is not None:
            tmp.vm_file.get_file()
            if tmp.vm_flags & VM_DENYWRITE:
                tmp.vm_file.inode.i_writecount -= 1
            tmp.vm_file.inode.i_mmap.add(tmp)       # into the file's rmap beside mpnt
        __vma_link_list(mm, tmp, prev)
        __vma_link_rb(mm, tmp)
        prev = tmp
        mm.map_count += 1
        if tmp.vm_ops is not None and tmp.vm_ops.open is not None:
            tmp.vm_ops.open(tmp)                    # a SysV shm attach counts itself
        retval = copy_page_range(m, mm, oldmm, mpnt)
        if retval:
            if charge:
                vm_unacct_memory(m, charge)
            break
        mpnt = mpnt.vm_next
    # the parent's PTEs lost their write bit: its TLBs must forget them
    x86_tlb.flush_tlb_mm(m, oldmm)
    return retval


def dup_mm(m, task, oldmm):
    """A copy of ``oldmm`` for a child (kernel/fork.c dup_mm); None on failure."""
    mm = mm_alloc(m, task)
    if mm is None:
        return None
    for f in ("mmap_base", "mmap_legacy_base", "task_size", "get_unmapped_area",
              "start_code", "end_code", "start_data", "end_data", "start_brk", "brk",
              "start_stack", "arg_start", "arg_end", "env_start", "env_end",
              "flags", "exe_file", "saved_auxv", "highest_vm_end", "context", "binfmt"):
        setattr(mm, f, getattr(oldmm, f))
    if mm.exe_file is not None:
        mm.exe_file.get_file()                   # dup_mm_exe_file
    # mm_init: of the parent's default VMA flags only VM_NOHUGEPAGE carries over, so
    # mlockall(MCL_FUTURE) is not inherited
    mm.def_flags = oldmm.def_flags & VM_INIT_DEF_MASK
    err = dup_mmap(m, mm, oldmm)
    if err:
        mm.mm_users = 1
        mmput(m, mm)
        return None
    mm.hiwater_rss = get_mm_rss(mm)
    mm.hiwater_vm = mm.total_vm
    return mm


def copy_process(m, parent):
    """fork(): a new task sharing nothing but copies of the parent's memory and files."""
    pid = m.next_pid
    cred = Cred(parent.cred.uid, parent.cred.gid, parent.cred.cap_effective)
    child = TaskStruct(pid, parent.comm, cred)
    child.signal.rlim = dict(parent.signal.rlim)
    child.signal.oom_score_adj = parent.signal.oom_score_adj
    child.signal.oom_score_adj_min = parent.signal.oom_score_adj_min
    child.flags = parent.flags
    child.personality = parent.personality
    child.brk_randomized = parent.brk_randomized
    child.sp = parent.sp
    child.cpu = parent.cpu
    child.real_parent = parent
    slab_alloc_obj(m, "task_struct", child)
    stack = fork_stack.alloc_thread_stack(m)
    if stack is None:
        slab_free_obj(m, "task_struct", child)
        return None
    child.stack = stack
    mm = dup_mm(m, child, parent.mm)
    if mm is None:
        _free_thread_stack(m, child)
        slab_free_obj(m, "task_struct", child)
        return None
    child.mm = child.active_mm = mm
    for fd, f in parent.files.items():
        f.get_file()
        child.files[fd] = f
    m.next_pid += 1
    m.tasks[pid] = child
    return child


def _free_thread_stack(m, task) -> None:
    if getattr(task, "stack", None) is not None:
        fork_stack.free_thread_stack(m, task.stack)
        task.stack = None
