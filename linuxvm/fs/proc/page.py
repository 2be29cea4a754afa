"""/proc/kpageflags and /proc/kpagecount (fs/proc/page.c): one u64 per frame up to max_pfn.

Only the range a reader asks for is computed, with NumPy over the ``mem_map``
arrays, so reading a few entries of a 64 GiB machine's file is cheap.
"""

import errno

import numpy as np

from ...mm import huge_memory

from ...errors import SyscallError
from ...mm.bootmem import SECTION_PFN_SHIFT
from ...mm.mmzone import MAX_ORDER
from ...mm.page import (PG_locked, PG_error, PG_referenced, PG_uptodate, PG_dirty, PG_lru,
                        PG_active, PG_slab, PG_writeback, PG_reclaim, PG_swapcache,
                        PG_swapbacked, PG_head, PG_unevictable, PG_hwpoison, PG_mlocked,
                        PG_uncached, PG_reserved, PG_mappedtodisk, PG_private, PG_private_2,
                        PG_owner_priv_1, PG_arch_1, PG_idle, PG_double_map,
                        PAGE_BUDDY_MAPCOUNT_VALUE, PAGE_BALLOON_MAPCOUNT_VALUE,
                        PAGE_MAPPING_ANON, PAGE_MAPPING_KSM, NULL)

# include/uapi/linux/kernel-page-flags.h
KPF_LOCKED, KPF_ERROR, KPF_REFERENCED, KPF_UPTODATE, KPF_DIRTY, KPF_LRU, KPF_ACTIVE, \
    KPF_SLAB, KPF_WRITEBACK, KPF_RECLAIM, KPF_BUDDY, KPF_MMAP, KPF_ANON, KPF_SWAPCACHE, \
    KPF_SWAPBACKED, KPF_COMPOUND_HEAD, KPF_COMPOUND_TAIL, KPF_HUGE, KPF_UNEVICTABLE, \
    KPF_HWPOISON, KPF_NOPAGE, KPF_KSM, KPF_THP, KPF_BALLOON, KPF_ZERO_PAGE, \
    KPF_IDLE = range(26)
# include/linux/kernel-page-flags.h: the "kernel hacking" bits
KPF_RESERVED, KPF_MLOCKED, KPF_MAPPEDTODISK, KPF_PRIVATE, KPF_PRIVATE_2, \
    KPF_OWNER_PRIVATE, KPF_ARCH, KPF_UNCACHED, KPF_SOFTDIRTY = range(32, 41)

KPF_NAMES = {KPF_LOCKED: "LOCKED", KPF_ERROR: "ERROR", KPF_REFERENCED: "REFERENCED",
             KPF_UPTODATE: "UPTODATE", KPF_DIRTY: "DIRTY", KPF_LRU: "LRU",
             KPF_ACTIVE: "ACTIVE", KPF_SLAB: "SLAB", KPF_WRITEBACK: "WRITEBACK",
             KPF_RECLAIM: "RECLAIM", KPF_BUDDY: "BUDDY", KPF_MMAP: "MMAP", KPF_ANON: "ANON",
             KPF_SWAPCACHE: "SWAPCACHE", KPF_SWAPBACKED: "SWAPBACKED",
             KPF_COMPOUND_HEAD: "COMPOUND_HEAD", KPF_COMPOUND_TAIL: "COMPOUND_TAIL",
             KPF_HUGE: "HUGE", KPF_UNEVICTABLE: "UNEVICTABLE", KPF_HWPOISON: "HWPOISON",
             KPF_NOPAGE: "NOPAGE", KPF_KSM: "KSM", KPF_THP: "THP", KPF_BALLOON: "BALLOON",
             KPF_ZERO_PAGE: "ZERO_PAGE", KPF_IDLE: "IDLE", KPF_RESERVED: "RESERVED",
             KPF_MLOCKED: "MLOCKED", KPF_MAPPEDTODISK: "MAPPEDTODISK",
             KPF_PRIVATE: "PRIVATE", KPF_PRIVATE_2: "PRIVATE_2",
             KPF_OWNER_PRIVATE: "OWNER_PRIVATE", KPF_ARCH: "ARCH", KPF_UNCACHED: "UNCACHED",
             KPF_SOFTDIRTY: "SOFTDIRTY"}

# (user bit, kernel bit) pairs stable_page_flags copies straight from page->flags
_COPIED = [(KPF_LOCKED, PG_locked), (KPF_SLAB, PG_slab), (KPF_ERROR, PG_error),
           (KPF_DIRTY, PG_dirty), (KPF_UPTODATE, PG_uptodate), (KPF_WRITEBACK, PG_writeback),
           (KPF_LRU, PG_lru), (KPF_REFERENCED, PG_referenced), (KPF_ACTIVE, PG_active),
           (KPF_RECLAIM, PG_reclaim), (KPF_SWAPCACHE, PG_swapcache),
           (KPF_SWAPBACKED, PG_swapbacked), (KPF_UNEVICTABLE, PG_unevictable),
           (KPF_MLOCKED, PG_mlocked), (KPF_HWPOISON, PG_hwpoison), (KPF_UNCACHED, PG_uncached),
           (KPF_RESERVED, PG_reserved), (KPF_MAPPEDTODISK, PG_mappedtodisk),
           (KPF_PRIVATE, PG_private), (KPF_PRIVATE_2, PG_private_2),
           (KPF_OWNER_PRIVATE, PG_owner_priv_1), (KPF_ARCH, PG_arch_1), (KPF_IDLE, PG_idle)]

KPMSIZE = 8
_U1 = np.uint64(1)


def decode_kpageflags(value: int) -> list:
    """Names of the KPF bits set in one /proc/kpageflags entry.

    >>> decode_kpageflags(0x400)
    ['BUDDY']
    """
    return [KPF_NAMES[b] for b in sorted(KPF_NAMES) if value >> b & 1]


def compound_mapcount(m, head: int) -> int:
    """The head's compound_mapcount (PMD mappings of the whole page, -1 for none): a
    THP's, or -1 for other compound pages (nothing maps those by PMD)."""
    if huge_memory.PageTransHuge(m.mem_map, head):
        return huge_memory.compound_mapcount(m.mem_map, head) - 1
    return -1


def _valid_mask(m, pfns: np.ndarray) -> np.ndarray:
    """pfn_valid() for each of ``pfns``: below max_pfn, in a present section."""
    ok = pfns < m.max_pfn
    present = np.zeros(pfns.shape, dtype=bool)
    present[ok] = m.section_present[pfns[ok] >> SECTION_PFN_SHIFT]
    return present


def _bit(arr: np.ndarray, bit: int) -> np.ndarray:
    return (arr >> np.uint64(bit)) & _U1


def _compound_heads(mm, pfns):
    """compound_head() of each frame, and the tail mask."""
    ch = mm.compound_head[pfns]
    tail = ch != NULL
    return np.where(tail, ch, pfns).astype(np.int64), tail


def _per_head(heads: np.ndarray, fn) -> np.ndarray:
    """``fn(head)`` for each entry of ``heads``, called once per distinct head."""
    uniq, inverse = np.unique(heads, return_inverse=True)
    return np.array([fn(int(h)) for h in uniq], dtype=np.int64)[inverse]


def _page_mapped(m, pfns, heads, compound):
    """page_mapped(): _mapcount >= 0, or for a compound page any subpage or PMD map."""
    mm = m.mem_map

    def compound_mapped(h):
        nr = 1 << mm.compound_order(h)
        return compound_mapcount(m, h) >= 0 or bool((mm._mapcount[h:h + nr] >= 0).any())

    mapped = mm._mapcount[pfns] >= 0
    if compound.any():
        mapped[compound] = _per_head(heads[compound], compound_mapped).astype(bool)
    return mapped


def _is_free_buddy_page(mm, pfns):
    """Whether each frame lies in a free buddy block (mm/page_alloc.c is_free_buddy_page)."""
    free = np.zeros(pfns.shape, dtype=bool)
    for order in range(MAX_ORDER):
        head = pfns & ~((1 << order) - 1)
        free |= (mm._mapcount[head] == PAGE_BUDDY_MAPCOUNT_VALUE) & (mm.private[head] >= order)
    return free


def stable_page_flags(m, pfns: np.ndarray) -> np.ndarray:
    """The /proc/kpageflags entry of each frame in ``pfns`` (fs/proc/page.c)."""
    mm = m.mem_map
    out = np.full(pfns.shape, np.uint64(1 << KPF_NOPAGE), dtype=np.uint64)
    valid = _valid_mask(m, pfns)
    p = pfns[valid]
    if not p.size:
        return out
    k = mm.flags[p]
    heads, tail = _compound_heads(mm, p)
    hk = mm.flags[heads]
    head = _bit(k, PG_head).astype(bool)
    compound = head | tail
    slab_head = _bit(hk, PG_slab).astype(bool)       # PageSlab() looks at the head
    mc = mm._mapcount[p]
    hmapping = mm.mapping[heads]
    u = np.zeros(p.shape, dtype=np.uint64)

    def put(mask, bit):
        u[mask] |= np.uint64(1 << bit)

    put(~slab_head & _page_mapped(m, p, heads, compound), KPF_MMAP)
    anon = (hmapping & PAGE_MAPPING_ANON) != 0
    put(anon, KPF_ANON)
    put((hmapping & 3) == (PAGE_MAPPING_ANON | PAGE_MAPPING_KSM), KPF_KSM)
    put(head, KPF_COMPOUND_HEAD)
    put(tail, KPF_COMPOUND_TAIL)
    # PageHuge (hugetlbfs) pages do not exist in the model; other compound pages are
    # THP when their head is on an LRU or anonymous
    thp = compound & (_bit(hk, PG_lru).astype(bool) | anon)
    put(thp, KPF_THP)
    huge_zero = m.huge_zero_pfn
    if huge_zero is not None:
        hz = compound & ~thp & (heads == huge_zero)
        put(hz, KPF_ZERO_PAGE)
        put(hz, KPF_THP)
    zero_pfn = m.zero_pfn
    if zero_pfn is not None:
        put(~compound & (p == zero_pfn), KPF_ZERO_PAGE)
    buddy = mc == PAGE_BUDDY_MAPCOUNT_VALUE
    # page_count() reads the head's _count; frames inside a free block have 0
    count0 = mm._refcount[heads] == 0
    buddy |= count0 & _is_free_buddy_page(mm, p)
    put(buddy, KPF_BUDDY)
    put(mc == PAGE_BALLOON_MAPCOUNT_VALUE, KPF_BALLOON)
    for ubit, kbit in _COPIED:
        u |= _bit(k, kbit) << np.uint64(ubit)
    put(tail & slab_head, KPF_SLAB)
    out[valid] = u
    return out


def kpagecount_values(m, pfns: np.ndarray) -> np.ndarray:
    """page_mapcount() of each frame, 0 for holes and slab pages (kpagecount_read).

    As in 4.6 a free buddy head reports _mapcount + 1 = -127 (as a u64): 4.6 has no
    page-type test here.
    """
    mm = m.mem_map
    out = np.zeros(pfns.shape, dtype=np.int64)
    valid = _valid_mask(m, pfns)
    p = pfns[valid]
    if not p.size:
        return out.view(np.uint64)
    heads, tail = _compound_heads(mm, p)
    hk = mm.flags[heads]
    slab = _bit(hk, PG_slab).astype(bool)
    compound = _bit(mm.flags[p], PG_head).astype(bool) | tail
    cnt = mm._mapcount[p].astype(np.int64) + 1
    def compound_part(h):
        # __page_mapcount: the PMD mappings, less one when PageDoubleMap (first tail)
        double_map = int(mm.flags[h + 1] >> np.uint64(PG_double_map) & _U1)
        return compound_mapcount(m, h) + 1 - double_map

    sub = compound & ~slab
    if sub.any():
        cnt[sub] += _per_head(heads[sub], compound_part)
    cnt[slab] = 0
    out[valid] = cnt
    return out.view(np.uint64)


def _pfn_range(m, offset: int, n):
    """The frames a read of ``n`` bytes at ``offset`` covers (kpageflags_read's checks)."""
    end = m.max_pfn * KPMSIZE
    if n is None:
        n = max(end - offset, 0)
    # count = min(count, max_pfn * 8 - pos), computed in unsigned arithmetic: a
    # position past the end wraps to a huge limit, and the read goes on past max_pfn
    limit = (end - offset) & 0xFFFFFFFFFFFFFFFF
    count = min(n, limit)
    if offset & (KPMSIZE - 1) or count & (KPMSIZE - 1):
        raise SyscallError(errno.EINVAL, "read")
    first = offset // KPMSIZE
    return np.arange(first, first + count // KPMSIZE, dtype=np.int64)


_CHUNK = 1 << 20       # frames rendered at a time: bounds the temporaries of a big read


def _render(m, offset: int, n, fn) -> bytes:
    pfns = _pfn_range(m, offset, n)
    return b"".join(fn(m, pfns[i:i + _CHUNK]).astype("<u8").tobytes()
                    for i in range(0, len(pfns), _CHUNK))


def kpageflags_read(m, offset: int, n) -> bytes:
    return _render(m, offset, n, stable_page_flags)


def kpagecount_read(m, offset: int, n) -> bytes:
    return _render(m, offset, n, kpagecount_values)


def register(procfs):
    m = procfs.m
    procfs.add_binary("/proc/kpageflags", lambda off, n: kpageflags_read(m, off, n),
                      lambda: m.max_pfn * KPMSIZE)
    procfs.add_binary("/proc/kpagecount", lambda off, n: kpagecount_read(m, off, n),
                      lambda: m.max_pfn * KPMSIZE)
