"""The ``vm.*`` sysctls: one declared table (kernel/sysctl.c vm_table) with 4.6's defaults,
handler kinds, ranges and side effects.

``m.sysctl["vm.min_free_kbytes"] = 8192`` behaves like writing the number to
``/proc/sys/vm/min_free_kbytes``: the value is parsed as the entry's proc handler parses
it (proc_dointvec, proc_dointvec_minmax, proc_doulongvec_minmax, proc_dointvec_jiffies),
a rejected value fails with the errno 4.6 gives and changes nothing, and an accepted one
runs the handler the kernel runs. Every entry exists from boot; the table is the
x86-64 distribution configuration of DESIGN §1 (MMU, COMPACTION, HUGETLB_PAGE,
MEMORY_FAILURE, SMP, COMPAT; no NUMA, no HIGHMEM).
"""

import errno

from ..arch.x86.page_types import PAGE_SIZE
from ..errors import SyscallError
from ..fs.drop_caches import drop_caches
from ..mm.compaction import compact_nodes
from ..mm.mmap import CONFIG_DEFAULT_MMAP_MIN_ADDR, DEFAULT_MAX_MAP_COUNT
from ..mm.page_writeback import writeback_set_ratelimit
from ..mm.util import OVERCOMMIT_GUESS

INT_MAX = (1 << 31) - 1
ULONG_MAX = (1 << 64) - 1
HZ = 250                        # CONFIG_HZ_250, what the distribution kernels use
TMPBUFLEN = 22                  # proc_get_long: longest number text it accepts, plus one
MIN_PERCPU_PAGELIST_FRACTION = 8

# handler kinds: how the written text becomes values (kernel/sysctl.c)
DOINTVEC = "proc_dointvec"                    # int, |v| <= INT_MAX; extra1/extra2 ignored
DOINTVEC_MINMAX = "proc_dointvec_minmax"      # cut to an int, then in [extra1, extra2], else EINVAL
DOULONGVEC_MINMAX = "proc_doulongvec_minmax"  # unsigned long; negative or out of range: skipped
DOINTVEC_JIFFIES = "proc_dointvec_jiffies"    # seconds written, jiffies stored
NO_PARSE = "none"                             # the handler never reads the text


class SysctlEntry:
    """One ``struct ctl_table`` row: name, default, handler kind, bounds, mode, handler."""

    __slots__ = ("name", "default", "kind", "lo", "hi", "nr", "mode", "handler")

    def __init__(self, name, default, kind, lo=None, hi=None, nr=1, mode=0o644,
                 handler=None):
        self.name = name            # dotted, "vm.min_free_kbytes"
        self.default = default      # an int, or a list of nr ints; None: computed at boot
        self.kind = kind            # one of the handler kinds above
        self.lo = lo                # extra1 (None: no lower bound)
        self.hi = hi                # extra2 (None: no upper bound)
        self.nr = nr                # maxlen / sizeof(element): values in the vector
        self.mode = mode            # 0644, 0444 (read-only), 0200 (write-only), 0600
        self.handler = handler      # the proc_handler's own part (its name), or None


# -- parsing as proc_get_long and the conv functions do ------------------------------------

_WSPACE = " \t\n"


def _strtoul(text: str) -> tuple:
    """simple_strtoul(p, &end, 0): value (wrapped to 64 bits) and the digits consumed."""
    base, i = 10, 0
    if text[:2] in ("0x", "0X") and len(text) > 2 and text[2] in "0123456789abcdefABCDEF":
        base, i = 16, 2
    elif text[:1] == "0":
        base = 8
    digits = "0123456789abcdef"[:base]
    val = 0
    while i < len(text) and text[i].lower() in digits:
        val = (val * base + digits.index(text[i].lower())) & ULONG_MAX
        i += 1
    return val, i


def _numbers(value, limit: int) -> tuple:
    """The (negative, magnitude) pairs proc_get_long reads from ``value``, at most
    ``limit`` of them (the rest of the text is never read), and the error that stopped
    it (0 or EINVAL). Ints and lists are written as their decimal text."""
    if isinstance(value, bool):
        return [], errno.EINVAL
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, (list, tuple)):
        if any(isinstance(v, bool) or not isinstance(v, int) for v in value):
            return [], errno.EINVAL
        text = " ".join(str(v) for v in value)
    elif isinstance(value, (str, bytes)):
        text = value.decode() if isinstance(value, bytes) else value
    else:
        return [], errno.EINVAL
    out = []
    p = 0
    while True:
        while p < len(text) and text[p] in _WSPACE:
            p += 1
        if p == len(text) or len(out) == limit:
            return out, (0 if out else errno.EINVAL)
        chunk = text[p:p + TMPBUFLEN - 1]
        neg = chunk[:1] == "-" and len(text) - p > 1
        q = 1 if neg else 0
        if not chunk[q:q + 1].isdigit():
            return out, errno.EINVAL
        val, n = _strtoul(chunk[q:])
        n += q
        if n == TMPBUFLEN - 1 or (p + n < len(text) and text[p + n] not in _WSPACE):
            return out, errno.EINVAL
        out.append((neg, val))
        p += n


def parse(entry: SysctlEntry, value, old: list) -> tuple:
    """The vector the entry's proc handler stores for a write of ``value`` and its error.

    Like __do_proc_dointvec and __do_proc_doulongvec_minmax, elements are stored one by
    one, so on an error the elements before the bad one are already in the result.
    """
    new = list(old)
    nums, err = _numbers(value, entry.nr)
    for i, (neg, val) in enumerate(nums):
        if entry.kind == DOULONGVEC_MINMAX:
            if neg or (entry.lo is not None and val < entry.lo) or \
                    (entry.hi is not None and val > entry.hi):
                continue                     # skipped without an error
            new[i] = val
            continue
        if entry.kind == DOINTVEC_JIFFIES:
            if val > (1 << 63) // HZ:        # LONG_MAX / HZ
                return new, errno.EINVAL
            j = (val * HZ) & 0xFFFFFFFF      # stored in an int
            j = j - (1 << 32) if j >> 31 else j
            new[i] = -j if neg else j
            continue
        if entry.kind == DOINTVEC_MINMAX:
            # do_proc_dointvec_minmax_conv has no INT_MAX check: the unsigned long is
            # converted to an int (2**32 + 7 becomes 7), then held against extra1/extra2
            v = (-val if neg else val) & 0xFFFFFFFF
            v = v - (1 << 32) if v >> 31 else v
            if (entry.lo is not None and v < entry.lo) or (entry.hi is not None and v > entry.hi):
                return new, errno.EINVAL
            new[i] = v
            continue
        if val > INT_MAX + (1 if neg else 0):   # do_proc_dointvec_conv
            return new, errno.EINVAL
        new[i] = -val if neg else val
    return new, err


# -- the handlers' own parts ---------------------------------------------------------------
# Each takes (sysctl, entry, old vector, new vector, parse error) and returns the vector to
# store and the errno to fail with (0: success). ``check`` parts run before anything is
# stored (and before boot for Machine(sysctl=...)); ``apply`` parts run after storing.

def _default_check(s, e, old, new, err):
    return new, err


def _ignore_error(s, e, old, new, err):
    # dirty_writeback_centisecs_handler, lowmem_reserve_ratio_sysctl_handler: the
    # proc_dointvec result is dropped and the write succeeds with what was stored
    return new, 0


def _percpu_pagelist_fraction_check(s, e, old, new, err):
    if not err and new[0] and new[0] < MIN_PERCPU_PAGELIST_FRACTION:
        return old, errno.EINVAL
    return new, err


def _lowmem_reserve_ratio_check(s, e, old, new, err):
    # setup_per_zone_lowmem_reserve stores ratios below 1 as 1
    return [max(1, v) for v in new], 0


def _not_modelled(what):
    def check(s, e, old, new, err):
        if err:
            return new, err
        if e.kind == NO_PARSE or new != old:
            raise NotImplementedError(f"writing {e.name}: {what} is not modelled yet")
        return new, err
    return check


def _drop_caches_apply(s, e, old, new):
    drop_caches(s.machine, new[0])


CHECKS = {
    "dirty_writeback_centisecs_handler": _ignore_error,
    "lowmem_reserve_ratio_sysctl_handler": _lowmem_reserve_ratio_check,
    "percpu_pagelist_fraction_sysctl_handler": _percpu_pagelist_fraction_check,
    "hugetlb_sysctl_handler": _not_modelled("the hugetlb page pool"),
    "hugetlb_overcommit_handler": _not_modelled("the hugetlb surplus page pool"),
}


def _clear(other, only_if_changed):
    # the ratio/bytes pairs: a successful write to one clears the other
    def apply(s, e, old, new):
        if not only_if_changed or new != old:
            s.values[other] = 0
    return apply


def _dirty_limit_apply(other):
    # dirty_ratio_handler, dirty_bytes_handler: a change recomputes ratelimit_pages (with
    # the other value still set, as 4.6 clears it after) and clears the other
    def apply(s, e, old, new):
        if new != old:
            if s.machine is not None and s.machine.writeback is not None:
                writeback_set_ratelimit(s.machine)
            s.values[other] = 0
    return apply


def _min_free_kbytes_apply(s, e, old, new):
    s.user_min_free_kbytes = new[0]
    s.machine.setup_per_zone_wmarks()


def _watermark_scale_factor_apply(s, e, old, new):
    s.machine.setup_per_zone_wmarks()


def _lowmem_reserve_ratio_apply(s, e, old, new):
    s.machine.setup_per_zone_lowmem_reserve()


def _percpu_pagelist_fraction_apply(s, e, old, new):
    if new != old:
        s.machine.update_pageset_high_and_batch()


def _compaction_apply(s, e, old, new):
    # sysctl_compaction_handler: any write compacts every node
    compact_nodes(s.machine)


APPLIES = {
    "drop_caches_sysctl_handler": _drop_caches_apply,
    "sysctl_compaction_handler": _compaction_apply,
    "overcommit_ratio_handler": _clear("vm.overcommit_kbytes", False),
    "overcommit_kbytes_handler": _clear("vm.overcommit_ratio", False),
    "dirty_background_ratio_handler": _clear("vm.dirty_background_bytes", False),
    "dirty_background_bytes_handler": _clear("vm.dirty_background_ratio", False),
    "dirty_ratio_handler": _dirty_limit_apply("vm.dirty_bytes"),
    "dirty_bytes_handler": _dirty_limit_apply("vm.dirty_ratio"),
    "min_free_kbytes_sysctl_handler": _min_free_kbytes_apply,
    "watermark_scale_factor_sysctl_handler": _watermark_scale_factor_apply,
    "lowmem_reserve_ratio_sysctl_handler": _lowmem_reserve_ratio_apply,
    "percpu_pagelist_fraction_sysctl_handler": _percpu_pagelist_fraction_apply,
}


# -- the table (kernel/sysctl.c vm_table, in its order) -------------------------------------

def _e(name, default, kind, lo=None, hi=None, **kw):
    return SysctlEntry("vm." + name, default, kind, lo, hi, **kw)


VM_TABLE = [
    _e("overcommit_memory", OVERCOMMIT_GUESS, DOINTVEC_MINMAX, 0, 2),
    _e("panic_on_oom", 0, DOINTVEC_MINMAX, 0, 2),
    _e("oom_kill_allocating_task", 0, DOINTVEC),
    _e("oom_dump_tasks", 1, DOINTVEC),
    _e("overcommit_ratio", 50, DOINTVEC, handler="overcommit_ratio_handler"),
    _e("overcommit_kbytes", 0, DOULONGVEC_MINMAX, handler="overcommit_kbytes_handler"),
    _e("page-cluster", 3, DOINTVEC_MINMAX, 0),
    _e("dirty_background_ratio", 10, DOINTVEC_MINMAX, 0, 100,
       handler="dirty_background_ratio_handler"),
    _e("dirty_background_bytes", 0, DOULONGVEC_MINMAX, 1,
       handler="dirty_background_bytes_handler"),
    _e("dirty_ratio", 20, DOINTVEC_MINMAX, 0, 100, handler="dirty_ratio_handler"),
    _e("dirty_bytes", 0, DOULONGVEC_MINMAX, 2 * PAGE_SIZE, handler="dirty_bytes_handler"),
    _e("dirty_writeback_centisecs", 500, DOINTVEC,
       handler="dirty_writeback_centisecs_handler"),
    _e("dirty_expire_centisecs", 3000, DOINTVEC_MINMAX, 0),
    _e("dirtytime_expire_seconds", 12 * 60 * 60, DOINTVEC_MINMAX, 0),
    _e("nr_pdflush_threads", 0, NO_PARSE, mode=0o444),
    _e("swappiness", 60, DOINTVEC_MINMAX, 0, 100),
    _e("nr_hugepages", 0, DOULONGVEC_MINMAX, handler="hugetlb_sysctl_handler"),
    _e("hugetlb_shm_group", 0, DOINTVEC),
    _e("hugepages_treat_as_movable", 0, DOINTVEC),
    _e("nr_overcommit_hugepages", 0, DOULONGVEC_MINMAX, handler="hugetlb_overcommit_handler"),
    _e("lowmem_reserve_ratio", [256, 256, 32], DOINTVEC_MINMAX, nr=3,
       handler="lowmem_reserve_ratio_sysctl_handler"),
    _e("drop_caches", 0, DOINTVEC_MINMAX, 1, 4, handler="drop_caches_sysctl_handler"),
    _e("compact_memory", 0, NO_PARSE, mode=0o200, handler="sysctl_compaction_handler"),
    _e("extfrag_threshold", 500, DOINTVEC_MINMAX, 0, 1000),
    _e("compact_unevictable_allowed", 1, DOINTVEC),
    _e("min_free_kbytes", None, DOINTVEC_MINMAX, 0, handler="min_free_kbytes_sysctl_handler"),
    _e("watermark_scale_factor", 10, DOINTVEC_MINMAX, 1, 1000,
       handler="watermark_scale_factor_sysctl_handler"),
    _e("percpu_pagelist_fraction", 0, DOINTVEC_MINMAX, 0,
       handler="percpu_pagelist_fraction_sysctl_handler"),
    _e("max_map_count", DEFAULT_MAX_MAP_COUNT, DOINTVEC_MINMAX, 0),
    _e("laptop_mode", 0, DOINTVEC_JIFFIES),
    _e("block_dump", 0, DOINTVEC),
    _e("vfs_cache_pressure", 100, DOINTVEC),
    _e("legacy_va_layout", 0, DOINTVEC),
    _e("stat_interval", HZ, DOINTVEC_JIFFIES),
    _e("mmap_min_addr", CONFIG_DEFAULT_MMAP_MIN_ADDR, DOULONGVEC_MINMAX),
    _e("memory_failure_early_kill", 0, DOINTVEC_MINMAX, 0, 1),
    _e("memory_failure_recovery", 1, DOINTVEC_MINMAX, 0, 1),
    _e("user_reserve_kbytes", None, DOULONGVEC_MINMAX),
    _e("admin_reserve_kbytes", None, DOULONGVEC_MINMAX),
    _e("mmap_rnd_bits", 28, DOINTVEC_MINMAX, 28, 32, mode=0o600),
    _e("mmap_rnd_compat_bits", 8, DOINTVEC_MINMAX, 8, 16, mode=0o600),
]

# ipc/ipc_sysctl.c: the shm limits of the (one) IPC namespace (shm_init_ns defaults)
_SHMMAX = (1 << 64) - 1 - (1 << 24)
IPC_TABLE = [
    SysctlEntry("kernel.shmmax", _SHMMAX, DOULONGVEC_MINMAX),
    SysctlEntry("kernel.shmall", _SHMMAX, DOULONGVEC_MINMAX),
    SysctlEntry("kernel.shmmni", 4096, DOINTVEC),
    SysctlEntry("kernel.shm_rmid_forced", 0, DOINTVEC_MINMAX, 0, 1),
    # kernel/sysctl.c kern_table: 0 none, 1 mmap/stack/vDSO, 2 also brk (Machine(aslr=False): 0)
    SysctlEntry("kernel.randomize_va_space", 2, DOINTVEC),
]
VM_TABLE = VM_TABLE + IPC_TABLE

VM_ENTRIES = {e.name: e for e in VM_TABLE}


def _norm(name: str) -> str:
    if name.startswith("/proc/sys/"):
        name = name[len("/proc/sys/"):]
    return name.replace("/", ".")


def _check_name(name) -> None:
    if not isinstance(name, str):
        raise TypeError(f"sysctl name must be a str such as 'vm.swappiness', not {name!r}")


class Sysctl:
    """The machine's sysctl table; a mapping from dotted (or /proc/sys/ path) names to
    values. ``values`` holds every value by dotted name (vectors as lists); jiffies
    entries hold jiffies there and read back in seconds."""

    __slots__ = ("machine", "values", "user_min_free_kbytes")

    def __init__(self, machine):
        self.machine = machine              # the MachineState the handlers recompute
        self.values = {e.name: (list(e.default) if isinstance(e.default, list) else e.default)
                       for e in VM_TABLE}   # boot fills in the computed (None) ones
        self.user_min_free_kbytes = -1      # page_alloc.c: the last value a user wrote

    # page_alloc_init reads and sets these by the kernel's variable names
    @property
    def min_free_kbytes(self):
        return self.values["vm.min_free_kbytes"]

    @min_free_kbytes.setter
    def min_free_kbytes(self, v):
        self.values["vm.min_free_kbytes"] = v

    @property
    def watermark_scale_factor(self):
        return self.values["vm.watermark_scale_factor"]

    @property
    def lowmem_reserve_ratio(self):
        return self.values["vm.lowmem_reserve_ratio"]

    @property
    def percpu_pagelist_fraction(self):
        return self.values["vm.percpu_pagelist_fraction"]

    # -- writes ----------------------------------------------------------------------
    def entry(self, name):
        return VM_ENTRIES.get(_norm(name))

    def _vector(self, e):
        v = self.values[e.name]
        return list(v) if isinstance(v, list) else [v]

    def prepare(self, name, value):
        """Check a write without storing anything: the entry and the vector to store.

        :raises KeyError: no such sysctl
        :raises SyscallError: EACCES for a read-only entry, else the handler's errno
        :raises NotImplementedError: the write needs a subsystem the model lacks
        """
        e = self.entry(name)
        if e is None:
            raise KeyError(name)
        if not e.mode & 0o200:
            raise SyscallError(errno.EACCES, "write", f"{e.name} is read-only")
        old = self._vector(e)
        if e.kind == NO_PARSE:
            new, err = old, 0
        else:
            new, err = parse(e, value, old)
        new, err = CHECKS.get(e.handler, _default_check)(self, e, old, new, err)
        if err:
            raise SyscallError(err, "write", f"{value!r} for {e.name}")
        return e, old, new

    def __setitem__(self, name, value):
        _check_name(name)
        e, old, new = self.prepare(name, value)
        self.values[e.name] = new if e.nr > 1 else new[0]
        apply = APPLIES.get(e.handler)
        if apply is not None:
            apply(self, e, old, new)

    # -- reads -----------------------------------------------------------------------
    def __getitem__(self, name):
        _check_name(name)
        e = self.entry(name)
        if e is None:
            raise KeyError(name)
        if not e.mode & 0o400:
            raise SyscallError(errno.EACCES, "open", f"{e.name} is write-only")
        v = self.values[e.name]
        if e.kind == DOINTVEC_JIFFIES:
            return -(-v // HZ) if v < 0 else v // HZ    # C division: towards zero
        return list(v) if isinstance(v, list) else v

    def __contains__(self, name):
        return _norm(name) in VM_ENTRIES

    def keys(self):
        return sorted(VM_ENTRIES)

    def __iter__(self):
        return iter(self.keys())

    def items(self):
        """(name, value) of every readable entry."""
        return [(k, self[k]) for k in self.keys() if VM_ENTRIES[k].mode & 0o400]

    def render(self, name) -> str:
        """Text of /proc/sys/<name> (proc_dointvec prints vectors tab-separated)."""
        v = self[name]
        if isinstance(v, list):
            return "\t".join(str(x) for x in v) + "\n"
        return f"{v}\n"
