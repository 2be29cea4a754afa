"""/proc/slabinfo (mm/slab_common.c cache_show, version 2.1) and /sys/kernel/slab/<cache>/…
(mm/slub.c sysfs attributes, with the alias symlinks of merged caches)."""

import errno

from ...errors import SyscallError
from ...mm import slub as S
from ...mm.slab_common import (create_unique_id, slab_unmergeable, SLAB_RECLAIM_ACCOUNT,
                               SLAB_HWCACHE_ALIGN, SLAB_CACHE_DMA, SLAB_DESTROY_BY_RCU,
                               SLAB_CONSISTENCY_CHECKS, SLAB_TRACE, SLAB_RED_ZONE,
                               SLAB_POISON, SLAB_STORE_USER)
from . import Node
from ...mm.slub import list_locations, validate_slab_cache

SYS_SLAB = "/sys/kernel/slab"


def slabinfo_show(m) -> str:
    """/proc/slabinfo: newest cache first, tunables and sharedavail 0 under SLUB."""
    out = ["slabinfo - version: 2.1\n",
           "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
           " : tunables <limit> <batchcount> <sharedfactor>"
           " : slabdata <active_slabs> <num_slabs> <sharedavail>\n"]
    for s in m.slab.slab_caches:
        i = S.get_slabinfo(s)
        out.append(f"{s.name:<17} {i['active_objs']:6d} {i['num_objs']:6d} {s.size:6d} "
                   f"{i['objects_per_slab']:4d} {1 << i['cache_order']:4d} : tunables "
                   f"{0:4d} {0:4d} {0:4d} : slabdata {i['active_slabs']:6d} "
                   f"{i['num_slabs']:6d} {0:6d}\n")
    return "".join(out)


def show_slab_objects(s, what: str) -> str:
    """partial / cpu_slabs / objects / objects_partial / slabs / total_objects."""
    mm = s.sl.mm
    n = s.node[0]
    total = 0
    if what == "cpu_slabs":
        for c in s.cpu_slab:
            if c.page == S.NULL:
                continue
            total += 1
            if c.partial != S.NULL:
                total += S.cpu_partial_pages(mm, c.partial)
    elif what == "objects":
        total = n.total_objects - S.count_partial_free(s, n)
    elif what == "slabs":
        total = n.nr_slabs
    elif what == "total_objects":
        total = n.total_objects
    elif what == "partial":
        total = n.nr_partial
    elif what == "objects_partial":
        total = sum(S.unpack_counters(mm.mc[p])[0] for p in mm.list_entries(n.partial))
    return f"{total}\n"


def slabs_cpu_partial_show(s) -> str:
    mm = s.sl.mm
    objects = pages = 0
    per = []
    for cpu, c in enumerate(s.cpu_slab):
        if c.partial != S.NULL:
            pg = S.cpu_partial_pages(mm, c.partial)
            pobj = mm.prv[c.partial]
            pages += pg
            objects += pobj
            per.append(f" C{cpu}={pobj}({pg})")
    return f"{objects}({pages})" + "".join(per) + "\n"


def _flag(bit):
    return lambda s: f"{1 if s.flags & bit else 0}\n"


def _ctor_show(s) -> str:
    return f"{s.ctor.__name__}\n" if s.ctor is not None else ""


ATTRS = {
    "slab_size": lambda s: f"{s.size}\n",
    "object_size": lambda s: f"{s.object_size}\n",
    "objs_per_slab": lambda s: f"{S.oo_objects(s.oo)}\n",
    "order": lambda s: f"{S.oo_order(s.oo)}\n",
    "min_partial": lambda s: f"{s.min_partial}\n",
    "cpu_partial": lambda s: f"{s.cpu_partial}\n",
    "objects": lambda s: show_slab_objects(s, "objects"),
    "objects_partial": lambda s: show_slab_objects(s, "objects_partial"),
    "partial": lambda s: show_slab_objects(s, "partial"),
    "cpu_slabs": lambda s: show_slab_objects(s, "cpu_slabs"),
    "ctor": _ctor_show,
    "aliases": lambda s: f"{0 if s.refcount < 0 else s.refcount - 1}\n",
    "align": lambda s: f"{s.align}\n",
    "hwcache_align": _flag(SLAB_HWCACHE_ALIGN),
    "reclaim_account": _flag(SLAB_RECLAIM_ACCOUNT),
    "destroy_by_rcu": _flag(SLAB_DESTROY_BY_RCU),
    "shrink": lambda s: "",
    "reserved": lambda s: f"{s.reserved}\n",
    "slabs_cpu_partial": slabs_cpu_partial_show,
    "total_objects": lambda s: show_slab_objects(s, "total_objects"),
    "slabs": lambda s: show_slab_objects(s, "slabs"),
    "sanity_checks": _flag(SLAB_CONSISTENCY_CHECKS),
    "trace": _flag(SLAB_TRACE),
    "red_zone": _flag(SLAB_RED_ZONE),
    "poison": _flag(SLAB_POISON),
    "store_user": _flag(SLAB_STORE_USER),
    "validate": lambda s: "",
    "alloc_calls": lambda s: _calls(s, 0),
    "free_calls": lambda s: _calls(s, 1),
    "cache_dma": _flag(SLAB_CACHE_DMA),
    "remote_node_defrag_ratio": lambda s: "100\n",
}


def _calls(s, which: int) -> str:
    if not s.flags & SLAB_STORE_USER:
        raise SyscallError(errno.ENOSYS, "read")
    return list_locations(s, which)


def _kstrtoul(data: str) -> int:
    try:
        v = int(data.strip(), 10)
    except ValueError:
        raise SyscallError(errno.EINVAL, "write") from None
    if v < 0:
        raise SyscallError(errno.EINVAL, "write")
    return v


def _store_order(s, data):
    order = _kstrtoul(data)
    if order > s.sl.slub_max_order or order < s.sl.slub_min_order:
        raise SyscallError(errno.EINVAL, "write")
    S.calculate_sizes(s, order)


def _store_min_partial(s, data):
    S.set_min_partial(s, _kstrtoul(data))


def _store_cpu_partial(s, data):
    v = _kstrtoul(data)
    if v and not s.has_cpu_partial():
        raise SyscallError(errno.EINVAL, "write")
    s.cpu_partial = v
    S.flush_all(s)


def _store_shrink(s, data):
    if data.startswith("1"):
        S.__kmem_cache_shrink(s, False)
    else:
        raise SyscallError(errno.EINVAL, "write")


def _store_validate(s, data):
    if data.startswith("1"):
        validate_slab_cache(s)
    else:
        raise SyscallError(errno.EINVAL, "write")


STORES = {"order": _store_order, "min_partial": _store_min_partial,
          "cpu_partial": _store_cpu_partial, "shrink": _store_shrink,
          "validate": _store_validate}


def sysfs_entries(sl) -> dict:
    """Top-level names of /sys/kernel/slab: cache dirs and alias links (sysfs_slab_add,
    sysfs_slab_alias). Mergeable caches live under a unique id with their name a link."""
    out = {}
    for s in reversed(sl.slab_caches):          # creation order: later links replace earlier
        if slab_unmergeable(sl, s):
            out[s.name] = ("dir", s)
        else:
            uid = create_unique_id(s)
            out[uid] = ("dir", s)
            out[s.name] = ("link", uid)
        for alias in s.alias_names:
            if slab_unmergeable(sl, s):
                target = s.name
            else:
                target = create_unique_id(s)
            if out.get(alias, ("link",))[0] != "dir":
                out[alias] = ("link", target)
    return out


def register(procfs) -> None:
    m = procfs.m
    procfs.add_text("/proc/slabinfo", lambda: slabinfo_show(m))

    def resolve(path):
        sl = m.slab
        parts = path[len(SYS_SLAB) + 1:].split("/") if path != SYS_SLAB else []
        if not parts:
            return Node("dir")
        ent = sysfs_entries(sl).get(parts[0])
        if ent is None:
            return None
        if ent[0] == "link":
            if len(parts) == 1:
                return Node("link", target=f"{SYS_SLAB}/{ent[1]}")
            return resolve(f"{SYS_SLAB}/{ent[1]}/" + "/".join(parts[1:]))
        s = ent[1]
        if len(parts) == 1:
            return Node("dir")
        if len(parts) == 2 and parts[1] in ATTRS:
            render = ATTRS[parts[1]]
            store = STORES.get(parts[1])
            return Node("text", lambda: render(s),
                        (lambda data: store(s, data)) if store else None)
        return None

    def lister(path):
        sl = m.slab
        if path == SYS_SLAB:
            return sorted(sysfs_entries(sl))
        parts = path[len(SYS_SLAB) + 1:].split("/")
        ent = sysfs_entries(sl).get(parts[0])
        if ent is not None and len(parts) == 1:
            return sorted(ATTRS)
        return None

    procfs.add_provider(SYS_SLAB, resolve, lister)
