"""Transparent huge pages for anonymous memory (mm/huge_memory.c, the THP parts of
mm/rmap.c and mm/pgtable-generic.c, include/linux/huge_mm.h).

A THP is an order-9 compound page mapped by one PMD leaf (_PAGE_PSE). How the model keeps
4.6's ``struct page`` fields of a THP in ``mem_map``:

* ``PG_head`` on the head, ``compound_head`` on the 511 tails, the order in the first
  tail's ``lru.prev`` (prep_compound_page); the compound destructor in the first tail's
  ``lru.next`` as a negative marker (``TRANSHUGE_PAGE_DTOR``), so no frame number is
  mistaken for it.
* ``compound_mapcount`` (4.6: the first tail's ``mapping`` slot) in the first tail's
  ``private``: the model's ``mapping`` array keeps PAGE_MAPPING_ANON meaningful on every
  frame, so each tail carries the head's anon mapping and its own ``index`` (4.6 reads
  both through compound_head; the model's PTE-level code reads them off the frame).
* ``PG_double_map`` (PG_private_2) on the first tail, as 4.6's PF_SECOND flag.
* the deferred split list through the second tail's ``lru`` links (4.6 threads it through
  ``page[2].mapping``), on ``split_queue`` with ``split_queue_len``.
* a PMD-mapped THP holds one reference per PMD; splitting a PMD gives each of the 512
  PTEs a reference on the head (page_ref_add(HPAGE_PMD_NR - 1)) and one ``_mapcount`` on
  its subpage.

The deposited page table of each huge PMD (pgtable_trans_huge_deposit) is kept per PMD
table frame in ``pmd_huge_pte`` (4.6: the PMD page's ``pmd_huge_pte``), last in first
out, and counted in ``nr_ptes`` and NR_PAGETABLE as in 4.6.

Simplifications: the model has no concurrency, so split_huge_page neither freezes the
mappings with migration entries nor unfreezes them: it splits every PMD mapping the page
(the TTU_SPLIT_HUGE_PMD step of freeze_page) and then the compound page, giving each
subpage the references its PTEs hold. The deferred split queue is scanned when reclaim
runs (shrink_zone, as the shrinker would be) and by ``deferred_split_scan``.
"""

import errno

import numpy as np

from ..arch.x86 import pgalloc
from ..arch.x86 import tlb as x86_tlb
from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE, PMD_SIZE
from ..arch.x86.pgtable import (pt_entries, pgd_offset, pud_offset, pmd_offset, pgd_present,
                                pud_present, pmd_trans_huge, pmd_modify, mk_pmd, mk_pte,
                                pfn_pte, pte_mkspecial, pte_mkwrite, pte_wrprotect,
                                pte_mkold)
from ..arch.x86.pgtable_types import (PTE_PFN_MASK, _PAGE_PSE, _PAGE_RW, _PAGE_DIRTY,
                                      _PAGE_ACCESSED, _PAGE_SOFT_DIRTY, _PAGE_TABLE)
from ..errors import KernelBug
from ..include.mm import (VM_HUGEPAGE, VM_NOHUGEPAGE, VM_WRITE, VM_SPECIAL,
                          VM_HUGETLB, VM_SHARED, VM_MAYSHARE, VM_STACK_INCOMPLETE_SETUP)
from ..include.vm_event_item import VM_EVENT, NR_ANON_PAGES, NR_ANON_TRANSPARENT_HUGEPAGES
from . import gfp as G
from .mm_types import MM_ANONPAGES
from .page import (NULL, PAGE_MAPPING_ANON, PG_head, PG_double_map, PG_uptodate, PG_swapbacked,
                   PG_mlocked, PG_lru, PG_dirty, PG_locked, PG_referenced, PG_active,
                   PG_unevictable, PAGE_FLAGS_CHECK_AT_PREP, compound_page_dtors,
                   TRANSHUGE_PAGE_DTOR, PageTransHuge, compound_mapcount,
                   PageDoubleMap, page_trans_huge_mapcount, total_mapcount)
from .vm_ops import VM_FAULT_OOM, VM_FAULT_WRITE, VM_FAULT_FALLBACK
from .page_alloc import __alloc_pages_nodemask, __free_pages_ok
from . import page_alloc_init
from . import rmap
from .rmap import anon_vma_prepare, clear_page_mlock, rmap_callbacks
from . import swap
from .swap import lru_cache_add_active_or_unevictable, put_page, get_page
from .vmscan.shrinker import Shrinker, register_shrinker, SHRINK_STOP, SHRINKER_NUMA_AWARE

HPAGE_PMD_SHIFT = 21
HPAGE_PMD_ORDER = HPAGE_PMD_SHIFT - PAGE_SHIFT
HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER
HPAGE_PMD_SIZE = PMD_SIZE
HPAGE_PMD_MASK = ~(HPAGE_PMD_SIZE - 1)


VM_NO_THP = VM_SPECIAL | VM_HUGETLB | VM_SHARED | VM_MAYSHARE

DEFRAG_MODES = ("always", "defer", "madvise", "never")

_U64 = 0xFFFFFFFFFFFFFFFF
_TAIL_OFFSETS = np.arange(1, HPAGE_PMD_NR, dtype=np.int64)


class TransparentHugepage:
    """transparent_hugepage_flags and khugepaged's globals (mm/huge_memory.c) beside the
    enabled mode, which lives in ``m.thp``; the huge zero page's refcount, the deposited
    page tables and the deferred split queue."""

    __slots__ = ("khugepaged_scan", "defrag", "use_zero_page", "khugepaged_defrag",
                 "khugepaged_pages_to_scan",
                 "khugepaged_max_ptes_none", "khugepaged_scan_sleep_millisecs",
                 "khugepaged_alloc_sleep_millisecs", "khugepaged_pages_collapsed",
                 "khugepaged_full_scans", "khugepaged_thread", "huge_zero_refcount",
                 "pmd_huge_pte", "split_queue", "split_queue_len")

    def __init__(self, split_queue: int):
        self.defrag = "madvise"                 # DEFRAG_REQ_MADV_FLAG
        self.use_zero_page = True               # USE_ZERO_PAGE_FLAG
        self.khugepaged_defrag = True           # DEFRAG_KHUGEPAGED_FLAG
        self.khugepaged_pages_to_scan = HPAGE_PMD_NR * 8
        self.khugepaged_max_ptes_none = HPAGE_PMD_NR - 1
        self.khugepaged_scan_sleep_millisecs = 10000
        self.khugepaged_alloc_sleep_millisecs = 60000
        self.khugepaged_pages_collapsed = 0
        self.khugepaged_full_scans = 0
        self.khugepaged_thread = False          # whether khugepaged runs (start_stop)
        self.khugepaged_scan = None             # khugepaged.KhugepagedScan
        self.huge_zero_refcount = 0
        self.pmd_huge_pte = {}                  # PMD table pfn -> [deposited PTE tables]
        self.split_queue = split_queue          # list head slot in mem_map
        self.split_queue_len = 0


def count_vm_event(m, name: str, n: int = 1) -> None:
    m.pgdat.vm_events[VM_EVENT[name]] += n


# -- boot and the sysfs knobs -------------------------------------------------------------

def hugepage_init(m) -> None:
    """Set up THP state at boot and, from 512 MiB of RAM, start khugepaged with its
    min_free_kbytes raise; below that 4.6 clears transparent_hugepage_flags (THP off, the
    admin may enable it through /sys) (mm/huge_memory.c hugepage_init)."""
    head = m.mem_map.reserve_list_heads(["split_queue"])[0]
    thp = TransparentHugepage(head)
    m.transparent_hugepage = thp
    register_thp_shrinkers(m)
    if m.totalram_pages() < (512 << (20 - PAGE_SHIFT)):
        m.thp = "never"
        thp.defrag = "never"
        thp.use_zero_page = False
        thp.khugepaged_defrag = False
        return
    start_stop_khugepaged(m)


def khugepaged_enabled(m) -> bool:
    return m.thp != "never"


def start_stop_khugepaged(m) -> None:
    """Start khugepaged (and raise min_free_kbytes) when THP is enabled in any mode, stop
    it when not (mm/huge_memory.c start_stop_khugepaged)."""
    thp = m.transparent_hugepage
    if khugepaged_enabled(m):
        thp.khugepaged_thread = True
        page_alloc_init.set_recommended_min_free_kbytes(m.pgdat, m.sysctl)
    else:
        thp.khugepaged_thread = False


def _triple_flag_store(text: str, modes) -> str:
    """The mode a write names: 4.6 compares the written bytes' prefix with each word
    (memcmp over min(len(word), count)), so "alw" means always and "" matches the first."""
    for word in modes:
        n = min(len(word), len(text))
        if text[:n] == word[:n]:
            return word
    raise OSError(errno.EINVAL, "write")


def enabled_show(m) -> str:
    return {"always": "[always] madvise never\n", "madvise": "always [madvise] never\n",
            "never": "always madvise [never]\n"}[m.thp]


def enabled_store(m, text: str) -> None:
    # "defer" is not one of enabled's words: triple_flag_store checks it first and
    # rejects it (enabled == deferred)
    if text[:min(5, len(text))] == "defer"[:min(5, len(text))]:
        raise OSError(errno.EINVAL, "write")
    m.thp = _triple_flag_store(text, ("always", "madvise", "never"))
    start_stop_khugepaged(m)


def defrag_show(m) -> str:
    words = [f"[{w}]" if w == m.transparent_hugepage.defrag else w for w in DEFRAG_MODES]
    return " ".join(words) + "\n"


def defrag_store(m, text: str) -> None:
    m.transparent_hugepage.defrag = _triple_flag_store(text, ("defer", "always", "madvise",
                                                              "never"))


def kstrtoul(text: str) -> int:
    """kstrtoul(buf, 10): digits with an optional '+' and one trailing newline."""
    t = text[:-1] if text.endswith("\n") else text
    if t.startswith("+"):
        t = t[1:]
    if not t or not t.isdigit() or not t.isascii():
        raise OSError(errno.EINVAL, "write")
    return int(t)


def _uint_store(text: str) -> int:
    v = kstrtoul(text)
    if v > 0xFFFFFFFF:
        raise OSError(errno.EINVAL, "write")
    return v


def single_flag_store(text: str) -> bool:
    v = kstrtoul(text)
    if v > 1:
        raise OSError(errno.EINVAL, "write")
    return bool(v)


def sysfs_files(m):
    """(name, show, store or None) of /sys/kernel/mm/transparent_hugepage, as 4.6's
    hugepage_attr_group and khugepaged_attr_group."""
    thp = m.transparent_hugepage

    def setter(name, parse):
        def store(text):
            setattr(thp, name, parse(text))
        return store

    def pages_to_scan(text):
        v = _uint_store(text)
        if not v:
            raise OSError(errno.EINVAL, "write")
        thp.khugepaged_pages_to_scan = v

    def max_ptes_none(text):
        v = kstrtoul(text)
        if v > HPAGE_PMD_NR - 1:
            raise OSError(errno.EINVAL, "write")
        thp.khugepaged_max_ptes_none = v

    k = "khugepaged/"
    return [
        ("enabled", lambda: enabled_show(m), lambda t: enabled_store(m, t)),
        ("defrag", lambda: defrag_show(m), lambda t: defrag_store(m, t)),
        ("use_zero_page", lambda: f"{int(thp.use_zero_page)}\n",
         setter("use_zero_page", single_flag_store)),
        (k + "defrag", lambda: f"{int(thp.khugepaged_defrag)}\n",
         setter("khugepaged_defrag", single_flag_store)),
        (k + "max_ptes_none", lambda: f"{thp.khugepaged_max_ptes_none}\n", max_ptes_none),
        (k + "pages_to_scan", lambda: f"{thp.khugepaged_pages_to_scan}\n", pages_to_scan),
        (k + "pages_collapsed", lambda: f"{thp.khugepaged_pages_collapsed}\n", None),
        (k + "full_scans", lambda: f"{thp.khugepaged_full_scans}\n", None),
        (k + "scan_sleep_millisecs", lambda: f"{thp.khugepaged_scan_sleep_millisecs}\n",
         setter("khugepaged_scan_sleep_millisecs", _uint_store)),
        (k + "alloc_sleep_millisecs", lambda: f"{thp.khugepaged_alloc_sleep_millisecs}\n",
         setter("khugepaged_alloc_sleep_millisecs", _uint_store)),
    ]


def hugepage_madvise(m, vma, vm_flags: int, advice: int, khugepaged_enter_vma_merge):
    """MADV_HUGEPAGE / MADV_NOHUGEPAGE: the new flags, or -EINVAL for a VM_NO_THP VMA
    (mm/huge_memory.c hugepage_madvise)."""
    if vm_flags & VM_NO_THP:
        return -errno.EINVAL
    if advice == 14:                                        # MADV_HUGEPAGE
        vm_flags = (vm_flags & ~VM_NOHUGEPAGE) | VM_HUGEPAGE
        khugepaged_enter_vma_merge(m, vma, vm_flags)
    else:
        vm_flags = (vm_flags & ~VM_HUGEPAGE) | VM_NOHUGEPAGE
    return vm_flags


def transparent_hugepage_enabled(m, vma) -> bool:
    """Whether a fault in ``vma`` may take a huge page (include/linux/huge_mm.h)."""
    f = vma.vm_flags
    if f & VM_NOHUGEPAGE or (f & VM_STACK_INCOMPLETE_SETUP) == VM_STACK_INCOMPLETE_SETUP:
        return False
    return m.thp == "always" or (m.thp == "madvise" and bool(f & VM_HUGEPAGE))


# -- compound page helpers ----------------------------------------------------------------

def _set_double_map(mm, head: int, on: bool) -> None:
    if on:
        mm.f[head + 1] = mm.f[head + 1] | (1 << PG_double_map)
    else:
        mm.f[head + 1] = mm.f[head + 1] & ~(1 << PG_double_map) & _U64


def page_mapcount(mm, pfn: int) -> int:
    """Mappings of one (sub)page: its PTEs plus the PMDs mapping its THP (page_mapcount)."""
    head = mm.compound_head_pfn(pfn)
    ret = mm.mc[pfn] + 1
    if PageTransHuge(mm, head):
        ret += compound_mapcount(mm, head)
        if PageDoubleMap(mm, head):
            ret -= 1
    return ret


def prep_transhuge_page(m, page: int) -> None:
    """Mark a fresh order-9 compound page as a THP: destructor, empty deferred list, no
    compound mapping yet (mm/huge_memory.c prep_transhuge_page)."""
    mm = m.mem_map
    mm.nxt[page + 1] = TRANSHUGE_PAGE_DTOR
    mm.nxt[page + 2] = NULL
    mm.prv[page + 2] = NULL
    mm.priv[page + 1] = -1                       # compound_mapcount starts at -1


def free_transhuge_page(m, page: int) -> None:
    """The THP destructor: leave the deferred split queue, then free the compound page
    (mm/huge_memory.c free_transhuge_page, free_tail_pages_check's resets)."""
    mm = m.mem_map
    thp = m.transparent_hugepage
    if mm.nxt[page + 2] != NULL:
        mm.list_del(page + 2)
        thp.split_queue_len -= 1
    mm.nxt[page + 1] = NULL
    mm.priv[page + 1] = 0
    _set_double_map(mm, page, False)
    mm.mapping[page + 1:page + HPAGE_PMD_NR] = 0
    mm.index[page + 1:page + HPAGE_PMD_NR] = 0
    __free_pages_ok(m.page_zone(page), page, HPAGE_PMD_ORDER)


compound_page_dtors[TRANSHUGE_PAGE_DTOR] = free_transhuge_page


def clear_huge_page_one(m, page: int) -> None:
    """clear_user_highpage of one subpage."""
    if m.page_contents:
        m.drop_contents(page, 1)
    m.mem_map.content[page] = 0


def clear_huge_page(m, page: int) -> None:
    """Zero the 512 subpages (their content tags and bytes)."""
    if m.page_contents:
        m.drop_contents(page, HPAGE_PMD_NR)
    m.mem_map.content[page:page + HPAGE_PMD_NR] = 0


def copy_user_huge_page(m, dst: int, src: int, nr: int = HPAGE_PMD_NR) -> None:
    """Copy ``nr`` subpages' bytes and content tags (copy_user_huge_page)."""
    pc = m.page_contents
    for i in range(nr):
        data = pc.get(src + i)
        if data is not None:
            pc[dst + i] = bytearray(data)
        else:
            pc.pop(dst + i, None)
    mm = m.mem_map
    mm.content[dst:dst + nr] = mm.content[src:src + nr]


def alloc_hugepage_direct_gfpmask(m, vma) -> int:
    """GFP_TRANSHUGE plus the reclaim the defrag knob allows (4.6's defrag modes)."""
    mode = m.transparent_hugepage.defrag
    if mode == "madvise" and vma.vm_flags & VM_HUGEPAGE:
        return G.GFP_TRANSHUGE | G.__GFP_DIRECT_RECLAIM
    if mode == "defer":
        return G.GFP_TRANSHUGE | G.__GFP_KSWAPD_RECLAIM
    if mode == "always":
        return G.GFP_TRANSHUGE | G.__GFP_DIRECT_RECLAIM
    return G.GFP_TRANSHUGE


def alloc_hugepage_vma(m, gfp: int) -> int:
    page = __alloc_pages_nodemask(m.pgdat, gfp, HPAGE_PMD_ORDER, m.current_cpu)
    if page != NULL:
        prep_transhuge_page(m, page)
    return page


# -- the huge zero page ---------------------------------------------------------------------

def is_huge_zero_pmd(m, pmd: int) -> bool:
    z = m.huge_zero_pfn
    return z is not None and (pmd & PTE_PFN_MASK) >> PAGE_SHIFT == z


def get_huge_zero_page(m) -> int:
    """A reference on the huge zero page, allocating it on first use; NULL when that
    fails (mm/huge_memory.c get_huge_zero_page)."""
    thp = m.transparent_hugepage
    if thp.huge_zero_refcount:
        thp.huge_zero_refcount += 1
        return m.huge_zero_pfn
    page = __alloc_pages_nodemask(m.pgdat, (G.GFP_TRANSHUGE | G.__GFP_ZERO) & ~G.__GFP_MOVABLE,
                                  HPAGE_PMD_ORDER, m.current_cpu)
    if page == NULL:
        count_vm_event(m, "thp_zero_page_alloc_failed")
        return NULL
    count_vm_event(m, "thp_zero_page_alloc")
    m.huge_zero_pfn = page
    thp.huge_zero_refcount = 2                   # the shrinker's reference and ours
    return page


def put_huge_zero_page(m) -> None:
    thp = m.transparent_hugepage
    thp.huge_zero_refcount -= 1
    if thp.huge_zero_refcount <= 0:
        raise KernelBug("kernel BUG at mm/huge_memory.c: put_huge_zero_page dropped the "
                        "last reference (only the shrinker may)")


def shrink_huge_zero_page(m) -> int:
    """The huge zero page shrinker: free it when only its own reference is left; pages
    freed (shrink_huge_zero_page_scan)."""
    thp = m.transparent_hugepage
    if thp.huge_zero_refcount != 1:
        return 0
    thp.huge_zero_refcount = 0
    page = m.huge_zero_pfn
    m.huge_zero_pfn = None
    put_page(m, page)
    return HPAGE_PMD_NR


# -- deposited page tables (mm/pgtable-generic.c) ---------------------------------------------

def pgtable_trans_huge_deposit(m, pmd, pgtable: int) -> None:
    m.transparent_hugepage.pmd_huge_pte.setdefault(pmd[0], []).append(pgtable)


def pgtable_trans_huge_withdraw(m, pmd) -> int:
    d = m.transparent_hugepage.pmd_huge_pte
    lst = d.get(pmd[0])
    if not lst:
        raise KernelBug(f"pgtable_trans_huge_withdraw: PMD table {pmd[0]:#x} has no "
                        f"deposited page table")
    pgtable = lst.pop()
    if not lst:
        del d[pmd[0]]
    return pgtable


def _flush_pmd_tlb_range(m, vma, haddr: int) -> None:
    x86_tlb.flush_tlb_range(m, vma, haddr, haddr + HPAGE_PMD_SIZE)


def _get(m, ptr) -> int:
    return pt_entries(m, ptr[0])[ptr[1]]


def _set(m, ptr, v: int) -> None:
    pt_entries(m, ptr[0])[ptr[1]] = v


def mk_huge_pmd(page: int, prot: int) -> int:
    return mk_pmd(page, prot) | _PAGE_PSE


def maybe_pmd_mkwrite(pmd: int, vma) -> int:
    return pmd | _PAGE_RW if vma.vm_flags & VM_WRITE else pmd


def pmd_mkdirty(v: int) -> int:
    return v | _PAGE_DIRTY | _PAGE_SOFT_DIRTY


# -- rmap of a PMD-mapped THP (mm/rmap.c) ---------------------------------------------------

def page_add_new_anon_compound_rmap(m, page: int, vma, haddr: int) -> None:
    """page_add_new_anon_rmap(page, vma, haddr, compound=true)."""
    mm = m.mem_map
    if not vma.vm_start <= haddr < vma.vm_end:
        raise KernelBug(f"page_add_new_anon_rmap: {haddr:#x} outside the VMA")
    mm.f[page] = mm.f[page] | (1 << PG_swapbacked)
    mm.priv[page + 1] = 0
    zone = m.page_zone(page)
    zone.vm_stat[NR_ANON_TRANSPARENT_HUGEPAGES] += 1
    zone.vm_stat[NR_ANON_PAGES] += HPAGE_PMD_NR
    rmap.__page_set_anon_rmap(m, page, vma, haddr, True)
    _set_tail_mapping(mm, page)


def _set_tail_mapping(mm, head: int) -> None:
    """Each tail carries the head's anon mapping and its own index (see the module's
    docstring)."""
    mm.mapping[head + 1:head + HPAGE_PMD_NR] = mm.mapping[head]
    mm.index[head + 1:head + HPAGE_PMD_NR] = mm.index[head] + _TAIL_OFFSETS


def page_dup_compound_rmap(m, page: int) -> None:
    """page_dup_rmap(page, compound=true): one more PMD maps it (fork)."""
    m.mem_map.priv[page + 1] += 1


def page_remove_anon_compound_rmap(m, page: int) -> None:
    """Drop one PMD mapping; the last one leaves the THP counters and puts a THP whose
    subpages are not all PTE-mapped on the deferred split queue (mm/rmap.c)."""
    mm = m.mem_map
    mm.priv[page + 1] -= 1
    if mm.priv[page + 1] >= 0:
        return
    zone = m.page_zone(page)
    zone.vm_stat[NR_ANON_TRANSPARENT_HUGEPAGES] -= 1
    if PageDoubleMap(mm, page):
        _set_double_map(mm, page, False)
        mc = mm._mapcount[page:page + HPAGE_PMD_NR]
        mc -= 1
        nr = int((mc < 0).sum())
    else:
        nr = HPAGE_PMD_NR
    if mm.f[page] & (1 << PG_mlocked):
        clear_page_mlock(m, page)
    if nr:
        zone.vm_stat[NR_ANON_PAGES] -= nr
        deferred_split_huge_page(m, page)


def deferred_split_huge_page(m, page: int) -> None:
    """Queue a partly unmapped THP for splitting under memory pressure (mm/huge_memory.c)."""
    mm = m.mem_map
    if not PageTransHuge(mm, page):
        raise KernelBug(f"VM_BUG_ON_PAGE(!PageTransHuge(page)): pfn {page:#x}")
    if mm.nxt[page + 2] == NULL:
        thp = m.transparent_hugepage
        count_vm_event(m, "thp_deferred_split_page")
        mm.list_add_tail(page + 2, thp.split_queue)
        thp.split_queue_len += 1


# -- faults ------------------------------------------------------------------------------------

def set_huge_zero_page(m, pgtable: int, mm, vma, haddr: int, pmd, zero_page: int) -> bool:
    if _get(m, pmd):
        return False
    entry = mk_pmd(zero_page, vma.vm_page_prot) | _PAGE_PSE
    if pgtable != NULL:
        pgtable_trans_huge_deposit(m, pmd, pgtable)
    _set(m, pmd, entry)
    mm.nr_ptes += 1
    return True


def do_huge_pmd_anonymous_page(m, mm, vma, address: int, pmd, flags: int) -> int:
    """First touch of an aligned 2 MiB range of an eligible anonymous VMA: the huge zero
    page for a read (use_zero_page), else a new THP; VM_FAULT_FALLBACK for the 4 KiB path
    (mm/huge_memory.c do_huge_pmd_anonymous_page)."""
    haddr = address & HPAGE_PMD_MASK
    if haddr < vma.vm_start or haddr + HPAGE_PMD_SIZE > vma.vm_end:
        return VM_FAULT_FALLBACK
    anon_vma_prepare(m, vma)
    khugepaged_enter(m, vma, vma.vm_flags)
    thp = m.transparent_hugepage
    if not flags & 0x01 and thp.use_zero_page:                  # !FAULT_FLAG_WRITE
        pgtable = pgalloc.pte_alloc_one(m, mm, haddr)
        if pgtable is None:
            return VM_FAULT_OOM
        zero_page = get_huge_zero_page(m)
        if zero_page == NULL:
            pgalloc.pte_free(m, mm, pgtable)
            count_vm_event(m, "thp_fault_fallback")
            return VM_FAULT_FALLBACK
        if not set_huge_zero_page(m, pgtable, mm, vma, haddr, pmd, zero_page):
            pgalloc.pte_free(m, mm, pgtable)
            put_huge_zero_page(m)
        return 0
    gfp = alloc_hugepage_direct_gfpmask(m, vma)
    page = alloc_hugepage_vma(m, gfp)
    if page == NULL:
        count_vm_event(m, "thp_fault_fallback")
        return VM_FAULT_FALLBACK
    return __do_huge_pmd_anonymous_page(m, mm, vma, haddr, pmd, page)


def __do_huge_pmd_anonymous_page(m, mm, vma, haddr: int, pmd, page: int) -> int:
    pgtable = pgalloc.pte_alloc_one(m, mm, haddr)
    if pgtable is None:
        put_page(m, page)
        return VM_FAULT_OOM
    clear_huge_page(m, page)
    mem = m.mem_map
    mem.f[page] = mem.f[page] | (1 << PG_uptodate)
    if _get(m, pmd):
        put_page(m, page)
        pgalloc.pte_free(m, mm, pgtable)
        return 0
    entry = maybe_pmd_mkwrite(pmd_mkdirty(mk_huge_pmd(page, vma.vm_page_prot)), vma)
    page_add_new_anon_compound_rmap(m, page, vma, haddr)
    lru_cache_add_active_or_unevictable(m, page, vma)
    pgtable_trans_huge_deposit(m, pmd, pgtable)
    _set(m, pmd, entry)
    mm.rss_stat[MM_ANONPAGES] += HPAGE_PMD_NR                   # add_mm_counter
    mm.nr_ptes += 1
    count_vm_event(m, "thp_fault_alloc")
    return 0


def touch_pmd(m, vma, addr: int, pmd) -> None:
    """FOLL_TOUCH on a huge PMD: set its accessed and dirty bits (mm/huge_memory.c)."""
    v = _get(m, pmd)
    new = pmd_mkdirty(v | _PAGE_ACCESSED)
    if new != v:
        _set(m, pmd, new)


def huge_pmd_set_accessed(m, mm, vma, address: int, pmd, orig_pmd: int, dirty: bool) -> None:
    """A read (or a write through a writable PMD) that found the huge PMD: set its accessed
    (and dirty) bits (mm/huge_memory.c huge_pmd_set_accessed)."""
    if _get(m, pmd) != orig_pmd:
        return
    entry = orig_pmd | _PAGE_ACCESSED
    if dirty:
        entry = pmd_mkdirty(entry)
    # pmdp_set_access_flags writes only when something changed and dirty is set (x86)
    if entry != orig_pmd and dirty:
        _set(m, pmd, entry)


def do_huge_pmd_wp_page(m, mm, vma, address: int, pmd, orig_pmd: int) -> int:
    """A write to a write-protected huge PMD: reuse the THP when nothing else maps any part
    of it, else copy it into a new THP; with no THP to be had, copy into 512 small pages
    (or, for the huge zero page, split the PMD and fall back) (mm/huge_memory.c)."""
    mem = m.mem_map
    if vma.anon_vma is None:
        raise KernelBug("VM_BUG_ON_VMA(!vma->anon_vma): do_huge_pmd_wp_page")
    haddr = address & HPAGE_PMD_MASK
    page = NULL
    ret = 0
    if not is_huge_zero_pmd(m, orig_pmd):
        if _get(m, pmd) != orig_pmd:
            return 0
        page = (orig_pmd & PTE_PFN_MASK) >> PAGE_SHIFT
        if not PageTransHuge(mem, page):
            raise KernelBug(f"VM_BUG_ON_PAGE(!PageHead(page)): pfn {page:#x}")
        if page_trans_huge_mapcount(mem, page) == 1:
            entry = maybe_pmd_mkwrite(pmd_mkdirty(orig_pmd | _PAGE_ACCESSED), vma)
            if entry != orig_pmd:
                _set(m, pmd, entry)
            return VM_FAULT_WRITE
        get_page(m, page)
    if transparent_hugepage_enabled(m, vma):
        new_page = alloc_hugepage_vma(m, alloc_hugepage_direct_gfpmask(m, vma))
    else:
        new_page = NULL
    if new_page == NULL:
        if page == NULL:
            split_huge_pmd(m, vma, pmd, address)
            ret |= VM_FAULT_FALLBACK
        else:
            ret = do_huge_pmd_wp_page_fallback(m, mm, vma, address, pmd, orig_pmd, page,
                                               haddr)
            if ret & VM_FAULT_OOM:
                split_huge_pmd(m, vma, pmd, address)
                ret |= VM_FAULT_FALLBACK
            put_page(m, page)
        count_vm_event(m, "thp_fault_fallback")
        return ret
    count_vm_event(m, "thp_fault_alloc")
    if page == NULL:
        clear_huge_page(m, new_page)
    else:
        copy_user_huge_page(m, new_page, page)
    mem.f[new_page] = mem.f[new_page] | (1 << PG_uptodate)
    if page != NULL:
        put_page(m, page)
    if _get(m, pmd) != orig_pmd:
        put_page(m, new_page)
        return ret
    entry = maybe_pmd_mkwrite(pmd_mkdirty(mk_huge_pmd(new_page, vma.vm_page_prot)), vma)
    _set(m, pmd, 0)                                       # pmdp_huge_clear_flush_notify
    _flush_pmd_tlb_range(m, vma, haddr)
    page_add_new_anon_compound_rmap(m, new_page, vma, haddr)
    lru_cache_add_active_or_unevictable(m, new_page, vma)
    _set(m, pmd, entry)
    if page == NULL:
        mm.rss_stat[MM_ANONPAGES] += HPAGE_PMD_NR
        put_huge_zero_page(m)
    else:
        page_remove_anon_compound_rmap(m, page)
        put_page(m, page)
    return ret | VM_FAULT_WRITE


def do_huge_pmd_wp_page_fallback(m, mm, vma, address: int, pmd, orig_pmd: int, page: int,
                                 haddr: int) -> int:
    """Break COW of a shared THP into 512 new small pages when no THP can be had
    (mm/huge_memory.c do_huge_pmd_wp_page_fallback)."""
    pages = []
    for _ in range(HPAGE_PMD_NR):
        p = __alloc_pages_nodemask(m.pgdat, G.GFP_HIGHUSER_MOVABLE | G.__GFP_OTHER_NODE, 0,
                                   m.current_cpu)
        if p == NULL:
            for q in pages:
                put_page(m, q)
            return VM_FAULT_OOM
        pages.append(p)
    mem = m.mem_map
    for i, p in enumerate(pages):
        copy_user_huge_page(m, p, page + i, 1)
        mem.f[p] = mem.f[p] | (1 << PG_uptodate)
    if _get(m, pmd) != orig_pmd:
        for q in pages:
            put_page(m, q)
        return 0
    _set(m, pmd, 0)
    _flush_pmd_tlb_range(m, vma, haddr)
    pgtable = pgtable_trans_huge_withdraw(m, pmd)
    table = pt_entries(m, pgtable)
    for i, p in enumerate(pages):
        a = haddr + i * PAGE_SIZE
        entry = mk_pte(p, vma.vm_page_prot) | _PAGE_DIRTY | _PAGE_SOFT_DIRTY
        if vma.vm_flags & VM_WRITE:
            entry = pte_mkwrite(entry)
        rmap.page_add_new_anon_rmap(m, p, vma, a)
        lru_cache_add_active_or_unevictable(m, p, vma)
        table[i] = entry
    _set(m, pmd, (pgtable << PAGE_SHIFT) | _PAGE_TABLE)       # pmd_populate
    page_remove_anon_compound_rmap(m, page)
    put_page(m, page)
    return VM_FAULT_WRITE


# -- fork, zap, mprotect, mremap -----------------------------------------------------------

def copy_huge_pmd(m, dst_mm, src_mm, dst_pmd, src_pmd, addr: int, vma) -> int:
    """fork: share the THP (or the huge zero page) write-protected in both, with a
    deposited table for the child (mm/huge_memory.c copy_huge_pmd); 0 or -ENOMEM."""
    pgtable = pgalloc.pte_alloc_one(m, dst_mm, addr)
    if pgtable is None:
        return -errno.ENOMEM
    pmd = _get(m, src_pmd)
    if not pmd_trans_huge(pmd):
        pgalloc.pte_free(m, dst_mm, pgtable)
        return -errno.EAGAIN
    if is_huge_zero_pmd(m, pmd):
        zero_page = get_huge_zero_page(m)
        set_huge_zero_page(m, pgtable, dst_mm, vma, addr, dst_pmd, zero_page)
        return 0
    src_page = (pmd & PTE_PFN_MASK) >> PAGE_SHIFT
    if not PageTransHuge(m.mem_map, src_page):
        raise KernelBug(f"VM_BUG_ON_PAGE(!PageHead(src_page)): pfn {src_page:#x}")
    get_page(m, src_page)
    page_dup_compound_rmap(m, src_page)
    dst_mm.rss_stat[MM_ANONPAGES] += HPAGE_PMD_NR
    dst_mm.nr_ptes += 1
    pgtable_trans_huge_deposit(m, dst_pmd, pgtable)
    _set(m, src_pmd, pmd & ~_PAGE_RW & _U64)                  # pmdp_set_wrprotect
    _set(m, dst_pmd, pmd & ~(_PAGE_RW | _PAGE_ACCESSED) & _U64)
    return 0


def change_huge_pmd(m, vma, pmd, addr: int, newprot: int) -> int:
    """mprotect of a whole huge PMD (mm/huge_memory.c change_huge_pmd): HPAGE_PMD_NR, or 0
    when the PMD is not huge."""
    v = _get(m, pmd)
    if not pmd_trans_huge(v):
        return 0
    _set(m, pmd, 0)
    entry = pmd_modify(v, newprot)
    if entry & _PAGE_RW:
        raise KernelBug("BUG_ON(pmd_write(entry)): change_huge_pmd")
    _set(m, pmd, entry)
    return HPAGE_PMD_NR


def move_huge_pmd(m, vma, new_vma, old_addr: int, new_addr: int, old_end: int, old_pmd,
                  new_pmd) -> bool:
    """mremap of a whole, aligned huge PMD: move the entry and its deposited table
    (mm/huge_memory.c move_huge_pmd); False when the caller must split instead."""
    if (old_addr & ~HPAGE_PMD_MASK or new_addr & ~HPAGE_PMD_MASK
            or old_end - old_addr < HPAGE_PMD_SIZE or new_vma.vm_flags & VM_NOHUGEPAGE):
        return False
    if _get(m, new_pmd):
        m.log.pr_warn("WARNING: move_huge_pmd: destination PMD is not none")
        return False
    v = _get(m, old_pmd)
    if not pmd_trans_huge(v):
        return False
    _set(m, old_pmd, 0)
    if old_pmd[0] != new_pmd[0]:              # pmd_move_must_withdraw: split PMD locks
        pgtable_trans_huge_deposit(m, new_pmd, pgtable_trans_huge_withdraw(m, old_pmd))
    _set(m, new_pmd, v | _PAGE_SOFT_DIRTY)
    return True


# -- splitting --------------------------------------------------------------------------------

def __split_huge_zero_page_pmd(m, vma, haddr: int, pmd) -> None:
    _set(m, pmd, 0)
    _flush_pmd_tlb_range(m, vma, haddr)
    pgtable = pgtable_trans_huge_withdraw(m, pmd)
    table = pt_entries(m, pgtable)
    entry = pte_mkspecial(pfn_pte(m.zero_pfn, vma.vm_page_prot))
    for i in range(HPAGE_PMD_NR):
        table[i] = entry
    _set(m, pmd, (pgtable << PAGE_SHIFT) | _PAGE_TABLE)
    put_huge_zero_page(m)


def __split_huge_pmd_locked(m, vma, pmd, haddr: int) -> None:
    """Replace a huge PMD by its deposited table filled with 512 PTEs mapping the same
    compound page (mm/huge_memory.c __split_huge_pmd_locked, freeze=false)."""
    if haddr & ~HPAGE_PMD_MASK or vma.vm_start > haddr or vma.vm_end < haddr + HPAGE_PMD_SIZE:
        raise KernelBug(f"__split_huge_pmd_locked: {haddr:#x} not a huge range of the VMA")
    count_vm_event(m, "thp_split_pmd")
    v = _get(m, pmd)
    if is_huge_zero_pmd(m, v):
        __split_huge_zero_page_pmd(m, vma, haddr, pmd)
        return
    mem = m.mem_map
    page = (v & PTE_PFN_MASK) >> PAGE_SHIFT
    if mem.rc[page] <= 0:
        raise KernelBug(f"VM_BUG_ON_PAGE(!page_count(page)): pfn {page:#x}")
    mem.rc[page] += HPAGE_PMD_NR - 1                         # page_ref_add
    write = bool(v & _PAGE_RW)
    young = bool(v & _PAGE_ACCESSED)
    dirty = bool(v & _PAGE_DIRTY)
    pgtable = pgtable_trans_huge_withdraw(m, pmd)
    table = pt_entries(m, pgtable)
    prot = vma.vm_page_prot
    for i in range(HPAGE_PMD_NR):
        entry = mk_pte(page + i, prot)
        if vma.vm_flags & VM_WRITE:
            entry = pte_mkwrite(entry)
        if not write:
            entry = pte_wrprotect(entry)
        if not young:
            entry = pte_mkold(entry)
        else:
            entry |= _PAGE_ACCESSED
        if table[i]:
            raise KernelBug("BUG_ON(!pte_none(*pte)): __split_huge_pmd_locked")
        table[i] = entry
    if dirty:
        f = mem.flags[page:page + HPAGE_PMD_NR]
        f |= 1 << PG_dirty
    mc = mem._mapcount[page:page + HPAGE_PMD_NR]
    mc += 1
    if compound_mapcount(mem, page) > 1 and not PageDoubleMap(mem, page):
        _set_double_map(mem, page, True)
        mc += 1
    mem.priv[page + 1] -= 1
    if mem.priv[page + 1] < 0:
        m.page_zone(page).vm_stat[NR_ANON_TRANSPARENT_HUGEPAGES] -= 1
        if PageDoubleMap(mem, page):
            _set_double_map(mem, page, False)
            mc -= 1
    _set(m, pmd, 0)                                           # pmdp_invalidate
    _flush_pmd_tlb_range(m, vma, haddr)
    _set(m, pmd, (pgtable << PAGE_SHIFT) | _PAGE_TABLE)       # pmd_populate


def split_huge_pmd(m, vma, pmd, address: int) -> None:
    """Split a huge PMD in place (mm/huge_memory.c __split_huge_pmd)."""
    v = _get(m, pmd)
    if not pmd_trans_huge(v):
        return
    page = (v & PTE_PFN_MASK) >> PAGE_SHIFT
    mem = m.mem_map
    if not is_huge_zero_pmd(m, v) and mem.f[page] & (1 << PG_mlocked):
        clear_page_mlock(m, page)
    __split_huge_pmd_locked(m, vma, pmd, address & HPAGE_PMD_MASK)


def huge_pmd_lookup(m, mm, address: int):
    """The pointer to the PMD entry covering ``address`` when it is a huge PMD, else None."""
    e = _get(m, pgd_offset(mm, address))
    if not pgd_present(e):
        return None
    e = _get(m, pud_offset(e, address))
    if not pud_present(e):
        return None
    pmd = pmd_offset(e, address)
    return pmd if pmd_trans_huge(_get(m, pmd)) else None


def split_huge_pmd_address(m, vma, address: int) -> None:
    pmd = huge_pmd_lookup(m, vma.vm_mm, address)
    if pmd is not None:
        split_huge_pmd(m, vma, pmd, address)


def vma_adjust_trans_huge(m, vma, start: int, end: int, adjust_next: int) -> None:
    """Split the huge PMDs a VMA boundary move would cut (mm/huge_memory.c)."""
    for a, v in ((start, vma), (end, vma)):
        if a & ~HPAGE_PMD_MASK and (a & HPAGE_PMD_MASK) >= v.vm_start and \
                (a & HPAGE_PMD_MASK) + HPAGE_PMD_SIZE <= v.vm_end:
            split_huge_pmd_address(m, v, a)
    if adjust_next > 0:
        nxt = vma.vm_next
        nstart = nxt.vm_start + (adjust_next << PAGE_SHIFT)
        if nstart & ~HPAGE_PMD_MASK and (nstart & HPAGE_PMD_MASK) >= nxt.vm_start and \
                (nstart & HPAGE_PMD_MASK) + HPAGE_PMD_SIZE <= nxt.vm_end:
            split_huge_pmd_address(m, nxt, nstart)


def split_huge_page_to_list(m, page: int, lst=None) -> int:
    """Split a THP into 512 small pages: split every PMD mapping it, then the compound
    page itself; 0, or -EBUSY when something other than its mappings and the caller's
    reference pins it (mm/huge_memory.c split_huge_page_to_list). ``lst``: a Python list
    of isolated pages the tails join (reclaim), else the tails join the head's LRU."""
    mem = m.mem_map
    head = mem.compound_head_pfn(page)
    if head == m.huge_zero_pfn or not mem.mapping[head] & PAGE_MAPPING_ANON \
            or not PageTransHuge(mem, head):
        raise KernelBug(f"split_huge_page: pfn {page:#x} is not an anonymous THP")
    av = rmap.page_anon_vma(m, head)
    ret = -errno.EBUSY
    if av is not None and total_mapcount(mem, head) == mem.rc[head] - 1:
        mlocked = bool(mem.f[head] & (1 << PG_mlocked))
        # freeze_page's TTU_SPLIT_HUGE_PMD: every PMD mapping becomes 512 PTEs
        pmds = []

        def one(pfn, vma, address):
            pmd = huge_pmd_lookup(m, vma.vm_mm, address)
            if pmd is not None and (_get(m, pmd) & PTE_PFN_MASK) >> PAGE_SHIFT == head:
                pmds.append((vma, pmd, address))
        rmap.rmap_walk_anon(m, head, one)
        for vma, pmd, address in pmds:
            split_huge_pmd(m, vma, pmd, address)
        if compound_mapcount(mem, head):
            raise KernelBug(f"VM_BUG_ON_PAGE(compound_mapcount(head)): pfn {head:#x}")
        if mlocked:
            swap.lru_add_drain(m)
        if mem.rc[head] - 1 == total_mapcount(mem, head):
            if mem.nxt[head + 2] != NULL:
                m.transparent_hugepage.split_queue_len -= 1
                mem.list_del(head + 2)
            __split_huge_page(m, head, page, lst)
            ret = 0
    count_vm_event(m, "thp_split_page" if ret == 0 else "thp_split_page_failed")
    return ret


def __split_huge_page(m, head: int, page: int, lst) -> None:
    """Make the compound page 512 pages, each with the references its PTEs hold, tails
    placed after the head on its LRU (or on ``lst``) (mm/huge_memory.c __split_huge_page,
    __split_huge_page_tail, mm/swap.c lru_add_page_tail)."""
    mem = m.mem_map
    hflags = int(mem.f[head])
    keep = ((1 << PG_referenced) | (1 << PG_swapbacked) | (1 << PG_mlocked) | (1 << PG_uptodate)
            | (1 << PG_active) | (1 << PG_locked) | (1 << PG_unevictable) | (1 << PG_dirty))
    head_lru = bool(hflags & (1 << PG_lru))
    # every PTE holds a reference on the head; hand each tail its own share
    nmapped = (mem._mapcount[head:head + HPAGE_PMD_NR].astype("int64") + 1)
    rc_tails = nmapped[1:]
    mem.rc[head] -= int(rc_tails.sum())
    mem.nxt[head + 1] = NULL          # the destructor and the order leave the first tail
    mem.prv[head + 1] = NULL
    mem.priv[head + 1] = 0
    zone = m.page_zone(head)
    lruvec = m.lru.lruvecs[zone.idx]
    for i in range(HPAGE_PMD_NR - 1, 0, -1):
        t = head + i
        mem.f[t] = (int(mem.f[t]) & ~PAGE_FLAGS_CHECK_AT_PREP & _U64) | (hflags & keep)
        mem.rc[t] = int(rc_tails[i - 1]) + 1              # page_ref_inc + unfreeze
        mem.ch[t] = NULL                                  # clear_compound_head
        if lst is None:
            mem.f[t] = mem.f[t] | (1 << PG_lru)
        if head_lru:
            mem.list_add_tail(t, head)
        elif lst is not None:
            mem.rc[t] += 1                                # get_page: the isolation's
            lst.append(t)
        else:
            mem.f[t] = mem.f[t] & ~(1 << PG_lru) & _U64
            swap.add_page_to_lru_list(m, t, swap.page_lru(mem, t))
            mem.f[t] = mem.f[t] | (1 << PG_lru)
        if not hflags & (1 << PG_unevictable):
            lruvec.recent_scanned[0] += 1
            if mem.f[t] & (1 << PG_active):
                lruvec.recent_rotated[0] += 1
    mem.f[head] = mem.f[head] & ~(1 << PG_head) & _U64     # ClearPageCompound
    for i in range(HPAGE_PMD_NR):
        t = head + i
        if t == page:
            continue
        mem.f[t] = mem.f[t] & ~(1 << PG_locked) & _U64       # unlock_page
        put_page(m, t)


def split_huge_page(m, page: int) -> int:
    return split_huge_page_to_list(m, page, None)


def deferred_split_scan(m, nr_to_scan: int = 1 << 30) -> int:
    """The deferred split shrinker: split the queued THPs it can pin; how many it split
    (mm/huge_memory.c deferred_split_scan)."""
    mem = m.mem_map
    thp = m.transparent_hugepage
    taken = []
    for t2 in mem.list_entries(thp.split_queue):
        if nr_to_scan <= 0:
            break
        nr_to_scan -= 1
        head = t2 - 2
        if mem.rc[head] > 0:
            mem.rc[head] += 1                             # get_page_unless_zero
            taken.append(head)
        else:
            mem.list_del(t2)
            thp.split_queue_len -= 1
    split = 0
    for head in taken:
        mem.f[head] = mem.f[head] | (1 << PG_locked)
        if not split_huge_page(m, head):
            split += 1
        mem.f[head] = mem.f[head] & ~(1 << PG_locked) & _U64
        put_page(m, head)
    return split


def deferred_split_shrinker_scan(m, sc) -> int:
    """deferred_split_shrinker's scan_objects: SHRINK_STOP when nothing was split and
    the queue is empty."""
    split = deferred_split_scan(m, sc.nr_to_scan)
    if not split and not m.transparent_hugepage.split_queue_len:
        return SHRINK_STOP
    return split


def register_thp_shrinkers(m) -> None:
    """hugepage_init's two shrinkers: the huge zero page (freed once only its own
    reference is left) and the deferred split queue, on the machine's shrinker_list."""
    thp = m.transparent_hugepage
    register_shrinker(m, Shrinker(
        "shrink_huge_zero_page_scan",
        lambda shrinker, sc: HPAGE_PMD_NR if thp.huge_zero_refcount == 1 else 0,
        lambda shrinker, sc: shrink_huge_zero_page(m)))
    register_shrinker(m, Shrinker(
        "deferred_split_scan", lambda shrinker, sc: thp.split_queue_len,
        lambda shrinker, sc: deferred_split_shrinker_scan(m, sc),
        flags=SHRINKER_NUMA_AWARE))


# -- khugepaged's registration -------------------------------------------------------------

def khugepaged_enter(m, vma, vm_flags: int) -> None:
    """Register the mm with khugepaged (linuxvm/mm/khugepaged.py fills the slot)."""
    hook = rmap_callbacks.khugepaged_enter
    if hook is not None and m.transparent_hugepage.khugepaged_scan is not None:
        hook(m, vma, vm_flags)


# the page walkers and the invariant checker read the THP representation through these
rmap_callbacks.deferred_split_huge_page = deferred_split_huge_page
