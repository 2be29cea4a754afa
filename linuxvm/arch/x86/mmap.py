"""The x86-64 address-space layout: mmap_base, ASLR offsets, brk randomisation and the
two get_unmapped_area policies (arch/x86/mm/mmap.c, arch/x86/kernel/sys_x86_64.c,
arch/x86/kernel/process.c arch_randomize_brk)."""

import errno

from ...include.personality import ADDR_NO_RANDOMIZE, ADDR_COMPAT_LAYOUT
from ...include.resource import RLIMIT_STACK, RLIM_INFINITY
from ...include.sched import PF_RANDOMIZE
from ...mm.mman import MAP_FIXED, MAP_32BIT
from ...mm.vma import find_vma, unmapped_area, unmapped_area_topdown
from .page_types import PAGE_SHIFT, PAGE_SIZE, TASK_SIZE, TASK_UNMAPPED_BASE

STACK_RND_MASK = 0x3fffff
BRK_RANDOM_RANGE = 0x02000000         # arch_randomize_brk: within 32 MiB of the end of bss


def page_align(x: int) -> int:
    return (x + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def get_random_long(m) -> int:
    return m.rng.getrandbits(64)


def stack_maxrandom_size(task) -> int:
    if task.flags & PF_RANDOMIZE and not task.personality & ADDR_NO_RANDOMIZE:
        return STACK_RND_MASK << PAGE_SHIFT
    return 0


def mmap_is_legacy(m, task) -> bool:
    if task.personality & ADDR_COMPAT_LAYOUT:
        return True
    if task.rlimit(RLIMIT_STACK) == RLIM_INFINITY:
        return True
    return bool(m.sysctl["vm.legacy_va_layout"])


def arch_mmap_rnd(m) -> int:
    mmap_rnd_bits = m.sysctl.values["vm.mmap_rnd_bits"]
    return (get_random_long(m) & ((1 << mmap_rnd_bits) - 1)) << PAGE_SHIFT


def mmap_base(task, rnd: int) -> int:
    """TASK_SIZE minus the stack rlimit (clamped to [MIN_GAP, MAX_GAP]) and the offset."""
    gap = task.rlimit(RLIMIT_STACK)
    min_gap = (128 << 20) + stack_maxrandom_size(task)
    max_gap = TASK_SIZE // 6 * 5
    if gap < min_gap:
        gap = min_gap
    elif gap > max_gap:
        gap = max_gap
    return page_align(TASK_SIZE - gap - rnd)


def arch_pick_mmap_layout(m, task, mm) -> None:
    """Choose mmap_base and the get_unmapped_area policy for a new address space."""
    rnd = arch_mmap_rnd(m) if task.flags & PF_RANDOMIZE else 0
    mm.mmap_legacy_base = TASK_UNMAPPED_BASE + rnd
    if mmap_is_legacy(m, task):
        mm.mmap_base = mm.mmap_legacy_base
        mm.get_unmapped_area = arch_get_unmapped_area
    else:
        mm.mmap_base = mmap_base(task, rnd)
        mm.get_unmapped_area = arch_get_unmapped_area_topdown


def randomize_range(m, start: int, end: int, length: int) -> int:
    """A page-aligned address in [start, end - length), or 0 (drivers/char/random.c)."""
    if end <= start + length:
        return 0
    span = end - length - start
    return page_align((m.rng.getrandbits(32) % span) + start)


def arch_randomize_brk(m, mm) -> int:
    r = randomize_range(m, mm.brk, mm.brk + BRK_RANDOM_RANGE, 0)
    return r if r else mm.brk


def find_start_end(m, mm, flags):
    """The search window: MAP_32BIT maps in [1 GiB, 2 GiB) (randomised start), else from
    mmap_legacy_base to TASK_SIZE (arch/x86/kernel/sys_x86_64.c)."""
    if flags & MAP_32BIT:
        begin, end = 0x40000000, 0x80000000
        if m.current.flags & PF_RANDOMIZE:
            new_begin = randomize_range(m, begin, begin + 0x02000000, 0)
            if new_begin:
                begin = new_begin
        return begin, end
    return mm.mmap_legacy_base, TASK_SIZE


def arch_get_unmapped_area(m, mm, file, addr, length, pgoff, flags) -> int:
    """Bottom-up search from mmap_legacy_base (the legacy layout); address or -errno."""
    if flags & MAP_FIXED:
        return addr
    begin, end = find_start_end(m, mm, flags)
    if length > end:
        return -errno.ENOMEM
    if addr:
        addr = page_align(addr)
        vma = find_vma(mm, addr)
        if end - length >= addr and (vma is None or addr + length <= vma.vm_start):
            return addr
    # va_align (AMD family 15h only) is off: no alignment mask for files either
    got = unmapped_area(mm, length, begin, end, 0, pgoff << PAGE_SHIFT)
    return -errno.ENOMEM if got is None else got


def arch_get_unmapped_area_topdown(m, mm, file, addr0, length, pgoff, flags) -> int:
    """Top-down search below mmap_base, falling back to bottom-up; address or -errno."""
    addr = addr0
    if length > TASK_SIZE:
        return -errno.ENOMEM
    if flags & MAP_FIXED:
        return addr
    if flags & MAP_32BIT:                        # the legacy search knows the 2 GiB window
        return arch_get_unmapped_area(m, mm, file, addr0, length, pgoff, flags)
    if addr:
        addr = page_align(addr)
        vma = find_vma(mm, addr)
        if TASK_SIZE - length >= addr and (vma is None or addr + length <= vma.vm_start):
            return addr
    got = unmapped_area_topdown(mm, length, PAGE_SIZE, mm.mmap_base, 0, pgoff << PAGE_SHIFT)
    if got is not None:
        return got
    return arch_get_unmapped_area(m, mm, file, addr0, length, pgoff, flags)
