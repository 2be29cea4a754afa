"""free_pgtables under random layouts: neighbours keep their tables, the gap loses its own."""

from hypothesis import given, settings, strategies as st, HealthCheck

import linuxvm as lv
from linuxvm.arch.x86 import pgtable as P
from linuxvm.arch.x86.page_types import PMD_SIZE
from linuxvm.mm import memory
from tests.test_pgtable import new_mm, Vma, pfn_pte

SLOT = 0x80000            # VMAs start on 512 KiB slots: several share a 2 MiB PTE page
BASE = 0x7F0000000000 - 64 * SLOT


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(slots=st.sets(st.integers(0, 127), min_size=1, max_size=12), victim=st.integers(0, 11),
       spread=st.sampled_from([1, 4096]))
def test_free_pgtables_keeps_neighbours(slots, victim, spread):
    m = lv.Machine(ram="256M", cpus=1)
    mm = new_mm(m)
    vmas = []
    for s in sorted(slots):
        start = BASE + s * SLOT * spread          # spread 4096: 2 GiB apart (PUD/PMD pages too)
        v = Vma(mm, start, start + 0x2000)
        for a in (v.vm_start, v.vm_start + 0x1000):
            P.set_entry(m, memory.pte_alloc_map(m, mm, a), pfn_pte(0x100, P.PAGE_READONLY))
        vmas.append(v)
    m.check()
    i = victim % len(vmas)
    v = vmas[i]
    prev = vmas[i - 1] if i else None
    nxt = vmas[i + 1] if i + 1 < len(vmas) else None
    floor = prev.vm_end if prev else 0
    ceiling = nxt.vm_start if nxt else 0
    tlb = memory.tlb_gather_mmu(m, mm, v.vm_start, v.vm_end)
    memory.unmap_vmas(tlb, v, v.vm_start, v.vm_end)
    memory.free_pgtables(tlb, [v], floor, ceiling)
    memory.tlb_finish_mmu(tlb)
    m.check()
    for w in vmas:
        if w is not v:                             # neighbours untouched
            assert memory.walk(mm, w.vm_start)[0] == "pte"
            assert P.pte_pfn(memory.walk(mm, w.vm_start)[1]) == 0x100
    # the victim's 2 MiB region keeps a PTE page only if a neighbour shares it
    region = v.vm_start & ~(PMD_SIZE - 1)
    shared = any(w is not v and w.vm_start < region + PMD_SIZE and w.vm_end > region
                 for w in vmas)
    assert (memory.walk(mm, v.vm_start)[0] == "pte") == shared
