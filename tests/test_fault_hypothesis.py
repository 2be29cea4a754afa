"""Random sequences of mmap/munmap/mprotect/mremap/fork/exit/read/write (issue 5):
m.check() after every step, contents checked against an oracle, no frame leaked."""

from hypothesis import given, settings, HealthCheck, strategies as st

import linuxvm as lv
from linuxvm.include.vm_event_item import NR_ANON_PAGES

PAGE = 4096
BASE = 0x600000000000          # a fixed arena so regions collide and split
SLOTS = 16                      # the arena is 16 pages

ops = st.lists(st.one_of(
    st.tuples(st.just("mmap"), st.integers(0, SLOTS - 1), st.integers(1, 6),
              st.sampled_from([1, 3])),
    st.tuples(st.just("munmap"), st.integers(0, SLOTS - 1), st.integers(1, 6)),
    st.tuples(st.just("mprotect"), st.integers(0, SLOTS - 1), st.integers(1, 6),
              st.sampled_from([0, 1, 3])),
    st.tuples(st.just("mremap"), st.integers(0, SLOTS - 1), st.integers(1, 4),
              st.integers(1, 6)),
    st.tuples(st.just("write"), st.integers(0, SLOTS - 1), st.integers(0, 255)),
    st.tuples(st.just("read"), st.integers(0, SLOTS - 1)),
    st.tuples(st.just("fork"),),
    st.tuples(st.just("exit"),),
    st.tuples(st.just("switch"),),
), min_size=1, max_size=25)


class Oracle:
    """What each page of a process should read back (None = zero)."""

    def __init__(self):
        self.pages = {}        # page index -> (prot, byte or None)

    def copy(self):
        o = Oracle()
        o.pages = dict(self.pages)
        return o


def _apply(m, procs, cur, op):
    p, orc = procs[cur]
    kind = op[0]
    if kind == "mmap":
        _, slot, n, prot = op
        n = min(n, SLOTS - slot)
        p.mmap(BASE + slot * PAGE, n * PAGE, prot, 0x22 | 0x10)         # MAP_FIXED
        for i in range(slot, slot + n):
            orc.pages[i] = (prot, None)
    elif kind == "munmap":
        _, slot, n = op
        p.munmap(BASE + slot * PAGE, n * PAGE)
        for i in range(slot, slot + n):
            orc.pages.pop(i, None)
    elif kind == "mprotect":
        _, slot, n, prot = op
        n = min(n, SLOTS - slot)
        if all(i in orc.pages for i in range(slot, slot + n)):
            p.mprotect(BASE + slot * PAGE, n * PAGE, prot)
            for i in range(slot, slot + n):
                orc.pages[i] = (prot, orc.pages[i][1])
    elif kind == "mremap":
        _, slot, old_n, new_n = op
        old_n = min(old_n, SLOTS - slot)
        new_n = min(new_n, SLOTS - slot)
        if all(i in orc.pages for i in range(slot, slot + old_n)) and \
                len({orc.pages[i][0] for i in range(slot, slot + old_n)}) == 1:
            try:
                new = p.mremap(BASE + slot * PAGE, old_n * PAGE, new_n * PAGE, 0)
            except lv.SyscallError:
                return                          # growing in place can fail: ENOMEM
            assert new == BASE + slot * PAGE
            prot = orc.pages[slot][0]
            for i in range(slot + new_n, slot + old_n):
                orc.pages.pop(i, None)
            for i in range(slot + old_n, slot + new_n):
                orc.pages[i] = (prot, None)
    elif kind == "write":
        _, slot, val = op
        ent = orc.pages.get(slot)
        try:
            p.write(BASE + slot * PAGE + 8, bytes([val]))
        except lv.SegmentationFault as e:
            assert ent is None or not ent[0] & 2
            assert e.code == (1 if ent is None else 2)
            return
        assert ent is not None and ent[0] & 2
        orc.pages[slot] = (ent[0], val)
    elif kind == "read":
        _, slot = op
        ent = orc.pages.get(slot)
        try:
            b = p.read(BASE + slot * PAGE + 8, 1)
        except lv.SegmentationFault:
            assert ent is None or not ent[0] & 1
            return
        assert ent is not None and ent[0] & 1
        assert b[0] == (ent[1] or 0)
    elif kind == "fork":
        if len(procs) < 4:
            procs.append((p.fork(), orc.copy()))
    elif kind == "exit":
        if len(procs) > 1:
            p.exit()
            procs.pop(cur)
    elif kind == "switch":
        procs.append(procs.pop(0))


def _verify_all(procs):
    for p, orc in procs:
        for i, (prot, val) in orc.pages.items():
            if prot & 1:
                assert p.read(BASE + i * PAGE + 8, 1)[0] == (val or 0), (p, i)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops)
def test_random_sequences_keep_invariants_and_contents(seq):
    m = lv.Machine(ram="256M", cpus=2, seed=3)
    procs = [(m.spawn("h"), Oracle())]
    for op in seq:
        try:
            _apply(m, procs, 0, op)
        except lv.SyscallError:
            pass
        m.check()
    _verify_all(procs)
    m.check()
    for p, _ in procs:
        p.exit()
        m.check()
    # let the lazily held mm go (the next task to run on CPU 0 drops it), then drain
    q = m.spawn("reap")
    q.touch(q.mmap(None, PAGE, 3, 0x22), PAGE, write=True)
    q.exit()
    m.kernel.drain_all_pages()
    m.check()
    assert m.global_page_state(NR_ANON_PAGES) == 0
    # no free frame keeps bytes (tails of compound pages have refcount 0: look at the head)
    mm = m.mem_map
    assert not [pfn for pfn in m.page_contents if mm.rc[mm.compound_head_pfn(pfn)] == 0]
