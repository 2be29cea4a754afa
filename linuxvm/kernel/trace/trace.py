"""``m.trace``: the event tracer (kernel/trace/trace.c, trace_events.c) and its tracefs
files under /sys/kernel/debug/tracing.

>>> m.trace.enable("kmem:mm_page_alloc")
>>> p.access(a, "w")
>>> print(m.trace.read())
# tracer: nop
...
            prog-2     [000] ....     0.000000: mm_page_alloc: page=ffffea0000f3a1c0 ...

While any event is on (or a function graph is recording) the machine's accelerators
step aside, so the kernel-shaped reference code, which fires every event where 4.6
fires it, runs everywhere; when the last event goes off they are restored as they were
(docs/accelerators.md rule 8, docs/tracing.md).
"""

import errno
import fnmatch

from ...errors import SyscallError
from ...lib.tracepoint import EVENTS
from .trace_functions_graph import FunctionGraph

TRACING = "/sys/kernel/debug/tracing"

_CONTEXT_HEADER = (
    "#                              _-----=> irqs-off\n"
    "#                             / _----=> need-resched\n"
    "#                            | / _---=> hardirq/softirq\n"
    "#                            || / _--=> preempt-depth\n"
    "#                            ||| /     delay\n"
    "#           TASK-PID   CPU#  ||||    TIMESTAMP  FUNCTION\n"
    "#              | |       |   ||||       |         |\n")


class Tracer:
    """The machine's event tracer: enable events, subscribe callbacks, read the buffer.

    :param m: the booted machine (``m.tp`` is its tracepoint table)
    """

    def __init__(self, m):
        self.m = m
        self.tp = m.tp
        self._aside = 0             # reasons the accelerators are stepped aside now
        self._saved_accel = None    # the accelerators that were on before
        self.tp.listeners.append(self._step_aside)

    # -- which events --------------------------------------------------------------------
    def events(self) -> list:
        """Every event the model can fire, as ``system:event`` (available_events)."""
        return [ev.full_name for ev in EVENTS.values()]

    def _match(self, spec: str) -> list:
        """The event names ``spec`` selects: "kmem:mm_page_alloc", "mm_page_alloc",
        "kmem" or "kmem:*", "*:mm_page_*", "all" or "*:*" (set_event's forms, globbed)."""
        if not isinstance(spec, str):
            raise TypeError(f"an event must be a str such as 'kmem:mm_page_alloc', "
                            f"not {spec!r}")
        spec = spec.strip()
        if spec in ("all", "*", "*:*"):
            return list(EVENTS)
        if ":" in spec:
            system, _, name = spec.partition(":")
        elif any(ev.system == spec for ev in EVENTS.values()):
            system, name = spec, "*"
        else:
            system, name = "*", spec
        hits = [n for n, ev in EVENTS.items()
                if fnmatch.fnmatchcase(ev.system, system or "*")
                and fnmatch.fnmatchcase(n, name or "*")]
        if not hits:
            raise ValueError(f"no trace event matches {spec!r} (see m.trace.events())")
        return hits

    def enable(self, *specs) -> None:
        """Turn events on: ``m.trace.enable("kmem:mm_page_alloc", "vmscan")``.

        :raises ValueError: a name that matches no event
        """
        names = [n for spec in specs for n in self._match(spec)]
        for n in names:
            self.tp.enable(n)

    def disable(self, *specs) -> None:
        """Turn events off (all of them when none is named)."""
        names = [n for spec in specs for n in self._match(spec)] if specs else list(EVENTS)
        for n in names:
            self.tp.disable(n)

    def enabled(self) -> list:
        """The events that are on, as ``system:event`` (set_event)."""
        return self.tp.enabled()

    # -- subscribers ---------------------------------------------------------------------
    def subscribe(self, callback, *specs):
        """Call ``callback(record)`` for every event fired from now on; naming events
        (``subscribe(cb, "kmem")``) turns them on too. Returns ``callback``.

        ``record`` is a TraceRecord: ``.name``, ``.fields`` (TP_STRUCT__entry by name),
        ``.text()`` (TP_printk), ``.line()`` (the trace file's line), ``.ts_ns``, ``.cpu``,
        ``.comm``, ``.pid``.
        """
        if not callable(callback):
            raise TypeError(f"callback must be callable, not {callback!r}")
        self.enable(*specs)
        self.tp.subscribers.append(callback)
        return callback

    def unsubscribe(self, callback) -> None:
        """Stop calling ``callback`` (its events stay on)."""
        try:
            self.tp.subscribers.remove(callback)
        except ValueError:
            raise ValueError(f"{callback!r} is not subscribed") from None

    # -- the buffer ------------------------------------------------------------------------
    def records(self) -> list:
        """The records in the ring buffer, oldest first."""
        return list(self.tp.buffer)

    def clear(self) -> None:
        """Empty the ring buffer (``echo > /sys/kernel/debug/tracing/trace``)."""
        self.tp.clear()

    def read(self) -> str:
        """The ring buffer as /sys/kernel/debug/tracing/trace shows it (the nop tracer)."""
        buf = self.tp.buffer
        head = (f"# tracer: nop\n#\n# entries-in-buffer/entries-written: "
                f"{len(buf)}/{self.tp.entries_written}   #P:{self.m.nr_cpus}\n#\n"
                + _CONTEXT_HEADER)
        return head + "".join(rec.line() + "\n" for rec in buf)

    # -- function graph --------------------------------------------------------------------
    def function_graph(self, cpu=None) -> FunctionGraph:
        """A function_graph recording of the model's functions for a ``with`` block:

        >>> with m.trace.function_graph() as g:
        ...     p.access(a, "w")
        >>> print(g.text())

        Durations are host time (docs/tracing.md).
        """
        return FunctionGraph(self, cpu)

    # -- accelerators step aside ---------------------------------------------------------
    def _step_aside(self, on: bool) -> None:
        """Tracing began (``on``) or ended: switch every accelerator off while any
        tracing is on, and back to the saved set after the last."""
        accel = self.m.accel
        if on:
            self._aside += 1
            if self._aside == 1:
                self._saved_accel = accel.enabled()
                for name in self._saved_accel:
                    accel.set(name, False)
        else:
            if self._aside == 0:
                return
            self._aside -= 1
            if self._aside == 0:
                for name in self._saved_accel or ():
                    accel.set(name, True)
                self._saved_accel = None

    # -- tracefs -----------------------------------------------------------------------
    def register(self, procfs) -> None:
        """Put trace, available_events and set_event under /sys/kernel/debug/tracing."""
        procfs.add_text(f"{TRACING}/trace", self.read, self._write_trace, mode=0o644)
        procfs.add_text(f"{TRACING}/available_events",
                        lambda: "".join(e + "\n" for e in self.events()), mode=0o444)
        procfs.add_text(f"{TRACING}/set_event",
                        lambda: "".join(e + "\n" for e in self.enabled()),
                        self._write_set_event, mode=0o644)

    def _write_trace(self, text: str) -> None:
        self.clear()                         # opening trace with O_TRUNC empties it

    def _write_set_event(self, text: str) -> None:
        """A truncating write: every event off, then the ones named on ("!name" off)."""
        words = text.split()
        try:
            for word in words:                   # every name checked before any change
                self._match(word.lstrip("!"))
        except ValueError:
            raise SyscallError(errno.EINVAL, "write") from None
        self.disable()
        for word in words:
            if word.startswith("!"):
                self.disable(word[1:])
            else:
                self.enable(word)
