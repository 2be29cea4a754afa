"""Fragmentation of the buddy free lists: the unusable free space index per order of
each populated zone (debugfs extfrag/unusable_index), as bars, over the free block
counts per order (/proc/buddyinfo).

>>> unusable_index_table(m)[0][0]
'DMA'
"""

import numpy as np

from ..fs.proc.vmstat import populated_zones, unusable_free_index
from ..mm.mmzone import MAX_ORDER
from ..mm.vmstat import fill_contig_page_info
from . import output

ZONE_COLOURS = ["#fdb462", "#80b1d3", "#b3de69", "#fccde5"]


def unusable_index_table(m) -> list:
    """[(zone name, [unusable_free_index(order) for each order])] for each populated zone,
    in thousandths, as mm/vmstat.c's unusable_show computes them."""
    return [(z.name, [unusable_free_index(o, fill_contig_page_info(z, o))
                      for o in range(MAX_ORDER)])
            for z in populated_zones(m)]


def fragmentation(m, path) -> str:
    """Draw the unusable free space index per order and zone, and the free blocks per
    order, of machine ``m`` to ``path`` (.png or .svg). Returns the path."""
    output.check_path(path)
    table = unusable_index_table(m)
    zones = populated_zones(m)
    fig = output.new_figure(7.5, 6.0)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    orders = np.arange(MAX_ORDER)
    width = 0.8 / max(1, len(table))
    for i, ((name, idx), z) in enumerate(zip(table, zones)):
        x = orders - 0.4 + width * (i + 0.5)
        colour = ZONE_COLOURS[z.idx % len(ZONE_COLOURS)]
        top.bar(x, np.asarray(idx) / 1000, width, label=name, color=colour,
                edgecolor="#555555", linewidth=0.5)
        blocks = [z.free_area[o].nr_free for o in orders]
        bottom.bar(x, blocks, width, label=name, color=colour, edgecolor="#555555",
                   linewidth=0.5)
    top.set_ylim(0, 1.05)
    top.set_ylabel("unusable free space index")
    top.set_title("share of free memory unusable for an order-n allocation\n"
                  "(free_pages - suitable blocks << n) / free_pages", fontsize=10)
    top.legend(fontsize=8, title="zone", title_fontsize=8)
    top.grid(axis="y", linewidth=0.3)
    bottom.set_yscale("symlog", linthresh=1)
    bottom.set_ylabel("free blocks (buddyinfo)")
    bottom.set_xlabel("order")
    bottom.set_xticks(orders)
    bottom.grid(axis="y", linewidth=0.3)
    fig.suptitle(f"fragmentation: {m.nr_free_pages()} free pages", fontsize=11)
    return output.save(fig, path)
