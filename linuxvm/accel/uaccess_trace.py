"""Accelerator of arch/x86/uaccess.py's ``access_batch``: a recorded trace's TLB hits taken
inline.

``access_batch`` stands in for ``linuxvm.arch.x86.uaccess.access_batch`` (one
``user_access`` per entry, and a fresh content tag for each write). An access whose 4 KiB
page the L1 TLB holds with the rights it needs is resolved here without a call: the set's
LRU order is refreshed as ``translate`` refreshes it (nothing at all when the page is the
one the previous access hit, which is already the most recent of its set), the hit is
counted, and a write's content tag is kept back in a dict (only the last write to a frame
matters). Everything else -- a miss, a first write through a clean entry, a large page, a
fault -- goes through ``user_access`` after the counters and tags held back are stored, so
the fault handler and the walk see exactly the state the reference gives them.
tests/test_replay.py compares whole machines.
"""

from ..arch.x86.uaccess import ACCESS, access, run_on_cpu, user_access
from ..lib.accel_registry import register

__all__ = ["access_batch"]

_CODE = [0] * 128
for _k, _v in ACCESS.items():
    _CODE[ord(_k)] = _v
_W = ord("w")
_TAG_WRAP = 0xFFFFFFFF          # next_content_tag's wrap


@register("access_batch", "linuxvm.arch.x86.uaccess.access_batch")
def access_batch(m, task, addrs, kinds: str) -> None:
    """access_batch with L1 TLB hits resolved inline and write tags stored once."""
    if not kinds:
        return
    if set(kinds) - set(ACCESS):
        # a bad kind: the reference raises at that access, after making the ones before
        for va, kind in zip(addrs, kinds):
            access(m, task, va, kind)
        return
    cpu = run_on_cpu(m, task)
    tlb = cpu.tlb
    l1sets = tlb.l1sets
    l1mask = tlb.l1mask
    content = m.mem_map.content
    code = _CODE
    # seq counts up without next_content_tag's wrap; _tag() applies it when storing
    seq = m.content_seq
    tags = {}
    hits = 0
    # two pages hit lately, each the most recent entry of its L1 set (so a hit on either
    # changes no set's order): vpn, rights mask, frame; -1 when empty
    v0 = v1 = -1
    ok0 = ok1 = p0 = p1 = 0
    try:
        for va, k in zip(addrs, kinds.encode("ascii")):
            a = code[k]
            vpn = va >> 12
            if vpn == v0 and (ok0 >> a) & 1:
                pfn = p0
            elif vpn == v1 and (ok1 >> a) & 1:
                pfn = p1
            else:
                si = vpn & l1mask
                s = l1sets[si]
                e = s.get(vpn)
                if e is not None and (e[1] >> a) & 1:
                    del s[vpn]
                    s[vpn] = e
                    # a cached page of the same set is no longer its most recent entry
                    if v0 >= 0 and v0 & l1mask == si:
                        v0 = -1
                    if v1 >= 0 and v1 & l1mask == si:
                        v1 = -1
                    if v0 >= 0:
                        v1, ok1, p1 = v0, ok0, p0
                    v0, ok0, p0 = vpn, e[1], e[0] >> 12
                    pfn = p0
                else:
                    # the general path, with the state held back stored first
                    tlb.hits += hits
                    hits = 0
                    for f, t in tags.items():
                        content[f] = _tag(t)
                    tags.clear()
                    m.content_seq = _tag(seq)
                    phys = user_access(m, task, va, a)
                    seq = m.content_seq
                    v0 = v1 = -1
                    if k == _W:
                        seq += 1
                        tags[phys >> 12] = seq
                    continue
            hits += 1
            if k == _W:
                seq += 1
                tags[pfn] = seq
    finally:
        tlb.hits += hits
        for f, t in tags.items():
            content[f] = _tag(t)
        m.content_seq = _tag(seq)


def _tag(seq: int) -> int:
    """next_content_tag's value after counting up to ``seq`` without its wrap (1 after
    0xffffffff)."""
    return (seq - 1) % _TAG_WRAP + 1 if seq > _TAG_WRAP else seq
