"""Mapping, unmapping, merging and splitting VMAs; brk; the address-space sysctls
(mm/mmap.c).

Functions return the kernel's value: an address, 0, or a negative errno. The
``Process`` façade turns negative values into ``SyscallError``.
"""

import errno

from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE, TASK_SIZE
from ..arch.x86.pgtable_types import vm_get_page_prot
from ..include.personality import READ_IMPLIES_EXEC
from ..include.resource import RLIMIT_AS, RLIMIT_DATA, RLIMIT_MEMLOCK
from .slab_common import slab_alloc_obj, slab_free_obj
from ..include.mm import (VM_READ, VM_WRITE, VM_EXEC, VM_SHARED, VM_MAYREAD, VM_MAYWRITE,
                       VM_MAYEXEC, VM_MAYSHARE, VM_GROWSDOWN, VM_GROWSUP, VM_DENYWRITE,
                       VM_LOCKED, VM_ACCOUNT, VM_NORESERVE, VM_SOFTDIRTY, VM_SPECIAL,
                       VM_HUGETLB, VM_PFNMAP, VM_IO, VM_DATA_DEFAULT_FLAGS, VM_LOCKED_CLEAR_MASK,
                       is_exec_mapping, is_stack_mapping, is_data_mapping)
from .mman import (PROT_READ, PROT_WRITE, PROT_EXEC, MAP_SHARED, MAP_PRIVATE, MAP_TYPE,
                   MAP_FIXED, MAP_GROWSDOWN, MAP_DENYWRITE, MAP_LOCKED, MAP_NORESERVE,
                   MAP_POPULATE, MAP_NONBLOCK)
# gup and mlock call back into this module (mm_populate, munlock_vma_pages_range,
# vma_modify_flags): held as modules so any of the three may be imported first
from . import gup, mlock, rmap, huge_memory
from .memory import update_hiwater_rss
from .hugetlb import is_file_hugepages
from .memory import tlb_gather_mmu, unmap_vmas, free_pgtables, tlb_finish_mmu
from .shmem import shmem_zero_setup
from .swap import lru_add_drain
from .util import OVERCOMMIT_NEVER, security_vm_enough_memory_mm, vm_unacct_memory
from .vma import (VmAreaStruct, vma_pages, vma_gap_update, find_vma, find_vma_prev,
                  find_vma_intersection, find_vma_links, __vma_link_list, __vma_link_rb,
                  __vma_unlink)

DEFAULT_MAX_MAP_COUNT = 65530          # USHRT_MAX - MAPCOUNT_ELF_CORE_MARGIN
CONFIG_DEFAULT_MMAP_MIN_ADDR = 65536
FIRST_USER_ADDRESS = 0
USER_PGTABLES_CEILING = 0              # 0 means "to the top of the address space"

__all__ = ["find_vma", "find_vma_prev", "find_vma_intersection"]


def page_align(x: int) -> int:
    return (x + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def offset_in_page(x: int) -> int:
    return x & (PAGE_SIZE - 1)


def sysctl_max_map_count(m) -> int:
    return m.sysctl.values["vm.max_map_count"]


# -- accounting ---------------------------------------------------------------------------

def vm_stat_account(mm, flags: int, npages: int) -> None:
    """total_vm and the exec/stack/data class of the mapping (mm/mmap.c)."""
    mm.total_vm += npages
    if is_exec_mapping(flags):
        mm.exec_vm += npages
    elif is_stack_mapping(flags):
        mm.stack_vm += npages
    elif is_data_mapping(flags):
        mm.data_vm += npages


def may_expand_vm(m, mm, flags: int, npages: int) -> bool:
    """RLIMIT_AS, and RLIMIT_DATA as 4.6 counts it (ignore_rlimit_data: warn once)."""
    task = m.current
    if mm.total_vm + npages > task.rlimit(RLIMIT_AS) >> PAGE_SHIFT:
        return False
    limit = task.rlimit(RLIMIT_DATA)
    if is_data_mapping(flags) and mm.data_vm + npages > limit >> PAGE_SHIFT:
        # ignore_rlimit_data defaults to true in 4.6: only a pr_warn_once
        if not m._rlimit_data_warned:
            m._rlimit_data_warned = True
            m.log.pr_warn(f"{task.comm} ({task.pid}): VmData {(mm.data_vm + npages) << PAGE_SHIFT}"
                          f" exceed data ulimit {limit}. Will be forbidden soon.")
    return True


def update_hiwater_vm(mm) -> None:
    if mm.hiwater_vm < mm.total_vm:
        mm.hiwater_vm = mm.total_vm


def mlock_future_check(m, mm, flags: int, length: int) -> int:
    if flags & VM_LOCKED:
        locked = (length >> PAGE_SHIFT) + mm.locked_vm
        if locked > m.current.rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT and \
                not m.current.capable("CAP_IPC_LOCK"):
            return -errno.EAGAIN
    return 0


def can_do_mlock(m) -> bool:
    return m.current.rlimit(RLIMIT_MEMLOCK) != 0 or m.current.capable("CAP_IPC_LOCK")


def vma_wants_writenotify(vma) -> bool:
    flags = vma.vm_flags
    if (flags & (VM_WRITE | VM_SHARED)) != (VM_WRITE | VM_SHARED):
        return False
    if vma.vm_ops is not None and vma.vm_ops.page_mkwrite is not None:
        return True
    if not flags & VM_SOFTDIRTY:
        return True
    if flags & VM_PFNMAP:
        return False
    return vma.vm_file is not None and vma.vm_file.inode.cap_account_dirty


def vma_set_page_prot(vma) -> None:
    flags = vma.vm_flags
    if flags & VM_SHARED and vma_wants_writenotify(vma):     # (it needs VM_SHARED)
        flags &= ~VM_SHARED
    vma.vm_page_prot = vm_get_page_prot(flags)


# -- object lifetime ----------------------------------------------------------------------

def vm_area_alloc(m, mm, start, end, flags, pgoff=0, file=None) -> VmAreaStruct:
    vma = VmAreaStruct(mm, start, end, flags, pgoff, file)
    slab_alloc_obj(m, "vm_area_struct", vma)
    return vma


def vma_copy(m, vma) -> VmAreaStruct:
    new = vma.copy()
    slab_alloc_obj(m, "vm_area_struct", new)
    return new


def remove_vma(m, vma):
    """Release a VMA that is off the tree: close, drop the file, free (mm/mmap.c)."""
    nxt = vma.vm_next
    if vma.vm_ops is not None and vma.vm_ops.close is not None:
        vma.vm_ops.close(vma)
    if vma.vm_file is not None:
        vma.vm_file.fput()
    _unlink_anon(m, vma)
    slab_free_obj(m, "vm_area_struct", vma)
    return nxt


def _unlink_anon(m, vma) -> None:
    if vma.anon_vma_chain:
        rmap.unlink_anon_vmas(m, vma)
    vma.anon_vma = None


def _clone_anon(m, dst, src) -> None:
    if src.anon_vma_chain:
        rmap.anon_vma_clone(m, dst, src)


def vma_link(m, mm, vma, prev) -> None:
    __vma_link_list(mm, vma, prev)
    __vma_link_rb(mm, vma)
    if vma.vm_file is not None:
        vma.vm_file.inode.i_mmap.add(vma)
        if vma.vm_flags & VM_DENYWRITE:
            vma.vm_file.inode.i_writecount -= 1      # __vma_link_file: no writers while mapped
    mm.map_count += 1
    mm.vmacache_seqnum += 1


def _unlink(m, mm, vma) -> None:
    __vma_unlink(mm, vma)
    if vma.vm_file is not None:
        vma.vm_file.inode.i_mmap.discard(vma)
        if vma.vm_flags & VM_DENYWRITE:
            vma.vm_file.inode.i_writecount += 1      # __remove_shared_vm_struct
    mm.map_count -= 1


def insert_vm_struct(m, mm, vma) -> int:
    """Link a VMA built by the caller (exec's stack, special mappings); 0 or -ENOMEM."""
    overlaps, prev = find_vma_links(mm, vma.vm_start, vma.vm_end)
    if overlaps:
        return -errno.ENOMEM
    if vma.vm_flags & VM_ACCOUNT and security_vm_enough_memory_mm(m, mm, vma_pages(vma)):
        return -errno.ENOMEM
    if vma.vm_ops is None:
        # vma_is_anonymous: the offset it would get from a fault, so maps and merges agree
        vma.vm_pgoff = vma.vm_start >> PAGE_SHIFT
    vma_link(m, mm, vma, prev)
    return 0


# -- merge / adjust / split ---------------------------------------------------------------

def vma_adjust(m, vma, start, end, pgoff, insert=None) -> int:
    """Change a VMA's range and offset, shrinking, growing into or removing the VMAs that
    follow, and optionally link ``insert`` (mm/mmap.c vma_adjust); 0."""
    mm = vma.vm_mm
    nxt = vma.vm_next
    removed = None
    adjust_next = 0
    if nxt is not None and insert is None:
        exporter = importer = None
        if end >= nxt.vm_end:
            removed = []
            n = nxt
            while n is not None and end >= n.vm_end:
                removed.append(n)
                n = n.vm_next
            exporter, importer = nxt, vma
        elif end > nxt.vm_start:
            adjust_next = (end - nxt.vm_start) >> PAGE_SHIFT
            exporter, importer = nxt, vma
        elif end < vma.vm_end:
            adjust_next = -((vma.vm_end - end) >> PAGE_SHIFT)
            exporter, importer = vma, nxt
        if exporter is not None and exporter.anon_vma is not None and importer.anon_vma is None:
            importer.anon_vma = exporter.anon_vma
            _clone_anon(m, importer, exporter)
    # A gap changes only where a boundary moved, so the refreshes at the end skip the VMA
    # whose start and the VMA after an end that stayed put (a refresh there would find
    # every gap as it was). A split needs neither: linking ``insert`` right beside ``vma``
    # (__vma_link_rb) refreshes the gaps the split moved. Removals keep both.
    start_changed = start != vma.vm_start or removed is not None
    end_changed = end != vma.vm_end or removed is not None
    huge_memory.vma_adjust_trans_huge(m, vma, start, end, adjust_next)
    vma.vm_start = start
    vma.vm_end = end
    vma.vm_pgoff = pgoff
    if adjust_next:
        nxt.vm_start += adjust_next << PAGE_SHIFT
        nxt.vm_pgoff += adjust_next
    if removed is not None:
        for r in removed:
            _unlink(m, mm, r)
            remove_vma(m, r)
    if insert is not None:
        # the piece split off sits right below or right above ``vma``: that fixes its prev
        if insert.vm_end == vma.vm_start:
            prev = vma.vm_prev
            start_changed = end_changed = False
        elif insert.vm_start == vma.vm_end:
            prev = vma
            start_changed = end_changed = False
        else:
            _, prev = find_vma_links(mm, insert.vm_start, insert.vm_end)
            start_changed = end_changed = True
        vma_link(m, mm, insert, prev)
    if start_changed:
        vma_gap_update(mm, vma)
    if vma.vm_next is None:
        mm.highest_vm_end = vma.vm_end
    elif end_changed:
        vma_gap_update(mm, vma.vm_next)
    mm.vmacache_seqnum += 1
    return 0


def is_mergeable_anon_vma(anon_vma1, anon_vma2, vma) -> bool:
    if (anon_vma1 is None or anon_vma2 is None) and \
            (vma is None or len(vma.anon_vma_chain) == 1):
        return True
    return anon_vma1 is anon_vma2


def _mergeable(vma, vm_flags, anon_vma, file, ctx) -> bool:
    """is_mergeable_vma and is_mergeable_anon_vma, written out as one check."""
    if (vma.vm_flags ^ vm_flags) & ~VM_SOFTDIRTY or vma.vm_file is not file:
        return False
    ops = vma.vm_ops
    if ops is not None and ops.close is not None:
        return False
    if vma.vm_userfaultfd_ctx != ctx:
        return False
    other = vma.anon_vma
    return ((anon_vma is None or other is None) and len(vma.anon_vma_chain) == 1) or \
        anon_vma is other


def can_vma_merge_before(vma, vm_flags, anon_vma, file, vm_pgoff, ctx) -> bool:
    return _mergeable(vma, vm_flags, anon_vma, file, ctx) and vma.vm_pgoff == vm_pgoff


def can_vma_merge_after(vma, vm_flags, anon_vma, file, vm_pgoff, ctx) -> bool:
    return (_mergeable(vma, vm_flags, anon_vma, file, ctx)
            and vma.vm_pgoff + ((vma.vm_end - vma.vm_start) >> PAGE_SHIFT) == vm_pgoff)


def vma_merge(m, mm, prev, addr, end, vm_flags, anon_vma, file, pgoff, ctx=None):
    """Merge the range [addr, end) with ``prev`` and/or the VMA after it; the merged VMA
    or None (mm/mmap.c vma_merge, cases 1-8 of its comment)."""
    if vm_flags & VM_SPECIAL:
        return None
    pglen = (end - addr) >> PAGE_SHIFT
    nxt = prev.vm_next if prev is not None else mm.mmap
    area = nxt
    if area is not None and area.vm_end == end:          # cases 6, 7, 8
        nxt = nxt.vm_next
    if prev is not None and prev.vm_end == addr and \
            can_vma_merge_after(prev, vm_flags, anon_vma, file, pgoff, ctx):
        if nxt is not None and end == nxt.vm_start and \
                can_vma_merge_before(nxt, vm_flags, anon_vma, file, pgoff + pglen, ctx) and \
                is_mergeable_anon_vma(prev.anon_vma, nxt.anon_vma, None):
            vma_adjust(m, prev, prev.vm_start, nxt.vm_end, prev.vm_pgoff)    # cases 1, 6
        else:
            vma_adjust(m, prev, prev.vm_start, end, prev.vm_pgoff)           # cases 2, 5, 7
        khugepaged_enter_vma_merge(m, prev, vm_flags)
        return prev
    if nxt is not None and end == nxt.vm_start and \
            can_vma_merge_before(nxt, vm_flags, anon_vma, file, pgoff + pglen, ctx):
        if prev is not None and addr < prev.vm_end:                          # case 4
            vma_adjust(m, prev, prev.vm_start, addr, prev.vm_pgoff)
        else:                                                                # cases 3, 8
            vma_adjust(m, area, addr, nxt.vm_end, nxt.vm_pgoff - pglen)
        khugepaged_enter_vma_merge(m, area, vm_flags)
        return area
    return None


def khugepaged_enter_vma_merge(m, vma, vm_flags) -> None:
    """The khugepaged hook, when khugepaged is modelled (set on the machine)."""
    hook = m.khugepaged_enter_vma_merge
    if hook is not None:
        hook(vma, vm_flags)


def __split_vma(m, mm, vma, addr, new_below) -> int:
    """Split ``vma`` at ``addr``; the new VMA takes the part below (new_below) or above."""
    if vma.vm_flags & VM_HUGETLB and addr & ((2 << 20) - 1):
        return -errno.EINVAL
    new = vma_copy(m, vma)
    if new_below:
        new.vm_end = addr
    else:
        new.vm_start = addr
        new.vm_pgoff += (addr - vma.vm_start) >> PAGE_SHIFT
    _clone_anon(m, new, vma)
    if new.vm_file is not None:
        new.vm_file.get_file()
    if new.vm_ops is not None and new.vm_ops.open is not None:
        new.vm_ops.open(new)
    if new_below:
        vma_adjust(m, vma, addr, vma.vm_end,
                   vma.vm_pgoff + ((addr - new.vm_start) >> PAGE_SHIFT), new)
    else:
        vma_adjust(m, vma, vma.vm_start, addr, vma.vm_pgoff, new)
    return 0


def split_vma(m, mm, vma, addr, new_below) -> int:
    if mm.map_count >= sysctl_max_map_count(m):
        return -errno.ENOMEM
    return __split_vma(m, mm, vma, addr, new_below)


def vma_modify_flags(m, mm, vma, prev, start, end, newflags):
    """The merge-or-split step of mprotect/mlock/madvise fixups: ``(vma, prev, err)`` with
    ``vma`` covering exactly [start, end) and not yet given ``newflags``."""
    pgoff = vma.vm_pgoff + ((start - vma.vm_start) >> PAGE_SHIFT)
    merged = vma_merge(m, mm, prev, start, end, newflags, vma.anon_vma, vma.vm_file, pgoff,
                       vma.vm_userfaultfd_ctx)
    if merged is not None:
        return merged, merged, 0
    if start != vma.vm_start:
        err = split_vma(m, mm, vma, start, 1)
        if err:
            return vma, vma, err
    if end != vma.vm_end:
        err = split_vma(m, mm, vma, end, 0)
        if err:
            return vma, vma, err
    return vma, vma, 0


def fixup_vma_range(vma, prev, start, end, fixup) -> int:
    """Run ``fixup(vma, prev, start, end) -> (prev, err)`` on each VMA piece of [start, end)
    in turn, as the loops of mprotect and mlock do; -ENOMEM at a hole."""
    nstart = start
    while True:
        tmp = min(vma.vm_end, end)
        prev, err = fixup(vma, prev, nstart, tmp)
        if err:
            return err
        nstart = tmp
        if nstart < prev.vm_end:
            nstart = prev.vm_end
        if nstart >= end:
            return 0
        vma = prev.vm_next
        if vma is None or vma.vm_start != nstart:
            return -errno.ENOMEM


# -- get_unmapped_area / mmap -------------------------------------------------------------

def get_unmapped_area(m, file, addr, length, pgoff, flags) -> int:
    """Pick (or check) the address for a new mapping; address or -errno (mm/mmap.c)."""
    if length > TASK_SIZE:
        return -errno.ENOMEM
    mm = m.current.mm
    get_area = mm.get_unmapped_area
    if file is not None and file.f_op.get_unmapped_area is not None:
        get_area = file.f_op.get_unmapped_area
    addr = get_area(m, mm, file, addr, length, pgoff, flags)
    if addr < 0:
        return addr
    if addr > TASK_SIZE - length:
        return -errno.ENOMEM
    if addr & (PAGE_SIZE - 1):
        return -errno.EINVAL
    # security_mmap_addr → cap_mmap_addr: below mmap_min_addr needs CAP_SYS_RAWIO
    if addr < m.sysctl.values["vm.mmap_min_addr"] and not m.current.capable("CAP_SYS_RAWIO"):
        return -errno.EPERM
    return addr


def round_hint_to_min(m, hint: int) -> int:
    hint &= ~(PAGE_SIZE - 1)
    lo = m.sysctl.values["vm.mmap_min_addr"]
    if hint and hint < lo:
        return page_align(lo)
    return hint


def calc_vm_prot_bits(prot: int) -> int:
    return prot & (PROT_READ | PROT_WRITE | PROT_EXEC)          # same bit values as VM_*


# do_mmap's masks, combined once rather than on every call
_PAGE_LOW = PAGE_SIZE - 1
_PAGE_MASK = ~(PAGE_SIZE - 1)
_PROT_RWX = PROT_READ | PROT_WRITE | PROT_EXEC
_VM_MAY_RWX = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
_MAP_FLAG_BITS = MAP_GROWSDOWN | MAP_DENYWRITE | MAP_LOCKED     # what calc_vm_flag_bits reads
_MAP_POPULATE_BITS = MAP_POPULATE | MAP_NONBLOCK


def calc_vm_flag_bits(flags: int) -> int:
    out = 0
    if flags & MAP_GROWSDOWN:
        out |= VM_GROWSDOWN
    if flags & MAP_DENYWRITE:
        out |= VM_DENYWRITE
    if flags & MAP_LOCKED:
        out |= VM_LOCKED
    return out


def do_mmap(m, file, addr, length, prot, flags, vm_flags, pgoff):
    """Validate and place a mapping: ``(addr or -errno, populate_len)`` (mm/mmap.c do_mmap).

    Accelerator: ``do_mmap_anon`` in linuxvm/accel/mmap.py (a plain private anonymous
    mapping, with mmap_region fused in).
    """
    fast = m.accel.do_mmap_anon
    if fast is not None:
        ret = fast(m, file, addr, length, prot, flags, vm_flags, pgoff)
        if ret is not None:
            return ret
    task = m.current
    mm = task.mm
    if not length:
        return -errno.EINVAL, 0
    if prot & PROT_READ and task.personality & READ_IMPLIES_EXEC:
        prot |= PROT_EXEC
    if addr and not flags & MAP_FIXED:      # (a 0 hint stays 0)
        addr = round_hint_to_min(m, addr)
    length = (length + _PAGE_LOW) & _PAGE_MASK                      # page_align
    if not length or length >= 1 << 64:
        return -errno.ENOMEM, 0
    if pgoff + (length >> PAGE_SHIFT) >= 1 << 64:
        return -errno.EOVERFLOW, 0
    if mm.map_count > m.sysctl.values["vm.max_map_count"]:
        return -errno.ENOMEM, 0
    addr = get_unmapped_area(m, file, addr, length, pgoff, flags)
    if addr < 0 or addr & _PAGE_LOW:
        return addr, 0
    # calc_vm_prot_bits (the PROT_* bits are the VM_* bits), def_flags and the VM_MAY* bits
    vm_flags |= (prot & _PROT_RWX) | mm.def_flags | _VM_MAY_RWX
    if flags & _MAP_FLAG_BITS:
        vm_flags |= calc_vm_flag_bits(flags)
    if flags & MAP_LOCKED and not can_do_mlock(m):
        return -errno.EPERM, 0
    if vm_flags & VM_LOCKED and mlock_future_check(m, mm, vm_flags, length):
        return -errno.EAGAIN, 0
    if file is not None:
        ftype = flags & MAP_TYPE
        if ftype == MAP_SHARED:
            if prot & PROT_WRITE and not file.f_mode_write:
                return -errno.EACCES, 0
            if file.inode.is_append and file.f_mode_write:
                return -errno.EACCES, 0
            vm_flags |= VM_SHARED | VM_MAYSHARE
            if not file.f_mode_write:
                vm_flags &= ~(VM_MAYWRITE | VM_SHARED)
        if ftype in (MAP_SHARED, MAP_PRIVATE):
            if not file.f_mode_read:
                return -errno.EACCES, 0
            if file.f_op.mmap is None:
                return -errno.ENODEV, 0
            if vm_flags & (VM_GROWSDOWN | VM_GROWSUP):
                return -errno.EINVAL, 0
        else:
            return -errno.EINVAL, 0
    else:
        ftype = flags & MAP_TYPE
        if ftype == MAP_SHARED:
            if vm_flags & (VM_GROWSDOWN | VM_GROWSUP):
                return -errno.EINVAL, 0
            pgoff = 0
            vm_flags |= VM_SHARED | VM_MAYSHARE
        elif ftype == MAP_PRIVATE:
            pgoff = addr >> PAGE_SHIFT
        else:
            return -errno.EINVAL, 0
    if flags & MAP_NORESERVE:
        if m.sysctl.values["vm.overcommit_memory"] != OVERCOMMIT_NEVER:
            vm_flags |= VM_NORESERVE
        if file is not None and is_file_hugepages(file):
            vm_flags |= VM_NORESERVE            # hugetlb pages are never overcommitted
    addr = mmap_region(m, file, addr, length, vm_flags, pgoff)
    populate = 0
    if addr >= 0 and (vm_flags & VM_LOCKED or (flags & _MAP_POPULATE_BITS) == MAP_POPULATE):
        populate = length
    return addr, populate


def count_vma_pages_range(mm, addr, end) -> int:
    vma = find_vma_intersection(mm, addr, end)
    n = 0
    while vma is not None and vma.vm_start < end:
        n += (min(end, vma.vm_end) - max(addr, vma.vm_start)) >> PAGE_SHIFT
        vma = vma.vm_next
    return n


def accountable_mapping(file, vm_flags) -> bool:
    if file is not None and is_file_hugepages(file):
        return False
    return (vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) == VM_WRITE


def mmap_region(m, file, addr, length, vm_flags, pgoff) -> int:
    """Create (or extend by merging) the VMA for a validated mapping; address or -errno."""
    mm = m.current.mm
    npages = length >> PAGE_SHIFT
    if not may_expand_vm(m, mm, vm_flags, npages):
        if not may_expand_vm(m, mm, vm_flags, npages - count_vma_pages_range(mm, addr,
                                                                             addr + length)):
            return -errno.ENOMEM
    overlaps, prev = find_vma_links(mm, addr, addr + length)
    while overlaps:
        if do_munmap(m, mm, addr, length):
            return -errno.ENOMEM
        overlaps, prev = find_vma_links(mm, addr, addr + length)
    charged = 0
    if accountable_mapping(file, vm_flags):
        charged = npages
        if security_vm_enough_memory_mm(m, mm, charged):
            return -errno.ENOMEM
        vm_flags |= VM_ACCOUNT
    vma = vma_merge(m, mm, prev, addr, addr + length, vm_flags, None, file, pgoff, None)
    if vma is None:
        vma = vm_area_alloc(m, mm, addr, addr + length, vm_flags, pgoff)
        vma.vm_page_prot = vm_get_page_prot(vm_flags)
        if file is not None and vm_flags & VM_DENYWRITE and file.inode.i_writecount > 0:
            # deny_write_access (only exec maps with MAP_DENYWRITE): the file is open for
            # writing; the linked VMA itself then keeps writers out (vma_link)
            slab_free_obj(m, "vm_area_struct", vma)
            if charged:
                vm_unacct_memory(m, charged)
            return -errno.ETXTBSY
        if file is not None:
            vma.vm_file = file.get_file()
            err = file.f_op.mmap(file, vma)
            if err:
                vma.vm_file = None
                file.fput()
                slab_free_obj(m, "vm_area_struct", vma)
                if charged:
                    vm_unacct_memory(m, charged)
                return err
            vm_flags = vma.vm_flags
        elif vm_flags & VM_SHARED:
            err = shmem_zero_setup(m, vma)
            if err:
                slab_free_obj(m, "vm_area_struct", vma)
                if charged:
                    vm_unacct_memory(m, charged)
                return err
        vma_link(m, mm, vma, prev)
    vm_stat_account(mm, vm_flags, npages)
    if vm_flags & VM_LOCKED:
        if not (vm_flags & VM_SPECIAL or vma.vm_flags & VM_HUGETLB):
            mm.locked_vm += npages
        else:
            vma.vm_flags &= VM_LOCKED_CLEAR_MASK
    vma.vm_flags |= VM_SOFTDIRTY
    vma_set_page_prot(vma)
    return addr


# -- munmap -------------------------------------------------------------------------------

def unmap_region(m, mm, vmas, prev, nxt, start, end) -> None:
    """Zap the pages of the detached ``vmas`` in [start, end) and free the page tables
    between the neighbours, under one mmu_gather (mm/mmap.c unmap_region).

    Accelerators: ``unmap_region_empty_range`` and ``unmap_region_no_tables`` in
    linuxvm/accel/mmap.py (ranges where the gather would find nothing).
    """
    accel = m.accel
    fast = accel.unmap_region_empty_range
    if fast is not None and fast(m, mm, vmas, prev, nxt, start, end):
        return
    fast = accel.unmap_region_no_tables
    if fast is not None and fast(m, mm, vmas, prev, nxt, start, end):
        return
    lru_add_drain(m)
    if start == 0 and end >= TASK_SIZE:
        # the model gathers a munmap of the whole user range as exit_mmap does (fullmm)
        tlb = tlb_gather_mmu(m, mm, 0, -1)
    else:
        tlb = tlb_gather_mmu(m, mm, start, end)
    update_hiwater_rss(mm)
    unmap_vmas(tlb, vmas, start, end)
    free_pgtables(tlb, vmas, prev.vm_end if prev is not None else FIRST_USER_ADDRESS,
                  nxt.vm_start if nxt is not None else USER_PGTABLES_CEILING)
    tlb_finish_mmu(tlb, start, end)


def remove_vma_list(m, mm, vmas) -> None:
    """Account for and release the detached ``vmas`` (mm/mmap.c remove_vma_list)."""
    update_hiwater_vm(mm)
    nr_accounted = 0
    for vma in vmas:
        n = vma_pages(vma)
        if vma.vm_flags & VM_ACCOUNT:
            nr_accounted += n
        vm_stat_account(mm, vma.vm_flags, -n)
        remove_vma(m, vma)
    vm_unacct_memory(m, nr_accounted)


def do_munmap(m, mm, start, length) -> int:
    """Remove [start, start+len) from ``mm``, splitting VMAs at the edges; 0 or -errno.

    Accelerator: ``do_munmap_one_vma`` in linuxvm/accel/mmap.py (one whole VMA, or the
    lower part of an anonymous one, in one pass).
    """
    fast = m.accel.do_munmap_one_vma
    if fast is not None:
        ret = fast(m, mm, start, length)
        if ret is not None:
            return ret
    if start & (PAGE_SIZE - 1) or start > TASK_SIZE or length > TASK_SIZE - start:
        return -errno.EINVAL
    length = (length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)             # page_align
    if length == 0:
        return -errno.EINVAL
    vma = find_vma(mm, start)
    if vma is None:
        return 0
    prev = vma.vm_prev
    end = start + length
    if vma.vm_start >= end:
        return 0
    if start > vma.vm_start:
        if end < vma.vm_end and mm.map_count >= sysctl_max_map_count(m):
            return -errno.ENOMEM
        err = __split_vma(m, mm, vma, start, 0)
        if err:
            return err
        prev = vma
        last = find_vma(mm, end)
    elif end < vma.vm_end:
        last = vma              # what find_vma(mm, end) returns: vma starts at or after start
    else:
        last = find_vma(mm, end)
    if last is not None and end > last.vm_start:
        err = __split_vma(m, mm, last, end, 1)
        if err:
            return err
    vma = prev.vm_next if prev is not None else mm.mmap
    doomed = []
    while vma is not None and vma.vm_start < end:
        doomed.append(vma)
        vma = vma.vm_next
    if mm.locked_vm:
        for v in doomed:
            if v.vm_flags & VM_LOCKED:
                mm.locked_vm -= vma_pages(v)
                munlock_vma_pages_all(m, v)
    for v in doomed:
        _unlink(m, mm, v)
    unmap_region(m, mm, doomed, prev, prev.vm_next if prev is not None else mm.mmap,
                 start, end)
    remove_vma_list(m, mm, doomed)
    return 0


def munlock_vma_pages_all(m, vma) -> None:
    """Unlock every page of a VM_LOCKED VMA that is going away (mm/internal.h)."""
    vma.vm_flags &= VM_LOCKED_CLEAR_MASK
    mlock.munlock_vma_pages_range(m, vma, vma.vm_start, vma.vm_end)


def vm_munmap(m, start, length) -> int:
    return do_munmap(m, m.current.mm, start, length)


# -- brk ----------------------------------------------------------------------------------

def check_data_rlimit(rlim, new, start, end_data, start_data) -> bool:
    if rlim < (1 << 64) - 1:
        if (new - start) + (end_data - start_data) > rlim:
            return True
    return False


def do_brk(m, addr, length) -> int:
    """Map anonymous heap memory at [addr, addr+len), merging into the heap VMA."""
    mm = m.current.mm
    length = page_align(length)
    if not length:
        return addr
    flags = VM_DATA_DEFAULT_FLAGS | VM_ACCOUNT | mm.def_flags
    err = get_unmapped_area(m, None, addr, length, 0, MAP_FIXED)
    if offset_in_page(err):
        return err
    err = mlock_future_check(m, mm, mm.def_flags, length)
    if err:
        return err
    while find_vma_links(mm, addr, addr + length)[0]:
        if do_munmap(m, mm, addr, length):
            return -errno.ENOMEM
    prev = find_vma_links(mm, addr, addr + length)[1]
    npages = length >> PAGE_SHIFT
    if not may_expand_vm(m, mm, flags, npages):
        return -errno.ENOMEM
    if mm.map_count > sysctl_max_map_count(m):
        return -errno.ENOMEM
    if security_vm_enough_memory_mm(m, mm, npages):
        return -errno.ENOMEM
    vma = vma_merge(m, mm, prev, addr, addr + length, flags, None, None, addr >> PAGE_SHIFT)
    if vma is None:
        vma = vm_area_alloc(m, mm, addr, addr + length, flags, addr >> PAGE_SHIFT)
        vma.vm_page_prot = vm_get_page_prot(flags)
        vma_link(m, mm, vma, prev)
    mm.total_vm += npages
    mm.data_vm += npages
    if flags & VM_LOCKED:
        mm.locked_vm += npages
    vma.vm_flags |= VM_SOFTDIRTY
    return addr


def sys_brk(m, brk: int) -> int:
    """The brk system call: the new break on success, the old one on failure."""
    task = m.current
    mm = task.mm
    min_brk = mm.start_brk              # CONFIG_COMPAT_BRK is off
    if brk < min_brk:
        return mm.brk
    if check_data_rlimit(task.rlimit(RLIMIT_DATA), brk, mm.start_brk, mm.end_data,
                         mm.start_data):
        return mm.brk
    newbrk = page_align(brk)
    oldbrk = page_align(mm.brk)
    if oldbrk != newbrk:
        if brk <= mm.brk:
            if do_munmap(m, mm, newbrk, oldbrk - newbrk):
                return mm.brk
        else:
            if find_vma_intersection(mm, oldbrk, newbrk + PAGE_SIZE) is not None:
                return mm.brk
            if do_brk(m, oldbrk, newbrk - oldbrk) != oldbrk:
                return mm.brk
    mm.brk = brk
    if newbrk > oldbrk and mm.def_flags & VM_LOCKED:
        gup.mm_populate(m, oldbrk, newbrk - oldbrk)
    return brk


# -- moving a VMA (for mremap) -------------------------------------------------------------

def copy_vma(m, vma, addr, length, pgoff):
    """A VMA for [addr, addr+len) like ``vma`` (merged with neighbours when possible);
    ``(new_vma, vma)`` where ``vma`` may have been replaced by the merge (mm/mmap.c)."""
    mm = vma.vm_mm
    if vma.vm_ops is None and vma.anon_vma is None:
        pgoff = addr >> PAGE_SHIFT
    overlaps, prev = find_vma_links(mm, addr, addr + length)
    if overlaps:
        return None, vma
    vma_start = vma.vm_start
    new = vma_merge(m, mm, prev, addr, addr + length, vma.vm_flags, vma.anon_vma, vma.vm_file,
                    pgoff, vma.vm_userfaultfd_ctx)
    if new is not None:
        if new.vm_start <= vma_start < new.vm_end:
            vma = new
        return new, vma
    new = vma_copy(m, vma)
    new.vm_start = addr
    new.vm_end = addr + length
    new.vm_pgoff = pgoff
    _clone_anon(m, new, vma)
    if new.vm_file is not None:
        new.vm_file.get_file()
    if new.vm_ops is not None and new.vm_ops.open is not None:
        new.vm_ops.open(new)
    vma_link(m, mm, new, prev)
    return new, vma


# -- teardown -----------------------------------------------------------------------------

def exit_mmap(m, mm) -> None:
    """Tear down every VMA of a dying address space (mm/mmap.c exit_mmap)."""
    if mm.locked_vm:
        v = mm.mmap
        while v is not None:
            if v.vm_flags & VM_LOCKED:
                munlock_vma_pages_all(m, v)
            v = v.vm_next
    vmas = []
    v = mm.mmap
    while v is not None:
        vmas.append(v)
        v = v.vm_next
    if vmas:
        lru_add_drain(m)
        tlb = tlb_gather_mmu(m, mm, 0, -1)              # fullmm
        unmap_vmas(tlb, vmas, 0, TASK_SIZE)             # (-1 as unsigned: every VMA)
        free_pgtables(tlb, vmas, FIRST_USER_ADDRESS, USER_PGTABLES_CEILING)
        tlb_finish_mmu(tlb, 0, -1)
    nr_accounted = 0
    for v in vmas:
        if v.vm_flags & VM_ACCOUNT:
            nr_accounted += vma_pages(v)
        _unlink(m, mm, v)
        remove_vma(m, v)
    vm_unacct_memory(m, nr_accounted)
