"""mlock, mlock2, munlock, mlockall, munlockall (mm/mlock.c)."""

import errno

from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE, PMD_SIZE, TASK_SIZE
from ..arch.x86.pgtable import pt_entries, pte_pfn, pte_present
from ..errors import KernelBug
from ..include.resource import RLIMIT_MEMLOCK
# mmap.py, gup.py and memory/ call back into this module (munlock_vma_pages_range,
# mlock_vma_page, munlock_vma_page): held as modules so that any may be imported first
from . import gup, memory, mmap, huge_memory
from ..include.mm import (VM_LOCKED, VM_LOCKONFAULT, VM_SPECIAL, VM_HUGETLB,
                       VM_LOCKED_CLEAR_MASK)
from .mman import MLOCK_ONFAULT, MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT
from .page import NULL, PG_lru, PG_mlocked, PG_unevictable
from .rmap import rmap_walk_anon, rmap_callbacks
from .swap import (PAGEVEC_SIZE, __pagevec_lru_add_fn, del_page_from_lru_list, get_page,
                   lru_add_drain, lru_add_drain_all, page_lru, put_page, release_pages,
                   hpage_nr_pages)
from .vma import find_vma
from .vmscan import isolate_lru_page, putback_lru_page
from ..include.vm_event_item import NR_MLOCK, VM_EVENT

_U64 = (1 << 64) - 1
PMD_MASK = ~(PMD_SIZE - 1) & _U64
_PG_LRU = 1 << PG_lru
_PG_MLOCKED = 1 << PG_mlocked
_PG_UNEVICTABLE = 1 << PG_unevictable


def _len_align(start: int, length: int) -> int:
    """PAGE_ALIGN(len + offset_in_page(start)) in size_t: a length near 2**64 wraps to
    a small one (mlock(addr, -1) locks nothing and succeeds)."""
    return mmap.page_align((length + (start & (PAGE_SIZE - 1))) & _U64) & _U64


def mlock_vma_page(m, page: int) -> None:
    """Mark a page mlocked and move it to the unevictable list (mm/mlock.c)."""
    mem_map = m.mem_map
    if not mem_map.f[page] & _PG_MLOCKED:
        mem_map.f[page] = mem_map.f[page] | _PG_MLOCKED
        m.page_zone(page).vm_stat[NR_MLOCK] += hpage_nr_pages(mem_map, page)
        m.pgdat.vm_events[VM_EVENT["unevictable_pgs_mlocked"]] += 1
        if not isolate_lru_page(m, page):
            putback_lru_page(m, page)


def __munlock_isolate_lru_page(m, page: int, getpage: bool) -> bool:
    """Take a page off its LRU list under the caller's pin (mm/mlock.c)."""
    mem_map = m.mem_map
    if not mem_map.f[page] & _PG_LRU:
        return False
    if getpage:
        get_page(m, page)
    mem_map.f[page] = mem_map.f[page] & ~_PG_LRU & _U64
    del_page_from_lru_list(m, page, page_lru(mem_map, page))
    return True


def try_to_munlock(m, page: int) -> bool:
    """Whether another VM_LOCKED VMA maps the page, which then stays mlocked
    (mm/rmap.c try_to_munlock; True stands for SWAP_MLOCK)."""
    still_locked = []

    def check(pfn, vma, address):
        # try_to_unmap_one with TTU_MUNLOCK: a VM_LOCKED VMA whose PTE maps the page
        if vma.vm_flags & VM_LOCKED and _pte_maps(m, vma, address, pfn):
            mlock_vma_page(m, pfn)
            still_locked.append(vma)
            return False
        return True
    rmap_walk_anon(m, page, check)
    return bool(still_locked)


def _pte_maps(m, vma, address: int, pfn: int) -> bool:
    """Whether ``vma``'s PTE at ``address`` maps ``pfn``, or its huge PMD the THP headed by
    ``pfn`` (mm/rmap.c page_check_address, page_check_address_transhuge)."""
    pmd = huge_memory.huge_pmd_lookup(m, vma.vm_mm, address)
    if pmd is not None:
        return pte_pfn(pt_entries(m, pmd[0])[pmd[1]]) == pfn
    ptr = memory.pte_lookup(m, vma.vm_mm, address)
    if ptr is None:
        return False
    pte = pt_entries(m, ptr[0])[ptr[1]]
    return bool(pte_present(pte)) and pte_pfn(pte) == pfn


def __munlock_isolated_page(m, page: int) -> None:
    """Finish munlocking an isolated page: keep it mlocked if another VM_LOCKED mapping
    holds it, and put it back on the LRU it now belongs on (mm/mlock.c)."""
    # mapped once: that mapping is the one being munlocked, no rmap walk needed
    if m.mem_map.mc[page] + 1 <= 1 or not try_to_munlock(m, page):
        m.pgdat.vm_events[VM_EVENT["unevictable_pgs_munlocked"]] += 1
    putback_lru_page(m, page)


def __munlock_isolation_failed(m, page: int) -> None:
    """Count a page munlocked while off the LRU (on a per-CPU pagevec) (mm/mlock.c)."""
    ev = m.pgdat.vm_events
    if m.mem_map.f[page] & _PG_UNEVICTABLE:
        ev[VM_EVENT["unevictable_pgs_stranded"]] += 1
    else:
        ev[VM_EVENT["unevictable_pgs_munlocked"]] += 1


def munlock_vma_page(m, page: int) -> int:
    """Clear PG_mlocked unless another VM_LOCKED mapping keeps it (try_to_munlock), and put
    the page back on an evictable list; the page mask, 0 for a small page, 511 for a THP
    (mm/mlock.c)."""
    mem_map = m.mem_map
    nr_pages = hpage_nr_pages(mem_map, page)
    if not mem_map.f[page] & _PG_MLOCKED:
        return nr_pages - 1
    mem_map.f[page] = mem_map.f[page] & ~_PG_MLOCKED & _U64
    m.page_zone(page).vm_stat[NR_MLOCK] -= nr_pages
    if __munlock_isolate_lru_page(m, page, True):
        __munlock_isolated_page(m, page)
    else:
        __munlock_isolation_failed(m, page)
    return nr_pages - 1


def __putback_lru_fast_prepare(m, page: int, pvec: list) -> int:
    """Queue an isolated, singly mapped, evictable page for the batched putback; 1 if it
    left the unevictable list, 0 if queued from an evictable one, -1 if it needs the slow
    path (mm/mlock.c)."""
    mem_map = m.mem_map
    if mem_map.mc[page] + 1 <= 1 and not mem_map.f[page] & _PG_MLOCKED:
        pvec.append(page)
        if mem_map.f[page] & _PG_UNEVICTABLE:
            mem_map.f[page] = mem_map.f[page] & ~_PG_UNEVICTABLE & _U64
            return 1
        return 0
    return -1


def __putback_lru_fast(m, pvec: list, pgrescued: int) -> None:
    """Put a batch of munlocked pages straight on their LRU lists, dropping the pins
    taken when they were looked up (mm/mlock.c): no per-CPU pagevec in between."""
    ev = m.pgdat.vm_events
    ev[VM_EVENT["unevictable_pgs_munlocked"]] += len(pvec)
    for page in pvec:
        __pagevec_lru_add_fn(m, page)
    release_pages(m, pvec)
    ev[VM_EVENT["unevictable_pgs_rescued"]] += pgrescued


def __munlock_pagevec(m, pvec: list, zone) -> None:
    """Munlock a batch of pinned pages of one zone (mm/mlock.c): isolate them all, then
    put the singly mapped ones back on the LRU in one go."""
    mem_map = m.mem_map
    nr = len(pvec)
    putback = []
    # phase 1: clear PG_mlocked and isolate
    for i, page in enumerate(pvec):
        if mem_map.f[page] & _PG_MLOCKED:
            mem_map.f[page] = mem_map.f[page] & ~_PG_MLOCKED & _U64
            # the pin from the lookup serves as the isolation reference
            if __munlock_isolate_lru_page(m, page, False):
                continue
            __munlock_isolation_failed(m, page)
        putback.append(page)
        pvec[i] = None
    # a page munlocked here but not isolated stays counted in NR_MLOCK, as in 4.6 (the
    # count of the pages put back is taken off the batch's)
    zone.vm_stat[NR_MLOCK] += -nr + len(putback)
    if putback:
        # pagevec_release: drain this CPU's add pagevec, then drop the lookup pins
        lru_add_drain(m)
        release_pages(m, putback)
    # phase 2: the fast path for singly mapped evictable pages, else the slow one
    fast = []
    pgrescued = 0
    for page in pvec:
        if page is None:
            continue
        got = __putback_lru_fast_prepare(m, page, fast)
        if got >= 0:
            pgrescued += got
        else:
            get_page(m, page)               # for putback_lru_page
            __munlock_isolated_page(m, page)
            put_page(m, page)               # the lookup pin
    # phase 3: the batched putback, which also drops the fast pages' lookup pins
    if fast:
        __putback_lru_fast(m, fast, pgrescued)


def __munlock_pagevec_fill(m, pvec: list, vma, zone, start: int, end: int) -> int:
    """Pin and add to ``pvec`` the pages after ``start`` mapped by the same PTE table in
    the same zone, up to a full pagevec; the next address to scan (mm/mlock.c)."""
    ptr = memory.pte_lookup(m, vma.vm_mm, start)
    # do not cross the page-table boundary
    end = min(end, ((start + PMD_SIZE) & PMD_MASK) or end)
    ptes = pt_entries(m, ptr[0])
    idx = ptr[1]
    mem_map = m.mem_map
    start += PAGE_SIZE
    while start < end:
        idx += 1
        pte = ptes[idx]
        page = NULL
        if pte_present(pte):
            page = memory.vm_normal_page(m, vma, start, pte)
        if page == NULL or m.page_zone(page) is not zone:
            break
        if mem_map.PageHead(page) or mem_map.PageTail(page):
            break                       # PTE-mapped compound pages go one at a time
        get_page(m, page)
        start += PAGE_SIZE
        pvec.append(page)
        if len(pvec) == PAGEVEC_SIZE:
            break
    return start


def munlock_vma_pages_range(m, vma, start, end) -> None:
    """Clear VM_LOCKED and munlock every page mapped in [start, end), small pages in
    batches of a pagevec (mm/mlock.c)."""
    vma.vm_flags &= VM_LOCKED_CLEAR_MASK
    mem_map = m.mem_map
    while start < end:
        page, page_mask = gup.follow_page_mask(m, vma, start, gup.FOLL_DUMP)
        if page is not None and page >= 0 and page != m.zero_pfn:
            if mem_map.PageTail(page) and mem_map.f[page] & _PG_MLOCKED:
                raise KernelBug(f"page:{page:#x} page dumped because: "
                                f"VM_BUG_ON_PAGE(PageMlocked(page))")
            get_page(m, page)                                       # FOLL_GET
            if mem_map.PageTail(page):
                put_page(m, page)
            elif mem_map.PageHead(page):
                page_mask = munlock_vma_page(m, page)
                put_page(m, page)
            else:
                pvec = [page]
                zone = m.page_zone(page)
                start = __munlock_pagevec_fill(m, pvec, vma, zone, start, end)
                __munlock_pagevec(m, pvec, zone)
                continue
        start += (1 + page_mask) * PAGE_SIZE


def mlock_fixup(m, vma, prev, start, end, newflags):
    """Lock or unlock [start, end) of ``vma``; ``(prev, err)``."""
    mm = vma.vm_mm
    if newflags == vma.vm_flags or vma.vm_flags & (VM_SPECIAL | VM_HUGETLB):
        return vma, 0             # special mappings are never locked nor counted
    vma, prev, err = mmap.vma_modify_flags(m, mm, vma, prev, start, end, newflags)
    if err:
        return vma, err
    lock = bool(newflags & VM_LOCKED)
    nr_pages = (end - start) >> PAGE_SHIFT
    # 4.6 counts the range again when only VM_LOCKONFAULT changes (fixed in 5.4)
    mm.locked_vm += nr_pages if lock else -nr_pages
    if lock:
        vma.vm_flags = newflags
    else:
        vma.vm_flags = newflags
        munlock_vma_pages_range(m, vma, start, end)
    return vma, 0


def apply_vma_lock_flags(m, start, length, flags) -> int:
    """Set ``flags`` on every VMA of [start, start+length), splitting and merging; 0 or
    -errno (mm/mlock.c)."""
    end = (start + length) & _U64
    if end < start:
        return -errno.EINVAL
    if end == start:
        return 0
    mm = m.current.mm
    vma = find_vma(mm, start)
    if vma is None or vma.vm_start > start:
        return -errno.ENOMEM
    prev = vma.vm_prev
    if start > vma.vm_start:
        prev = vma

    def fixup(vma, prev, lo, hi):
        return mlock_fixup(m, vma, prev, lo, hi, (vma.vm_flags & VM_LOCKED_CLEAR_MASK) | flags)
    return mmap.fixup_vma_range(vma, prev, start, end, fixup)


def do_mlock(m, start, length, flags) -> int:
    task = m.current
    if not mmap.can_do_mlock(m):
        return -errno.EPERM
    lru_add_drain_all(m)        # pages still on a per-CPU pagevec could not be isolated
    length = _len_align(start, length)
    start &= ~(PAGE_SIZE - 1)
    lock_limit = task.rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT
    locked = (length >> PAGE_SHIFT) + task.mm.locked_vm
    if locked <= lock_limit or task.capable("CAP_IPC_LOCK"):
        err = apply_vma_lock_flags(m, start, length, flags)
    else:
        err = -errno.ENOMEM
    if err:
        return err
    if not flags & VM_LOCKONFAULT:
        gup.mm_populate(m, start, length)
    return 0


def sys_mlock(m, start, length) -> int:
    return do_mlock(m, start, length, VM_LOCKED)


def sys_mlock2(m, start, length, flags) -> int:
    vm_flags = VM_LOCKED
    if flags & ~MLOCK_ONFAULT:
        return -errno.EINVAL
    if flags & MLOCK_ONFAULT:
        vm_flags |= VM_LOCKONFAULT
    return do_mlock(m, start, length, vm_flags)


def sys_munlock(m, start, length) -> int:
    length = _len_align(start, length)
    start &= ~(PAGE_SIZE - 1)
    return apply_vma_lock_flags(m, start, length, 0)


def apply_mlockall_flags(m, flags) -> int:
    mm = m.current.mm
    mm.def_flags &= VM_LOCKED_CLEAR_MASK
    if flags & MCL_FUTURE:
        mm.def_flags |= VM_LOCKED
        if flags & MCL_ONFAULT:
            mm.def_flags |= VM_LOCKONFAULT
        if not flags & MCL_CURRENT:
            return 0
    to_add = 0
    if flags & MCL_CURRENT:
        to_add |= VM_LOCKED
        if flags & MCL_ONFAULT:
            to_add |= VM_LOCKONFAULT
    vma, prev = mm.mmap, None
    while vma is not None:
        newflags = (vma.vm_flags & VM_LOCKED_CLEAR_MASK) | to_add
        prev, _ = mlock_fixup(m, vma, prev, vma.vm_start, vma.vm_end, newflags)  # errors ignored
        vma = prev.vm_next
    return 0


def sys_mlockall(m, flags) -> int:
    task = m.current
    if not flags or flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT):
        return -errno.EINVAL
    if not mmap.can_do_mlock(m):
        return -errno.EPERM
    if flags & MCL_CURRENT:
        lru_add_drain_all(m)
    lock_limit = task.rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT
    err = -errno.ENOMEM
    if not flags & MCL_CURRENT or task.mm.total_vm <= lock_limit or \
            task.capable("CAP_IPC_LOCK"):
        err = apply_mlockall_flags(m, flags)
    if not err and flags & MCL_CURRENT and not flags & MCL_ONFAULT:
        gup.mm_populate(m, 0, TASK_SIZE)
    return err


def sys_munlockall(m) -> int:
    return apply_mlockall_flags(m, 0)


rmap_callbacks.mlock_vma_page = mlock_vma_page
