"""``linuxvm demo``: boot a machine and walk through its physical memory."""

from ..arch.x86.e820 import e820_print
from ..helpers.vtop import vtop
from ..mm.mmzone import MAX_ORDER
from ..include.vm_event_item import NR_FREE_PAGES


def _show(out, title, text):
    out.write(f"\n== {title} ==\n{text}")
    if not text.endswith("\n"):
        out.write("\n")


def run_demo(m, out) -> None:
    """Print the machine's memory map, zones and allocator state, then show one
    allocation splitting a buddy block and its free merging back."""
    _show(out, "firmware memory map (after trim_bios_range)",
          "\n".join(e820_print(m.e820, "e820")))
    res = m.memblock.reserved_by_label()
    _show(out, "boot-time reservations (memblock.reserved)",
          "\n".join(f"{k or '?':<14} {v >> 10:>10} kB" for k, v in
                    sorted(res.items(), key=lambda kv: -kv[1])))
    lines = [f"{'zone':<8}{'start_pfn':>12}{'spanned':>10}{'present':>10}{'managed':>10}"
             f"{'min':>8}{'low':>8}{'high':>8}"]
    for z in m.zones:
        if z.present_pages:
            lines.append(f"{z.name:<8}{z.zone_start_pfn:>12}{z.spanned_pages:>10}"
                         f"{z.present_pages:>10}{z.managed_pages:>10}{z.watermark[0]:>8}"
                         f"{z.watermark[1]:>8}{z.watermark[2]:>8}")
    lines.append(f"min_free_kbytes = {m.sysctl['vm.min_free_kbytes']}")
    _show(out, "zones (pages)", "\n".join(lines))
    for path in ("/proc/buddyinfo", "/proc/meminfo"):
        if m.proc.exists(path):
            text = m.proc.read(path)
            if path == "/proc/meminfo":
                text = "".join(text.splitlines(True)[:8])
            _show(out, path, text)
    # a worked example: a block split off a larger one, and merged back on free
    before = {z.name: [a.nr_free for a in z.free_area] for z in m.pgdat.zonelist}
    pfn = m.kernel.alloc_pages("GFP_KERNEL|__GFP_COMP", 3)
    zone = m.page_zone(pfn)
    after = [a.nr_free for a in zone.free_area]
    lines = [f"alloc_pages(GFP_KERNEL|__GFP_COMP, order=3) -> pfn {pfn:#x} in zone "
             f"{zone.name} (the fair-zone policy spreads allocations over the zones)",
             f"{zone.name} nr_free per order before: {before[zone.name]}",
             f"{zone.name} nr_free per order after:  {after}"]
    m.kernel.free_pages(pfn, 3)
    label = "after free_pages:"
    lines.append(label.ljust(len(f"{zone.name} nr_free per order after:  "))
                 + f"{[a.nr_free for a in zone.free_area]}")
    lines.append(f"(free pages {zone.vm_stat[NR_FREE_PAGES]}, orders 0..{MAX_ORDER - 1})")
    _show(out, "a buddy split and merge", "\n".join(lines))
    _process_walkthrough(m, out)
    m.check()
    out.write("\ninvariants: m.check() passed after every step\n")


def _status(m, p, fields):
    lines = m.proc.read(f"/proc/{p.pid}/status").splitlines()
    return "  ".join(l.replace("\t", " ").replace("  ", " ").strip()
                     for l in lines if l.split(":")[0] in fields)


def _process_walkthrough(m, out) -> None:
    """Demand paging, the zero page, fork and copy-on-write, step by step."""
    fields = ("VmSize", "VmRSS", "RssAnon", "VmPTE")
    lines = []
    p = m.spawn("demo", uid=1000)
    size = 10 << 20
    a = p.mmap(None, size, 3, 0x22)          # PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS
    m.check()
    lines.append(f"mmap 10 MiB at {a:#x}:            {_status(m, p, fields)}")
    p.touch(a, size // 2)
    m.check()
    lines.append(f"read the first 5 MiB (zero page): {_status(m, p, fields)}  "
                 f"min_flt={p.task.min_flt}")
    p.write(a, b"hello, linuxvm")
    p.touch(a, size, write=True)
    m.check()
    lines.append(f"write all 10 MiB:                 {_status(m, p, fields)}  "
                 f"min_flt={p.task.min_flt}")
    cached = p.task.rss_stat.count[1]
    lines.append(f"  (RssAnon lags by {cached} pages: 4.6 folds each task's RSS cache into the "
                 f"mm every 64 faults, SPLIT_RSS_COUNTING)")
    free = m.nr_free_pages()
    c = p.fork()
    m.check()
    lines.append(f"fork: child {c.pid} shares every page; free pages {free} -> "
                 f"{m.nr_free_pages()} (page tables and kernel objects only)")
    c.write(a, b"HELLO")
    m.check()
    lines.append(f"child writes page 0: parent reads {p.read(a, 5)!r}, child reads "
                 f"{c.read(a, 5)!r} (copy-on-write)")
    lines.append("")
    lines.append("where the child's first page lives now (vtop):")
    lines.extend(str(vtop(c.mm, a)).splitlines())
    c.exit()
    p.exit()
    m.check()
    lines.append(f"both exited: free pages back to {m.nr_free_pages()}")
    _show(out, "a process: demand paging, fork and copy-on-write", "\n".join(lines))
