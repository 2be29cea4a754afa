"""The physical memory map: one cell per frame (or per group of frames on a big machine),
coloured by owner, by zone and by the migratetype of its pageblock.

>>> cls = classify_frames(m)
>>> int((cls == OWNER_FREE).sum()) == m.nr_free_pages()
True
"""

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from ..helpers.page_alloc import for_each_pcp_page
from ..helpers.mm import page_to_pfn
from ..mm.mmzone import migratetype_names, pageblock_order
from ..mm.page import (NULL, PAGE_BUDDY_MAPCOUNT_VALUE, PAGE_MAPPING_ANON, PG_reserved,
                       PG_slab)
from . import output

# owner classes, in the order they are decided (the first that holds wins)
OWNER_FREE = 0          # on a buddy free list (counted in NR_FREE_PAGES)
OWNER_PCP = 1           # on a per-CPU list (allocated as far as NR_FREE_PAGES knows)
OWNER_PGTABLE = 2       # a page-table page of any mm, the kernel's included
OWNER_SLAB = 3          # a SLUB slab (PG_slab on the head page)
OWNER_RESERVED = 4      # PG_reserved: kernel image, memblock reservations, holes
OWNER_ANON = 5          # page->mapping has PAGE_MAPPING_ANON
OWNER_FILE = 6          # page->mapping is an address_space: page cache, shmem
OWNER_KERNEL = 7        # any other allocated frame (alloc_pages by the kernel, stacks)
OWNER_NAMES = ["free (buddy)", "pcp", "page tables", "slab", "reserved", "anon",
               "file / page cache", "kernel"]
OWNER_COLOURS = ["#e8e8e8", "#ffd92f", "#e41a1c", "#ff7f00", "#303030", "#377eb8",
                 "#4daf4a", "#984ea3"]
ZONE_COLOURS = ["#fdb462", "#80b1d3", "#b3de69", "#fccde5"]
MT_COLOURS = ["#fb8072", "#8dd3c7", "#bebada", "#ffffb3", "#d9d9d9"]
ABSENT = "#ffffff"
MAX_CELLS = 1 << 18      # at most 512 x 512 cells a panel: bigger machines group frames


def classify_frames(m) -> np.ndarray:
    """The owner class (``OWNER_*``) of every frame, from mem_map, the free lists, the
    per-CPU lists and the page-table registry; compound tails take their head's owner."""
    mem = m.mem_map
    n = mem.nr_frames
    pfns = np.arange(n)
    head = np.where(mem.compound_head >= 0, mem.compound_head, pfns)
    hflags = mem.flags[head]
    hmapping = mem.mapping[head]
    cls = np.full(n, OWNER_KERNEL, dtype=np.int8)
    file = (hmapping != 0) & ((hmapping & PAGE_MAPPING_ANON) == 0)
    cls[file] = OWNER_FILE
    cls[(hmapping & PAGE_MAPPING_ANON) != 0] = OWNER_ANON
    cls[(mem.flags & np.uint64(1 << PG_reserved)) != 0] = OWNER_RESERVED
    cls[(hflags & np.uint64(1 << PG_slab)) != 0] = OWNER_SLAB
    tables = np.fromiter(m.pgtables.keys(), dtype=np.int64, count=len(m.pgtables))
    cls[tables] = OWNER_PGTABLE
    # buddy blocks: PageBuddy marks the first frame, page_order (private) the size
    heads = np.flatnonzero(mem._mapcount == PAGE_BUDDY_MAPCOUNT_VALUE)
    sizes = np.left_shift(1, mem.private[heads])
    starts = np.repeat(heads, sizes)
    offsets = np.arange(starts.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    cls[starts + offsets] = OWNER_FREE
    pcp = [page_to_pfn(p.page) for p in for_each_pcp_page(m)]
    cls[np.asarray(pcp, dtype=np.int64)] = OWNER_PCP
    return cls


def zone_of_frames(m) -> np.ndarray:
    """Each frame's zone index (the zone whose span holds it), -1 outside every zone."""
    out = np.full(m.mem_map.nr_frames, -1, dtype=np.int8)
    for z in m.zones:
        if z.spanned_pages:
            out[z.zone_start_pfn:z.zone_start_pfn + z.spanned_pages] = z.idx
    return out


def migratetype_of_frames(m) -> np.ndarray:
    """Each frame's pageblock migratetype (get_pageblock_migratetype for every frame)."""
    n = m.mem_map.nr_frames
    mt = (m.pgdat.pageblock_flags.bits & 7).astype(np.int8)
    return np.repeat(mt, 1 << pageblock_order)[:n]


def _grid(values: np.ndarray, nr_classes: int):
    """Fold the per-frame classes into a square-ish grid: (cells, frames per cell, width).
    A cell of several frames shows the class most of them have."""
    n = values.size
    per_cell = 1
    while -(-n // per_cell) > MAX_CELLS:
        per_cell <<= 1
    cells = -(-n // per_cell)
    width = 1 << max(4, int(np.ceil(np.log2(np.sqrt(cells)))))
    rows = -(-cells // width)
    padded = np.full(rows * width * per_cell, -1, dtype=np.int16)
    padded[:n] = values
    if per_cell > 1:
        groups = padded.reshape(-1, per_cell)
        counts = np.stack([(groups == c).sum(axis=1) for c in range(nr_classes)])
        folded = np.where(counts.max(axis=0) > 0, counts.argmax(axis=0), -1)
    else:
        folded = padded
    return folded.reshape(rows, width), per_cell, width


def _panel(ax, values, names, colours, title):
    k = len(names)
    grid, per_cell, width = _grid(values, k)
    cmap = ListedColormap([ABSENT] + list(colours))
    ax.imshow(grid + 1, cmap=cmap, vmin=0, vmax=k, interpolation="nearest", aspect="auto")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(f"pfn mod {width * per_cell}" if per_cell == 1
                  else f"{per_cell} frames a cell, {width} cells a row", fontsize=8)
    ax.set_ylabel(f"pfn / {width * per_cell}", fontsize=8)
    ax.tick_params(labelsize=7)
    counts = np.bincount(values[values >= 0].astype(np.int64), minlength=k)
    handles = [Patch(facecolor=colours[i], edgecolor="#999999", label=f"{names[i]}: {counts[i]}")
               for i in range(k) if counts[i]]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.08),
              fontsize=7, ncol=2, frameon=False)


PANELS = ("owner", "zone", "migratetype")


def physical_map(m, path, panels=PANELS) -> str:
    """Draw the physical memory map of machine ``m`` to ``path`` (.png or .svg): one
    panel per entry of ``panels`` ("owner", "zone", "migratetype"). Returns the path."""
    output.check_path(path)
    if isinstance(panels, str):
        panels = (panels,)
    bad = [p for p in panels if p not in PANELS]
    if bad or not panels:
        raise ValueError(f"panels must be some of {PANELS}, not {panels!r}")
    fig = output.new_figure(4.2 * len(panels), 5.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, kind in zip(axes, panels):
        if kind == "owner":
            _panel(ax, classify_frames(m), OWNER_NAMES, OWNER_COLOURS, "owner")
        elif kind == "zone":
            _panel(ax, zone_of_frames(m), [z.name for z in m.zones], ZONE_COLOURS, "zone")
        else:
            _panel(ax, migratetype_of_frames(m), migratetype_names, MT_COLOURS,
                   "pageblock migratetype")
    fig.suptitle(f"physical memory: {m.mem_map.nr_frames} frames of 4 KiB", fontsize=11)
    return output.save(fig, path)
