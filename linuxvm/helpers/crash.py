"""The tables of crash's ``kmem -i|-f|-p|-s``, ``ps`` and ``vm`` over a model Machine,
in crash's column layouts (``linuxvm kmem``, ``linuxvm ps``, ``linuxvm vm`` print them).
Figures come from the model's counters and structures; addresses are the model's own
(vmemmap, direct map, slab objects). Where the model has no address for a structure
(a zone's free_area array) the column shows ``-``.

>>> print(kmem_s(m).splitlines()[0])
CACHE             OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME
"""

import numpy as np

from ..arch.x86.page_types import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE, VMEMMAP_START
from ..fs.proc.task_mmu import file_d_path
from ..mm.page import PAGEFLAG_NAMES, __NR_PAGEFLAGS
from ..mm.slub_def import oo_order
from ..include.vm_event_item import NR_FREE_PAGES
from .mm import Page, STRUCT_PAGE_SIZE, for_each_vma, task_rss
from .page_alloc import for_each_zone, for_each_free_area
from .sched import for_each_task, task_state_to_char
from .slab import for_each_slab_cache, slab_cache_for_each_allocated_object


def pages_to_size(pages: int) -> str:
    """crash's pages_to_size: "7.5 GB", "305 MB", "96 KB" (one decimal, ".0" dropped).

    >>> pages_to_size(1966080), pages_to_size(78080), pages_to_size(24)
    ('7.5 GB', '305 MB', '96 KB')
    """
    b = pages * PAGE_SIZE
    if b >= 1 << 30:
        text = f"{b / (1 << 30):.1f} GB"
    elif b >= 1 << 20:
        text = f"{b / (1 << 20):.1f} MB"
    else:
        return f"{b >> 10} KB"
    return text.replace(".0 ", " ")


def _meminfo(m) -> dict:
    out = {}
    for line in m.proc.read("/proc/meminfo").splitlines():
        k, v = line.split(":", 1)
        out[k] = int(v.split()[0])
    return out


def kmem_i(m) -> str:
    """``kmem -i``: memory usage from /proc/meminfo's counters; SHARED counts the pages
    whose _count is above 1, as crash's walk of mem_map does.

    >>> print(kmem_i(m).splitlines()[0])
                     PAGES        TOTAL      PERCENTAGE
    """
    mi = _meminfo(m)
    kb = PAGE_SIZE >> 10
    total = mi["MemTotal"] // kb
    free = mi["MemFree"] // kb
    shared = int(np.count_nonzero(m.mem_map._refcount > 1))
    rows = [("TOTAL MEM", total, None), ("FREE", free, "TOTAL MEM"),
            ("USED", total - free, "TOTAL MEM"), ("SHARED", shared, "TOTAL MEM"),
            ("BUFFERS", mi["Buffers"] // kb, "TOTAL MEM"),
            ("CACHED", mi["Cached"] // kb, "TOTAL MEM"),
            ("SLAB", mi["Slab"] // kb, "TOTAL MEM"), None]
    huge_pages = (mi["Hugepagesize"] // kb)
    rows += [("TOTAL HUGE", mi["HugePages_Total"] * huge_pages, None),
             ("HUGE FREE", mi["HugePages_Free"] * huge_pages, "TOTAL HUGE"), None]
    swap = mi["SwapTotal"] // kb
    swap_free = mi["SwapFree"] // kb
    rows += [("TOTAL SWAP", swap, None), ("SWAP USED", swap - swap_free, "TOTAL SWAP"),
             ("SWAP FREE", swap_free, "TOTAL SWAP"), None]
    rows += [("COMMIT LIMIT", mi["CommitLimit"] // kb, None),
             ("COMMITTED", mi["Committed_AS"] // kb, "TOTAL LIMIT")]
    totals = {"TOTAL MEM": total, "TOTAL HUGE": rows[9][1], "TOTAL SWAP": swap,
              "TOTAL LIMIT": mi["CommitLimit"] // kb}
    out = ["                 PAGES        TOTAL      PERCENTAGE"]
    for r in rows:
        if r is None:
            out.append("")
            continue
        name, pages, of = r
        size = pages_to_size(pages) if pages else "0"
        if of is None:
            out.append(f"{name:>13}  {pages:7d}  {size:>11}         ----")
        else:
            pct = pages * 100 // totals[of] if totals[of] else 0
            out.append(f"{name:>13}  {pages:7d}  {size:>11}  {pct:3d}% of {of}")
    return "\n".join(out) + "\n"


def kmem_f(m) -> str:
    """``kmem -f``: each zone's size and free pages, then its free blocks per order, and
    the total checked against NR_FREE_PAGES.

    >>> print(kmem_f(m).splitlines()[-1])
    nr_free_pages: 60609  (verified)
    """
    out = ["NODE", "  0"]
    counted = 0
    for z in for_each_zone(m):
        out.append("ZONE  NAME        SIZE    FREE      MEM_MAP       START_PADDR  START_MAPNR")
        mem_map = VMEMMAP(z.zone_start_pfn) if z.present_pages else 0
        out.append(f"{z.idx:3d}   {z.name:<10} {z.present_pages:5d} "
                   f"{int(z.vm_stat[NR_FREE_PAGES]):7d}  {mem_map:16x} "
                   f"{z.zone_start_pfn << PAGE_SHIFT:10x} {z.zone_start_pfn:12d}")
        if not z.present_pages:
            out.append("")
            continue
        out.append("AREA    SIZE  FREE_AREA_STRUCT  BLOCKS  PAGES")
        blocks = [0] * len(z.free_area)
        for b in for_each_free_area(z):
            blocks[b.order] += 1
        for order, n in enumerate(blocks):
            out.append(f"{order:3d} {PAGE_SIZE << order >> 10:6d}k  {'-':>16}  {n:6d} "
                       f"{n << order:6d}")
            counted += n << order
        out.append("")
    total = sum(int(z.vm_stat[NR_FREE_PAGES]) for z in for_each_zone(m))
    out.append(f"nr_free_pages: {total}  " + ("(verified)" if total == counted
                                               else f"(found {counted})"))
    return "\n".join(out) + "\n"


def VMEMMAP(pfn: int) -> int:
    """The struct page address of ``pfn`` (the vmemmap's mem_map + pfn)."""
    return VMEMMAP_START + pfn * STRUCT_PAGE_SIZE


def _flag_names(flags: int) -> str:
    return ",".join(PAGEFLAG_NAMES[b] for b in range(__NR_PAGEFLAGS) if flags & (1 << b))


def kmem_p(m, start: int = 0, end: int = None) -> str:
    """``kmem -p``: one line per struct page from ``start`` up to ``end`` (exclusive; the
    whole mem_map by default): PAGE PHYSICAL MAPPING INDEX CNT FLAGS.

    >>> print(kmem_p(m, 0, 1), end="")
          PAGE        PHYSICAL      MAPPING       INDEX CNT FLAGS
    ffffea0000000000          0                0        0  1 400 reserved
    """
    mm = m.mem_map
    n = mm.nr_frames
    end = n if end is None else end
    if not 0 <= start <= end <= n:
        raise ValueError(f"pfn range {start:#x}-{end:#x} is outside mem_map (0-{n:#x})")
    out = ["      PAGE        PHYSICAL      MAPPING       INDEX CNT FLAGS"]
    for pfn in range(start, end):
        p = Page(m, pfn)
        flags = p.flags
        names = _flag_names(flags)
        out.append(f"{p.value_():16x} {pfn << PAGE_SHIFT:10x} {p.mapping:16x} "
                   f"{p.index:8d} {p._count:2d} {flags:x}" + (f" {names}" if names else ""))
    return "\n".join(out) + "\n"


def kmem_s(m) -> str:
    """``kmem -s``: every slab cache, with the objects allocated from it counted object by
    object (slab_cache_for_each_allocated_object), as crash counts them.

    >>> [l for l in kmem_s(m).splitlines() if l.endswith(" vm_area_struct")]
    ['ffff880000090600      200          1        20      1     4k  vm_area_struct']
    """
    out = ["CACHE             OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME"]
    for s in for_each_slab_cache(m):
        n = s.node[0]
        allocated = sum(1 for _ in slab_cache_for_each_allocated_object(s))
        out.append(f"{s.obj_addr:16x} {s.object_size:8d} {allocated:10d} "
                   f"{n.total_objects:9d} {n.nr_slabs:6d} {PAGE_SIZE << oo_order(s.oo) >> 10:5d}k"
                   f"  {s.name}")
    return "\n".join(out) + "\n"


def ps(m) -> str:
    """crash's ``ps``: PID PPID CPU TASK ST %MEM VSZ RSS COMM, ``>`` marking the task on a
    CPU. VSZ and RSS are in KiB: total_vm, and task_rss (the mm's counters plus the task's
    unfolded SPLIT_RSS_COUNTING deltas, which crash adds too; /proc/PID/status does not).

    >>> print(ps(m).splitlines()[0])
       PID    PPID  CPU       TASK        ST  %MEM     VSZ    RSS  COMM
    """
    total = _meminfo(m)["MemTotal"] // (PAGE_SIZE >> 10)
    out = ["   PID    PPID  CPU       TASK        ST  %MEM     VSZ    RSS  COMM"]
    for t in for_each_task(m):
        st = task_state_to_char(m, t)
        mm = t.mm
        rss = task_rss(t).total
        vsz = mm.total_vm if mm is not None else 0
        ppid = t.real_parent.pid if t.real_parent is not None else 0
        mark = ">" if st == "R" else " "
        out.append(f"{mark}{t.pid:6d} {ppid:7d} {t.cpu:4d}  {t.slab_obj:16x}  "
                   f"{ {'R': 'RU', 'S': 'IN', 'X': 'DE'}.get(st, st)}  "
                   f"{rss * 100 / total if total else 0:4.1f} {vsz << PAGE_SHIFT >> 10:7d} "
                   f"{rss << PAGE_SHIFT >> 10:6d}  {t.comm}")
    return "\n".join(out) + "\n"


def vm(m, task) -> str:
    """crash's ``vm``: the task line, the mm line (MM PGD RSS TOTAL_VM) and one line per
    VMA: VMA START END FLAGS FILE.

    >>> print(vm(m, m.tasks[1]).splitlines()[0])
    PID: 1      TASK: ffff8800...  CPU: 0   COMMAND: "prog"
    """
    out = [f"PID: {task.pid:<5d}  TASK: {task.slab_obj:x}  CPU: {task.cpu:<2d}  "
           f"COMMAND: \"{task.comm}\""]
    mm = task.mm
    if mm is None:
        return "\n".join(out) + "\n"
    rss = task_rss(task).total << PAGE_SHIFT >> 10
    tvm = mm.total_vm << PAGE_SHIFT >> 10
    out.append("       MM               PGD          RSS    TOTAL_VM")
    out.append(f"{mm.slab_obj:16x}  {PAGE_OFFSET + (mm.pgd << PAGE_SHIFT):16x}  "
               f"{str(rss) + 'k':<6} {str(tvm) + 'k':>8}")
    out.append("      VMA           START       END     FLAGS FILE")
    for v in for_each_vma(mm):
        name = file_d_path(v.vm_file) if v.vm_file is not None else ""
        out.append(f"{v.slab_obj:16x} {v.vm_start:10x} {v.vm_end:10x} {v.vm_flags:8x} "
                   f"{name}".rstrip())
    return "\n".join(out) + "\n"
