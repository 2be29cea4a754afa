"""The x86 page-fault handler (arch/x86/mm/fault.c __do_page_fault): find the VMA, grow
the stack, check access rights, call handle_mm_fault, and turn failures into signals.

User-mode faults only: the model's accesses come from user processes.
"""

from ...errors import SegmentationFault, BusError, OutOfMemory, KernelBug, ProcessKilled
from ...include.mm import VM_GROWSDOWN, VM_READ, VM_WRITE, VM_EXEC
from .mmu import PF_PROT, PF_WRITE, PF_USER, PF_RSVD
from .page_types import TASK_SIZE_MAX
from ...mm.memory import (handle_mm_fault, VM_FAULT_ERROR, VM_FAULT_MAJOR, VM_FAULT_OOM,
                         VM_FAULT_SIGSEGV, VM_FAULT_SIGBUS, FAULT_FLAG_ALLOW_RETRY,
                         FAULT_FLAG_KILLABLE, FAULT_FLAG_USER, FAULT_FLAG_WRITE,
                         FAULT_FLAG_TRIED, VM_FAULT_RETRY)
from ...mm.vma import find_vma
from ...mm.mmap_stack import expand_stack
from ...mm import oom_kill

# si_code values (include/uapi/asm-generic/siginfo.h)
SEGV_MAPERR = 1
SEGV_ACCERR = 2
BUS_ADRERR = 2


def access_error(error_code: int, vma) -> bool:
    """Whether the VMA forbids this access (fault.c access_error)."""
    if error_code & PF_WRITE:
        return not vma.vm_flags & VM_WRITE
    if error_code & PF_PROT:
        return True         # read of a present page: only PROT_NONE or NX gets here
    return not vma.vm_flags & (VM_READ | VM_EXEC | VM_WRITE)


def bad_area(m, task, error_code: int, address: int, si_code: int) -> None:
    """Deliver SIGSEGV to a user task (__bad_area_nosemaphore)."""
    if address >= TASK_SIZE_MAX:
        error_code |= PF_PROT
    task.thread_error_code = error_code
    task.thread_cr2 = address
    raise SegmentationFault(si_code, address)


def mm_fault_error(m, task, error_code: int, address: int, fault: int) -> None:
    if fault & VM_FAULT_OOM:
        pagefault_out_of_memory(m, task, address)
        return
    if fault & VM_FAULT_SIGSEGV:
        bad_area(m, task, error_code, address, SEGV_MAPERR)
    if fault & VM_FAULT_SIGBUS:
        task.thread_error_code = error_code
        raise BusError(BUS_ADRERR, address)
    raise KernelBug(f"mm_fault_error: unexpected fault code {fault:#x}")


def pagefault_out_of_memory(m, task, address: int) -> None:
    """VM_FAULT_OOM from a user fault: run the OOM killer (mm/oom_kill.c
    pagefault_out_of_memory), then return to user mode, where a pending SIGKILL kills
    the task (ProcessKilled). Otherwise another task was killed and the access is
    retried; a panic raises KernelPanic.

    :raises ProcessKilled: this task is the victim (or already was one)
    :raises OutOfMemory: the killer is disabled: 4.6 would retry this fault forever
    """
    if not oom_kill.pagefault_out_of_memory(m):
        raise OutOfMemory(f"page fault at {address:#x} in {task.comm} (pid {task.pid}): "
                          f"the OOM killer is disabled and 4.6 would retry the fault "
                          f"forever")
    check_fatal_signal(task)


def check_fatal_signal(task) -> None:
    """The return to user mode (exit_to_usermode_loop): a pending SIGKILL is delivered
    before the next user instruction; the façade runs the exit."""
    if task.sigkill:
        raise ProcessKilled(task.pid)


def __do_page_fault(m, task, regs_sp: int, error_code: int, address: int) -> None:
    """Handle a #PF taken by ``task`` in user mode; returns when the access can be retried,
    raises SegmentationFault / BusError / OutOfMemory otherwise."""
    mm = task.mm
    if address >= TASK_SIZE_MAX:
        # a user access to a kernel address: no VMA can cover it
        bad_area(m, task, error_code, address, SEGV_MAPERR)
    if error_code & PF_RSVD:
        raise KernelBug(f"Bad pagetable: error {error_code:#x} at {address:#x} "
                        f"(pgtable_bad)")
    if mm is None:
        bad_area(m, task, error_code, address, SEGV_MAPERR)
    flags = FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE
    if error_code & PF_USER:
        flags |= FAULT_FLAG_USER
    if error_code & PF_WRITE:
        flags |= FAULT_FLAG_WRITE
    vma = find_vma(mm, address)
    if vma is None:
        bad_area(m, task, error_code, address, SEGV_MAPERR)
    if vma.vm_start > address:
        if not vma.vm_flags & VM_GROWSDOWN:
            bad_area(m, task, error_code, address, SEGV_MAPERR)
        if error_code & PF_USER:
            # below %sp by more than the enter/pusha cushion is always a bug
            if address + 65536 + 32 * 8 < regs_sp:
                bad_area(m, task, error_code, address, SEGV_MAPERR)
        if expand_stack(m, vma, address):
            bad_area(m, task, error_code, address, SEGV_MAPERR)
    if access_error(error_code, vma):
        bad_area(m, task, error_code, address, SEGV_ACCERR)
    fault = handle_mm_fault(m, mm, vma, address, flags)
    major = fault & VM_FAULT_MAJOR
    if fault & VM_FAULT_RETRY:
        # the handler waited for I/O with mmap_sem dropped: retry once, as 4.6 does
        # (nothing else runs meanwhile in the model, so the VMA is still the same)
        flags = (flags & ~FAULT_FLAG_ALLOW_RETRY) | FAULT_FLAG_TRIED
        fault = handle_mm_fault(m, mm, vma, address, flags)
        major |= fault & VM_FAULT_MAJOR
        if fault & VM_FAULT_RETRY:
            raise KernelBug(f"fault at {address:#x} asked for a second retry")
    if fault & VM_FAULT_ERROR:
        mm_fault_error(m, task, error_code, address, fault)
        return
    if major:
        task.maj_flt += 1
    else:
        task.min_flt += 1
    if task.sigkill:
        # killed by the OOM killer while this fault allocated (with the reserves)
        check_fatal_signal(task)
