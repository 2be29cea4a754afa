"""Accelerators of arch/x86/mmu.py: the user access paths' TLB miss walked inline.

``translate_user`` stands in for ``linuxvm.arch.x86.mmu.translate_user`` (which is
``translate`` with a page fault returned as ``~error_code``). A full TLB miss on a 4 KiB page
with NX on and every table a registered page-table frame is walked here in straight-line
code; anything else goes through ``translate``'s own slow path. Both leave the same TLB sets,
counters, A/D bits and CR2 (tests/test_fault_fast.py compares whole machines).
"""

from ..arch.x86.mmu import (_translate_slow, okmask, PageFault, PF_PROT, PF_WRITE, R_RW,
                            R_USER, R_NX, R_DIRTY, _ADDR_RSVD, _FRAME)
from ..arch.x86.pgtable_types import _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PSE, _PAGE_GLOBAL, \
    _PAGE_NX
from ..lib.accel_registry import register

__all__ = ["translate_user"]

# present-entry bits that send the walk to walk_tables: reserved address bits, and PS above
# the PTE level (reserved in a PML4E, a large leaf below it)
_ODD_UPPER = _ADDR_RSVD | _PAGE_PSE
_A = _PAGE_ACCESSED
_D = _PAGE_DIRTY


def _translate_user_slow(cpu, va: int, access: int, e) -> int:
    try:
        return _translate_slow(cpu, va, access, e)
    except PageFault as pf:
        return ~pf.error_code


@register("translate_user", "linuxvm.arch.x86.mmu.translate_user")
def translate_user(cpu, va: int, access: int) -> int:
    """translate_user with a full TLB miss walked inline instead of through walk_tables.

    :raises GeneralProtection: ``va`` is not canonical
    """
    tlb = cpu.tlb
    vpn = va >> 12
    s = tlb.l1sets[vpn & tlb.l1mask]
    e = s.get(vpn)
    if e is not None:
        if (e[1] >> access) & 1:
            del s[vpn]
            s[vpn] = e
            tlb.hits += 1
            return e[0] | (va & 0xFFF)
        return _translate_user_slow(cpu, va, access, e)
    # lookup_slow would find nothing (and so change nothing) unless one of these holds
    n2 = va >> 21
    n1 = va >> 30
    stlbsets = tlb.stlbsets
    stlbmask = tlb.stlbmask
    if (va >> 47 or not cpu.nxe
            or n2 in tlb.l2msets[n2 & tlb.l2mmask] or n1 in tlb.l1gsets[n1 & tlb.l1gmask]
            or vpn in stlbsets[vpn & stlbmask] or ~n2 in stlbsets[n2 & stlbmask]):
        return _translate_user_slow(cpu, va, access, None)
    # walk_tables with NXE on: a missing entry faults; a reserved bit, a large page or a
    # table frame the walker would read some other way goes the general way (nothing has
    # been changed yet)
    pgt = cpu.m.pgtables
    t0 = pgt.get(cpu.cr3 >> 12)
    if t0 is None:
        return _translate_user_slow(cpu, va, access, None)
    i0 = (va >> 39) & 511
    e0 = t0[i0]
    if e0 & 1:
        if e0 & _ODD_UPPER:
            return _translate_user_slow(cpu, va, access, None)
        t1 = pgt.get((e0 & _FRAME) >> 12)
        if t1 is None:
            return _translate_user_slow(cpu, va, access, None)
        i1 = n1 & 511
        e1 = t1[i1]
        if e1 & 1:
            if e1 & _ODD_UPPER:
                return _translate_user_slow(cpu, va, access, None)
            t2 = pgt.get((e1 & _FRAME) >> 12)
            if t2 is None:
                return _translate_user_slow(cpu, va, access, None)
            i2 = n2 & 511
            e2 = t2[i2]
            if e2 & 1:
                if e2 & _ODD_UPPER:
                    return _translate_user_slow(cpu, va, access, None)
                t3 = pgt.get((e2 & _FRAME) >> 12)
                if t3 is None:
                    return _translate_user_slow(cpu, va, access, None)
                i3 = vpn & 511
                e3 = t3[i3]
                if e3 & 1:
                    if e3 & _ADDR_RSVD:
                        return _translate_user_slow(cpu, va, access, None)
                    tlb.misses += 1
                    tlb.walks += 1
                    # rights: R/W and U/S must be set at every level, XD at any one
                    rights = ((e0 & e1 & e2 & e3) >> 1) & (R_RW | R_USER)
                    if (e0 | e1 | e2 | e3) & _PAGE_NX:
                        rights |= R_NX
                    okcache = cpu.okcache
                    # rights_denied is okmask's answer with the dirty condition satisfied
                    ok = okcache.get(rights | R_DIRTY)
                    if ok is None:
                        ok = okmask(cpu, rights | R_DIRTY)
                    if not (ok >> access) & 1:
                        cpu.cr2 = va
                        return ~(access | PF_PROT)
                    # success: A on the path, D on the leaf for a write
                    if not e0 & _A:
                        t0[i0] = e0 | _A
                    if not e1 & _A:
                        t1[i1] = e1 | _A
                    if not e2 & _A:
                        t2[i2] = e2 | _A
                    leaf = e3 | _A | _D if access & PF_WRITE else e3 | _A
                    if leaf != e3:
                        t3[i3] = leaf
                    base = leaf & _FRAME
                    dirty = bool(leaf & _D)
                    glob = bool(leaf & _PAGE_GLOBAL) and cpu.pge
                    if dirty:
                        rights |= R_DIRTY
                    ok = okcache.get(rights)
                    if ok is None:
                        ok = okmask(cpu, rights)
                    # tlb.fill for a 4 KiB page that no set holds yet
                    entry = (base, ok, glob, rights, dirty)
                    t = stlbsets[vpn & stlbmask]
                    if len(t) >= tlb.stlbways:
                        del t[next(iter(t))]
                    t[vpn] = entry
                    if len(s) >= tlb.l1ways:
                        del s[next(iter(s))]
                    s[vpn] = entry
                    return base | (va & 0xFFF)
    # a not-present entry: #PF with P=0 (the page's TLB entries, none, are gone already)
    tlb.misses += 1
    tlb.walks += 1
    cpu.cr2 = va
    return ~access
