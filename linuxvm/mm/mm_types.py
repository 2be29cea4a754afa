"""struct mm_struct (include/linux/mm_types.h): the fields users meet in 4.6.

The address-space code (mm/mmap.py and friends) owns the VMA fields; the paging
code (arch/x86) owns ``pgd``, ``nr_ptes``, ``nr_pmds``, ``cpu_vm_mask`` and
``context``. Fields are added here, never renamed.
"""

# enum { MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES }
MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES = range(4)
NR_MM_COUNTERS = 4


class MmStruct:
    """struct mm_struct."""

    __slots__ = (
        # the VMAs: sorted list / tree, cache, counts
        "mmap", "mm_rb", "vmacache_seqnum", "map_count", "highest_vm_end",
        "mmap_base", "mmap_legacy_base", "task_size", "get_unmapped_area",
        # page tables
        "pgd", "nr_ptes", "nr_pmds", "page_table_lock",
        # users
        "mm_users", "mm_count",
        # accounting
        "hiwater_rss", "hiwater_vm", "total_vm", "locked_vm", "pinned_vm", "data_vm",
        "exec_vm", "stack_vm", "def_flags",
        "start_code", "end_code", "start_data", "end_data", "start_brk", "brk",
        "start_stack", "arg_start", "arg_end", "env_start", "env_end",
        "saved_auxv", "rss_stat", "flags", "cpu_vm_mask", "context", "exe_file",
        "owner", "mmlist", "slab_obj", "binfmt",
        # the model's own: the machine this mm belongs to (set by pgd_alloc)
        "machine",
    )

    def __init__(self):
        self.mmap = None
        self.mm_rb = None
        self.vmacache_seqnum = 0
        self.map_count = 0
        self.highest_vm_end = 0
        self.mmap_base = 0
        self.mmap_legacy_base = 0
        self.task_size = 0
        self.get_unmapped_area = None
        self.pgd = -1              # pfn of the PGD page
        self.nr_ptes = 0
        self.nr_pmds = 0
        self.page_table_lock = None
        self.mm_users = 1
        self.mm_count = 1
        self.hiwater_rss = 0
        self.hiwater_vm = 0
        self.total_vm = 0
        self.locked_vm = 0
        self.pinned_vm = 0
        self.data_vm = 0
        self.exec_vm = 0
        self.stack_vm = 0
        self.def_flags = 0
        self.start_code = self.end_code = self.start_data = self.end_data = 0
        self.start_brk = self.brk = self.start_stack = 0
        self.arg_start = self.arg_end = self.env_start = self.env_end = 0
        self.saved_auxv = []
        self.rss_stat = [0] * NR_MM_COUNTERS
        self.flags = 0
        self.cpu_vm_mask = set()    # CPUs that may hold TLB entries for this mm
        self.context = None
        self.exe_file = None       # the executed file (set_mm_exe_file), holding a reference
        self.binfmt = None         # the binary format that loaded it (set_binfmt); None: spawned
        self.owner = None
        self.mmlist = None
        self.slab_obj = 0           # address of this object in its SLUB cache, if any
        self.machine = None         # the MachineState, set with the PGD (pgd_alloc)
