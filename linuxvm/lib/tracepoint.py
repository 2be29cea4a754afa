"""Tracepoints: named events that model code fires, a per-machine on/off table, the ring
buffer they write to and the callbacks subscribed to them (include/linux/tracepoint.h,
kernel/tracepoint.c, kernel/trace/trace_events.c).

An event is declared once, in a module named after its kernel header
(linuxvm/include/trace/events/kmem.py declares ``kmem:mm_page_alloc`` as
include/trace/events/kmem.h does), with its TP_STRUCT__entry field names and its
TP_printk format. Each machine holds a ``Tracepoints`` table (``m.tp``) with one
attribute per event: None while nobody listens, the probe while the event is enabled.
A site in mm/ costs one attribute read and one test when tracing is off, as a static
key does in the kernel::

    tp = m.tp.mm_page_alloc
    if tp is not None:
        tp(pfn, order, gfp_flags, migratetype)

The arguments are the event's fields in TP_STRUCT__entry order; whatever TP_fast_assign
derives (a pageblock's migratetype, a page's reclaim flags) the site computes before the
call, inside the test. The probe stamps the record with the model's clock
(``m.clock_ns``), the CPU and the running task, appends it to the ring buffer and hands
it to every subscriber.

This module sits below every layer so that mm/ and arch/ can fire events without
importing anything above them; the front end (``m.trace``, linuxvm/kernel/trace/) turns
events on and reads the buffer.
"""

from collections import deque

__all__ = ["TraceEvent", "EVENTS", "TRACE_EVENT", "TraceRecord", "Tracepoints",
           "print_flags", "print_symbolic", "pointer"]

# the ring buffer's size in records (buffer_size_kb of 4.6 holds about as many small ones)
TRACE_BUF_RECORDS = 65536


class TraceEvent:
    """One declared event: ``system:name``, its fields and its TP_printk as a function."""

    __slots__ = ("system", "name", "fields", "printk", "id")

    def __init__(self, system: str, name: str, fields: tuple, printk, id: int):
        self.system = system
        self.name = name
        self.fields = fields
        self.printk = printk
        self.id = id

    @property
    def full_name(self) -> str:
        return f"{self.system}:{self.name}"

    def __repr__(self):
        return f"<trace event {self.full_name}>"


# event name -> TraceEvent, filled when linuxvm.include.trace.events is imported; as in
# 4.6 every event name is unique across systems, so the table is keyed by name alone
EVENTS: dict = {}


def TRACE_EVENT(system: str, name: str, fields, printk) -> TraceEvent:
    """Declare event ``system:name`` with TP_STRUCT__entry ``fields`` (a space-separated
    string or a tuple) and ``printk(*fields) -> str`` (its TP_printk)."""
    if isinstance(fields, str):
        fields = tuple(fields.split())
    old = EVENTS.get(name)
    if old is not None:
        if old.system != system:
            raise ValueError(f"event {name!r} is declared in {old.system} and {system}")
        return old
    ev = TraceEvent(system, name, tuple(fields), printk, len(EVENTS) + 1)
    EVENTS[name] = ev
    return ev


# --- TP_printk helpers (include/trace/trace_events.h, lib/vsprintf.c) --------------------

def print_flags(value: int, delim: str, table) -> str:
    """__print_flags: the names of ``table``'s masks found in ``value``, first match first,
    the bits no mask names as one hex number at the end (trace_print_flags_seq)."""
    parts = []
    for mask, name in table:
        if mask and value & mask == mask:
            parts.append(name)
            value &= ~mask
            if not value:
                break
    if value:
        parts.append(f"0x{value:x}")
    return delim.join(parts)


def print_symbolic(value: int, table) -> str:
    """__print_symbolic: the name of ``value`` in ``table``, else its number in hex."""
    for v, name in table:
        if v == value:
            return name
    return f"0x{value:x}"


def pointer(value) -> str:
    """printk's plain %p as 4.6 prints it: 16 zero-padded hex digits, "(null)" padded to
    16 for NULL (lib/vsprintf.c pointer(); 4.6 does not hash pointers)."""
    if not value:
        return "          (null)"
    return f"{value & 0xFFFFFFFFFFFFFFFF:016x}"


# --- records and the per-machine table ----------------------------------------------------

class TraceRecord:
    """One event as the ring buffer holds it: when, where, who, which event, its fields."""

    __slots__ = ("ts_ns", "cpu", "comm", "pid", "event", "args")

    def __init__(self, ts_ns, cpu, comm, pid, event, args):
        self.ts_ns = ts_ns
        self.cpu = cpu
        self.comm = comm
        self.pid = pid
        self.event = event
        self.args = args

    @property
    def name(self) -> str:
        return self.event.name

    @property
    def fields(self) -> dict:
        """The TP_STRUCT__entry fields by name."""
        return dict(zip(self.event.fields, self.args))

    def text(self) -> str:
        """The TP_printk text of this record."""
        return self.event.printk(*self.args)

    def line(self) -> str:
        """The record as a line of /sys/kernel/debug/tracing/trace (trace_print_context,
        then the event's name and text; the irqs-off/need-resched/hardirq/preempt-depth
        column reads "...." as the model keeps no interrupt or preemption state)."""
        usecs = self.ts_ns // 1000
        return (f"{self.comm[:16]:>16}-{self.pid:<5d} [{self.cpu:03d}] .... "
                f"{usecs // 1000000:5d}.{usecs % 1000000:06d}: {self.event.name}: "
                f"{self.text()}")

    def __repr__(self):
        return f"<{self.event.full_name} {self.text()}>"


class Tracepoints:
    """A machine's tracepoint table (``m.tp``): ``tp.<event>`` is None while the event is
    off, its probe while on; the ring buffer and the subscribers live here too.

    :param m: the machine state the probes read (``clock_ns``, ``current_cpu``,
        ``current_comm()``, ``current_pid()``)
    :param events: the declared events (name -> TraceEvent; default: all of EVENTS)
    """

    def __init__(self, m, events=None):
        self._m = m
        self._enabled = set()          # names of the events that are on
        self.buffer = deque(maxlen=TRACE_BUF_RECORDS)
        self.entries_written = 0       # records written since the last clear
        self.subscribers = []          # callables given every record
        self.listeners = []            # callables told when the first event goes on/last off
        for name in (EVENTS if events is None else events):
            setattr(self, name, None)

    def enabled(self) -> list:
        """The events that are on, as ``system:name``, sorted."""
        return sorted(EVENTS[n].full_name for n in self._enabled)

    def is_on(self) -> bool:
        return bool(self._enabled)

    def enable(self, name: str) -> None:
        ev = EVENTS[name]
        if name in self._enabled:
            return
        was_on = bool(self._enabled)
        self._enabled.add(name)
        setattr(self, name, self._probe(ev))
        if not was_on:
            for fn in list(self.listeners):
                fn(True)

    def disable(self, name: str) -> None:
        if name not in self._enabled:
            return
        self._enabled.discard(name)
        setattr(self, name, None)
        if not self._enabled:
            for fn in list(self.listeners):
                fn(False)

    def clear(self) -> None:
        """Empty the ring buffer (``echo > trace``)."""
        self.buffer.clear()
        self.entries_written = 0

    def _probe(self, ev: TraceEvent):
        m = self._m
        buf = self.buffer
        subscribers = self.subscribers

        def probe(*args):
            if len(args) != len(ev.fields):
                raise TypeError(f"{ev.full_name} takes {len(ev.fields)} fields "
                                f"({', '.join(ev.fields)}), not {len(args)}")
            pid = m.current_pid()
            # trace_find_cmdline: pid 0 (the idle task, and the model's kernel context)
            # reads "<idle>"
            rec = TraceRecord(m.clock_ns, m.current_cpu,
                              m.current_comm() if pid else "<idle>", pid, ev, args)
            buf.append(rec)
            self.entries_written += 1
            for fn in subscribers:
                fn(rec)
        probe.event = ev
        return probe
