"""Issue 11: states 4.6 allows pass m.check(), and fork, mremap, mlock, msync answer as
4.6 does (the invariant checker checks what CONFIG_DEBUG_VM checks, not "could merge")."""

import errno

import pytest

import linuxvm as lv
from _proc import meminfo
from _vm import P, R, RW, ANON, BASE, machine, proc, layout, fixed, errno_of
from linuxvm.helpers.vtop import vtop
from linuxvm.include import mm as F
from linuxvm.mm.page import PG_lru, PG_mlocked, PG_unevictable

GROWSDOWN = 0x0100


def status(m, p, field):
    for line in m.proc.read(f"/proc/{p.pid}/status").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


# -- 1. neighbours 4.6 leaves unmerged are not a bug --------------------------------------

def test_failed_mprotect_keeps_its_split():
    #   AAA           one RW mapping, max_map_count 2
    #   A|AA          mprotect(1, 1, R): the first split succeeds, the second hits the
    #                 limit (ENOMEM) and 4.6 leaves the first split in place
    m = machine()
    p = proc(m)
    fixed(p, 0, 3)
    m.sysctl["vm.max_map_count"] = 2
    assert errno_of(p.mprotect, BASE + P, P, R) == errno.ENOMEM
    m.check()
    assert layout(p) == [(0, 1, "rw-"), (1, 3, "rw-")]


def test_fault_after_munlock_gives_the_left_vma_its_neighbours_anon_vma():
    #   AAA → ALA (mlock populates L: it gets an anon_vma) → A|A|A (munlock: A has no
    #   anon_vma, so merging A and L is allowed... but L's neighbour to the right was
    #   merged first) → a fault in the left VMA reuses the neighbour's anon_vma
    m = machine()
    p = proc(m)
    a = fixed(p, 0, 3)
    p.mlock(a + P, P)
    m.check()
    p.munlock(a + P, P)
    m.check()
    p.write(a, b"x")
    m.check()
    assert p.read(a, 1) == b"x"


def test_stack_growth_up_to_a_growsdown_neighbour():
    #   S.TT          two GROWSDOWN stacks one page apart
    #   STTT          the upper one grows down until it touches the lower one (and gets
    #                 its anon_vma first); expand_downwards does not merge
    #   STTT          a fault in the lower one then reuses the upper one's anon_vma: two
    #                 VMAs vma_merge would join, which 4.6 leaves apart
    m = machine()
    p = proc(m)
    top = 0x7FFF00000000
    p.mmap(top - 4 * P, P, RW, ANON | GROWSDOWN | lv.MAP_FIXED)
    p.mmap(top - 2 * P, 2 * P, RW, ANON | GROWSDOWN | lv.MAP_FIXED)
    m.check()
    p.sp = top - 3 * P
    p.write(top - 3 * P, b"s")
    m.check()
    p.write(top - 4 * P, b"t")
    m.check()
    # a fault on a stack's lowest page grows it by one more (check_stack_guard_page)
    assert layout(p, top - 4 * P, 4) == [(-1, 1, "rw-"), (1, 4, "rw-")]
    lower, upper = p.mm.mmap, p.mm.mmap.vm_next
    assert lower.anon_vma is upper.anon_vma is not None
    assert p.read(top - 4 * P, 1) == b"t" and p.read(top - 3 * P, 1) == b"s"


# -- 2. fork: the child's locked_vm starts at 0 ------------------------------------------

def test_fork_after_locked_vm_double_count():
    m = machine()
    p = proc(m)
    a = fixed(p, 0, 4)
    p.mlock2(a, 4 * P, lv.MLOCK_ONFAULT)
    m.check()
    p.mlock(a, 4 * P)                       # 4.6 counts the range again (fixed in 5.4)
    m.check()
    assert p.mm.locked_vm == 8 and status(m, p, "VmLck") == 32
    c = p.fork()
    m.check()
    assert c.mm.locked_vm == 0 and status(m, c, "VmLck") == 0
    assert not c.mm.mmap.vm_flags & F.VM_LOCKED
    c.mlock(a, 2 * P)
    m.check()
    c.munlock(a, 4 * P)
    m.check()
    assert c.mm.locked_vm == 0
    p.munlock(a, 4 * P)
    m.check()
    assert p.mm.locked_vm == 4               # the extra count is never taken back
    p.munmap(a, 4 * P)
    m.check()


def test_fork_clears_vm_locked_leaving_alike_neighbours():
    #   parent: LA (L locked)     child: AA, two VMAs 4.6 does not merge
    m = machine()
    p = proc(m)
    a = fixed(p, 0, 2)
    p.mlock(a, P)
    m.check()
    c = p.fork()
    m.check()
    assert layout(c) == [(0, 1, "rw-"), (1, 2, "rw-")]
    c.exit()
    m.check()


# -- 3. MCL_FUTURE is not inherited -------------------------------------------------------

def test_mcl_future_not_inherited_across_fork():
    m = machine()
    p = proc(m, uid=0)
    p.mlockall(lv.MCL_FUTURE)
    m.check()
    c = p.fork()
    m.check()
    assert c.mm.def_flags == 0 and p.mm.def_flags & F.VM_LOCKED
    c.mmap(None, 4 * P, RW, ANON)
    m.check()
    assert status(m, c, "VmLck") == 0
    p.mmap(None, 4 * P, RW, ANON)
    m.check()
    assert status(m, p, "VmLck") == 16


# -- 4. mremap keeps VM_MERGEABLE -----------------------------------------------------------

def test_mremap_move_keeps_vm_mergeable():
    m = machine()
    p = proc(m)
    a = fixed(p, 0, 4)
    p.madvise(a, 4 * P, lv.MADV_MERGEABLE)
    m.check()
    b = p.mremap(a + P, P, P, lv.MREMAP_MAYMOVE | lv.MREMAP_FIXED, BASE + 32 * P)
    m.check()
    assert b == BASE + 32 * P
    v = p.mm.mmap
    while v is not None:
        assert v.vm_flags & F.VM_MERGEABLE, v
        v = v.vm_next
    assert " mg" in m.proc.read(f"/proc/{p.pid}/smaps")


# -- 5. lengths that wrap ------------------------------------------------------------------

@pytest.mark.parametrize("call", ["mlock", "munlock", "mlock2", "msync"])
def test_length_minus_one_rounds_to_zero(call):
    m = machine()
    p = proc(m)
    a = fixed(p, 0, 4)
    args = {"mlock2": (0,), "msync": (lv.MS_ASYNC,)}.get(call, ())
    assert getattr(p, call)(a, 2**64 - 1, *args) == 0
    m.check()
    if call != "msync":                 # msync wants a page-aligned start
        assert getattr(p, call)(a + 1, 2**64 - 1, *args) == 0
        m.check()
    assert p.mm.locked_vm == 0 and p.mm.map_count == 1


def test_mlock_length_past_the_end_of_the_address_space():
    m = machine()
    root = proc(m, uid=0)
    a = fixed(root, 0, 4)
    # CAP_IPC_LOCK skips the limit; start + len wraps: EINVAL
    assert errno_of(root.mlock, a, 2**64 - P) == errno.EINVAL
    assert errno_of(root.munlock, a, 2**64 - P) == errno.EINVAL
    m.check()
    user = proc(m)
    b = fixed(user, 0, 4)
    assert errno_of(user.mlock, b, 2**64 - P) == errno.ENOMEM     # over RLIMIT_MEMLOCK
    assert errno_of(user.msync, b, 2**64 - P, 0) == errno.ENOMEM
    m.check()


def test_msync_on_an_unaligned_start_still_einval():
    m = machine()
    p = proc(m)
    a = fixed(p, 0, 4)
    assert errno_of(p.msync, a + 1, 2**64 - 1, 0) == errno.EINVAL
    m.check()


# -- 6. munlock puts pages straight back on the LRU -----------------------------------------

def _pfns(p, a, n):
    return [vtop(p.mm, a + i * P).pfn for i in range(n)]


def test_munlock_puts_pages_back_on_the_lru_at_once():
    m = machine()
    p = proc(m, uid=0)
    a = p.mmap(None, 64 * P, RW, ANON)
    p.touch(a, 64 * P, write=True)
    m.check()
    p.mlock(a, 64 * P)
    m.check()
    pfns = _pfns(p, a, 64)
    f = m.mem_map.f
    assert all(f[x] & (1 << PG_mlocked) and f[x] & (1 << PG_unevictable) for x in pfns)
    assert meminfo(m, "Mlocked") == 256
    locked_inactive = meminfo(m, "Inactive(anon)")
    p.munlock(a, 64 * P)
    m.check()
    assert all(f[x] & (1 << PG_lru) for x in pfns)          # none left on a pagevec
    assert not any(f[x] & ((1 << PG_mlocked) | (1 << PG_unevictable)) for x in pfns)
    assert meminfo(m, "Mlocked") == 0 and meminfo(m, "Unevictable") == 0
    assert meminfo(m, "Inactive(anon)") == locked_inactive + 256
    assert not any(set(pfns) & set(pv) for pv in m.lru.lru_add_pvec)


def test_munlock_of_a_page_a_locked_child_still_maps():
    # mapcount 2: the slow path's rmap walk finds the child's VM_LOCKED mapping and the
    # page stays mlocked on the unevictable list (read-only, so mlock breaks no COW)
    m = machine()
    p = proc(m, uid=0)
    a = p.mmap(None, 16 * P, RW, ANON)
    p.touch(a, 16 * P, write=True)
    p.mprotect(a, 16 * P, R)
    c = p.fork()
    m.check()
    c.mlock(a, 16 * P)
    p.mlock(a, 16 * P)
    m.check()
    pfns = _pfns(p, a, 16)
    assert pfns == _pfns(c, a, 16)
    p.munlock(a, 16 * P)
    m.check()
    f = m.mem_map.f
    assert all(f[x] & (1 << PG_mlocked) and f[x] & (1 << PG_lru) for x in pfns)
    assert meminfo(m, "Mlocked") == 64
    c.munlock(a, 16 * P)
    m.check()
    assert meminfo(m, "Mlocked") == 0
    # mapped twice: the slow path's putback_lru_page goes through the per-CPU pagevec
    queued = {x for pv in m.lru.lru_add_pvec for x in pv}
    assert all(not f[x] & (1 << PG_mlocked) for x in pfns)
    assert all(bool(f[x] & (1 << PG_lru)) != (x in queued) for x in pfns)
    assert queued & set(pfns)
    c.exit()
    m.check()
    p.munmap(a, 16 * P)
    m.check()


def test_munmap_and_exit_munlock_in_batches_across_a_page_table():
    # 600 locked pages spanning a PMD boundary: munlock_vma_pages_range batches never
    # cross a page table; munmap and exit leave every frame accounted for
    m = machine()
    p = proc(m, uid=0)
    a = p.mmap(BASE + 0x200000 - 300 * P, 600 * P, RW, ANON | lv.MAP_FIXED | lv.MAP_LOCKED)
    m.check()
    assert meminfo(m, "Mlocked") == 2400
    p.munlock(a + 10 * P, 20 * P)
    m.check()
    assert meminfo(m, "Mlocked") == 2320
    p.munmap(a, 300 * P)
    m.check()
    assert meminfo(m, "Mlocked") == 1200
    c = p.fork()
    m.check()
    p.exit()
    m.check()
    assert meminfo(m, "Mlocked") == 0 and meminfo(m, "Unevictable") == 0
    c.exit()
    m.check()


def test_fork_of_an_all_dontfork_address_space():
    # the child links no VMA, so it keeps the parent's highest_vm_end until its first one
    m = machine()
    p = proc(m)
    a = p.mmap(None, 2 * P, RW, ANON)
    p.madvise(a, 2 * P, lv.MADV_DONTFORK)
    m.check()
    c = p.fork()
    m.check()
    assert c.mm.map_count == 0 and c.mm.highest_vm_end == p.mm.highest_vm_end
    b = c.mmap(None, P, RW, ANON)
    m.check()
    assert c.mm.highest_vm_end == b + P
    c.munmap(b, P)
    m.check()
    assert c.mm.highest_vm_end == 0
