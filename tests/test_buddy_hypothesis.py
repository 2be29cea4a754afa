"""Random alloc/free sequences: invariants after every step, all memory back at the end."""

from hypothesis import given, settings, strategies as st, HealthCheck

import linuxvm as lv
from linuxvm.mm.mmzone import MAX_ORDER

GFPS = ["GFP_KERNEL", "GFP_HIGHUSER_MOVABLE", "GFP_TEMPORARY", "GFP_ATOMIC", "GFP_DMA",
        "GFP_DMA32|__GFP_COLD", "GFP_KERNEL|__GFP_COMP|__GFP_ZERO", "GFP_NOWAIT|__GFP_NOWARN"]
CPUS = 3

alloc = st.tuples(st.just("alloc"), st.integers(0, MAX_ORDER - 1), st.sampled_from(GFPS),
                  st.integers(0, CPUS - 1), st.integers(1, 40))
free = st.tuples(st.just("free"), st.integers(0, 10 ** 6), st.integers(0, CPUS - 1))
drain = st.tuples(st.just("drain"))
ops = st.lists(st.one_of(alloc, alloc, free, free, drain), min_size=1, max_size=40)


def boot():
    m = lv.Machine(ram="128M", cpus=CPUS, seed=0)
    m.kernel.drain_all_pages()
    return m, m.nr_free_pages()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_random_alloc_free_sequences(seq):
    m, boot_free = boot()
    held = []                                      # (pfn, order)
    for op in seq:
        if op[0] == "alloc":
            _, order, gfp, cpu, count = op
            # small orders come in runs so the pcp lists fill, drain and refill
            for _ in range(count if order < 3 else 1):
                pfn = m.kernel.alloc_pages(gfp + "|__GFP_NOWARN", order, cpu=cpu)
                if pfn is None:
                    break
                assert pfn % (1 << order) == 0
                assert all(not (p <= pfn < p + (1 << o) or pfn <= p < pfn + (1 << order))
                           for p, o in held)
                held.append((pfn, order))
        elif op[0] == "free" and held:
            pfn, order = held.pop(op[1] % len(held))
            m.kernel.free_pages(pfn, order, cpu=op[2])
        elif op[0] == "drain":
            m.kernel.drain_all_pages()
        m.check()
    for pfn, order in held:
        m.kernel.free_pages(pfn, order)
    m.check()
    m.kernel.drain_all_pages()
    m.check()
    assert m.nr_free_pages() == boot_free
    assert all(ps.pcp.count == 0 for z in m.zones for ps in z.pageset)


def test_long_seeded_sequence():
    """One long run driven by the machine's own rng (seeded): 1500 steps."""
    m, boot_free = boot()
    rng = m.rng
    held = []
    for _ in range(1500):
        r = rng.random()
        if r < 0.55 or not held:
            order = min(rng.choice([0, 0, 0, 0, 1, 2, 3, 4, 6, 9, 10]), MAX_ORDER - 1)
            pfn = m.kernel.alloc_pages(rng.choice(GFPS) + "|__GFP_NOWARN", order,
                                       cpu=rng.randrange(CPUS))
            if pfn is not None:
                held.append((pfn, order))
        elif r < 0.98:
            pfn, order = held.pop(rng.randrange(len(held)))
            m.kernel.free_pages(pfn, order, cpu=rng.randrange(CPUS))
        else:
            m.kernel.drain_all_pages()
        m.check()
    for pfn, order in held:
        m.kernel.free_pages(pfn, order)
    m.kernel.drain_all_pages()
    m.check()
    assert m.nr_free_pages() == boot_free
