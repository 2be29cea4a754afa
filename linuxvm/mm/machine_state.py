"""The kernel's global state: one declared object that mm/ (and arch/, kernel/, fs/) is
handed, instead of calling back into the ``Machine`` façade.

Every global the model keeps is a slot here, created when the machine is made (most
are filled in by the boot sequence in linuxvm/machine.py); setting anything else raises
AttributeError. The methods are the small global queries and the per-zone
recomputations the sysctl handlers run (the kernel's nr_free_pages(), page_zone(), …).
"""

from . import bootmem, page_alloc_init
from ..include.trace.events import all_events
from ..lib.tracepoint import Tracepoints
from ..include.vm_event_item import NR_FREE_PAGES, NR_FILE_PAGES

# double-underscore kernel names cannot be spelled inside a class body (name mangling)
_setup_per_zone_wmarks = page_alloc_init.__setup_per_zone_wmarks


class MachineState:
    """The global state of one booted kernel (what 4.6 keeps in global variables)."""

    __slots__ = (
        # -- how the machine was made ------------------------------------------------------
        "accel",            # AccelTable: which accelerators stand in for their references
        "ram",              # bytes of RAM (page aligned)
        "nr_cpus",          # number of CPUs (nr_cpu_ids)
        "seed",             # the seed every random choice derives from
        "rng",              # random.Random(seed): get_random_long and friends
        "thp",              # transparent_hugepage mode: "always", "madvise" or "never"
        "aslr",             # randomize_va_space != 0
        "cmdline",          # the kernel command line (boot_command_line)
        "cpu_model",        # the CPU's model and feature flags (boot_cpu_data; setup_arch)
        # -- time, log, taint ------------------------------------------------------------
        "clock_ns",         # the model's clock (local_clock), stamps dmesg lines
        "time",             # TimeState: CPU time, charged work, tick timers (kernel/time.py)
        "log",              # LogBuffer: the printk ring buffer
        "taint",            # taint flags set so far (add_taint), e.g. "B"
        "tp",               # Tracepoints: which trace events are on, and their ring buffer
        # -- boot-time layout (arch/x86 setup_arch, paging_init) -----------------------------
        "setup_arch_hooks",  # callables run at the end of setup_arch (paging_init, …)
        "late_init_hooks",  # callables run as late initcalls (slab caches, …)
        "e820",             # the firmware memory map: (start, end, type) ranges
        "kernel_sections",  # kernel image sections: name -> (phys start, phys end)
        "kernel_image",     # (phys start, phys end) of the whole kernel image
        "max_pfn",          # highest RAM frame + 1 (max_pfn)
        "swiotlb",          # (start, end) of the swiotlb bounce buffer, or None
        "nr_present_sections",  # memory sections with RAM (SPARSEMEM)
        "section_present",  # bool array: section has a mem_map (present_section_nr)
        "memblock",         # Memblock: the boot memory allocator's regions
        "direct_gbpages",   # the direct map may use 1 GiB pages (pdpe1gb, no nogbpages)
        "max_pfn_mapped",   # frames the direct map covers (max_pfn_mapped)
        "direct_pages_count",  # direct-map entries per level: NONE/4K/2M/1G (pageattr.c)
        "kernel_pgt",       # the kernel's own page tables (level -> pfn of each table)
        "boot_pgtables",    # frames holding page tables built at boot
        "pgtables",         # pfn -> 512-entry view of every page-table frame
        "pgd_list",         # pfn of each user PGD -> its mm (pgd_list)
        "tlb_single_page_flush_ceiling",  # flush_tlb_mm_range's one-by-one ceiling
        "init_mm",          # init_mm: the kernel's mm_struct
        "swapper_pg_dir",   # pfn of init_mm's PGD
        "zero_pfn",         # the frame of empty_zero_page (my_zero_pfn)
        # -- physical memory -------------------------------------------------------------
        "pgdat",            # PglistData: contig_page_data, the one node
        "zones",            # pgdat.node_zones: DMA, DMA32, Normal, Movable
        "mem_map",          # the struct page array (vmemmap), struct-of-arrays
        "nr_kernel_pages",  # low-memory pages counted at boot (nr_kernel_pages)
        "nr_all_pages",     # all pages counted at boot (nr_all_pages)
        "boot_free_pages",  # nr_free_pages() when boot finished
        "page_contents",    # pfn -> bytearray, only for frames holding real data
        "content_seq",      # the last content tag handed out (mm/fault.py)
        "page_owner_order",  # head pfn -> order of non-compound high-order blocks
        # -- page allocator diagnostics ---------------------------------------------------
        "extfrag_events",   # fallbacks that stole from another migratetype
        # -- counters --------------------------------------------------------------------
        "vm_committed_as",  # pages charged to Committed_AS (vm_committed_as)
        "committed_outside_vmas",  # committed pages not owned by a VMA (stack guard, shm)
        "shm_mnt_sbinfo",   # the internal tmpfs mount behind shared anonymous memory
        "shm_ids",          # SysV shared memory segments (ipc/shm.c shm_ids)
        "total_swap_pages",  # swap pages in all swap areas (total_swap_pages)
        "nr_swap_pages",    # free swap pages (nr_swap_pages)
        "total_swapcache_pages",  # pages in the swap cache
        "swap_cache_info",  # swap cache add, delete, find_success, find_total
        "khugepaged_enter_vma_merge",  # khugepaged's hook on VMA merges, once THP has one
        "huge_zero_pfn",    # head frame of the huge zero page, None until THP makes one
        "transparent_hugepage",  # TransparentHugepage: THP knobs, deposits, split queue
        # -- subsystems ------------------------------------------------------------------
        "sysctl",           # Sysctl: every /proc/sys/vm value and its handler
        "slab",             # SlabState: the SLUB caches (slab_caches)
        "lru",              # LruState: pagevecs and lru_add_drain (mm/swap.c)
        "swap",             # SwapState: swap areas and the swap cache (mm/swapfile.c)
        "anon_vmas",        # id -> AnonVma, every live anon_vma
        "anon_vma_seq",     # last anon_vma id handed out
        "vfs",              # VFS: the model's files and inodes
        "fs",               # the same VFS as m.fs (mounts, import_host)
        "address_spaces",   # handle -> AddressSpace of every page cache holding pages
        "address_space_seq",  # last address_space handle handed out
        "fault_around_bytes",  # mm/memory.c fault_around_bytes (debugfs), 65536
        "drop_caches_stfu",  # fs/drop_caches.c: a write with bit 4 silenced the log line
        "writeback",        # WritebackState: bdi_list and page-writeback.c's globals
        "shrinker_list",    # the registered slab shrinkers (mm/vmscan.c shrinker_list)
        "reclaim_state",    # current->reclaim_state of the running reclaimer, or None
        # -- tasks and CPUs --------------------------------------------------------------
        "cpus",             # per-CPU state: control registers, TLB, current task
        "current_cpu",      # the CPU the model is running on (smp_processor_id)
        "current",          # the running task on current_cpu, or None (a kernel thread)
        "tasks",            # pid -> TaskStruct: the task list
        "next_pid",         # the pid the next task gets
        "oom",              # OomState: the OOM killer's globals (mm/oom_kill.py)
        # -- warn-once flags -------------------------------------------------------------
        "_rlimit_data_warned",  # mmap.c's "RLIMIT_DATA will be enforced" line printed
        "_oom_adj_warned",  # the /proc/<pid>/oom_adj deprecation line printed
    )

    def __init__(self):
        # Every slot exists from here on; the boot sequence replaces the placeholders.
        for name in MachineState.__slots__:
            setattr(self, name, None)
        self.clock_ns = 0
        self.taint = ""
        self.tp = Tracepoints(self, all_events())
        self.setup_arch_hooks = []
        self.late_init_hooks = []
        self.direct_pages_count = [0, 0, 0, 0]
        self.page_contents = {}
        self.content_seq = 0
        self.page_owner_order = {}
        self.extfrag_events = 0
        self.vm_committed_as = 0
        self.committed_outside_vmas = 0
        self.shm_mnt_sbinfo = None
        self.shm_ids = None
        self.total_swap_pages = 0
        self.nr_swap_pages = 0
        self.total_swapcache_pages = 0
        self.swap_cache_info = (0, 0, 0, 0)
        self.anon_vmas = {}
        self.anon_vma_seq = 0
        self.address_spaces = {}
        self.address_space_seq = 0
        self.fault_around_bytes = 65536
        self.drop_caches_stfu = False
        self.shrinker_list = []
        self.current_cpu = 0
        self.tasks = {}
        self.next_pid = 1
        self._rlimit_data_warned = False
        self._oom_adj_warned = False

    # -- zone-wide recomputation (the page allocator's sysctl handlers) -------------------
    def setup_per_zone_wmarks(self):
        _setup_per_zone_wmarks(self.pgdat, self.sysctl.min_free_kbytes,
                               self.sysctl.watermark_scale_factor)

    def setup_per_zone_lowmem_reserve(self):
        page_alloc_init.setup_per_zone_lowmem_reserve(self.pgdat,
                                                      self.sysctl.lowmem_reserve_ratio)

    def update_pageset_high_and_batch(self):
        for zone in self.pgdat.node_zones:
            for ps in zone.pageset:
                page_alloc_init.pageset_set_high_and_batch(
                    zone, ps.pcp, self.sysctl.percpu_pagelist_fraction)

    # -- small global queries --------------------------------------------------------
    def nr_free_pages(self) -> int:
        return sum(z.vm_stat[NR_FREE_PAGES] for z in self.pgdat.node_zones)

    def totalram_pages(self) -> int:
        return sum(z.managed_pages for z in self.pgdat.node_zones)

    def global_page_state(self, item: int) -> int:
        return sum(z.vm_stat[item] for z in self.pgdat.node_zones)

    def total_pagecache_pages(self) -> int:
        return self.global_page_state(NR_FILE_PAGES)

    def hugetlb_total_pages(self) -> int:
        return 0                             # no hugetlbfs pages are reserved

    def pfn_valid(self, pfn: int) -> bool:
        return bootmem.pfn_valid(self, pfn)

    def page_zone(self, pfn: int):
        return self.pgdat.node_zones[int(self.mem_map.flags[pfn]) >> 62]

    def current_comm(self) -> str:
        return self.current.comm if self.current is not None else "swapper/0"

    def current_pid(self) -> int:
        return self.current.pid if self.current is not None else 0

    def add_taint(self, flag: str) -> None:
        if flag not in self.taint:
            self.taint += flag

    def taint_string(self) -> str:
        return f"Tainted: {self.taint}" if self.taint else "Not tainted"

    def drop_contents(self, pfn: int, nr: int) -> None:
        pc = self.page_contents
        for p in range(pfn, pfn + nr):
            pc.pop(p, None)
