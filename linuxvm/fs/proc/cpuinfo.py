"""/proc/cpuinfo: one block per CPU in 4.6's x86-64 field order
(arch/x86/kernel/cpu/proc.c show_cpuinfo).

The model's CPU (``arch.x86.cpu.CpuModel``) has a name and the feature flags mm
depends on; everything CPUID would report beyond that is not modelled and shows
what 4.6 shows for a CPU it could not identify: vendor "unknown", family, model
and stepping unknown (cpuid_level -1), no cache size, no "cpu MHz" line (no tsc
flag), bogomips 0.00 (no delay-loop calibration).
"""

# x86_cap_flags order: (word, bit) of each feature the model knows
# (arch/x86/include/asm/cpufeatures.h)
X86_CAP_ORDER = {"pse": (0, 3), "pge": (0, 13), "nx": (1, 20), "pdpe1gb": (1, 26),
                 "smep": (9, 7), "smap": (9, 20)}
# kernel parameters that clear a capability (setup_clear_cpu_cap)
CLEARED_BY = {"smep": "nosmep", "smap": "nosmap"}
X86_VIRT_BITS = 48
X86_PHYS_BITS = 46             # a Skylake-SP class CPU (the default CpuModel)
CLFLUSH_SIZE = 64             # x86_clflush_size and x86_cache_alignment of x86-64 CPUs


def cpu_flags(m) -> list:
    """The feature names /proc/cpuinfo lists, in cpufeatures.h order."""
    args = m.cmdline.split()
    model = m.cpus[0].model
    names = [f for f in model.features if f in X86_CAP_ORDER and CLEARED_BY.get(f) not in args]
    return sorted(names, key=X86_CAP_ORDER.__getitem__)


def show_cpuinfo(m) -> str:
    """Every online CPU's block (show_cpuinfo, CONFIG_SMP: one package, one core per CPU
    as the model has no SMT)."""
    flags = "".join(" " + f for f in cpu_flags(m))
    n = m.nr_cpus
    out = []
    for cpu in m.cpus:
        i = cpu.cpu
        out.append(f"processor\t: {i}\n"
                   "vendor_id\t: unknown\n"
                   "cpu family\t: 0\n"
                   "model\t\t: 0\n"
                   f"model name\t: {cpu.model.name}\n"
                   "stepping\t: unknown\n"
                   "physical id\t: 0\n"
                   f"siblings\t: {n}\n"
                   f"core id\t\t: {i}\n"
                   f"cpu cores\t: {n}\n"
                   f"apicid\t\t: {i}\n"
                   f"initial apicid\t: {i}\n"
                   "fpu\t\t: yes\n"
                   "fpu_exception\t: yes\n"
                   "cpuid level\t: -1\n"
                   "wp\t\t: yes\n"
                   f"flags\t\t:{flags}\n"
                   "bugs\t\t:\n"
                   "bogomips\t: 0.00\n"
                   f"clflush size\t: {CLFLUSH_SIZE}\n"
                   f"cache_alignment\t: {CLFLUSH_SIZE}\n"
                   f"address sizes\t: {X86_PHYS_BITS} bits physical, "
                   f"{X86_VIRT_BITS} bits virtual\n"
                   "power management:\n\n")
    return "".join(out)


def register(procfs) -> None:
    m = procfs.m
    procfs.add_text("/proc/cpuinfo", lambda: show_cpuinfo(m))
