"""Scenarios compared with the live kernel: address-space shapes (issue 4) and faults (issue 5).

Each scenario is data (the step vocabulary is in scenario.py). Pictures show the
layout top-down the way mmap places it: the anchor page ``^`` is highest, each
new region lands directly below the previous one; one letter per page.

Adding one: append ``M(name, steps…)`` (shapes, VM sizes and results only: needs just
the address-space calls) or ``S(name, steps…, expect=[(label, {field: delta})])`` (also
faults, RSS, page tables and pagemap) to a list below, or make a new list and pass it to
``harness.scenario_tests`` in a test module. Run the live half first
(``-m "not live"``); where the live kernel is not 4.6, declare the difference with
``Dev(name, key, live_value_from_model_value)`` and describe ``name`` in
docs/deviations.md under "Live kernel comparison".
"""

from .scenario import (PG, Dev, Scenario, alias, brk, child, exit_, fill, fork, forget,
                      madvise, mlock, mmap, mprotect, mremap, munlock, munmap, snapshot,
                      touch, touch_sp, verify)

MiB, GiB = 1 << 20, 1 << 30


def S(name, *steps, doc="", devs=(), pud_tables=(), expect=(), kind="faults", differs=""):
    return Scenario(name, tuple(steps), doc, tuple(devs), tuple(pud_tables),
                    tuple((k, v) for k, v in expect), kind, differs)


def M(name, *steps, doc="", devs=()):
    return S(name, *steps, doc=doc, devs=devs, kind="maps")


def shift_gd_start(pages):
    """Live shape = model shape with the grows-down VMA starting ``pages`` lower."""
    def f(shape):
        return [(k, s - pages * PG, e, p) if k == "gd" else (k, s, e, p) for k, s, e, p in shape]
    return f


def plus(n):
    return lambda v: v + n


def swap(model_46, live_6x):
    """Live must show ``live_6x`` where the model shows exactly 4.6's ``model_46``."""
    return lambda v: live_6x if v == model_46 else ("model is not 4.6", v, "expected", model_46)


# -- issue 4: shapes of /proc/PID/maps -----------------------------------------------------

MAPS = [
    M("adjacent_mmaps_merge",
      #   ^ba     b lands directly below a and merges with it: one VMA
      mmap("a", PG), mmap("b", PG), snapshot("both")),
    M("different_prots_no_merge",
      #   ^abc    rw, r, rwx: three VMAs
      mmap("a", 2 * PG), mmap("b", 2 * PG, "r"), mmap("c", 2 * PG, "rwx"), snapshot("three")),
    M("munmap_middle_page",
      #   ^AAA -> ^A.A
      mmap("a", 3 * PG), munmap("a", PG, PG), snapshot("hole")),
    M("munmap_head_and_tail",
      mmap("a", 4 * PG), munmap("a", 0, PG), snapshot("head"), munmap("a", 3 * PG, PG),
      snapshot("tail")),
    M("mprotect_middle_split_then_merge",
      #   AAAAAAAAA -> AAABBBAAA -> AAAAAAAAA
      mmap("a", 9 * PG), mprotect("a", 3 * PG, 3 * PG, "r"), snapshot("split"),
      mprotect("a", 3 * PG, 3 * PG, "rw"), snapshot("merged")),
    M("mprotect_whole_vma",
      mmap("a", 4 * PG), mprotect("a", 0, 4 * PG, "r"), snapshot("ro")),
    M("mprotect_readonly_next_to_readonly",
      #   ^aabb: b (below) becomes r like a. 4.6 keeps b's VM_ACCOUNT, so the two stay
      #   apart; 6.x drops VM_ACCOUNT of an unpopulated anonymous VMA and merges them.
      mmap("a", 2 * PG, "r"), mmap("b", 2 * PG), snapshot("two"),
      mprotect("b", 0, 2 * PG, "r"), snapshot("one"),
      devs=[Dev("mprotect_ro_drops_vm_account", ("maps", "one"),
                swap([("anon", -16384, -8192, "r--p"), ("anon", -8192, 0, "r--p")],
                     [("anon", -16384, 0, "r--p")]))]),
    M("mprotect_hole_enomem",
      mmap("a", 2 * PG), munmap("a", PG, PG), mprotect("a", 0, 2 * PG, "r"), snapshot("after")),
    M("mprotect_none_middle",
      mmap("a", 4 * PG), mprotect("a", PG, 2 * PG, "none"), snapshot("none")),
    M("mremap_shrink",
      mmap("a", 8 * PG), mremap("a", 0, 8 * PG, 4 * PG, ""), snapshot("shrunk")),
    M("mremap_grow_in_place",
      #   BBBB.... -> BBBBBBBB (the upper half was unmapped first)
      mmap("a", 8 * PG), munmap("a", 4 * PG, 4 * PG), snapshot("half"),
      mremap("a", 0, 4 * PG, 8 * PG, ""), snapshot("grown")),
    M("mremap_grow_blocked_enomem",
      mmap("a", 4 * PG), mmap("b", 4 * PG, "r"),
      mremap("b", 0, 4 * PG, 8 * PG, ""), snapshot("after")),
    M("mremap_grow_maymove",
      mmap("a", 4 * PG), mmap("b", 4 * PG, "r"),
      mremap("b", 0, 4 * PG, 8 * PG, "maymove", new="b2"), snapshot("moved")),
    M("mremap_fixed",
      mmap("a", 4 * PG), mmap("t", 16 * PG, "r"),
      mremap("a", 0, 4 * PG, 4 * PG, "maymove|fixed", new="a2", at=("t", 4 * PG)),
      snapshot("fixed")),
    M("brk_grow_shrink",
      brk(3 * PG), snapshot("three"), brk(PG), snapshot("one"), brk(10 * PG), snapshot("ten"),
      brk(0), snapshot("none")),
    M("brk_blocked_by_mapping",
      #   heap HH.B     brk may not grow into B nor leave less than a page before it
      brk(2 * PG), mmap("b", PG, "r", "private|anon|fixed", at=("heap", 4 * PG)),
      snapshot("mapped"), brk(8 * PG), brk(4 * PG), snapshot("refused"), brk(3 * PG),
      snapshot("grown")),
    M("brk_unaligned",
      brk(100), snapshot("one_page"), brk(PG + 1), snapshot("two_pages")),
    M("mmap_fixed_over_middle",
      #   AAAAAAAA -> AABBAAAA
      mmap("a", 8 * PG), mmap("b", 2 * PG, "r", "private|anon|fixed", at=("a", 2 * PG)),
      snapshot("three")),
    M("mmap_hint_in_hole",
      mmap("a", 8 * PG), munmap("a", 2 * PG, 4 * PG),
      mmap("b", PG, "r", at=("a", 3 * PG)), snapshot("hinted")),
    M("mmap_hint_occupied",
      mmap("a", 4 * PG), mmap("b", PG, "r", at=("a", PG)), snapshot("elsewhere")),
    M("mlock_middle_then_munlock",
      #   ^aaaa -> ^aLLa (mlock populates L: it gets an anon_vma) -> munlock:
      #   4.6: aLLa stays three VMAs: is_mergeable_anon_vma refuses an anon_vma'd middle
      #        next to neighbours whose anon_vma_chain is empty;  6.x: merged back to one
      mmap("a", 4 * PG), mlock("a", PG, 2 * PG), snapshot("locked"),
      munlock("a", PG, 2 * PG), snapshot("unlocked"),
      devs=[Dev("anon_vma_blocks_merge_46", ("maps", "unlocked"),
                swap([("anon", -16384, -12288, "rw-p"), ("anon", -12288, -4096, "rw-p"),
                      ("anon", -4096, 0, "rw-p")],
                     [("anon", -16384, 0, "rw-p")]))]),
    M("map_locked",
      mmap("a", 2 * PG, "rw", "private|anon|locked"), snapshot("locked")),
    M("munmap_across_vmas",
      mmap("a", 2 * PG), mmap("b", 2 * PG, "r"), mmap("c", 2 * PG),
      munmap("c", PG, 3 * PG), snapshot("cut")),
    M("einval_paths",
      mmap("z", 0), mmap("a", 2 * PG), munmap("a", 100, PG), mprotect("a", 1, PG, "r"),
      snapshot("after")),
    M("hole_refilled_merges_three",
      #   ^abc -> ^a.c -> ^adc, all one VMA again
      mmap("a", PG), mmap("b", PG), mmap("c", PG), munmap("b", 0, PG), snapshot("hole"),
      mmap("d", PG), snapshot("refilled")),
    M("madvise_dontfork_splits",
      mmap("a", 4 * PG), madvise("a", PG, 2 * PG, "dontfork"), snapshot("split"),
      madvise("a", PG, 2 * PG, "dofork"), snapshot("merged")),
    M("mmap_below_growsdown",
      #   ^GGGGb      4.6: b directly below the grows-down G; a hint just below b is taken
      #   ^GGGG<1 MiB>b   6.x: stack_guard_gap keeps 256 pages free below G
      mmap("g", 4 * PG, "rw", "private|anon|growsdown"), mmap("b", PG), snapshot("below"),
      mmap("c", PG, "rw", "private|anon", at=("g", -2 * PG)), snapshot("hinted"),
      devs=[Dev("growsdown_guard_page+stack_guard_gap", ("maps", "below"),
                swap([("anon", -20480, -16384, "rw-p"), ("gd", -12288, 0, "rw-p")],
                     [("anon", -1069056, -1064960, "rw-p"), ("gd", -16384, 0, "rw-p")])),
            Dev("growsdown_guard_page+stack_guard_gap", ("maps", "hinted"),
                swap([("anon", -24576, -16384, "rw-p"), ("gd", -12288, 0, "rw-p")],
                     [("anon", -1073152, -1064960, "rw-p"), ("gd", -16384, 0, "rw-p")])),
            Dev("stack_guard_gap", ("result", len(Scenario.prologue("maps")) + 3),
                swap(("ok", 0), ("ok", -(1 << 20))))]),
    M("mmap_2mib_multiple_alignment",
      #   4.6: b (4 MiB) directly below a, merged with it, then c below both: one VMA.
      #   6.x: an anonymous mapping whose length is a multiple of 2 MiB starts on a
      #   2 MiB boundary; c then fills the hole just below a.
      mmap("a", PG), mmap("b", 4 * MiB), snapshot("aligned"), mmap("c", PG), snapshot("filled"),
      devs=[Dev("thp_aligned_anon_mmap", ("maps", "aligned"),
                swap([("anon", -4198400, 0, "rw-p")],
                     [("anon", -6250496, -2056192, "rw-p"), ("anon", -4096, 0, "rw-p")])),
            Dev("thp_aligned_anon_mmap", ("maps", "filled"),
                swap([("anon", -4202496, 0, "rw-p")],
                     [("anon", -6250496, -2056192, "rw-p"), ("anon", -8192, 0, "rw-p")]))]),
    M("mremap_shrink_then_regrow_merges",
      mmap("a", 8 * PG), mremap("a", 0, 8 * PG, 2 * PG, ""), snapshot("small"),
      mremap("a", 0, 2 * PG, 8 * PG, ""), snapshot("big")),
]

# -- issue 5: faults, RSS, page tables, pagemap ---------------------------------------------

E = dict


def _fork_setup(n=8):
    return (mmap("a", n * PG), touch("a", 0, n * PG, "w"), snapshot("written"), fork("c"))


def _growsdown_setup():
    # a 2 MiB hole below an 8-page grows-down region, its pages faulted in first so that
    # the C frame used for touch_sp is already present (no runtime noise)
    return (mmap("res", 520 * PG, "none"), munmap("res", 0, 520 * PG),
            mmap("g", 8 * PG, "rw", "private|anon|growsdown|fixed", at=("res", 512 * PG)),
            forget("res"),
            snapshot("mapped"), touch("g", 0, 8 * PG, "w"), snapshot("pre"))


# 4.6's check_stack_guard_page grows a grows-down VMA by one page whenever its lowest
# page is faulted; 6.x keeps a gap instead (stack_guard_gap) and never grows on that.
# /proc/PID/maps hides that guard page: before the first fault the region shows one page
# shorter in 4.6.
_GUARD = [Dev("growsdown_guard_page", ("delta", "pre", f), plus(-4)) for f in ("VmSize", "VmStk")]
_GUARD.append(Dev("growsdown_guard_page", ("maps", "mapped"), shift_gd_start(1)))

FAULTS = [
    S("write_touch_16",
      mmap("a", 16 * PG), snapshot("mapped"), touch("a", 0, 16 * PG, "w"), snapshot("written"),
      expect=[("written", E(minflt=16, RssAnon=64, VmPTE=0))]),
    S("read_touch_zero_page",
      mmap("a", 16 * PG), snapshot("mapped"), touch("a", 0, 16 * PG, "r"), snapshot("read"),
      expect=[("read", E(minflt=16, RssAnon=0))]),
    S("read_then_write",
      mmap("a", 8 * PG), snapshot("mapped"), touch("a", 0, 8 * PG, "r"), snapshot("read"),
      touch("a", 0, 8 * PG, "w"), snapshot("written"),
      expect=[("read", E(minflt=8, RssAnon=0)), ("written", E(minflt=8, RssAnon=32))]),
    S("write_then_read_no_fault",
      mmap("a", 4 * PG), snapshot("mapped"), touch("a", 0, 4 * PG, "w"), snapshot("written"),
      touch("a", 0, 4 * PG, "r"), snapshot("read"),
      expect=[("written", E(minflt=4, RssAnon=16)), ("read", E(minflt=0, RssAnon=0))]),
    S("zero_page_shared_by_regions",
      mmap("a", 4 * PG), mmap("b", 4 * PG, "r"), snapshot("mapped"),
      touch("a", 0, 4 * PG, "r"), touch("b", 0, 4 * PG, "r"), snapshot("read"),
      expect=[("read", E(minflt=8, RssAnon=0))]),
    S("fork_child_writes",
      *_fork_setup(), child("c", snapshot("start"), touch("a", 0, 3 * PG, "w"),
                            snapshot("wrote")),
      snapshot("parent"), exit_("c"),
      expect=[("c:wrote", E(minflt=3, RssAnon=0)), ("parent", E(minflt=0, RssAnon=0))]),
    S("fork_parent_writes",
      *_fork_setup(), child("c", snapshot("start")), touch("a", 0, 3 * PG, "w"),
      snapshot("parent"), child("c", snapshot("later")), exit_("c"),
      expect=[("parent", E(minflt=3, RssAnon=0)), ("c:later", E(minflt=0))]),
    S("parent_writes_after_child_exit_reuses",
      *_fork_setup(), child("c", snapshot("start")), exit_("c"), snapshot("alone"),
      touch("a", 0, 8 * PG, "w"), snapshot("rewritten"),
      expect=[("rewritten", E(minflt=8, RssAnon=0))]),
    S("child_copies_then_parent_reuses",
      *_fork_setup(), child("c", snapshot("start"), touch("a", 0, 4 * PG, "w"),
                            snapshot("wrote")),
      touch("a", 0, 8 * PG, "w"), snapshot("parent"), exit_("c"),
      expect=[("c:wrote", E(minflt=4)), ("parent", E(minflt=8, RssAnon=0))]),
    S("fork_untouched_region",
      mmap("a", 8 * PG), snapshot("mapped"), fork("c"),
      child("c", snapshot("start"), touch("a", 0, 8 * PG, "r"), snapshot("read"),
            touch("a", 0, 2 * PG, "w"), snapshot("wrote")),
      snapshot("parent"), exit_("c"),
      expect=[("c:read", E(minflt=8, RssAnon=0)), ("c:wrote", E(minflt=2, RssAnon=8))]),
    S("fork_zero_page_then_child_writes",
      mmap("a", 8 * PG), touch("a", 0, 8 * PG, "r"), snapshot("read"), fork("c"),
      child("c", snapshot("start"), touch("a", 0, 2 * PG, "w"), snapshot("wrote")),
      snapshot("parent"), exit_("c"),
      expect=[("c:wrote", E(minflt=2, RssAnon=8))]),
    S("fork_contents_survive_cow",
      mmap("a", 4 * PG), fill("a", 0, 4 * PG, 7), fork("c"),
      child("c", snapshot("start"), fill("a", 0, 2 * PG, 9), verify("a", 0, 2 * PG, 9),
            verify("a", 2 * PG, 2 * PG, 7), snapshot("wrote")),
      verify("a", 0, 4 * PG, 7), snapshot("parent"), exit_("c"),
      expect=[("c:wrote", E(minflt=2))]),
    S("madv_dontneed_then_read",
      mmap("a", 8 * PG), touch("a", 0, 8 * PG, "w"), snapshot("written"),
      madvise("a", 0, 8 * PG, "dontneed"), snapshot("dropped"),
      touch("a", 0, 8 * PG, "r"), snapshot("read"), verify("a", 0, 8 * PG, 0),
      expect=[("dropped", E(minflt=0, RssAnon=-32, VmPTE=0)), ("read", E(minflt=8, RssAnon=0))]),
    S("madv_dontneed_then_write",
      mmap("a", 8 * PG), fill("a", 0, 8 * PG, 3), snapshot("written"),
      madvise("a", 0, 4 * PG, "dontneed"), snapshot("dropped"),
      touch("a", 0, 8 * PG, "w"), snapshot("rewritten"), verify("a", 0, 4 * PG, 0),
      verify("a", 4 * PG, 4 * PG, 3),
      expect=[("dropped", E(RssAnon=-16)), ("rewritten", E(minflt=4, RssAnon=16))]),
    S("madv_free_keeps_pages_until_reclaim",
      mmap("a", 8 * PG), fill("a", 0, 8 * PG, 5), snapshot("written"),
      madvise("a", 0, 8 * PG, "free"), snapshot("freed"), verify("a", 0, 8 * PG, 5),
      snapshot("read"), touch("a", 0, 2 * PG, "w"), snapshot("rewritten"),
      expect=[("freed", E(minflt=0, RssAnon=0)), ("read", E(minflt=0)),
              ("rewritten", E(minflt=0, RssAnon=0))], differs="madv_free_without_swap"),
    S("madv_free_is_dontneed_without_swap",
      #   4.6 with no swap: MADV_FREE drops the pages at once, exactly like MADV_DONTNEED
      mmap("a", 8 * PG), fill("a", 0, 8 * PG, 5), snapshot("written"),
      madvise("a", 0, 8 * PG, "free", live="dontneed"), snapshot("freed"),
      touch("a", 0, 8 * PG, "r"), snapshot("read"), touch("a", 0, 2 * PG, "w"),
      snapshot("rewritten")),
    S("madv_free_shared_after_fork",
      *_fork_setup(4), child("c", snapshot("start")), madvise("a", 0, 4 * PG, "free"),
      snapshot("freed"), exit_("c"),
      expect=[("freed", E(minflt=0, RssAnon=0))], differs="madv_free_without_swap"),
    S("madv_free_shared_is_dontneed_without_swap",
      *_fork_setup(4), child("c", snapshot("start")),
      madvise("a", 0, 4 * PG, "free", live="dontneed"), snapshot("freed"), exit_("c")),
    S("mremap_move_keeps_frames",
      mmap("a", 8 * PG), mmap("b", PG, "r"), fill("a", 0, 8 * PG, 11), snapshot("filled"),
      mremap("a", 0, 8 * PG, 16 * PG, "maymove", new="a2"), forget("a"), snapshot("moved"),
      verify("a2", 0, 8 * PG, 11), snapshot("verified"),
      expect=[("moved", E(minflt=0, RssAnon=0)), ("verified", E(minflt=0))]),
    S("mremap_fixed_move_keeps_frames",
      mmap("a", 4 * PG), mmap("t", 64 * PG, "r"), fill("a", 0, 4 * PG, 13), snapshot("filled"),
      mremap("a", 0, 4 * PG, 4 * PG, "maymove|fixed", new="a2", at=("t", 32 * PG)),
      forget("a"), snapshot("moved"), verify("a2", 0, 4 * PG, 13),
      expect=[("moved", E(minflt=0, RssAnon=0))]),
    S("brk_shrink_regrow_reads_zeros",
      brk(8 * PG), fill("heap", 0, 8 * PG, 17), snapshot("filled"), brk(2 * PG),
      snapshot("shrunk"), brk(8 * PG), snapshot("regrown"), verify("heap", 0, 2 * PG, 17),
      alias("top", "heap", 2 * PG, 6 * PG), verify("top", 0, 6 * PG, 0), snapshot("read"),
      expect=[("shrunk", E(RssAnon=-24, VmData=-24)), ("regrown", E(VmData=24)),
              ("read", E(minflt=6, RssAnon=0))]),
    S("stack_growth_inside_window",
      *_growsdown_setup(), touch_sp("g", 6 * PG, -PG, "w"), alias("g1", "g", -PG, PG),
      snapshot("grown"),
      devs=_GUARD,
      expect=[("mapped", E(VmStk=32)), ("pre", E(minflt=8, RssAnon=32, VmStk=0)),
              ("grown", E(minflt=1, RssAnon=4, VmStk=4))]),
    S("stack_growth_beyond_window",
      *_growsdown_setup(), touch_sp("g", 6 * PG, -16 * PG, "w"), snapshot("after"),
      devs=_GUARD + [
          # 4.6 refuses growth more than 64 KiB + 256 bytes below sp; 6.x dropped that check
          Dev("stack_sp_window_removed", ("result", len(Scenario.prologue("faults")) + 7),
              lambda v: ("ok", 0)),
          Dev("stack_sp_window_removed", ("maps", "after"), shift_gd_start(16)),
          Dev("stack_sp_window_removed", ("delta", "after", "minflt"), plus(1)),
          Dev("stack_sp_window_removed", ("delta", "after", "RssAnon"), plus(4)),
          Dev("stack_sp_window_removed", ("delta", "after", "VmSize"), plus(64)),
          Dev("stack_sp_window_removed", ("delta", "after", "VmStk"), plus(64))],
      expect=[("after", E(minflt=1, RssAnon=4, VmStk=64))]),
    S("segv_maperr_after_munmap",
      mmap("a", 2 * PG), touch("a", 0, 2 * PG, "w"), munmap("a", 0, 2 * PG), snapshot("unmapped"),
      touch("a", PG, PG, "r"), snapshot("after"),
      expect=[("after", E(minflt=0, RssAnon=0))]),
    S("segv_accerr_write_readonly",
      mmap("a", 2 * PG, "r"), snapshot("mapped"), touch("a", 0, PG, "w"), snapshot("after"),
      expect=[("after", E(minflt=0, RssAnon=0))]),
    S("segv_accerr_write_after_read",
      mmap("a", 2 * PG, "r"), snapshot("mapped"), touch("a", 0, 2 * PG, "r"), snapshot("read"),
      touch("a", PG, PG, "w"), snapshot("after"),
      expect=[("read", E(minflt=2)), ("after", E(minflt=0))]),
    S("mprotect_readonly_after_write",
      mmap("a", 4 * PG), touch("a", 0, 4 * PG, "w"), mprotect("a", 0, 4 * PG, "r"),
      snapshot("ro"), touch("a", 0, 4 * PG, "r"), touch("a", 2 * PG, PG, "w"), snapshot("after"),
      expect=[("after", E(minflt=0, RssAnon=0))]),
    S("prot_none_read",
      mmap("a", 2 * PG, "none"), snapshot("mapped"), touch("a", 0, PG, "r"), snapshot("after")),
    S("map_populate",
      mmap("a", 8 * PG, "rw", "private|anon|populate"), snapshot("populated"),
      touch("a", 0, 8 * PG, "w"), snapshot("written"),
      expect=[("written", E(minflt=0, RssAnon=0))]),
    S("mlock_populates",
      mmap("a", 8 * PG), snapshot("mapped"), mlock("a", 0, 8 * PG), snapshot("locked"),
      expect=[("locked", E(minflt=8, RssAnon=32, VmLck=32))]),
    S("write_touch_1mib",
      mmap("a", 256 * PG), snapshot("mapped"), touch("a", 0, 256 * PG, "w"), snapshot("written"),
      expect=[("written", E(minflt=256, RssAnon=1024))]),
    S("pagetables_2mib_apart",
      mmap("a", 8 * MiB + PG),
      alias("p0", "a", 0, PG), alias("p1", "a", 2 * MiB, PG), alias("p2", "a", 4 * MiB, PG),
      alias("p3", "a", 6 * MiB, PG), snapshot("mapped"),
      touch("p0", 0, PG), touch("p1", 0, PG), touch("p2", 0, PG), touch("p3", 0, PG),
      snapshot("touched"),
      expect=[("touched", E(minflt=4, RssAnon=16, VmPTE=16))]),
    S("pagetables_1gib_apart",
      # lengths are not multiples of 2 MiB: 6.x would align them (thp_aligned_anon_mmap)
      mmap("big", 2 * GiB + PG, "none", "private|anon|noreserve"),
      mmap("p0", PG, "rw", "private|anon|fixed", at=("big", 0)),
      mmap("p1", PG, "rw", "private|anon|fixed", at=("big", GiB)), snapshot("mapped"),
      touch("p0", 0, PG), snapshot("first"), touch("p1", 0, PG), snapshot("second"),
      expect=[("first", E(minflt=1, RssAnon=4)), ("second", E(minflt=1, RssAnon=4))]),
    S("pagetables_512gib_apart",
      mmap("big", 513 * GiB + PG, "none", "private|anon|noreserve"),
      mmap("p0", PG, "rw", "private|anon|fixed", at=("big", 0)),
      mmap("p1", PG, "rw", "private|anon|fixed", at=("big", 512 * GiB)), snapshot("mapped"),
      touch("p0", 0, PG), snapshot("first"), touch("p1", 0, PG), snapshot("second"),
      pud_tables=[("first", 1)],
      expect=[("first", E(minflt=1, RssAnon=4, VmPTE=12)), ("second", E(minflt=1, RssAnon=4))]),
]

ALL = {sc.name: sc for sc in MAPS + FAULTS}
assert len(ALL) == len(MAPS) + len(FAULTS), "scenario names must be unique"
