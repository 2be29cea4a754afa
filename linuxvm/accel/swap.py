"""Accelerators of mm/swap.py: release_pages over many pages at once.

``release_pages`` stands in for ``linuxvm.mm.swap.release_pages``: for many distinct order-0
pages the references drop in one NumPy step, then the pages that reached zero are freed in
list order -- the frees are the only order-sensitive step. Compound, repeated or already
free pages, and short lists, go one ``put_page`` at a time as the reference does
(tests/test_fault_bulk.py compares whole machines).
"""

import numpy as np

from ..lib.accel_registry import register
from ..mm.page import PG_head, NULL, pfns_distinct
from ..mm.swap import put_page, _free_page

__all__ = ["release_pages"]

_PG_HEAD = np.uint64(1 << PG_head)
# below this many pages the NumPy set-up costs more than the loop
_MIN_BATCH = 32


@register("release_pages", "linuxvm.mm.swap.release_pages")
def release_pages(m, pfns, cold: bool = False, cpu: int = None) -> None:
    """release_pages with the references of many distinct order-0 pages dropped at once."""
    if len(pfns) < _MIN_BATCH:
        if isinstance(pfns, np.ndarray):
            pfns = pfns.tolist()
        for pfn in pfns:
            put_page(m, pfn, cpu)
        return
    mm = m.mem_map
    p = np.asarray(pfns, dtype=np.int64)
    rc = mm._refcount[p]
    if (not pfns_distinct(p) or (mm.compound_head[p] != NULL).any()
            or (mm.flags[p] & _PG_HEAD).any() or (rc <= 0).any()):
        for pfn in p.tolist():               # compound or repeated pages: one at a time
            put_page(m, pfn, cpu)
        return
    mm._refcount[p] = rc - 1
    cpu = m.current_cpu if cpu is None else cpu
    for pfn in p[rc == 1].tolist():
        _free_page(m, pfn, cpu)
