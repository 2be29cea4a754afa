"""The PC physical memory map and the boot-time reservations of setup_arch
(arch/x86/kernel/e820.c, setup.c, head64.c, mm/init.c, mm/sparse-vmemmap.c).

The firmware map follows what SeaBIOS gives a QEMU guest: RAM below 640 KiB, the
EBDA/VGA/BIOS hole up to 1 MiB, RAM up to at most 3 GiB less 128 KiB, firmware
areas below 4 GiB, and RAM above 3 GiB remapped from 4 GiB up.
"""

from .page_types import (PAGE_SIZE, PAGE_SHIFT, PMD_SIZE, CONFIG_PHYSICAL_START,
                         PAGES_PER_SECTION, STRUCT_PAGE_SIZE, MAX_DMA32_PFN)

E820_RAM = 1
E820_RESERVED = 2
E820_ACPI = 3
E820_NVS = 4
E820_UNUSABLE = 5
e820_type_names = {E820_RAM: "usable", E820_RESERVED: "reserved", E820_ACPI: "ACPI data",
                   E820_NVS: "ACPI NVS", E820_UNUSABLE: "unusable"}

LOWMEM_LIMIT = 3 << 30            # the PCI hole starts here when RAM exceeds 3 GiB
HIGHMEM_START = 4 << 30

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


def default_e820(ram: int) -> list:
    """The firmware memory map for ``ram`` bytes of RAM: [(start, end, type)], end exclusive."""
    low = min(ram, LOWMEM_LIMIT)
    high = ram - low
    m = [(0, 0x9FC00, E820_RAM), (0x9FC00, 0xA0000, E820_RESERVED),
         (0xF0000, 0x100000, E820_RESERVED),
         (0x100000, low - 0x20000, E820_RAM), (low - 0x20000, low, E820_RESERVED),
         (0xFEFFC000, 0xFF000000, E820_RESERVED), (0xFFFC0000, 0x100000000, E820_RESERVED)]
    if high:
        m.append((HIGHMEM_START, HIGHMEM_START + high, E820_RAM))
    return m


def e820_print(e820: list, tag: str = "BIOS-e820") -> list:
    return [f"{tag}: [mem {s:#018x}-{e - 1:#018x}] {e820_type_names[t]}" for s, e, t in e820]


def trim_bios_range(e820: list, log) -> list:
    """Page 0 becomes reserved and 640K–1M is dropped from RAM (arch/x86/kernel/setup.c)."""
    out = []
    for s, e, t in e820:
        if t == E820_RAM and s < PAGE_SIZE:
            out.append((s, PAGE_SIZE, E820_RESERVED))
            s = PAGE_SIZE
        if t == E820_RAM and s < 0x100000 and e > 0xA0000:
            if s < 0xA0000:
                out.append((s, 0xA0000, t))
            if e > 0x100000:
                out.append((0x100000, e, t))
            continue
        if s < e:
            out.append((s, e, t))
    log.pr_info("e820: update [mem 0x00000000-0x00000fff] usable ==> reserved")
    log.pr_info("e820: remove [mem 0x000a0000-0x000fffff] usable")
    return out


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
    from .init_64 import paging_init_early
    paging_init_early(m)
    # the early hooks of other subsystems
    for hook in m.setup_arch_hooks:
        hook(m)
    # setup_per_cpu_areas: pcpu_embed_first_chunk keeps 33 pages per CPU
    mb.memblock_alloc(PERCPU_UNIT_PAGES * PAGE_SIZE * nr_cpus, PAGE_SIZE, "percpu")
    log.pr_info(f"PERCPU: Embedded {PERCPU_UNIT_PAGES} pages/cpu s98008 r8192 d28968 u524288")


def present_sections(mb) -> list:
    secs = set()
    shift = PAGE_SHIFT + (PAGES_PER_SECTION.bit_length() - 1)
    for b, e, _ in mb.memory.regions:
        for s in range(b >> shift, ((e - 1) >> shift) + 1):
            secs.add(s)
    return sorted(secs)


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
