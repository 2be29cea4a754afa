"""The x86-64 MMU: a 4-level page walk over the model's page-table frames, with the
TLB in front (Intel SDM vol. 3 ch. 4; the fault side is arch/x86/mm/fault.c).

Interface (stable):

* ``translate(cpu, va, access=0) -> phys``. ``access`` is made of the #PF
  error-code bits: ``PF_WRITE`` for a write, ``PF_USER`` for a CPL-3 access,
  ``PF_INSTR`` for an instruction fetch (so ``PF_USER|PF_WRITE`` is a user store).
  A failing access raises ``PageFault`` carrying ``error_code`` and ``cr2`` (also
  left in ``cpu.cr2``); a non-canonical address raises ``GeneralProtection``.
* ``walk_tables(cpu, va, access)``: the hardware walk alone (no TLB), returning
  ``(phys_base, shift, rights, global, dirty)``.
* ``translate_user(cpu, va, access)``: ``translate`` for the access paths, with a page
  fault returned as ``~error_code`` instead of raised (same state either way).

Hardware rules modelled:

* Not-present entry at any level -> #PF with P=0.
* Reserved bits in a present entry -> #PF with P=1 and RSVD: physical-address
  bits 51:46, NX when EFER.NXE=0, PS in a PML4E, PS in a PDPTE on a CPU without
  1 GiB pages, and the low frame bits of a 2 MiB / 1 GiB leaf (a misaligned
  large frame).
* Rights combine over the levels: writable and user only if every level says
  so; no-execute if any level says so (when EFER.NXE). Supervisor writes ignore
  R/W when CR0.WP=0. SMEP forbids supervisor fetches from user pages; SMAP
  forbids supervisor data accesses to user pages unless EFLAGS.AC (``cpu.ac``).
* Accessed/Dirty are written only by an access that succeeds: A in every entry
  of the path, D in the leaf for a write. A write through a TLB entry whose page
  was not yet dirty walks again (to set D, faulting if the entry changed).
* The I bit of the error code is reported only when NXE or SMEP is on. A page
  fault invalidates the TLB entries for the faulting page (so a stale,
  less-permissive entry faults once and then the next access walks afresh —
  the "spurious fault" case the kernel handles).
"""

from .pgtable_types import (_PAGE_PRESENT, _PAGE_RW, _PAGE_USER, _PAGE_ACCESSED, _PAGE_DIRTY,
                            _PAGE_PSE, _PAGE_GLOBAL, _PAGE_NX)

PF_PROT = 1 << 0
PF_WRITE = 1 << 1
PF_USER = 1 << 2
PF_RSVD = 1 << 3
PF_INSTR = 1 << 4
PF_PK = 1 << 5

READ = 0
WRITE = PF_WRITE
EXEC = PF_INSTR
USER = PF_USER
ACCESS_CODES = (0, PF_WRITE, PF_USER, PF_USER | PF_WRITE, PF_INSTR, PF_INSTR | PF_USER)

_ADDR_RSVD = ((1 << 52) - 1) & ~((1 << 46) - 1)     # MAXPHYADDR = 46
_LARGE_2M_RSVD = ((1 << 21) - 1) & ~((1 << 13) - 1)  # bits 20:13 of a 2 MiB leaf
_LARGE_1G_RSVD = ((1 << 30) - 1) & ~((1 << 13) - 1)  # bits 29:13 of a 1 GiB leaf
_FRAME = ((1 << 46) - 1) & ~0xFFF
LEVEL_NAMES = ("PGD", "PUD", "PMD", "PTE")
# rights bits kept in a TLB entry
R_RW, R_USER, R_NX, R_DIRTY = 1, 2, 4, 8


class PageFault(Exception):
    """#PF: ``error_code`` (PF_* bits) and ``cr2`` (the faulting address)."""

    def __init__(self, error_code: int, cr2: int, level: str = ""):
        super().__init__(f"page fault at {cr2:#x} error code {error_code:#x}"
                         + (f" ({level})" if level else ""))
        self.error_code = error_code
        self.cr2 = cr2
        self.level = level


class GeneralProtection(Exception):
    """#GP(0): a non-canonical address."""

    def __init__(self, addr: int):
        super().__init__(f"general protection fault: non-canonical address {addr:#x}")
        self.addr = addr


def _table(m, pfn: int):
    """Read access to a frame as 512 entries, as the page walker sees memory."""
    v = m.pgtables.get(pfn)
    if v is not None:
        return v
    buf = m.page_contents.get(pfn)
    if buf is not None and len(buf) == 4096:
        return memoryview(buf).cast("Q")
    if pfn >= m.max_pfn:
        return _ALL_ONES             # no memory there: reads float high
    return _ZEROS


_ZEROS = (0,) * 512
_ALL_ONES = ((1 << 64) - 1,) * 512


def rights_denied(cpu, rights: int, access: int) -> bool:
    """True when ``access`` is not allowed by combined ``rights`` (not counting dirty)."""
    user_page = rights & R_USER
    if access & PF_USER:
        if not user_page:
            return True
        if access & PF_WRITE and not rights & R_RW:
            return True
        if access & PF_INSTR and rights & R_NX and cpu.nxe:
            return True
        return False
    if access & PF_INSTR:
        if rights & R_NX and cpu.nxe:
            return True
        if user_page and cpu.smep:
            return True
    elif user_page and cpu.smap and not cpu.ac:
        return True
    if access & PF_WRITE and not rights & R_RW and cpu.wp:
        return True
    return False


def okmask(cpu, rights: int) -> int:
    """Bit ``a`` set for each access code ``a`` a TLB entry with ``rights`` serves directly."""
    cache = cpu.okcache
    v = cache.get(rights)
    if v is None:
        v = 0
        for a in ACCESS_CODES:
            if rights_denied(cpu, rights, a):
                continue
            if a & PF_WRITE and not rights & R_DIRTY:
                continue                      # the first write must walk to set D
            v |= 1 << a
        cache[rights] = v
    return v


def _error_code(cpu, access: int, extra: int) -> int:
    code = (access & (PF_WRITE | PF_USER)) | extra
    if access & PF_INSTR and (cpu.nxe or cpu.smep):
        code |= PF_INSTR
    return code


def walk_tables(cpu, va: int, access: int = 0):
    """The page walk from CR3; sets A/D on success. Returns
    ``(phys_base, shift, rights, global, dirty)`` or raises PageFault."""
    m = cpu.m
    cpu.tlb.walks += 1
    if not (va < (1 << 47) or (1 << 64) - (1 << 47) <= va < (1 << 64)):
        raise GeneralProtection(va)
    nx_rsvd = 0 if cpu.nxe else _PAGE_NX
    pfn = cpu.cr3 >> 12
    rw = user = True
    nx = False
    path = []
    for level, shift in ((0, 39), (1, 30), (2, 21), (3, 12)):
        tab = _table(m, pfn)
        idx = (va >> shift) & 511
        e = tab[idx]
        if not e & _PAGE_PRESENT:
            cpu.cr2 = va
            raise PageFault(_error_code(cpu, access, 0), va, LEVEL_NAMES[level])
        rsvd = e & (_ADDR_RSVD | nx_rsvd)
        large = level in (1, 2) and e & _PAGE_PSE
        if level == 0 and e & _PAGE_PSE:
            rsvd = 1
        elif large:
            if level == 1 and not cpu.has_gbpages:
                rsvd = 1
            elif e & (_LARGE_1G_RSVD if level == 1 else _LARGE_2M_RSVD):
                rsvd = 1
        if rsvd:
            cpu.cr2 = va
            raise PageFault(_error_code(cpu, access, PF_PROT | PF_RSVD), va, LEVEL_NAMES[level])
        rw = rw and bool(e & _PAGE_RW)
        user = user and bool(e & _PAGE_USER)
        nx = nx or bool(e & _PAGE_NX)
        path.append((pfn, idx))
        if large or level == 3:
            break
        pfn = (e & _FRAME) >> 12
    rights = (R_RW if rw else 0) | (R_USER if user else 0) | (R_NX if nx else 0)
    if rights_denied(cpu, rights, access):
        cpu.cr2 = va
        raise PageFault(_error_code(cpu, access, PF_PROT), va, LEVEL_NAMES[level])
    # success: the hardware writes A on the path and D on the leaf for a write
    for i, (tpfn, idx) in enumerate(path):
        t = m.pgtables.get(tpfn)
        if t is None:
            from .pgtable import pt_entries
            t = pt_entries(m, tpfn)
        v = t[idx]
        nv = v | _PAGE_ACCESSED
        if i == len(path) - 1 and access & PF_WRITE:
            nv |= _PAGE_DIRTY
        if nv != v:
            t[idx] = nv
    leaf = t[idx]
    if shift == 12:
        base = leaf & _FRAME
    else:
        base = leaf & _FRAME & ~((1 << shift) - 1)
    dirty = bool(leaf & _PAGE_DIRTY)
    glob = bool(leaf & _PAGE_GLOBAL) and cpu.pge
    return base, shift, rights | (R_DIRTY if dirty else 0), glob, dirty


def translate(cpu, va: int, access: int = 0) -> int:
    """Physical address for ``va`` as this CPU would access it (TLB, then walk).

    >>> translate(m.cpus[0], 0xffff880000001000)
    4096

    :param cpu: ``arch.x86.cpu.Cpu``
    :param va: virtual address
    :param access: PF_WRITE / PF_USER / PF_INSTR bits
    :raises PageFault: with ``error_code`` and ``cr2``
    :raises GeneralProtection: ``va`` is not canonical
    """
    tlb = cpu.tlb
    vpn = va >> 12
    s = tlb.l1sets[vpn & tlb.l1mask]
    e = s.get(vpn)
    if e is not None and (e[1] >> access) & 1:
        del s[vpn]
        s[vpn] = e
        tlb.hits += 1
        return e[0] | (va & 0xFFF)
    return _translate_slow(cpu, va, access, e)


def _translate_slow(cpu, va: int, access: int, e):
    tlb = cpu.tlb
    shift = 12
    if e is None:
        e, shift = tlb.lookup_slow(va)
    else:
        tlb.hits += 1
    if e is not None:
        if (e[1] >> access) & 1:
            return e[0] | (va & ((1 << shift) - 1))
        if rights_denied(cpu, e[3], access):
            # the cached rights forbid it: fault without walking, and forget the page
            tlb.invlpg(va)
            tlb.flush_one -= 1
            cpu.cr2 = va
            raise PageFault(_error_code(cpu, access, PF_PROT), va, "TLB")
        # allowed but not yet dirty: walk again to set D
    else:
        tlb.misses += 1
    try:
        base, shift, rights, glob, dirty = walk_tables(cpu, va, access)
    except PageFault:
        tlb.invlpg(va)
        tlb.flush_one -= 1           # a fault's invalidation is not an INVLPG
        raise
    tlb.fill(va, shift, (base, okmask(cpu, rights), glob, rights, dirty))
    return base | (va & ((1 << shift) - 1))


# -- the access paths' translate ---------------------------------------------------------

# the user access paths take translate_user's inline miss-and-walk for the common case (4 KiB
# pages, NX on, every table a registered page-table frame); False sends every access through
# translate() and its exceptions, the reference tests/test_fault_fast.py compares against
TRANSLATE_USER_FAST = True

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


def translate_user(cpu, va: int, access: int) -> int:
    """Physical address for a user-mode ``access`` (one of ACCESS_CODES) to ``va``, or
    ``~error_code`` when it faults (``cpu.cr2`` set, the page's TLB entries gone), exactly
    as ``translate`` would leave the CPU. A full TLB miss walks the tables inline here;
    anything unusual goes through ``translate``'s own slow path.

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
    if (not TRANSLATE_USER_FAST or va >> 47 or not cpu.nxe
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
