"""The mmu_gather of mm/memory.c (include/asm-generic/tlb.h, arch/x86/include/asm/tlb.h):
gather the range to flush and the pages to free while unmapping, flush the TLB, then free.

* ``tlb_gather_mmu(m, mm, start, end) -> MmuGather``; ``tlb_finish_mmu(tlb, start, end)``.
* ``tlb_remove_page`` / ``__tlb_remove_page`` queue a data page, ``pte_free_tlb`` &
  ``pmd_free_tlb`` a page-table page; ``tlb_flush_mmu`` flushes and frees.
"""

import numpy as np

from ...arch.x86 import pgalloc
from ...arch.x86 import tlb as x86_tlb
from ...arch.x86.page_types import PAGE_SIZE
from ...arch.x86.pgtable import U64
from .. import gfp as G
from ..swap_state import free_pages_and_swap_cache

MMU_GATHER_BUNDLE = 8
MAX_GATHER_BATCH = (PAGE_SIZE - 16) // 8          # pointers in one batch page
MAX_GATHER_BATCH_COUNT = 10000 // MAX_GATHER_BATCH


class MmuGather:
    """struct mmu_gather: the range to flush and the pages to free after the flush."""

    __slots__ = ("m", "mm", "start", "end", "fullmm", "need_flush_all", "pages", "tables",
                 "nr", "batch_max", "batch_pages", "batch_count")

    def __init__(self, m, mm, start: int, end: int):
        self.m = m
        self.mm = mm
        self.need_flush_all = False
        # what awaits the flush, in gather order: data pages and page-table pages are kept
        # apart (the flush frees the data pages first); nr counts both, as the batches do
        self.pages = []
        self.tables = []
        self.nr = 0
        self.batch_max = MMU_GATHER_BUNDLE
        self.batch_pages = []         # pages allocated to hold more batches
        self.batch_count = 0
        self.fullmm = not (start or end != U64)
        _tlb_reset_range(self)


_TLB_EMPTY_START = (1 << 47) - PAGE_SIZE        # TASK_SIZE


def _tlb_reset_range(tlb) -> None:
    if tlb.fullmm:
        tlb.start = tlb.end = U64
    else:
        tlb.start = _TLB_EMPTY_START
        tlb.end = 0


def tlb_gather_mmu(m, mm, start: int, end: int) -> MmuGather:
    """Start a gather for unmapping [start, end) of ``mm`` (start=0, end=-1: whole mm)."""
    return MmuGather(m, mm, start & U64, end & U64)


def __tlb_adjust_range(tlb, address: int) -> None:
    tlb.start = min(tlb.start, address)
    tlb.end = max(tlb.end, address + PAGE_SIZE)


def tlb_remove_tlb_entry(tlb, ptr, address: int) -> None:
    __tlb_adjust_range(tlb, address)


def tlb_next_batch(tlb) -> bool:
    """tlb_next_batch: room for MAX_GATHER_BATCH more pages, unless at the limit or the
    allocation fails."""
    if tlb.batch_count == MAX_GATHER_BATCH_COUNT:
        return False
    pfn = tlb.m.kernel.alloc_pages(G.GFP_NOWAIT | G.__GFP_NOWARN, 0)
    if pfn is None:
        return False
    tlb.batch_count += 1
    tlb.batch_pages.append(pfn)
    tlb.batch_max += MAX_GATHER_BATCH
    return True


def __tlb_remove_page(tlb, pfn: int, is_table: bool = False) -> int:
    """Queue a page to free after the flush; the room left (0 means flush now)."""
    (tlb.tables if is_table else tlb.pages).append(pfn)
    tlb.nr += 1
    if tlb.nr == tlb.batch_max and not tlb_next_batch(tlb):
        return 0
    return tlb.batch_max - tlb.nr


def tlb_remove_page(tlb, pfn: int, is_table: bool = False) -> None:
    if not __tlb_remove_page(tlb, pfn, is_table):
        tlb_flush_mmu(tlb)


def tlb_flush(tlb) -> None:
    """x86 tlb_flush: the gathered range, or the whole mm."""
    if not tlb.fullmm and not tlb.need_flush_all:
        x86_tlb.flush_tlb_mm_range(tlb.m, tlb.mm, tlb.start, tlb.end, 0)
    else:
        x86_tlb.flush_tlb_mm_range(tlb.m, tlb.mm, 0, x86_tlb.TLB_FLUSH_ALL, 0)


def tlb_flush_mmu_tlbonly(tlb) -> None:
    if not tlb.end:
        return
    tlb_flush(tlb)
    _tlb_reset_range(tlb)


def _gathered(pages):
    """The gathered data pages as one int64 array: the vectorised zap gathers whole
    arrays, the per-entry path single pfns."""
    parts = []
    run = []
    for x in pages:
        if isinstance(x, int):
            run.append(x)
            continue
        if run:
            parts.append(np.array(run, dtype=np.int64))
            run = []
        parts.append(x)
    if run:
        parts.append(np.array(run, dtype=np.int64))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def tlb_flush_mmu_free(tlb) -> None:
    """Free what the gather holds, one batch at a time: the bundle of MMU_GATHER_BUNDLE,
    then each MAX_GATHER_BATCH batch in turn (data pages fill the batches before the
    page-table pages, which are freed after them)."""
    m = tlb.m
    if tlb.pages:
        pages = _gathered(tlb.pages)
        tlb.pages = []
        start, size = 0, MMU_GATHER_BUNDLE
        while start < len(pages):
            free_pages_and_swap_cache(m, pages[start:start + size])
            start += size
            size = MAX_GATHER_BATCH
    for pfn in tlb.tables:
        pgalloc.free_pgtable_page(m, pfn)
    tlb.tables = []
    tlb.nr = 0


def tlb_flush_mmu(tlb) -> None:
    tlb_flush_mmu_tlbonly(tlb)
    tlb_flush_mmu_free(tlb)


def tlb_finish_mmu(tlb, start: int = 0, end: int = 0) -> None:
    """Flush what was gathered, free the pages, and give back the batch pages."""
    tlb_flush_mmu(tlb)
    if tlb.batch_pages:
        for pfn in tlb.batch_pages:
            tlb.m.kernel.free_pages(pfn, 0)
        tlb.batch_pages = []
        tlb.batch_max = MMU_GATHER_BUNDLE
        tlb.batch_count = 0


def pte_free_tlb(tlb, pfn: int, address: int) -> None:
    __tlb_adjust_range(tlb, address)
    pgalloc.pgtable_page_dtor(tlb.m, pfn)
    tlb_remove_page(tlb, pfn, True)


def pmd_free_tlb(tlb, pfn: int, address: int) -> None:
    __tlb_adjust_range(tlb, address)
    tlb_remove_page(tlb, pfn, True)


pud_free_tlb = pmd_free_tlb
