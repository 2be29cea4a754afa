"""The legacy vsyscall page: the gate VMA every 64-bit process shows as ``[vsyscall]``
at the end of /proc/PID/maps (arch/x86/entry/vsyscall/vsyscall_64.c, emulate mode).

The gate VMA belongs to no mm (its vm_mm is NULL) and is not in any VMA tree; the
/proc renderers add it after the last VMA. The model shows it for processes set up by
exec (``mm.binfmt``); a spawned process, which has no program, has an empty map.
"""

from ...include.mm import VM_READ, VM_EXEC
from ...mm.vm_ops import VmOperationsStruct
from ...mm.vma import VmAreaStruct
from .pgtable_types import vm_get_page_prot
from .page_types import PAGE_SIZE

VSYSCALL_ADDR = 0xffffffffff600000


def gate_vma_name(vma) -> str:
    return "[vsyscall]"


gate_vma_ops = VmOperationsStruct("gate_vma_ops", name=gate_vma_name)
gate_vma = VmAreaStruct(None, VSYSCALL_ADDR, VSYSCALL_ADDR + PAGE_SIZE, VM_READ | VM_EXEC)
gate_vma.vm_ops = gate_vma_ops
gate_vma.vm_page_prot = vm_get_page_prot(VM_READ | VM_EXEC)


def get_gate_vma(mm):
    """The gate VMA shown for ``mm``, or None (no mm, or a spawned process's)."""
    if mm is None or mm.binfmt is None:
        return None
    return gate_vma


def in_gate_area(mm, addr: int) -> bool:
    vma = get_gate_vma(mm)
    return vma is not None and vma.vm_start <= addr < vma.vm_end
