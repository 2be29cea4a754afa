"""The façade: ``Machine`` boots the model; ``m.kernel`` offers kernel entry points.

Boot follows start_kernel's order for memory: setup_arch (e820, memblock
reservations), free_area_init_nodes, mem_init (free_all_bootmem), the per-CPU
pagesets, init_per_zone_wmark_min, the THP min_free_kbytes raise, the late
initcalls of other subsystems, and finally free_initmem.
"""

import random
from collections.abc import Mapping

from .arch.x86 import setup as x86_setup
from .arch.x86.cpu import setup_cpus
from .arch.x86.e820 import E820_RAM, default_e820
from .arch.x86.page_types import PAGE_OFFSET, PAGE_SHIFT, PAGE_SIZE
from .errors import KernelBug, SyscallError
from .fs.file import VFS
from .fs.proc import ProcFS
from .kernel.printk import LogBuffer
from .kernel.exit import exit_killed_task
from .kernel.sysctl import Sysctl
from .kernel import time as ktime
from .kernel.kthreads import kthreads_init
from .include.jiffies import jiffies
from .lib.accel_registry import AccelTable
from .mm import bootmem, page_alloc, page_alloc_init, util, huge_memory, khugepaged
from .mm import gfp as G
from .errors import KernelPanic
from .mm.machine_state import MachineState
from .mm.backing_dev import WritebackState
from .mm.page_writeback import writeback_set_ratelimit
from .fs.fs_writeback import run_flusher
from .mm.memblock import Memblock
from .mm.mmzone import PglistData, MAX_ORDER
from .mm.page import NULL, PG_reserved
from .include.vm_event_item import NR_VM_EVENT_ITEMS
from .mm.rmap import rmap_init
from .mm.slab_state import kmem_cache_init
from .mm.swap import lru_init
from .mm.vmscan.reclaim import reclaim_init
from .mm.compaction import compaction_init
from .mm.swapfile import swap_init, sys_swapon, sys_swapoff, SWAP_FLAG_PREFER
from .mm.shmem import shmem_init
from .block.blk_core import BlockDevice
from .units import parse_size
from .mm import slab_api
from .mm.debug import check_machine
from .mm.oom_kill import OomState, moom_callback
from .process import spawn
from .kernel.trace.trace import Tracer

# double-underscore kernel names cannot be spelled inside a class body (name mangling)
_alloc_pages_nodemask = page_alloc.__alloc_pages_nodemask
_free_pages = page_alloc.__free_pages
_free_pages_bug = page_alloc.__free_pages_bug
_GFP_HIGHMEM = G.__GFP_HIGHMEM

MIN_RAM = 64 << 20
MAX_RAM = 4 << 40
THP_MODES = ("always", "madvise", "never")
# Host bytes per 4 KiB frame the machine spans (RAM and the PCI hole below 4 GiB): mem_map's
# arrays are 56 (mm/page.py MemMap), and boot's transient copies bring the peak to 64,
# measured with tracemalloc on 16G and 64G machines (the README's host-cost paragraph).
HOST_BYTES_PER_FRAME = 64


class HostMemoryError(MemoryError):
    """The host has too little memory available for the machine asked for."""


def host_mem_available():
    """MemAvailable of the host's /proc/meminfo in bytes, or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) << 10
    except (OSError, ValueError, IndexError):
        pass
    return None


def host_bytes_needed(ram_bytes: int) -> int:
    """Host memory a machine of ``ram_bytes`` needs at boot: HOST_BYTES_PER_FRAME for every
    frame up to the end of its last e820 RAM range."""
    end = max(e for s, e, t in default_e820(ram_bytes) if t == E820_RAM)
    return (end >> PAGE_SHIFT) * HOST_BYTES_PER_FRAME


def check_host_memory(ram_bytes: int, avail=None) -> None:
    """Refuse, before anything is allocated, a machine the host cannot hold.

    :param avail: host bytes available (default: MemAvailable of /proc/meminfo)
    :raises HostMemoryError: less is available than the machine needs
    """
    need = host_bytes_needed(ram_bytes)
    if avail is None:
        avail = host_mem_available()
    if avail is not None and need > avail:
        raise HostMemoryError(
            f"a machine with {ram_bytes >> 20} MiB of RAM needs about "
            f"{need / (1 << 30):.1f} GiB of host memory ({HOST_BYTES_PER_FRAME} bytes per 4 KiB "
            f"frame, {HOST_BYTES_PER_FRAME << 18 >> 20} MiB per GiB of model RAM) but the host has "
            f"{avail / (1 << 30):.1f} GiB available (MemAvailable in /proc/meminfo)")


class Machine(MachineState):
    """A booted model of one x86-64 machine running Linux 4.6.

    >>> m = Machine(ram="1G", cpus=2, seed=0)
    >>> m.proc.read("/proc/buddyinfo")

    The kernel's global state is the MachineState this class extends (mm/ is handed
    that); ``Machine`` adds only the façade: the boot sequence, spawn, check, dmesg,
    ``m.proc`` and ``m.kernel``.

    :param ram: bytes of RAM, an int or a size string ("512M", "4G", "64G")
    :param cpus: number of CPUs (1..256)
    :param swap: size of a swap partition (/dev/sdb) swapped on at boot ("1G"; 0 or None:
        no swap); ``m.swapon(size)`` adds more, with priorities
    :param seed: seed for every random choice the model makes
    :param thp: transparent hugepage mode, "always", "madvise" (default) or "never" (the
        transparent_hugepage= boot option); as in 4.6, a machine with less than 512 MiB of
        RAM boots with THP off whatever it says (write
        /sys/kernel/mm/transparent_hugepage/enabled to turn it on)
    :param aslr: address-space randomisation (False is like ``setarch -R``)
    :param sysctl: initial ``vm.*`` sysctl values (dotted or /proc/sys/ names), checked
        before boot and applied in order after it, as writes to /proc/sys would be
    :param cmdline: kernel command line (e.g. "slub_debug=FZPU")
    :param fast: which accelerators (linuxvm/accel) to use: True (all, the default), False
        (none: the kernel-shaped reference code everywhere), or a set of accelerator names;
        every choice leaves the same state (docs/accelerators.md)
    :raises ValueError: a bad size, CPU count or option, or an unknown sysctl name
    :raises TypeError: ``cmdline`` not a str, ``sysctl`` not a mapping
    :raises HostMemoryError: (a MemoryError) the host has less memory available than the
        machine needs (HOST_BYTES_PER_FRAME per frame), checked before anything is allocated
    :raises SyscallError: a sysctl value its /proc/sys file would refuse (its errno)
    """

    __slots__ = (
        "proc",             # ProcFS: m.proc, the model's /proc, /sys and debugfs
        "kernel",           # Kernel: m.kernel, kernel entry points for experiments
        "trace",            # Tracer: m.trace, trace events and the function graph
    )

    # subsystems append callables here to join the boot at the matching point
    setup_arch_hooks_default = []
    late_init_hooks_default = []

    def __init__(self, ram="1G", cpus=1, swap="0", seed=0, thp="madvise", aslr=True,
                 sysctl=None, cmdline="", fast=True):
        ram_bytes = parse_size(ram)
        if ram_bytes < MIN_RAM:
            raise ValueError(f"ram {ram!r} is too small to boot (at least 64M)")
        if ram_bytes > MAX_RAM:
            raise ValueError(f"ram {ram!r} is larger than the model supports (4T)")
        if isinstance(cpus, bool) or not isinstance(cpus, int) or not 1 <= cpus <= 256:
            raise ValueError(f"cpus must be an integer from 1 to 256, not {cpus!r}")
        swap_bytes = parse_size(swap)
        if swap_bytes and swap_bytes < 2 * PAGE_SIZE:
            raise ValueError(f"swap {swap!r} is too small for a swap area (at least 8K)")
        if thp not in THP_MODES:
            raise ValueError(f"thp must be one of {', '.join(THP_MODES)}, not {thp!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, not {seed!r}")
        if not isinstance(cmdline, str):
            raise TypeError(f"cmdline must be a str (the kernel command line), not {cmdline!r}")
        if sysctl is not None and not isinstance(sysctl, Mapping):
            raise TypeError(f"sysctl must be a mapping of names to values, such as "
                            f"{{'vm.overcommit_memory': 2}}, not {sysctl!r}")
        check_host_memory(ram_bytes)
        MachineState.__init__(self)
        self.sysctl = Sysctl(self)
        if not aslr:
            self.sysctl.values["kernel.randomize_va_space"] = 0
        sysctl = dict(sysctl or {})
        for name, value in sysctl.items():   # every check before any state changes
            if not isinstance(name, str) or name not in self.sysctl:
                raise ValueError(f"unknown sysctl {name!r}")
            self.sysctl.prepare(name, value)
        self.accel = AccelTable(fast)    # which accelerators stand in for their references
        self.ram = ram_bytes & ~(PAGE_SIZE - 1)
        self.nr_cpus = cpus
        self.seed = seed
        self.rng = random.Random(seed)
        self.thp = thp
        self.aslr = bool(aslr)
        self.cmdline = cmdline
        self.setup_arch_hooks = list(self.setup_arch_hooks_default)
        self.late_init_hooks = list(self.late_init_hooks_default)
        self.log = LogBuffer(self._clock)
        self.oom = OomState(self, page_alloc.RatelimitState())
        self.oom.exit_task = exit_killed_task
        self.memblock = Memblock()
        self.pgdat = PglistData()
        self.pgdat.machine = self
        self.pgdat.log = self.log
        self.pgdat.nr_cpus = cpus
        self.pgdat.vm_events = [0] * NR_VM_EVENT_ITEMS
        self._boot(swap_bytes)
        self.proc = ProcFS(self)
        self.kernel = Kernel(self)
        self.trace = Tracer(self)
        self.trace.register(self.proc)
        for name, value in sysctl.items():
            self.sysctl[name] = value

    def _clock(self):
        return self.clock_ns

    # -- boot ------------------------------------------------------------------
    def _boot(self, swap_bytes=0):
        log = self.log
        log.pr_info("Linux version 4.6.0 (linuxvm) #1 SMP")
        log.pr_info(f"Command line: {self.cmdline}")
        x86_setup.setup_arch(self, self.ram, self.nr_cpus)
        # empty_zero_page lives in the kernel's .bss (page aligned, its first page)
        self.zero_pfn = self.kernel_sections["bss"][0] >> PAGE_SHIFT
        self.cpus = setup_cpus(self)         # m.cpus[i]: control registers, TLB, current task
        bootmem.free_area_init_nodes(self)
        self.mem_map = self.pgdat.mem_map      # struct page array (vmemmap)
        self.zones = self.pgdat.node_zones
        lru_init(self)                       # the zones' lruvecs (free_area_init_core)
        swap_init(self)                      # no swap areas yet
        shmem_init(self)
        rmap_init(self)
        x86_setup.vfs_caches_init_early(self, self.nr_kernel_pages)
        # mem_init
        bootmem.free_all_bootmem(self)
        self.mem_init_print_info()
        kmem_cache_init(self)                # m.slab: boot and kmalloc caches (mm_init)
        bootmem.setup_per_cpu_pageset(self)
        page_alloc_init.init_per_zone_wmark_min(self.pgdat, self.sysctl)
        huge_memory.hugepage_init(self)      # THP knobs; khugepaged's min_free_kbytes raise
        khugepaged.khugepaged_init(self)
        for hook in self.late_init_hooks:
            hook(self)
        util.init_user_reserve(self)         # subsys_initcalls of mm/mmap.c
        util.init_admin_reserve(self)
        reclaim_init(self)                   # kswapd and direct reclaim (kswapd_init)
        compaction_init(self)                # kcompactd and direct compaction
        self.writeback = WritebackState(self.nr_cpus)
        self.vfs = VFS(self)                 # the root filesystem is mounted
        self.fs = self.vfs
        writeback_set_ratelimit(self)        # page_writeback_init
        self.free_initmem()
        if swap_bytes:
            self.swapon(swap_bytes)          # swapon -a by the init scripts
        self.boot_free_pages = self.nr_free_pages()
        ktime.time_init(self)                # the clock starts: boot's work is not charged
        kthreads_init(self)                  # the timers of the flusher, khugepaged, kswapd

    def mem_init_print_info(self):
        s = self.kernel_sections
        size = {k: (e - b) >> 10 for k, (b, e) in s.items()}
        physpages = self.pgdat.node_present_pages
        reserved = physpages - self.totalram_pages()
        self.log.pr_info(
            f"Memory: {self.nr_free_pages() * 4}K/{physpages * 4}K available "
            f"({size['text']}K kernel code, {size['rwdata']}K rwdata, {size['rodata']}K "
            f"rodata, {size['init']}K init, {size['bss']}K bss, {reserved * 4}K reserved, "
            f"0K cma-reserved)")

    def free_initmem(self):
        """free_initmem: the __init sections go back to the page allocator."""
        b, e = self.kernel_sections["init"]
        for pfn in range(b >> PAGE_SHIFT, e >> PAGE_SHIFT):
            page_alloc_init.free_reserved_page(self.pgdat, pfn, 0)
        self.memblock.memblock_free(b, e - b)
        self.log.pr_info(f"Freeing unused kernel memory: {(e - b) >> 10}K "
                         f"({0xffff880000000000 + b:x} - {0xffff880000000000 + e:x})")


    def dmesg(self) -> list:
        """The kernel log, one line per entry, formatted as ``dmesg`` prints it."""
        return self.log.lines()

    # -- swap ------------------------------------------------------------------
    def swapon(self, size, priority=None) -> str:
        """Make a swap partition of ``size`` (mkswap: its first page is the header) and
        swap on it (sys_swapon); its path, e.g. "/dev/sdb". ``priority`` 0-32767 as
        ``swapon -p``; by default each area gets the next lower negative priority.

        :raises SyscallError: 4.6's errno (EPERM past MAX_SWAPFILES areas, ENOMEM)
        """
        nbytes = parse_size(size)
        if nbytes < 2 * PAGE_SIZE:
            raise ValueError(f"size {size!r} is too small for a swap area (at least 8K)")
        flags = 0
        if priority is not None:
            if isinstance(priority, bool) or not isinstance(priority, int) \
                    or not 0 <= priority <= 32767:
                raise ValueError(f"priority must be an int from 0 to 32767, not {priority!r}")
            flags = SWAP_FLAG_PREFER | priority
        s = self.swap
        minor = s.next_dev
        name = "/dev/sd" + chr(ord("a") + minor // 16)
        bdev = BlockDevice(name[5:], (8, minor))
        ret = sys_swapon(self, name, bdev, nbytes >> PAGE_SHIFT, flags)
        ktime.account_work(self, 1)
        if ret < 0:
            raise SyscallError(-ret, "swapon")
        s.next_dev = minor + 16
        self.vfs.all_bdevs.append(bdev)      # an opened block device (blkdev_get)
        return name

    def swapoff(self, path: str) -> None:
        """Swap off the area at ``path``, reading its pages back in (sys_swapoff).

        :raises SyscallError: EINVAL if it is not a swap area in use, ENOMEM if its pages
            cannot be committed or allocated
        """
        if not isinstance(path, str):
            raise TypeError(f"path must be a str, not {path!r}")
        self.check_alive()
        ret = sys_swapoff(self, path)
        ktime.account_work(self, 1)
        if ret < 0:
            raise SyscallError(-ret, "swapoff")
        self.vfs.all_bdevs[:] = [b for b in self.vfs.all_bdevs if f"/dev/{b.name}" != path]

    # -- processes -------------------------------------------------------------
    def spawn(self, comm="prog", uid=1000, rlimits=None, **kw):
        """A process with an empty address space (linuxvm.process.spawn)."""
        try:
            return spawn(self, comm, uid, rlimits, **kw)
        finally:
            ktime.account_work(self, 1)

    # -- time ------------------------------------------------------------------
    @property
    def jiffies(self) -> int:
        """The jiffies counter (64-bit; INITIAL_JIFFIES at boot, HZ=250)."""
        return jiffies(self)

    def tick(self) -> None:
        """Let one jiffy (4 ms) pass: the clock moves to the next timer tick, which runs
        the deferred work due by then (the flusher, khugepaged, kswapd; see
        linuxvm/kernel/kthreads.py).

        :raises KernelPanic: the machine has panicked
        """
        self.check_alive()
        ktime.tick(self)

    def run_for(self, seconds) -> None:
        """Let ``seconds`` of idle time pass, tick by tick, running the deferred work that
        falls due (the flusher's periodic writeback, khugepaged's scans, kswapd going
        round again); the clock ends ``seconds`` later.

        >>> m.run_for(35)        # dirty pages older than dirty_expire_centisecs are written

        :param seconds: an int or a float, not negative
        :raises TypeError: not a number
        :raises ValueError: negative or not finite
        :raises KernelPanic: the machine has panicked
        """
        ktime.seconds_to_ns(seconds)         # the argument is checked first
        self.check_alive()
        ktime.run_for(self, seconds)

    def sysrq(self, key: str) -> None:
        """Press Alt-SysRq-``key``; only "f" (a manual OOM kill, moom_callback) is modelled.

        :raises ValueError: another key
        :raises KernelPanic: the machine has panicked
        """
        if key != "f":
            raise ValueError(f"sysrq {key!r} is not modelled (only 'f')")
        self.check_alive()
        try:
            moom_callback(self)
        finally:
            ktime.account_work(self)

    def check_alive(self) -> None:
        """Raise KernelPanic once the machine has panicked (it runs nothing more)."""
        if self.oom.panic_msg is not None:
            raise KernelPanic(f"the machine has panicked: {self.oom.panic_msg}")

    # -- invariants ------------------------------------------------------------
    def run_flusher(self) -> int:
        """Let the flusher threads run once (fs/fs-writeback.c wb_workfn of every device):
        queued work, then the inodes dirtied more than ``vm.dirty_expire_centisecs`` ago
        (once per ``vm.dirty_writeback_centisecs`` of ``m.clock_ns``), then background
        writeback while more than the background threshold is dirty. Pages written.

        >>> m.clock_ns += 35 * 10**9; m.run_flusher()     # 35 s later: old data goes
        3
        """
        try:
            return run_flusher(self)
        finally:
            ktime.account_work(self)

    def run_khugepaged(self) -> int:
        """Let khugepaged run once (mm/huge_memory.c khugepaged_do_scan): scan up to
        ``khugepaged/pages_to_scan`` pages of the registered mms from where the last run
        stopped, collapsing eligible 2 MiB ranges into huge pages. THPs collapsed.

        >>> p.madvise(a, 4 << 20, lv.MADV_HUGEPAGE); m.run_khugepaged()
        1
        """
        try:
            return khugepaged.khugepaged_do_scan(self)
        finally:
            ktime.account_work(self)

    def check(self) -> None:
        """Check the model's invariants (like CONFIG_DEBUG_VM); raise KernelBug on the first
        one broken."""
        check_machine(self)


class Kernel:
    """Kernel entry points for experiments (``m.kernel``).

    The page allocator's entry points remember the blocks they hand out (``blocks``: head
    PFN → order) so that ``free_pages`` can tell a block it may free from a frame someone
    else holds (a page table, a user page, a slab): where 4.6 would BUG or report a bad
    page it raises that as KernelBug, where 4.6 would corrupt memory without a word it
    raises ValueError, and either way before anything changes.
    """

    def __init__(self, machine: Machine):
        self.m = machine
        self.blocks = {}

    def _gfp(self, gfp):
        return G.parse_gfp(gfp)

    def _order(self, order):
        if isinstance(order, bool) or not isinstance(order, int) or order < 0:
            raise ValueError(f"order must be a non-negative integer, not {order!r}")
        return order

    def _cpu(self, cpu):
        if cpu is None:
            return self.m.current_cpu
        if isinstance(cpu, bool) or not isinstance(cpu, int) or not 0 <= cpu < self.m.nr_cpus:
            raise ValueError(f"no CPU {cpu!r} (the machine has {self.m.nr_cpus})")
        return cpu

    def alloc_pages(self, gfp="GFP_KERNEL", order: int = 0, cpu=None):
        """Allocate 2^order contiguous frames; the first PFN, or None on failure.

        >>> m.kernel.alloc_pages("GFP_KERNEL|__GFP_ZERO", 0)
        262143

        An order of MAX_ORDER or more fails with 4.6's one-time warning, whatever its size.

        :param gfp: a gfp_t value or an expression of flag names
        :raises ValueError: an unknown gfp flag name (named in the message)
        """
        gfp_mask = self._gfp(gfp)
        order = self._order(order)
        cpu = self._cpu(cpu)
        pfn = _alloc_pages_nodemask(self.m.pgdat, gfp_mask, order, cpu)
        ktime.account_work(self.m, 0, cpu)
        if pfn == NULL:
            return None
        self.blocks[pfn] = order
        return pfn

    def __get_free_pages(self, gfp="GFP_KERNEL", order: int = 0, cpu=None):
        """Like alloc_pages but returns the kernel virtual address (direct map), or 0.

        :raises KernelBug: ``__GFP_HIGHMEM`` in ``gfp`` (4.6's VM_BUG_ON)
        """
        gfp_mask = self._gfp(gfp)
        if gfp_mask & _GFP_HIGHMEM:
            raise KernelBug("------------[ cut here ]------------\n"
                            "kernel BUG at mm/page_alloc.c:3412!")
        pfn = self.alloc_pages(gfp_mask, order, cpu)
        return 0 if pfn is None else PAGE_OFFSET + (pfn << PAGE_SHIFT)

    def free_pages(self, pfn: int, order: int = 0, cpu=None) -> None:
        """Drop the allocation reference on a block from alloc_pages (``__free_pages``).

        :raises KernelBug: 4.6 would BUG (VM_BUG_ON_PAGE) or report "Bad page state" for
            this free; the message is 4.6's and nothing has changed
        :raises ValueError: not a valid frame, or a free 4.6 would do without complaint but
            that corrupts memory it does not own (a block alloc_pages did not hand out, or
            freed with another order)
        """
        m = self.m
        order = self._order(order)
        cpu = self._cpu(cpu)
        if isinstance(pfn, bool) or not isinstance(pfn, int) or not m.pfn_valid(pfn):
            raise ValueError(f"pfn {pfn!r} is not a valid frame")
        if order >= MAX_ORDER or not m.pfn_valid(pfn + (1 << order) - 1):
            raise ValueError(f"pfn {pfn:#x}: there is no order-{order} block there")
        bug = _free_pages_bug(m.pgdat, pfn, order)
        if bug is not None:
            raise bug
        owned = self.blocks.get(pfn)
        rc = int(m.mem_map.rc[pfn])
        if owned is None or rc != 1:
            raise ValueError(f"pfn {pfn:#x} (refcount {rc}) is not a block "
                             f"m.kernel.alloc_pages handed out: freeing it would drop a "
                             f"reference someone else holds")
        if owned != order:
            raise ValueError(f"pfn {pfn:#x} heads an order-{owned} block, not order "
                             f"{order}: 4.6 would free part of it and leak the rest")
        del self.blocks[pfn]
        _free_pages(m.pgdat, pfn, order, cpu)

    def free_page(self, addr: int, cpu=None) -> None:
        self.free_pages_addr(addr, 0, cpu)

    def free_pages_addr(self, addr: int, order: int = 0, cpu=None) -> None:
        """``free_pages(addr, order)`` with a direct-map address from __get_free_pages (0
        is ignored, as in 4.6)."""
        if isinstance(addr, bool) or not isinstance(addr, int):
            raise TypeError(f"address must be an int, not {addr!r}")
        if addr == 0:
            return
        if not PAGE_OFFSET <= addr < 0xFFFFC80000000000 or addr & (PAGE_SIZE - 1):
            raise ValueError(f"{addr:#x} is not a page-aligned direct-map address")
        self.free_pages((addr - PAGE_OFFSET) >> PAGE_SHIFT, order, cpu)

    def drain_all_pages(self) -> None:
        """Empty every CPU's pcp lists back into the buddy lists."""
        page_alloc.drain_all_pages(self.m.pgdat)

    # -- the slab allocator (mm/slab_api.py checks the arguments, m.slab does the work) --
    def kmem_cache_create(self, name, size, align=0, flags=0, ctor=None):
        """Create (or alias) a slab cache; flags by value or name ("SLAB_HWCACHE_ALIGN|…")."""
        return slab_api.kmem_cache_create(self.m, name, size, align, flags, ctor)

    def kmem_cache_alloc(self, cache, gfp="GFP_KERNEL", cpu=None) -> int:
        """An object from ``cache`` (a kmem_cache or its name): its direct-map address, or 0."""
        cpu = self._cpu(cpu)
        try:
            return slab_api.kmem_cache_alloc(self.m, cache, gfp, cpu)
        finally:
            ktime.account_work(self.m, 0, cpu)

    def kmem_cache_free(self, cache, address: int, cpu=None) -> None:
        slab_api.kmem_cache_free(self.m, cache, address, self._cpu(cpu))

    def kmem_cache_destroy(self, cache) -> None:
        slab_api.kmem_cache_destroy(self.m, cache)

    def kmem_cache_shrink(self, cache) -> int:
        return self.m.slab.kmem_cache_shrink(slab_api._cache(self.m, cache))

    def kmalloc(self, size: int, gfp="GFP_KERNEL", cpu=None) -> int:
        cpu = self._cpu(cpu)
        try:
            return slab_api.kmalloc(self.m, size, gfp, cpu)
        finally:
            ktime.account_work(self.m, 0, cpu)

    def kzalloc(self, size: int, gfp="GFP_KERNEL", cpu=None) -> int:
        cpu = self._cpu(cpu)
        try:
            return slab_api.kzalloc(self.m, size, gfp, cpu)
        finally:
            ktime.account_work(self.m, 0, cpu)

    def krealloc(self, address: int, new_size: int, gfp="GFP_KERNEL", cpu=None) -> int:
        cpu = self._cpu(cpu)
        try:
            return slab_api.krealloc(self.m, address, new_size, gfp, cpu)
        finally:
            ktime.account_work(self.m, 0, cpu)

    def kfree(self, address: int, cpu=None) -> None:
        slab_api.kfree(self.m, address, self._cpu(cpu))

    def ksize(self, address: int) -> int:
        return slab_api.ksize(self.m, address)

    def write_kernel(self, address: int, data) -> None:
        """Write bytes at a kernel address whose frame holds bytes (slab/kmalloc memory)."""
        slab_api.write_kernel(self.m, address, data)

    def read_kernel(self, address: int, n: int) -> bytes:
        return slab_api.read_kernel(self.m, address, n)

    def memset(self, address: int, value: int, n: int) -> None:
        slab_api.memset(self.m, address, value, n)


# __get_free_pages has a leading double underscore: keep it callable by that name
setattr(Kernel, "__get_free_pages", Kernel._Kernel__get_free_pages)
