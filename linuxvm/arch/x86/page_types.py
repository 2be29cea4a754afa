"""x86-64 page sizes and the kernel's virtual memory map (arch/x86/include/asm/page_*types.h)."""

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = ~(PAGE_SIZE - 1)

PMD_SHIFT = 21
PUD_SHIFT = 30
PGDIR_SHIFT = 39
PMD_SIZE = 1 << PMD_SHIFT
PUD_SIZE = 1 << PUD_SHIFT
PGDIR_SIZE = 1 << PGDIR_SHIFT
PTRS_PER_PGD = PTRS_PER_PUD = PTRS_PER_PMD = PTRS_PER_PTE = 512

__PHYSICAL_MASK_SHIFT = 46
__VIRTUAL_MASK_SHIFT = 47
__PHYSICAL_MASK = (1 << __PHYSICAL_MASK_SHIFT) - 1

__PAGE_OFFSET = PAGE_OFFSET = 0xFFFF880000000000
__START_KERNEL_map = 0xFFFFFFFF80000000
KERNEL_IMAGE_SIZE = 512 << 20            # asm/page_64_types.h, with KASLR
VMALLOC_START = 0xFFFFC90000000000
VMALLOC_END = 0xFFFFE8FFFFFFFFFF
VMEMMAP_START = 0xFFFFEA0000000000
MODULES_VADDR = 0xFFFFFFFFA0000000
MODULES_END = 0xFFFFFFFFFF000000
ESPFIX_BASE_ADDR = 0xFFFFFF0000000000
EFI_VA_START = 0xFFFFFFFF00000000 - 0   # -4 GiB
EFI_VA_END = 0xFFFFFFEF00000000         # -68 GiB

TASK_SIZE_MAX = TASK_SIZE = STACK_TOP_MAX = (1 << 47) - PAGE_SIZE
TASK_UNMAPPED_BASE = (TASK_SIZE // 3 + PAGE_SIZE - 1) & PAGE_MASK
KERNEL_PGD_BOUNDARY = (PAGE_OFFSET >> PGDIR_SHIFT) & 511   # 272
KERNEL_PGD_PTRS = PTRS_PER_PGD - KERNEL_PGD_BOUNDARY      # 240

THREAD_SIZE_ORDER = 2
THREAD_SIZE = PAGE_SIZE << THREAD_SIZE_ORDER

# CONFIG_PHYSICAL_START: where the kernel image is loaded.
CONFIG_PHYSICAL_START = 0x1000000
# SPARSEMEM: 128 MiB sections (SECTION_SIZE_BITS 27)
SECTION_SIZE_BITS = 27
PAGES_PER_SECTION = 1 << (SECTION_SIZE_BITS - PAGE_SHIFT)
# sizeof(struct page) on a 4.6 x86-64 distribution config
STRUCT_PAGE_SIZE = 64

MAX_DMA_PFN = (16 << 20) >> PAGE_SHIFT        # 4096
MAX_DMA32_PFN = 1 << (32 - PAGE_SHIFT)        # 1 << 20


def PAGE_ALIGN(x: int) -> int:
    return (x + PAGE_SIZE - 1) & PAGE_MASK


def __va(phys: int) -> int:
    """Kernel direct-map address of a physical address (arch/x86 __va)."""
    return phys + PAGE_OFFSET


def __pa(virt: int, phys_base: int = 0) -> int:
    """Physical address of a kernel virtual address (arch/x86/mm/physaddr.c __phys_addr)."""
    y = virt - __START_KERNEL_map
    if virt >= __START_KERNEL_map:
        return y + phys_base
    return virt - PAGE_OFFSET
