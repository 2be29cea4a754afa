"""/proc/PID/maps, smaps and statm (fs/proc/task_mmu.c)."""

from ...arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE
from ...include.mm import (VM_READ, VM_WRITE, VM_EXEC, VM_MAYSHARE, VM_SHARED, VM_GROWSDOWN, VM_LOCKED,
                            show_vm_flags)
from ...mm.mm_types import MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES, MM_SWAPENTS
from ...mm.pagewalk import smaps_account, vma_ptes, PSS_SHIFT
from ...mm.shmem import shmem_swap_usage
from ...arch.x86.vsyscall_64 import get_gate_vma

MAPS_NAME_COLUMN = 25 + 8 * 6 - 1      # seq_setwidth(m, 25 + sizeof(void *) * 6 - 1)


def get_mm_counter(task, mm, member: int) -> int:
    # mm->rss_stat plus the unfolded per-task deltas of SPLIT_RSS_COUNTING are not summed
    # by readers in 4.6 (get_mm_counter reads only the mm counter, clamped at 0)
    return max(mm.rss_stat[member], 0)


def get_mm_rss(task, mm) -> int:
    return sum(get_mm_counter(task, mm, i) for i in (MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES))


def stack_guard_page_start(vma, addr) -> bool:
    prev = vma.vm_prev
    return bool(vma.vm_flags & VM_GROWSDOWN and vma.vm_start == addr and
                not (prev is not None and prev.vm_end == addr and prev.vm_flags & VM_GROWSDOWN))


def file_d_path(file) -> str:
    """The path d_path prints for an open file: " (deleted)" after the name of a file
    whose last link is gone (fs/d_path.c prepend_path's d_unlinked test)."""
    path = file.path
    if file.inode.i_nlink == 0 and not path.endswith(" (deleted)"):
        path += " (deleted)"
    return path


def vma_name(task, mm, vma):
    if vma.vm_file is not None:
        return file_d_path(vma.vm_file)
    ops = vma.vm_ops
    if ops is not None and ops.name is not None:
        return ops.name(vma)             # [vdso], [vvar], [vsyscall]
    if vma.vm_start <= mm.brk and vma.vm_end >= mm.start_brk:
        return "[heap]"
    if mm.start_stack and vma.vm_start <= mm.start_stack <= vma.vm_end:
        return "[stack]"
    return None


def show_map_vma(task, mm, vma) -> str:
    start, end = vma.vm_start, vma.vm_end
    if stack_guard_page_start(vma, start):
        start += PAGE_SIZE
    flags = vma.vm_flags
    dev, ino, pgoff = (0, 0), 0, 0
    if vma.vm_file is not None:
        inode = vma.vm_file.inode
        dev, ino, pgoff = inode.dev, inode.i_ino, vma.vm_pgoff << PAGE_SHIFT
    line = (f"{start:08x}-{end:08x} "
            f"{'r' if flags & VM_READ else '-'}{'w' if flags & VM_WRITE else '-'}"
            f"{'x' if flags & VM_EXEC else '-'}{'s' if flags & VM_MAYSHARE else 'p'} "
            f"{pgoff:08x} {dev[0]:02x}:{dev[1]:02x} {ino} ")
    name = vma_name(task, mm, vma)
    if name is not None:
        line = line.ljust(MAPS_NAME_COLUMN) + " " + name
    return line + "\n"


def render_maps(m, task) -> str:
    mm = task.mm
    if mm is None:
        return ""
    out = []
    v = mm.mmap
    while v is not None:
        out.append(show_map_vma(task, mm, v))
        v = v.vm_next
    gate = get_gate_vma(mm)              # m_next: the gate VMA after the last one
    if gate is not None:
        out.append(show_map_vma(task, mm, gate))
    return "".join(out)


class MemSizeStats:
    """struct mem_size_stats (bytes, or bytes << PSS_SHIFT for pss)."""

    __slots__ = ("resident", "pss", "shared_clean", "shared_dirty", "private_clean",
                 "private_dirty", "referenced", "anonymous", "anonymous_thp", "swap",
                 "shared_hugetlb", "private_hugetlb", "swap_pss")

    def __init__(self):
        for f in self.__slots__:
            setattr(self, f, 0)


def smaps_walk(m, vma, mss) -> None:
    """Account the pages mapped in ``vma`` (walk_page_vma with smaps_pte_range; the walk
    lives in mm/pagewalk.py), and the pages of a shmem file it maps that are out on swap:
    all of its range for a shared or read-only mapping, only the holes for a private
    writable one (the rest are its own COW copies) (show_smap's shmem_swap_usage,
    smaps_pte_hole)."""
    file = vma.vm_file
    info = file.inode.shmem_info if file is not None else None
    if info is not None:
        swapped = shmem_swap_usage(m, vma)
        if not swapped or vma.vm_flags & VM_SHARED or not vma.vm_flags & VM_WRITE:
            mss.swap = swapped
        else:
            addrs, _ = vma_ptes(m, vma)
            taken = set(addrs.tolist())
            for index in info.swap:
                addr = vma.vm_start + ((index - vma.vm_pgoff) << PAGE_SHIFT)
                if vma.vm_start <= addr < vma.vm_end and addr not in taken:
                    mss.swap += PAGE_SIZE
    smaps_account(m, vma, mss)




def render_smaps(m, task) -> str:
    mm = task.mm
    if mm is None:
        return ""
    out = []
    vmas = []
    v = mm.mmap
    while v is not None:
        vmas.append(v)
        v = v.vm_next
    gate = get_gate_vma(mm)
    if gate is not None:
        vmas.append(gate)
    for v in vmas:
        mss = MemSizeStats()
        if v.vm_mm is not None:          # walk_page_vma: the gate VMA has no mm to walk
            smaps_walk(m, v, mss)
        k = lambda b: b >> 10        # noqa: E731
        out.append(show_map_vma(task, mm, v))
        out.append(
            f"Size:           {(v.vm_end - v.vm_start) >> 10:8d} kB\n"
            f"Rss:            {k(mss.resident):8d} kB\n"
            f"Pss:            {mss.pss >> (10 + PSS_SHIFT):8d} kB\n"
            f"Shared_Clean:   {k(mss.shared_clean):8d} kB\n"
            f"Shared_Dirty:   {k(mss.shared_dirty):8d} kB\n"
            f"Private_Clean:  {k(mss.private_clean):8d} kB\n"
            f"Private_Dirty:  {k(mss.private_dirty):8d} kB\n"
            f"Referenced:     {k(mss.referenced):8d} kB\n"
            f"Anonymous:      {k(mss.anonymous):8d} kB\n"
            f"AnonHugePages:  {k(mss.anonymous_thp):8d} kB\n"
            f"Shared_Hugetlb: {k(mss.shared_hugetlb):8d} kB\n"
            f"Private_Hugetlb: {k(mss.private_hugetlb):7d} kB\n"
            f"Swap:           {k(mss.swap):8d} kB\n"
            f"SwapPss:        {mss.swap_pss >> (10 + PSS_SHIFT):8d} kB\n"
            f"KernelPageSize: {PAGE_SIZE >> 10:8d} kB\n"
            f"MMUPageSize:    {PAGE_SIZE >> 10:8d} kB\n"
            f"Locked:         {(mss.pss >> (10 + PSS_SHIFT)) if v.vm_flags & VM_LOCKED else 0:8d}"
            f" kB\n")
        out.append("VmFlags: " + "".join(f"{n} " for n in show_vm_flags(v.vm_flags).split())
                   + "\n")
    return "".join(out)


def text_bytes(mm) -> int:
    """PAGE_ALIGN(end_code) - (start_code & PAGE_MASK): VmExe and statm's text."""
    return (((mm.end_code + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
            - (mm.start_code & ~(PAGE_SIZE - 1)))


def task_statm(task, mm):
    """(size, resident, shared, text, data) in pages (fs/proc/task_mmu.c task_statm)."""
    shared = get_mm_counter(task, mm, MM_FILEPAGES) + get_mm_counter(task, mm, MM_SHMEMPAGES)
    text = text_bytes(mm) >> PAGE_SHIFT
    data = mm.data_vm + mm.stack_vm
    resident = shared + get_mm_counter(task, mm, MM_ANONPAGES)
    return mm.total_vm, resident, shared, text, data


def render_statm(m, task) -> str:
    mm = task.mm
    if mm is None:
        return "0 0 0 0 0 0 0\n"
    size, resident, shared, text, data = task_statm(task, mm)
    return f"{size} {resident} {shared} {text} 0 {data} 0\n"


def task_mem(task, mm) -> str:
    """The Vm*/Rss* lines of /proc/PID/status (task_mem)."""
    anon = get_mm_counter(task, mm, MM_ANONPAGES)
    file = get_mm_counter(task, mm, MM_FILEPAGES)
    shmem = get_mm_counter(task, mm, MM_SHMEMPAGES)
    hiwater_vm = max(mm.total_vm, mm.hiwater_vm)
    total_rss = anon + file + shmem
    hiwater_rss = max(total_rss, mm.hiwater_rss)
    text = text_bytes(mm) >> 10
    lib = (mm.exec_vm << 2) - text
    swap = get_mm_counter(task, mm, MM_SWAPENTS)
    ptes = 512 * 8 * mm.nr_ptes
    pmds = 512 * 8 * mm.nr_pmds
    rows = [("VmPeak", hiwater_vm << 2), ("VmSize", mm.total_vm << 2),
            ("VmLck", mm.locked_vm << 2), ("VmPin", mm.pinned_vm << 2),
            ("VmHWM", hiwater_rss << 2), ("VmRSS", total_rss << 2),
            ("RssAnon", anon << 2), ("RssFile", file << 2), ("RssShmem", shmem << 2),
            ("VmData", mm.data_vm << 2), ("VmStk", mm.stack_vm << 2), ("VmExe", text),
            ("VmLib", lib), ("VmPTE", ptes >> 10), ("VmPMD", pmds >> 10),
            ("VmSwap", swap << 2)]
    return "".join(f"{name}:\t{val:8d} kB\n" for name, val in rows)
