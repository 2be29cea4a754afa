"""munmap through the process façade: TLB flushes and page-table freeing as 4.6 does them
(kept apart from test_pgtable.py, whose tests zap PTEs without the page side)."""

import pytest

import linuxvm as lv
from linuxvm.include.vm_event_item import VM_EVENT


def ev(m, name):
    return m.pgdat.vm_events[VM_EVENT[name]]


@pytest.mark.parametrize("pages,lone,invlpg,full", [
    # munmap the middle of a 128-page mapping: the page tables stay
    (10, False, 10, 0),
    (33, False, 33, 0),
    (40, False, 0, 1),
    # a lone 10-page mapping: free_pgtables frees its tables, and pmd/pud_free_tlb widen the
    # gathered range down to the 1 GiB / 512 GiB line, so the flush is a full one
    (10, True, 0, 1),
])
def test_munmap_flushes_like_46(pages, lone, invlpg, full):
    """Reference §2.7: a 10-page munmap issues 10 INVLPGs, a 40-page one (> 33) one full
    flush. Runs through the process façade: mmap, touch, munmap."""
    m = lv.Machine(ram="512M", cpus=2, seed=0)
    p = m.spawn("prog")
    size = pages if lone else 128
    a = p.mmap(None, size << 12, 3, 0x22)             # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
    p.touch(a, size << 12, write=True)
    m.check()
    cpu = m.cpus[0]
    o, f = ev(m, "nr_tlb_local_flush_one"), ev(m, "nr_tlb_local_flush_all")
    ones, fulls = cpu.tlb.flush_one, cpu.tlb.flush_full
    start = a if lone else a + (16 << 12)
    p.munmap(start, pages << 12)
    assert ev(m, "nr_tlb_local_flush_one") - o == invlpg
    assert ev(m, "nr_tlb_local_flush_all") - f == full
    assert (cpu.tlb.flush_one - ones, cpu.tlb.flush_full - fulls) == (invlpg, full)
    assert p.mm.nr_ptes == (0 if lone else 1 + ((a + (size << 12) - 1) >> 21) - (a >> 21))
    m.check()
