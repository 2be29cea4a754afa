"""Explain the OOM killer's choice: every task's oom_badness term by term, the victim
4.6 would pick now, and why each other task is not it (mm/oom_kill.c select_bad_process,
oom_badness, oom_kill_process's child sacrifice).

>>> print(lv.helpers.oom_explain(m).notes[0])
select_bad_process picks 2 (other), score 0
"""

from ..include.oom import OOM_SCORE_ADJ_MIN
from ..mm.oom_kill import (OomControl, oom_scan_process_thread, oom_badness, badness_terms,
                           select_bad_process, totalpages_of, children_of, process_shares_mm,
                           is_global_init, find_lock_task_mm, PF_KTHREAD, ABORT,
                           OOM_SCAN_ABORT)


class OomRow:
    """One task's line of the table."""

    __slots__ = ("pid", "comm", "uid", "rss", "swap", "ptes", "pmds", "pages", "bonus",
                 "adj", "adj_pages", "badness", "oom_score", "why")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))


class OomExplanation:
    """The table (``rows``), ``totalpages``, the task select_bad_process picks
    (``chosen``), the one oom_kill_process would kill (``victim``), and ``notes``."""

    __slots__ = ("rows", "totalpages", "chosen", "chosen_score", "victim", "aborted", "notes")

    def __str__(self):
        tp = self.totalpages
        out = [f"totalpages = RAM + swap = {tp} pages; one oom_score_adj point = "
               f"totalpages/1000 = {tp // 1000} pages",
               "  pid comm             uid      rss  swap  ptes  pmds    pages  root-3%"
               "   adj  adj-pages  badness  oom_score  verdict"]
        for r in self.rows:
            if r.rss is None:
                out.append(f"{r.pid:5d} {r.comm:<15s} {r.uid:5d}" + " " * 83 + r.why)
                continue
            out.append(f"{r.pid:5d} {r.comm:<15s} {r.uid:5d} {r.rss:8d} {r.swap:5d} "
                       f"{r.ptes:5d} {r.pmds:5d} {r.pages:8d} {-r.bonus if r.bonus else 0:8d}"
                       f" {r.adj:5d} {r.adj_pages:10d} {r.badness:8d} {r.oom_score:10d}  "
                       f"{r.why}")
        out.append("badness = rss + swap + ptes + pmds, less 3% with CAP_SYS_ADMIN, plus "
                   "adj * (totalpages/1000), at least 1; oom_score = badness*1000/totalpages")
        out.extend(self.notes)
        return "\n".join(out) + "\n"


def oom_explain(m) -> OomExplanation:
    """What 4.6's OOM killer would do if it ran now, and why.

    >>> e = oom_explain(m); e.victim.pid
    2

    :param m: the machine (``struct task_struct`` list, sysctls, RAM and swap totals)
    """
    tp = totalpages_of(m)
    oc = OomControl(0, 0, m.current_comm())
    chosen, score = select_bad_process(m, oc, tp)
    ex = OomExplanation()
    ex.totalpages = tp
    ex.aborted = chosen is ABORT
    ex.chosen = None if chosen is ABORT else chosen
    ex.chosen_score = score
    ex.notes = []
    ex.victim = None
    if ex.chosen is not None:
        victim, best = ex.chosen, 0
        for c in children_of(m, ex.chosen):
            if process_shares_mm(c, ex.chosen.mm):
                continue
            pts = oom_badness(c, tp)
            if pts > best:
                victim, best = c, pts
        ex.victim = victim
    rows = []
    for p in m.tasks.values():
        row = OomRow(pid=p.pid, comm=p.comm, uid=p.cred.uid)
        if find_lock_task_mm(p) is not None:
            rss, swap, ptes, pmds = badness_terms(p)
            pages = rss + swap + ptes + pmds
            row.rss, row.swap, row.ptes, row.pmds, row.pages = rss, swap, ptes, pmds, pages
            row.bonus = (pages * 3) // 100 if p.capable("CAP_SYS_ADMIN") else 0
            row.adj = p.signal.oom_score_adj
            row.adj_pages = row.adj * (tp // 1000)
            row.badness = oom_badness(p, tp)
            row.oom_score = row.badness * 1000 // tp
        row.why = _verdict(m, oc, p, ex, row)
        rows.append(row)
    ex.rows = rows
    if ex.aborted:
        ex.notes.append("the scan aborts: a victim with TIF_MEMDIE is still exiting, and "
                        "4.6 kills nobody else until it is gone")
    elif ex.chosen is None:
        ex.notes.append("no task can be chosen: 4.6 panics \"Out of memory and no killable "
                        "processes...\"")
    else:
        ex.notes.append(f"select_bad_process picks {ex.chosen.pid} ({ex.chosen.comm}), "
                        f"score {score}")
        if ex.victim is not ex.chosen:
            ex.notes.append(f"oom_kill_process sacrifices its child {ex.victim.pid} "
                            f"({ex.victim.comm}) instead: the child with the highest badness "
                            f"that has an mm of its own")
    if m.sysctl["vm.panic_on_oom"]:
        ex.notes.append(f"vm.panic_on_oom = {m.sysctl['vm.panic_on_oom']}: an OOM panics "
                        f"instead of killing")
    if m.sysctl["vm.oom_kill_allocating_task"]:
        ex.notes.append("vm.oom_kill_allocating_task = 1: the task whose allocation fails is "
                        "killed, when it may be")
    return ex


def _verdict(m, oc, p, ex, row) -> str:
    if is_global_init(p):
        return "never chosen: init (pid 1)"
    if p.flags & PF_KTHREAD:
        return "never chosen: a kernel thread"
    if oom_scan_process_thread(m, oc, p) == OOM_SCAN_ABORT:
        return "TIF_MEMDIE: a victim still exiting (the scan stops here)"
    if p.mm is None:
        return "no mm: exited"
    if p.signal.oom_score_adj == OOM_SCORE_ADJ_MIN:
        return "unkillable: oom_score_adj -1000 (OOM_SCORE_ADJ_MIN)"
    if ex.aborted:
        return "not chosen: the scan aborted"
    if p is ex.victim and p is not ex.chosen:
        return f"VICTIM: sacrificed for its parent {ex.chosen.pid}"
    if p is ex.chosen:
        return "CHOSEN" + (": killed" if p is ex.victim else ": a child dies instead")
    c = ex.chosen
    if c is not None and row.badness == oom_badness(c, ex.totalpages):
        return f"same badness as {c.pid}, which comes first in the task list"
    if c is not None:
        return f"lower badness than {c.pid}"
    return "not chosen"
