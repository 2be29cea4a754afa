"""Random alloc/free/shrink sequences over several caches and CPUs keep every SLUB invariant
(m.check after each step) and end with every slab given back."""

from hypothesis import given, settings, strategies as st

import linuxvm as lv

CACHES = ["kmalloc-8", "kmalloc-96", "kmalloc-1024", "vm_area_struct", "task_struct", "demo"]

ops = st.lists(st.one_of(
    st.tuples(st.just("alloc"), st.sampled_from(CACHES), st.integers(0, 2), st.integers(1, 40)),
    st.tuples(st.just("free"), st.integers(0, 10 ** 6), st.integers(0, 2), st.integers(1, 40)),
    st.tuples(st.just("kmalloc"), st.integers(0, 9000), st.integers(0, 2), st.integers(1, 5)),
    st.tuples(st.just("shrink"), st.sampled_from(CACHES), st.just(0), st.just(0)),
), min_size=1, max_size=25)


@settings(max_examples=20, deadline=None)
@given(ops=ops, debug=st.booleans())
def test_random_alloc_free(ops, debug):
    m = lv.Machine(ram="128M", cpus=3, cmdline="slub_debug=FZPU,kmalloc-9" if debug else "")
    m.kernel.kmem_cache_create("demo", 1000)
    live = []                                     # (cache name or None for kmalloc, address)
    for op, arg, cpu, count in ops:
        if op == "alloc":
            for _ in range(count):
                live.append((arg, m.kernel.kmem_cache_alloc(arg, cpu=cpu)))
        elif op == "kmalloc":
            for _ in range(count):
                live.append((None, m.kernel.kmalloc(arg, cpu=cpu)))
        elif op == "free":
            for _ in range(min(count, len(live))):
                name, addr = live.pop(arg % len(live))
                if name is None:
                    m.kernel.kfree(addr, cpu=cpu)
                else:
                    m.kernel.kmem_cache_free(name, addr, cpu=cpu)
                arg = arg * 31 + 7
        else:
            m.kernel.kmem_cache_shrink(arg)
        m.check()
    for name, addr in live:
        if name is None:
            m.kernel.kfree(addr)
        else:
            m.kernel.kmem_cache_free(name, addr)
    m.slab.shrink_all()
    m.check()
    for name in CACHES:
        assert m.proc.read(f"/sys/kernel/slab/{name}/slabs") == "0\n"
    assert not any("BUG" in l for l in m.dmesg())
