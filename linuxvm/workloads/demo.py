"""``linuxvm demo``: boot a machine and walk through its physical memory."""

from ..arch.x86.setup import e820_print, e820_type_names
from ..mm.mmzone import MAX_ORDER
from ..mm.vmstat_items import NR_FREE_PAGES


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
    # a worked example: the order-0 split from the largest block
    zone = m.pgdat.zonelist[0]
    before = [a.nr_free for a in zone.free_area]
    pfn = m.kernel.alloc_pages("GFP_KERNEL|__GFP_COMP", 3)
    after = [a.nr_free for a in zone.free_area]
    lines = [f"alloc_pages(GFP_KERNEL|__GFP_COMP, order=3) -> pfn {pfn:#x} in zone "
             f"{m.page_zone(pfn).name}",
             f"{zone.name} nr_free per order before: {before}",
             f"{zone.name} nr_free per order after:  {after}"]
    m.kernel.free_pages(pfn, 3)
    lines.append(f"after free_pages:                  {[a.nr_free for a in zone.free_area]}")
    lines.append(f"(free pages {zone.vm_stat[NR_FREE_PAGES]}, orders 0..{MAX_ORDER - 1})")
    _show(out, "a buddy split and merge", "\n".join(lines))
    m.check()
    out.write("\ninvariants: m.check() passed\n")
