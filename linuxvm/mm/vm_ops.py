"""struct vm_operations_struct and the VM_FAULT_* codes its handlers return
(include/linux/mm.h).

A VMA's ``vm_ops`` is how mm reaches the code that owns a mapping (a filesystem,
shmem, hugetlb) without importing it: the owner builds a table when it sets the VMA
up (``file.f_op.mmap``, ``shmem_zero_setup``) and mm calls through it. An empty slot
is None, as a NULL pointer is in the kernel.
"""

__all__ = ["VmOperationsStruct", "VmFault", "VM_FAULT_OOM", "VM_FAULT_SIGBUS", "VM_FAULT_MAJOR",
           "VM_FAULT_WRITE", "VM_FAULT_HWPOISON", "VM_FAULT_HWPOISON_LARGE",
           "VM_FAULT_SIGSEGV", "VM_FAULT_NOPAGE", "VM_FAULT_LOCKED", "VM_FAULT_RETRY",
           "VM_FAULT_FALLBACK", "VM_FAULT_ERROR"]

VM_FAULT_OOM = 0x0001
VM_FAULT_SIGBUS = 0x0002
VM_FAULT_MAJOR = 0x0004
VM_FAULT_WRITE = 0x0008
VM_FAULT_HWPOISON = 0x0010
VM_FAULT_HWPOISON_LARGE = 0x0020
VM_FAULT_SIGSEGV = 0x0040
VM_FAULT_NOPAGE = 0x0100
VM_FAULT_LOCKED = 0x0200
VM_FAULT_RETRY = 0x0400
VM_FAULT_FALLBACK = 0x0800
VM_FAULT_ERROR = (VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_HWPOISON
                  | VM_FAULT_HWPOISON_LARGE | VM_FAULT_FALLBACK)


class VmOperationsStruct:
    """struct vm_operations_struct: the hooks of one kind of mapping.

    >>> from linuxvm.mm.shmem import shmem_vm_ops
    >>> shmem_vm_ops
    <vm_operations_struct shmem_vm_ops>

    :param ident: the C name of the table (``"shmem_vm_ops"``), for repr only
    """

    __slots__ = ("ident", "open", "close", "mremap", "fault", "pmd_fault", "map_pages",
                 "page_mkwrite", "pfn_mkwrite", "access", "name", "find_special_page")

    def __init__(self, ident: str, *, open=None, close=None, mremap=None, fault=None,
                 pmd_fault=None, map_pages=None, page_mkwrite=None, pfn_mkwrite=None,
                 access=None, name=None, find_special_page=None):
        self.ident = ident
        self.open = open
        self.close = close
        self.mremap = mremap
        self.fault = fault
        self.pmd_fault = pmd_fault
        self.map_pages = map_pages
        self.page_mkwrite = page_mkwrite
        self.pfn_mkwrite = pfn_mkwrite
        self.access = access
        self.name = name
        self.find_special_page = find_special_page

    def __repr__(self):
        return f"<vm_operations_struct {self.ident}>"


class VmFault:
    """struct vm_fault: what a fault handler is told and hands back (include/linux/mm.h).

    ``m`` is the machine (the kernel reaches its globals directly); ``pte`` is the
    (table pfn, index) of the PTE of ``virtual_address`` for ``map_pages``.
    """

    __slots__ = ("m", "flags", "pgoff", "virtual_address", "page", "cow_page", "gfp_mask",
                 "pte", "max_pgoff")

    def __init__(self, m, flags: int, pgoff: int, virtual_address: int, gfp_mask: int = 0,
                 cow_page: int = -1):
        self.m = m
        self.flags = flags
        self.pgoff = pgoff
        self.virtual_address = virtual_address
        self.page = -1              # NULL: the handler has not found a page
        self.cow_page = cow_page
        self.gfp_mask = gfp_mask
        self.pte = None
        self.max_pgoff = 0
