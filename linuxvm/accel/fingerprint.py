"""The whole-machine fingerprint: everything an accelerator could leave differently.

Our own glue. Two machines that ran the same workload from the same seed, one with an
accelerator on and one with it off, must give equal fingerprints (``assert_same``);
every equality test of the accelerator layer uses this one function
(docs/accelerators.md). It reads state and never changes it.

What it captures: every ``struct page`` array (the ``lru`` links cover every list the
kernel threads through pages — buddy free lists, pcp lists, LRU lists, slab partial
lists — in order, because the list heads are slots of the same arrays), pageblock
migratetypes, per-zone counters, free counts and pcp counts, the vm events, page contents
and content tags, the pagevecs, the bytes of every page-table page, every CPU's registers and TLB sets, every task's fault
and RSS counters, every VMA with its flags, pgoff, protections, anon_vma and file, the
VMA tree's shape and gaps, the mm counters, the anon_vmas, Committed_AS, the SLUB state
(per-CPU slabs and /proc/slabinfo), meminfo, the kernel log and the clock.
"""

import numpy as np

__all__ = ["fingerprint", "assert_same", "diff"]

_PAGE_ARRAYS = ("flags", "_refcount", "_mapcount", "mapping", "index", "private",
                "lru_next", "lru_prev", "compound_head", "content")
_MM_COUNTERS = ("map_count", "total_vm", "data_vm", "exec_vm", "stack_vm", "locked_vm",
                "pinned_vm", "hiwater_vm", "hiwater_rss", "highest_vm_end",
                "vmacache_seqnum", "nr_ptes", "nr_pmds", "brk", "start_brk", "def_flags",
                "mmap_base", "mm_users", "mm_count", "pgd")


def _tree_shape(node):
    if node is None:
        return None
    return (node.vm_start, node.rb_height, node.rb_subtree_gap,
            _tree_shape(node.rb_left), _tree_shape(node.rb_right))


def _vma(v) -> tuple:
    av = v.anon_vma
    return (v.vm_start, v.vm_end, v.vm_flags, v.vm_pgoff, v.vm_page_prot, v.slab_obj,
            None if av is None else av.handle,
            tuple(sorted(c.anon_vma.handle for c in v.anon_vma_chain
                         if getattr(c, "anon_vma", None) is not None))
            if v.anon_vma_chain else (),
            None if v.vm_file is None else id(v.vm_file) and repr(v.vm_file))


def mm_fingerprint(mm) -> tuple:
    """One address space: its VMAs in order, the tree's shape and the mm counters."""
    vmas = []
    v = mm.mmap
    while v is not None:
        vmas.append(_vma(v))
        v = v.vm_next
    counters = tuple(getattr(mm, f, None) for f in _MM_COUNTERS)
    return tuple(vmas), _tree_shape(mm.mm_rb), counters, tuple(mm.rss_stat)


def fingerprint(m) -> dict:
    """Everything of machine ``m`` that an accelerator must leave as its reference does."""
    pages = m.mem_map
    out = {name: getattr(pages, name).copy() for name in _PAGE_ARRAYS}
    out["pageblocks"] = m.pgdat.pageblock_flags.bits.copy()
    out["zones"] = [(list(z.vm_stat), [a.nr_free for a in z.free_area], z.flags,
                     [(ps.pcp.count, ps.pcp.high, ps.pcp.batch) for ps in z.pageset])
                    for z in m.zones]
    out["events"] = list(m.pgdat.vm_events)
    out["contents"] = {pfn: bytes(b) for pfn, b in m.page_contents.items()}
    out["content_seq"] = m.content_seq
    out["pagevecs"] = [list(p) for p in m.lru.lru_add_pvec]
    # the page-table pages' bytes: PTE writes show in no struct page array
    out["pgtables"] = {pfn: bytes(v) for pfn, v in sorted(m.pgtables.items())}
    out["tlb"] = [(c.cr2, c.cr3, c.tlb.counters(),
                   [[list(s.items()) for s in level.sets] for level in c.tlb.levels()])
                  for c in m.cpus]
    out["tasks"] = [(t.pid, t.comm, t.min_flt, t.maj_flt, list(t.rss_stat.count),
                     t.rss_stat.events, t.cpu)
                    for t in m.tasks.values()]
    out["mms"] = [mm_fingerprint(t.mm) if t.mm is not None else None
                  for t in m.tasks.values()]
    out["anon_vmas"] = sorted((h, av.degree, av.refcount, len(av.rb_root))
                              for h, av in m.anon_vmas.items())
    out["committed_as"] = m.vm_committed_as
    out["extfrag"] = m.extfrag_events
    out["slab_cpu"] = [(s.name, [(c.page, c.freelist, c.partial) for c in s.cpu_slab])
                       for s in m.slab.slab_caches]
    out["slabinfo"] = m.proc.read("/proc/slabinfo")
    out["meminfo"] = m.proc.read("/proc/meminfo")
    out["log"] = m.dmesg()
    # the clock moves with the work done (linuxvm/kernel/time.py): equal work, equal time
    out["clock"] = (m.clock_ns, tuple(m.time.system_ticks))
    return out


def diff(a: dict, b: dict) -> list:
    """The keys (with the first differing indices of arrays) where two fingerprints differ."""
    out = []
    for k in sorted(a.keys() | b.keys()):
        x, y = a.get(k), b.get(k)
        if isinstance(x, np.ndarray) and isinstance(y, np.ndarray):
            where = np.flatnonzero(x != y) if x.shape == y.shape else np.arange(1)
            if where.size:
                out.append(f"{k} differs at index {where[:5].tolist()}: "
                           f"{x[where[:5]].tolist()} vs {y[where[:5]].tolist()}")
        elif x != y:
            out.append(f"{k} differs")
    return out


def assert_same(a: dict, b: dict) -> None:
    """Raise AssertionError naming what differs between two fingerprints."""
    differences = diff(a, b)
    assert not differences, "; ".join(differences)
