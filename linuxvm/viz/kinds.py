"""``linuxvm plot KIND``'s kinds: one name for each picture function."""

from .frag import fragmentation
from .physmap import physical_map
from .pgtree import page_table_tree

KINDS = ("physmap", "frag", "pagetables")


def plot(m, kind: str, path, pid=None) -> str:
    """Draw picture ``kind`` of machine ``m`` to ``path``; "pagetables" needs ``pid``."""
    if kind == "physmap":
        return physical_map(m, path)
    if kind == "frag":
        return fragmentation(m, path)
    if kind == "pagetables":
        if pid is None:
            raise ValueError("the pagetables picture needs a process: give a pid")
        return page_table_tree(m, pid, path)
    raise ValueError(f"unknown picture kind {kind!r}: one of {', '.join(KINDS)}")
