"""CPUs: control registers, the running task, lazy TLB and switch_mm
(arch/x86/include/asm/mmu_context.h, kernel/sched/core.c context_switch, arch/x86/mm/tlb.c).

Interface (stable):

* ``m.cpus[i]`` is a ``Cpu`` with ``cr0``, ``cr3`` (physical address of the
  loaded PGD), ``cr4``, ``efer``, ``cr2``, ``ac`` (EFLAGS.AC), ``current`` (the
  running task or None for the idle task), ``active_mm`` (cpu_tlbstate.active_mm),
  ``tlbstate`` (0, TLBSTATE_OK or TLBSTATE_LAZY) and ``tlb``.
* Tasks are duck-typed: ``.mm`` (None for a kernel thread) and ``.active_mm``.
* ``context_switch(m, cpu, prev, next)`` does what the scheduler does for memory;
  ``switch_mm(m, cpu, prev_mm, next_mm)`` writes CR3 (no PCID in 4.6, so every
  non-global TLB entry goes); ``enter_lazy_tlb`` keeps the old mm loaded.
* The CPU model (features) comes from ``CpuModel``; kernel parameters
  ``nogbpages``, ``nosmep``, ``nosmap`` and ``noexec=off`` on the command line
  turn features off as 4.6 does.
"""

from ...errors import KernelBug
from ...kernel.fork import mmdrop
from .mmu import okmask
from .tlb import Tlb, TLBSTATE_OK, TLBSTATE_LAZY

X86_CR0_PE = 1 << 0
X86_CR0_WP = 1 << 16
X86_CR0_PG = 1 << 31
X86_CR4_PSE = 1 << 4
X86_CR4_PAE = 1 << 5
X86_CR4_PGE = 1 << 7
X86_CR4_SMEP = 1 << 20
X86_CR4_SMAP = 1 << 21
EFER_SCE = 1 << 0
EFER_LME = 1 << 8
EFER_LMA = 1 << 10
EFER_NX = 1 << 11


class CpuModel:
    """What the processor supports: feature names and TLB geometry."""

    __slots__ = ("name", "features", "tlb_geometry", "cpuid_1_edx")

    def __init__(self, name="Intel Xeon (Skylake-SP class, 2016)", features=None,
                 tlb_geometry=None, cpuid_1_edx=0xbfebfbff):
        self.name = name
        # CPUID leaf 1 EDX, the feature word exec passes as AT_HWCAP (ELF_HWCAP)
        self.cpuid_1_edx = cpuid_1_edx
        self.features = set(features if features is not None else
                            ("pse", "pge", "nx", "pdpe1gb", "smep", "smap"))
        self.tlb_geometry = dict(tlb_geometry or {})


DEFAULT_CPU_MODEL = CpuModel()


class Cpu:
    """One logical CPU."""

    X86_CR4_PGE = X86_CR4_PGE

    __slots__ = ("cpu", "m", "model", "cr0", "cr2", "cr3", "cr4", "efer", "ac", "current",
                 "active_mm", "tlbstate", "tlb", "okcache", "wp", "nxe", "smep", "smap", "pge",
                 "has_gbpages")

    def __init__(self, m, index: int, model: CpuModel, cr4: int, efer: int):
        self.cpu = index
        self.m = m
        self.model = model
        self.cr0 = X86_CR0_PE | X86_CR0_WP | X86_CR0_PG
        self.cr2 = 0
        self.cr4 = cr4
        self.efer = efer
        self.ac = False
        self.current = None
        self.active_mm = m.init_mm
        self.tlbstate = 0
        self.tlb = Tlb(model.tlb_geometry)
        self.has_gbpages = "pdpe1gb" in model.features
        self.okcache = {}
        self._modes()
        self.cr3 = m.init_mm.pgd << 12

    def _modes(self):
        self.wp = bool(self.cr0 & X86_CR0_WP)
        self.nxe = bool(self.efer & EFER_NX)
        self.smep = bool(self.cr4 & X86_CR4_SMEP)
        self.smap = bool(self.cr4 & X86_CR4_SMAP)
        self.pge = bool(self.cr4 & X86_CR4_PGE)
        self.okcache = {}
        # rights are rechecked against the new modes: rebuild each cached entry's okmask
        for lv in self.tlb.levels():
            for s in lv.sets:
                for k, e in s.items():
                    s[k] = (e[0], okmask(self, e[3]), e[2], e[3], e[4])

    # -- registers ---------------------------------------------------------------
    def write_cr0(self, val: int) -> None:
        self.cr0 = val
        self._modes()

    def write_cr4(self, val: int) -> None:
        """Toggling PGE (or PSE/PAE/SMEP) flushes the whole TLB, globals included."""
        old = self.cr4
        self.cr4 = val
        if (old ^ val) & (X86_CR4_PGE | X86_CR4_PSE | X86_CR4_PAE | X86_CR4_SMEP):
            self.tlb.flush_everything()
        self._modes()

    def write_efer(self, val: int) -> None:
        self.efer = val
        self._modes()

    def write_cr3(self, phys: int) -> None:
        """MOV to CR3 without PCID: all non-global translations are dropped."""
        self.cr3 = phys
        self.tlb.flush_nonglobal()

    def load_cr3(self, pgd_pfn: int) -> None:
        self.write_cr3(pgd_pfn << 12)

    def stac(self) -> None:
        self.ac = True

    def clac(self) -> None:
        self.ac = False

    def __repr__(self):
        return f"<cpu{self.cpu} cr3={self.cr3:#x} tlbstate={self.tlbstate}>"


def setup_cpus(m, model: CpuModel = None):
    """The CPU list for ``m`` with CR4/EFER as 4.6 sets them at boot (probe_page_size_mask,
    setup_smep/setup_smap, the NX setup in head_64)."""
    model = model or DEFAULT_CPU_MODEL
    args = m.cmdline.split()
    cr4 = X86_CR4_PAE
    if "pse" in model.features:
        cr4 |= X86_CR4_PSE
    if "pge" in model.features:
        cr4 |= X86_CR4_PGE
    if "smep" in model.features and "nosmep" not in args:
        cr4 |= X86_CR4_SMEP
    if "smap" in model.features and "nosmap" not in args:
        cr4 |= X86_CR4_SMAP
    efer = EFER_SCE | EFER_LME | EFER_LMA
    if "nx" in model.features and "noexec=off" not in args:
        efer |= EFER_NX
    return [Cpu(m, i, model, cr4, efer) for i in range(m.nr_cpus)]


# -- the scheduler's side ------------------------------------------------------------

def switch_mm(m, cpu, prev, next_, tsk=None) -> None:
    """Load ``next_``'s page tables on ``cpu`` (4.6 switch_mm, no PCID)."""
    if prev is not next_:
        cpu.tlbstate = TLBSTATE_OK
        cpu.active_mm = next_
        next_.cpu_vm_mask.add(cpu.cpu)
        cpu.load_cr3(next_.pgd)
        prev.cpu_vm_mask.discard(cpu.cpu)
    else:
        cpu.tlbstate = TLBSTATE_OK
        if cpu.active_mm is not next_:
            raise KernelBug(f"cpu{cpu.cpu}: switch_mm to the same mm but another is loaded")
        if cpu.cpu not in next_.cpu_vm_mask:
            # leave_mm took us off the mask while lazy: CR3 points at swapper_pg_dir
            next_.cpu_vm_mask.add(cpu.cpu)
            cpu.load_cr3(next_.pgd)


def enter_lazy_tlb(m, cpu, mm, tsk=None) -> None:
    if cpu.tlbstate == TLBSTATE_OK:
        cpu.tlbstate = TLBSTATE_LAZY


def context_switch(m, cpu, prev, next_) -> None:
    """Switch ``cpu`` from task ``prev`` (None = idle) to ``next_`` (None = idle)."""
    mm = next_.mm if next_ is not None else None
    oldmm = prev.active_mm if prev is not None else cpu.active_mm
    if mm is None:
        if next_ is not None:
            next_.active_mm = oldmm
        oldmm.mm_count += 1
        enter_lazy_tlb(m, cpu, oldmm, next_)
    else:
        switch_mm(m, cpu, oldmm, mm, next_)
    cpu.current = next_
    if cpu.cpu == m.current_cpu:
        m.current = next_
    prev_mm = prev.mm if prev is not None else None
    if prev_mm is None:
        if prev is not None:
            prev.active_mm = None
        mmdrop(m, oldmm)
