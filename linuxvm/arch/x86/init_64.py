"""The kernel's own address space: init_mm, swapper_pg_dir, the direct map, the kernel
text mapping and vmemmap (arch/x86/mm/init.c, init_64.c, pageattr.c, head_64.S,
mm/sparse-vmemmap.c).

Interface (stable):

* ``paging_init_early(m)`` runs at setup_arch's hook point: it creates
  ``m.pgtables``, ``m.pgd_list``, ``m.init_mm`` (whose ``pgd`` is swapper_pg_dir,
  a frame in the kernel image's .data), the high kernel mapping
  (level2_kernel_pgt, 2 MiB pages over _text.._brk_end as cleanup_highmap leaves
  it), the direct map of all RAM (init_mem_mapping: ISA range, then top-down in
  growing steps; 1 GiB pages when the CPU has pdpe1gb and ``nogbpages`` is not
  given, 2 MiB otherwise, 4 KiB at ragged edges) and the vmemmap of mem_map
  with 2 MiB pages. Boot-time table pages come from the brk page-table buffer
  (6 pages) and then memblock, as alloc_low_pages takes them.
* ``m.direct_pages_count[PG_LEVEL_4K/2M/1G]`` is kept as update_page_count keeps
  it; ``arch_report_meminfo(m)`` renders the DirectMap lines.
* ``virt_to_page``, ``page_address``, ``virt_addr_valid`` live in pgtable.py.

Not modelled: the fixmap and vsyscall page, ESPfix, EFI, modules and vmalloc
(empty in the tables), and CPA splits made later by mark_rodata_ro.
"""

from ...errors import KernelBug
from ...mm.mm_types import MmStruct
from . import pgalloc                         # noqa: F401  (registers check_pgtables)
from .e820 import E820_RAM
from .page_types import (PAGE_SHIFT, PAGE_SIZE, PMD_SIZE, PUD_SIZE, PGDIR_SIZE,
                         PAGE_OFFSET, __START_KERNEL_map, VMEMMAP_START, PAGES_PER_SECTION,
                         STRUCT_PAGE_SIZE, KERNEL_IMAGE_SIZE, __pa)
from .pgtable import pt_entries, pfn_pte, pmd_large, pud_large, pte_clrhuge, pte_pgprot
from .pgtable_types import (_PAGE_TABLE, _KERNPG_TABLE, _PAGE_PSE, PAGE_KERNEL,
                            PAGE_KERNEL_LARGE, PAGE_KERNEL_LARGE_EXEC, PTE_PFN_MASK)

PG_LEVEL_NONE, PG_LEVEL_4K, PG_LEVEL_2M, PG_LEVEL_1G = range(4)
ISA_END_ADDRESS = 0x100000
INIT_PGT_BUF_SIZE = 6 * PAGE_SIZE
L3_START_KERNEL = 510          # pud_index(__START_KERNEL_map)


class MapState:
    """init.c's statics while the direct map is built."""

    __slots__ = ("page_size_mask", "pgt_buf_end", "pgt_buf_top", "can_use_brk_pgt",
                 "min_pfn_mapped", "max_pfn_mapped", "pfn_mapped", "tables")

    def __init__(self):
        self.page_size_mask = 0
        self.pgt_buf_end = self.pgt_buf_top = 0
        self.can_use_brk_pgt = True
        self.min_pfn_mapped = 0
        self.max_pfn_mapped = KERNEL_IMAGE_SIZE >> PAGE_SHIFT   # head64's early mapping
        self.pfn_mapped = []
        self.tables = []          # every boot-time table frame, in allocation order


def update_page_count(m, level: int, pages: int) -> None:
    m.direct_pages_count[level] += pages


def arch_report_meminfo(m) -> str:
    """The DirectMap lines of /proc/meminfo (pageattr.c arch_report_meminfo)."""
    c = m.direct_pages_count
    s = (f"DirectMap4k:    {c[PG_LEVEL_4K] << 2:8d} kB\n"
         f"DirectMap2M:    {c[PG_LEVEL_2M] << 11:8d} kB\n")
    if m.direct_gbpages:
        s += f"DirectMap1G:    {c[PG_LEVEL_1G] << 20:8d} kB\n"
    return s


# -- boot table pages ------------------------------------------------------------

def alloc_low_page(m, st: MapState) -> int:
    """One zeroed boot table page: from the brk buffer while it lasts, then memblock."""
    if st.pgt_buf_end + 1 > st.pgt_buf_top or not st.can_use_brk_pgt:
        if st.min_pfn_mapped >= st.max_pfn_mapped:
            raise RuntimeError("alloc_low_pages: ran out of memory")
        ret = m.memblock.memblock_find_in_range(st.min_pfn_mapped << PAGE_SHIFT,
                                                st.max_pfn_mapped << PAGE_SHIFT,
                                                PAGE_SIZE, PAGE_SIZE)
        if not ret:
            raise RuntimeError("alloc_low_pages: can not alloc memory")
        m.memblock.memblock_reserve(ret, PAGE_SIZE, "pgtable")
        pfn = ret >> PAGE_SHIFT
    else:
        pfn = st.pgt_buf_end
        st.pgt_buf_end += 1
    m.page_contents.pop(pfn, None)
    m.pgtables.pop(pfn, None)
    pt_entries(m, pfn)
    st.tables.append(pfn)
    return pfn


def _e820_any_mapped(m, start: int, end: int) -> bool:
    return any(t == E820_RAM and s < end and e > start for s, e, t in m.e820)


# -- phys_*_init -------------------------------------------------------------------

def phys_pte_init(m, st, pte_pfn: int, addr: int, end: int, prot: int) -> int:
    pte = pt_entries(m, pte_pfn)
    pages = 0
    last_map_addr = end
    for i in range((addr >> PAGE_SHIFT) & 511, 512):
        nxt = (addr & ~(PAGE_SIZE - 1)) + PAGE_SIZE
        if addr >= end:
            if not _e820_any_mapped(m, addr & ~(PAGE_SIZE - 1), nxt):
                pte[i] = 0
        elif pte[i]:
            pages += 1                   # !after_bootmem: counted again
        else:
            pages += 1
            pte[i] = pfn_pte(addr >> PAGE_SHIFT, prot)
            last_map_addr = nxt
        addr = nxt
    update_page_count(m, PG_LEVEL_4K, pages)
    return last_map_addr


def phys_pmd_init(m, st, pmd_pfn: int, address: int, end: int, mask: int, prot: int) -> int:
    pmd = pt_entries(m, pmd_pfn)
    pages = 0
    last_map_addr = end
    for i in range((address >> 21) & 511, 512):
        new_prot = prot
        nxt = (address & ~(PMD_SIZE - 1)) + PMD_SIZE
        if address >= end:
            if not _e820_any_mapped(m, address & ~(PMD_SIZE - 1), nxt):
                pmd[i] = 0
            address = nxt
            continue
        v = pmd[i]
        if v:
            if not pmd_large(v):
                last_map_addr = phys_pte_init(m, st, (v & PTE_PFN_MASK) >> PAGE_SHIFT,
                                              address, end, prot)
                address = nxt
                continue
            if mask & (1 << PG_LEVEL_2M):
                pages += 1
                last_map_addr = nxt
                address = nxt
                continue
            new_prot = pte_pgprot(pte_clrhuge(v))
        if mask & (1 << PG_LEVEL_2M):
            pages += 1
            pmd[i] = pfn_pte((address & ~(PMD_SIZE - 1)) >> PAGE_SHIFT, prot | _PAGE_PSE)
            last_map_addr = nxt
            address = nxt
            continue
        pte_pfn = alloc_low_page(m, st)
        last_map_addr = phys_pte_init(m, st, pte_pfn, address, end, new_prot)
        pmd[i] = (pte_pfn << PAGE_SHIFT) | _PAGE_TABLE        # pmd_populate_kernel
        address = nxt
    update_page_count(m, PG_LEVEL_2M, pages)
    return last_map_addr


def phys_pud_init(m, st, pud_pfn: int, addr: int, end: int, mask: int) -> int:
    pud = pt_entries(m, pud_pfn)
    pages = 0
    last_map_addr = end
    for i in range((addr >> 30) & 511, 512):
        prot = PAGE_KERNEL
        nxt = (addr & ~(PUD_SIZE - 1)) + PUD_SIZE
        if addr >= end:
            if not _e820_any_mapped(m, addr & ~(PUD_SIZE - 1), nxt):
                pud[i] = 0
            addr = nxt
            continue
        v = pud[i]
        if v:
            if not pud_large(v):
                last_map_addr = phys_pmd_init(m, st, (v & PTE_PFN_MASK) >> PAGE_SHIFT,
                                              addr, end, mask, prot)
                addr = nxt
                continue
            if mask & (1 << PG_LEVEL_1G):
                pages += 1
                last_map_addr = nxt
                addr = nxt
                continue
            prot = pte_pgprot(pte_clrhuge(v))
        if mask & (1 << PG_LEVEL_1G):
            pages += 1
            pud[i] = pfn_pte((addr & ~(PUD_SIZE - 1)) >> PAGE_SHIFT, PAGE_KERNEL_LARGE)
            last_map_addr = nxt
            addr = nxt
            continue
        pmd_pfn = alloc_low_page(m, st)
        last_map_addr = phys_pmd_init(m, st, pmd_pfn, addr, end, mask, prot)
        pud[i] = (pmd_pfn << PAGE_SHIFT) | _PAGE_TABLE            # pud_populate
        addr = nxt
    update_page_count(m, PG_LEVEL_1G, pages)
    return last_map_addr


def kernel_physical_mapping_init(m, st, start: int, end: int, mask: int) -> int:
    pgd = pt_entries(m, m.init_mm.pgd)
    start += PAGE_OFFSET
    end += PAGE_OFFSET
    last_map_addr = end
    while start < end:
        i = (start >> 39) & 511
        nxt = (start & ~(PGDIR_SIZE - 1)) + PGDIR_SIZE
        v = pgd[i]
        if v:
            pud_pfn = (v & PTE_PFN_MASK) >> PAGE_SHIFT
            last_map_addr = phys_pud_init(m, st, pud_pfn, __pa(start), __pa(end), mask)
        else:
            pud_pfn = alloc_low_page(m, st)
            last_map_addr = phys_pud_init(m, st, pud_pfn, __pa(start), __pa(end), mask)
            pgd[i] = (pud_pfn << PAGE_SHIFT) | _PAGE_TABLE          # pgd_populate
        start = nxt
    return last_map_addr


# -- init_mem_mapping ----------------------------------------------------------------

def _memblock_is_region_memory(m, base: int, size: int) -> bool:
    end = base + size
    return any(b <= base and end <= e for b, e, _ in m.memblock.memory.regions)


def split_mem_range(m, st, start: int, end: int) -> list:
    """[start, end) cut into runs of 4K / 2M / 1G mappings: [(start, end, mask)]."""
    P2M, P1G = PMD_SIZE >> PAGE_SHIFT, PUD_SIZE >> PAGE_SHIFT

    def rup(x, a):
        return (x + a - 1) // a * a

    def rdown(x, a):
        return x // a * a

    mask = st.page_size_mask
    mr = []
    limit_pfn = end >> PAGE_SHIFT
    pfn = start_pfn = start >> PAGE_SHIFT
    end_pfn = min(rup(pfn, P2M), limit_pfn)
    if start_pfn < end_pfn:
        mr.append([start_pfn, end_pfn, 0])
        pfn = end_pfn
    start_pfn = rup(pfn, P2M)
    end_pfn = min(rup(pfn, P1G), rdown(limit_pfn, P2M))
    if start_pfn < end_pfn:
        mr.append([start_pfn, end_pfn, mask & (1 << PG_LEVEL_2M)])
        pfn = end_pfn
    start_pfn = rup(pfn, P1G)
    end_pfn = rdown(limit_pfn, P1G)
    if start_pfn < end_pfn:
        mr.append([start_pfn, end_pfn, mask & ((1 << PG_LEVEL_2M) | (1 << PG_LEVEL_1G))])
        pfn = end_pfn
    start_pfn = rup(pfn, P2M)
    end_pfn = rdown(limit_pfn, P2M)
    if start_pfn < end_pfn:
        mr.append([start_pfn, end_pfn, mask & (1 << PG_LEVEL_2M)])
        pfn = end_pfn
    mr.append([pfn, limit_pfn, 0])        # save_mr drops it when empty
    mr = [[s << PAGE_SHIFT, e << PAGE_SHIFT, k] for s, e, k in mr if s < e]
    # adjust_range_page_size_mask: use big pages when the neighbourhood is all RAM
    for r in mr:
        if mask & (1 << PG_LEVEL_2M) and not r[2] & (1 << PG_LEVEL_2M):
            s, e = rdown(r[0], PMD_SIZE), rup(r[1], PMD_SIZE)
            if _memblock_is_region_memory(m, s, e - s):
                r[2] |= 1 << PG_LEVEL_2M
        if mask & (1 << PG_LEVEL_1G) and not r[2] & (1 << PG_LEVEL_1G):
            s, e = rdown(r[0], PUD_SIZE), rup(r[1], PUD_SIZE)
            if _memblock_is_region_memory(m, s, e - s):
                r[2] |= 1 << PG_LEVEL_1G
    merged = []
    for r in mr:
        if merged and merged[-1][1] == r[0] and merged[-1][2] == r[2]:
            merged[-1][1] = r[1]
        else:
            merged.append(r)
    return merged


def init_memory_mapping(m, st, start: int, end: int) -> int:
    ret = 0
    for s, e, mask in split_mem_range(m, st, start, end):
        ret = kernel_physical_mapping_init(m, st, s, e, mask)
    # add_pfn_range_mapped
    st.pfn_mapped.append((start >> PAGE_SHIFT, ret >> PAGE_SHIFT))
    st.max_pfn_mapped = max(st.max_pfn_mapped, ret >> PAGE_SHIFT)
    return ret >> PAGE_SHIFT


def _mem_pfn_ranges(m):
    for b, e, _ in m.memblock.memory.regions:
        s, t = (b + PAGE_SIZE - 1) >> PAGE_SHIFT, e >> PAGE_SHIFT
        if s < t:
            yield s, t


def init_range_memory_mapping(m, st, r_start: int, r_end: int) -> int:
    mapped = 0
    for spfn, epfn in list(_mem_pfn_ranges(m)):
        start = min(max(spfn << PAGE_SHIFT, r_start), r_end)
        end = min(max(epfn << PAGE_SHIFT, r_start), r_end)
        if start >= end:
            continue
        st.can_use_brk_pgt = (max(start, st.pgt_buf_end << PAGE_SHIFT)
                              >= min(end, st.pgt_buf_top << PAGE_SHIFT))
        init_memory_mapping(m, st, start, end)
        mapped += end - start
        st.can_use_brk_pgt = True
    return mapped


def memory_map_top_down(m, st, map_start: int, map_end: int) -> None:
    addr = m.memblock.memblock_find_in_range(map_start, map_end, PMD_SIZE, PMD_SIZE)
    real_end = addr + PMD_SIZE
    step_size = PMD_SIZE
    st.max_pfn_mapped = 0
    st.min_pfn_mapped = real_end >> PAGE_SHIFT
    last_start = real_end
    mapped_ram_size = 0
    while last_start > map_start:
        if last_start > step_size:
            start = max((last_start - 1) // step_size * step_size, map_start)
        else:
            start = map_start
        mapped_ram_size += init_range_memory_mapping(m, st, start, last_start)
        last_start = start
        st.min_pfn_mapped = last_start >> PAGE_SHIFT
        if mapped_ram_size >= step_size:
            step_size <<= 21 - PAGE_SHIFT - 1            # get_new_step_size
    if real_end < map_end:
        init_range_memory_mapping(m, st, real_end, map_end)


def probe_page_size_mask(m, st) -> None:
    feats = m.cpu_model.features
    if "pse" in feats:
        st.page_size_mask |= 1 << PG_LEVEL_2M
    args = m.cmdline.split()
    m.direct_gbpages = "pdpe1gb" in feats and "nogbpages" not in args
    if m.direct_gbpages:
        m.log.pr_info("Using GB pages for direct mapping")
        st.page_size_mask |= 1 << PG_LEVEL_1G


def init_mem_mapping(m, st) -> None:
    probe_page_size_mask(m, st)
    end = m.max_pfn << PAGE_SHIFT
    init_memory_mapping(m, st, 0, ISA_END_ADDRESS)
    memory_map_top_down(m, st, ISA_END_ADDRESS, end)
    m.max_pfn_mapped = st.max_pfn_mapped


# -- the kernel image's own tables -------------------------------------------------------

def _image_tables(m) -> dict:
    """init_level4_pgt, level3_kernel_pgt, level2_kernel_pgt, level2_fixmap_pgt,
    level1_fixmap_pgt: consecutive pages at the start of the image's .data."""
    base = m.kernel_sections["rwdata"][0] >> PAGE_SHIFT
    names = ("init_level4_pgt", "level3_kernel_pgt", "level2_kernel_pgt",
             "level2_fixmap_pgt", "level1_fixmap_pgt")
    return {n: base + i for i, n in enumerate(names)}


def setup_high_mapping(m, t: dict) -> None:
    """head_64.S's level2_kernel_pgt after cleanup_highmap: 2 MiB pages over
    _text .. roundup(_brk_end, 2M)."""
    pgd = pt_entries(m, t["init_level4_pgt"])
    pgd[511] = (t["level3_kernel_pgt"] << PAGE_SHIFT) | _PAGE_TABLE
    l3 = pt_entries(m, t["level3_kernel_pgt"])
    l3[L3_START_KERNEL] = (t["level2_kernel_pgt"] << PAGE_SHIFT) | _KERNPG_TABLE
    l3[L3_START_KERNEL + 1] = (t["level2_fixmap_pgt"] << PAGE_SHIFT) | _PAGE_TABLE
    pt_entries(m, t["level2_fixmap_pgt"])[506] = (t["level1_fixmap_pgt"] << PAGE_SHIFT) | _PAGE_TABLE
    pt_entries(m, t["level1_fixmap_pgt"])
    l2 = pt_entries(m, t["level2_kernel_pgt"])
    text = m.kernel_sections["text"][0]
    brk_end = m.kernel_sections["brk"][1]
    end = (brk_end + PMD_SIZE - 1) // PMD_SIZE * PMD_SIZE - 1
    for i in range(KERNEL_IMAGE_SIZE // PMD_SIZE):
        phys = i * PMD_SIZE
        if phys < text or phys > end:
            continue
        l2[i] = pfn_pte(phys >> PAGE_SHIFT, PAGE_KERNEL_LARGE_EXEC)


def vmemmap_populate(m, st) -> None:
    """2 MiB pages of struct page per present section (vmemmap_populate_hugepages);
    their table pages come from memblock above 16 MiB."""
    base = next(b for b, e, lab in m.memblock.reserved.regions if lab == "mem_map")
    pgd = pt_entries(m, m.init_mm.pgd)
    chunk = PAGES_PER_SECTION * STRUCT_PAGE_SIZE          # 2 MiB per section

    def early_table():
        a = m.memblock.memblock_alloc(PAGE_SIZE, PAGE_SIZE, "vmemmap", min_addr=16 << 20)
        pfn = a >> PAGE_SHIFT
        m.page_contents.pop(pfn, None)
        pt_entries(m, pfn)
        st.tables.append(pfn)
        return pfn

    for n, sec in enumerate(present_sections(m.memblock)):
        start = VMEMMAP_START + sec * chunk
        for va in range(start, start + chunk, PMD_SIZE):
            gi = (va >> 39) & 511
            if not pgd[gi]:
                pgd[gi] = (early_table() << PAGE_SHIFT) | _PAGE_TABLE
            pud = pt_entries(m, (pgd[gi] & PTE_PFN_MASK) >> PAGE_SHIFT)
            ui = (va >> 30) & 511
            if not pud[ui]:
                pud[ui] = (early_table() << PAGE_SHIFT) | _PAGE_TABLE
            pmd = pt_entries(m, (pud[ui] & PTE_PFN_MASK) >> PAGE_SHIFT)
            mi = (va >> 21) & 511
            if not pmd[mi]:
                phys = base + n * chunk + (va - start)
                pmd[mi] = pfn_pte(phys >> PAGE_SHIFT, PAGE_KERNEL_LARGE)


def present_sections(mb) -> list:
    """The memory sections memblock has RAM in (mm/sparse.c memory_present), sorted."""
    secs = set()
    shift = PAGE_SHIFT + (PAGES_PER_SECTION.bit_length() - 1)
    for b, e, _ in mb.memory.regions:
        for s in range(b >> shift, ((e - 1) >> shift) + 1):
            secs.add(s)
    return sorted(secs)


def paging_init_early(m) -> None:
    """Build the kernel page tables at boot (the setup_arch hook point)."""
    m.pgtables = {}
    m.pgd_list = {}
    m.tlb_single_page_flush_ceiling = 33
    t = _image_tables(m)
    m.kernel_pgt = t
    init_mm = MmStruct()
    init_mm.pgd = t["init_level4_pgt"]
    init_mm.mm_users = 2
    init_mm.mm_count = 1 + m.nr_cpus          # each idle task holds one (cpu_init)
    init_mm.machine = m
    init_mm.cpu_vm_mask = set()
    m.init_mm = init_mm
    m.swapper_pg_dir = init_mm.pgd
    setup_high_mapping(m, t)
    st = MapState()
    b, e = m.kernel_sections["brk"]
    st.pgt_buf_end = b >> PAGE_SHIFT
    st.pgt_buf_top = (b + INIT_PGT_BUF_SIZE) >> PAGE_SHIFT
    m.direct_pages_count[:] = [0, 0, 0, 0]
    init_mem_mapping(m, st)
    vmemmap_populate(m, st)
    m.boot_pgtables = list(t.values()) + st.tables


def sync_global_pgds(m, start: int, end: int, removed: bool = False) -> None:
    """Copy new kernel PGD entries of [start, end] from swapper_pg_dir into every pgd on
    pgd_list (each mm has its own copy of the kernel half: SHARED_KERNEL_PMD = 0)."""
    ref = pt_entries(m, m.init_mm.pgd)
    addr = start
    while addr <= end:
        i = (addr >> 39) & 511
        r = ref[i]
        if r:
            for pgd_pfn in m.pgd_list:
                tab = pt_entries(m, pgd_pfn)
                if tab[i] and (tab[i] & PTE_PFN_MASK) != (r & PTE_PFN_MASK):
                    raise KernelBug(f"sync_global_pgds: pgd {pgd_pfn:#x} entry {i} points "
                                    f"elsewhere than swapper_pg_dir")
                if removed:
                    continue
                if not tab[i]:
                    tab[i] = r
        addr += PGDIR_SIZE
