"""The cache table of tools/vm/slabinfo, read from the model's /sys/kernel/slab (the
tool's default listing: caches with slabs, merged caches under their single alias name,
sorted by name). ``linuxvm slabinfo`` prints it."""

FLAG_ATTRS = [("cache_dma", "d"), ("hwcache_align", "A"), ("poison", "P"),
              ("reclaim_account", "a"), ("red_zone", "Z"), ("sanity_checks", "F"),
              ("store_user", "U"), ("trace", "T")]
SYS = "/sys/kernel/slab"


def store_size(value: int, show_bytes: bool = False) -> str:
    """12288 -> "12.2K" like slabinfo's store_size (one decimal before the unit)."""
    divisor, trailer = 1, ""
    if not show_bytes:
        if value > 1000000000:
            divisor, trailer = 100000000, "G"
        elif value > 1000000:
            divisor, trailer = 100000, "M"
        elif value > 1000:
            divisor, trailer = 100, "K"
    text = f"{value // divisor}{trailer}"
    if divisor != 1:
        text = text[:-2] + "." + text[-2:]
    return text


def read_caches(m) -> list:
    """One dict per cache directory of /sys/kernel/slab, named as slabinfo names it."""
    proc = m.proc
    entries = proc.listdir(SYS)
    links = {}
    for name in entries:
        node = proc.lookup(f"{SYS}/{name}")
        if node.kind == "link":
            links.setdefault(node.target.rsplit("/", 1)[1], []).append(name)
    out = []
    for name in entries:
        if proc.lookup(f"{SYS}/{name}").kind == "link":
            continue

        def num(attr):
            return int(proc.read(f"{SYS}/{name}/{attr}").split()[0])
        shown = name
        if name.startswith(":") and len(links.get(name, [])) == 1:
            shown = links[name][0]
        out.append({
            "name": shown, "objects": num("objects"), "object_size": num("object_size"),
            "slabs": num("slabs"), "partial": num("partial"), "cpu_slabs": num("cpu_slabs"),
            "objs_per_slab": num("objs_per_slab"), "order": num("order"),
            "aliases": num("aliases"),
            "flags": "".join(ch for attr, ch in FLAG_ATTRS if num(attr)),
            "alias_names": sorted(links.get(name, [])),
        })
    return out


def format_table(caches, show_empty=False, show_bytes=False, sort_size=False,
                 page_size=4096) -> list:
    rows = [c for c in caches if show_empty or c["slabs"]]
    if sort_size:
        rows.sort(key=lambda c: -c["slabs"] * (page_size << c["order"]))
    else:
        rows.sort(key=lambda c: c["name"].lower())
    lines = ["Name                   Objects Objsize           Space Slabs/Part/Cpu  O/S O %Fr "
             "%Ef Flg"]
    for c in rows:
        slabs = c["slabs"]
        space = slabs * (page_size << c["order"])
        dist = f"{slabs - c['cpu_slabs']}/{c['partial']}/{c['cpu_slabs']}"
        flags = ("*" if c["aliases"] else "") + c["flags"]
        fr = c["partial"] * 100 // slabs if slabs else 100
        ef = c["objects"] * c["object_size"] * 100 // space if slabs else 100
        lines.append(f"{c['name']:<21} {c['objects']:8d} {c['object_size']:7d} "
                     f"{store_size(space, show_bytes):>15} {dist:>14} {c['objs_per_slab']:4d} "
                     f"{c['order']:1d} {fr:3d} {ef:3d} {flags}")
    return lines
