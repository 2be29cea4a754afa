"""Pictures of model state (matplotlib, Agg: no display): the physical memory map, the
fragmentation of the free lists, a process's page-table tree, and free pages and RSS over
a scenario's snapshots (``timeline``), as PNG or SVG by the
file's suffix. Plotting only reads the model; the machine is left as it was.

>>> import linuxvm as lv
>>> m = lv.Machine(ram="256M")
>>> lv.viz.physical_map(m, "/tmp/physmap.png")          # doctest: +SKIP
>>> lv.viz.fragmentation(m, "/tmp/frag.svg")            # doctest: +SKIP
>>> lv.viz.page_table_tree(m, pid, "/tmp/pagetables.png")  # doctest: +SKIP

matplotlib takes about a second to import, so the plotting modules load on first use
(PEP 562 module ``__getattr__``): ``import linuxvm`` and the other commands of the CLI
do not pay for it.
"""

import importlib

# public name → the module of linuxvm.viz that defines it
_LAZY = {
    "physical_map": "physmap", "classify_frames": "physmap", "OWNER_NAMES": "physmap",
    "fragmentation": "frag", "unusable_index_table": "frag",
    "page_table_tree": "pgtree", "walk_page_table_tree": "pgtree",
    "KINDS": "kinds", "plot": "kinds",
    "timeline": "series", "snapshot_series": "series",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'linuxvm.viz' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
