"""The 64-bit vDSO and its vvar area: where exec maps them and what they look like
(arch/x86/entry/vdso/vma.c map_vdso, vdso_addr, arch_setup_additional_pages;
arch/x86/entry/vdso/vdso-layout.lds.S for the vvar pages).

4.6's vdso_image_64 is two pages of text; the vvar area below it is three pages (the
vvar page, the HPET page and the pvclock page). Both are special mappings, named
``[vdso]`` and ``[vvar]`` in /proc/PID/maps; ``mm.context.vdso`` is the text's address
(AT_SYSINFO_EHDR).
"""

from ...include.mm import VM_READ, VM_EXEC, VM_MAYREAD, VM_MAYWRITE, VM_MAYEXEC, VM_IO, \
    VM_DONTDUMP, VM_PFNMAP
from ...mm.mmap import get_unmapped_area
from ...mm.mmap_special import VmSpecialMapping, _install_special_mapping
from ...mm.swap import get_page
from ...mm.vm_ops import VM_FAULT_SIGBUS
from .page_types import PAGE_SHIFT, PAGE_SIZE, PMD_SIZE, TASK_SIZE_MAX

vdso64_enabled = 1


class VdsoImage:
    """struct vdso_image: the text's size and where the vvar area starts (negative: below
    the text)."""

    __slots__ = ("name", "size", "sym_vvar_start")

    def __init__(self, name: str, size: int, sym_vvar_start: int):
        self.name = name
        self.size = size
        self.sym_vvar_start = sym_vvar_start

    def __repr__(self):
        return f"<vdso_image {self.name} size={self.size:#x}>"


# vdso2c's output for 4.6's vdso64.so: 8 KiB of text, vvar_start = . - 3 * PAGE_SIZE
vdso_image_64 = VdsoImage("vdso_image_64", 2 * PAGE_SIZE, -3 * PAGE_SIZE)


class MmContext:
    """The vDSO half of x86's mm_context_t."""

    __slots__ = ("vdso", "vdso_image")

    def __init__(self):
        self.vdso = 0
        self.vdso_image = None


def vdso_image_pfn(m, image, pgoff: int) -> int:
    """The kernel page holding page ``pgoff`` of the image's text: 4.6 keeps it in the
    kernel's page-aligned data (``raw_data``, at the start of .data). The model has no
    vDSO code, so the pages hold zeros."""
    return (m.kernel_sections["rwdata"][0] >> PAGE_SHIFT) + pgoff


def vdso_fault(sm, vma, vmf) -> int:
    """The text page at ``vmf.pgoff``, with a reference (vma.c vdso_fault)."""
    image = vma.vm_mm.context.vdso_image if vma.vm_mm.context is not None else None
    if image is None or (vmf.pgoff << PAGE_SHIFT) >= image.size:
        return VM_FAULT_SIGBUS
    page = vdso_image_pfn(vmf.m, image, vmf.pgoff)
    get_page(vmf.m, page)
    vmf.page = page
    return 0


def vvar_fault(sm, vma, vmf) -> int:
    if vmf.pgoff == 0:
        raise NotImplementedError("the vvar page (__vvar_page, inserted by vm_insert_pfn) "
                                  "is not modelled")
    # the HPET and pvclock pages exist only when that clocksource is in use; the model's
    # machine runs on the TSC
    return VM_FAULT_SIGBUS


text_mapping = VmSpecialMapping("[vdso]", vdso_fault)
vvar_mapping = VmSpecialMapping("[vvar]", vvar_fault)


def get_random_int(m) -> int:
    return m.rng.getrandbits(32)


def vdso_addr(m, start: int, length: int) -> int:
    """A hint above the stack top, within the stack's PMD, at a random page offset."""
    start = (start + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
    end = (start + length + PMD_SIZE - 1) & ~(PMD_SIZE - 1)
    if end >= TASK_SIZE_MAX:
        end = TASK_SIZE_MAX
    end -= length
    if end > start:
        offset = get_random_int(m) % (((end - start) >> PAGE_SHIFT) + 1)
        return start + (offset << PAGE_SHIFT)
    return start            # align_vdso_addr: no alignment outside AMD family 15h


def map_vdso(m, image, calculate_addr: bool) -> int:
    """Map the vvar area and the vDSO text of ``image`` in the current mm; 0 or -errno."""
    mm = m.current.mm
    length = image.size - image.sym_vvar_start
    addr = vdso_addr(m, mm.start_stack, length) if calculate_addr else 0
    addr = get_unmapped_area(m, None, addr, length, 0, 0)
    if addr < 0:
        return addr
    text_start = addr - image.sym_vvar_start
    if mm.context is None:
        mm.context = MmContext()
    mm.context.vdso = text_start
    mm.context.vdso_image = image
    # VM_MAYWRITE lets a debugger COW the text to set breakpoints
    vma = _install_special_mapping(m, mm, text_start, image.size,
                                   VM_READ | VM_EXEC | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC,
                                   text_mapping)
    if isinstance(vma, int):
        mm.context.vdso = 0
        return vma
    vma = _install_special_mapping(m, mm, addr, -image.sym_vvar_start,
                                   VM_READ | VM_MAYREAD | VM_IO | VM_DONTDUMP | VM_PFNMAP,
                                   vvar_mapping)
    if isinstance(vma, int):
        mm.context.vdso = 0
        return vma
    return 0


def arch_setup_additional_pages(m, bprm, uses_interp: bool) -> int:
    """exec's hook for the vDSO (vdso64_enabled); 0 or -errno."""
    if not vdso64_enabled:
        return 0
    return map_vdso(m, vdso_image_64, True)

