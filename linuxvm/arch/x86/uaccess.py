"""User-mode memory accesses as the CPU performs them: TLB, page walk, #PF, the fault
handler, and the retried instruction.

``user_access(m, task, va, access)`` runs the task on its CPU, translates ``va``
for a user read, write or instruction fetch, and on a page fault calls
``__do_page_fault`` and retries, as re-executing the faulting instruction does.
Data written through ``write_user`` lands in the frame's bytes
(``m.page_contents``); every write also gives the frame a fresh content tag.
A write ``touch`` over several pages takes the first touch of a plain anonymous page
inline, with exactly the per-access path's state changes (``TOUCH_WRITE_FAST``).
"""

import numpy as np

from ...errors import KernelBug
from ...mm import memory, page_alloc
from ...mm.fault import (next_content_tag, transparent_hugepage_enabled, check_sync_rss_stat,
                         GFP_HIGHUSER_MOVABLE_ZERO, alloc_page_vma, inc_mm_counter_fast,
                         sync_mm_rss, TASK_RSS_EVENTS_THRESH)
from ...mm.mm_flags import (VM_SHARED, VM_WRITE, VM_READ, VM_EXEC, VM_LOCKED, VM_GROWSDOWN,
                            VM_HUGETLB, VM_PFNMAP, VM_MIXEDMAP)
from ...mm.mm_types import MM_ANONPAGES
from ...mm.page import NULL, PG_uptodate, PG_swapbacked, PG_active, PG_lru, PAGE_MAPPING_ANON
from ...mm.rmap import anon_vma_prepare
from ...mm.page_alloc import (_alloc_order0_fast, __alloc_pages_nodemask, _mapping_view,
                              _GFP_BITS_MASK)
from ...mm.swap import PAGEVEC_SIZE, page_lru, __pagevec_lru_add
from ...mm.vma import find_vma
from ...mm.vmstat_items import PGFAULT, NR_ANON_PAGES, NR_LRU_BASE
from .cpu import context_switch
from .fault import __do_page_fault, bad_area, pagefault_out_of_memory
from .mmu import translate_user, walk_tables, okmask, GeneralProtection, PF_WRITE, PF_USER, \
    PF_INSTR, R_RW, R_USER, R_NX, R_DIRTY, _ADDR_RSVD, _FRAME
from .page_types import PAGE_SHIFT, PAGE_SIZE
from .pgtable import pt_entries, pt_array, pfn_pte, mk_pte, pte_mkwrite, pte_mkdirty, \
    pte_mkspecial
from .pgtable_types import (PTE_PFN_MASK, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_SOFT_DIRTY,
                            _PAGE_RW, _PAGE_PRESENT, _PAGE_PSE, _PAGE_DEVMAP,
                            _PAGE_NX, _PAGE_GLOBAL)

ACCESS = {"r": PF_USER, "w": PF_USER | PF_WRITE, "x": PF_USER | PF_INSTR}
MAX_RETRIES = 8


def run_on_cpu(m, task) -> object:
    """Make ``task`` the running task of its CPU (a context switch when needed)."""
    cpu = m.cpus[task.cpu]
    m.current_cpu = cpu.cpu
    if cpu.current is not task:
        context_switch(m, cpu, cpu.current, task)
    m.current = task
    return cpu


def user_access(m, task, va: int, access: int) -> int:
    """Physical address of a user access to ``va``, faulting pages in as needed.

    :raises SegmentationFault: the kernel answers the access with SIGSEGV
    :raises BusError: … with SIGBUS
    """
    cpu = run_on_cpu(m, task)
    for _ in range(MAX_RETRIES):
        try:
            phys = translate_user(cpu, va, access)
        except GeneralProtection:
            # a non-canonical address: #GP, which the kernel turns into SIGSEGV
            bad_area(m, task, 0, va, 0)
        if phys >= 0:
            return phys
        __do_page_fault(m, task, task.sp, ~phys, va)
    raise KernelBug(f"access to {va:#x} still faults after {MAX_RETRIES} retries")


def _tag(m, pfn: int) -> None:
    m.mem_map.content[pfn] = next_content_tag(m)


def touch(m, task, addr: int, length: int, write: bool = False) -> None:
    """One access per page of [addr, addr+length), as a loop touching each page would."""
    if write and TOUCH_WRITE_FAST and length > PAGE_SIZE:
        # (one page pays more for the set-up than it can win)
        _touch_write_fast(m, task, addr, addr + length)
        return
    access = ACCESS["w" if write else "r"]
    end = addr + length
    va = addr
    while va < end:
        phys = user_access(m, task, va, access)
        if write:
            _tag(m, phys >> PAGE_SHIFT)
        va = (va & ~(PAGE_SIZE - 1)) + PAGE_SIZE


# A write touch takes the commonest access inline: a full TLB miss on a never-touched page
# (PTE none, its PTE table built) of a plain private writable anonymous VMA. It makes the
# same state changes as the per-access path in the same order -- the failing walk, the
# #PF, handle_mm_fault's counters, do_anonymous_page with the same allocator calls, the
# retried walk and TLB fill, the content tag -- and hands every other page to user_access.
# False runs every page through user_access (tests/test_fault_fast.py compares the two).
TOUCH_WRITE_FAST = True

_WRITE_FAULT_CODE = PF_USER | PF_WRITE
_NEW_PTE_FLAGS = _PAGE_RW | _PAGE_DIRTY | _PAGE_SOFT_DIRTY       # pte_mkwrite(pte_mkdirty())
_PLAIN_VMA_EXCLUDES = (VM_SHARED | VM_GROWSDOWN | VM_HUGETLB | VM_PFNMAP | VM_MIXEDMAP
                       | VM_LOCKED)
_PG_NEW_ANON = (1 << PG_uptodate) | (1 << PG_swapbacked) | (1 << PG_active)


def _touch_write_fast(m, task, va: int, end: int) -> None:
    """touch(write=True) over [va, end) with never-touched pages faulted in inline."""
    cpu = run_on_cpu(m, task)
    mm = task.mm
    if mm is None:
        while va < end:
            phys = user_access(m, task, va, _WRITE_FAULT_CODE)
            _tag(m, phys >> PAGE_SHIFT)
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
    mapv = _mapping_view(m)
    gfp = GFP_HIGHUSER_MOVABLE_ZERO & _GFP_BITS_MASK
    ac = m._ac_cache.get(gfp)
    if ac is None:
        ac = m._alloc_context(gfp)
    # __alloc_pages_nodemask tries its order-0 fast path first, when it has one
    order0_fast = page_alloc.fast_paths and ac.preferred_zone is not None
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
                if not t3c[i3]:
                    t3 = t3c                     # the PTE is none: a fault to take inline
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
        page = _alloc_order0_fast(ac, gfp, cpuid) if order0_fast else NULL
        if page == NULL:
            page = __alloc_pages_nodemask(pgdat, GFP_HIGHUSER_MOVABLE_ZERO, 0, cpuid)
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


def read_user(m, task, addr: int, n: int) -> bytes:
    out = bytearray()
    va = addr
    end = addr + n
    while va < end:
        chunk = min(end, (va & ~(PAGE_SIZE - 1)) + PAGE_SIZE) - va
        phys = user_access(m, task, va, ACCESS["r"])
        pfn, off = phys >> PAGE_SHIFT, phys & (PAGE_SIZE - 1)
        data = m.page_contents.get(pfn)
        out += data[off:off + chunk] if data is not None else bytes(chunk)
        va += chunk
    return bytes(out)


def write_user(m, task, addr: int, data: bytes) -> None:
    va = addr
    pos = 0
    n = len(data)
    while pos < n:
        chunk = min(n - pos, (va & ~(PAGE_SIZE - 1)) + PAGE_SIZE - va)
        phys = user_access(m, task, va, ACCESS["w"])
        pfn, off = phys >> PAGE_SHIFT, phys & (PAGE_SIZE - 1)
        buf = m.page_contents.get(pfn)
        if buf is None:
            buf = m.page_contents[pfn] = bytearray(PAGE_SIZE)
        buf[off:off + chunk] = data[pos:pos + chunk]
        _tag(m, pfn)
        pos += chunk
        va += chunk


def access(m, task, addr: int, kind: str) -> int:
    """One access of kind "r", "w" or "x"; returns the physical address."""
    if kind not in ACCESS:
        raise ValueError(f"access kind must be 'r', 'w' or 'x', not {kind!r}")
    phys = user_access(m, task, addr, ACCESS[kind])
    if kind == "w":
        _tag(m, phys >> PAGE_SHIFT)
    return phys


# --- the bulk path ----------------------------------------------------------------------

def _tlb_has(tlb, va: int) -> bool:
    """Whether any TLB structure holds a translation for ``va`` (no LRU side effects)."""
    vpn, n2, n1 = va >> 12, va >> 21, va >> 30
    return (vpn in tlb.l1_4k.sets[vpn & tlb.l1_4k.mask]
            or vpn in tlb.stlb.sets[vpn & tlb.stlb.mask]
            or n2 in tlb.l1_2m.sets[n2 & tlb.l1_2m.mask]
            or ~n2 in tlb.stlb.sets[n2 & tlb.stlb.mask]
            or n1 in tlb.l1_1g.sets[n1 & tlb.l1_1g.mask])


def _bulk_vma_ok(vma, write: bool) -> bool:
    f = vma.vm_flags
    if vma.vm_ops is not None or f & (VM_SHARED | VM_LOCKED | VM_GROWSDOWN | VM_HUGETLB
                                      | VM_PFNMAP | VM_MIXEDMAP):
        return False
    if write:
        return bool(f & VM_WRITE)
    return bool(f & (VM_READ | VM_EXEC | VM_WRITE))


def touch_bulk(m, task, addr: int, length: int, write: bool = False) -> None:
    """The same effect as :func:`touch`, with the faults of runs of never-touched pages in
    plain anonymous VMAs handled a 2 MiB chunk at a time.

    Every state change of the per-access path is made, in the same order where order
    matters: the allocator is called page by page (so the same frames come back), the
    pagevec/LRU and TLB see the same sequence, and the counters (TLB misses and walks,
    pgfault, min_flt, the SPLIT_RSS sync points, content tags) end the same.
    ``tests/test_fault_bulk.py`` compares whole machines after both paths.
    """
    end = addr + length
    va = addr
    cpu = run_on_cpu(m, task)
    mm = task.mm
    while va < end:
        vma = find_vma(mm, va)
        if vma is None or vma.vm_start > va or not _bulk_vma_ok(vma, write) or \
                transparent_hugepage_enabled(m, vma):
            touch(m, task, va, 1, write)
            va = (va & ~(PAGE_SIZE - 1)) + PAGE_SIZE
            continue
        chunk_end = min(end, vma.vm_end, ((va >> 21) + 1) << 21)
        va = _bulk_chunk(m, task, cpu, mm, vma, va, chunk_end, write)


def _bulk_chunk(m, task, cpu, mm, vma, va: int, end: int, write: bool) -> int:
    """Fault in the untouched pages of [va, end) (inside one PMD and one VMA); returns
    where it stopped (a touched page is left to the per-access path)."""
    tlb = cpu.tlb
    ev = m.pgdat.vm_events
    # the run of pages this chunk can take: PTE none and nothing cached in the TLB
    ptr = memory.pte_lookup(m, mm, va)
    table = pt_entries(m, ptr[0]) if ptr is not None else None
    stop = va
    while stop < end:
        if table is not None and table[(stop >> 12) & 511]:
            break
        if _tlb_has(tlb, stop):
            break
        stop += PAGE_SIZE
    if stop == va or (write and not _pagevec_drain_frees_nothing(m)):
        # a present page, or a pagevec drain that would free a page between two of the
        # chunk's allocations: the per-access path keeps that interleaving
        touch(m, task, va, 1, write)
        return va + PAGE_SIZE
    n = (stop - va) >> 12
    pfns = []
    # -- the kernel work that must happen in order: counters, tables, anon_vma, frames
    for i in range(n):
        a = va + (i << 12)
        tlb.misses += 1                       # the access misses, the walk fails
        tlb.walks += 1
        cpu.cr2 = a
        ev[PGFAULT] += 1                      # handle_mm_fault
        check_sync_rss_stat(m, task)
        if i == 0:
            ptr = memory.pte_alloc_map(m, mm, a)
            if ptr is None:
                pagefault_out_of_memory(m, task, a)
        if write:
            anon_vma_prepare(m, vma)
            pfn = alloc_page_vma(m, GFP_HIGHUSER_MOVABLE_ZERO)
            if pfn == NULL:
                _bulk_finish(m, cpu, vma, va, ptr, pfns, write, len(pfns))
                pagefault_out_of_memory(m, task, a)
            inc_mm_counter_fast(m, mm, MM_ANONPAGES)
            pfns.append(pfn)
        task.min_flt += 1
    _bulk_finish(m, cpu, vma, va, ptr, pfns, write, n)
    return stop


def _bulk_finish(m, cpu, vma, va: int, ptr, pfns, write: bool, n: int) -> None:
    """The order-free part of ``n`` faults from ``va`` (PTE slot ``ptr``): struct pages,
    PTEs, LRU, TLB, content tags. ``pfns`` are the new frames of a write."""
    if n == 0:
        return
    mem_map = m.mem_map
    arr = pt_array(m, ptr[0])
    i0 = ptr[1]
    if write:
        p = np.asarray(pfns, dtype=np.int64)
        mem_map.flags[p] |= np.uint64((1 << PG_uptodate) | (1 << PG_swapbacked) | (1 << PG_active))
        mem_map._mapcount[p] = 0
        mem_map.mapping[p] = (vma.anon_vma.handle << 2) | PAGE_MAPPING_ANON
        mem_map.index[p] = ((va - vma.vm_start) >> 12) + vma.vm_pgoff + np.arange(n)
        zones = (mem_map.flags[p] >> np.uint64(62)).astype(np.int64)
        for z, c in enumerate(np.bincount(zones, minlength=4).tolist()):
            if c:
                m.zones[z].vm_stat[NR_ANON_PAGES] += c
        proto = mk_pte(0, vma.vm_page_prot)
        if vma.vm_flags & VM_WRITE:
            proto = pte_mkwrite(pte_mkdirty(proto))
        proto |= _PAGE_ACCESSED | _PAGE_DIRTY          # what the retried access sets
        arr[i0:i0 + n] = np.uint64(proto) | (p.astype(np.uint64) << np.uint64(12))
        _lru_cache_add_bulk(m, pfns, m.current_cpu)
        tags = (np.arange(1, n + 1, dtype=np.int64) + m.content_seq - 1) % 0xFFFFFFFF + 1
        mem_map.content[p] = tags.astype(np.uint32)
        m.content_seq = int(tags[-1])
    else:
        proto = pte_mkspecial(pfn_pte(m.zero_pfn, vma.vm_page_prot)) | _PAGE_ACCESSED
        arr[i0:i0 + n] = np.uint64(proto)
    # the retried accesses: a miss, a successful walk and a TLB fill each
    tlb = cpu.tlb
    _, _, rights, glob, dirty = walk_tables(cpu, va, ACCESS["w" if write else "r"])
    tlb.walks += n - 1                                 # the first page's walk gave the rights
    tlb.misses += n
    ok = okmask(cpu, rights)
    fill = tlb.fill
    for i in range(n):
        v = int(arr[i0 + i])
        fill(va + (i << 12), 12, (v & PTE_PFN_MASK, ok, glob, rights, dirty))


def _pagevec_drain_frees_nothing(m) -> bool:
    """Every page waiting in this CPU's add pagevec is still held by someone else, so the
    drains a chunk triggers only move pages to the LRU and never free one."""
    rc = m.mem_map.rc
    return all(rc[p] >= 2 for p in m.lru.lru_add_pvec[m.current_cpu])


def _lru_cache_add_bulk(m, pfns, cpu: int) -> None:
    """lru_cache_add_active_or_unevictable for each new page of a non-mlocked VMA, in order:
    PG_active, a pagevec reference, and a drain to the LRU whenever the pagevec is full."""
    mem_map = m.mem_map
    p = np.asarray(pfns, dtype=np.int64)
    mem_map.flags[p] |= np.uint64(1 << PG_active)
    mem_map._refcount[p] += 1                                   # get_page
    pvec = m.lru.lru_add_pvec[cpu]
    seq = pvec + list(pfns)
    cur = len(pvec)
    drained = 0
    for _ in range(len(pfns)):
        if cur >= PAGEVEC_SIZE:
            drained += cur
            cur = 0
        cur += 1
    out = seq[:drained]
    pvec[:] = seq[drained:]
    if not out:
        return
    lruvecs = m.lru.lruvecs
    f = mem_map.f
    list_add = mem_map.list_add
    counts = {}
    for pfn in out:                    # __pagevec_lru_add_fn, in pagevec order
        f[pfn] = f[pfn] | (1 << PG_lru)
        zone = f[pfn] >> 62
        lru = page_lru(mem_map, pfn)
        list_add(pfn, lruvecs[zone].lists[lru])
        counts[(zone, lru)] = counts.get((zone, lru), 0) + 1
    for (zone, lru), c in counts.items():
        m.zones[zone].vm_stat[NR_LRU_BASE + lru] += c
    q = np.asarray(out, dtype=np.int64)
    mem_map._refcount[q] -= 1                                   # release_pages
