"""Swap areas: swap_info_struct, the swap_map of slot counts, slot allocation, swapon and
swapoff, /proc/swaps (mm/swapfile.c).

A swap area here is a partition (``/dev/sdb``, ``/dev/sdc``…) made with the
machine or by ``m.swapon(size)``; as after mkswap, slot 0 holds the header, so an area
of N pages offers N - 1 slots. Slots are allocated as on a rotating disk (no
cluster_info: 4.6 keeps per-cluster state only for SSDs): ``scan_swap_map`` looks for
a free run of SWAPFILE_CLUSTER slots, then hands them out in order. The swap_map
lives in pages of kernel memory (vzalloc in 4.6), which the model takes from the buddy
allocator. Counts above SWAP_MAP_MAX go on in a continuation count, as
``add_swap_count_continuation`` does, without the page 4.6 allocates for it.
"""

import errno

import numpy as np

from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from ..arch.x86.pgtable import swp_entry, swp_type, swp_offset, MAX_SWAPFILES
from ..errors import KernelBug
from . import gfp as G
from . import swap_state                    # the swap cache (it calls back here)
from .page import NULL, PG_swapcache, PG_writeback, PG_dirty, PG_locked, page_trans_huge_mapcount
from .page_alloc import __alloc_pages_nodemask, __free_pages
from .swap import put_page
from .util import security_vm_enough_memory_mm, vm_unacct_memory

# include/linux/swap.h
SWP_USED = 1 << 0
SWP_WRITEOK = 1 << 1
SWP_BLKDEV = 1 << 6
SWP_SCANNING = 1 << 8
SWAP_HAS_CACHE = 0x40
SWAP_MAP_MAX = 0x3e
SWAP_MAP_BAD = 0x3f
COUNT_CONTINUED = 0x80
SWAP_CONT_MAX = 0x7f
SWAP_MAP_SHMEM = 0xbf
SWAPFILE_CLUSTER = 256
SWAP_FLAG_PREFER = 0x8000
SWAP_FLAG_PRIO_MASK = 0x7fff
SWAP_FLAG_DISCARD = 0x10000

_U64 = 0xFFFFFFFFFFFFFFFF


class SwapInfoStruct:
    """struct swap_info_struct: one swap area."""

    __slots__ = ("type", "flags", "prio", "max", "pages", "inuse_pages", "swap_map",
                 "cont", "lowest_bit", "highest_bit", "cluster_next", "cluster_nr",
                 "name", "bdev", "slots", "map_pfns")

    def __init__(self, type_: int):
        self.type = type_
        self.flags = 0
        self.prio = 0
        self.max = 0
        self.pages = 0
        self.inuse_pages = 0
        self.swap_map = None
        self.cont = {}             # offset -> continuation digit (add_swap_count_continuation)
        self.lowest_bit = self.highest_bit = 0
        self.cluster_next = self.cluster_nr = 0
        self.name = ""
        self.bdev = None
        self.slots = {}            # offset -> (content tag, bytes or None): the device's blocks
        self.map_pfns = []         # frames holding swap_map

    def __repr__(self):
        return (f"<swap_info_struct {self.type} {self.name} prio={self.prio} "
                f"pages={self.pages} inuse={self.inuse_pages}>")


class SwapState:
    """The swap globals of mm/swapfile.c and mm/swap_state.c."""

    __slots__ = ("swap_info", "nr_swapfiles", "least_priority", "swap_active",
                 "swap_avail", "swapper_spaces", "prev_offset", "last_readahead_pages",
                 "swapin_readahead_hits", "next_dev", "shmem_swaplist", "shmem_unuse")

    def __init__(self):
        self.swap_info = []        # swap_info[type]
        self.nr_swapfiles = 0
        self.least_priority = 0
        self.swap_active = []      # swap_active_head: by priority, highest first
        self.swap_avail = []       # swap_avail_head: the areas with free slots
        self.swapper_spaces = {}   # type -> SwapperSpace
        self.prev_offset = 0       # swapin_nr_pages' statics
        self.last_readahead_pages = 0
        self.swapin_readahead_hits = 0
        self.next_dev = 16         # minor of the next swap partition (8:16 = sdb)
        self.shmem_swaplist = []   # mm/shmem.c: the shmem inodes with pages on swap
        self.shmem_unuse = None    # shmem's swapoff hook (shmem sits above swap): shmem_init


def swap_init(m) -> None:
    m.swap = SwapState()


def _plist_add(lst, si) -> None:
    """plist_add by priority: after every node of higher or equal priority."""
    i = 0
    while i < len(lst) and lst[i].prio >= si.prio:
        i += 1
    lst.insert(i, si)


def _plist_requeue(lst, si) -> None:
    """Move ``si`` behind the last node of its priority (round robin among equals)."""
    lst.remove(si)
    _plist_add(lst, si)


def vm_swap_full(m) -> bool:
    """Over half the swap is in use (include/linux/swap.h vm_swap_full)."""
    return m.nr_swap_pages * 2 < m.total_swap_pages


# -- the swap map: counting references to a slot -------------------------------------------

def swap_count(ent: int) -> int:
    return ent & ~SWAP_HAS_CACHE


def swap_info_get(m, entry: int):
    """The area of a swap entry, or None with 4.6's "swap_free" message when the entry
    is bad (mm/swapfile.c swap_info_get)."""
    if not entry:
        return None
    t = swp_type(entry)
    s = m.swap
    if t >= s.nr_swapfiles:
        m.log.pr_err(f"swap_free: Bad swap file entry {entry:08x}")
        return None
    si = s.swap_info[t]
    if not si.flags & SWP_USED:
        m.log.pr_err(f"swap_free: Unused swap file entry {entry:08x}")
        return None
    off = swp_offset(entry)
    if off >= si.max:
        m.log.pr_err(f"swap_free: Bad swap offset entry {entry:08x}")
        return None
    if not si.swap_map[off]:
        m.log.pr_err(f"swap_free: Unused swap offset entry {entry:08x}")
        return None
    return si


def scan_swap_map(m, si, usage: int) -> int:
    """Allocate one slot of ``si`` for ``usage``: a free run of SWAPFILE_CLUSTER slots
    first, then the next free slot from cluster_next; 0 when the area is full
    (mm/swapfile.c scan_swap_map on a device without cluster_info)."""
    smap = si.swap_map
    si.flags += SWP_SCANNING
    scan_base = offset = si.cluster_next
    si.cluster_nr -= 1
    if si.cluster_nr < 0:
        if si.pages - si.inuse_pages < SWAPFILE_CLUSTER:
            si.cluster_nr = SWAPFILE_CLUSTER - 1
        else:
            scan_base = offset = si.lowest_bit
            last_in_cluster = offset + SWAPFILE_CLUSTER - 1
            found = False
            while last_in_cluster <= si.highest_bit:
                if smap[offset]:
                    last_in_cluster = offset + SWAPFILE_CLUSTER
                elif offset == last_in_cluster:
                    offset -= SWAPFILE_CLUSTER - 1
                    si.cluster_next = offset
                    si.cluster_nr = SWAPFILE_CLUSTER - 1
                    found = True
                    break
                offset += 1
            if not found:
                offset = scan_base
                si.cluster_nr = SWAPFILE_CLUSTER - 1
    while True:                                      # checks:
        if not si.flags & SWP_WRITEOK or not si.highest_bit:
            si.flags -= SWP_SCANNING
            return 0
        if offset > si.highest_bit:
            scan_base = offset = si.lowest_bit
        if vm_swap_full(m) and smap[offset] == SWAP_HAS_CACHE:
            if __try_to_reclaim_swap(m, si, offset):
                continue
        if not smap[offset]:
            break
        # scan: the next free slot (or one only the cache holds, when swap is full)
        nxt = -1
        full = vm_swap_full(m)
        for o in range(offset + 1, si.highest_bit + 1):
            if not smap[o] or (full and smap[o] == SWAP_HAS_CACHE):
                nxt = o
                break
        if nxt < 0:
            for o in range(si.lowest_bit, scan_base):
                if not smap[o] or (full and smap[o] == SWAP_HAS_CACHE):
                    nxt = o
                    break
        if nxt < 0:
            si.flags -= SWP_SCANNING
            return 0
        offset = nxt
    if offset == si.lowest_bit:
        si.lowest_bit += 1
    if offset == si.highest_bit:
        si.highest_bit -= 1
    si.inuse_pages += 1
    if si.inuse_pages == si.pages:
        si.lowest_bit = si.max
        si.highest_bit = 0
        if si in m.swap.swap_avail:
            m.swap.swap_avail.remove(si)
    smap[offset] = usage
    si.cluster_next = offset + 1
    si.flags -= SWP_SCANNING
    return offset


def __try_to_reclaim_swap(m, si, offset: int) -> bool:
    """Free a slot only the swap cache holds, if its page is idle (mm/swapfile.c)."""
    entry = swp_entry(si.type, offset)
    pfn = swap_state.find_swap_page(m, entry)
    if pfn == NULL:
        return False
    f = m.mem_map.f
    if f[pfn] & (1 << PG_locked):
        return False
    m.mem_map.rc[pfn] += 1                     # find_get_page's reference
    f[pfn] = f[pfn] | (1 << PG_locked)
    ret = try_to_free_swap(m, pfn)
    f[pfn] = f[pfn] & ~(1 << PG_locked) & _U64
    put_page(m, pfn)
    return bool(ret)


def get_swap_page(m) -> int:
    """A slot on the highest-priority area with room, areas of equal priority taking
    turns; the entry, or 0 when swap is full (mm/swapfile.c get_swap_page)."""
    if m.nr_swap_pages <= 0:
        return 0
    m.nr_swap_pages -= 1
    avail = m.swap.swap_avail
    tried = set()
    while True:
        si = next((s for s in avail if s.type not in tried), None)
        if si is None:
            break
        tried.add(si.type)
        _plist_requeue(avail, si)
        if not si.highest_bit or not si.flags & SWP_WRITEOK:
            avail.remove(si)
            continue
        offset = scan_swap_map(m, si, SWAP_HAS_CACHE)
        if offset:
            return swp_entry(si.type, offset)
    m.nr_swap_pages += 1
    return 0


def swap_entry_free(m, si, entry: int, usage: int) -> int:
    """Drop one use of a slot (a reference, or the swap cache's); a slot nobody uses any
    more is free again (mm/swapfile.c swap_entry_free). The slot's new value."""
    offset = swp_offset(entry)
    count = int(si.swap_map[offset])
    has_cache = count & SWAP_HAS_CACHE
    count &= ~SWAP_HAS_CACHE
    if usage == SWAP_HAS_CACHE:
        if not has_cache:
            raise KernelBug("VM_BUG_ON(!has_cache): swapcache_free of a slot with no cache")
        has_cache = 0
    elif count == SWAP_MAP_SHMEM:
        count = 0
    elif (count & ~COUNT_CONTINUED) <= SWAP_MAP_MAX:
        if count == COUNT_CONTINUED:
            digit = si.cont[offset] - 1
            if digit:
                si.cont[offset] = digit
                count = SWAP_MAP_MAX | COUNT_CONTINUED
            else:
                del si.cont[offset]
                count = SWAP_MAP_MAX
        else:
            count -= 1
    usage = count | has_cache
    si.swap_map[offset] = usage
    if not usage:
        si.slots.pop(offset, None)
        if offset < si.lowest_bit:
            si.lowest_bit = offset
        if offset > si.highest_bit:
            was_full = not si.highest_bit
            si.highest_bit = offset
            if was_full and si.flags & SWP_WRITEOK and si not in m.swap.swap_avail:
                _plist_add(m.swap.swap_avail, si)
        m.nr_swap_pages += 1
        si.inuse_pages -= 1
    return usage


def swap_free(m, entry: int) -> None:
    """Drop a PTE's reference to a slot (mm/swapfile.c swap_free)."""
    si = swap_info_get(m, entry)
    if si is not None:
        swap_entry_free(m, si, entry, 1)


def swapcache_free(m, entry: int) -> None:
    """Drop the swap cache's hold on a slot (mm/swapfile.c swapcache_free)."""
    si = swap_info_get(m, entry)
    if si is not None:
        swap_entry_free(m, si, entry, SWAP_HAS_CACHE)


def __swap_duplicate(m, entry: int, usage: int) -> int:
    """Add a use of a slot; 0 or -errno (mm/swapfile.c __swap_duplicate)."""
    t = swp_type(entry)
    s = m.swap
    if t >= s.nr_swapfiles:
        m.log.pr_err(f"swap_dup: Bad swap file entry {entry:08x}")
        return -errno.EINVAL
    si = s.swap_info[t]
    offset = swp_offset(entry)
    if offset >= si.max:
        return -errno.EINVAL
    count = int(si.swap_map[offset])
    if swap_count(count) == SWAP_MAP_BAD:
        return -errno.ENOENT
    has_cache = count & SWAP_HAS_CACHE
    count &= ~SWAP_HAS_CACHE
    err = 0
    if usage == SWAP_HAS_CACHE:
        if not has_cache and count:
            has_cache = SWAP_HAS_CACHE
        elif has_cache:
            err = -errno.EEXIST
        else:
            err = -errno.ENOENT
    elif count or has_cache:
        if (count & ~COUNT_CONTINUED) < SWAP_MAP_MAX:
            count += usage
        elif (count & ~COUNT_CONTINUED) > SWAP_MAP_MAX:
            err = -errno.EINVAL
        else:
            # the low digit wraps into the continuation count
            si.cont[offset] = si.cont.get(offset, 0) + 1
            count = COUNT_CONTINUED
    else:
        err = -errno.ENOENT
    si.swap_map[offset] = count | has_cache
    return err


def swap_shmem_alloc(m, entry: int) -> None:
    """Mark a slot as held by a shmem file rather than by PTEs (mm/swapfile.c)."""
    __swap_duplicate(m, entry, SWAP_MAP_SHMEM)


def swap_duplicate(m, entry: int) -> int:
    """Another PTE refers to the slot (fork): 0 or -errno (mm/swapfile.c)."""
    return __swap_duplicate(m, entry, 1)


def swapcache_prepare(m, entry: int) -> int:
    """Claim a slot for the swap cache: 0, -EEXIST if the cache has it, -ENOENT if the
    slot is free (mm/swapfile.c swapcache_prepare)."""
    return __swap_duplicate(m, entry, SWAP_HAS_CACHE)


def swp_swapcount(m, entry: int) -> int:
    """The references to a slot, continuation included (mm/swapfile.c swp_swapcount)."""
    si = m.swap.swap_info[swp_type(entry)]
    offset = swp_offset(entry)
    count = swap_count(int(si.swap_map[offset]))
    if count & COUNT_CONTINUED:
        return (count & ~COUNT_CONTINUED) + si.cont.get(offset, 0) * (SWAP_MAP_MAX + 1)
    return count


def page_swapcount(m, pfn: int) -> int:
    """References to the slot of a swap-cache page, the low digit only
    (mm/swapfile.c page_swapcount)."""
    entry = int(m.mem_map.private[pfn])
    si = swap_info_get(m, entry)
    if si is None:
        return 0
    return swap_count(int(si.swap_map[swp_offset(entry)]))


def try_to_free_swap(m, pfn: int) -> int:
    """Drop a locked page's slot when no PTE refers to it any more; the page stays,
    dirty (mm/swapfile.c try_to_free_swap). 1 when freed."""
    f = m.mem_map.f
    if not f[pfn] & (1 << PG_swapcache):
        return 0
    if f[pfn] & (1 << PG_writeback):
        return 0
    if page_swapcount(m, pfn):
        return 0
    swap_state.delete_from_swap_cache(m, pfn)
    f[pfn] = f[pfn] | (1 << PG_dirty)
    return 1


def reuse_swap_page(m, pfn: int) -> bool:
    """May a write fault reuse this anon page in place? Only if nothing else maps it or
    its slot; then its slot is dropped (mm/swapfile.c reuse_swap_page)."""
    mem_map = m.mem_map
    count = page_trans_huge_mapcount(mem_map, pfn)
    if count <= 1 and mem_map.f[pfn] & (1 << PG_swapcache):
        count += page_swapcount(m, pfn)
        if count == 1 and not mem_map.f[pfn] & (1 << PG_writeback):
            swap_state.delete_from_swap_cache(m, pfn)
            mem_map.f[pfn] = mem_map.f[pfn] | (1 << PG_dirty)
    return count <= 1


def free_swap_and_cache(m, entry: int) -> int:
    """A PTE holding a swap entry goes (zap): drop its reference, and the swap-cache page
    too when that was the last and no one maps it (mm/swapfile.c). 1 if the entry was
    a valid swap entry."""
    si = swap_info_get(m, entry)
    if si is None:
        return 0
    pfn = NULL
    if swap_entry_free(m, si, entry, 1) == SWAP_HAS_CACHE:
        pfn = swap_state.find_swap_page(m, entry)
        if pfn != NULL and m.mem_map.f[pfn] & (1 << PG_locked):
            pfn = NULL
    if pfn != NULL:
        mem_map = m.mem_map
        f = mem_map.f
        mem_map.rc[pfn] += 1                   # find_get_page's reference
        f[pfn] = f[pfn] | (1 << PG_locked)
        if (f[pfn] & (1 << PG_swapcache) and not f[pfn] & (1 << PG_writeback)
                and mem_map.mc[pfn] < 0):
            swap_state.delete_from_swap_cache(m, pfn)
            f[pfn] = f[pfn] | (1 << PG_dirty)
        f[pfn] = f[pfn] & ~(1 << PG_locked) & _U64
        put_page(m, pfn)
    return 1


# -- swapon, swapoff ----------------------------------------------------------------------

def sys_swapon(m, name: str, bdev, nr_pages: int, swap_flags: int) -> int:
    """Enable the swap partition ``bdev`` of ``nr_pages`` pages (mkswap'd: slot 0 is the
    header); its type, or -errno (mm/swapfile.c sys_swapon)."""
    if swap_flags & ~(SWAP_FLAG_PREFER | SWAP_FLAG_PRIO_MASK | SWAP_FLAG_DISCARD | 0x60000):
        return -errno.EINVAL
    s = m.swap
    for si in s.swap_info:
        if si.flags & SWP_USED and si.bdev is bdev:
            return -errno.EBUSY
    # alloc_swap_info: the lowest unused type
    t = next((i for i, si in enumerate(s.swap_info) if not si.flags), s.nr_swapfiles)
    if t >= MAX_SWAPFILES:
        return -errno.EPERM
    maxpages = nr_pages              # last_page = nr_pages - 1 in the header
    if maxpages < 2:
        m.log.pr_warn("Empty swap-file")
        return -errno.EINVAL
    nmap = (maxpages + PAGE_SIZE - 1) >> PAGE_SHIFT
    pfns = []
    for _ in range(nmap):            # vzalloc(maxpages)
        pfn = __alloc_pages_nodemask(m.pgdat, G.GFP_KERNEL | G.__GFP_ZERO, 0, m.current_cpu)
        if pfn == NULL:
            for p in pfns:
                __free_pages(m.pgdat, p, 0, m.current_cpu)
            return -errno.ENOMEM
        pfns.append(pfn)
    if t == s.nr_swapfiles:
        si = SwapInfoStruct(t)
        s.swap_info.append(si)
        s.nr_swapfiles += 1
    else:
        si = s.swap_info[t]
        si.__init__(t)
    si.flags = SWP_USED | SWP_BLKDEV
    si.name = name
    si.bdev = bdev
    si.map_pfns = pfns
    si.max = maxpages
    si.swap_map = np.zeros(maxpages, dtype=np.uint8)
    si.swap_map[0] = SWAP_MAP_BAD     # the header
    si.lowest_bit = si.cluster_next = 1
    si.cluster_nr = 0
    si.highest_bit = maxpages - 1
    si.pages = maxpages - 1
    if swap_flags & SWAP_FLAG_PREFER:
        prio = swap_flags & SWAP_FLAG_PRIO_MASK
    else:
        prio = -1
    if prio >= 0:
        si.prio = prio
    else:
        s.least_priority -= 1
        si.prio = s.least_priority
    si.flags |= SWP_WRITEOK
    m.nr_swap_pages += si.pages
    m.total_swap_pages += si.pages
    _plist_add(s.swap_active, si)
    _plist_add(s.swap_avail, si)
    swap_state.init_swapper_space(m, t)
    kb = si.pages << (PAGE_SHIFT - 10)
    m.log.pr_info(f"Adding {kb}k swap on {name}.  Priority:{si.prio} extents:1 "
                  f"across:{kb}k ")
    return t


def sys_swapoff(m, name: str) -> int:
    """Disable a swap area, reading every slot in use back into memory first; 0 or
    -errno: EINVAL if ``name`` is not swapped on, ENOMEM if the pages cannot be
    committed or allocated (mm/swapfile.c sys_swapoff)."""
    s = m.swap
    si = next((x for x in s.swap_active if x.name == name), None)
    if si is None:
        return -errno.EINVAL
    if not si.flags & SWP_WRITEOK:
        return -errno.EINVAL
    mm = m.current.mm if m.current is not None else None
    if security_vm_enough_memory_mm(m, mm, si.pages):
        return -errno.ENOMEM
    vm_unacct_memory(m, si.pages)      # only the check: the pages come back uncharged
    if si in s.swap_avail:
        s.swap_avail.remove(si)
    m.nr_swap_pages -= si.pages
    m.total_swap_pages -= si.pages
    si.flags &= ~SWP_WRITEOK
    err = try_to_unuse(m, si)
    if err:
        # reinsert_swap_info: the area goes back as it was
        si.flags |= SWP_WRITEOK
        m.nr_swap_pages += si.pages
        m.total_swap_pages += si.pages
        if si.highest_bit:
            _plist_add(s.swap_avail, si)
        return err
    s.swap_active.remove(si)
    if si.prio < 0:
        for other in s.swap_info:
            if other is not si and other.flags & SWP_USED and other.prio < si.prio:
                other.prio += 1     # keep the automatic priorities contiguous
        s.least_priority += 1
    for p in si.map_pfns:
        __free_pages(m.pgdat, p, 0, m.current_cpu)
    swap_state.exit_swapper_space(m, si.type)
    si.__init__(si.type)
    return 0


def try_to_unuse(m, si) -> int:
    """Bring every slot of ``si`` back into memory and point its PTEs at the page
    (mm/swapfile.c try_to_unuse with unuse_mm); 0 or -ENOMEM."""
    users = swap_state.swap_pte_users(m, si.type)
    for offset in range(1, si.max):
        cnt = int(si.swap_map[offset])
        if not cnt or swap_count(cnt) == SWAP_MAP_BAD:
            continue
        entry = swp_entry(si.type, offset)
        pfn = swap_state.read_swap_cache_async(m, entry, G.GFP_HIGHUSER_MOVABLE, None, 0)
        if pfn == NULL:
            if not si.swap_map[offset]:
                continue        # freed meanwhile
            return -errno.ENOMEM
        f = m.mem_map.f
        if not f[pfn] & (1 << PG_locked):
            f[pfn] = f[pfn] | (1 << PG_locked)
        if swap_count(int(si.swap_map[offset])) == SWAP_MAP_SHMEM:
            if not m.swap.shmem_unuse(m, entry, pfn):
                raise KernelBug(f"try_to_unuse: no shmem file holds slot {offset}")
        for mm, vma, ptr, addr in users.get(entry, ()):
            swap_state.unuse_pte(m, vma, ptr, addr, entry, pfn)
        if f[pfn] & (1 << PG_swapcache) and swap_count(int(si.swap_map[offset])) == 0:
            swap_state.delete_from_swap_cache(m, pfn)
            f[pfn] = f[pfn] | (1 << PG_dirty)
        f[pfn] = f[pfn] & ~(1 << PG_locked) & _U64
        put_page(m, pfn)
        if si.swap_map[offset]:
            raise KernelBug(f"try_to_unuse: slot {offset} of {si.name} still in use")
    return 0


def si_swapinfo(m) -> tuple:
    """(free swap pages, total swap pages) with areas being swapped off counted as in
    use (mm/swapfile.c si_swapinfo)."""
    nr_to_be_unused = 0
    for si in m.swap.swap_info:
        if si.flags & SWP_USED and not si.flags & SWP_WRITEOK:
            nr_to_be_unused += si.inuse_pages
    return m.nr_swap_pages + nr_to_be_unused, m.total_swap_pages + nr_to_be_unused


def swap_show(m) -> str:
    """/proc/swaps (mm/swapfile.c swap_show)."""
    out = ["Filename\t\t\t\tType\t\tSize\tUsed\tPriority\n"]
    for si in m.swap.swap_info:
        if not si.flags & SWP_USED or not si.flags & SWP_WRITEOK:
            continue
        name = si.name
        pad = 40 - len(name) if len(name) < 40 else 1
        out.append(f"{name}{' ' * pad}{'partition' if si.flags & SWP_BLKDEV else 'file'}"
                   f"\t{si.pages << (PAGE_SHIFT - 10)}\t{si.inuse_pages << (PAGE_SHIFT - 10)}"
                   f"\t{si.prio}\n")
    return "".join(out)


def check_swap(m) -> None:
    """The swap invariants: each area's in-use count, lowest/highest bits and free
    count agree with its swap_map, and nr_swap_pages with them all."""
    free = 0
    for si in m.swap.swap_info:
        if not si.flags & SWP_USED:
            continue
        smap = si.swap_map
        used = int(np.count_nonzero(smap[1:]))
        if used != si.inuse_pages:
            raise KernelBug(f"{si.name}: inuse_pages {si.inuse_pages} but {used} slots used")
        if si.flags & SWP_WRITEOK:
            free += si.pages - si.inuse_pages
        zeros = np.flatnonzero(smap == 0)
        if zeros.size and si.highest_bit and (zeros[0] < si.lowest_bit
                                              or zeros[-1] > si.highest_bit):
            raise KernelBug(f"{si.name}: free slot outside lowest_bit..highest_bit")
        for off, digit in si.cont.items():
            if not smap[off] & COUNT_CONTINUED or digit <= 0:
                raise KernelBug(f"{si.name}: continuation of slot {off} out of step")
        for off in si.slots:
            if not smap[off]:
                raise KernelBug(f"{si.name}: free slot {off} still holds data")
    if free != m.nr_swap_pages:
        raise KernelBug(f"nr_swap_pages is {m.nr_swap_pages} but the areas have {free} "
                        f"free slots")
