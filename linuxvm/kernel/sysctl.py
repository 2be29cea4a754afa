"""The ``vm.*`` sysctls (kernel/sysctl.c vm_table) with their ranges and side effects.

``m.sysctl["vm.min_free_kbytes"] = 8192`` behaves like writing the number to
``/proc/sys/vm/min_free_kbytes``: out-of-range values fail with EINVAL and change
nothing; accepted values run the same handler the kernel runs.
"""

import errno

from ..errors import SyscallError


class SysctlEntry:
    __slots__ = ("name", "get", "set", "mode", "doc")

    def __init__(self, name, get, set_, mode=0o644, doc=""):
        self.name = name
        self.get = get
        self.set = set_
        self.mode = mode
        self.doc = doc


def _parse_ints(value, n=None):
    if isinstance(value, bool):
        raise SyscallError(errno.EINVAL, "write")
    if isinstance(value, int):
        vals = [value]
    elif isinstance(value, (list, tuple)):
        vals = list(value)
    elif isinstance(value, str):
        try:
            vals = [int(x) for x in value.split()]
        except ValueError:
            raise SyscallError(errno.EINVAL, "write", f"not a number: {value!r}") from None
    else:
        raise SyscallError(errno.EINVAL, "write")
    if not vals or any(not isinstance(v, int) or isinstance(v, bool) for v in vals):
        raise SyscallError(errno.EINVAL, "write")
    return vals


class Sysctl:
    """The machine's sysctl table; a mapping from dotted names to values."""

    def __init__(self, machine):
        self._m = machine
        self._entries = {}
        # values that live here (others live in the subsystem that owns them)
        self.min_free_kbytes = 1024
        self.user_min_free_kbytes = -1
        self.watermark_scale_factor = 10
        self.lowmem_reserve_ratio = [256, 256, 32]
        self.percpu_pagelist_fraction = 0
        self.values = {}
        self._register_page_alloc()

    # -- registration ------------------------------------------------------
    def register(self, name, get, set_, mode=0o644, doc=""):
        self._entries[name] = SysctlEntry(name, get, set_, mode, doc)

    def register_int(self, name, default, lo=None, hi=None, on_change=None, mode=0o644):
        """A plain integer sysctl (proc_dointvec_minmax) stored in ``self.values``."""
        self.values[name] = default

        def get():
            return self.values[name]

        def set_(value):
            (v,) = _parse_ints(value, 1)[:1]
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                raise SyscallError(errno.EINVAL, "write", f"{name} must be in [{lo}, {hi}]")
            old = self.values[name]
            self.values[name] = v
            if on_change:
                try:
                    on_change(v)
                except Exception:
                    self.values[name] = old
                    raise

        self.register(name, get, set_, mode)

    def _register_page_alloc(self):
        m = self._m

        def set_min_free(value):
            (v,) = _parse_ints(value)[:1]
            if v < 0:
                raise SyscallError(errno.EINVAL, "write")
            self.min_free_kbytes = v
            self.user_min_free_kbytes = v
            m.setup_per_zone_wmarks()

        def set_wsf(value):
            (v,) = _parse_ints(value)[:1]
            if not 1 <= v <= 1000:
                raise SyscallError(errno.EINVAL, "write")
            self.watermark_scale_factor = v
            m.setup_per_zone_wmarks()

        def set_lrr(value):
            vals = _parse_ints(value)
            if any(v < 1 for v in vals):
                # the kernel clamps ratios below 1 to 1 when applying them
                vals = [max(1, v) for v in vals]
            new = list(self.lowmem_reserve_ratio)
            new[:len(vals)] = vals[:len(new)]
            self.lowmem_reserve_ratio = new
            m.setup_per_zone_lowmem_reserve()

        def set_fraction(value):
            (v,) = _parse_ints(value)[:1]
            if v != 0 and v < 8:
                raise SyscallError(errno.EINVAL, "write")
            self.percpu_pagelist_fraction = v
            m.update_pageset_high_and_batch()

        self.register("vm.min_free_kbytes", lambda: self.min_free_kbytes, set_min_free)
        self.register("vm.watermark_scale_factor", lambda: self.watermark_scale_factor, set_wsf)
        self.register("vm.lowmem_reserve_ratio", lambda: list(self.lowmem_reserve_ratio),
                      set_lrr)
        self.register("vm.percpu_pagelist_fraction", lambda: self.percpu_pagelist_fraction,
                      set_fraction)

    # -- mapping interface ---------------------------------------------------
    def __getitem__(self, name):
        e = self._entries.get(self._norm(name))
        if e is None:
            raise KeyError(name)
        return e.get()

    def __setitem__(self, name, value):
        e = self._entries.get(self._norm(name))
        if e is None:
            raise KeyError(name)
        if not e.mode & 0o200:
            raise SyscallError(errno.EACCES, "write", f"{name} is read-only")
        e.set(value)

    def __contains__(self, name):
        return self._norm(name) in self._entries

    def keys(self):
        return sorted(self._entries)

    def __iter__(self):
        return iter(self.keys())

    def items(self):
        return [(k, self[k]) for k in self.keys()]

    @staticmethod
    def _norm(name):
        if name.startswith("/proc/sys/"):
            name = name[len("/proc/sys/"):]
        return name.replace("/", ".")

    def entry(self, name):
        return self._entries.get(self._norm(name))

    def render(self, name) -> str:
        """Text of /proc/sys/<name> (proc_dointvec prints vectors tab-separated)."""
        v = self[name]
        if isinstance(v, (list, tuple)):
            return "\t".join(str(x) for x in v) + "\n"
        return f"{v}\n"
