"""Event declarations, one module per header of the kernel's include/trace/events/.

Importing this package declares every event the model fires (linuxvm/lib/tracepoint.py
keeps the registry); linuxvm/mm/machine_state.py builds each machine's tracepoint table
from ``all_events()``.
"""

from ....lib.tracepoint import EVENTS
from . import kmem, vmscan, compaction, oom, filemap, pagemap

__all__ = ["all_events", "kmem", "vmscan", "compaction", "oom", "filemap", "pagemap"]


def all_events() -> dict:
    """Every declared event: name -> TraceEvent, in declaration order."""
    return EVENTS
