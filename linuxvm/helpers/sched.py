"""Tasks, drgn-style (drgn.helpers.linux.pid and .sched): ``for_each_task``, ``find_task``,
``task_state_to_char``, over the model's task list.

>>> [t.comm for t in for_each_task(m)]
['prog', 'other']
"""

from ..fs.proc.array import get_task_state
from ..kernel.sched import TaskStruct


def _machine(m):
    if not hasattr(m, "tasks") or not hasattr(m, "mem_map"):
        raise TypeError(f"expected a Machine, not {type(m).__name__}")
    return m


def for_each_task(m):
    """Yield every ``struct task_struct`` in pid order (drgn's for_each_task; the
    kernel's for_each_process over init_task.tasks).

    >>> [(t.pid, t.comm) for t in for_each_task(m)]
    [(1, 'prog'), (2, 'other')]
    """
    _machine(m)
    for pid in sorted(m.tasks):
        task = m.tasks.get(pid)
        if task is not None:
            yield task


def find_task(m, pid: int):
    """The ``struct task_struct`` of ``pid``, or None (drgn's find_task; the kernel's
    find_task_by_pid_ns in the initial namespace).

    >>> find_task(m, 2).comm
    'other'
    >>> find_task(m, 99) is None
    True
    """
    _machine(m)
    if isinstance(pid, bool) or not isinstance(pid, int):
        raise TypeError(f"pid must be an int, not {pid!r}")
    return m.tasks.get(pid)


def task_state_to_char(m, task) -> str:
    """The one-letter state /proc/PID/stat shows: R for the task on the CPU (``m.current``
    while it runs a system call), S for every other live task, X for a reaped one (drgn's
    task_state_to_char; fs/proc/array.c get_task_state).

    >>> task_state_to_char(m, find_task(m, 2))
    'S'
    """
    if not isinstance(task, TaskStruct):
        raise TypeError(f"task must be a task_struct, not {task!r}")
    return get_task_state(m, task)[0]
