"""Special mappings: VMAs the kernel installs for itself, with a name and a fault handler
of their own ([vdso], [vvar]) (mm/mmap.c _install_special_mapping, special_mapping_fault).
"""

from ..arch.x86.page_types import PAGE_SHIFT
from ..arch.x86.pgtable_types import vm_get_page_prot
from ..include.mm import VM_DONTEXPAND, VM_SOFTDIRTY
from .mmap import insert_vm_struct, vm_area_alloc, vm_stat_account
from .slab_common import slab_free_obj
from .vm_ops import VmOperationsStruct, VM_FAULT_SIGBUS


class VmSpecialMapping:
    """struct vm_special_mapping: the name /proc/PID/maps prints and the fault handler
    ``fault(sm, vma, vmf) -> VM_FAULT_*`` (None: SIGBUS, there are no pages)."""

    __slots__ = ("name", "fault")

    def __init__(self, name: str, fault=None):
        self.name = name
        self.fault = fault

    def __repr__(self):
        return f"<vm_special_mapping {self.name}>"


def special_mapping_name(vma) -> str:
    return vma.vm_private_data.name


def special_mapping_fault(vma, vmf) -> int:
    sm = vma.vm_private_data
    if sm.fault is not None:
        return sm.fault(sm, vma, vmf)
    return VM_FAULT_SIGBUS


def special_mapping_close(vma) -> None:
    """Nothing to release; its presence keeps special mappings from merging (4.6)."""


special_mapping_vmops = VmOperationsStruct("special_mapping_vmops",
                                           close=special_mapping_close,
                                           fault=special_mapping_fault,
                                           name=special_mapping_name)


def _install_special_mapping(m, mm, addr: int, length: int, vm_flags: int, spec):
    """Map [addr, addr+len) in ``mm`` as the special mapping ``spec``; the VMA, or -errno
    (mm/mmap.c __install_special_mapping)."""
    flags = vm_flags | mm.def_flags | VM_DONTEXPAND | VM_SOFTDIRTY
    vma = vm_area_alloc(m, mm, addr, addr + length, flags)
    vma.vm_page_prot = vm_get_page_prot(flags)
    vma.vm_ops = special_mapping_vmops
    vma.vm_private_data = spec
    ret = insert_vm_struct(m, mm, vma)
    if ret:
        slab_free_obj(m, "vm_area_struct", vma)
        return ret
    vm_stat_account(mm, flags, length >> PAGE_SHIFT)
    return vma
