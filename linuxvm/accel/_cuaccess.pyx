# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Compiled body of the one-access accelerator (``user_access``, linuxvm/accel/uaccess_one.py):
the TLB lookups, the page walk over C pointers into the table frames, the fill, the
zero-page read fault, the first write fault (``_anon``) and the COW break (``cow_break``),
in the pure-Python body's order.

An allocation that is not served from the pcp list, and what follows it, go to the
pure-Python body's own helpers (``_alloc_slow``, ``_retry_walk``) with the walk's results,
as do the rare branches (an OOM, a last reference), so their steps have one copy.
Registered by linuxvm/accel/ccore.py in place of the pure-Python body; it leaves exactly
the state that body leaves (tests/test_ccore.py, tests/test_uaccess_one.py).
"""

from cpython.buffer cimport Py_buffer
from cpython.dict cimport PyDict_GetItem, PyDict_DelItem, PyDict_SetItem, PyDict_Next
from cpython.object cimport PyObject

from . import uaccess_one as _py
from ..arch.x86.mmu import okmask
from ..errors import KernelBug
from ..mm.memory import sync_mm_rss

cdef extern from "Python.h":
    Py_buffer* PyMemoryView_GET_BUFFER(object)
    bint PyMemoryView_Check(object)

ctypedef unsigned long long u64
ctypedef long long i64

cdef int W = _py._W
cdef int R = _py._R
cdef u64 A = _py._A
cdef u64 D = _py._D
cdef u64 ODD_UPPER = _py._ODD_UPPER
cdef u64 ADDR_RSVD = _py._ADDR_RSVD
cdef u64 FRAME = _py._FRAME
cdef u64 DEVMAP = _py._PAGE_DEVMAP
cdef u64 NX = _py._PAGE_NX
cdef u64 RW = _py._PAGE_RW
cdef u64 USER = _py._PAGE_USER
cdef u64 SPECIAL = _py._PAGE_SPECIAL
cdef u64 GLOBAL = _py._PAGE_GLOBAL
cdef u64 R_RW_USER = _py.R_RW | _py.R_USER
cdef u64 R_NX = _py.R_NX
cdef u64 R_DIRTY = _py.R_DIRTY
cdef u64 TASK_SIZE_MAX = _py.TASK_SIZE_MAX
cdef u64 NOT_PLAIN = _py._NOT_PLAIN
cdef u64 VM_ANY = _py.VM_READ | _py.VM_EXEC | _py.VM_WRITE
cdef Py_ssize_t PGFAULT = _py.PGFAULT
cdef i64 THRESH = _py.TASK_RSS_EVENTS_THRESH
cdef object U64_MAX = (1 << 64) - 1
cdef object pure_user_access = _py.user_access
cdef object run_on_cpu = _py.run_on_cpu
cdef object zero_entry = _py._zero_entry
cdef dict zero_cache = _py._zero_cache
cdef dict proto_cache = _py._proto_cache
cdef object proto_of = _py._proto
cdef object alloc_slow = _py._alloc_slow
cdef object undo_counts = _py._undo_counts
cdef object retry_walk = _py._retry_walk
cdef object pagefault_out_of_memory = _py.pagefault_out_of_memory
cdef object pagevec_lru_add = getattr(_py, "__pagevec_lru_add")
cdef object flush_tlb_page = _py.x86_tlb.flush_tlb_page
cdef object put_page = _py.put_page
cdef object page_remove_rmap = _py.page_remove_rmap
cdef object only = _py._only
cdef u64 PTE_PFN_MASK = _py.PTE_PFN_MASK
cdef u64 F_HEAD = 1ULL << _py.PG_head
GFP_COPY = _py._GFP_COPY
cdef u64 VM_WRITE = _py.VM_WRITE
cdef u64 LEAF_ODD = _py._LEAF_ODD
cdef u64 PG_NEW_ANON = _py._PG_NEW_ANON
cdef i64 MAPPING_ANON = _py.PAGE_MAPPING_ANON
cdef i64 NULLPFN = _py.NULL
cdef Py_ssize_t PAGEVEC_SIZE = _py.PAGEVEC_SIZE
cdef Py_ssize_t MM_ANONPAGES = _py.MM_ANONPAGES
cdef Py_ssize_t NR_ANON_PAGES = _py.NR_ANON_PAGES
GFP_ZERO = _py._GFP_ZERO


cdef inline u64* table(dict pgt, u64 pfn):
    """The entries of table frame ``pfn``, or NULL where the walk is not plain (no table
    object, or not a writable 512-entry view)."""
    cdef PyObject* o = PyDict_GetItem(pgt, pfn)
    if o == NULL:
        return NULL
    return entries(<object>o)


cdef void* items(object v, Py_ssize_t itemsize) except NULL:
    """The buffer of memoryview ``v``, whose items must be ``itemsize`` bytes."""
    if not PyMemoryView_Check(v) or PyMemoryView_GET_BUFFER(v).itemsize != itemsize or \
            PyMemoryView_GET_BUFFER(v).readonly:
        raise TypeError(f"not a writable memoryview of {itemsize}-byte items: {v!r}")
    return PyMemoryView_GET_BUFFER(v).buf


cdef inline u64* entries(object v):
    """The entries of table view ``v``, NULL unless a writable 512-entry view."""
    if not PyMemoryView_Check(v):
        return NULL
    cdef Py_buffer* b = PyMemoryView_GET_BUFFER(v)
    if b.readonly or b.len != 4096 or b.itemsize != 8:
        return NULL
    return <u64*>b.buf


cdef inline object ok_of(cpu, dict okcache, u64 rights):
    cdef PyObject* o = PyDict_GetItem(okcache, rights)
    if o != NULL:
        return <object>o
    return okmask(cpu, rights)


cdef inline bint in_set(list sets, u64 index, object key):
    """``key`` is cached in set ``index`` of ``sets``."""
    return PyDict_GetItem(<dict>sets[<Py_ssize_t>index], key) != NULL


# --- what does not change in one CPU's TLB or one machine, looked up once -----------------

cdef class TlbC:
    """A Tlb's set lists and geometry (fixed when it is made: flushes replace the dicts
    inside the lists, never the lists)."""
    cdef object tlb
    cdef list l1sets, stlbsets, l2msets, l1gsets
    cdef u64 l1mask, stlbmask, l2mmask, l1gmask
    cdef Py_ssize_t l1ways, stlbways

    def __init__(self, tlb):
        self.tlb = tlb
        self.l1sets = tlb.l1sets
        self.stlbsets = tlb.stlbsets
        self.l2msets = tlb.l2msets
        self.l1gsets = tlb.l1gsets
        self.l1mask = tlb.l1mask
        self.stlbmask = tlb.stlbmask
        self.l2mmask = tlb.l2mmask
        self.l1gmask = tlb.l1gmask
        self.l1ways = tlb.l1ways
        self.stlbways = tlb.stlbways


cdef class MachineC:
    """A booted machine's objects the accesses use, fixed after boot: the CPUs, the table
    frames' dict, the node and its event counters, the struct page arrays (as pointers),
    the per-CPU LRU pagevecs, and each CPU's TlbC."""
    cdef object m, pgdat, lru_add_pvec, keep
    cdef list cpus, vm_events, tlbs
    cdef dict pgt
    cdef u64* flags
    cdef int* mc
    cdef int* rc
    cdef int* ch
    cdef i64* mapv
    cdef i64* idx
    cdef unsigned int* contv
    cdef i64 max_pfn

    def __init__(self, m):
        self.m = m
        self.cpus = m.cpus
        self.pgt = m.pgtables
        self.pgdat = m.pgdat
        self.vm_events = m.pgdat.vm_events
        self.lru_add_pvec = m.lru.lru_add_pvec
        self.tlbs = [TlbC(cpu.tlb) for cpu in m.cpus]
        mem_map = m.mem_map
        # the arrays behind these views are never replaced (only the LRU links grow)
        self.keep = (mem_map.f, mem_map.mc, mem_map.rc, mem_map.ch, mem_map.mapv,
                     mem_map.idx, mem_map.contv)
        self.contv = <unsigned int*>items(mem_map.contv, 4)
        self.max_pfn = m.max_pfn
        self.flags = <u64*>items(mem_map.f, 8)
        self.mc = <int*>items(mem_map.mc, 4)
        self.rc = <int*>items(mem_map.rc, 4)
        self.ch = <int*>items(mem_map.ch, 4)
        self.mapv = <i64*>items(mem_map.mapv, 8)
        self.idx = <i64*>items(mem_map.idx, 8)


cdef MachineC _last = None


cdef inline MachineC machine_c(m):
    """The MachineC of ``m`` (the last one is kept, while the table dict is the same)."""
    global _last
    if _last is not None and _last.m is m and _last.pgt is m.pgtables:
        return _last
    _last = MachineC(m)
    return _last


cdef object fill(cpu, dict okcache, TlbC T, u64 vpn, u64 va, u64 leaf, u64 rights):
    """_fill: the fill of a 4 KiB page no set holds; the physical address."""
    cdef u64 base = leaf & FRAME
    cdef bint dirty = (leaf & D) != 0
    glob = bool(leaf & GLOBAL) and cpu.pge
    if dirty:
        rights |= R_DIRTY
    ok = ok_of(cpu, okcache, rights)
    entry = (base, ok, glob, rights, dirty)
    key = vpn
    cdef PyObject* k
    cdef PyObject* v
    cdef Py_ssize_t pos
    cdef dict t = T.stlbsets[vpn & T.stlbmask]
    if len(t) >= T.stlbways:
        pos = 0                      # the least recently used way: the first key
        PyDict_Next(t, &pos, &k, &v)
        way = <object>k
        PyDict_DelItem(t, way)
    PyDict_SetItem(t, key, entry)
    cdef dict s = T.l1sets[vpn & T.l1mask]
    if len(s) >= T.l1ways:
        pos = 0
        PyDict_Next(s, &pos, &k, &v)
        way = <object>k
        PyDict_DelItem(s, way)
    PyDict_SetItem(s, key, entry)
    return base | (va & 0xFFF)


cdef inline void mkyoung_upper(u64* t0, u64 i0, u64* t1, u64 i1, u64* t2, u64 i2):
    if not t0[i0] & A:
        t0[i0] |= A
    if not t1[i1] & A:
        t1[i1] |= A
    if not t2[i2] & A:
        t2[i2] |= A


def user_access(m, task, va_obj, int access):
    """user_access with a TLB miss walked and a zero-page read fault inline (a first write
    and a COW break through the pure-Python body's helpers); -1 to hand the access back."""
    if not (0 <= va_obj <= U64_MAX) or not 0 <= access < 32:
        return pure_user_access(m, task, va_obj, access)     # (whatever it makes of them)
    cdef u64 va = va_obj
    cdef MachineC M = machine_c(m)
    cdef Py_ssize_t cpuid = task.cpu
    cpu = M.cpus[cpuid]
    if cpu.current is task:
        m.current_cpu = cpuid
        m.current = task
    else:
        cpu = run_on_cpu(m, task)
        cpuid = cpu.cpu
    cdef TlbC T = <TlbC>M.tlbs[cpuid]
    tlb = T.tlb
    cdef u64 vpn = va >> 12
    vpn_obj = vpn
    cdef dict s = T.l1sets[vpn & T.l1mask]
    cdef PyObject* eo = PyDict_GetItem(s, vpn_obj)
    if eo != NULL:
        e = <object>eo
        if type(e) is not tuple:
            return pure_user_access(m, task, va_obj, access)  # not an entry mmu.py makes
        if ((<u64>(<tuple>e)[1]) >> access) & 1:
            PyDict_DelItem(s, vpn_obj)
            PyDict_SetItem(s, vpn_obj, e)
            tlb.hits += 1
            return (<tuple>e)[0] | (va & 0xFFF)
        return -1
    if va >= TASK_SIZE_MAX or (access != W and access != R) or not cpu.nxe:
        return -1
    cdef u64 n2 = va >> 21
    cdef u64 n1 = va >> 30
    # (a 2 MiB page's STLB key is the complement of its number, a negative int)
    if (in_set(T.stlbsets, vpn & T.stlbmask, vpn_obj)
            or in_set(T.stlbsets, n2 & T.stlbmask, -<i64>n2 - 1)
            or in_set(T.l2msets, n2 & T.l2mmask, n2)
            or in_set(T.l1gsets, n1 & T.l1gmask, n1)):
        return -1
    cdef dict pgt = M.pgt
    cdef u64 cr3 = cpu.cr3
    cdef u64* t0 = table(pgt, cr3 >> 12)
    if t0 == NULL:
        return -1
    cdef u64 i0 = (va >> 39) & 511
    cdef u64 e0 = t0[i0]
    if not e0 & 1 or e0 & ODD_UPPER:
        return -1
    cdef u64* t1 = table(pgt, (e0 & FRAME) >> 12)
    if t1 == NULL:
        return -1
    cdef u64 i1 = n1 & 511
    cdef u64 e1 = t1[i1]
    if not e1 & 1 or e1 & ODD_UPPER:
        return -1
    cdef u64* t2 = table(pgt, (e1 & FRAME) >> 12)
    if t2 == NULL:
        return -1
    cdef u64 i2 = n2 & 511
    cdef u64 e2 = t2[i2]
    if not e2 & 1 or e2 & (ODD_UPPER | DEVMAP):
        return -1
    cdef u64* t3 = table(pgt, (e2 & FRAME) >> 12)
    if t3 == NULL:
        return -1
    cdef u64 i3 = vpn & 511
    cdef u64 e3 = t3[i3]
    cdef u64 upper = e0 & e1 & e2
    cdef dict okcache = cpu.okcache
    cdef u64 rights
    cdef u64 leaf
    if e3 & 1:
        if e3 & ADDR_RSVD:
            return -1
        rights = rights_of(e0, e1, e2, e3)
        if (<u64>ok_of(cpu, okcache, rights | R_DIRTY) >> access) & 1:
            tlb.misses += 1
            tlb.walks += 1
            if not upper & A:
                mkyoung_upper(t0, i0, t1, i1, t2, i2)
            leaf = e3 | A | D if access == W else e3 | A
            if leaf != e3:
                t3[i3] = leaf
            return fill(cpu, okcache, T, vpn, va, leaf, rights)
        if access != W or e3 & (RW | SPECIAL) or \
                upper & (RW | USER) != (RW | USER) or not e3 & USER:
            return -1
        return cow(M, m, task, cpu, cpuid, okcache, T, va, vpn, cr3, t0, i0, e0, t1, i1, e1,
                   t2, i2, e2, t3, i3, e3)
    if e3:
        return -1
    mm = task.mm
    if mm is None or cr3 != <u64>mm.pgd << 12:
        return -1
    vma = find_vma(mm, va)
    if vma is None or vma.vm_start > va or vma.vm_ops is not None:
        return -1
    if access == W:
        return anon(M, m, task, cpu, cpuid, okcache, T, va, vpn, vma, cr3, t0, i0, e0, t1,
                    i1, e1, t2, i2, e2, t3, i3)
    # a read of a PTE none: the zero page
    cdef u64 f = vma.vm_flags
    if f & NOT_PLAIN or not f & VM_ANY:
        return -1
    prot = vma.vm_page_prot
    cdef PyObject* zo = PyDict_GetItem(zero_cache, prot)
    if zo == NULL or (<tuple><object>zo)[0] != m.zero_pfn:
        zero = zero_entry(m, prot)
    else:
        zero = <object>zo
    leaf = (<tuple>zero)[1]
    if not (<tuple>zero)[2]:
        return -1
    rights = rights_of(e0, e1, e2, leaf)
    if not (<u64>ok_of(cpu, okcache, rights | R_DIRTY) >> access) & 1:
        return -1
    fault_counts(M, cpu, task, mm, va)
    tlb.misses += 2
    tlb.walks += 2
    task.min_flt += 1
    if not upper & A:
        mkyoung_upper(t0, i0, t1, i1, t2, i2)
    t3[i3] = leaf
    return fill(cpu, okcache, T, vpn, va, leaf, rights)


cdef object fault_counts(MachineC M, cpu, task, mm, u64 va):
    """The #PF's CR2 and handle_mm_fault's counters (the pgfault event, then
    check_sync_rss_stat of the current task); the task's RSS event count before, for
    _undo_counts."""
    cpu.cr2 = va
    cdef list vm_events = M.vm_events
    vm_events[PGFAULT] += 1
    rss = task.rss_stat
    ev = rss.events
    rss.events = ev + 1
    if ev > THRESH:
        sync_mm_rss(mm, task)
    return ev


cdef inline u64 proto_for(prot) except? 0:
    """_proto_cache's entry for ``prot``."""
    cdef PyObject* po = PyDict_GetItem(proto_cache, prot)
    return <object>po if po != NULL else proto_of(prot)


cdef object find_vma(mm, u64 va):
    """find_vma: the first VMA ending above ``va``, or None."""
    vma = None
    n = mm.mm_rb
    while n is not None:
        if n.vm_end > va:
            vma = n
            if n.vm_start <= va:
                break
            n = n.rb_left
        else:
            n = n.rb_right
    return vma


cdef object anon(MachineC M, m, task, cpu, Py_ssize_t cpuid, dict okcache, TlbC T, u64 va,
                 u64 vpn, vma, u64 cr3, u64* t0, u64 i0, u64 e0, u64* t1, u64 i1, u64 e1,
                 u64* t2, u64 i2, u64 e2, u64* t3, u64 i3):
    """_anon: a write to a PTE none in ``vma`` (found, plain so far), then the retried
    access."""
    cdef u64 f = vma.vm_flags
    if f & NOT_PLAIN or not f & VM_WRITE or vma.anon_vma is None:
        return -1
    cdef u64 proto = proto_for(vma.vm_page_prot)
    cdef u64 leaf = proto | A | D
    if leaf & LEAF_ODD or not leaf & 1:
        return -1
    cdef u64 rights = rights_of(e0, e1, e2, leaf)
    if not (<u64>ok_of(cpu, okcache, rights | R_DIRTY) >> W) & 1:
        return -1
    ev = fault_counts(M, cpu, task, task.mm, va)
    pgdat = M.pgdat
    cdef bint quiet
    page, quiet = alloc(m, pgdat, GFP_ZERO, cpuid)
    if page is None:
        undo_counts(m, task, ev)
        return -1
    tlb = T.tlb
    cdef i64 pfn = page
    if pfn == NULLPFN:
        tlb.misses += 1
        tlb.walks += 1
        pagefault_out_of_memory(m, task, va)
        return -1
    cdef u64 fl = M.flags[pfn] | PG_NEW_ANON
    M.flags[pfn] = fl
    cdef list count = task.rss_stat.count
    count[MM_ANONPAGES] += 1                                  # inc_mm_counter_fast
    M.mc[pfn] = 0                                             # page_add_new_anon_rmap
    cdef list vm_stat = pgdat.node_zones[fl >> 62].vm_stat
    vm_stat[NR_ANON_PAGES] += 1
    M.mapv[pfn] = (<i64>vma.anon_vma.handle << 2) | MAPPING_ANON
    M.idx[pfn] = <i64>((va - <u64>vma.vm_start) >> 12) + <i64>vma.vm_pgoff
    lru_cache_add(M, m, pfn, page, cpuid)
    leaf |= <u64>pfn << 12
    task.min_flt += 1
    if not quiet:
        tlb.misses += 1
        tlb.walks += 1
        return retry_walk(cpu, tlb, vpn, va, _path(M.pgt, e0, i0, e1, i1, cr3, i2),
                          _view(M.pgt, e2), i3, leaf)
    # the retried access (the fault's miss and walk and the retry's, counted at once)
    return retry_quiet(2, cpu, okcache, T, vpn, va, t0, i0, e0, t1, i1, e1, t2, i2, e2, t3,
                       i3, leaf)


cdef inline u64 rights_of(u64 e0, u64 e1, u64 e2, u64 leaf):
    """The rights a walk through ``e0``..``e2`` to ``leaf`` grants (RW, USER, NX)."""
    cdef u64 rights = ((e0 & e1 & e2 & leaf) >> 1) & R_RW_USER
    if (e0 | e1 | e2 | leaf) & NX:
        rights |= R_NX
    return rights


cdef object retry_quiet(int walks, cpu, dict okcache, TlbC T, u64 vpn, u64 va, u64* t0,
                        u64 i0, u64 e0, u64* t1, u64 i1, u64 e1, u64* t2, u64 i2, u64 e2,
                        u64* t3, u64 i3, u64 leaf):
    """_retry_walk after a fault in which nothing else ran (its frame came from the pcp
    list): the upper entries are as the first walk read them. ``walks`` misses and walks
    are counted (the fault's own too, where the caller has not)."""
    tlb = T.tlb
    tlb.misses += walks
    tlb.walks += walks
    if not e0 & e1 & e2 & A:
        mkyoung_upper(t0, i0, t1, i1, t2, i2)
    t3[i3] = leaf
    return fill(cpu, okcache, T, vpn, va, leaf, rights_of(e0, e1, e2, leaf))


cdef tuple alloc(m, pgdat, gfp, Py_ssize_t cpuid):
    """_alloc: ``(frame, quiet)``; the order-0 accelerator's frame from the pcp list
    (quiet), else the slow way's (NULL on failure, None where the OOM killer would run)."""
    fast = pgdat.accel.alloc_order0
    if fast is not None:
        ac = pgdat.ac_cache.get(gfp)
        if ac is not None and ac.preferred_zone is not None:
            page = fast(ac, gfp, cpuid)
            if page != NULLPFN:
                return page, True
    return alloc_slow(m, pgdat, gfp, cpuid), False


cdef void lru_cache_add(MachineC M, m, i64 pfn, page, Py_ssize_t cpuid) except *:
    """_lru_cache_add: get_page and the pagevec of a new page (PG_active set)."""
    cdef i64 head = M.ch[pfn]
    if head == NULLPFN:
        head = pfn
    if M.rc[head] <= 0:
        raise KernelBug(f"get_page on a free page {head:#x}")
    M.rc[head] += 1
    cdef list pvec = M.lru_add_pvec[cpuid]
    if len(pvec) >= PAGEVEC_SIZE:
        pagevec_lru_add(m, cpuid)
    pvec.append(page)


cdef object cow(MachineC M, m, task, cpu, Py_ssize_t cpuid, dict okcache, TlbC T, u64 va,
                u64 vpn, u64 cr3, u64* t0, u64 i0, u64 e0, u64* t1, u64 i1, u64 e1,
                u64* t2, u64 i2, u64 e2, u64* t3, u64 i3, u64 orig):
    """cow_break: a write to a present write-protected PTE of an anonymous page other
    mms map too: do_wp_page's copy, then the retried access."""
    mm = task.mm
    if mm is None or cr3 != <u64>mm.pgd << 12:
        return -1
    cdef i64 old = (orig & PTE_PFN_MASK) >> 12
    if old >= M.max_pfn or not M.mapv[old] & MAPPING_ANON or M.ch[old] != NULLPFN or \
            M.flags[old] & F_HEAD:
        return -1
    if M.mc[old] < 1:
        return -1                       # reuse_swap_page may say yes: the reference decides
    vma = find_vma(mm, va)
    if vma is None or vma.vm_start > va or vma.vm_ops is not None:
        return -1
    cdef u64 f = vma.vm_flags
    if f & NOT_PLAIN or not f & VM_WRITE or vma.anon_vma is None:
        return -1
    cdef u64 proto = proto_for(vma.vm_page_prot)
    cdef u64 leaf = proto | A | D
    if leaf & LEAF_ODD or not leaf & 1 or leaf & (RW | USER) != (RW | USER):
        return -1                       # the retried access would fault again
    ev = fault_counts(M, cpu, task, mm, va)
    pgdat = M.pgdat
    # do_wp_page: reuse_swap_page says no, get_page, wp_page_copy
    if M.rc[old] <= 0:
        raise KernelBug(f"get_page on a free page {old:#x}")
    M.rc[old] += 1
    cdef bint quiet
    page, quiet = alloc(m, pgdat, GFP_COPY, cpuid)
    if page is None:
        M.rc[old] -= 1
        undo_counts(m, task, ev)
        return -1
    tlb = T.tlb
    tlb.misses += 1
    tlb.walks += 1
    cdef i64 new = page
    if new == NULLPFN:
        put_page(m, old)
        pagefault_out_of_memory(m, task, va)
        return -1
    # copy_user_highpage: the bytes, if any, and the content tag
    cdef dict pc = m.page_contents
    cdef PyObject* data = PyDict_GetItem(pc, old)
    if data != NULL:
        pc[page] = bytearray(<object>data)
    elif page in pc:
        del pc[page]
    M.contv[new] = M.contv[old]
    # ptep_clear_flush
    t3[i3] = 0
    if quiet and task.active_mm is mm and only(mm.cpu_vm_mask, cpuid):
        tlb.flush_one += 1
    else:
        flush_tlb_page(m, vma, va)
    cdef u64 fl = M.flags[new] | PG_NEW_ANON
    M.flags[new] = fl
    M.mc[new] = 0
    cdef list vm_stat = pgdat.node_zones[fl >> 62].vm_stat
    vm_stat[NR_ANON_PAGES] += 1
    if not M.mapv[new] & MAPPING_ANON:
        M.mapv[new] = (<i64>vma.anon_vma.handle << 2) | MAPPING_ANON
        M.idx[new] = <i64>((va - <u64>vma.vm_start) >> 12) + <i64>vma.vm_pgoff
    lru_cache_add(M, m, new, page, cpuid)
    t3[i3] = proto | (<u64>new << 12)
    # page_remove_rmap of a page still mapped elsewhere; put_page twice (neither the last)
    M.mc[old] -= 1
    if M.mc[old] < 0 or M.rc[old] <= 2:
        M.mc[old] += 1
        page_remove_rmap(m, old)
        put_page(m, old)
        put_page(m, old)
    else:
        M.rc[old] -= 2
    task.min_flt += 1
    leaf |= <u64>new << 12
    if not quiet:
        return retry_walk(cpu, tlb, vpn, va, _path(M.pgt, e0, i0, e1, i1, cr3, i2),
                          _view(M.pgt, e2), i3, leaf)
    return retry_quiet(1, cpu, okcache, T, vpn, va, t0, i0, e0, t1, i1, e1, t2, i2, e2, t3,
                       i3, leaf)


cdef object _view(dict pgt, u64 e):
    """The memoryview of the table entry ``e`` points to (the pure-Python helpers write
    through it)."""
    return pgt[(e & FRAME) >> 12]


cdef tuple _path(dict pgt, u64 e0, u64 i0, u64 e1, u64 i1, u64 cr3, u64 i2):
    """The walk's (t0, i0, t1, i1, t2, i2) as the pure-Python helpers take it."""
    return (pgt[cr3 >> 12], i0, pgt[(e0 & FRAME) >> 12], i1, pgt[(e1 & FRAME) >> 12], i2)
