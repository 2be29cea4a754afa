"""The kernel's direct map: page sizes as 4.6 picks them, DirectMap accounting, __va/__pa."""

import pytest

import linuxvm as lv
from linuxvm.arch.x86 import pgtable as P
from linuxvm.arch.x86 import mmu
from linuxvm.arch.x86.init_64 import arch_report_meminfo, PG_LEVEL_4K, PG_LEVEL_2M, PG_LEVEL_1G
from linuxvm.arch.x86.page_types import PAGE_OFFSET, __va, __pa, KERNEL_PGD_BOUNDARY
from linuxvm.helpers import vtop


def direct_map_leaves(m):
    """[4K, 2M, 1G] leaves in the direct-map part of swapper_pg_dir."""
    n = [0, 0, 0]
    pgd = P.pt_entries(m, m.init_mm.pgd)
    for gi in range(KERNEL_PGD_BOUNDARY, KERNEL_PGD_BOUNDARY + 128):
        if not pgd[gi] & 1:
            continue
        pud = P.pt_array(m, P.pgd_pfn(pgd[gi]))
        for ue in pud.tolist():
            if not ue & 1:
                continue
            if ue & P._PAGE_PSE:
                n[2] += 1
                continue
            for me in P.pt_array(m, P.pud_pfn(ue)).tolist():
                if not me & 1:
                    continue
                if me & P._PAGE_PSE:
                    n[1] += 1
                else:
                    n[0] += int((P.pt_array(m, P.pmd_pfn(me)) & 1).sum())
    return n


# ram, cmdline -> DirectMap kB (4k, 2M, 1G or None when the line is absent)
CASES = [
    ("1G", "", (3968, 1044480, 0)),
    ("1G", "nogbpages", (3968, 1044480, None)),
    ("4G", "nogbpages", (3968, 4190208, None)),
    ("4G", "", (3968, 2093056, 5 << 20)),
    ("16G", "nogbpages", (3968, 16773120, None)),
    ("16G", "", (3968, 2093056, 17 << 20)),
]


@pytest.mark.parametrize("ram,cmdline,want", CASES)
def test_directmap_lines(ram, cmdline, want):
    m = lv.Machine(ram=ram, cpus=1, cmdline=cmdline)
    m.check()
    text = arch_report_meminfo(m)
    assert text in m.proc.read("/proc/meminfo")            # /proc/meminfo ends with these lines
    k4, m2, g1 = want
    assert f"DirectMap4k:    {k4:8d} kB\n" in text
    assert f"DirectMap2M:    {m2:8d} kB\n" in text
    if g1 is None:
        assert "DirectMap1G" not in text
    else:
        assert f"DirectMap1G:    {g1:8d} kB\n" in text
    assert ("Using GB pages for direct mapping" in "\n".join(m.dmesg())) == (cmdline == "")
    leaves = direct_map_leaves(m)
    c = m.direct_pages_count
    # 4K and 2M pages are each counted once; a 1 GiB page met again by a later step of
    # memory_map_top_down is counted again ("if (!after_bootmem) pages++" in phys_pud_init)
    assert (leaves[0], leaves[1]) == (c[PG_LEVEL_4K], c[PG_LEVEL_2M])
    assert leaves[2] <= c[PG_LEVEL_1G]
    # every byte of RAM is mapped, and nothing in the PCI hole
    mapped = (leaves[0] << 12) + (leaves[1] << 21) + (leaves[2] << 30)
    ram_bytes = sum(e - s for s, e, t in m.e820 if t == 1)
    assert mapped >= ram_bytes
    if ram != "1G":
        with pytest.raises(mmu.PageFault):
            mmu.translate(m.cpus[0], __va(0xC0000000))     # the PCI hole is not mapped


def test_va_pa_round_trips(m):
    cpu = m.cpus[0]
    for pfn in [1, 0x100, 0x1000, m.max_pfn - 1]:
        va = P.page_address(pfn)
        assert P.virt_to_page(va) == pfn and __pa(va) == pfn << 12 and __va(pfn << 12) == va
        assert mmu.translate(cpu, va + 0x10) == (pfn << 12) + 0x10
        assert P.virt_addr_valid(m, va)
    assert __pa(0xFFFFFFFF81000000) == 0x1000000
    assert mmu.translate(cpu, 0xFFFFFFFF81000000) == 0x1000000        # kernel text
    assert not P.virt_addr_valid(m, PAGE_OFFSET + (m.max_pfn << 12) + (1 << 30))


def test_vmemmap_maps_mem_map(m):
    cpu = m.cpus[0]
    base = next(b for b, e, lab in m.memblock.reserved.regions if lab == "mem_map")
    assert mmu.translate(cpu, 0xFFFFEA0000000000) == base
    assert mmu.translate(cpu, 0xFFFFEA0000000000 + 64 * 1000) == base + 64000


def test_vtop_shows_each_level(m):
    r = vtop(m.init_mm, PAGE_OFFSET + 0x1000)
    assert r.phys == 0x1000 and [s[0] for s in r.steps] == ["PGD", "PUD", "PMD", "PTE"]
    text = str(r)
    assert "GLOBAL|NX" in text and "flags: 0x400(reserved)" in text
    r = vtop(m.init_mm, 0xFFFFC90000000000)
    assert r.phys is None and "not mapped" in str(r)


def test_kernel_page_tables_file(m):
    text = m.proc.read("/sys/kernel/debug/kernel_page_tables")
    assert text.startswith("---[ User Space ]---\n0x0000000000000000-0xffff800000000000"
                           "    16777088T                               pgd\n")
    assert "---[ Low Kernel Mapping ]---\n0xffff880000000000-0xffff880000200000" \
           "           2M     RW                 GLB NX pte\n" in text
    assert "RW         PSE     GLB x  pmd" in text            # kernel text, 2 MiB, executable
    assert text.endswith("pmd\n")


def test_no_6x_page_tables_dir(m):
    # 6.x: /sys/kernel/debug/page_tables/kernel; 4.6 has only kernel_page_tables
    with pytest.raises(FileNotFoundError):
        m.proc.read("/sys/kernel/debug/page_tables/kernel")


def test_cli_vtop_and_ptdump(capsys):
    from linuxvm.cli import main
    assert main(["vtop", "0xffff880000001000", "--ram", "256M", "--cpus", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# linuxvm: ram=256M cpus=1 seed=0")
    assert "ffff880000001000  1000\n" in out and "  PTE: " in out
    assert main(["ptdump", "--ram", "256M", "--cpus", "1", "--user", "64K"]) == 0
    out = capsys.readouterr().out
    assert "          64K USR RW                     NX pte\n" in out
    assert main(["vtop", "nonsense", "--ram", "256M"]) == 2
    assert "not an address" in capsys.readouterr().err
