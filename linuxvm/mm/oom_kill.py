"""The OOM killer: choose a task to kill when memory is exhausted, kill it, reap its
memory (mm/oom_kill.c).

Entry points: ``__alloc_pages_may_oom`` in page_alloc (through ``m.oom``), the fault
path's ``pagefault_out_of_memory`` and sysrq-f (``moom_callback``). One node, no memcg:
``constrained_alloc`` always answers CONSTRAINT_NONE (cpuset and mempolicy constrained
kills need more than one node), and ``totalpages`` is RAM plus swap. The model runs one
task at a time, so ``oom_lock`` is always free and "schedule_timeout_killable(1)" is the
point where the OOM reaper and the killed tasks get to run (``oom_schedule``).
"""

from ..errors import KernelPanic, OutOfMemoryPanic
from ..include.jiffies import jiffies, jiffies_to_ns
from ..include.oom import OOM_SCORE_ADJ_MIN
from ..include.mm import VM_HUGETLB, VM_LOCKED, VM_SHARED
from . import gfp as G
from . import page_alloc
from .mm_types import MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES, MM_SWAPENTS
from .memory.rss import get_mm_counter, get_mm_rss
from .memory.gather import tlb_gather_mmu, tlb_finish_mmu
from .memory.zap import unmap_page_range
from .show_mem import show_mem
from .swap import lru_add_drain

# enum oom_scan_t
OOM_SCAN_OK, OOM_SCAN_CONTINUE, OOM_SCAN_ABORT, OOM_SCAN_SELECT = range(4)
# enum oom_constraint
CONSTRAINT_NONE, CONSTRAINT_CPUSET, CONSTRAINT_MEMORY_POLICY, CONSTRAINT_MEMCG = range(4)
PF_EXITING = 0x00000004
PF_KTHREAD = 0x00200000
MAX_OOM_REAP_RETRIES = 10
SIGKILL = 9
# the workqueue worker sysrq's moom_work runs on (current->comm in its report)
SYSRQ_WORKER_COMM = "kworker/0:1"


def K(x: int) -> int:
    """Pages to KiB (oom_kill.c's K())."""
    return x << 2


class OomDeferred(Exception):
    """Raised where the allocator's slow path would start while ``m.oom.defer`` is set: an
    accelerator that fuses a fault asks the allocator to stop there and hands the access
    back to the reference path (which then wakes kswapd, reclaims and, last, runs the
    OOM killer), so all of that runs once and sees the reference's state. Nothing has
    changed when it is raised but a failed fast-path attempt, which leaves no trace a
    second attempt would not leave."""


class OomControl:
    """struct oom_control: the failed request (order -1: sysrq)."""

    __slots__ = ("gfp_mask", "order", "comm")

    def __init__(self, gfp_mask: int, order: int, comm: str):
        self.gfp_mask = gfp_mask
        self.order = order
        self.comm = comm


class OomState:
    """oom_kill.c's globals: oom_killer_disabled, oom_victims, the OOM notifier chain
    (oom_notify_list), the reaper's queue and dump_header's rate limit."""

    __slots__ = ("m", "oom_killer_disabled", "oom_victims", "oom_notify_list",
                 "oom_reaper_list", "oom_rs", "exit_task", "panic_msg", "defer", "deferred")

    def __init__(self, m, ratelimit):
        self.m = m
        self.oom_killer_disabled = False
        self.oom_victims = 0
        # callables (m, freed_list) -> None appending pages freed; empty: nobody registered
        self.oom_notify_list = []
        self.oom_reaper_list = []
        self.oom_rs = ratelimit
        # how a killed task runs to its exit (kernel/exit.py, set by the Machine)
        self.exit_task = None
        self.panic_msg = None      # set once the machine has panicked
        self.defer = False         # raise OomDeferred instead of killing (accelerators)
        self.deferred = OomDeferred

    def out_of_memory(self, gfp_mask: int, order: int) -> bool:
        """out_of_memory for a failed allocation of the current task."""
        return out_of_memory(self.m, OomControl(gfp_mask, order, self.m.current_comm()))


# -- what the killer may touch ---------------------------------------------------------

def is_global_init(p) -> bool:
    return p.tgid == 1


def find_lock_task_mm(p):
    """The thread of ``p`` that still has an mm (every model task is single-threaded)."""
    return p if p.mm is not None else None


def oom_unkillable_task(p) -> bool:
    """init and kernel threads are never chosen (memcg and nodemask: one node, no memcg)."""
    return is_global_init(p) or bool(p.flags & PF_KTHREAD)


def fatal_signal_pending(p) -> bool:
    return p.sigkill


def task_will_free_mem(p) -> bool:
    """Exiting and not dumping core (include/linux/oom.h; the model never dumps core)."""
    return bool(p.flags & PF_EXITING)


def totalpages_of(m) -> int:
    """constrained_alloc's totalpages without NUMA: RAM plus swap."""
    return m.totalram_pages() + m.total_swap_pages


def badness_terms(p):
    """(rss, swapents, nr_ptes, nr_pmds) of ``p``'s mm as oom_badness reads them."""
    mm = p.mm
    return get_mm_rss(mm), get_mm_counter(mm, MM_SWAPENTS), mm.nr_ptes, mm.nr_pmds


def oom_badness(p, totalpages: int) -> int:
    """Badness of ``p``: its pages (RSS, swap entries, page tables), 3 % off for
    CAP_SYS_ADMIN, plus oom_score_adj per mille of ``totalpages``; 0 for a task that
    cannot be killed, at least 1 otherwise (mm/oom_kill.c oom_badness)."""
    if oom_unkillable_task(p):
        return 0
    p = find_lock_task_mm(p)
    if p is None:
        return 0
    adj = p.signal.oom_score_adj
    if adj == OOM_SCORE_ADJ_MIN:
        return 0
    rss, swap, ptes, pmds = badness_terms(p)
    points = rss + swap + ptes + pmds
    if p.capable("CAP_SYS_ADMIN"):
        points -= (points * 3) // 100
    # 4.6 scales by totalpages / 1000 first, in integers
    points += adj * (totalpages // 1000)
    return points if points > 0 else 1


def constrained_alloc(m, oc):
    """(CONSTRAINT_NONE, totalpages): without NUMA nothing constrains the allocation."""
    return CONSTRAINT_NONE, totalpages_of(m)


def is_sysrq_oom(oc) -> bool:
    return oc.order == -1


def oom_task_origin(p) -> bool:
    """OOM_FLAG_ORIGIN is set only by swapoff and KSM unmerge, neither modelled yet."""
    return False


def oom_scan_process_thread(m, oc, task) -> int:
    """OOM_SCAN_CONTINUE for tasks never chosen, ABORT while a victim still holds
    TIF_MEMDIE (except for sysrq), SELECT for oom_task_origin, else OK."""
    if oom_unkillable_task(task):
        return OOM_SCAN_CONTINUE
    if task.memdie and not is_sysrq_oom(oc):
        return OOM_SCAN_ABORT
    if task.mm is None:
        return OOM_SCAN_CONTINUE
    if oom_task_origin(task):
        return OOM_SCAN_SELECT
    return OOM_SCAN_OK


ABORT = object()       # select_bad_process's (struct task_struct *)-1


def select_bad_process(m, oc, totalpages: int):
    """(chosen task or None or ABORT, its score in 0..1000): the highest oom_badness over
    every thread (mm/oom_kill.c select_bad_process)."""
    chosen = None
    chosen_points = 0
    for p in m.tasks.values():          # for_each_process_thread: creation order
        r = oom_scan_process_thread(m, oc, p)
        if r == OOM_SCAN_SELECT:
            chosen = p
            chosen_points = (1 << 64) - 1
            continue
        if r == OOM_SCAN_CONTINUE:
            continue
        if r == OOM_SCAN_ABORT:
            return ABORT, 0
        points = oom_badness(p, totalpages) & 0xFFFFFFFF     # unsigned int points
        if not points or points < chosen_points:
            continue
        # ties keep an earlier thread-group leader (every model task leads its group)
        if points == chosen_points and chosen.pid == chosen.tgid:
            continue
        chosen = p
        chosen_points = points
    return chosen, (chosen_points * 1000 // totalpages) & 0xFFFFFFFF


# -- the report -----------------------------------------------------------------------

def dump_tasks(m) -> list:
    """The task table (mm/oom_kill.c dump_tasks)."""
    out = ["[ pid ]   uid  tgid total_vm      rss nr_ptes nr_pmds swapents oom_score_adj name"]
    for p in m.tasks.values():
        if oom_unkillable_task(p):
            continue
        task = find_lock_task_mm(p)
        if task is None:
            continue
        mm = task.mm
        out.append(f"[{task.pid:5d}] {task.cred.uid:5d} {task.tgid:5d} {mm.total_vm:8d} "
                   f"{get_mm_rss(mm):8d} {mm.nr_ptes:7d} {mm.nr_pmds:7d} "
                   f"{get_mm_counter(mm, MM_SWAPENTS):8d}         "
                   f"{task.signal.oom_score_adj:5d} {task.comm}")
    return out


def dump_stack_lines(m, comm: str) -> list:
    """What dump_stack prints that the model can give: the CPU/PID/Comm line."""
    pid = m.current_pid() if comm != SYSRQ_WORKER_COMM else 0
    return [f"CPU: {m.current_cpu} PID: {pid} Comm: {comm} {m.taint_string()} 4.6.0 #1"]


def dump_header(m, oc) -> None:
    """The report's head: who invoked the killer, the stack, show_mem, dump_tasks."""
    log = m.log
    cur = m.current
    adj = cur.signal.oom_score_adj if cur is not None and oc.comm != SYSRQ_WORKER_COMM else 0
    log.pr_warn(f"{oc.comm} invoked oom-killer: gfp_mask={oc.gfp_mask:#x}"
                f"({G.format_gfp(oc.gfp_mask)}), order={oc.order}, oom_score_adj={adj}")
    # cpuset_print_current_mems_allowed (CONFIG_CPUSETS, the root cpuset)
    log.pr_info(f"{oc.comm} cpuset=/ mems_allowed=0")
    for line in dump_stack_lines(m, oc.comm):
        log.pr_warn(line)
    for line in show_mem(m.pgdat):
        log.pr_warn(line)
    if m.sysctl["vm.oom_dump_tasks"]:
        for line in dump_tasks(m):
            log.pr_info(line)


def panic(m, msg: str) -> None:
    """The machine stops: the panic lines, then KernelPanic (kernel/panic.c panic)."""
    m.log.printk(0, f"Kernel panic - not syncing: {msg}")
    for line in dump_stack_lines(m, m.current_comm()):
        m.log.printk(0, line)
    m.log.printk(0, f"---[ end Kernel panic - not syncing: {msg}")
    m.oom.panic_msg = msg
    raise (OutOfMemoryPanic if msg.startswith("Out of memory and no killable") else
           KernelPanic)(msg)


def check_panic_on_oom(m, oc, constraint: int) -> None:
    """Panic when vm.panic_on_oom asks (2 always, 1 unless constrained; never for sysrq)."""
    mode = m.sysctl["vm.panic_on_oom"]
    if not mode:
        return
    if mode != 2 and constraint != CONSTRAINT_NONE:
        return
    if is_sysrq_oom(oc):
        return
    dump_header(m, oc)
    panic(m, f"Out of memory: {'compulsory' if mode == 2 else 'system-wide'} "
             f"panic_on_oom is enabled")


# -- the kill --------------------------------------------------------------------------

def mark_oom_victim(m, tsk) -> None:
    """TIF_MEMDIE: the victim may dip into the reserves (ALLOC_NO_WATERMARKS) to exit."""
    # (4.6 WARN_ON(oom_killer_disabled): unreachable here, out_of_memory returns first)
    if tsk.memdie:
        return
    tsk.memdie = True
    m.oom.oom_victims += 1


def exit_oom_victim(m, tsk) -> None:
    """Clear TIF_MEMDIE (exit_mm, or the reaper once it has reaped)."""
    if not tsk.memdie:
        return
    tsk.memdie = False
    m.oom.oom_victims -= 1


def process_shares_mm(p, mm) -> bool:
    return p.mm is not None and p.mm is mm


def do_send_sig_info_sigkill(p) -> None:
    """SIGKILL with SEND_SIG_FORCED: a fatal signal is pending from now on."""
    p.sigkill = True


def children_of(m, p) -> list:
    """p->children in fork order."""
    return [c for c in m.tasks.values() if c.real_parent is p]


def oom_kill_process(m, oc, p, points: int, totalpages: int, message: str) -> None:
    """Kill ``p`` or, in its place, its child with the highest badness that has an mm of
    its own; then every other process sharing the victim's mm; queue the victim for the
    OOM reaper (mm/oom_kill.c oom_kill_process)."""
    log = m.log
    if p.mm is not None and task_will_free_mem(p):
        mark_oom_victim(m, p)
        return
    if page_alloc.__ratelimit(m.oom.oom_rs, m, "oom_kill_process"):
        dump_header(m, oc)
    log.pr_err(f"{message}: Kill process {p.pid} ({p.comm}) score {points} "
               f"or sacrifice child")
    victim = p
    victim_points = 0
    for child in children_of(m, p):
        if process_shares_mm(child, p.mm):
            continue
        child_points = oom_badness(child, totalpages)
        if child_points > victim_points:
            victim = child
            victim_points = child_points
    victim = find_lock_task_mm(victim)
    if victim is None:
        return
    mm = victim.mm
    do_send_sig_info_sigkill(victim)
    mark_oom_victim(m, victim)
    log.pr_err(f"Killed process {victim.pid} ({victim.comm}) total-vm:{K(mm.total_vm)}kB, "
               f"anon-rss:{K(get_mm_counter(mm, MM_ANONPAGES))}kB, "
               f"file-rss:{K(get_mm_counter(mm, MM_FILEPAGES))}kB, "
               f"shmem-rss:{K(get_mm_counter(mm, MM_SHMEMPAGES))}kB")
    # other processes on the same mm die too (4.6.2 prints nothing for them); one that
    # may not be killed keeps the mm in use, so the reaper must leave it alone
    can_oom_reap = True
    for q in m.tasks.values():
        if not process_shares_mm(q, mm) or q.tgid == victim.tgid:
            continue
        if q.flags & PF_KTHREAD or is_global_init(q) or \
                q.signal.oom_score_adj == OOM_SCORE_ADJ_MIN:
            can_oom_reap = False
            continue
        do_send_sig_info_sigkill(q)
    if can_oom_reap:
        wake_oom_reaper(m, victim)


# -- the OOM reaper -------------------------------------------------------------------

def wake_oom_reaper(m, tsk) -> None:
    q = m.oom.oom_reaper_list
    if tsk not in q:
        q.append(tsk)


def __oom_reap_task(m, tsk) -> bool:
    """Unmap the victim's anonymous and private memory (not hugetlb, not mlocked) while
    it is still on its way out; True when done (mm/oom_kill.c __oom_reap_task).

    mmap_sem is never contended in the model, so the first attempt always succeeds."""
    p = find_lock_task_mm(tsk)
    if p is None:
        return True
    mm = p.mm
    mm.mm_users += 1                     # atomic_inc_not_zero(&mm->mm_users)
    lru_add_drain(m)
    tlb = tlb_gather_mmu(m, mm, 0, -1)
    vma = mm.mmap
    while vma is not None:
        if not vma.vm_flags & (VM_HUGETLB | VM_LOCKED) and \
                (vma.vm_ops is None or not vma.vm_flags & VM_SHARED):
            unmap_page_range(tlb, vma, vma.vm_start, vma.vm_end, ReapDetails)
        vma = vma.vm_next
    tlb_finish_mmu(tlb, 0, -1)
    m.log.pr_info(f"oom_reaper: reaped process {tsk.pid} ({tsk.comm}), now "
                  f"anon-rss:{K(get_mm_counter(mm, MM_ANONPAGES))}kB, "
                  f"file-rss:{K(get_mm_counter(mm, MM_FILEPAGES))}kB, "
                  f"shmem-rss:{K(get_mm_counter(mm, MM_SHMEMPAGES))}kB")
    # the victim is no longer worth choosing, and the next OOM must not wait for it
    tsk.signal.oom_score_adj = OOM_SCORE_ADJ_MIN
    exit_oom_victim(m, tsk)
    mm.mm_users -= 1                     # mmput: the victim still holds its reference
    return True


class ReapDetails:
    """struct zap_details of the reaper: swap entries are checked, dirty bits ignored."""
    check_swap_entries = True
    ignore_dirty = True
    check_mapping = None


def oom_reap_task(m, tsk) -> None:
    attempts = 0
    while attempts < MAX_OOM_REAP_RETRIES:
        attempts += 1
        if __oom_reap_task(m, tsk):
            return
    m.log.pr_info(f"oom_reaper: unable to reap pid:{tsk.pid} ({tsk.comm})")


def oom_schedule(m) -> None:
    """schedule_timeout_killable(1) after a kill: the oom_reaper thread runs first (it
    was woken first), then each killed task other than the current one runs to its exit
    (do_exit frees what the reaper left). The sleep ends at the next tick: the model's
    clock moves on to it (linuxvm/include/jiffies.py)."""
    oom = m.oom
    while oom.oom_reaper_list:
        oom_reap_task(m, oom.oom_reaper_list.pop(0))
    for p in list(m.tasks.values()):
        if p.sigkill and p is not m.current and p.mm is not None and oom.exit_task:
            oom.exit_task(m, p)
    m.clock_ns = max(m.clock_ns, jiffies_to_ns(jiffies(m) + 1))


# -- the entry points ------------------------------------------------------------------

def out_of_memory(m, oc) -> bool:
    """Kill something to free memory; False only while the killer is disabled
    (mm/oom_kill.c out_of_memory)."""
    oom = m.oom
    if oom.oom_killer_disabled:
        return False
    freed = []
    for notifier in oom.oom_notify_list:          # blocking_notifier_call_chain
        notifier(m, freed)
    if sum(freed) > 0:
        return True
    cur = m.current if oc.comm != SYSRQ_WORKER_COMM else None
    if cur is not None and cur.mm is not None and \
            (fatal_signal_pending(cur) or task_will_free_mem(cur)):
        mark_oom_victim(m, cur)
        return True
    constraint, totalpages = constrained_alloc(m, oc)
    check_panic_on_oom(m, oc, constraint)
    if m.sysctl["vm.oom_kill_allocating_task"] and cur is not None and \
            cur.mm is not None and not oom_unkillable_task(cur) and \
            cur.signal.oom_score_adj != OOM_SCORE_ADJ_MIN:
        oom_kill_process(m, oc, cur, 0, totalpages,
                         "Out of memory (oom_kill_allocating_task)")
        oom_schedule(m)
        return True
    p, points = select_bad_process(m, oc, totalpages)
    if p is None and not is_sysrq_oom(oc):
        dump_header(m, oc)
        panic(m, "Out of memory and no killable processes...")
    if p is not None and p is not ABORT:
        oom_kill_process(m, oc, p, points, totalpages, "Out of memory")
        oom_schedule(m)
    return True


def pagefault_out_of_memory(m) -> bool:
    """A fault that got VM_FAULT_OOM without the allocator's OOM kill: run the killer
    with no gfp mask (mm/oom_kill.c pagefault_out_of_memory); its result."""
    return out_of_memory(m, OomControl(0, 0, m.current_comm()))


def moom_callback(m) -> None:
    """sysrq-f: an OOM kill on request, from a workqueue worker (drivers/tty/sysrq.c)."""
    m.log.pr_info("SysRq : Manual OOM execution")
    saved = m.current
    m.current = None
    try:
        if not out_of_memory(m, OomControl(G.GFP_KERNEL, -1, SYSRQ_WORKER_COMM)):
            m.log.pr_info("OOM request ignored because killer is disabled")
    finally:
        m.current = saved

