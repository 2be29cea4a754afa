"""Dirty-memory limits and their sysctls (mm/page-writeback.c).

``global_dirty_limits``, which ``/proc/vmstat`` prints as ``nr_dirty_threshold`` and
``nr_dirty_background_threshold``; dirtying and cleaning page-cache pages (set_page_dirty,
account_page_dirtied, clear_page_dirty_for_io, the writeback flag). balance_dirty_pages
and the flusher are not modelled yet. The ``vm.dirty_*`` sysctls and their handlers are
rows of kernel/sysctl.py's table.
"""

from ..arch.x86.page_types import PAGE_SIZE
from .vmstat import global_page_state
from ..include.vm_event_item import (NR_FREE_PAGES, NR_INACTIVE_FILE, NR_ACTIVE_FILE,
                                     NR_FILE_DIRTY, NR_DIRTIED, NR_WRITEBACK, NR_WRITTEN)
from .page import PAGE_MAPPING_ANON, PG_dirty, PG_writeback

# task flag checked by domain_dirty_limits (include/linux/sched.h)
PF_LESS_THROTTLE = 0x00100000


def _div_round_up(a: int, b: int) -> int:
    return -(-a // b)


def global_dirtyable_memory(m) -> int:
    """Free pages above the reserves plus the file LRU pages, at least 1."""
    x = global_page_state(m, NR_FREE_PAGES)
    x -= min(x, m.pgdat.totalreserve_pages)
    x += global_page_state(m, NR_INACTIVE_FILE)
    x += global_page_state(m, NR_ACTIVE_FILE)
    return x + 1         # no highmem on x86-64: nothing to subtract


def global_dirty_limits(m) -> tuple:
    """(background threshold, dirty threshold) in pages (global_dirty_limits and
    domain_dirty_limits for the global domain)."""
    s = m.sysctl
    available = global_dirtyable_memory(m)
    if s["vm.dirty_bytes"]:
        thresh = _div_round_up(s["vm.dirty_bytes"], PAGE_SIZE)
    else:
        thresh = s["vm.dirty_ratio"] * available // 100
    if s["vm.dirty_background_bytes"]:
        bg_thresh = _div_round_up(s["vm.dirty_background_bytes"], PAGE_SIZE)
    else:
        bg_thresh = s["vm.dirty_background_ratio"] * available // 100
    if bg_thresh >= thresh:
        bg_thresh = thresh // 2
    tsk = m.current
    if tsk is not None and (getattr(tsk, "flags", 0) & PF_LESS_THROTTLE
                            or getattr(tsk, "rt_priority", 0) > 0):
        bg_thresh += bg_thresh // 4
        thresh += thresh // 4
    return bg_thresh, thresh


# -- dirty pages of the page cache (set_page_dirty and friends) --------------------------------

_PG_DIRTY = 1 << PG_dirty
_PG_WRITEBACK = 1 << PG_writeback
_U64 = 0xFFFFFFFFFFFFFFFF


def page_mapping(m, pfn: int):
    """The address_space of a page-cache page, or None (mm/util.c page_mapping)."""
    mapping = int(m.mem_map.mapv[pfn])
    if not mapping or mapping & PAGE_MAPPING_ANON:
        return None
    return m.address_spaces.get(mapping >> 2)


def account_page_dirtied(m, pfn: int, mapping) -> None:
    """A page just became dirty: count it where its mapping accounts dirty pages."""
    if mapping.account_dirty:
        z = m.page_zone(pfn)
        z.vm_stat[NR_FILE_DIRTY] += 1
        z.vm_stat[NR_DIRTIED] += 1


def account_page_cleaned(m, pfn: int, mapping) -> None:
    """A dirty page is cleaned without writeback (truncate, cancel_dirty_page)."""
    if mapping.account_dirty:
        m.page_zone(pfn).vm_stat[NR_FILE_DIRTY] -= 1


def __set_page_dirty_nobuffers(m, pfn: int) -> bool:
    """Set PG_dirty and account it (mm/page-writeback.c); True when newly dirtied."""
    f = m.mem_map.f
    if f[pfn] & _PG_DIRTY:
        return False
    f[pfn] = f[pfn] | _PG_DIRTY
    mapping = page_mapping(m, pfn)
    if mapping is not None:
        account_page_dirtied(m, pfn, mapping)
    return True


def __set_page_dirty_no_writeback(m, pfn: int) -> bool:
    """set_page_dirty of a filesystem that never writes back (ramfs, libfs.c)."""
    f = m.mem_map.f
    if f[pfn] & _PG_DIRTY:
        return False
    f[pfn] = f[pfn] | _PG_DIRTY
    return True


def set_page_dirty(m, pfn: int) -> bool:
    """Dirty a page through its mapping's a_ops (mm/page-writeback.c set_page_dirty)."""
    mapping = page_mapping(m, pfn)
    if mapping is not None:
        spd = mapping.a_ops.set_page_dirty if mapping.a_ops is not None else None
        if spd is None:
            spd = __set_page_dirty_nobuffers
        return spd(m, pfn)
    f = m.mem_map.f
    if not f[pfn] & _PG_DIRTY:
        f[pfn] = f[pfn] | _PG_DIRTY
        return True
    return False


def cancel_dirty_page(m, pfn: int) -> None:
    """Clean a page that is being truncated (mm/page-writeback.c cancel_dirty_page)."""
    f = m.mem_map.f
    if f[pfn] & _PG_DIRTY:
        f[pfn] = f[pfn] & ~_PG_DIRTY & _U64
        mapping = page_mapping(m, pfn)
        if mapping is not None:
            account_page_cleaned(m, pfn, mapping)


def clear_page_dirty_for_io(m, pfn: int) -> bool:
    """Clear PG_dirty before writing the page out (mm/page-writeback.c); True when it was
    dirty. (The write-protect half, page_mkclean, waits for shared file mappings.)"""
    f = m.mem_map.f
    if not f[pfn] & _PG_DIRTY:
        return False
    f[pfn] = f[pfn] & ~_PG_DIRTY & _U64
    mapping = page_mapping(m, pfn)
    if mapping is not None and mapping.account_dirty:
        m.page_zone(pfn).vm_stat[NR_FILE_DIRTY] -= 1
    return True


def set_page_writeback(m, pfn: int) -> None:
    f = m.mem_map.f
    f[pfn] = f[pfn] | _PG_WRITEBACK
    m.page_zone(pfn).vm_stat[NR_WRITEBACK] += 1


def end_page_writeback(m, pfn: int) -> None:
    """I/O finished (mm/filemap.c end_page_writeback → test_clear_page_writeback)."""
    f = m.mem_map.f
    f[pfn] = f[pfn] & ~_PG_WRITEBACK & _U64
    z = m.page_zone(pfn)
    z.vm_stat[NR_WRITEBACK] -= 1
    z.vm_stat[NR_WRITTEN] += 1


def balance_dirty_pages_ratelimited(m, mapping) -> None:
    """A task dirtied a page of ``mapping`` (mm/page-writeback.c). The throttling itself
    (balance_dirty_pages) is not modelled yet: dirty pages wait for fsync, msync or the
    flusher."""
