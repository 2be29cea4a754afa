"""Tracing (the kernel's kernel/trace/): ``m.trace``, the event tracer over the model's
tracepoints, and the function-graph view of the model's own functions."""
