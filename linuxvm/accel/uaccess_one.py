"""Accelerator of arch/x86/uaccess.py's ``user_access``: one user access, its TLB miss and
the commonest anonymous faults taken inline.

``user_access`` stands in for ``linuxvm.arch.x86.uaccess.user_access`` (translate; on #PF
``__do_page_fault`` and the retried access) for one access, the path of ``p.access`` and
of ``p.touch`` over one page, and of every page the write-touch accelerator
(``touch_write``) does not take itself, such as a COW break after fork. It covers, for a
user read or write with EFER.NXE on and no translation of the page cached:

* a walk that succeeds: the TLB fill (as ``translate_user``'s accelerator);
* a PTE that is none in a plain anonymous VMA: do_anonymous_page -- the zero page for a
  read, a new zeroed page for a write -- then the retried walk and fill;
* a write to a present, write-protected PTE of an anonymous page that another mm maps too
  (after fork): do_wp_page's copy (wp_page_copy), then the retried walk and fill.

Each makes the per-access path's state changes in its order: the failing walk and the
#PF, handle_mm_fault's counters, the allocation (with ``m.oom.defer`` set: where the OOM
killer would run, the fault's counters are undone and the access is handed back), rmap,
pagevec, the PTE, min_flt, and the retried walk's A/D bits and TLB fill. Anything else --
a cached translation that does not serve the access, a missing table, a huge or special
entry, a file, shared, locked, stack or hugetlb VMA, a first anon_vma, a page only this mm
maps (reuse), a swap entry -- is handed back before anything changed (``-1``).
tests/test_uaccess_one.py and tests/test_accel.py compare whole machines.

The compiled core has a second body of ``user_access`` (linuxvm/accel/_cuaccess.pyx,
registered by linuxvm/accel/ccore.py) that calls the helpers here for its rare branches.
"""

from ..arch.x86 import tlb as x86_tlb
from ..arch.x86.fault import pagefault_out_of_memory
from ..arch.x86.mmu import okmask, PF_USER, PF_WRITE, R_RW, R_USER, R_NX, \
    R_DIRTY, _ADDR_RSVD, _FRAME
from ..arch.x86.page_types import TASK_SIZE_MAX
from ..arch.x86.pgtable import mk_pte, pfn_pte, pte_mkspecial
from ..arch.x86.pgtable_types import (PTE_PFN_MASK, _PAGE_ACCESSED, _PAGE_DIRTY,
                                      _PAGE_SOFT_DIRTY, _PAGE_RW, _PAGE_PSE, _PAGE_DEVMAP,
                                      _PAGE_NX, _PAGE_GLOBAL, _PAGE_SPECIAL, _PAGE_USER)
from ..arch.x86.uaccess import run_on_cpu
from ..errors import KernelBug
from ..include.mm import (VM_SHARED, VM_WRITE, VM_READ, VM_EXEC, VM_LOCKED, VM_GROWSDOWN,
                          VM_HUGETLB, VM_PFNMAP, VM_MIXEDMAP, VM_SPECIAL)
from ..include.vm_event_item import PGFAULT, NR_ANON_PAGES
from ..lib.accel_registry import register
from ..mm import gfp as G
from ..mm.memory import GFP_HIGHUSER_MOVABLE_ZERO, sync_mm_rss, TASK_RSS_EVENTS_THRESH
from ..mm.mm_types import MM_ANONPAGES
from ..mm.oom_kill import OomDeferred
from ..mm.page import (NULL, PG_uptodate, PG_swapbacked, PG_active, PG_head,
                       PAGE_MAPPING_ANON)
from ..mm.page_alloc import __alloc_pages_nodemask, _GFP_BITS_MASK
from ..mm.rmap import page_remove_rmap
from ..mm.swap import PAGEVEC_SIZE, __pagevec_lru_add, put_page
from ..mm.vma import find_vma

__all__ = ["user_access", "cow_break"]

_R = PF_USER
_W = PF_USER | PF_WRITE
_A = _PAGE_ACCESSED
_D = _PAGE_DIRTY
_ODD_UPPER = _ADDR_RSVD | _PAGE_PSE
_NEW_PTE_FLAGS = _PAGE_RW | _PAGE_DIRTY | _PAGE_SOFT_DIRTY      # maybe_mkwrite(pte_mkdirty())
_PG_NEW_ANON = (1 << PG_uptodate) | (1 << PG_swapbacked) | (1 << PG_active)
# VMAs whose anonymous faults take a path of their own (SIGBUS, the stack guard page,
# hugetlb, special mappings, the unevictable list)
_NOT_PLAIN = (VM_SHARED | VM_GROWSDOWN | VM_HUGETLB | VM_PFNMAP | VM_MIXEDMAP | VM_LOCKED
              | VM_SPECIAL)
_GFP_COPY = G.GFP_HIGHUSER_MOVABLE & _GFP_BITS_MASK
_GFP_ZERO = GFP_HIGHUSER_MOVABLE_ZERO & _GFP_BITS_MASK
HAND_BACK = -1
# bits of a new leaf that would make the retried walk take another way: frame bits above
# MAXPHYADDR, reserved address bits
_LEAF_ODD = PTE_PFN_MASK & ~_FRAME | _ADDR_RSVD

# vm_page_prot -> the entry bits of a new PTE (a pure function of the protection), and
# -> (zero_pfn, the young zero-page PTE)
_proto_cache: dict = {}
_zero_cache: dict = {}


def _alloc(m, pgdat, gfp: int, cpuid: int):
    """alloc_page_vma with the OOM killer deferred: ``(frame, quiet)``, the frame NULL on
    failure and None where the killer would run; ``quiet`` when the order-0 accelerator
    served it (then nothing but the allocation changed: no reclaim, no TLB flush)."""
    fast = pgdat.accel.alloc_order0
    if fast is not None:
        # __alloc_pages_nodemask's first steps
        ac = pgdat.ac_cache.get(gfp)
        if ac is not None and ac.preferred_zone is not None:
            page = fast(ac, gfp, cpuid)
            if page != NULL:
                return page, True
    return _alloc_slow(m, pgdat, gfp, cpuid), False


def _alloc_slow(m, pgdat, gfp: int, cpuid: int):
    """_alloc's allocation after the order-0 accelerator (if any) found nothing: the
    frame, NULL on failure, None where the OOM killer would run."""
    m.oom.defer = True
    try:
        return __alloc_pages_nodemask(pgdat, gfp, 0, cpuid)
    except OomDeferred:
        return None
    finally:
        m.oom.defer = False


@register("user_access", "linuxvm.arch.x86.uaccess.user_access")
def user_access(m, task, va: int, access: int) -> int:
    """user_access with a TLB miss walked, and a first-touch or COW fault of a plain
    anonymous page, inline; -1 (nothing changed) to hand the access back."""
    cpu = m.cpus[task.cpu]
    if cpu.current is task:
        m.current_cpu = cpu.cpu
        m.current = task
    else:
        cpu = run_on_cpu(m, task)
    tlb = cpu.tlb
    vpn = va >> 12
    s = tlb.l1sets[vpn & tlb.l1mask]
    e = s.get(vpn)
    if e is not None:
        if (e[1] >> access) & 1:
            del s[vpn]
            s[vpn] = e
            tlb.hits += 1
            return e[0] | (va & 0xFFF)
        return HAND_BACK
    if va >= TASK_SIZE_MAX or (access != _W and access != _R) or not cpu.nxe:
        return HAND_BACK
    # lookup_slow would find nothing (and change nothing) unless one of these holds
    n2 = va >> 21
    n1 = va >> 30
    stlbsets = tlb.stlbsets
    stlbmask = tlb.stlbmask
    if (vpn in stlbsets[vpn & stlbmask] or ~n2 in stlbsets[n2 & stlbmask]
            or n2 in tlb.l2msets[n2 & tlb.l2mmask] or n1 in tlb.l1gsets[n1 & tlb.l1gmask]):
        return HAND_BACK
    # the walk, down plain table frames only
    pgt = m.pgtables
    t0 = pgt.get(cpu.cr3 >> 12)
    if t0 is None:
        return HAND_BACK
    i0 = (va >> 39) & 511
    e0 = t0[i0]
    if not e0 & 1 or e0 & _ODD_UPPER:
        return HAND_BACK
    t1 = pgt.get((e0 & _FRAME) >> 12)
    if t1 is None:
        return HAND_BACK
    i1 = n1 & 511
    e1 = t1[i1]
    if not e1 & 1 or e1 & _ODD_UPPER:
        return HAND_BACK
    t2 = pgt.get((e1 & _FRAME) >> 12)
    if t2 is None:
        return HAND_BACK
    i2 = n2 & 511
    e2 = t2[i2]
    if not e2 & 1 or e2 & (_ODD_UPPER | _PAGE_DEVMAP):
        return HAND_BACK
    t3 = pgt.get((e2 & _FRAME) >> 12)
    if t3 is None:
        return HAND_BACK
    i3 = vpn & 511
    e3 = t3[i3]
    upper = e0 & e1 & e2
    okcache = cpu.okcache
    if e3 & 1:
        if e3 & _ADDR_RSVD:
            return HAND_BACK
        rights = ((upper & e3) >> 1) & (R_RW | R_USER)
        if (e0 | e1 | e2 | e3) & _PAGE_NX:
            rights |= R_NX
        ok = okcache.get(rights | R_DIRTY)
        if ok is None:
            ok = okmask(cpu, rights | R_DIRTY)
        if (ok >> access) & 1:
            # translate's walk and fill: A on the path, D on the leaf for a write
            tlb.misses += 1
            tlb.walks += 1
            if not upper & _A:
                _mkyoung_upper(t0, i0, t1, i1, t2, i2)
            leaf = e3 | _A | _D if access == _W else e3 | _A
            if leaf != e3:
                t3[i3] = leaf
            return _fill(cpu, tlb, vpn, va, leaf, rights)
        if access != _W or e3 & (_PAGE_RW | _PAGE_SPECIAL) or \
                upper & (_PAGE_RW | _PAGE_USER) != (_PAGE_RW | _PAGE_USER) or \
                not e3 & _PAGE_USER:
            return HAND_BACK
        return cow_break(m, task, cpu, tlb, va, vpn, (t0, i0, t1, i1, t2, i2), t3, i3, e3)[0]
    if e3:
        return HAND_BACK                          # a swap or migration entry
    if access == _W:
        return _anon(m, task, cpu, tlb, va, access, vpn, (t0, i0, t1, i1, t2, i2), t3, i3,
                     upper, e0 | e1 | e2)
    # a read of a PTE none: _anon's zero-page case written out here (the commonest fault
    # of all, where a call and its arguments cost a tenth of the fault)
    mm = task.mm
    if mm is None or cpu.cr3 != mm.pgd << 12:
        return HAND_BACK
    vma = find_vma(mm, va)
    if vma is None or vma.vm_start > va or vma.vm_ops is not None:
        return HAND_BACK
    f = vma.vm_flags
    if f & _NOT_PLAIN or not f & (VM_READ | VM_EXEC | VM_WRITE):
        return HAND_BACK                          # (as _vma_for for a read)
    zero = _zero_cache.get(vma.vm_page_prot)
    if zero is None or zero[0] != m.zero_pfn:
        zero = _zero_entry(m, vma.vm_page_prot)
    leaf = zero[1]
    if not zero[2]:
        return HAND_BACK
    # the retried access must succeed, or the per-access path decides what follows
    rights = ((upper & leaf) >> 1) & (R_RW | R_USER)
    if (e0 | e1 | e2 | leaf) & _PAGE_NX:
        rights |= R_NX
    ok = okcache.get(rights | R_DIRTY)
    if ok is None:
        ok = okmask(cpu, rights | R_DIRTY)
    if not (ok >> access) & 1:
        return HAND_BACK
    # the access: a miss and a walk that find the PTE none -- #PF; handle_mm_fault's
    # pgfault event and check_sync_rss_stat(current); do_anonymous_page maps the zero page
    # (allocating nothing); the retried access: a miss and a walk (both counted at once)
    cpu.cr2 = va
    m.pgdat.vm_events[PGFAULT] += 1
    rss = task.rss_stat
    ev = rss.events
    rss.events = ev + 1
    if ev > TASK_RSS_EVENTS_THRESH:
        sync_mm_rss(mm, task)
    tlb.misses += 2
    tlb.walks += 2
    task.min_flt += 1
    if not upper & _A:
        _mkyoung_upper(t0, i0, t1, i1, t2, i2)
    t3[i3] = leaf
    return _fill(cpu, tlb, vpn, va, leaf, rights)


def _zero_entry(m, prot: int) -> tuple:
    """_zero_cache's entry for ``prot``: (zero_pfn, the young zero-page PTE, whether the
    retried walk takes that PTE the plain way)."""
    leaf = pte_mkspecial(pfn_pte(m.zero_pfn, prot)) | _A
    zero = _zero_cache[prot] = (m.zero_pfn, leaf, bool(leaf & 1 and not leaf & _LEAF_ODD))
    return zero


def _proto(prot: int) -> int:
    """_proto_cache's entry for ``prot``: the bits of a new writable, dirty anonymous PTE
    (maybe_mkwrite(pte_mkdirty(mk_pte(page, prot))) without the frame)."""
    proto = _proto_cache[prot] = mk_pte(0, prot) | _NEW_PTE_FLAGS
    return proto


def _mkyoung_upper(t0, i0, t1, i1, t2, i2) -> None:
    """The walk's accessed bits on the PGD, PUD and PMD entries."""
    for t, i in ((t0, i0), (t1, i1), (t2, i2)):
        e = t[i]
        if not e & _A:
            t[i] = e | _A


def _fill(cpu, tlb, vpn: int, va: int, leaf: int, rights: int) -> int:
    """tlb.fill of a 4 KiB page no set holds yet; the physical address. (The sets are
    looked up here: a flush during the fault may have replaced them.)"""
    base = leaf & _FRAME
    dirty = bool(leaf & _D)
    glob = bool(leaf & _PAGE_GLOBAL) and cpu.pge
    if dirty:
        rights |= R_DIRTY
    ok = cpu.okcache.get(rights)
    if ok is None:
        ok = okmask(cpu, rights)
    entry = (base, ok, glob, rights, dirty)
    t = tlb.stlbsets[vpn & tlb.stlbmask]
    if len(t) >= tlb.stlbways:
        for way in t:          # the least recently used way (next(iter()) costs more)
            break
        del t[way]
    t[vpn] = entry
    s = tlb.l1sets[vpn & tlb.l1mask]
    if len(s) >= tlb.l1ways:
        for way in s:          # the least recently used way (next(iter()) costs more)
            break
        del s[way]
    s[vpn] = entry
    return base | (va & 0xFFF)


def _vma_for(mm, va: int, write: bool):
    """The VMA of an access __do_page_fault would hand to handle_mm_fault with no stack
    growth and no access error, when its anonymous faults are plain; else None."""
    vma = find_vma(mm, va)
    if vma is None or vma.vm_start > va or vma.vm_ops is not None:
        return None
    f = vma.vm_flags
    if f & _NOT_PLAIN:
        return None
    if write:
        # a first write fault allocates the anon_vma (anon_vma_prepare): the reference's
        if not f & VM_WRITE or vma.anon_vma is None:
            return None
    elif not f & (VM_READ | VM_EXEC | VM_WRITE):
        return None
    return vma


def _undo_counts(m, task, ev: int) -> None:
    """Undo handle_mm_fault's counts (a fold into the mm stays: the reference's own fold then moves
    nothing more and leaves the same state)."""
    m.pgdat.vm_events[PGFAULT] -= 1
    task.rss_stat.events = ev


def _retry_walk(cpu, tlb, vpn: int, va: int, path, t3, i3: int, leaf: int) -> int:
    """The retried access after the fault: a miss, a walk over the upper entries as they
    are now that sets A on them, A (and D) on ``leaf``, and the fill of a page no set
    holds (the sets are looked up afresh: a flush in the fault may have replaced them)."""
    tlb.misses += 1
    tlb.walks += 1
    t0, i0, t1, i1, t2, i2 = path
    e0 = t0[i0]
    e1 = t1[i1]
    e2 = t2[i2]
    upper = e0 & e1 & e2
    if not upper & _A:
        _mkyoung_upper(t0, i0, t1, i1, t2, i2)
    t3[i3] = leaf
    rights = ((upper & leaf) >> 1) & (R_RW | R_USER)
    if (e0 | e1 | e2 | leaf) & _PAGE_NX:
        rights |= R_NX
    return _fill(cpu, tlb, vpn, va, leaf, rights)


def _anon(m, task, cpu, tlb, va: int, access: int, vpn: int, path, t3, i3: int,
          upper: int, upper_or: int) -> int:
    """A write to a PTE none: __do_page_fault → do_anonymous_page, then the retried
    access. (A read's fault, the zero page, is written out in user_access.)"""
    mm = task.mm
    if mm is None or cpu.cr3 != mm.pgd << 12:
        return HAND_BACK
    vma = _vma_for(mm, va, True)
    if vma is None:
        return HAND_BACK
    prot = vma.vm_page_prot
    proto = _proto_cache.get(prot)
    if proto is None:
        proto = _proto(prot)
    leaf = proto | _A | _D
    if leaf & _LEAF_ODD or not leaf & 1:
        return HAND_BACK
    # the retried access must succeed, or the per-access path decides what follows
    rights = ((upper & leaf) >> 1) & (R_RW | R_USER)
    if (upper_or | leaf) & _PAGE_NX:
        rights |= R_NX
    ok = cpu.okcache.get(rights | R_DIRTY)
    if ok is None:
        ok = okmask(cpu, rights | R_DIRTY)
    if not (ok >> access) & 1:
        return HAND_BACK
    # the access: a miss and a walk that finds the PTE none -- #PF; handle_mm_fault's
    # pgfault event and check_sync_rss_stat(current)
    cpu.cr2 = va
    pgdat = m.pgdat
    pgdat.vm_events[PGFAULT] += 1
    rss = task.rss_stat
    ev = rss.events
    rss.events = ev + 1
    if ev > TASK_RSS_EVENTS_THRESH:
        sync_mm_rss(mm, task)
    page, quiet = _alloc(m, pgdat, _GFP_ZERO, cpu.cpu)
    if page is None:
        _undo_counts(m, task, ev)
        return HAND_BACK
    tlb.misses += 1
    tlb.walks += 1
    if page == NULL:
        pagefault_out_of_memory(m, task, va)
        return HAND_BACK                          # the access is retried from the start
    mem_map = m.mem_map
    f = mem_map.f
    fl = f[page] | _PG_NEW_ANON
    f[page] = fl
    rss.count[MM_ANONPAGES] += 1                             # inc_mm_counter_fast
    mem_map.mc[page] = 0                                     # page_add_new_anon_rmap
    pgdat.node_zones[fl >> 62].vm_stat[NR_ANON_PAGES] += 1
    mem_map.mapv[page] = (vma.anon_vma.handle << 2) | PAGE_MAPPING_ANON
    mem_map.idx[page] = ((va - vma.vm_start) >> 12) + vma.vm_pgoff
    _lru_cache_add(m, mem_map, page, cpu.cpu)
    leaf |= page << 12
    task.min_flt += 1
    if not quiet:
        return _retry_walk(cpu, tlb, vpn, va, path, t3, i3, leaf)
    # the retried access: nothing but this fault ran (the frame came from the pcp list),
    # so the upper entries are as the first walk read them
    tlb.misses += 1
    tlb.walks += 1
    if not upper & _A:
        _mkyoung_upper(*path)
    t3[i3] = leaf
    return _fill(cpu, tlb, vpn, va, leaf, rights)


def _lru_cache_add(m, mem_map, page: int, cpuid: int) -> None:
    """lru_cache_add_active_or_unevictable of a new page in a VMA that is not mlocked
    (PG_active is set by the caller): get_page and the pagevec."""
    head = mem_map.ch[page]
    if head == NULL:
        head = page
    rc = mem_map.rc
    if rc[head] <= 0:
        raise KernelBug(f"get_page on a free page {head:#x}")
    rc[head] += 1
    pvec = m.lru.lru_add_pvec[cpuid]
    if len(pvec) >= PAGEVEC_SIZE:
        __pagevec_lru_add(m, cpuid)
    pvec.append(page)


def cow_break(m, task, cpu, tlb, va: int, vpn: int, path, t3, i3: int, orig: int):
    """A write to a present write-protected PTE: __do_page_fault → do_wp_page →
    wp_page_copy of an anonymous page other mms map too, then the retried access.

    The caller has seen the access miss every TLB structure and the walk reach ``orig``
    (present, user, not writable) under writable user upper entries ``path``. Returns
    ``(phys, quiet)``: ``phys`` -1 when handed back (nothing changed, or an OOM answered
    and the access to be retried); ``quiet`` when nothing but this fault changed (its
    allocation came from the pcp list), so the caller's view of the VMA and tables
    holds."""
    mm = task.mm
    if mm is None or cpu.cr3 != mm.pgd << 12:
        return HAND_BACK, False
    mem_map = m.mem_map
    old = (orig & PTE_PFN_MASK) >> 12
    if old >= m.max_pfn or not mem_map.mapv[old] & PAGE_MAPPING_ANON or \
            mem_map.ch[old] != NULL or mem_map.f[old] & (1 << PG_head):
        return HAND_BACK, False
    if mem_map.mc[old] < 1:
        return HAND_BACK, False         # reuse_swap_page may say yes: the reference decides
    vma = _vma_for(mm, va, True)
    if vma is None:
        return HAND_BACK, False
    prot = vma.vm_page_prot
    proto = _proto_cache.get(prot)
    if proto is None:
        proto = _proto(prot)
    leaf = proto | _A | _D
    if leaf & _LEAF_ODD or not leaf & 1 or \
            leaf & (_PAGE_RW | _PAGE_USER) != (_PAGE_RW | _PAGE_USER):
        return HAND_BACK, False         # the retried access would fault again
    # the #PF (a protection fault: the walk changed nothing), handle_mm_fault's counters
    cpu.cr2 = va
    pgdat = m.pgdat
    pgdat.vm_events[PGFAULT] += 1
    rss = task.rss_stat
    ev = rss.events
    rss.events = ev + 1
    if ev > TASK_RSS_EVENTS_THRESH:
        sync_mm_rss(mm, task)
    # do_wp_page: reuse_swap_page says no (another mapping), get_page, wp_page_copy
    rc = mem_map.rc
    if rc[old] <= 0:
        raise KernelBug(f"get_page on a free page {old:#x}")
    rc[old] += 1
    cpuid = cpu.cpu
    new, quiet = _alloc(m, pgdat, _GFP_COPY, cpuid)
    if new is None:
        rc[old] -= 1
        _undo_counts(m, task, ev)
        return HAND_BACK, False
    tlb.misses += 1
    tlb.walks += 1
    if new == NULL:
        put_page(m, old)
        pagefault_out_of_memory(m, task, va)
        return HAND_BACK, False         # the access is retried from the start
    # copy_user_highpage: the bytes, if any, and the content tag
    pc = m.page_contents
    data = pc.get(old)
    if data is not None:
        pc[new] = bytearray(data)
    elif new in pc:
        del pc[new]
    contv = mem_map.contv
    contv[new] = contv[old]
    # ptep_clear_flush: flush_tlb_page. Nothing cached the page when the access began
    # and, with a quiet allocation, nothing has filled since: locally only the INVLPG's
    # count, and no other CPU to shoot down unless mm_cpumask names one
    t3[i3] = 0
    if quiet and task.active_mm is mm and _only(mm.cpu_vm_mask, cpuid):
        tlb.flush_one += 1
    else:
        x86_tlb.flush_tlb_page(m, vma, va)
    # PG_uptodate; page_add_new_anon_rmap; lru_cache_add_active_or_unevictable
    f = mem_map.f
    fl = f[new] | _PG_NEW_ANON
    f[new] = fl
    mc = mem_map.mc
    mc[new] = 0
    pgdat.node_zones[fl >> 62].vm_stat[NR_ANON_PAGES] += 1
    mapv = mem_map.mapv
    if not mapv[new] & PAGE_MAPPING_ANON:
        mapv[new] = (vma.anon_vma.handle << 2) | PAGE_MAPPING_ANON
        mem_map.idx[new] = ((va - vma.vm_start) >> 12) + vma.vm_pgoff
    _lru_cache_add(m, mem_map, new, cpuid)
    t3[i3] = proto | (new << 12)
    # page_remove_rmap of a page still mapped elsewhere; put_page for the PTE's reference
    # and do_wp_page's (neither the last: the other mapping holds one)
    mc[old] -= 1
    if mc[old] < 0 or rc[old] <= 2:
        mc[old] += 1
        page_remove_rmap(m, old)
        put_page(m, old)
        put_page(m, old)
    else:
        rc[old] -= 2
    task.min_flt += 1
    return _retry_walk(cpu, tlb, vpn, va, path, t3, i3, leaf | (new << 12)), quiet


def _only(cpumask, cpuid: int) -> bool:
    """No CPU but ``cpuid`` in ``cpumask`` (flush_tlb_page's _others is false)."""
    for c in cpumask:
        if c != cpuid:
            return False
    return True
