"""/proc/PID/pagemap over a hugetlb VMA (fs/proc/task_mmu.c pagemap_hugetlb_range through
walk_hugetlb_range): entries only where the page-table path to the huge PMD exists, and
the entries after a skipped part move up, as 4.6's pagemap_read gives them."""

import struct

import linuxvm as lv

P = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
PM_SOFT_DIRTY = 1 << 55


def entries(m, p, addr, n):
    raw = m.proc.read_bytes(f"/proc/{p.pid}/pagemap", (addr >> 12) * 8, 8 * n)
    return list(struct.unpack(f"<{len(raw) // 8}Q", raw))


def test_hugetlb_vma_without_tables_is_skipped_and_later_entries_move_up():
    m = lv.Machine(ram="256M", aslr=False)
    p = m.spawn("h")
    h = p.mmap(0x40000000, 4 << 20, RW, ANON | lv.MAP_HUGETLB | lv.MAP_NORESERVE)
    b = p.mmap(0x40600000, 2 * P, RW, ANON)
    m.check()
    # no PUD entry covers the hugetlb VMA: huge_pte_offset is NULL, nothing is emitted,
    # so the read starts with the hole after it (zeros), then b's soft-dirty holes
    got = entries(m, p, h, 514)
    assert got[:512] == [0] * 512
    assert got[512:] == [PM_SOFT_DIRTY, PM_SOFT_DIRTY]
    m.check()


def test_hugetlb_vma_with_tables_reads_soft_dirty_holes():
    m = lv.Machine(ram="256M", aslr=False)
    p = m.spawn("h")
    h = p.mmap(0x40000000, 4 << 20, RW, ANON | lv.MAP_HUGETLB | lv.MAP_NORESERVE)
    b = p.mmap(0x40600000, 2 * P, RW, ANON)
    p.write(b, b"y")                  # builds the PUD entry and PMD table of this GiB
    m.check()
    assert entries(m, p, h, 2) == [PM_SOFT_DIRTY, PM_SOFT_DIRTY]
    try:
        p.write(h, b"z")              # nr_hugepages is 0: SIGBUS
    except lv.BusError:
        pass
    assert entries(m, p, h + (2 << 20), 1) == [PM_SOFT_DIRTY]
    m.check()
