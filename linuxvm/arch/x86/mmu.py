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
  fault returned as ``~error_code`` instead of raised (same state either way; its
  accelerator is in linuxvm/accel/mmu.py).

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

from .pgtable import pt_entries
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

def translate_user(cpu, va: int, access: int) -> int:
    """Physical address for a user-mode ``access`` (one of ACCESS_CODES) to ``va``, or
    ``~error_code`` when it faults (``cpu.cr2`` set, the page's TLB entries gone), exactly
    as ``translate`` leaves the CPU: the fault handler wants the error code, not an
    exception (the trap frame of do_page_fault).

    Accelerator: ``translate_user`` in linuxvm/accel/mmu.py (a full TLB miss walked inline).

    :raises GeneralProtection: ``va`` is not canonical
    """
    fast = cpu.m.accel.translate_user
    if fast is not None:
        return fast(cpu, va, access)
    try:
        return translate(cpu, va, access)
    except PageFault as pf:
        return ~pf.error_code
