"""Accelerators of arch/x86/uaccess.py, continued: read touches of cached file mappings.

``touch_file_read`` stands in for ``linuxvm.arch.x86.uaccess.touch`` (one read access per
page: TLB miss, page walk, #PF, handle_mm_fault → do_read_fault → do_fault_around →
filemap_map_pages, the retried walk and TLB fill) over file-backed VMAs whose fault-around
maps cached pages. It works a PTE table at a time: which pages fault, which fault-around
window each fault maps, and what every mapped page, PTE, counter and TLB entry ends as
are worked out for the whole run from the PTEs and the page cache as they stand, then
written with NumPy. Every page it cannot prove ordinary -- a fault whose own page
fault-around would not map (not cached, locked, a readahead marker, not up to date, past
EOF: filemap_fault's work), a cached translation, a PTE the walk would not simply accept,
a missing PTE table -- is one access through :func:`touch`. Other VMAs go to
``touch_bulk`` when it is on, else to the reference loop.

tests/test_filemap_touch.py and tests/test_accel.py compare whole machines.
"""

from bisect import bisect_left, bisect_right
from itertools import repeat

import numpy as np

from ..arch.x86.mmu import okmask, R_RW, R_USER, R_NX, R_DIRTY, _ADDR_RSVD, _FRAME
from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from ..arch.x86.pgtable import massage_pgprot, pt_array
from ..arch.x86.pgtable_types import (_PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_RW, _PAGE_USER,
                                      _PAGE_PRESENT, _PAGE_PSE, _PAGE_NX, _PAGE_GLOBAL)
from ..arch.x86.uaccess import run_on_cpu, touch
from ..include.mm import (VM_READ, VM_WRITE, VM_EXEC, VM_LOCKED, VM_GROWSDOWN, VM_HUGETLB,
                          VM_PFNMAP, VM_MIXEDMAP)
from ..errors import KernelBug
from ..include.vm_event_item import PGFAULT, NR_FILE_MAPPED, NR_FREE_PAGES
from ..lib.accel_registry import register
from ..mm.filemap import filemap_map_pages, _size_pages, PG_readahead
from ..arch.x86.fault import pagefault_out_of_memory
from ..mm.memory.pgtable import pte_alloc_map
from ..mm.memory.rss import sync_mm_rss, check_sync_rss_stat, TASK_RSS_EVENTS_THRESH
from ..mm.oom_kill import OomDeferred
from ..mm.mm_types import MM_FILEPAGES, MM_SHMEMPAGES
from ..mm.gfp import PGALLOC_GFP
from ..mm.mmzone import WMARK_HIGH
from ..mm.page import NULL, PG_locked, PG_uptodate, PG_swapbacked
from ..mm.page_alloc import alloc_context, _GFP_BITS_MASK
from ..mm.vma import find_vma
from .uaccess import _BulkTlb

__all__ = ["touch_file_read"]

_EXCLUDED = VM_LOCKED | VM_GROWSDOWN | VM_HUGETLB | VM_PFNMAP | VM_MIXEDMAP
_UPPER_ODD = _ADDR_RSVD | _PAGE_PSE
_U64 = 0xFFFFFFFFFFFFFFFF
# the leaf bits a TLB entry's rights, global and dirty parts come from
_LEAF_KEY = _PAGE_RW | _PAGE_USER | _PAGE_NX | _PAGE_DIRTY | _PAGE_GLOBAL


def _file_read_vma(vma) -> bool:
    """A VMA whose read faults fault-around serves the ordinary way: filemap_map_pages
    maps the window, a fault handler exists (do_fault's first check), the read is allowed
    (access_error), and no mlock, stack, hugetlb or PFN mapping."""
    ops = vma.vm_ops
    return (ops is not None and ops.map_pages is filemap_map_pages and ops.fault is not None
            and vma.vm_file is not None and not vma.vm_flags & _EXCLUDED
            and bool(vma.vm_flags & (VM_READ | VM_EXEC | VM_WRITE)))


@register("touch_file_read", "linuxvm.arch.x86.uaccess.touch")
def touch_file_read(m, task, addr: int, length: int) -> None:
    """touch(write=False) with the faults of cached file pages made a PTE table at a time."""
    end = addr + length
    va = addr
    cpu = run_on_cpu(m, task)
    mm = task.mm
    if mm is None:
        touch(m, task, addr, length, False)
        return
    held = _FileTlb(cpu.tlb)
    try:
        while va < end:
            vma = find_vma(mm, va)
            if vma is None or vma.vm_start > va or not _file_read_vma(vma):
                # not a file mapping (or a gap, which the access path answers): the rest of
                # it as touch would take it, then look again
                if vma is None:
                    stop = end
                elif vma.vm_start > va:
                    stop = min(end, vma.vm_start)
                else:
                    stop = min(end, vma.vm_end)
                held.flush()
                bulk = m.accel.touch_bulk
                if bulk is not None:
                    bulk(m, task, va, stop - va, False)
                else:
                    touch(m, task, va, stop - va, False)
                va = stop
                cpu = run_on_cpu(m, task)
                held = _FileTlb(cpu.tlb)
                continue
            chunk_end = min(end, vma.vm_end, ((va >> 21) + 1) << 21)
            va = _file_chunk(m, task, cpu, mm, vma, va, chunk_end, held)
    finally:
        held.flush()


def _one_access(m, task, va: int, held) -> int:
    held.flush()
    touch(m, task, va, 1, False)
    return (va & ~(PAGE_SIZE - 1)) + PAGE_SIZE


_MISSING = "missing"
_OOM_DEFERRED = "oom deferred"


def _upper(m, cpu, va: int):
    """The PGD, PUD and PMD entries over ``va`` when each is a plain present table entry
    a user read may pass: ``(t0, i0, t1, i1, t2, i2, t3pfn)``; ``_MISSING`` when a level is
    none (the fault builds the tables); None for anything else."""
    pgt = m.pgtables
    t0 = pgt.get(cpu.cr3 >> 12)
    if t0 is None:
        return None
    i0 = (va >> 39) & 511
    e0 = t0[i0]
    if not e0:
        return _MISSING
    if not e0 & _PAGE_PRESENT or e0 & _UPPER_ODD:
        return None
    t1 = pgt.get((e0 & _FRAME) >> 12)
    if t1 is None:
        return None
    i1 = (va >> 30) & 511
    e1 = t1[i1]
    if not e1:
        return _MISSING
    if not e1 & _PAGE_PRESENT or e1 & _UPPER_ODD:
        return None
    t2 = pgt.get((e1 & _FRAME) >> 12)
    if t2 is None:
        return None
    i2 = (va >> 21) & 511
    e2 = t2[i2]
    if not e2:
        return _MISSING
    if not e2 & _PAGE_PRESENT or e2 & _UPPER_ODD or not e0 & e1 & e2 & _PAGE_USER:
        return None
    t3 = (e2 & _FRAME) >> 12
    if t3 not in pgt:
        return None
    return t0, i0, t1, i1, t2, i2, t3


# free pages a zone keeps above its high watermark and reserves for _no_reclaim: the three
# table pages a fault may allocate, with a pcp refill batch each, fit many times over
_TABLE_MARGIN = 512


def _no_reclaim(m) -> bool:
    """Whether the page-table allocations of a fault surely come from the first pass of
    get_page_from_freelist (some zone of PGALLOC_GFP's zonelist far above its high
    watermark and reserves): then no reclaim, compaction or OOM runs, and nothing looks
    at or flushes a TLB while they are made."""
    ac = alloc_context(m.pgdat, PGALLOC_GFP & _GFP_BITS_MASK)
    cz = ac.classzone_idx
    for z in ac.zones:
        free = z.vm_stat[NR_FREE_PAGES] - z.nr_reserved_highatomic
        if free - _TABLE_MARGIN > z.watermark[WMARK_HIGH] + z.lowmem_reserve[cz]:
            return True
    return False


def _tlb_marks(tlb) -> tuple:
    return (tlb.hits, tlb.stlb_hits, tlb.misses, tlb.walks, tlb.flush_full,
            tlb.flush_global, tlb.flush_one)


def _build_tables(m, task, cpu, mm, va: int, held):
    """The tables the first fault under a new PMD entry allocates, allocated now (before
    that fault's counters, which nothing in the allocator reads). The TLB fills held back
    are made first unless the allocations surely stay on the allocator's fast path (where
    reclaim could flush TLB entries, they must be in). The walk's view afterwards, or an
    address to go on from when the per-access path had to take the access."""
    keep = _no_reclaim(m)
    if not keep:
        held.flush_fills()
    marks = _tlb_marks(cpu.tlb)
    m.oom.defer = True
    try:
        ptr = pte_alloc_map(m, mm, va)
    except OomDeferred:
        ptr = _OOM_DEFERRED
    finally:
        m.oom.defer = False
    if ptr is _OOM_DEFERRED:
        # a table allocation needs the OOM killer: the per-access path runs it
        return _one_access(m, task, va, held)
    if keep and _tlb_marks(cpu.tlb) != marks:
        raise KernelBug("touch_file_read: the TLB was used while fills were held back "
                        "over a page-table allocation")
    if ptr is None:
        # as that fault: its miss, failing walk and counts, then VM_FAULT_OOM; the access
        # is retried (the next call finds what was allocated)
        held.flush()
        tlb = cpu.tlb
        tlb.misses += 1
        tlb.walks += 1
        cpu.cr2 = va
        m.pgdat.vm_events[PGFAULT] += 1
        check_sync_rss_stat(m, task)
        pagefault_out_of_memory(m, task, va)
        return va
    up = _upper(m, cpu, va)
    if up is None or up is _MISSING:
        return _one_access(m, task, va, held)
    return up


def _file_chunk(m, task, cpu, mm, vma, va: int, end: int, held) -> int:
    """The read accesses from ``va`` up to ``end`` (inside one PTE table and one file
    VMA), as far as they are ordinary; returns where it stopped (the page there is the
    next call's)."""
    pva = va & ~(PAGE_SIZE - 1)
    n = (end - pva + PAGE_SIZE - 1) >> PAGE_SHIFT
    if (m.current is not task or cpu.current is not task or task.sigkill or not cpu.nxe
            or cpu.cr3 != mm.pgd << 12):
        return _one_access(m, task, va, held)
    up = _upper(m, cpu, va)
    if up is None:
        return _one_access(m, task, va, held)
    n = held.clear_run(pva, n)
    if not n:
        return _one_access(m, task, va, held)
    if up is _MISSING:
        up = _build_tables(m, task, cpu, mm, va, held)
        if isinstance(up, int):
            return up
    t0, i0, t1, i1, t2, i2, t3pfn = up
    arr = pt_array(m, t3pfn)
    base = pva & ~((1 << 21) - 1)                  # the table's first address
    first = (pva >> PAGE_SHIFT) & 511              # the accessed PTEs: [first, last]
    last = first + n - 1
    vlo = max(0, (vma.vm_start - base) >> PAGE_SHIFT)
    vhi = min(511, ((vma.vm_end - base) >> PAGE_SHIFT) - 1)
    nr = m.fault_around_bytes >> PAGE_SHIFT
    around = 1 < nr <= 512 and not nr & (nr - 1)
    if not around:
        nr = 1
    # the PTEs and page-cache slots fault-around may reach: [lo, hi]
    lo = max(vlo, first & ~(nr - 1))
    hi = min(vhi, last + nr - 1)
    seg = arr[lo:hi + 1]
    none = seg == 0
    # accessed PTEs present already must be ones the walk simply accepts
    acc = seg[first - lo:last - lo + 1]
    pu = np.uint64(_PAGE_PRESENT | _PAGE_USER)
    bad = np.flatnonzero((acc != 0) & (((acc & pu) != pu)
                                       | ((acc & np.uint64(_ADDR_RSVD)) != 0)))
    if bad.size:
        last = first + int(bad[0]) - 1
        if last < first:
            return _one_access(m, task, va, held)
    # which slots fault-around would map: cached, up to date, neither locked nor a
    # readahead marker, inside i_size (filemap_map_pages' tests, which nothing here changes)
    file = vma.vm_file
    mapping = file.f_mapping
    pgoff_lo = ((base + (lo << PAGE_SHIFT) - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff
    i_pages = mapping.i_pages
    size = _size_pages(mapping.host)
    top = min(pgoff_lo + hi - lo + 1, size)
    pf = np.full(hi - lo + 1, NULL, dtype=np.int64)
    if top > pgoff_lo:
        pf[:top - pgoff_lo] = list(map(i_pages.get, range(pgoff_lo, top),
                                       repeat(NULL, top - pgoff_lo)))
    mem_map = m.mem_map
    flags = mem_map.flags
    cached = pf != NULL
    fl = np.zeros(hi - lo + 1, dtype=np.uint64)
    fl[cached] = flags[pf[cached]]
    elig = cached & ((fl & np.uint64((1 << PG_uptodate) | (1 << PG_readahead)
                                     | (1 << PG_locked))) == np.uint64(1 << PG_uptodate))
    # the faults, in access order: each at the first accessed PTE still none; its window
    # [ws, we] (do_fault_around's, in table slots) maps every eligible none slot in it
    cand = np.flatnonzero(none[first - lo:last - lo + 1]) + first
    odd = np.flatnonzero(~elig[cand - lo]).tolist()      # faults filemap_fault would serve
    cand = cand.tolist()
    el = elig.tolist()
    faults = []
    stop = last + 1
    k = 0
    while k < len(cand):
        q = cand[k]
        if not around or not el[q - lo]:
            stop = q
            break
        ws = max(q & ~(nr - 1), vlo)
        we = min(ws + nr - 1, vhi)
        faults.append((q, ws, we))
        k2 = bisect_right(cand, we, k + 1)
        j = bisect_left(odd, k + 1)
        if j < len(odd) and odd[j] < k2:
            k2 = odd[j]                 # an ineligible none page in the window faults next
        k = k2
    if stop == first:
        return _one_access(m, task, va, held)
    # the slots mapped: eligible none slots under some window
    covered = np.zeros(hi - lo + 1, dtype=bool)
    for q, ws, we in faults:
        covered[ws - lo:we - lo + 1] = True
    new = none & elig & covered
    slots = np.flatnonzero(new)
    pages = pf[slots]
    if pages.size:
        swapbacked = (fl[slots] & np.uint64(1 << PG_swapbacked)) != 0
        kinds = int(swapbacked.sum())
        if (kinds and kinds != pages.size) or (mem_map.compound_head[pages] != NULL).any() \
                or (mem_map._refcount[pages] <= 0).any():
            # a mix of shmem and file pages, a compound page, a free page: the reference
            # (get_page's checks) for these accesses
            held.flush()
            stop_va = base + (stop << PAGE_SHIFT)
            touch(m, task, va, stop_va - va, False)
            return stop_va
        member = MM_SHMEMPAGES if kinds else MM_FILEPAGES
    else:
        member = MM_FILEPAGES
    nf = len(faults)
    # the faults' counters, fault by fault: check_sync_rss_stat, then each window's pages
    # counted in the task's cache (inc_mm_counter_fast from do_set_pte)
    if nf:
        cum = np.concatenate(([0], np.cumsum(new))).tolist()
        rs = task.rss_stat
        count = rs.count
        prev = lo - 1
        for q, ws, we in faults:
            ev = rs.events
            rs.events = ev + 1
            if ev > TASK_RSS_EVENTS_THRESH:
                sync_mm_rss(mm, task)
            a = max(ws, prev + 1)
            c = cum[we - lo + 1] - cum[a - lo]
            if c:
                count[member] += c
            prev = we
        m.pgdat.vm_events[PGFAULT] += nf
        task.min_flt += nf
    # filemap_map_pages per mapped page: get_page, mmap_miss, page_add_file_rmap, mk_pte
    if pages.size:
        mem_map._refcount[pages] += 1
        ra = file.f_ra
        if ra.mmap_miss > 0:
            ra.mmap_miss = max(0, ra.mmap_miss - int(pages.size))
        mc = mem_map._mapcount[pages] + 1
        mem_map._mapcount[pages] = mc
        firsts = pages[mc == 0]
        if firsts.size:
            zones = (flags[firsts] >> np.uint64(62)).astype(np.int64)
            for z, c in enumerate(np.bincount(zones, minlength=4).tolist()):
                if c:
                    m.zones[z].vm_stat[NR_FILE_MAPPED] += c
        prot = massage_pgprot(vma.vm_page_prot)
        seg[slots] = ((pages << PAGE_SHIFT).astype(np.uint64) | np.uint64(prot & _U64))
    # the accesses [first, stop): a failing walk per fault, then a successful walk each
    # that sets A on the path and the leaf, and a TLB fill
    nacc = stop - first
    tlb = cpu.tlb
    tlb.misses += nacc + nf
    tlb.walks += nacc + nf
    if nf:
        q = faults[-1][0]
        cpu.cr2 = va if q == first else base + (q << PAGE_SHIFT)
    for t, i in ((t0, i0), (t1, i1), (t2, i2)):
        e = t[i]
        if not e & _PAGE_ACCESSED:
            t[i] = e | _PAGE_ACCESSED
    leaves = seg[first - lo:stop - lo] | np.uint64(_PAGE_ACCESSED)
    seg[first - lo:stop - lo] = leaves
    _hold_fills(cpu, held, pva >> PAGE_SHIFT, leaves, t0[i0] & t1[i1] & t2[i2],
                t0[i0] | t1[i1] | t2[i2])
    return base + (stop << PAGE_SHIFT)


def _hold_fills(cpu, held, vpn: int, leaves, upper_and: int, upper_or: int) -> None:
    """The TLB fills of the retried walks of pages ``vpn``... with PTEs ``leaves``, held
    back in runs of equal rights."""
    keys = leaves & np.uint64(_LEAF_KEY)
    phys = (leaves & np.uint64(_FRAME)).tolist()
    n = len(phys)
    cuts = (np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist()
    starts = [0] + cuts
    ends = cuts + [n]
    keys = keys.tolist()
    pge = cpu.pge
    for s, e in zip(starts, ends):
        leaf = keys[s]
        rights = ((upper_and & leaf) >> 1) & (R_RW | R_USER)
        if (upper_or | leaf) & _PAGE_NX:
            rights |= R_NX
        dirty = bool(leaf & _PAGE_DIRTY)
        if dirty:
            rights |= R_DIRTY
        glob = bool(leaf & _PAGE_GLOBAL) and pge
        held.add(vpn + s, e - s, phys[s:e], (okmask(cpu, rights), glob, rights, dirty))


class _FileTlb(_BulkTlb):
    """_BulkTlb whose fills are made a set at a time, with runs of consecutive pages of
    equal rights merged; ``flush_fills`` makes them and keeps the snapshot, which stays
    a superset of the cached keys (nothing but the held fills adds one, and a touch asks
    only about pages above those)."""

    __slots__ = ()

    def add(self, vpn: int, n: int, phys, entry_tail) -> None:
        runs = self.runs
        if runs:
            v0, n0, p0, t0 = runs[-1]
            if v0 + n0 == vpn and t0 == entry_tail:
                p0.extend(phys)
                runs[-1] = (v0, n0 + n, p0, t0)
                return
        runs.append((vpn, n, list(phys), entry_tail))

    def flush_fills(self) -> None:
        if self.runs:
            for lv in (self.tlb.stlb, self.tlb.l1_4k):
                _fill_runs(lv, self.runs)
            self.runs = []

    def flush(self) -> None:
        self.flush_fills()
        self.k4 = None


def _fill_runs(lv, runs) -> None:
    """TlbLevel.insert of every page of ``runs`` in order, none of them cached yet: the
    newest ``ways`` of each set survive, picked set by set from the newest run back."""
    ways, mask, nsets = lv.ways, lv.mask, lv.nsets
    picked = {}
    full = 0
    for vpn, n, phys, tail in reversed(runs):
        for r in range(min(n, nsets)):
            o = n - 1 - r                       # the newest page of its set in this run
            si = (vpn + o) & mask
            lst = picked.get(si)
            if lst is None:
                lst = picked[si] = []
            need = ways - len(lst)
            if need <= 0:
                continue
            for oo in range(o, -1, -nsets)[:need]:
                lst.append((vpn + oo, (phys[oo],) + tail))
            if len(lst) == ways:
                full += 1
        if full == nsets:
            break
    sets = lv.sets
    for si, lst in picked.items():
        s = sets[si]
        lst.reverse()
        if len(lst) == ways:
            s.clear()
            s.update(lst)
            continue
        for key, entry in lst:
            if len(s) >= ways:
                del s[next(iter(s))]           # the least recently used way goes
            s[key] = entry
