"""Page-table entries: encode/decode, the pXX_* helpers and swap entries
(arch/x86/include/asm/pgtable.h, pgtable_64.h, pgtable_64_types.h, include/linux/swapops.h).

Interface (stable; other subsystems rely on it):

* An entry is a plain ``int`` holding the 64-bit value (``pte_val``). Helpers
  take and return ints; ``pte_mk*`` return a new value.
* **Where entries live.** A page-table page is a real frame. Its 512 entries are
  the frame's bytes: ``m.page_contents[pfn]`` is a ``bytearray(4096)`` and
  ``m.pgtables[pfn]`` is a ``memoryview`` of the same buffer cast to unsigned
  64-bit (little-endian on the host, as on x86). The MMU reads exactly those.
  ``pt_entries(m, pfn)`` returns the view (creating a zeroed table if the frame
  has no bytes yet); ``pt_array(m, pfn)`` a NumPy uint64 view for range
  operations. ``pt_release(m, pfn)`` forgets a table before its frame is freed.
* An entry "pointer" (the kernel's ``pte_t *``) is a pair ``(table_pfn, index)``.
  ``pgd_offset(mm, addr)``, ``pud_offset(m, pgd, addr)``, … return such pairs;
  ``get_entry(m, ptr)`` / ``set_entry(m, ptr, val)`` read and write them.
"""

import numpy as np

from .page_types import (PAGE_SHIFT, PAGE_SIZE, PMD_SHIFT, PUD_SHIFT, PGDIR_SHIFT,
                         __PHYSICAL_MASK, __PHYSICAL_MASK_SHIFT, PAGE_OFFSET, KERNEL_IMAGE_SIZE,
                         __START_KERNEL_map, __pa)
from .pgtable_types import *          # noqa: F401,F403  (the _PAGE_* names belong here too)
from .pgtable_types import (PTE_FLAGS_MASK, _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, _PAGE_ACCESSED, _PAGE_DIRTY,
                            _PAGE_PSE, _PAGE_GLOBAL, _PAGE_SPECIAL, _PAGE_SOFT_DIRTY, _PAGE_NX,
                            _PAGE_PROTNONE, _PAGE_DEVMAP, _PAGE_SWP_SOFT_DIRTY, _PAGE_TABLE,
                            _KERNPG_TABLE, _PAGE_CHG_MASK, _HPAGE_CHG_MASK, PTE_PFN_MASK,
                            PHYSICAL_PMD_PAGE_MASK, PHYSICAL_PUD_PAGE_MASK, _PAGE_BIT_PRESENT,
                            _PAGE_BIT_PROTNONE, _PAGE_PAT, _PAGE_PAT_LARGE)

U64 = (1 << 64) - 1

# __supported_pte_mask after probe_page_size_mask on a CPU with NX and PGE
__supported_pte_mask = U64

# -- storage ----------------------------------------------------------------------


def pt_entries(m, pfn: int) -> memoryview:
    """The 512 entries of page-table frame ``pfn`` as a writable u64 memoryview."""
    v = m.pgtables.get(pfn)
    if v is None:
        buf = m.page_contents.get(pfn)
        if buf is None:
            buf = m.page_contents[pfn] = bytearray(PAGE_SIZE)
        v = m.pgtables[pfn] = memoryview(buf).cast("Q")
    return v


def pt_array(m, pfn: int) -> np.ndarray:
    """NumPy uint64 view of table ``pfn`` (shares memory with ``pt_entries``)."""
    return np.frombuffer(pt_entries(m, pfn), dtype=np.uint64)


_EMPTY = np.zeros(512, dtype=np.uint64)
_EMPTY.flags.writeable = False


def read_table(m, pfn: int):
    """Entries of frame ``pfn`` for reading only: the table's view, the frame's bytes seen
    as entries, or 512 zeros. Never creates anything (for renderers and checks)."""
    v = m.pgtables.get(pfn)
    if v is not None:
        return v
    buf = m.page_contents.get(pfn)
    if buf is not None and len(buf) == PAGE_SIZE:
        return memoryview(bytes(buf)).cast("Q")
    return _EMPTY


def read_array(m, pfn: int) -> np.ndarray:
    """``read_table`` as a read-only NumPy uint64 array."""
    t = read_table(m, pfn)
    return t if isinstance(t, np.ndarray) else np.frombuffer(t, dtype=np.uint64)


def pt_release(m, pfn: int) -> None:
    """Forget table ``pfn``'s entries (its frame is about to be freed)."""
    v = m.pgtables.pop(pfn, None)
    if v is not None:
        v.release()
    m.page_contents.pop(pfn, None)


def get_entry(m, ptr) -> int:
    return pt_entries(m, ptr[0])[ptr[1]]


def set_entry(m, ptr, val: int) -> None:
    """set_pte / set_pmd / set_pud / set_pgd."""
    pt_entries(m, ptr[0])[ptr[1]] = val & U64


def pte_clear(m, mm, addr: int, ptr) -> None:
    set_entry(m, ptr, 0)


def pmd_clear(m, ptr) -> None:
    set_entry(m, ptr, 0)


pud_clear = pgd_clear = pmd_clear


def ptep_get_and_clear(m, mm, addr: int, ptr) -> int:
    """Read and zero a PTE in one step (native_ptep_get_and_clear's xchg)."""
    t = pt_entries(m, ptr[0])
    v = t[ptr[1]]
    t[ptr[1]] = 0
    return v


# -- indices and offsets -----------------------------------------------------------

def pgd_index(addr: int) -> int:
    return (addr >> PGDIR_SHIFT) & 511


def pud_index(addr: int) -> int:
    return (addr >> PUD_SHIFT) & 511


def pmd_index(addr: int) -> int:
    return (addr >> PMD_SHIFT) & 511


def pte_index(addr: int) -> int:
    return (addr >> PAGE_SHIFT) & 511


def pgd_offset(mm, addr: int):
    """Pointer to the PGD entry for ``addr`` in ``mm`` (pgd_offset)."""
    return (mm.pgd, pgd_index(addr))


def pgd_offset_k(m, addr: int):
    return (m.init_mm.pgd, pgd_index(addr))


def pud_offset(pgd: int, addr: int):
    """Pointer to the PUD entry below PGD entry value ``pgd``."""
    return (pgd_pfn(pgd), pud_index(addr))


def pmd_offset(pud: int, addr: int):
    return (pud_pfn(pud), pmd_index(addr))


def pte_offset_kernel(pmd: int, addr: int):
    return (pmd_pfn(pmd), pte_index(addr))


pte_offset_map = pte_offset_kernel


# -- masks, pfns, pages ----------------------------------------------------------

def pte_flags(v: int) -> int:
    return v & PTE_FLAGS_MASK


def pmd_pfn_mask(v: int) -> int:
    return PHYSICAL_PMD_PAGE_MASK if v & _PAGE_PSE else PTE_PFN_MASK


def pud_pfn_mask(v: int) -> int:
    return PHYSICAL_PUD_PAGE_MASK if v & _PAGE_PSE else PTE_PFN_MASK


def pmd_flags_mask(v: int) -> int:
    return ~pmd_pfn_mask(v) & U64


def pud_flags_mask(v: int) -> int:
    return ~pud_pfn_mask(v) & U64


def pmd_flags(v: int) -> int:
    return v & pmd_flags_mask(v)


def pud_flags(v: int) -> int:
    return v & pud_flags_mask(v)


def pgd_flags(v: int) -> int:
    return v & PTE_FLAGS_MASK


def pte_pfn(v: int) -> int:
    return (v & PTE_PFN_MASK) >> PAGE_SHIFT


def pmd_pfn(v: int) -> int:
    return (v & pmd_pfn_mask(v)) >> PAGE_SHIFT


def pud_pfn(v: int) -> int:
    return (v & pud_pfn_mask(v)) >> PAGE_SHIFT


def pgd_pfn(v: int) -> int:
    return (v & PTE_PFN_MASK) >> PAGE_SHIFT


# pXX_page: the frame of the next level (a pfn stands for the struct page)
pte_page = pte_pfn
pmd_page = pmd_pfn
pud_page = pud_pfn
pgd_page = pgd_pfn


def pgd_page_vaddr(v: int) -> int:
    return PAGE_OFFSET + (v & PTE_PFN_MASK)


def pud_page_vaddr(v: int) -> int:
    return PAGE_OFFSET + (v & pud_pfn_mask(v))


def pmd_page_vaddr(v: int) -> int:
    return PAGE_OFFSET + (v & pmd_pfn_mask(v))


# -- none / present / bad ------------------------------------------------------

def pte_none(v: int) -> bool:
    return v == 0


pmd_none = pud_none = pgd_none = pte_none


def pte_present(v: int) -> bool:
    return bool(v & (_PAGE_PRESENT | _PAGE_PROTNONE))


def pmd_present(v: int) -> bool:
    # PSE counts: a THP split briefly clears PRESENT
    return bool(v & (_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_PSE))


def pud_present(v: int) -> bool:
    return bool(v & _PAGE_PRESENT)


pgd_present = pud_present


def pte_protnone(v: int) -> bool:
    return (v & (_PAGE_PROTNONE | _PAGE_PRESENT)) == _PAGE_PROTNONE


pmd_protnone = pte_protnone


def pgd_bad(v: int) -> bool:
    return (pgd_flags(v) & ~_PAGE_USER) != _KERNPG_TABLE


def pmd_bad(v: int) -> bool:
    return (pmd_flags(v) & ~_PAGE_USER) != _KERNPG_TABLE


def pud_bad(v: int) -> bool:
    return bool(pud_flags(v) & ~(_KERNPG_TABLE | _PAGE_USER))


def pmd_large(v: int) -> bool:
    return bool(v & _PAGE_PSE)


def pud_large(v: int) -> bool:
    return (v & (_PAGE_PSE | _PAGE_PRESENT)) == (_PAGE_PSE | _PAGE_PRESENT)


def pgd_large(v: int) -> bool:
    return False


def pmd_trans_huge(v: int) -> bool:
    return (v & (_PAGE_PSE | _PAGE_DEVMAP)) == _PAGE_PSE


def pmd_devmap(v: int) -> bool:
    return bool(v & _PAGE_DEVMAP)


def pmd_huge(v: int) -> bool:
    """hugetlb's test (arch/x86/mm/hugetlbpage.c): a non-empty entry that is not a plain table."""
    return v != 0 and (v & (_PAGE_PRESENT | _PAGE_PSE)) != _PAGE_PRESENT


def pud_huge(v: int) -> bool:
    return bool(v & _PAGE_PSE)


def pte_same(a: int, b: int) -> bool:
    return a == b


# -- pte tests ---------------------------------------------------------------------

def pte_young(v): return bool(v & _PAGE_ACCESSED)        # noqa: E704
def pte_dirty(v): return bool(v & _PAGE_DIRTY)           # noqa: E704
def pte_write(v): return bool(v & _PAGE_RW)              # noqa: E704
def pte_exec(v): return not v & _PAGE_NX                 # noqa: E704
def pte_global(v): return bool(v & _PAGE_GLOBAL)         # noqa: E704
def pte_special(v): return bool(v & _PAGE_SPECIAL)       # noqa: E704
def pte_soft_dirty(v): return bool(v & _PAGE_SOFT_DIRTY)  # noqa: E704
def pte_devmap(v): return bool(v & _PAGE_DEVMAP)         # noqa: E704
def pte_huge(v): return bool(v & _PAGE_PSE)              # noqa: E704
def pte_user(v): return bool(v & _PAGE_USER)             # noqa: E704


pmd_young, pmd_dirty, pmd_write, pmd_soft_dirty = pte_young, pte_dirty, pte_write, pte_soft_dirty

# -- pte modifiers -------------------------------------------------------------------


def pte_set_flags(v: int, f: int) -> int:
    return v | f


def pte_clear_flags(v: int, f: int) -> int:
    return v & ~f & U64


def pte_mkclean(v): return v & ~_PAGE_DIRTY & U64                    # noqa: E704
def pte_mkold(v): return v & ~_PAGE_ACCESSED & U64                   # noqa: E704
def pte_wrprotect(v): return v & ~_PAGE_RW & U64                     # noqa: E704
def pte_mkexec(v): return v & ~_PAGE_NX & U64                        # noqa: E704
def pte_mkdirty(v): return v | _PAGE_DIRTY | _PAGE_SOFT_DIRTY         # noqa: E704
def pte_mkyoung(v): return v | _PAGE_ACCESSED                        # noqa: E704
def pte_mkwrite(v): return v | _PAGE_RW                              # noqa: E704
def pte_mkhuge(v): return v | _PAGE_PSE                              # noqa: E704
def pte_clrhuge(v): return v & ~_PAGE_PSE & U64                      # noqa: E704
def pte_mkglobal(v): return v | _PAGE_GLOBAL                         # noqa: E704
def pte_clrglobal(v): return v & ~_PAGE_GLOBAL & U64                 # noqa: E704
def pte_mkspecial(v): return v | _PAGE_SPECIAL                       # noqa: E704
def pte_mkdevmap(v): return v | _PAGE_SPECIAL | _PAGE_DEVMAP         # noqa: E704
def pte_mksoft_dirty(v): return v | _PAGE_SOFT_DIRTY                 # noqa: E704
def pte_clear_soft_dirty(v): return v & ~_PAGE_SOFT_DIRTY & U64      # noqa: E704
def pte_mknotpresent(v): return v & ~(_PAGE_PRESENT | _PAGE_PROTNONE) & U64  # noqa: E704


pmd_mkclean, pmd_mkold, pmd_wrprotect, pmd_mkdirty = pte_mkclean, pte_mkold, pte_wrprotect, pte_mkdirty
pmd_mkyoung, pmd_mkwrite, pmd_mkhuge = pte_mkyoung, pte_mkwrite, pte_mkhuge
pmd_mksoft_dirty, pmd_clear_soft_dirty, pmd_mknotpresent = (pte_mksoft_dirty, pte_clear_soft_dirty,
                                                            pte_mknotpresent)


def massage_pgprot(prot: int) -> int:
    """Drop flags the CPU does not support, but only from present protections."""
    return prot & __supported_pte_mask if prot & _PAGE_PRESENT else prot


def pfn_pte(pfn: int, prot: int) -> int:
    return ((pfn << PAGE_SHIFT) | massage_pgprot(prot)) & U64


pfn_pmd = pfn_pud = pfn_pte


def mk_pte(pfn: int, prot: int) -> int:
    """mk_pte(page, pgprot): the page is named by its frame number."""
    return pfn_pte(pfn, prot)


def mk_pmd(pfn: int, prot: int) -> int:
    return pfn_pmd(pfn, prot)


def pte_modify(v: int, newprot: int) -> int:
    """Keep the frame and the A/D/soft-dirty/special bits; take the rest from ``newprot``."""
    return (v & _PAGE_CHG_MASK) | (massage_pgprot(newprot) & ~_PAGE_CHG_MASK & U64)


def pmd_modify(v: int, newprot: int) -> int:
    return (v & _HPAGE_CHG_MASK) | (massage_pgprot(newprot) & ~_HPAGE_CHG_MASK & U64)


def pte_pgprot(v: int) -> int:
    return pte_flags(v)


def pgprot_large_2_4k(prot: int) -> int:
    """Move the PAT bit from bit 12 (large pages) to bit 7 (4K pages)."""
    val = prot & ~(_PAGE_PAT | _PAGE_PAT_LARGE) & U64
    return val | (_PAGE_PAT if prot & _PAGE_PAT_LARGE else 0)


# -- swap entries ---------------------------------------------------------------------
# arch part: type in bits 1-5, offset from bit 9 (above PROTNONE so it never looks present)
SWP_TYPE_BITS = 5
SWP_OFFSET_SHIFT = _PAGE_BIT_PROTNONE + 1
# generic swp_entry_t: type in the top MAX_SWAPFILES_SHIFT bits
MAX_SWAPFILES_SHIFT = 5
SWP_TYPE_SHIFT = 64 - MAX_SWAPFILES_SHIFT
SWP_OFFSET_MASK = (1 << SWP_TYPE_SHIFT) - 1
SWP_MIGRATION_NUM = 2
SWP_HWPOISON_NUM = 1
MAX_SWAPFILES = (1 << MAX_SWAPFILES_SHIFT) - SWP_MIGRATION_NUM - SWP_HWPOISON_NUM   # 29
SWP_HWPOISON = MAX_SWAPFILES
SWP_MIGRATION_READ = MAX_SWAPFILES + SWP_HWPOISON_NUM
SWP_MIGRATION_WRITE = MAX_SWAPFILES + SWP_HWPOISON_NUM + 1


def __swp_type(arch: int) -> int:
    return (arch >> (_PAGE_BIT_PRESENT + 1)) & ((1 << SWP_TYPE_BITS) - 1)


def __swp_offset(arch: int) -> int:
    return arch >> SWP_OFFSET_SHIFT


def __swp_entry(type_: int, offset: int) -> int:
    return ((type_ << (_PAGE_BIT_PRESENT + 1)) | (offset << SWP_OFFSET_SHIFT)) & U64


def swp_entry(type_: int, offset: int) -> int:
    """Generic swp_entry_t value (include/linux/swapops.h)."""
    if not 0 <= type_ < 1 << MAX_SWAPFILES_SHIFT:
        raise ValueError(f"swap type {type_} out of range")
    if not 0 <= offset < 1 << (64 - SWP_OFFSET_SHIFT):
        raise ValueError(f"swap offset {offset:#x} does not fit a pte")
    return (type_ << SWP_TYPE_SHIFT) | offset


def swp_type(entry: int) -> int:
    return entry >> SWP_TYPE_SHIFT


def swp_offset(entry: int) -> int:
    return entry & SWP_OFFSET_MASK


def non_swap_entry(entry: int) -> bool:
    return swp_type(entry) >= MAX_SWAPFILES


def is_swap_pte(v: int) -> bool:
    return not pte_none(v) and not pte_present(v)


def pte_to_swp_entry(v: int) -> int:
    arch = v & ~_PAGE_SWP_SOFT_DIRTY & U64
    return swp_entry(__swp_type(arch), __swp_offset(arch))


def swp_entry_to_pte(entry: int) -> int:
    return __swp_entry(swp_type(entry), swp_offset(entry))


def pte_swp_mksoft_dirty(v): return v | _PAGE_SWP_SOFT_DIRTY                  # noqa: E704
def pte_swp_soft_dirty(v): return bool(v & _PAGE_SWP_SOFT_DIRTY)              # noqa: E704
def pte_swp_clear_soft_dirty(v): return v & ~_PAGE_SWP_SOFT_DIRTY & U64       # noqa: E704


# -- decoding for people --------------------------------------------------------------
_FLAG_NAMES = [(_PAGE_PRESENT, "PRESENT"), (_PAGE_RW, "RW"), (_PAGE_USER, "USER"),
               (1 << 3, "PWT"), (1 << 4, "PCD"), (_PAGE_ACCESSED, "ACCESSED"),
               (_PAGE_DIRTY, "DIRTY"), (_PAGE_PSE, "PSE"), (_PAGE_GLOBAL, "GLOBAL"),
               (_PAGE_SPECIAL, "SPECIAL"), (1 << 10, "SOFTW2"), (_PAGE_SOFT_DIRTY, "SOFT_DIRTY"),
               (_PAGE_DEVMAP, "DEVMAP"), (_PAGE_NX, "NX")]


def decode_entry(v: int, level: str = "pte") -> str:
    """Names of the set flags, crash's ``vtop`` style: ``(PRESENT|RW|USER|ACCESSED|DIRTY|NX)``.

    A non-present entry shows as ``(PROTNONE|…)``, a swap entry or ``(none)``.
    """
    if v == 0:
        return "(none)"
    if not v & _PAGE_PRESENT:
        if v & _PAGE_PROTNONE and level in ("pte", "pmd"):
            names = ["PROTNONE"] + [n for b, n in _FLAG_NAMES[1:] if v & b and b != _PAGE_GLOBAL]
            return "(" + "|".join(names) + ")"
        if level == "pte":
            e = pte_to_swp_entry(v)
            return f"(swap type {swp_type(e)} offset {swp_offset(e):#x})"
        return "(not present)"
    names = []
    for bit, name in _FLAG_NAMES:
        if v & bit:
            if bit == _PAGE_PSE and level == "pte":
                name = "PAT"
            names.append(name)
    return "(" + "|".join(names) + ")"



# -- kernel addresses and struct pages (asm/page.h, asm/page_64.h) ------------------------

def page_address(pfn: int) -> int:
    """Direct-map address of frame ``pfn`` (``page_address(pfn_to_page(pfn))``)."""
    return PAGE_OFFSET + (pfn << PAGE_SHIFT)


def virt_to_page(kaddr: int) -> int:
    """Frame number (standing for the struct page) of a kernel address (``virt_to_page``)."""
    return __pa(kaddr) >> PAGE_SHIFT


def virt_addr_valid(m, kaddr: int) -> bool:
    """__virt_addr_valid: a direct-map or kernel-image address of a valid frame."""
    if kaddr >= __START_KERNEL_map:
        x = kaddr - __START_KERNEL_map
        if x >= KERNEL_IMAGE_SIZE:
            return False
    else:
        x = kaddr - PAGE_OFFSET
        if not 0 <= x < (1 << __PHYSICAL_MASK_SHIFT):
            return False
    return m.pfn_valid(x >> PAGE_SHIFT)
