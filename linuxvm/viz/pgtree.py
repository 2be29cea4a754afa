"""A process's page-table tree: the PGD, and the PUD, PMD and PTE tables its present
entries lead to, each with its count of present entries, drawn left to right.

>>> walk_page_table_tree(m, 1).level
'PGD'
"""

from dataclasses import dataclass, field

import numpy as np

from ..arch.x86.page_types import (KERNEL_PGD_BOUNDARY, PAGE_SHIFT, PGDIR_SHIFT, PMD_SHIFT,
                                   PUD_SHIFT)
from ..arch.x86.pgtable import read_array
from ..arch.x86.pgtable_types import _PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_PSE, PTE_PFN_MASK
from ..helpers.sched import find_task
from . import output

LEVELS = ("PGD", "PUD", "PMD", "PTE")
SHIFTS = (PGDIR_SHIFT, PUD_SHIFT, PMD_SHIFT, PAGE_SHIFT)
LEVEL_COLOURS = ["#e41a1c", "#ff7f00", "#4daf4a", "#377eb8"]
MAX_CHILDREN = 12          # children drawn per table; the rest become one "+N more" box


@dataclass
class Table:
    """One page-table page: its level, frame, the index of the entry pointing to it in
    its parent, the first address it maps, its present and huge entries, its children."""
    level: str
    pfn: int
    index: int
    start: int
    present: int
    huge: int = 0
    children: list = field(default_factory=list)


def _present(entries: np.ndarray) -> np.ndarray:
    # pte_present/pmd_present: PRESENT, or PROTNONE (a NUMA-hinting or PROT_NONE entry)
    return (entries & np.uint64(_PAGE_PRESENT | _PAGE_PROTNONE)) != 0


def _walk(m, pfn: int, depth: int, index: int, start: int) -> Table:
    entries = np.asarray(read_array(m, pfn))
    if depth == 0:
        entries = entries[:KERNEL_PGD_BOUNDARY]     # the user half; the rest is shared
    present = _present(entries)
    huge = present & ((entries & np.uint64(_PAGE_PSE)) != 0) if depth in (1, 2) else \
        np.zeros_like(present)
    t = Table(LEVELS[depth], pfn, index, start, int(present.sum()), int(huge.sum()))
    if depth < 3:
        for i in np.flatnonzero(present & ~huge).tolist():
            child = int(entries[i] & np.uint64(PTE_PFN_MASK)) >> PAGE_SHIFT
            t.children.append(_walk(m, child, depth + 1, i, start + (i << SHIFTS[depth])))
    return t


def walk_page_table_tree(m, pid: int) -> Table:
    """The page-table tree of process ``pid`` (its user half), read without changing it."""
    task = find_task(m, pid)
    if task is None:
        raise ValueError(f"no process with pid {pid}")
    if task.mm is None:
        raise ValueError(f"pid {pid} is a kernel thread or has exited: no page tables")
    return _walk(m, task.mm.pgd, 0, 0, 0)


def _label(t: Table) -> str:
    text = f"{t.level} [{t.index}] pfn {t.pfn:#x}\n{t.present}/512 present"
    if t.huge:
        text += f", {t.huge} huge"
    if t.level != "PGD":
        text += f"\n@ {t.start:#x}"
    return text


def _layout(t: Table, depth: int, rows: list, boxes: list, links: list) -> float:
    """Place ``t`` and its drawn children; returns its row (leaves take rows in order)."""
    shown = t.children[:MAX_CHILDREN]
    ys = [_layout(c, depth + 1, rows, boxes, links) for c in shown]
    hidden = t.children[MAX_CHILDREN:]
    if hidden:
        y = rows[0]
        rows[0] += 1
        more = sum(c.present for c in hidden)
        boxes.append((depth + 1, y, f"+{len(hidden)} more {hidden[0].level} tables\n"
                                    f"{more} present entries", "#cccccc"))
        ys.append(y)
    if ys:
        y = sum(ys) / len(ys)
    else:
        y = rows[0]
        rows[0] += 1
    links.extend((depth, y, depth + 1, cy) for cy in ys)
    boxes.append((depth, y, _label(t), LEVEL_COLOURS[depth]))
    return y


def page_table_tree(m, pid: int, path) -> str:
    """Draw process ``pid``'s page-table tree to ``path`` (.png or .svg); at most
    MAX_CHILDREN children a table are drawn, the others summed in one box."""
    output.check_path(path)
    tree = walk_page_table_tree(m, pid)
    rows, boxes, links = [0], [], []
    _layout(tree, 0, rows, boxes, links)
    n = max(1, rows[0])
    fig = output.new_figure(11, max(2.5, 0.42 * n + 1.0))
    ax = fig.subplots()
    for x0, y0, x1, y1 in links:
        ax.plot([x0 + 0.38, x1 - 0.38], [y0, y1], color="#888888", linewidth=0.7)
    for x, y, text, colour in boxes:
        ax.text(x, y, text, ha="center", va="center", fontsize=6.5, family="monospace",
                bbox=dict(boxstyle="round,pad=0.3", facecolor=colour, alpha=0.35,
                          edgecolor=colour))
    ax.set_xlim(-0.5, 3.5)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xticks(range(4), LEVELS)
    ax.set_yticks([])
    for side in ("left", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.xaxis.tick_top()
    counts = _count(tree)
    ax.set_title(f"page tables of pid {pid} ({find_task(m, pid).comm}): "
                 + ", ".join(f"{counts[lv]} {lv}" for lv in LEVELS), fontsize=10)
    return output.save(fig, path)


def _count(t: Table, out=None) -> dict:
    out = out if out is not None else dict.fromkeys(LEVELS, 0)
    out[t.level] += 1
    for c in t.children:
        _count(c, out)
    return out
