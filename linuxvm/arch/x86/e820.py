"""The PC firmware memory map (arch/x86/kernel/e820.c, arch/x86/include/uapi/asm/e820.h).

The map follows what SeaBIOS gives a QEMU guest: RAM below 640 KiB, the EBDA/VGA/BIOS
hole up to 1 MiB, RAM up to at most 3 GiB less 128 KiB, firmware areas below 4 GiB, and
RAM above 3 GiB remapped from 4 GiB up. setup_arch reads it; the direct-map code asks it
which ranges hold RAM.
"""

from .page_types import PAGE_SIZE

E820_RAM = 1
E820_RESERVED = 2
E820_ACPI = 3
E820_NVS = 4
E820_UNUSABLE = 5
e820_type_names = {E820_RAM: "usable", E820_RESERVED: "reserved", E820_ACPI: "ACPI data",
                   E820_NVS: "ACPI NVS", E820_UNUSABLE: "unusable"}

LOWMEM_LIMIT = 3 << 30            # the PCI hole starts here when RAM exceeds 3 GiB
HIGHMEM_START = 4 << 30


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
