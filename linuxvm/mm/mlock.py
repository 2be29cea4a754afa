"""mlock, mlock2, munlock, mlockall, munlockall (mm/mlock.c)."""

import errno

from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE, TASK_SIZE
from ..include.resource import RLIMIT_MEMLOCK
# mmap.py and gup.py call back into this module (munlock_vma_pages_range, mlock_vma_page):
# held as modules so that any of the three may be imported first
from . import gup, mmap
from ..include.mm import (VM_LOCKED, VM_LOCKONFAULT, VM_SPECIAL, VM_HUGETLB,
                       VM_LOCKED_CLEAR_MASK)
from .mman import MLOCK_ONFAULT, MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT
from .page import PG_mlocked
from .rmap import rmap_walk_anon
from .vma import find_vma
from .vmscan import isolate_lru_page, putback_lru_page
from ..include.vm_event_item import NR_MLOCK, VM_EVENT


def munlock_vma_pages_range(m, vma, start, end) -> None:
    """Clear VM_LOCKED and munlock every page mapped in [start, end) (mm/mlock.c)."""
    vma.vm_flags &= VM_LOCKED_CLEAR_MASK
    addr = start
    while addr < end:
        page = gup.follow_page_pte(m, vma, addr, gup.FOLL_DUMP)
        if page is not None and page != m.zero_pfn:
            munlock_vma_page(m, page)
        addr += PAGE_SIZE


def mlock_vma_page(m, page: int) -> None:
    """Mark a page mlocked and move it to the unevictable list (mm/mlock.c)."""
    mem_map = m.mem_map
    if not mem_map.f[page] & (1 << PG_mlocked):
        mem_map.f[page] = mem_map.f[page] | (1 << PG_mlocked)
        m.page_zone(page).vm_stat[NR_MLOCK] += 1
        m.pgdat.vm_events[VM_EVENT["unevictable_pgs_mlocked"]] += 1
        if not isolate_lru_page(m, page):
            putback_lru_page(m, page)


def munlock_vma_page(m, page: int) -> int:
    """Clear PG_mlocked unless another VM_LOCKED mapping keeps it (try_to_munlock), and put
    the page back on an evictable list (mm/mlock.c)."""
    mem_map = m.mem_map
    if not mem_map.f[page] & (1 << PG_mlocked):
        return 0
    mem_map.f[page] = mem_map.f[page] & ~(1 << PG_mlocked) & 0xFFFFFFFFFFFFFFFF
    m.page_zone(page).vm_stat[NR_MLOCK] -= 1
    if isolate_lru_page(m, page):
        m.pgdat.vm_events[VM_EVENT["unevictable_pgs_stranded"]] += 1
        return 0
    still_locked = []
    if mem_map.mc[page] + 1 > 1:
        def check(pfn, vma, address):
            if vma.vm_flags & VM_LOCKED:
                still_locked.append(vma)
                return False
            return True
        rmap_walk_anon(m, page, check)
    if still_locked:
        mem_map.f[page] = mem_map.f[page] | (1 << PG_mlocked)
        m.page_zone(page).vm_stat[NR_MLOCK] += 1
    else:
        m.pgdat.vm_events[VM_EVENT["unevictable_pgs_munlocked"]] += 1
    putback_lru_page(m, page)
    return 0


def mlock_fixup(m, vma, prev, start, end, newflags):
    """Lock or unlock [start, end) of ``vma``; ``(prev, err)``."""
    mm = vma.vm_mm
    if newflags == vma.vm_flags or vma.vm_flags & (VM_SPECIAL | VM_HUGETLB):
        return vma, 0             # special mappings are never locked nor counted
    was_locked = vma.vm_flags & VM_LOCKED
    vma, prev, err = mmap.vma_modify_flags(m, mm, vma, prev, start, end, newflags)
    if err:
        return vma, err
    lock = bool(newflags & VM_LOCKED)
    nr_pages = (end - start) >> PAGE_SHIFT
    mm.locked_vm += nr_pages if lock else -nr_pages
    if lock and was_locked:
        # 4.6 counts pages again when only VM_LOCKONFAULT changes (fixed in 5.4); the
        # invariant check allows for this drift
        mm.locked_vm_drift += nr_pages
    if lock:
        vma.vm_flags = newflags
    else:
        vma.vm_flags = newflags
        munlock_vma_pages_range(m, vma, start, end)
    return vma, 0


def apply_vma_lock_flags(m, start, length, flags) -> int:
    end = start + length
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
    length = mmap.page_align(length + (start & (PAGE_SIZE - 1)))
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
    length = mmap.page_align(length + (start & (PAGE_SIZE - 1)))
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

