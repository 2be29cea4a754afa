"""Per-CPU TLBs and the kernel's TLB flushing (arch/x86/mm/tlb.c, asm/tlbflush.h).

Interface (stable):

* ``Tlb(geometry)``: the set-associative translation caches of one CPU —
  an L1 dTLB for 4 KiB pages, one for 2 MiB pages, one for 1 GiB pages and a
  shared second-level STLB for 4 KiB and 2 MiB pages. Each set is a dict in LRU
  order (oldest first). An entry is a tuple ``(phys_base, okmask, global, rights,
  dirty)``: ``okmask`` has bit ``a`` set when access code ``a`` (the #PF error-code
  bits W|U|I) may use the entry without a walk; see mmu.py.
* Hardware operations on a CPU: ``tlb.flush_nonglobal()`` (CR3 write),
  ``tlb.flush_everything()`` (CR4.PGE toggle), ``tlb.invlpg(va)``.
* Kernel flushes (``m`` = machine; "current" is ``m.cpus[m.current_cpu]``):
  ``flush_tlb_mm_range(m, mm, start, end, vmflag)``, ``flush_tlb_mm``,
  ``flush_tlb_page(m, vma, va)``, ``flush_tlb_range(m, vma, s, e)``,
  ``flush_tlb_all(m)``, ``flush_tlb_kernel_range(m, s, e)``, ``leave_mm(m, cpu)``.
  Remote shootdowns go to the other CPUs in ``mm.cpu_vm_mask``; they are counted
  in the ``nr_tlb_*`` vm events and per CPU in ``cpu.tlb.ipis``.
* ``m.tlb_single_page_flush_ceiling`` (33) is served at
  ``/sys/kernel/debug/x86/tlb_single_page_flush_ceiling``.

Not modelled: instruction TLBs (fetches use the data TLBs) and paging-structure
caches (a miss always walks from CR3).
"""

import errno

from .page_types import PAGE_SIZE, PAGE_SHIFT
from ...errors import KernelBug, SyscallError
from ...include.mm import VM_HUGETLB
from ...include.vm_event_item import VM_EVENT

TLB_FLUSH_ALL = (1 << 64) - 1
TLBSTATE_OK = 1
TLBSTATE_LAZY = 2

NR_TLB_REMOTE_FLUSH = VM_EVENT["nr_tlb_remote_flush"]
NR_TLB_REMOTE_FLUSH_RECEIVED = VM_EVENT["nr_tlb_remote_flush_received"]
NR_TLB_LOCAL_FLUSH_ALL = VM_EVENT["nr_tlb_local_flush_all"]
NR_TLB_LOCAL_FLUSH_ONE = VM_EVENT["nr_tlb_local_flush_one"]

# a 2016 server core (Skylake-SP): (entries, ways) per structure
DEFAULT_GEOMETRY = {"l1_4k": (64, 4), "l1_2m": (32, 4), "l1_1g": (4, 4), "stlb": (1536, 12)}


class TlbLevel:
    """One set-associative structure: ``sets[i]`` is a dict key -> entry in LRU order."""

    __slots__ = ("name", "entries", "ways", "nsets", "mask", "sets")

    def __init__(self, name: str, entries: int, ways: int):
        if entries <= 0 or ways <= 0 or entries % ways:
            raise ValueError(f"{name}: {entries} entries cannot be split into {ways} ways")
        nsets = entries // ways
        if nsets & (nsets - 1):
            raise ValueError(f"{name}: the number of sets ({nsets}) must be a power of two")
        self.name = name
        self.entries = entries
        self.ways = ways
        self.nsets = nsets
        self.mask = nsets - 1
        self.sets = [dict() for _ in range(nsets)]

    def insert(self, key: int, idx: int, entry) -> None:
        s = self.sets[idx & self.mask]
        if key in s:
            del s[key]
        elif len(s) >= self.ways:
            del s[next(iter(s))]          # evict the least recently used way
        s[key] = entry

    def lookup(self, key: int, idx: int):
        s = self.sets[idx & self.mask]
        e = s.get(key)
        if e is not None:
            del s[key]
            s[key] = e
        return e

    def drop(self, key: int, idx: int) -> None:
        self.sets[idx & self.mask].pop(key, None)

    def flush(self, keep_global: bool) -> None:
        for i, s in enumerate(self.sets):
            if s:
                self.sets[i] = {k: e for k, e in s.items() if e[2]} if keep_global else {}

    def __len__(self):
        return sum(len(s) for s in self.sets)

    def keys(self):
        for s in self.sets:
            yield from s


class Tlb:
    """The translation caches of one CPU and their counters."""

    __slots__ = ("l1_4k", "l1_2m", "l1_1g", "stlb", "l1sets", "l1mask", "l2msets", "l2mmask",
                 "l1gsets", "l1gmask", "stlbsets", "stlbmask", "l1ways", "stlbways", "hits", "stlb_hits",
                 "misses", "walks", "flush_full", "flush_global", "flush_one", "ipis")

    def __init__(self, geometry=None):
        g = dict(DEFAULT_GEOMETRY)
        g.update(geometry or {})
        unknown = set(g) - set(DEFAULT_GEOMETRY)
        if unknown:
            raise ValueError(f"unknown TLB structure(s): {', '.join(sorted(unknown))}")
        self.l1_4k = TlbLevel("l1_4k", *g["l1_4k"])
        self.l1_2m = TlbLevel("l1_2m", *g["l1_2m"])
        self.l1_1g = TlbLevel("l1_1g", *g["l1_1g"])
        self.stlb = TlbLevel("stlb", *g["stlb"])
        # the hit and miss paths of mmu.py read the sets directly (flushes replace a set's
        # dict inside these lists, never the lists themselves)
        self.l1sets = self.l1_4k.sets
        self.l1mask = self.l1_4k.mask
        self.l2msets = self.l1_2m.sets
        self.l2mmask = self.l1_2m.mask
        self.l1gsets = self.l1_1g.sets
        self.l1gmask = self.l1_1g.mask
        self.stlbsets = self.stlb.sets
        self.stlbmask = self.stlb.mask
        self.l1ways = self.l1_4k.ways
        self.stlbways = self.stlb.ways
        self.hits = self.stlb_hits = self.misses = self.walks = 0
        self.flush_full = self.flush_global = self.flush_one = self.ipis = 0

    def levels(self):
        return (self.l1_4k, self.l1_2m, self.l1_1g, self.stlb)

    def fill(self, va: int, shift: int, entry) -> None:
        """Install a translation found by a walk (or promoted from the STLB)."""
        if shift == 12:
            vpn = va >> 12
            self.stlb.insert(vpn, vpn, entry)
            self.l1_4k.insert(vpn, vpn, entry)
        elif shift == 21:
            n = va >> 21
            self.stlb.insert(~n, n, entry)
            self.l1_2m.insert(n, n, entry)
        else:
            n = va >> 30
            self.l1_1g.insert(n, n, entry)

    def lookup_slow(self, va: int):
        """(entry, shift) from the 2M/1G L1s or the STLB (promoting into L1), or (None, 0)."""
        n2 = va >> 21
        e = self.l1_2m.lookup(n2, n2)
        if e is not None:
            self.hits += 1
            return e, 21
        n1 = va >> 30
        e = self.l1_1g.lookup(n1, n1)
        if e is not None:
            self.hits += 1
            return e, 30
        vpn = va >> 12
        e = self.stlb.lookup(vpn, vpn)
        if e is not None:
            self.stlb_hits += 1
            self.l1_4k.insert(vpn, vpn, e)
            return e, 12
        e = self.stlb.lookup(~n2, n2)
        if e is not None:
            self.stlb_hits += 1
            self.l1_2m.insert(n2, n2, e)
            return e, 21
        return None, 0

    def invlpg(self, va: int) -> None:
        """INVLPG: drop every entry for the page containing ``va``, global or not."""
        vpn, n2, n1 = va >> 12, va >> 21, va >> 30
        self.l1_4k.drop(vpn, vpn)
        self.stlb.drop(vpn, vpn)
        self.l1_2m.drop(n2, n2)
        self.stlb.drop(~n2, n2)
        self.l1_1g.drop(n1, n1)
        self.flush_one += 1

    def flush_nonglobal(self) -> None:
        """A CR3 write without PCID: everything but global entries goes."""
        for lv in self.levels():
            lv.flush(True)
        self.flush_full += 1

    def flush_everything(self) -> None:
        """CR4.PGE toggle (__flush_tlb_global): global entries go too."""
        for lv in self.levels():
            lv.flush(False)
        self.flush_global += 1

    def nr_entries(self) -> int:
        return sum(len(lv) for lv in self.levels())

    def counters(self) -> dict:
        return {"hits": self.hits, "stlb_hits": self.stlb_hits, "misses": self.misses,
                "walks": self.walks, "flush_full": self.flush_full,
                "flush_global": self.flush_global, "flush_one": self.flush_one,
                "ipis": self.ipis, "entries": self.nr_entries()}


# -- kernel side -------------------------------------------------------------------

def count_vm_tlb_event(m, item: int) -> None:
    m.pgdat.vm_events[item] += 1


def _this_cpu(m):
    return m.cpus[m.current_cpu]


def _current_mm_pair(cpu):
    """(current->mm, current->active_mm). With no task object on the CPU, a CPU in
    TLBSTATE_OK runs a user task of its loaded mm, otherwise the idle task."""
    t = cpu.current
    if t is None:
        return (cpu.active_mm if cpu.tlbstate == TLBSTATE_OK else None), cpu.active_mm
    return t.mm, t.active_mm


def local_flush_tlb(cpu) -> None:
    """__flush_tlb: rewrite CR3 with its own value."""
    cpu.write_cr3(cpu.cr3)


def __flush_tlb_single(cpu, addr: int) -> None:
    cpu.tlb.invlpg(addr)


__flush_tlb_one = __flush_tlb_single


def __flush_tlb_all(cpu) -> None:
    """__flush_tlb_global when PGE is on (INVPCID is not used by 4.6 here)."""
    if cpu.cr4 & cpu.X86_CR4_PGE:
        cpu.tlb.flush_everything()
    else:
        local_flush_tlb(cpu)


def leave_mm(m, cpu) -> None:
    """A lazy CPU stops following its borrowed mm and loads swapper_pg_dir."""
    if cpu.tlbstate == TLBSTATE_OK:
        raise KernelBug(f"leave_mm on cpu{cpu.cpu} in TLBSTATE_OK")
    mm = cpu.active_mm
    if cpu.cpu in mm.cpu_vm_mask:
        mm.cpu_vm_mask.discard(cpu.cpu)
        cpu.load_cr3(m.init_mm.pgd)


def flush_tlb_func(m, cpu, flush_mm, start: int, end: int) -> None:
    """The shootdown IPI handler on a remote CPU."""
    cpu.tlb.ipis += 1
    if flush_mm is not None and flush_mm is not cpu.active_mm:
        return
    count_vm_tlb_event(m, NR_TLB_REMOTE_FLUSH_RECEIVED)
    if cpu.tlbstate == TLBSTATE_OK:
        if end == TLB_FLUSH_ALL:
            local_flush_tlb(cpu)
        else:
            for addr in range(start, end, PAGE_SIZE):
                __flush_tlb_single(cpu, addr)
    else:
        leave_mm(m, cpu)


def native_flush_tlb_others(m, cpumask, mm, start: int, end: int) -> None:
    if end == 0:
        end = start + PAGE_SIZE
    count_vm_tlb_event(m, NR_TLB_REMOTE_FLUSH)
    me = m.current_cpu
    for c in sorted(cpumask):
        if c != me:
            flush_tlb_func(m, m.cpus[c], mm, start, end)


flush_tlb_others = native_flush_tlb_others


def _others(m, mm) -> bool:
    return any(c != m.current_cpu for c in mm.cpu_vm_mask)


def flush_tlb_mm_range(m, mm, start: int, end: int, vmflag: int = 0) -> None:
    """Flush [start, end) of ``mm`` here (INVLPGs up to the ceiling, else a CR3
    reload) and shoot down the other CPUs in mm_cpumask."""
    cpu = _this_cpu(m)
    base_pages_to_flush = TLB_FLUSH_ALL
    cur_mm, cur_active = _current_mm_pair(cpu)
    if cur_active is mm:
        if cur_mm is None:
            leave_mm(m, cpu)
        else:
            if end != TLB_FLUSH_ALL and not vmflag & VM_HUGETLB:
                base_pages_to_flush = (end - start) >> PAGE_SHIFT
            if base_pages_to_flush > m.tlb_single_page_flush_ceiling:
                base_pages_to_flush = TLB_FLUSH_ALL
                count_vm_tlb_event(m, NR_TLB_LOCAL_FLUSH_ALL)
                local_flush_tlb(cpu)
            else:
                for addr in range(start, end, PAGE_SIZE):
                    count_vm_tlb_event(m, NR_TLB_LOCAL_FLUSH_ONE)
                    __flush_tlb_single(cpu, addr)
    if base_pages_to_flush == TLB_FLUSH_ALL:
        start, end = 0, TLB_FLUSH_ALL
    if _others(m, mm):
        flush_tlb_others(m, mm.cpu_vm_mask, mm, start, end)


def flush_tlb_mm(m, mm) -> None:
    flush_tlb_mm_range(m, mm, 0, TLB_FLUSH_ALL, 0)


def flush_tlb_range(m, vma, start: int, end: int) -> None:
    flush_tlb_mm_range(m, vma.vm_mm, start, end, vma.vm_flags)


def flush_tlb_page(m, vma, start: int) -> None:
    cpu = _this_cpu(m)
    mm = vma.vm_mm
    cur_mm, cur_active = _current_mm_pair(cpu)
    if cur_active is mm:
        if cur_mm is not None:
            __flush_tlb_one(cpu, start)
        else:
            leave_mm(m, cpu)
    if _others(m, mm):
        flush_tlb_others(m, mm.cpu_vm_mask, mm, start, 0)


def flush_tlb_current_task(m) -> None:
    cpu = _this_cpu(m)
    mm = cpu.current.mm
    count_vm_tlb_event(m, NR_TLB_LOCAL_FLUSH_ALL)
    local_flush_tlb(cpu)
    if _others(m, mm):
        flush_tlb_others(m, mm.cpu_vm_mask, mm, 0, TLB_FLUSH_ALL)


def do_flush_tlb_all(m, cpu) -> None:
    count_vm_tlb_event(m, NR_TLB_REMOTE_FLUSH_RECEIVED)
    __flush_tlb_all(cpu)
    if cpu.tlbstate == TLBSTATE_LAZY:
        leave_mm(m, cpu)


def flush_tlb_all(m) -> None:
    """Every CPU drops every entry, global ones included (on_each_cpu)."""
    count_vm_tlb_event(m, NR_TLB_REMOTE_FLUSH)
    for cpu in m.cpus:
        if cpu.cpu != m.current_cpu:
            cpu.tlb.ipis += 1
        do_flush_tlb_all(m, cpu)


def flush_tlb_kernel_range(m, start: int, end: int) -> None:
    if end == TLB_FLUSH_ALL or end - start > m.tlb_single_page_flush_ceiling * PAGE_SIZE:
        for cpu in m.cpus:
            if cpu.cpu != m.current_cpu:
                cpu.tlb.ipis += 1
            do_flush_tlb_all(m, cpu)
    else:
        for cpu in m.cpus:
            if cpu.cpu != m.current_cpu:
                cpu.tlb.ipis += 1
            for addr in range(start, end, PAGE_SIZE):
                __flush_tlb_single(cpu, addr)


# -- debugfs: x86/tlb_single_page_flush_ceiling ------------------------------------------

def register(procfs) -> None:
    """Serve /sys/kernel/debug/x86/tlb_single_page_flush_ceiling (mode 0600)."""
    m = procfs.m

    def render():
        return f"{m.tlb_single_page_flush_ceiling}\n"

    def write(text):
        t = text[:31].strip()
        try:
            v = int(t, 0)
        except ValueError:
            raise SyscallError(errno.EINVAL, "write") from None
        if v < 0 or v >= 1 << 31:
            raise SyscallError(errno.EINVAL, "write")
        m.tlb_single_page_flush_ceiling = v

    procfs.add_text("/sys/kernel/debug/x86/tlb_single_page_flush_ceiling", render, write)
