"""The page-table dump of /sys/kernel/debug/kernel_page_tables (arch/x86/mm/dump_pagetables.c),
for the kernel's tables or any mm.

``ptdump_walk_pgd_level(m, pgd_pfn=None) -> str``: runs of equal protection at the
same level, one line each (``0x…-0x…  size prot level``), with the 4.6 address
markers as ``---[ … ]---`` headers. ESPfix shows at most 16 lines.
"""

from .page_types import (PAGE_OFFSET, VMALLOC_START, VMEMMAP_START, ESPFIX_BASE_ADDR,
                         EFI_VA_END, __START_KERNEL_map, MODULES_VADDR, MODULES_END,
                         KERNEL_PGD_BOUNDARY)
from .pgtable import read_table
from .pgtable_types import (PTE_FLAGS_MASK, _PAGE_USER, _PAGE_RW, _PAGE_PWT, _PAGE_PCD, _PAGE_PSE, _PAGE_PAT,
                            _PAGE_PAT_LARGE, _PAGE_GLOBAL, _PAGE_NX, _PAGE_PRESENT,
                            _PAGE_PROTNONE, PTE_PFN_MASK, PHYSICAL_PMD_PAGE_MASK,
                            PHYSICAL_PUD_PAGE_MASK)

U64 = (1 << 64) - 1
ADDRESS_MARKERS = [
    (0, "User Space", 0),
    (0x8000000000000000, "Kernel Space", 0),
    (PAGE_OFFSET, "Low Kernel Mapping", 0),
    (VMALLOC_START, "vmalloc() Area", 0),
    (VMEMMAP_START, "Vmemmap", 0),
    (ESPFIX_BASE_ADDR, "ESPfix Area", 16),
    (EFI_VA_END, "EFI Runtime Services", 0),
    (__START_KERNEL_map, "High Kernel Mapping", 0),
    (MODULES_VADDR, "Modules", 0),
    (MODULES_END, "End Modules", 0),
    (U64, None, 0),
]
LEVEL_NAME = ("cr3", "pgd", "pud", "pmd", "pte")


def printk_prot(pr: int, level: int) -> str:
    if not pr:
        s = " " * 30
    else:
        s = "USR " if pr & _PAGE_USER else "    "
        s += "RW " if pr & _PAGE_RW else "ro "
        s += "PWT " if pr & _PAGE_PWT else "    "
        s += "PCD " if pr & _PAGE_PCD else "    "
        s += "PSE " if level <= 3 and pr & _PAGE_PSE else "    "
        pat = ((level == 4 and pr & _PAGE_PAT)
               or (level in (2, 3) and pr & _PAGE_PAT_LARGE))
        s += "PAT " if pat else "    "
        s += "GLB " if pr & _PAGE_GLOBAL else "    "
        s += "NX " if pr & _PAGE_NX else "x  "
    return s + LEVEL_NAME[level] + "\n"


def normalize_addr(u: int) -> int:
    u &= (1 << 48) - 1
    return u | (0xFFFF << 48) if u & (1 << 47) else u


class _State:
    __slots__ = ("out", "level", "prot", "start", "cur", "marker", "lines")

    def __init__(self):
        self.out = []
        self.level = 0
        self.prot = 0
        self.start = 0
        self.cur = 0
        self.marker = 0
        self.lines = 0


def note_page(st: _State, prot: int, level: int) -> None:
    if not st.level:
        st.prot, st.level, st.marker, st.lines = prot, level, 0, 0
        st.out.append(f"---[ {ADDRESS_MARKERS[0][1]} ]---\n")
        return
    nxt_start = ADDRESS_MARKERS[st.marker + 1][0]
    if prot == st.prot and level == st.level and st.cur < nxt_start:
        return
    max_lines = ADDRESS_MARKERS[st.marker][2]
    if not max_lines or st.lines < max_lines:
        delta = (st.cur - st.start) & U64
        units = "BKMGTPE"
        u = 0
        while not delta & 1023 and u < len(units) - 1:
            delta >>= 10
            u += 1
        st.out.append(f"0x{st.start:016x}-0x{st.cur:016x}   {delta:9d}{units[u]} "
                      + printk_prot(st.prot, st.level))
    st.lines += 1
    if st.cur >= nxt_start:
        if max_lines and st.lines > max_lines:
            n = st.lines - max_lines
            st.out.append(f"... {n} entr{'y' if n == 1 else 'ies'} skipped ... \n")
        st.marker += 1
        st.lines = 0
        st.out.append(f"---[ {ADDRESS_MARKERS[st.marker][1]} ]---\n")
    st.start = st.cur
    st.prot = prot
    st.level = level


def _walk_pte(m, st, pmd: int, base: int) -> None:
    tab = read_table(m, (pmd & PTE_PFN_MASK) >> 12)
    for i in range(512):
        st.cur = normalize_addr(base + (i << 12))
        note_page(st, tab[i] & PTE_FLAGS_MASK, 4)


# level -> (shift, frame mask of a leaf, is a leaf, is not present) for the PUD and PMD levels
_LEVELS = {
    2: (30, PHYSICAL_PUD_PAGE_MASK,
        lambda e: (e & (_PAGE_PSE | _PAGE_PRESENT)) == (_PAGE_PSE | _PAGE_PRESENT),   # pud_large
        lambda e: not e & _PAGE_PRESENT),                                              # !pud_present
    3: (21, PHYSICAL_PMD_PAGE_MASK,
        lambda e: bool(e & _PAGE_PSE),                                                 # pmd_large
        lambda e: not e & (_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_PSE)),               # !pmd_present
}


def _walk_level(m, st, parent: int, base: int, level: int) -> None:
    """walk_pud_level / walk_pmd_level: leaves and holes are noted, tables descended."""
    shift, mask, large, not_present = _LEVELS[level]
    tab = read_table(m, (parent & PTE_PFN_MASK) >> 12)
    for i in range(512):
        e = tab[i]
        addr = base + (i << shift)
        st.cur = normalize_addr(addr)
        if not e:
            note_page(st, 0, level)
        elif large(e) or not_present(e):
            note_page(st, e & ~mask & U64 if e & _PAGE_PSE else e & PTE_FLAGS_MASK, level)
        elif level == 3:
            _walk_pte(m, st, e, addr)
        else:
            _walk_level(m, st, e, addr, 3)


def ptdump_walk_pgd_level(m, pgd_pfn: int = None) -> str:
    """The dump text for the PGD page ``pgd_pfn`` (default: init_level4_pgt)."""
    tab = read_table(m, m.init_mm.pgd if pgd_pfn is None else pgd_pfn)
    st = _State()
    for i in range(512):
        e = tab[i]
        st.cur = normalize_addr(i << 39)
        hyper = KERNEL_PGD_BOUNDARY - 16 <= i < KERNEL_PGD_BOUNDARY
        if e and not hyper:
            if not e & _PAGE_PRESENT:
                note_page(st, e & PTE_FLAGS_MASK, 1)
            else:
                _walk_level(m, st, e, i << 39, 2)
        else:
            note_page(st, 0, 1)
    st.cur = normalize_addr(512 << 39)
    note_page(st, 0, 0)
    return "".join(st.out)


def register(procfs) -> None:
    m = procfs.m
    procfs.add_text("/sys/kernel/debug/kernel_page_tables", lambda: ptdump_walk_pgd_level(m))
