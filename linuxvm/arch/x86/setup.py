"""The boot-time reservations of setup_arch (arch/x86/kernel/setup.c, head64.c, mm/init.c),
in 4.6's order, over the firmware map of e820.py; the kernel page tables come from
init_64.paging_init_early.
"""

from .cpu import DEFAULT_CPU_MODEL
from .e820 import E820_RAM, default_e820, e820_print, trim_bios_range
from .init_64 import paging_init_early, present_sections
from .page_types import (PAGE_SIZE, PAGE_SHIFT, PMD_SIZE, CONFIG_PHYSICAL_START,
                         PAGES_PER_SECTION, STRUCT_PAGE_SIZE, MAX_DMA32_PFN)

# A 4.6 distribution kernel image, sizes in bytes (as mem_init_print_info reports them).
KERNEL_TEXT = 8192 << 10
KERNEL_RODATA = 3072 << 10
KERNEL_RWDATA = 1300 << 10
KERNEL_INIT = 1512 << 10
KERNEL_BSS = 1424 << 10
KERNEL_BRK = 24 << 10             # early page-table buffer (INIT_PGT_BUF_SIZE)

REALMODE_SIZE = 24 << 10          # the real-mode trampoline below 1 MiB
RESERVE_LOW = 64 << 10            # CONFIG_X86_RESERVE_LOW
PERCPU_UNIT_PAGES = 33            # "PERCPU: Embedded 33 pages/cpu"
LOG_BUF_LEN = 1 << 18             # CONFIG_LOG_BUF_SHIFT 18
LOG_CPU_MAX_BUF_LEN = 1 << 12     # CONFIG_LOG_CPU_MAX_BUF_SHIFT 12
IO_TLB_DEFAULT_SIZE = 64 << 20    # swiotlb when RAM reaches above 4 GiB


def alloc_large_system_hash_size(nr_kernel_pages: int, scale: int, bucketsize: int,
                                 low_limit: int = 0, high_limit: int = 0,
                                 small_shift: int = 0) -> tuple:
    """(entries, bytes) of a boot hash table sized from memory (alloc_large_system_hash)."""
    numentries = nr_kernel_pages
    numentries = (numentries + 255) & ~255          # round up to a megabyte of pages
    if scale > PAGE_SHIFT:
        numentries >>= scale - PAGE_SHIFT
    else:
        numentries <<= PAGE_SHIFT - scale
    if small_shift:                                  # HASH_SMALL
        if not numentries >> small_shift:
            numentries = 1 << small_shift
    elif numentries * bucketsize < PAGE_SIZE:
        numentries = PAGE_SIZE // bucketsize
    numentries = 1 << (numentries - 1).bit_length()  # roundup_pow_of_two
    max_ = high_limit or ((nr_kernel_pages << PAGE_SHIFT) >> 4) // bucketsize
    max_ = min(max_, 0x80000000)
    if numentries < low_limit:
        numentries = low_limit
    if numentries > max_:
        numentries = max_
    numentries = 1 << (numentries.bit_length() - 1)  # ilog2
    return numentries, bucketsize * numentries


def setup_arch(m, ram: int, nr_cpus: int) -> None:
    """Build memblock from the e820 map and make the boot reservations, in 4.6's order."""
    log = m.log
    e820 = default_e820(ram)
    log.pr_info("e820: BIOS-provided physical RAM map:")
    for line in e820_print(e820):
        log.pr_info(line)
    e820 = trim_bios_range(e820, log)
    m.e820 = e820
    mb = m.memblock
    # kernel image from CONFIG_PHYSICAL_START
    k = CONFIG_PHYSICAL_START
    m.kernel_sections = {}
    for name, size in (("text", KERNEL_TEXT), ("rodata", KERNEL_RODATA),
                       ("rwdata", KERNEL_RWDATA), ("init", KERNEL_INIT), ("bss", KERNEL_BSS),
                       ("brk", KERNEL_BRK)):
        m.kernel_sections[name] = (k, k + size)
        k += size
    m.kernel_image = (CONFIG_PHYSICAL_START, k)
    mb.memblock_reserve(CONFIG_PHYSICAL_START, k - CONFIG_PHYSICAL_START, "kernel")
    for s, e, t in e820:
        if t == E820_RAM:
            mb.memblock_add(s, e - s)
    m.max_pfn = max(e for s, e, t in e820 if t == E820_RAM) >> PAGE_SHIFT
    log.pr_info(f"e820: last_pfn = {m.max_pfn:#x} max_arch_pfn = 0x400000000")
    # reserve_ebda_region: from the EBDA up to 1 MiB
    mb.memblock_reserve(0x9F000, 0x100000 - 0x9F000, "bios")
    # trim_low_memory_range
    mb.memblock_reserve(0, RESERVE_LOW, "reserve_low")
    # reserve_real_mode: the trampoline, top-down below 1 MiB
    mb.current_limit = 1 << 20
    base = mb.memblock_alloc(REALMODE_SIZE, PAGE_SIZE, "realmode")
    log.pr_info(f"Base memory trampoline at [{0xffff880000000000 + base:x}] {base:x} size "
                f"{REALMODE_SIZE}")
    mb.current_limit = m.max_pfn << PAGE_SHIFT
    # swiotlb for devices limited to 32-bit DMA once RAM reaches past 4 GiB
    if m.max_pfn > MAX_DMA32_PFN:
        tlb = mb.memblock_alloc(IO_TLB_DEFAULT_SIZE, PAGE_SIZE, "swiotlb", max_addr=1 << 32)
        m.swiotlb = (tlb, tlb + IO_TLB_DEFAULT_SIZE)
    else:
        m.swiotlb = None
    # setup_log_buf: a bigger log buffer when many CPUs are possible
    cpu_extra = (nr_cpus - 1) * LOG_CPU_MAX_BUF_LEN
    if cpu_extra > LOG_BUF_LEN // 2:
        new_len = 1 << (LOG_BUF_LEN + cpu_extra - 1).bit_length()
        mb.memblock_alloc(new_len, PAGE_SIZE, "log_buf")
        log.pr_info(f"log_buf_len: {new_len} bytes")
    # sparse_init + vmemmap_populate: 2 MiB of struct page per present 128 MiB section
    sections = present_sections(mb)
    m.nr_present_sections = len(sections)
    memmap_bytes = len(sections) * PAGES_PER_SECTION * STRUCT_PAGE_SIZE
    mb.memblock_alloc(memmap_bytes, PMD_SIZE, "mem_map", min_addr=16 << 20)
    # init_mem_mapping, the kernel text mapping and vmemmap: the kernel page tables
    if m.cpu_model is None:
        m.cpu_model = DEFAULT_CPU_MODEL
    paging_init_early(m)
    # the early hooks of other subsystems
    for hook in m.setup_arch_hooks:
        hook(m)
    # setup_per_cpu_areas: pcpu_embed_first_chunk keeps 33 pages per CPU
    mb.memblock_alloc(PERCPU_UNIT_PAGES * PAGE_SIZE * nr_cpus, PAGE_SIZE, "percpu")
    log.pr_info(f"PERCPU: Embedded {PERCPU_UNIT_PAGES} pages/cpu s98008 r8192 d28968 u524288")


def vfs_caches_init_early(m, nr_kernel_pages: int) -> None:
    """Dentry and inode hash tables from memblock (fs/dcache.c, fs/inode.c), and the
    PID hash (kernel/pid.c), sized as 4.6 sizes them."""
    mb = m.memblock
    for label, scale, bucket, high, small in (("PID", 18, 8, 4096, 4),
                                               ("Dentry cache", 13, 8, 0, 0),
                                               ("Inode-cache", 14, 8, 0, 0)):
        entries, size = alloc_large_system_hash_size(nr_kernel_pages, scale, bucket, 0, high,
                                                      small)
        order = max(0, (size - 1).bit_length() - PAGE_SHIFT) if size > PAGE_SIZE else 0
        mb.memblock_alloc(size, 64, label, min_addr=16 << 20)
        m.log.pr_info(f"{label} hash table entries: {entries} (order: {order}, {size} bytes)")
