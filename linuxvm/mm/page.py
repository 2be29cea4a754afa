"""struct page as frame-indexed arrays, page flags and page lists (include/linux/mm_types.h,
include/linux/page-flags.h, include/linux/list.h).

``mem_map`` is a struct of arrays: field ``f`` of the page for frame ``pfn`` is
``mem_map.f[pfn]``. Lists the kernel threads through ``page->lru`` (buddy free
lists, per-CPU lists, LRU, slab partial lists) are threaded through the
``lru_next``/``lru_prev`` arrays the same way. A list head is a sentinel slot
numbered past the last frame, so a list is circular and ``list_del`` needs only
the entry, as in the kernel.
"""

import numpy as np

from ..errors import KernelBug

# enum pageflags, x86-64 4.6 with CONFIG_MMU, ARCH_USES_PG_UNCACHED,
# MEMORY_FAILURE and IDLE_PAGE_TRACKING (a typical distribution config)
PG_locked = 0
PG_error = 1
PG_referenced = 2
PG_uptodate = 3
PG_dirty = 4
PG_lru = 5
PG_active = 6
PG_slab = 7
PG_owner_priv_1 = 8
PG_arch_1 = 9
PG_reserved = 10
PG_private = 11
PG_private_2 = 12
PG_writeback = 13
PG_head = 14
PG_swapcache = 15
PG_mappedtodisk = 16
PG_reclaim = 17
PG_swapbacked = 18
PG_unevictable = 19
PG_mlocked = 20
PG_uncached = 21
PG_hwpoison = 22
PG_young = 23
PG_idle = 24
__NR_PAGEFLAGS = 25
# aliases
PG_checked = PG_owner_priv_1
PG_pinned = PG_owner_priv_1
PG_foreign = PG_owner_priv_1
PG_fscache = PG_private_2
PG_double_map = PG_private_2
PG_slob_free = PG_private

PAGEFLAG_NAMES = ["locked", "error", "referenced", "uptodate", "dirty", "lru", "active",
                  "slab", "owner_priv_1", "arch_1", "reserved", "private", "private_2",
                  "writeback", "head", "swapcache", "mappedtodisk", "reclaim",
                  "swapbacked", "unevictable", "mlocked", "uncached", "hwpoison",
                  "young", "idle"]

# page->flags top bits hold the zone (SPARSEMEM_VMEMMAP, no NUMA: only zone bits)
ZONES_SHIFT = 2
ZONES_PGSHIFT = 64 - ZONES_SHIFT
ZONES_MASK = (1 << ZONES_SHIFT) - 1
__PG_FLAGS_MASK = (1 << __NR_PAGEFLAGS) - 1

PAGE_BUDDY_MAPCOUNT_VALUE = -128
PAGE_BALLOON_MAPCOUNT_VALUE = -256
PAGE_KMEMCG_MAPCOUNT_VALUE = -512

PAGE_MAPPING_ANON = 1
PAGE_MAPPING_KSM = 2

# mm/page_alloc.c: flags that must be clear when a page is freed / handed out
PAGE_FLAGS_CHECK_AT_FREE = ((1 << PG_lru) | (1 << PG_locked) | (1 << PG_private)
                            | (1 << PG_private_2) | (1 << PG_writeback) | (1 << PG_reserved)
                            | (1 << PG_slab) | (1 << PG_swapcache) | (1 << PG_active)
                            | (1 << PG_unevictable) | (1 << PG_mlocked))
PAGE_FLAGS_CHECK_AT_PREP = __PG_FLAGS_MASK & ~((1 << PG_hwpoison) | (1 << PG_young)
                                               | (1 << PG_idle))

NULL = -1  # "no frame" in frame-number fields

# compound_page_dtors (mm/page_alloc.c): destructor id kept in a compound page's first
# tail -> the function that frees it; modules with their own kind of compound page add
# theirs (huge_memory: free_transhuge_page)
compound_page_dtors = {}
# enum compound_dtor_id's TRANSHUGE_PAGE_DTOR (include/linux/mm.h), stored negative so it
# never reads as a frame number in the first tail's lru.next
TRANSHUGE_PAGE_DTOR = -4
THP_NR = 512                # HPAGE_PMD_NR


class MemMap:
    """The ``struct page`` array (mem_map / vmemmap), one slot per frame.

    Host cost per frame: flags 8, _refcount 4, _mapcount 4, mapping 8, index 8,
    private 8, lru_next 4, lru_prev 4, compound_head 4, content 4 = 56 bytes
    (the real struct page is 64).
    """

    __slots__ = ("nr_frames", "flags", "_refcount", "_mapcount", "mapping", "index",
                 "private", "lru_next", "lru_prev", "compound_head", "content",
                 "_nr_heads", "_head_names", "f", "rc", "mc", "nxt", "prv", "prv_", "priv",
                 "idx", "ch", "mapv", "contv")

    def __init__(self, nr_frames: int, nr_list_heads: int = 0):
        if nr_frames + nr_list_heads >= (1 << 31):
            raise ValueError("machine too large for 32-bit frame links")
        n = nr_frames
        self.nr_frames = n
        self.flags = np.zeros(n, dtype=np.uint64)
        self._refcount = np.zeros(n, dtype=np.int32)
        self._mapcount = np.full(n, -1, dtype=np.int32)
        self.mapping = np.zeros(n, dtype=np.int64)
        self.index = np.zeros(n, dtype=np.int64)
        self.private = np.zeros(n, dtype=np.int64)
        self.compound_head = np.full(n, NULL, dtype=np.int32)
        # content tag: 0 = zero-filled / no data; nonzero = a generation tag
        self.content = np.zeros(n, dtype=np.uint32)
        self._nr_heads = 0
        self._head_names = []
        self._alloc_links(nr_list_heads)
        self._views()

    def _alloc_links(self, nr_heads):
        total = self.nr_frames + nr_heads
        self.lru_next = np.full(total, NULL, dtype=np.int32)
        self.lru_prev = np.full(total, NULL, dtype=np.int32)

    def _views(self):
        # memoryviews give ~3x faster scalar access than NumPy indexing
        self.f = memoryview(self.flags)
        self.rc = memoryview(self._refcount)
        self.mc = memoryview(self._mapcount)
        self.nxt = memoryview(self.lru_next)
        self.prv = memoryview(self.lru_prev)
        self.priv = memoryview(self.private)
        self.idx = memoryview(self.index)
        self.ch = memoryview(self.compound_head)
        self.mapv = memoryview(self.mapping)
        self.contv = memoryview(self.content)

    # -- list heads -----------------------------------------------------
    def reserve_list_heads(self, names: list) -> list:
        """Create list heads (sentinels after the frames); returns their slot numbers."""
        base = self.nr_frames + self._nr_heads
        need = base + len(names)
        if need > len(self.lru_next):
            grow = max(need - len(self.lru_next), 64)
            self.lru_next = np.concatenate([self.lru_next, np.full(grow, NULL, np.int32)])
            self.lru_prev = np.concatenate([self.lru_prev, np.full(grow, NULL, np.int32)])
            self._views()
        slots = list(range(base, need))
        for s in slots:
            self.nxt[s] = s
            self.prv[s] = s
        self._nr_heads += len(names)
        self._head_names.extend(names)
        return slots

    def head_name(self, slot: int) -> str:
        return self._head_names[slot - self.nr_frames]

    def host_bytes(self) -> int:
        return sum(a.nbytes for a in (self.flags, self._refcount, self._mapcount, self.mapping,
                                      self.index, self.private, self.lru_next, self.lru_prev,
                                      self.compound_head, self.content))

    # -- list.h ---------------------------------------------------------
    def list_add(self, pfn: int, head: int) -> None:
        nxt, prv = self.nxt, self.prv
        first = nxt[head]
        nxt[pfn] = first
        prv[pfn] = head
        prv[first] = pfn
        nxt[head] = pfn

    def list_add_tail(self, pfn: int, head: int) -> None:
        nxt, prv = self.nxt, self.prv
        last = prv[head]
        nxt[pfn] = head
        prv[pfn] = last
        nxt[last] = pfn
        prv[head] = pfn

    def list_del(self, pfn: int) -> None:
        nxt, prv = self.nxt, self.prv
        n = nxt[pfn]
        p = prv[pfn]
        nxt[p] = n
        prv[n] = p
        nxt[pfn] = NULL
        prv[pfn] = NULL

    def list_move(self, pfn: int, head: int) -> None:
        self.list_del(pfn)
        self.list_add(pfn, head)

    def list_empty(self, head: int) -> bool:
        return self.nxt[head] == head

    def list_first(self, head: int) -> int:
        """First entry, or NULL for an empty list (list_first_entry_or_null)."""
        n = self.nxt[head]
        return NULL if n == head else n

    def list_last(self, head: int) -> int:
        p = self.prv[head]
        return NULL if p == head else p

    def list_entries(self, head: int, limit: int = 1 << 40) -> list:
        """Frames on the list, first to last (list_for_each_entry)."""
        out = []
        nxt = self.nxt
        n = nxt[head]
        while n != head:
            out.append(n)
            if len(out) > limit:
                raise KernelBug(f"list {self.head_name(head)} is corrupt (loop)")
            n = nxt[n]
        return out

    def list_count(self, head: int) -> int:
        c = 0
        nxt = self.nxt
        n = nxt[head]
        while n != head:
            c += 1
            n = nxt[n]
        return c

    # -- page flag helpers ----------------------------------------------
    def test(self, pfn: int, bit: int) -> bool:
        return bool(self.f[pfn] & (1 << bit))

    def set(self, pfn: int, bit: int) -> None:
        self.f[pfn] = self.f[pfn] | (1 << bit)

    def clear(self, pfn: int, bit: int) -> None:
        self.f[pfn] = self.f[pfn] & ~(1 << bit) & 0xFFFFFFFFFFFFFFFF

    def page_zonenum(self, pfn: int) -> int:
        return self.f[pfn] >> ZONES_PGSHIFT

    def PageBuddy(self, pfn: int) -> bool:
        return self.mc[pfn] == PAGE_BUDDY_MAPCOUNT_VALUE

    def page_order(self, pfn: int) -> int:
        """Order of a free buddy block head (kept in page->private)."""
        return self.priv[pfn]

    def PageTail(self, pfn: int) -> bool:
        return self.ch[pfn] != NULL

    def PageHead(self, pfn: int) -> bool:
        return bool(self.f[pfn] & (1 << PG_head))

    def compound_head_pfn(self, pfn: int) -> int:
        h = self.ch[pfn]
        return pfn if h == NULL else h

    def compound_order(self, pfn: int) -> int:
        """Order of the compound page headed at ``pfn`` (kept in the first tail, as 4.6 does)."""
        if not self.PageHead(pfn):
            return 0
        return self.prv[pfn + 1]

    def prep_compound_page(self, pfn: int, order: int) -> None:
        """Make ``pfn`` the head of an order-``order`` compound page (mm/page_alloc.c)."""
        nr = 1 << order
        self.set(pfn, PG_head)
        self.compound_head[pfn + 1:pfn + nr] = pfn
        self._mapcount[pfn + 1:pfn + nr] = -1
        self._refcount[pfn + 1:pfn + nr] = 0
        # compound_dtor / compound_order live in the first tail's lru.prev slot
        self.prv[pfn + 1] = order

    def destroy_compound_page(self, pfn: int, order: int) -> None:
        nr = 1 << order
        self.clear(pfn, PG_head)
        self.compound_head[pfn + 1:pfn + nr] = NULL
        self.prv[pfn + 1] = NULL


def decode_page_flags(flags: int) -> str:
    """``flags: 0x…(name|name)`` the way 4.6's dump_page prints them (%pGp)."""
    names = [PAGEFLAG_NAMES[b] for b in range(__NR_PAGEFLAGS) if flags & (1 << b)]
    return f"{int(flags) & __PG_FLAGS_MASK:#x}({'|'.join(names)})"


def pfns_distinct(pfns) -> bool:
    """True when no pfn repeats in the int64 array ``pfns`` (fancy-index updates would
    drop repeats). Pages come out of the allocator mostly ascending, so the sorted test
    often settles it; otherwise a count over the span, or a sort when the span is wide."""
    if pfns.size < 2:
        return True
    if (pfns[1:] > pfns[:-1]).all():
        return True
    lo = int(pfns.min())
    if int(pfns.max()) - lo < 64 * pfns.size:
        return int(np.bincount(pfns - lo).max()) == 1
    s = np.sort(pfns)
    return bool((s[1:] != s[:-1]).all())


# -- transparent huge pages (the layout is described in linuxvm/mm/huge_memory.py) -----

def PageTransHuge(mm, pfn: int) -> bool:
    """A THP head (4.6 PageTransHuge; the model checks the destructor too)."""
    return bool(mm.f[pfn] & (1 << PG_head)) and mm.nxt[pfn + 1] == TRANSHUGE_PAGE_DTOR


def PageTransCompound(mm, pfn: int) -> bool:
    return PageTransHuge(mm, mm.compound_head_pfn(pfn))


def compound_mapcount(mm, head: int) -> int:
    return int(mm.priv[head + 1]) + 1


def PageDoubleMap(mm, head: int) -> bool:
    return bool(mm.f[head + 1] & (1 << PG_double_map))


def page_trans_huge_mapcount(mm, pfn: int) -> int:
    """The most mappings any one subpage has (mm/huge_memory.c page_trans_huge_mapcount)."""
    head = mm.compound_head_pfn(pfn)
    if not PageTransHuge(mm, head):
        return mm.mc[pfn] + 1
    ret = int(mm._mapcount[head:head + THP_NR].max()) + 1
    if PageDoubleMap(mm, head):
        ret -= 1
    return ret + compound_mapcount(mm, head)


def total_mapcount(mm, head: int) -> int:
    """Every mapping of any part of the THP (mm/huge_memory.c total_mapcount)."""
    if not PageTransHuge(mm, head):
        return mm.mc[head] + 1
    ret = compound_mapcount(mm, head)
    ret += int((mm._mapcount[head:head + THP_NR].astype("int64") + 1).sum())
    if PageDoubleMap(mm, head):
        ret -= THP_NR
    return ret
