"""Parsers for the memory-management files of /proc and debugfs.

The same functions read the model's output and a live kernel's files, so a test
can compare layout and field names between the two. Each parser is strict about
the line layout it knows and keeps anything else it meets (a newer kernel's extra
fields) so that differences can be listed rather than lost.

>>> parse_buddyinfo(m.proc.read("/proc/buddyinfo"))[0]
BuddyLine(node=0, zone='DMA', counts=[1, 1, 1, 0, 2, 1, 0, 0, 1, 1, 3])
"""

import re
from collections import namedtuple

BuddyLine = namedtuple("BuddyLine", "node zone counts")
MeminfoLine = namedtuple("MeminfoLine", "name value unit")

_ZONE_HDR = re.compile(r"^Node (\d+), zone +(\S+)")
_BUDDY = re.compile(r"^Node (\d+), zone ([ \S]{8}) ((?:[ \d]{6} )+)$")
# "%d.%03d" of a negative index prints e.g. "0.-62" (C division truncates)
_FRAG = re.compile(r"^Node (\d+), zone ([ \S]{8}) ((?:-?\d+\.(?:\d{3}|-\d+) )+)$")
_MEMINFO = re.compile(r"^([A-Za-z0-9_()]+):( +)(\d+)( kB)?$")


class ParseError(ValueError):
    """A line that does not have the layout the parser expects."""


def _lines(text):
    if text and not text.endswith("\n"):
        raise ParseError("file does not end with a newline")
    return text.split("\n")[:-1]


def _zone_rows(text: str, pattern, what: str) -> list:
    """(node, zone, [fields]) of each ``"Node %d, zone %8s "``-prefixed line."""
    out = []
    for line in _lines(text):
        mt = pattern.match(line)
        if not mt:
            raise ParseError(f"{what} line has an unexpected layout: {line!r}")
        out.append((int(mt.group(1)), mt.group(2).strip(), mt.group(3).split()))
    return out


def parse_buddyinfo(text: str) -> list:
    """``/proc/buddyinfo`` → [BuddyLine(node, zone, [nr_free per order])].

    Each line must be ``"Node %d, zone %8s "`` then ``"%6lu "`` per order.
    """
    return [BuddyLine(node, zone, [int(x) for x in fields])
            for node, zone, fields in _zone_rows(text, _BUDDY, "buddyinfo")]


def parse_frag_index(text: str) -> list:
    """debugfs ``extfrag/unusable_index`` or ``extfrag_index`` → [(node, zone, [str])],
    each value kept as printed by ``"%d.%03d "``."""
    return _zone_rows(text, _FRAG, "fragmentation index")


def parse_pagetypeinfo(text: str) -> dict:
    """``/proc/pagetypeinfo`` → {"pageblock_order", "pages_per_block", "orders",
    "free": {(zone, type): [count per order]}, "block_types": [type names],
    "blocks": {zone: [pageblocks per type]}, "extra": [lines of further sections]}."""
    lines = _lines(text)
    res = {"free": {}, "blocks": {}, "extra": []}
    mt = re.fullmatch(r"Page block order: (\d+)", lines[0])
    mt2 = re.fullmatch(r"Pages per block:  (\d+)", lines[1])
    if not mt or not mt2 or lines[2] != "":
        raise ParseError("pagetypeinfo does not start with the page block header")
    res["pageblock_order"] = int(mt.group(1))
    res["pages_per_block"] = int(mt2.group(1))
    hdr = lines[3]
    title = "Free pages count per migrate type at order"
    if not hdr.startswith(f"{title:<43s} "):
        raise ParseError(f"unexpected free-count header {hdr!r}")
    res["orders"] = [int(x) for x in hdr[44:].split()]
    i = 4
    # a 5.x+ kernel stops counting a list at 100000 and prints ">100000"
    free_re = re.compile(r"^Node ([ \d]{4}), zone ([ \S]{8}), type ([ \S]{12}) "
                         r"((?:>?[ \d]{6} )+)$")
    while i < len(lines) and lines[i]:
        mt = free_re.match(lines[i])
        if not mt:
            raise ParseError(f"unexpected free-count line {lines[i]!r}")
        res["free"][(mt.group(2).strip(), mt.group(3).strip())] = [
            int(x.lstrip(">")) for x in mt.group(4).split()]
        i += 1
    i += 1
    hdr = lines[i] if i < len(lines) else ""
    if not hdr.startswith(f"{'Number of blocks type ':<23s}"):
        raise ParseError(f"unexpected block-count header {hdr!r}")
    res["block_types"] = hdr[23:].split()
    i += 1
    blk_re = re.compile(r"^Node (\d+), zone ([ \S]{8}) ((?:[ \d]{12} )+)$")
    while i < len(lines) and lines[i]:
        mt = blk_re.match(lines[i])
        if not mt:
            raise ParseError(f"unexpected block-count line {lines[i]!r}")
        res["blocks"][mt.group(2).strip()] = [int(x) for x in mt.group(3).split()]
        i += 1
    res["extra"] = lines[i:]
    return res


def parse_meminfo(text: str) -> dict:
    """``/proc/meminfo`` → {name: MeminfoLine(name, value, unit)} in file order.

    Lines are ``"Name:" + padding + number + (" kB")``; the padding is kept in the
    ``layout`` entry as (name, column where the number ends) for layout checks.
    """
    out = {}
    for line in _lines(text):
        mt = _MEMINFO.match(line)
        if not mt:
            raise ParseError(f"meminfo line has an unexpected layout: {line!r}")
        name = mt.group(1)
        out[name] = MeminfoLine(name, int(mt.group(3)), "kB" if mt.group(4) else "")
    return out


def meminfo_columns(text: str) -> dict:
    """{name: column after the last digit} of each meminfo line (the ``%8lu`` alignment)."""
    out = {}
    for line in _lines(text):
        name = line.split(":", 1)[0]
        out[name] = len(line) - (3 if line.endswith(" kB") else 0)
    return out


def parse_vmstat(text: str) -> dict:
    """``/proc/vmstat`` → {name: value} in file order (``"%s %lu"`` lines)."""
    out = {}
    for line in _lines(text):
        mt = re.fullmatch(r"([a-z0-9_]+) (-?\d+)", line)
        if not mt:
            raise ParseError(f"vmstat line has an unexpected layout: {line!r}")
        out[mt.group(1)] = int(mt.group(2))
    return out


def parse_zoneinfo(text: str) -> list:
    """``/proc/zoneinfo`` → one dict per zone, in file order:

    ``node``, ``zone``; ``pages`` ({"free", "min", "low", "high", …} as printed under
    "pages"), ``stats`` (the ``"    %-12s %lu"`` counters), ``protection`` (list),
    ``pagesets`` ([{"cpu", "count", "high", "batch", "vm stats threshold", …}]),
    ``tail`` ({"all_unreclaimable"/"node_unreclaimable", "start_pfn", …}),
    ``per_node`` (a newer kernel's "per-node stats" block, else {}), and ``order``:
    the sequence of keys as met, for layout comparison.
    """
    zones = []
    z = None
    section = None
    for line in _lines(text):
        mt = re.fullmatch(r"Node (\d+), zone ([ \S]{8})", line)
        if mt:
            z = {"node": int(mt.group(1)), "zone": mt.group(2).strip(), "pages": {},
                 "stats": {}, "protection": None, "pagesets": [], "tail": {},
                 "per_node": {}, "order": []}
            zones.append(z)
            section = "zone"
            continue
        if z is None:
            raise ParseError(f"zoneinfo does not start with a zone header: {line!r}")
        if line == "  per-node stats":
            section = "per_node"
            z["order"].append("per-node stats")
            continue
        if line == "  pagesets":
            section = "pagesets"
            z["order"].append("pagesets")
            continue
        mt = re.fullmatch(r"  pages free +(\d+)", line)
        if mt:
            section = "pages"
            z["pages"]["free"] = int(mt.group(1))
            z["order"].append("pages free")
            continue
        mt = re.fullmatch(r"        protection: \(([-\d, ]*)\)", line)
        if mt:
            z["protection"] = [int(x) for x in mt.group(1).split(", ")]
            z["order"].append("protection")
            section = "stats"
            continue
        if section == "pagesets":
            mt = re.fullmatch(r"    cpu: (\d+)", line)
            if mt:
                z["pagesets"].append({"cpu": int(mt.group(1))})
                continue
            mt = re.fullmatch(r"              ([a-z_]+): +(-?\d+)", line)
            if mt and z["pagesets"]:
                z["pagesets"][-1][mt.group(1)] = int(mt.group(2))
                continue
            mt = re.fullmatch(r"  vm stats threshold: (-?\d+)", line)
            if mt and z["pagesets"]:
                z["pagesets"][-1]["vm stats threshold"] = int(mt.group(1))
                continue
        mt = re.fullmatch(r"  ([a-z_]+): +(-?\d+)", line)
        if mt and section in ("pagesets", "stats", "pages", "tail"):
            section = "tail"
            z["tail"][mt.group(1)] = int(mt.group(2))
            z["order"].append(mt.group(1))
            continue
        if section == "tail":
            raise ParseError(f"unexpected zoneinfo line after the pagesets: {line!r}")
        mt = re.fullmatch(r"        ([a-z_]+) +(\d+)", line)
        if mt and section == "pages":
            z["pages"][mt.group(1)] = int(mt.group(2))
            z["order"].append(mt.group(1))
            continue
        mt = re.fullmatch(r"    ( *)([a-z_0-9]+) +(-?\d+)", line)
        if mt:
            name = mt.group(2)
            if section == "per_node":
                z["per_node"][name] = int(mt.group(3))
            else:
                section = "stats" if section == "pages" else section
                z["stats"][name] = int(mt.group(3))
                z["order"].append("stat")
            continue
        raise ParseError(f"zoneinfo line has an unexpected layout: {line!r}")
    return zones


def zoneinfo_stat_width_ok(text: str) -> bool:
    """Whether every counter line of the zone blocks is ``"    %-12s %lu"`` (4.6 layout)."""
    for line in _lines(text):
        mt = re.fullmatch(r"    ([a-z_0-9]+)( +)(\d+)", line)
        if mt and len(mt.group(1)) < 12 and len(mt.group(1)) + len(mt.group(2)) != 13:
            return False
    return True
