"""Process exit, the memory part (kernel/exit.c exit_mm, do_exit, release_task)."""

from ..arch.x86.cpu import enter_lazy_tlb, context_switch
from ..mm.memory import sync_mm_rss
from ..mm.slab_common import slab_free_obj
from ..mm.oom_kill import exit_oom_victim
from .fork import mmput, mmdrop, _free_thread_stack


def exit_mm(m, task) -> None:
    """Fold the task's RSS cache, give up its address space and keep it lazily loaded
    until the CPU switches away (kernel/exit.c exit_mm)."""
    mm = task.mm
    if mm is None:
        return
    sync_mm_rss(mm, task)
    mm.mm_count += 1               # the task keeps it as active_mm
    task.mm = None
    cpu = _running_on(m, task)
    if cpu is not None:
        enter_lazy_tlb(m, cpu, mm, task)
    mmput(m, mm)
    if task.memdie:
        exit_oom_victim(m, task)


def _running_on(m, task):
    for cpu in m.cpus:
        if cpu.current is task:
            return cpu
    return None


def do_exit(m, task) -> None:
    """Exit ``task``: close files, exit_mm, switch its CPU to idle, release the task."""
    for fd in sorted(task.files):
        task.files.pop(fd).fput()
    exit_mm(m, task)
    cpu = _running_on(m, task)
    if cpu is not None:
        context_switch(m, cpu, task, None)
    elif task.active_mm is not None:
        # never ran on a CPU: finish_task_switch's mmdrop of its active_mm happens now
        mm = task.active_mm
        task.active_mm = None
        mmdrop(m, mm)
    if task.nr_dirtied and m.writeback is not None:
        # pages it dirtied since its last balance_dirty_pages: the next dirtier on this
        # CPU is charged for them
        m.writeback.dirty_throttle_leaks[m.current_cpu] += task.nr_dirtied
    _free_thread_stack(m, task)
    m.tasks.pop(task.pid, None)
    slab_free_obj(m, "task_struct", task)
    if m.current is task:
        m.current = None


def exit_killed_task(m, task) -> None:
    """A task with SIGKILL pending gets the CPU and dies: get_signal -> do_group_exit
    (the OOM killer's schedule point runs this for its victims)."""
    saved = m.current
    m.current = task
    try:
        do_exit(m, task)
    finally:
        m.current = saved if saved is not task else None
