"""The function_graph tracer over the model's own functions
(kernel/trace/trace_functions_graph.c).

4.6's function_graph hooks every kernel function's entry and return through mcount; the
model's kernel is Python, so ``sys.setprofile`` plays mcount: every call and return of a
Python function in the linuxvm package is recorded, except the accelerators
(linuxvm/accel/, which the machine switches off while a graph is recorded so the
kernel-shaped reference path runs), the façade and front ends (machine.py, process.py,
cli, helpers, workloads, viz, tools) and the tracing code itself. Comprehensions and
lambdas (``<listcomp>``, ``<lambda>``) are folded into their function.

Durations are **host time** (``time.perf_counter_ns`` around each Python call): the
model's clock (``m.clock_ns``) stands still while a system call runs, so model time would
print 0.000 us everywhere. They say where the model spends its time, not what 4.6 would
take; no test may assert on them.
"""

import os
import sys
import time

_PKG = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_EXCLUDED_DIRS = tuple(os.path.join(_PKG, d) + os.sep for d in (
    "accel", "helpers", "workloads", "viz", "tools", os.path.join("kernel", "trace")))
_EXCLUDED_FILES = frozenset(os.path.join(_PKG, f) for f in (
    "machine.py", "process.py", "cli.py", "__init__.py", "errors.py", "units.py",
    os.path.join("lib", "tracepoint.py"), os.path.join("lib", "accel_registry.py")))

# print_graph_duration's overhead marks: the first whose threshold the duration passes
_MARKS = ((1_000_000_000, "$"), (100_000_000, "@"), (10_000_000, "*"), (1_000_000, "#"),
          (100_000, "!"), (10_000, "+"))


def traced_file(filename: str) -> bool:
    """Whether functions defined in ``filename`` are model functions the graph shows."""
    if not filename.startswith(_PKG + os.sep):
        return False
    if filename in _EXCLUDED_FILES:
        return False
    return not filename.startswith(_EXCLUDED_DIRS)


def trace_print_graph_duration(ns: int) -> str:
    """The duration column: microseconds with up to three decimals in 7 digits, " us ",
    padded to 8 (kernel/trace/trace_functions_graph.c trace_print_graph_duration)."""
    usecs = str(ns // 1000)
    out = usecs
    if len(usecs) < 7:
        nsecs = f"{ns % 1000:03d}"[:min(5, 8 - len(usecs)) - 1]
        out += "." + nsecs
    return out + " us " + " " * max(0, 8 - len(out))


def _mark(ns: int) -> str:
    for threshold, c in _MARKS:
        if ns > threshold:
            return c
    return " "


class GraphCall:
    """One traced call: its depth, function name, module, host duration and children."""

    __slots__ = ("depth", "name", "module", "start_ns", "duration_ns", "children")

    def __init__(self, depth, name, module, start_ns):
        self.depth = depth
        self.name = name
        self.module = module
        self.start_ns = start_ns
        self.duration_ns = None
        self.children = []

    def __repr__(self):
        return f"<{self.name}() depth={self.depth}>"


class FunctionGraph:
    """A function_graph recording: ``with m.trace.function_graph() as g: ...`` then
    ``g.text()``, ``g.functions()`` or ``g.roots``.

    :param m: the machine (its accelerators step aside while recording)
    :param cpu: the CPU number printed in the first column (default: m.current_cpu)
    """

    def __init__(self, tracer, cpu=None):
        self._tracer = tracer
        self.cpu = cpu
        self.roots = []
        self._stack = []          # per Python frame entered since start: GraphCall or None
        self._open = []           # the GraphCalls not yet returned, innermost last
        self._recording = False
        self._nr_cpus = tracer.m.nr_cpus

    # -- recording ------------------------------------------------------------------------
    def __enter__(self):
        if self._recording:
            raise RuntimeError("this function graph is already recording")
        m = self._tracer.m
        if self.cpu is None:
            self.cpu = m.current_cpu
        self._tracer._step_aside(True)
        self._recording = True
        self._prev = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self._prev)
        self._recording = False
        now = time.perf_counter_ns()
        for call in self._open:                 # calls an exception left open
            call.duration_ns = now - call.start_ns
        self._open.clear()
        self._stack.clear()
        self._tracer._step_aside(False)
        return False

    def _profile(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            if code.co_name[0] != "<" and traced_file(code.co_filename):
                call = GraphCall(len(self._open), code.co_name,
                                 frame.f_globals.get("__name__", ""), 0)
                (self._open[-1].children if self._open else self.roots).append(call)
                self._open.append(call)
                self._stack.append(call)
                call.start_ns = time.perf_counter_ns()
            else:
                self._stack.append(None)
        elif event == "return":
            if not self._stack:
                return                          # a frame entered before recording began
            call = self._stack.pop()
            if call is not None:
                call.duration_ns = time.perf_counter_ns() - call.start_ns
                self._open.pop()

    # -- reading --------------------------------------------------------------------------
    def walk(self):
        """Every recorded call, in the order they were entered."""
        todo = list(reversed(self.roots))
        while todo:
            call = todo.pop()
            yield call
            todo.extend(reversed(call.children))

    def functions(self) -> list:
        """The names of the functions called, in call order (with repeats)."""
        return [c.name for c in self.walk()]

    def lines(self) -> list:
        """The graph as function_graph prints it, without the header."""
        width = len(str(max(self._nr_cpus - 1, 0)))      # max_bytes_for_cpu
        cpu = f" {self.cpu:>{width}d}) "
        fill = "              |  "
        out = []

        def emit(call):
            indent = "  " * call.depth
            dur = call.duration_ns or 0
            head = f"{cpu}{_mark(dur)} {trace_print_graph_duration(dur)}|  "
            if not call.children:
                out.append(f"{head}{indent}{call.name}();")
                return
            out.append(f"{cpu}{fill}{indent}{call.name}() {{")
            for child in call.children:
                emit(child)
            out.append(f"{head}{indent}}}")
        for root in self.roots:
            emit(root)
        return out

    def text(self) -> str:
        """The recording as /sys/kernel/debug/tracing/trace reads with current_tracer set
        to function_graph (default options: CPU, overhead marks, durations)."""
        # __print_graph_headers_flags with CPU and DURATION on
        header = ["# tracer: function_graph", "#",
                  "#" + " CPU" + "  DURATION   " + "               FUNCTION CALLS",
                  "#" + " |  " + "   |   |      " + "               |   |   |   |"]
        return "\n".join(header + self.lines()) + "\n"
