import pytest

import linuxvm as lv
from linuxvm.include.vm_event_item import NR_FREE_PAGES


@pytest.mark.parametrize("ram,zones", [("512M", ["DMA", "DMA32"]),
                                       ("4G", ["DMA", "DMA32", "Normal"])])
def test_boot_zones(ram, zones):
    m = lv.Machine(ram=ram, cpus=2)
    m.check()
    assert [z.name for z in m.zones if z.present_pages] == zones
    dma = m.zones[0]
    # pfn 0 is reserved by trim_bios_range; 640K-1M is not RAM
    assert dma.zone_start_pfn == 1 and dma.spanned_pages == 4095
    assert dma.present_pages == 3998
    for z in m.zones:
        assert z.managed_pages <= z.present_pages <= z.spanned_pages


def test_pci_hole_remaps_ram_above_4g():
    m = lv.Machine(ram="4G", cpus=1)
    normal = m.zones[2]
    assert normal.zone_start_pfn == 1 << 20
    assert normal.present_pages == (1 << 30) >> 12       # the GiB above 3 GiB
    assert m.max_pfn == (5 << 30) >> 12
    assert not m.pfn_valid((3 << 30 >> 12) + 10)          # inside the PCI hole
    m.check()


@pytest.mark.parametrize("bad", ["12Q", "-1", "abc", "", "1.5G"])
def test_bad_ram_sizes(bad):
    with pytest.raises(ValueError):
        lv.Machine(ram=bad)


def test_ram_too_small():
    with pytest.raises(ValueError, match="too small"):
        lv.Machine(ram="16M")


def test_boot_is_deterministic():
    a = lv.Machine(ram="1G", cpus=2, seed=3)
    b = lv.Machine(ram="1G", cpus=2, seed=3)
    assert a.dmesg() == b.dmesg()
    assert (a.mem_map.lru_next == b.mem_map.lru_next).all()


def test_memory_line_adds_up():
    m = lv.Machine(ram="1G", cpus=2)
    line = next(l for l in m.dmesg() if "Memory:" in l)
    avail, total = line.split("Memory: ")[1].split(" ")[0].split("/")
    assert int(total[:-1]) == m.pgdat.node_present_pages * 4
    # reserved in the line is present minus managed at that time (init not yet freed)
    reserved = int(line.split("bss, ")[1].split("K")[0])
    init_kb = 1512
    assert reserved == (m.pgdat.node_present_pages - m.totalram_pages()) * 4 + init_kb


def test_thp_raises_min_free_kbytes():
    m = lv.Machine(ram="4G", cpus=1, thp="always")
    # 512 pages per pageblock x 3 zones x (2 + 3*3), in kB
    assert m.sysctl["vm.min_free_kbytes"] == 512 * 3 * 11 * 4
    assert any("raising min_free_kbytes" in l for l in m.dmesg()) is False  # user value unset
    n = lv.Machine(ram="4G", cpus=1, thp="never")
    assert n.sysctl["vm.min_free_kbytes"] == 8192 or n.sysctl["vm.min_free_kbytes"] < 16896 * 4
