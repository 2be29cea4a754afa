"""The 4.6 OOM killer (mm/oom_kill.py): selection, the kill, the reaper, the report,
panic_on_oom, /proc/PID/oom_score, the explainer, and the live kernel's different formula."""

import errno
import os
import pathlib

import pytest

import linuxvm as lv
from linuxvm.helpers import oom_explain
from linuxvm.mm import gfp as G
from linuxvm.mm import oom_kill
from linuxvm.mm.page_alloc import gfp_to_alloc_flags, ALLOC_NO_WATERMARKS
from linuxvm.mm.oom_kill import (OomControl, select_bad_process, oom_badness, totalpages_of,
                                 mark_oom_victim, ABORT)

RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
MB = 1 << 20
GOLDEN = pathlib.Path(__file__).parent / "golden" / "oom_three.txt"


def grow(p, size):
    a = p.mmap(None, size, RW, ANON)
    p.touch(a, size, write=True)
    return a


def as_root(m, root, path, value):
    """Write a /proc file as a root task (CAP_SYS_RESOURCE) would."""
    m.current = root.task
    try:
        m.proc.write(path, value)
    finally:
        m.current = None


def log_after(m, n):
    return [line.split("] ", 1)[1] for line in m.dmesg()[n:]]


def machine(ram="256M", **kw):
    m = lv.Machine(ram=ram, cpus=1, seed=0, **kw)
    init = m.spawn("init", uid=0)
    m.check()
    return m, init


def expected_badness(p, tp):
    """oom_badness recomputed from the mm's counters, as 4.6 writes it."""
    mm = p.mm
    pages = sum(max(v, 0) for v in mm.rss_stat) + mm.nr_ptes + mm.nr_pmds  # swapents 0
    if p.task.capable("CAP_SYS_ADMIN"):
        pages -= pages * 3 // 100
    pages += p.task.signal.oom_score_adj * (tp // 1000)
    return pages if pages > 0 else 1


def test_victim_selection_table():
    # pid  comm    uid   size  adj      badness
    #  1   init     0    --    0        never (init)
    #  2   user   1000   32M   0        rss + ptes + pmds
    #  3   root     0    32M   0        3 % less: CAP_SYS_ADMIN
    #  4   small  1000    8M   +1000    + totalpages: the victim
    #  5   big    1000   48M   -1000    unkillable
    #  6   half   1000   48M   -500     below the others
    m, init = machine()
    user = m.spawn("user")
    root = m.spawn("root", uid=0)
    small = m.spawn("small")
    big = m.spawn("big")
    half = m.spawn("half")
    for p, size in ((user, 32 * MB), (root, 32 * MB), (small, 8 * MB), (big, 48 * MB),
                    (half, 48 * MB)):
        grow(p, size)
        m.check()
    as_root(m, init, f"/proc/{small.pid}/oom_score_adj", "1000")
    as_root(m, init, f"/proc/{big.pid}/oom_score_adj", "-1000")
    as_root(m, init, f"/proc/{half.pid}/oom_score_adj", "-500")
    m.check()
    tp = totalpages_of(m)
    assert tp == m.totalram_pages()                   # no swap
    scores = {p.task.comm: oom_badness(p.task, tp) for p in (init, user, root, small, big, half)}
    for p in (user, root, small, half):
        assert scores[p.task.comm] == expected_badness(p, tp)
    assert scores["init"] == 0 and scores["big"] == 0
    # the root bonus: 3 % of the same page count
    pages_root = sum(root.mm.rss_stat) + root.mm.nr_ptes + root.mm.nr_pmds
    assert scores["root"] == pages_root - pages_root * 3 // 100
    assert scores["half"] == 1                        # the floor
    assert scores["small"] > tp                       # adj 1000 adds all of totalpages
    # the exact figures for this seed (256M, no swap: totalpages 60725)
    assert tp == 60725
    assert (scores["user"], scores["root"], scores["small"]) == (8201, 7955, 62051)
    chosen, score = select_bad_process(m, OomControl(0, 0, "t"), tp)
    assert chosen is small.task and score == scores["small"] * 1000 // tp == 1021
    for p in (init, user, root, small, big, half):
        assert m.proc.read(f"/proc/{p.pid}/oom_score") == \
            f"{scores[p.task.comm] * 1000 // tp}\n"
    ex = oom_explain(m)
    assert ex.chosen is small.task and ex.victim is small.task
    verdicts = {r.comm: r.why for r in ex.rows}
    assert verdicts["init"] == "never chosen: init (pid 1)"
    assert verdicts["big"].startswith("unkillable")
    assert verdicts["small"] == "CHOSEN: killed"
    assert verdicts["user"] == f"lower badness than {small.pid}"
    row = next(r for r in ex.rows if r.comm == "root")
    assert row.bonus == pages_root * 3 // 100 and row.badness == scores["root"]
    assert "select_bad_process picks" in str(ex)
    m.check()


def test_equal_scores_keep_the_first_task():
    m, init = machine()
    a, b = m.spawn("a"), m.spawn("b")
    grow(a, 4 * MB)
    grow(b, 4 * MB)
    tp = totalpages_of(m)
    as_root(m, init, f"/proc/{a.pid}/oom_score_adj", "1000")
    as_root(m, init, f"/proc/{b.pid}/oom_score_adj", "1000")
    assert oom_badness(a.task, tp) == oom_badness(b.task, tp)
    assert select_bad_process(m, OomControl(0, 0, "t"), tp)[0] is a.task
    m.check()


def test_an_exiting_victim_aborts_the_scan_but_not_sysrq():
    m, init = machine()
    a, b = m.spawn("a"), m.spawn("b")
    grow(a, 4 * MB)
    grow(b, 16 * MB)
    mark_oom_victim(m, a.task)                         # TIF_MEMDIE, still exiting
    tp = totalpages_of(m)
    assert select_bad_process(m, OomControl(0, 0, "t"), tp)[0] is ABORT
    assert select_bad_process(m, OomControl(0, -1, "t"), tp)[0] is b.task   # sysrq
    ex = oom_explain(m)
    assert ex.aborted and ex.victim is None
    assert "TIF_MEMDIE" in next(r.why for r in ex.rows if r.comm == "a")
    n = len(m.dmesg())
    assert oom_kill.out_of_memory(m, OomControl(0x24000c0, 0, "t")) is True
    assert not any("Kill process" in line for line in m.dmesg()[n:])   # nobody new
    m.check()


def test_sysrq_f_kills_and_the_reaper_and_exit_free_the_memory():
    m, init = machine()
    a, b = m.spawn("a"), m.spawn("b")
    grow(a, 8 * MB)
    addr = grow(b, 40 * MB)
    free = m.nr_free_pages()
    n = len(m.dmesg())
    m.sysrq("f")
    m.check()
    log = log_after(m, n)
    assert log[0] == "SysRq : Manual OOM execution"
    assert log[1] == ("kworker/0:1 invoked oom-killer: gfp_mask=0x24000c0(GFP_KERNEL), "
                      "order=-1, oom_score_adj=0")
    assert f"Out of memory: Kill process {b.pid} (b) score " in "\n".join(log)
    assert any(line.startswith(f"Killed process {b.pid} (b) total-vm:40960kB, anon-rss:")
               for line in log)
    assert log[-1] == (f"oom_reaper: reaped process {b.pid} (b), now anon-rss:0kB, "
                       f"file-rss:0kB, shmem-rss:0kB")
    assert m.nr_free_pages() > free + 40 * MB // 4096 - 64
    assert b.pid not in m.tasks and b.task.sigkill and not b.task.memdie
    for use in (lambda: b.read(addr, 1), lambda: b.mmap(None, 4096, RW, ANON),
                lambda: b.exit(), lambda: b.fork()):
        with pytest.raises(lv.ProcessKilled) as ei:
            use()
        assert ei.value.signo == 9 and ei.value.pid == b.pid
    assert isinstance(ei.value, lv.Signal)
    assert a.read(m.tasks[a.pid].mm.mmap.vm_start, 1) is not None    # a lives on
    m.check()


def test_child_is_sacrificed():
    #   parent (48M) has two children with memory of their own (forked before it grew):
    #   the bigger child dies in its place
    m, init = machine()
    parent = m.spawn("parent")
    c1 = parent.fork()
    c2 = parent.fork()
    m.check()
    grow(parent, 48 * MB)
    grow(c1, 4 * MB)
    grow(c2, 12 * MB)
    m.check()
    n = len(m.dmesg())
    m.sysrq("f")
    m.check()
    text = "\n".join(log_after(m, n))
    assert f"Kill process {parent.pid} (parent) score" in text
    assert f"Killed process {c2.pid} (parent)" in text
    assert parent.pid in m.tasks and c1.pid in m.tasks and c2.pid not in m.tasks
    with pytest.raises(lv.ProcessKilled):
        c2.touch(0, 1)
    m.check()


def test_killed_while_faulting_raises_from_that_call():
    m, init = machine("128M")
    p = m.spawn("hog")
    a = p.mmap(None, 200 * MB, RW, ANON | lv.MAP_NORESERVE)
    with pytest.raises(lv.ProcessKilled):
        p.touch(a, 200 * MB, write=True)
    m.check()
    assert p.pid not in m.tasks
    log = log_after(m, 0)
    assert f"Killed process {p.pid} (hog) total-vm:204800kB, anon-rss:" in "\n".join(log)
    assert m.sysctl["vm.oom_dump_tasks"] == 1
    assert "[ pid ]   uid  tgid total_vm      rss nr_ptes nr_pmds swapents oom_score_adj name" \
        in log


def test_no_killable_process_panics():
    # init and an OOM_SCORE_ADJ_MIN task only: 4.6 panics
    m, init = machine("128M")
    p = m.spawn("precious")
    as_root(m, init, f"/proc/{p.pid}/oom_score_adj", "-1000")
    a = p.mmap(None, 200 * MB, RW, ANON | lv.MAP_NORESERVE)
    with pytest.raises(lv.OutOfMemoryPanic) as ei:
        p.touch(a, 200 * MB, write=True)
    assert isinstance(ei.value, lv.KernelPanic) and isinstance(ei.value, lv.OutOfMemory)
    log = log_after(m, 0)
    assert "Kernel panic - not syncing: Out of memory and no killable processes..." in log
    assert "---[ end Kernel panic - not syncing: Out of memory and no killable processes..." \
        in log
    m.check()
    with pytest.raises(lv.KernelPanic):
        p.mmap(None, 4096, RW, ANON)
    with pytest.raises(lv.KernelPanic):
        m.sysrq("f")


@pytest.mark.parametrize("mode,word", [(1, "system-wide"), (2, "compulsory")])
def test_panic_on_oom(mode, word):
    m, init = machine("128M", sysctl={"vm.panic_on_oom": mode})
    p = m.spawn("hog")
    a = p.mmap(None, 200 * MB, RW, ANON | lv.MAP_NORESERVE)
    with pytest.raises(lv.KernelPanic) as ei:
        p.touch(a, 200 * MB, write=True)
    assert not isinstance(ei.value, lv.OutOfMemory)
    log = log_after(m, 0)
    msg = f"Out of memory: {word} panic_on_oom is enabled"
    assert f"Kernel panic - not syncing: {msg}" in log
    assert any("hog invoked oom-killer" in line for line in log)     # dump_header first
    assert not any("Kill process" in line for line in log)
    m.check()
    with pytest.raises(lv.KernelPanic):
        p.read(a, 1)


def test_sysrq_does_not_panic_and_killer_disabled_is_ignored():
    m, init = machine(sysctl={"vm.panic_on_oom": 2})
    a = m.spawn("a")
    grow(a, 4 * MB)
    m.sysrq("f")                                      # is_sysrq_oom: no panic
    assert a.pid not in m.tasks
    m.oom.oom_killer_disabled = True
    m.sysrq("f")
    assert m.dmesg()[-1].endswith("OOM request ignored because killer is disabled")
    with pytest.raises(ValueError):
        m.sysrq("b")
    m.check()


def test_oom_notifier_that_frees_stops_the_kill():
    m, init = machine()
    a = m.spawn("a")
    grow(a, 4 * MB)
    m.oom.oom_notify_list.append(lambda m, freed: freed.append(1))
    n = len(m.dmesg())
    m.sysrq("f")
    assert a.pid in m.tasks and not any("Kill" in line for line in m.dmesg()[n:])
    m.check()


def test_oom_kill_allocating_task():
    m, init = machine("128M", sysctl={"vm.oom_kill_allocating_task": 1})
    big = m.spawn("big")
    grow(big, 48 * MB)
    small = m.spawn("small")
    a = small.mmap(None, 200 * MB, RW, ANON | lv.MAP_NORESERVE)
    with pytest.raises(lv.ProcessKilled):
        small.touch(a, 200 * MB, write=True)
    log = log_after(m, 0)
    assert any(line.startswith(f"Out of memory (oom_kill_allocating_task): Kill process "
                               f"{small.pid} (small) score 0 or sacrifice child")
               for line in log)
    assert big.pid in m.tasks
    m.check()


def test_overcommit_never_refuses_the_mmap_before_any_oom():
    m, init = machine("128M", sysctl={"vm.overcommit_memory": 2})
    p = m.spawn("p")
    with pytest.raises(lv.SyscallError) as ei:
        p.mmap(None, 200 * MB, RW, ANON)
    assert ei.value.errno == errno.ENOMEM
    assert not any("oom" in line for line in m.dmesg())
    m.check()


def test_shared_mm_tasks_are_killed_too():
    # a second task on the victim's mm (as CLONE_VM makes): SIGKILL for it as well
    m, init = machine()
    p = m.spawn("p")
    grow(p, 16 * MB)
    q = m.spawn("q")
    q.task.mm, q.task.active_mm = p.mm, p.mm          # as clone(CLONE_VM) would share it
    tp = totalpages_of(m)
    chosen, score = select_bad_process(m, OomControl(0, -1, "t"), tp)
    assert chosen is p.task                           # equal badness: p comes first
    oom_kill.oom_kill_process(m, OomControl(0, -1, "t"), p.task, score, tp, "Out of memory")
    assert p.task.sigkill and q.task.sigkill
    q.task.mm = q.task.active_mm = None               # undo the hand-made sharing
    q.task.sigkill = False


def three_growing(fast=True):
    """Three processes growing in turns on 128M until the OOM killer has room."""
    m = lv.Machine(ram="128M", cpus=1, seed=0, fast=fast)
    m.spawn("init", uid=0)
    procs = [m.spawn(n) for n in ("grow-a", "grow-b", "grow-c")]
    addrs = [p.mmap(None, 96 * MB, RW, ANON) for p in procs]
    done = [0, 0, 0]
    steps = [4 * MB, 6 * MB, 8 * MB]
    alive = [True] * 3
    for _ in range(16):
        for i, p in enumerate(procs):
            if not alive[i] or done[i] >= 96 * MB:
                continue
            n = min(steps[i], 96 * MB - done[i])
            try:
                p.touch(addrs[i] + done[i], n, write=True)
                done[i] += n
            except lv.ProcessKilled:
                alive[i] = False
            m.check()
    log = log_after(m, 0)
    first = next(i for i, line in enumerate(log) if "invoked oom-killer" in line)
    return alive, log[first:]


def test_three_growing_processes_match_the_golden_report():
    alive, log = three_growing()
    assert alive == [True, False, False]
    if os.environ.get("LINUXVM_REGOLD"):
        GOLDEN.write_text("\n".join(log) + "\n")
    assert log == GOLDEN.read_text().splitlines()
    # the reference path (no accelerators) writes the same report
    assert three_growing(fast=False) == (alive, log)


LIVE = pathlib.Path("/proc/self/oom_score")


def _kb(status, field):
    for line in status.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


@pytest.mark.skipif(not LIVE.exists(), reason="no /proc/self/oom_score on this host")
def test_live_oom_score_uses_the_newer_formula():
    # 4.6: oom_badness * 1000 / totalpages (about 0 for a small process);
    # 5.x/6.x: (1000 + badness * 1000 / totalpages) * 2 / 3 (about 666), no root bonus
    try:
        score = int(LIVE.read_text())
        adj = int(pathlib.Path("/proc/self/oom_score_adj").read_text())
        status = pathlib.Path("/proc/self/status").read_text()
        meminfo = pathlib.Path("/proc/meminfo").read_text()
    except OSError as e:
        pytest.skip(f"/proc not readable: {e}")
    release = os.uname().release.split(".")
    if int(release[0]) < 5:
        pytest.skip(f"host kernel {os.uname().release} predates the 5.x formula")
    total = (_kb(meminfo, "MemTotal") + _kb(meminfo, "SwapTotal")) // 4
    rss = (_kb(status, "RssAnon") + _kb(status, "RssFile") + _kb(status, "RssShmem")) // 4
    badness = rss + _kb(status, "VmSwap") // 4 + _kb(status, "VmPTE") // 4 \
        + adj * (total // 1000)
    newer = (1000 + badness * 1000 // total) * 2 // 3
    v46 = max(badness, 1) * 1000 // total
    assert abs(score - newer) <= 3                   # the live kernel: the newer formula
    assert abs(score - v46) > 100                    # not 4.6's (docs/deviations.md)


def exhausted(ram="128M"):
    """A machine with a killable process and every page below the min marks taken."""
    m, init = machine(ram)
    victim = m.spawn("victim")
    grow(victim, 16 * MB)
    m.current = None                                  # the kernel allocates, no task
    held = []
    while (pfn := m.kernel.alloc_pages("GFP_KERNEL|__GFP_NORETRY|__GFP_NOWARN", 0)) \
            is not None:
        held.append(pfn)
    m.check()
    return m, victim, held


@pytest.mark.parametrize("gfp,order,kills", [
    ("GFP_KERNEL", 0, True),                          # may OOM
    ("GFP_KERNEL", 3, True),                          # PAGE_ALLOC_COSTLY_ORDER itself
    ("GFP_KERNEL", 4, False),                         # costly: killing does not help
    ("GFP_KERNEL|__GFP_NOFAIL", 4, True),             # ... unless it may not fail
    ("GFP_NOFS", 0, False),                           # no OOM for IO-less reclaim
    ("GFP_KERNEL|__GFP_THISNODE", 0, False),          # nor for one node
    ("GFP_DMA32|__GFP_RECLAIM|__GFP_IO|__GFP_FS", 0, False),   # nor for lowmem
    ("GFP_KERNEL|__GFP_NORETRY", 0, False),           # noretry: straight to the failure
    ("GFP_NOWAIT", 0, False),                         # cannot reclaim: no OOM either
])
def test_which_requests_reach_the_oom_killer(gfp, order, kills):
    m, victim, held = exhausted()
    n = len(m.dmesg())
    pfn = m.kernel.alloc_pages(gfp, order)
    m.check()
    log = log_after(m, n)
    killed = any(line.startswith(f"Killed process {victim.pid} (victim)") for line in log)
    assert killed == kills
    assert (pfn is not None) == kills
    if not kills:
        assert victim.pid in m.tasks
        assert any("page allocation failure" in line for line in log)
    else:
        assert victim.pid not in m.tasks
        assert log[0].startswith(f"swapper/0 invoked oom-killer: gfp_mask=")
        assert log[0].endswith(f", order={order}, oom_score_adj=0")


def test_victim_may_use_the_reserves():
    m, init = machine()
    p = m.spawn("p")
    grow(p, 4 * MB)
    m.current = p.task
    assert not gfp_to_alloc_flags(G.GFP_KERNEL, m) & ALLOC_NO_WATERMARKS
    mark_oom_victim(m, p.task)                        # TIF_MEMDIE
    assert gfp_to_alloc_flags(G.GFP_KERNEL, m) & ALLOC_NO_WATERMARKS
    m.current = None
    oom_kill.exit_oom_victim(m, p.task)
    assert m.oom.oom_victims == 0
    m.check()


def test_fault_with_the_killer_disabled_raises_out_of_memory():
    # VM_FAULT_OOM reaches pagefault_out_of_memory, whose out_of_memory refuses: 4.6
    # would retry the fault forever
    m, init = machine("128M")
    p = m.spawn("p")
    m.oom.oom_killer_disabled = True
    a = p.mmap(None, 200 * MB, RW, ANON | lv.MAP_NORESERVE)
    with pytest.raises(lv.OutOfMemory) as ei:
        p.touch(a, 200 * MB, write=True)
    assert not isinstance(ei.value, lv.KernelPanic)
    assert any("page allocation failure" in line for line in m.dmesg())
    m.check()


@pytest.mark.parametrize("how", ["sigkill", "exiting"])
def test_current_dying_gets_the_reserves_and_nobody_is_killed(how):
    m, init = machine()
    a, b = m.spawn("a"), m.spawn("b")
    grow(a, 4 * MB)
    grow(b, 16 * MB)
    if how == "sigkill":
        a.task.sigkill = True                         # fatal_signal_pending(current)
    else:
        a.task.flags |= oom_kill.PF_EXITING           # task_will_free_mem(current)
    m.current = a.task
    n = len(m.dmesg())
    assert oom_kill.out_of_memory(m, OomControl(G.GFP_KERNEL, 0, "a")) is True
    m.current = None
    assert a.task.memdie and not b.task.sigkill
    assert log_after(m, n) == []
    oom_kill.exit_oom_victim(m, a.task)
    a.task.sigkill = False
    a.task.flags &= ~oom_kill.PF_EXITING
    m.check()


def test_kernel_threads_are_never_chosen():
    m, init = machine()
    a = m.spawn("kworker")
    grow(a, 8 * MB)
    a.task.flags |= oom_kill.PF_KTHREAD
    tp = totalpages_of(m)
    assert oom_badness(a.task, tp) == 0
    assert select_bad_process(m, OomControl(0, -1, "t"), tp)[0] is None
    assert "kernel thread" in str(oom_explain(m))
    a.task.flags &= ~oom_kill.PF_KTHREAD
    m.check()
