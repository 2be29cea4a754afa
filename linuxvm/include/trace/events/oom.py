"""The oom event (include/trace/events/oom.h)."""

from ....lib.tracepoint import TRACE_EVENT

oom_score_adj_update = TRACE_EVENT(
    "oom", "oom_score_adj_update", "pid comm oom_score_adj",
    lambda pid, comm, adj: f"pid={pid} comm={comm} oom_score_adj={adj}")
