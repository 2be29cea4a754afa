"""Accelerators of arch/x86/uaccess.py: write touches and bulk touches of never-touched pages.

Both stand in for ``linuxvm.arch.x86.uaccess.touch`` (one access per page through the
TLB, the walk, #PF and the fault handler) and leave exactly the state it leaves:

* ``touch_write`` takes the commonest accesses of a write touch inline -- a full TLB miss
  on a never-touched page (PTE none, its PTE table built) of a plain private writable
  anonymous VMA, and (through ``cow_break`` in uaccess_one.py) on a write-protected page
  after fork -- making the per-access path's state changes in the same order: the
  failing walk, the #PF, handle_mm_fault's counters, do_anonymous_page with the same
  allocator calls, page_add_new_anon_rmap, lru_cache_add_active_or_unevictable, the
  retried walk and TLB fill, the content tag. Every other page goes through user_access.
* ``touch_bulk`` faults runs of never-touched pages in plain anonymous VMAs up to a 2 MiB
  chunk at a time, with the frames from the batch allocator and the pagevec/LRU, TLB,
  counters and content tags ending as the one-at-a-time sequence leaves them.

tests/test_fault_fast.py and tests/test_fault_bulk.py compare whole machines.
"""

from bisect import bisect_left

import numpy as np

from ..arch.x86.fault import pagefault_out_of_memory
from ..arch.x86.mmu import walk_tables, okmask, PF_WRITE, PF_USER, R_RW, R_USER, R_NX, \
    R_DIRTY, _ADDR_RSVD, _FRAME
from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from ..arch.x86.pgtable import pt_array, pfn_pte, mk_pte, pte_mkwrite, pte_mkdirty, \
    pte_mkspecial
from ..arch.x86.pgtable_types import (PTE_PFN_MASK, _PAGE_ACCESSED, _PAGE_DIRTY,
                                      _PAGE_SOFT_DIRTY, _PAGE_RW, _PAGE_PRESENT, _PAGE_PSE,
                                      _PAGE_DEVMAP, _PAGE_NX, _PAGE_GLOBAL, _PAGE_USER,
                                      _PAGE_SPECIAL)
from ..arch.x86.uaccess import ACCESS, run_on_cpu, user_access, touch
from ..errors import KernelBug
from ..lib.accel_registry import register
from ..mm import memory
from ..mm import huge_memory
from ..mm.memory import (next_content_tag, transparent_hugepage_enabled,
                        GFP_HIGHUSER_MOVABLE_ZERO, sync_mm_rss, TASK_RSS_EVENTS_THRESH)
from ..include.mm import (VM_SHARED, VM_WRITE, VM_READ, VM_EXEC, VM_LOCKED, VM_GROWSDOWN,
                           VM_HUGETLB, VM_PFNMAP, VM_MIXEDMAP)
from ..mm.mm_types import MM_ANONPAGES
from ..mm.page import (NULL, PG_uptodate, PG_swapbacked, PG_active, PG_lru, PG_unevictable,
                       PG_head, PAGE_MAPPING_ANON)
from ..mm.page_alloc import __alloc_pages_nodemask, _GFP_BITS_MASK, alloc_context
from ..mm.oom_kill import OomDeferred
from .page_alloc import alloc_pages_order0_batch
from .uaccess_one import cow_break
from ..mm.swap import (PAGEVEC_SIZE, __pagevec_lru_add, LRU_UNEVICTABLE, LRU_INACTIVE_ANON,
                       LRU_INACTIVE_FILE)
from ..mm.vma import find_vma
from ..include.vm_event_item import PGFAULT, NR_ANON_PAGES, NR_LRU_BASE

__all__ = ["touch_write", "touch_bulk"]


# --- touch_write: the first write of a plain anonymous page, inline ---------------------

_WRITE_FAULT_CODE = PF_USER | PF_WRITE
_NEW_PTE_FLAGS = _PAGE_RW | _PAGE_DIRTY | _PAGE_SOFT_DIRTY       # pte_mkwrite(pte_mkdirty())
_PLAIN_VMA_EXCLUDES = (VM_SHARED | VM_GROWSDOWN | VM_HUGETLB | VM_PFNMAP | VM_MIXEDMAP
                       | VM_LOCKED)
_PG_NEW_ANON = (1 << PG_uptodate) | (1 << PG_swapbacked) | (1 << PG_active)


OOM_DEFERRED = -2
# a present user PTE that is not writable, with no reserved or special bit: the entries
# cow_break looks at
_COW_MASK = _PAGE_PRESENT | _PAGE_USER | _PAGE_RW | _ADDR_RSVD | _PAGE_SPECIAL
_COW_BITS = _PAGE_PRESENT | _PAGE_USER


def _alloc_no_oom(m, pgdat, cpuid: int) -> int:
    """do_anonymous_page's allocation through the general path, stopping where the OOM
    killer would run (OOM_DEFERRED): the killer must see the state the per-access path
    gives it, so the access is handed back to that path."""
    m.oom.defer = True
    try:
        return __alloc_pages_nodemask(pgdat, GFP_HIGHUSER_MOVABLE_ZERO, 0, cpuid)
    except OomDeferred:
        return OOM_DEFERRED
    finally:
        m.oom.defer = False


@register("touch_write", "linuxvm.arch.x86.uaccess.touch")
def touch_write(m, task, addr: int, length: int) -> None:
    """touch(write=True) with never-touched plain anonymous pages faulted in inline."""
    va = addr
    end = addr + length
    cpu = run_on_cpu(m, task)
    mm = task.mm
    if mm is None:
        while va < end:
            phys = user_access(m, task, va, _WRITE_FAULT_CODE)
            m.mem_map.content[phys >> PAGE_SHIFT] = next_content_tag(m)
            va = (va & ~(PAGE_SIZE - 1)) + PAGE_SIZE
        return
    tlb = cpu.tlb
    l1sets, l1mask, l1ways = tlb.l1sets, tlb.l1mask, tlb.l1ways
    l2msets, l2mmask = tlb.l2msets, tlb.l2mmask
    l1gsets, l1gmask = tlb.l1gsets, tlb.l1gmask
    stlbsets, stlbmask, stlbways = tlb.stlbsets, tlb.stlbmask, tlb.stlbways
    pgdat = m.pgdat
    zones = pgdat.node_zones
    vm_events = pgdat.vm_events
    pgt = m.pgtables
    mem_map = m.mem_map
    f, rc, mc, idx, ch = mem_map.f, mem_map.rc, mem_map.mc, mem_map.idx, mem_map.ch
    content = memoryview(mem_map.content)
    mapv = mem_map.mapv
    gfp = GFP_HIGHUSER_MOVABLE_ZERO & _GFP_BITS_MASK
    ac = alloc_context(pgdat, gfp)
    # __alloc_pages_nodemask tries its order-0 accelerator first, when it has one
    alloc_order0 = pgdat.accel.alloc_order0 if ac.preferred_zone is not None else None
    cpuid = cpu.cpu
    pvec = m.lru.lru_add_pvec[cpuid]
    vs = ve = 0              # the VMA whose pages may go inline, and what they need
    lim = 0                  # below lim (and from va on) the VMA and the 2 MiB region's
    #                          upper walk (t0..t3) are known, and no huge TLB entry covers it
    while va < end:
        vpn = va >> 12
        s = l1sets[vpn & l1mask]
        e = s.get(vpn)
        if e is not None and (e[1] >> _WRITE_FAULT_CODE) & 1:
            # translate's TLB hit: the entry becomes the set's most recent
            del s[vpn]
            s[vpn] = e
            tlb.hits += 1
            seq = m.content_seq % 0xFFFFFFFF + 1
            m.content_seq = seq
            content[e[0] >> PAGE_SHIFT] = seq
            va = (vpn + 1) << 12
            continue
        t3 = None
        if e is None and vpn not in stlbsets[vpn & stlbmask]:
            if va >= lim:
                lim = 0
                if not vs <= va < ve:
                    vma = find_vma(mm, va)
                    vs = ve = 0
                    if (vma is not None and vma.vm_start <= va and cpu.cr3 == mm.pgd << 12
                            and cpu.nxe and _plain_anon_vma(vma)):
                        proto = mk_pte(0, vma.vm_page_prot) | _NEW_PTE_FLAGS
                        if not proto & (PTE_PFN_MASK | _ADDR_RSVD) and proto & _PAGE_PRESENT:
                            vs, ve = vma.vm_start, vma.vm_end
                            pgoff = vma.vm_pgoff - (vs >> 12)
                            anon_mapping = (vma.anon_vma.handle << 2) | PAGE_MAPPING_ANON
                if vs <= va < ve:
                    # the 2 MiB and 1 GiB translations lookup_slow would also try: only the
                    # per-access path (which resets lim) can add one
                    n2 = va >> 21
                    n1 = va >> 30
                    if not (n2 in l2msets[n2 & l2mmask] or n1 in l1gsets[n1 & l1gmask]
                            or ~n2 in stlbsets[n2 & stlbmask]):
                        walk = _upper_walk(cpu, pgt, va, proto)
                        if walk is not None:
                            t0, i0, t1, i1, t2, i2, t3c, ok, glob, rights, young = walk
                            lim = min(ve, (n2 + 1) << 21)
            if va < lim:
                i3 = vpn & 511
                e3 = t3c[i3]
                if not e3:
                    t3 = t3c                     # the PTE is none: a fault to take inline
                elif e3 & _COW_MASK == _COW_BITS:
                    # present, user, write-protected: a COW break, inline when the page
                    # is anonymous and mapped elsewhere too
                    phys, quiet = cow_break(m, task, cpu, tlb, va, vpn,
                                            (t0, i0, t1, i1, t2, i2), t3c, i3, e3)
                    if phys >= 0:
                        content[phys >> PAGE_SHIFT] = next_content_tag(m)
                        if not quiet:
                            vs = ve = lim = 0
                        va = (vpn + 1) << 12
                        continue
        if t3 is None:
            # a TLB entry, a PTE already, or an unusual VMA or walk: the per-access path
            flt = task.min_flt + task.maj_flt
            phys = user_access(m, task, va, _WRITE_FAULT_CODE)
            content[phys >> PAGE_SHIFT] = next_content_tag(m)
            if task.min_flt + task.maj_flt != flt:
                # the kernel ran and may have changed anything: look again. (Without a
                # fault only the MMU ran: A/D bits, and TLB fills of 4 KiB pages here.)
                vs = ve = lim = 0
                cpu = run_on_cpu(m, task)
                cpuid = cpu.cpu
                pvec = m.lru.lru_add_pvec[cpuid]
            va = (vpn + 1) << 12
            continue
        # the access: a TLB miss and a walk that finds the PTE none -- #PF (its miss and
        # walk are counted with the retried access's, once the page is in)
        cpu.cr2 = va
        # handle_mm_fault: the pgfault event, check_sync_rss_stat(current)
        vm_events[PGFAULT] += 1
        rss = task.rss_stat
        ev = rss.events
        rss.events = ev + 1
        if ev > TASK_RSS_EVENTS_THRESH:
            sync_mm_rss(mm, task)
        # do_anonymous_page
        page = alloc_order0(ac, gfp, cpuid) if alloc_order0 is not None else NULL
        if page == NULL:
            page = _alloc_no_oom(m, pgdat, cpuid)
            if page == OOM_DEFERRED:
                # the OOM killer is next: undo this fault's counters and let the
                # per-access path take the whole access (the killer may kill this task)
                vm_events[PGFAULT] -= 1
                rss.events = ev
                phys = user_access(m, task, va, _WRITE_FAULT_CODE)
                content[phys >> PAGE_SHIFT] = next_content_tag(m)
                vs = ve = lim = 0
                cpu = run_on_cpu(m, task)
                cpuid = cpu.cpu
                pvec = m.lru.lru_add_pvec[cpuid]
                va = (vpn + 1) << 12
                continue
            if page == NULL:
                tlb.misses += 1
                tlb.walks += 1
                pagefault_out_of_memory(m, task, va)
        # PG_uptodate, then page_add_new_anon_rmap's PG_swapbacked and the LRU's PG_active
        fl = f[page] | _PG_NEW_ANON
        f[page] = fl
        rss.count[MM_ANONPAGES] += 1                         # inc_mm_counter_fast
        # page_add_new_anon_rmap (a new page has no mapping yet)
        mc[page] = 0
        zones[fl >> 62].vm_stat[NR_ANON_PAGES] += 1
        mapv[page] = anon_mapping
        idx[page] = vpn + pgoff
        # lru_cache_add_active_or_unevictable: get_page and the pagevec
        head = ch[page]
        if head == NULL:
            head = page
        if rc[head] <= 0:
            raise KernelBug(f"get_page on a free page {head:#x}")
        rc[head] += 1
        if len(pvec) >= PAGEVEC_SIZE:
            __pagevec_lru_add(m, cpuid)
        pvec.append(page)
        tlb.misses += 2                          # the #PF's walk and the retried one
        tlb.walks += 2
        # the retried access walks again: A on the path (once), A and D on the new PTE
        base = page << 12
        if not young:
            _mkyoung_upper(t0, i0, t1, i1, t2, i2)
            young = True
        t3[i3] = proto | base | _PAGE_ACCESSED | _PAGE_DIRTY
        task.min_flt += 1
        e = (base, ok, glob, rights, True)
        t = stlbsets[vpn & stlbmask]
        if len(t) >= stlbways:
            del t[next(iter(t))]
        t[vpn] = e
        if len(s) >= l1ways:
            del s[next(iter(s))]
        s[vpn] = e
        # the store
        seq = m.content_seq % 0xFFFFFFFF + 1
        m.content_seq = seq
        content[page] = seq
        va = (vpn + 1) << 12


def _plain_anon_vma(vma) -> bool:
    """A private writable anonymous VMA that do_anonymous_page serves the plain way: no
    stack guard page, no mlock, an anon_vma already."""
    f = vma.vm_flags
    return (f & VM_WRITE and not f & _PLAIN_VMA_EXCLUDES and vma.vm_ops is None
            and vma.anon_vma is not None)


def _upper_walk(cpu, pgt, va: int, proto: int):
    """The PGD, PUD and PMD steps of the walk for ``va`` when each is a plain present table
    entry, with what a write through a new PTE ``proto`` gets: ``(t0, i0, t1, i1, t2, i2,
    t3, okmask, global, rights, young)``, or None."""
    t0 = pgt.get(cpu.cr3 >> 12)
    if t0 is None:
        return None
    i0 = (va >> 39) & 511
    e0 = t0[i0]
    if not e0 & _PAGE_PRESENT or e0 & (_ADDR_RSVD | _PAGE_PSE):
        return None
    t1 = pgt.get((e0 & _FRAME) >> 12)
    if t1 is None:
        return None
    i1 = (va >> 30) & 511
    e1 = t1[i1]
    if not e1 & _PAGE_PRESENT or e1 & (_ADDR_RSVD | _PAGE_PSE):
        return None
    t2 = pgt.get((e1 & _FRAME) >> 12)
    if t2 is None:
        return None
    i2 = (va >> 21) & 511
    e2 = t2[i2]
    if not e2 & _PAGE_PRESENT or e2 & (_ADDR_RSVD | _PAGE_PSE | _PAGE_DEVMAP):
        return None
    t3 = pgt.get((e2 & PTE_PFN_MASK) >> 12)
    if t3 is None:
        return None
    leaf = proto | _PAGE_ACCESSED | _PAGE_DIRTY
    rights = ((e0 & e1 & e2 & leaf) >> 1) & (R_RW | R_USER) | R_DIRTY
    if (e0 | e1 | e2 | leaf) & _PAGE_NX:
        rights |= R_NX
    ok = okmask(cpu, rights)
    if not (ok >> _WRITE_FAULT_CODE) & 1:
        return None
    glob = bool(leaf & _PAGE_GLOBAL) and cpu.pge
    young = bool(e0 & e1 & e2 & _PAGE_ACCESSED)
    return t0, i0, t1, i1, t2, i2, t3, ok, glob, rights, young


def _mkyoung_upper(t0, i0, t1, i1, t2, i2) -> None:
    """The walk's accessed bits on the PGD, PUD and PMD entries."""
    for t, i in ((t0, i0), (t1, i1), (t2, i2)):
        e = t[i]
        if not e & _PAGE_ACCESSED:
            t[i] = e | _PAGE_ACCESSED


# --- the bulk path's TLB fills ----------------------------------------------------------

def fill_new_4k(tlb, newest_first) -> None:
    """The state ``tlb.fill(vpn << 12, 12, entry)`` for a sequence of pages leaves, when
    none of them is cached yet: only the newest ``ways`` of each set survive, so the
    sequence is read newest first and stops once every set is full.

    :param newest_first: a callable returning an iterator of ``(vpn, entry)``, newest first
    """
    for lv in (tlb.stlb, tlb.l1_4k):
        _insert_new_keys(lv, newest_first())


def _insert_new_keys(lv, items) -> None:
    """TlbLevel.insert for keys not yet in ``lv``, given newest first."""
    ways, mask, nsets = lv.ways, lv.mask, lv.nsets
    picked = [None] * nsets
    full = 0
    for key, entry in items:
        si = key & mask
        lst = picked[si]
        if lst is None:
            lst = picked[si] = []
        if len(lst) < ways:
            lst.append((key, entry))
            if len(lst) == ways:
                full += 1
                if full == nsets:
                    break
    sets = lv.sets
    for si, lst in enumerate(picked):
        if lst is None:
            continue
        s = sets[si]
        lst.reverse()
        keep = ways - len(lst)
        old = list(s.items())[-keep:] if keep and s else ()
        s.clear()
        s.update(old)
        s.update(lst)


# --- touch_bulk: runs of never-touched pages, a 2 MiB chunk at a time --------------------

class _BulkTlb:
    """The TLB fills of a bulk touch, held back: each fault's retried access fills the STLB
    and the 4 KiB L1 with a page no structure held before, so only the newest fills of each
    set matter, and they are made once (``flush``) before anything else looks at the TLB.
    ``clear_run`` answers from a sorted snapshot of the keys cached when the run began (an
    entry the held-back fills would have evicted only makes it stop early)."""

    __slots__ = ("tlb", "runs", "k4", "k2", "k1")

    def __init__(self, tlb):
        self.tlb = tlb
        self.runs = []
        self.k4 = None

    def _snapshot(self) -> None:
        tlb = self.tlb
        k4 = [k for s in tlb.l1_4k.sets for k in s]
        k2 = [k for s in tlb.l1_2m.sets for k in s]
        for s in tlb.stlb.sets:
            for k in s:
                if k >= 0:
                    k4.append(k)
                else:
                    k2.append(~k)
        self.k4 = sorted(k4)
        self.k2 = k2
        self.k1 = [k for s in tlb.l1_1g.sets for k in s]

    def clear_run(self, va: int, n: int) -> int:
        """How many of the ``n`` pages from ``va`` (inside one PMD) have no translation
        cached."""
        if self.k4 is None:
            self._snapshot()
        if (va >> 21) in self.k2 or (va >> 30) in self.k1:
            return 0
        vpn = va >> 12
        i = bisect_left(self.k4, vpn)
        if i < len(self.k4) and self.k4[i] < vpn + n:
            return self.k4[i] - vpn
        return n

    def add(self, vpn: int, n: int, phys, entry_tail) -> None:
        """Hold back the fills of ``n`` pages from ``vpn``: ``phys`` the frames' physical
        addresses (a list) or one address for all; ``entry_tail`` the rest of the entry."""
        self.runs.append((vpn, n, phys, entry_tail))

    def _newest_first(self):
        for vpn, n, phys, tail in reversed(self.runs):
            if isinstance(phys, int):
                e = (phys,) + tail
                for i in range(n - 1, -1, -1):
                    yield vpn + i, e
            else:
                for i in range(n - 1, -1, -1):
                    yield vpn + i, (phys[i],) + tail

    def flush(self) -> None:
        """Make the held-back fills; the snapshot is taken afresh when next needed."""
        if self.runs:
            fill_new_4k(self.tlb, self._newest_first)
            self.runs = []
        self.k4 = None


def _bulk_vma_ok(vma, write: bool) -> bool:
    f = vma.vm_flags
    if vma.vm_ops is not None or f & (VM_SHARED | VM_LOCKED | VM_GROWSDOWN | VM_HUGETLB
                                      | VM_PFNMAP | VM_MIXEDMAP):
        return False
    if write:
        return bool(f & VM_WRITE)
    return bool(f & (VM_READ | VM_EXEC | VM_WRITE))


@register("touch_bulk", "linuxvm.arch.x86.uaccess.touch")
def touch_bulk(m, task, addr: int, length: int, write: bool = False) -> None:
    """touch with the faults of runs of never-touched plain anonymous pages made up to a
    2 MiB chunk at a time.

    Every state change of the per-access path is made, in the same order where order
    matters: the frames come from ``alloc_pages_order0_batch`` (the allocations the faults
    would make, after the chunk's page-table allocations), and the pagevec/LRU, TLB,
    counters (TLB misses and walks, pgfault, min_flt, the SPLIT_RSS sync points) and content
    tags end as the one-at-a-time sequence leaves them. Anything else -- a present page, a
    cached translation, a first anon_vma, an allocation the batch cannot make -- is one
    access through :func:`touch`. The batch allocates in segments only while the
    ``alloc_order0`` accelerator is on too; without it each page of a write is one access.
    ``tests/test_fault_bulk.py`` compares whole machines.
    """
    end = addr + length
    va = addr
    cpu = run_on_cpu(m, task)
    mm = task.mm
    held = _BulkTlb(cpu.tlb)
    try:
        while va < end:
            vma = find_vma(mm, va)
            if vma is None or vma.vm_start > va or not _bulk_vma_ok(vma, write) or \
                    transparent_hugepage_enabled(m, vma):
                held.flush()
                touch(m, task, va, 1, write)
                va = (va & ~(PAGE_SIZE - 1)) + PAGE_SIZE
                continue
            chunk_end = min(end, vma.vm_end, ((va >> 21) + 1) << 21)
            va = _bulk_chunk(m, task, cpu, mm, vma, va, chunk_end, write, held)
    finally:
        held.flush()


def _bulk_chunk(m, task, cpu, mm, vma, va: int, end: int, write: bool, held) -> int:
    """Fault in the untouched pages from ``va`` up to ``end`` (inside one PMD and one
    VMA); returns where it stopped (the next page is left to the next call). The first
    access is at ``va`` itself, the others at page starts, as :func:`touch` makes them."""
    pva = va & ~(PAGE_SIZE - 1)
    n = (end - pva + PAGE_SIZE - 1) >> PAGE_SHIFT
    if huge_memory.huge_pmd_lookup(m, mm, va) is not None:
        # a THP mapped before the VMA lost its eligibility: the huge PMD's own path
        return _one_access(m, task, va, write, held)
    ptr = memory.pte_lookup(m, mm, va)
    if ptr is not None:
        entries = pt_array(m, ptr[0])[ptr[1]:ptr[1] + n]
        nz = np.flatnonzero(entries)
        if nz.size:
            n = int(nz[0])
            if not n:
                # a run of mapped (or swapped) pages, e.g. COW after fork: their accesses
                # one after another through the per-access path, without a chunk set-up
                # per page
                z = np.flatnonzero(entries == 0)
                run_end = min(end, pva + (int(z[0]) << PAGE_SHIFT)) if z.size else end
                held.flush()
                touch(m, task, va, run_end - va, write)
                return (run_end - 1 & ~(PAGE_SIZE - 1)) + PAGE_SIZE
    if n:
        n = held.clear_run(pva, n)
    if not n or m.current is not task or (write and (vma.anon_vma is None
                                                     or not _pagevec_drain_frees_nothing(m))):
        # a present page or a cached translation; the first fault of a VMA (anon_vma_prepare
        # allocates); a pagevec drain that would free a page between two of the chunk's
        # allocations: the per-access path keeps that interleaving
        return _one_access(m, task, va, write, held)
    tlb = cpu.tlb
    if ptr is None:
        # the first fault's table allocations come before its page
        m.oom.defer = True
        try:
            ptr = memory.pte_alloc_map(m, mm, va)
        except OomDeferred:
            ptr = OOM_DEFERRED
        finally:
            m.oom.defer = False
        if ptr == OOM_DEFERRED:
            # a table allocation needs the slow path: the per-access path runs it
            return _one_access(m, task, va, write, held)
        if ptr is None:
            # as that fault: its miss, failed walk and counts, then VM_FAULT_OOM
            held.flush()
            tlb.misses += 1
            tlb.walks += 1
            cpu.cr2 = va
            m.pgdat.vm_events[PGFAULT] += 1
            _rss_faults(task, 1, None)
            pagefault_out_of_memory(m, task, va)
    if write:
        pfns = alloc_pages_order0_batch(m.pgdat, GFP_HIGHUSER_MOVABLE_ZERO, n, cpu.cpu,
                                        fast_only=True)
        n = len(pfns)
        if not n:
            # an allocation only the general path makes (or fails): one access, which
            # finds the tables just allocated as its own fault would have left them
            return _one_access(m, task, va, write, held)
    else:
        pfns = None
    # the faults' counters: a TLB miss and a failing walk each, pgfault, min_flt, RSS
    tlb.misses += n
    tlb.walks += n
    cpu.cr2 = pva + ((n - 1) << PAGE_SHIFT) if n > 1 else va
    m.pgdat.vm_events[PGFAULT] += n
    _rss_faults(task, n, MM_ANONPAGES if write else None)
    task.min_flt += n
    _bulk_finish(m, cpu, vma, va, ptr, pfns, write, n, held)
    return pva + (n << PAGE_SHIFT)


def _one_access(m, task, va: int, write: bool, held) -> int:
    held.flush()
    touch(m, task, va, 1, write)
    return (va & ~(PAGE_SIZE - 1)) + PAGE_SIZE


def _rss_faults(task, n: int, member) -> None:
    """check_sync_rss_stat then (for a new page) inc_mm_counter_fast, ``n`` times, for the
    running task: the cache folds into the mm at the fault that finds more than
    TASK_RSS_EVENTS_THRESH events counted, then every THRESH + 2 faults."""
    rs = task.rss_stat
    ev = rs.events
    first = max(0, TASK_RSS_EVENTS_THRESH + 1 - ev)
    if first >= n:
        rs.events = ev + n
        if member is not None:
            rs.count[member] += n
        return
    if member is not None:
        rs.count[member] += first
    sync_mm_rss(task.mm, task)
    period = TASK_RSS_EVENTS_THRESH + 2
    more = (n - 1 - first) // period
    last = first + more * period
    if member is not None:
        task.mm.rss_stat[member] += more * period
        rs.count[member] += n - last
    rs.events = n - 1 - last


def _bulk_finish(m, cpu, vma, va: int, ptr, pfns, write: bool, n: int, held) -> None:
    """The order-free part of ``n`` faults from ``va`` (PTE slot ``ptr``): struct pages,
    PTEs, LRU, content tags, and the retried accesses' walks and TLB fills. ``pfns`` are
    the new frames of a write."""
    mem_map = m.mem_map
    arr = pt_array(m, ptr[0])
    i0 = ptr[1]
    if write:
        p = pfns
        f = mem_map.flags[p] | np.uint64((1 << PG_uptodate) | (1 << PG_swapbacked)
                                         | (1 << PG_active))
        mem_map.flags[p] = f
        mem_map._mapcount[p] = 0
        mem_map.mapping[p] = (vma.anon_vma.handle << 2) | PAGE_MAPPING_ANON
        mem_map.index[p] = np.arange(n, dtype=np.int64) + (((va - vma.vm_start) >> 12)
                                                           + vma.vm_pgoff)
        zones = f >> np.uint64(62)
        z0 = int(zones[0])
        if (zones == z0).all():
            m.zones[z0].vm_stat[NR_ANON_PAGES] += n
        else:
            for z, c in enumerate(np.bincount(zones.astype(np.int64), minlength=4).tolist()):
                if c:
                    m.zones[z].vm_stat[NR_ANON_PAGES] += c
        proto = mk_pte(0, vma.vm_page_prot)
        if vma.vm_flags & VM_WRITE:
            proto = pte_mkwrite(pte_mkdirty(proto))
        proto |= _PAGE_ACCESSED | _PAGE_DIRTY          # what the retried access sets
        phys = p << 12
        arr[i0:i0 + n] = phys.astype(np.uint64) | np.uint64(proto)
        _lru_cache_add_bulk(m, p, m.current_cpu)
        seq = m.content_seq
        if seq + n <= 0xFFFFFFFF:
            mem_map.content[p] = np.arange(seq + 1, seq + n + 1, dtype=np.uint32)
            m.content_seq = seq + n
        else:
            tags = (np.arange(1, n + 1, dtype=np.int64) + seq - 1) % 0xFFFFFFFF + 1
            mem_map.content[p] = tags.astype(np.uint32)
            m.content_seq = int(tags[-1])
        phys = phys.tolist() if n > 1 else [int(phys[0])]
    else:
        proto = pte_mkspecial(pfn_pte(m.zero_pfn, vma.vm_page_prot)) | _PAGE_ACCESSED
        arr[i0:i0 + n] = np.uint64(proto)
        phys = proto & PTE_PFN_MASK
    # the retried accesses: a miss, a successful walk and a TLB fill each; the first walk
    # sets the upper levels' accessed bits and gives the rights for all
    tlb = cpu.tlb
    _, _, rights, glob, dirty = walk_tables(cpu, va, ACCESS["w" if write else "r"])
    tlb.walks += n - 1
    tlb.misses += n
    held.add(va >> PAGE_SHIFT, n, phys, (okmask(cpu, rights), glob, rights, dirty))


def _pagevec_drain_frees_nothing(m) -> bool:
    """Every page waiting in this CPU's add pagevec is still held by someone else, so the
    drains a chunk triggers only move pages to the LRU and never free one."""
    rc = m.mem_map.rc
    return all(rc[p] >= 2 for p in m.lru.lru_add_pvec[m.current_cpu])


def _lru_cache_add_bulk(m, pfns, cpu: int) -> None:
    """lru_cache_add for each new page (already PG_active) of a non-mlocked VMA, in order: a
    pagevec reference each, and a drain to the LRU each time the pagevec is full -- so the
    pages drain in groups of PAGEVEC_SIZE, and what is left waits in the pagevec."""
    mem_map = m.mem_map
    mem_map._refcount[pfns] += 1                                # get_page
    pvec = m.lru.lru_add_pvec[cpu]
    old = len(pvec)
    total = old + len(pfns)
    drained = total - ((total - 1) % PAGEVEC_SIZE + 1)
    if not drained:
        pvec.extend(pfns.tolist())
        return
    # a drain empties a full pagevec, so every page waiting before goes in the first one
    q = np.concatenate([np.asarray(pvec, dtype=np.int64), pfns[:drained - old]]) \
        if old else pfns[:drained]
    pvec[:] = pfns[drained - old:].tolist()
    # __pagevec_lru_add_fn for each drained page, in pagevec order: PG_lru, then list_add
    # to the head of its zone's list for page_lru()
    f = mem_map.flags[q] | np.uint64(1 << PG_lru)
    mem_map.flags[q] = f
    lru = np.where(f & np.uint64(1 << PG_unevictable), LRU_UNEVICTABLE,
                   np.where(f & np.uint64(1 << PG_swapbacked), LRU_INACTIVE_ANON,
                            LRU_INACTIVE_FILE)
                   + ((f >> np.uint64(PG_active)) & np.uint64(1)).astype(np.int64))
    key = (f >> np.uint64(62)).astype(np.int64) * 8 + lru
    # a THP waiting in the pagevec counts hpage_nr_pages on its list
    head = (f & np.uint64(1 << PG_head)) != 0
    weight = None
    if head.any():
        order = np.zeros(q.size, dtype=np.int64)
        order[head] = mem_map.lru_prev[q[head] + 1]          # compound_order
        weight = np.left_shift(1, order)
    k0 = int(key[0])
    groups = [(k0, q)] if (key == k0).all() else \
        [(k, q[key == k]) for k in dict.fromkeys(key.tolist())]
    lruvecs = m.lru.lruvecs
    nxt, prv = mem_map.nxt, mem_map.prv
    lru_next, lru_prev = mem_map.lru_next, mem_map.lru_prev
    for k, g in groups:
        zone, lru_ = k >> 3, k & 7
        h = lruvecs[zone].lists[lru_]
        first = nxt[h]
        lru_next[g[1:]] = g[:-1]
        lru_prev[g[:-1]] = g[1:]
        head_new, tail_new = int(g[-1]), int(g[0])
        nxt[tail_new] = first
        prv[first] = tail_new
        prv[head_new] = h
        nxt[h] = head_new
        m.zones[zone].vm_stat[NR_LRU_BASE + lru_] += len(g) if weight is None else \
            int(weight[key == k].sum())
    mem_map._refcount[q] -= 1                                   # release_pages
