"""Kernel stacks: THREAD_SIZE (order 2) blocks from the page allocator, counted in
NR_KERNEL_STACK (kernel/fork.c alloc_thread_stack_node, free_thread_stack,
account_kernel_stack). x86-64 has THREAD_SIZE >= PAGE_SIZE, so there is no
thread_info slab cache.

    pfn = alloc_thread_stack(m)      # None when the page allocator fails
    free_thread_stack(m, pfn)
"""

from ..arch.x86.page_types import THREAD_SIZE_ORDER
from ..mm import gfp as G
from ..mm import page_alloc
from ..mm.page import NULL
from ..include.vm_event_item import NR_KERNEL_STACK

# THREADINFO_GFP without CONFIG_DEBUG_STACK_USAGE
THREADINFO_GFP = G.GFP_KERNEL_ACCOUNT | G.__GFP_NOTRACK


def alloc_thread_stack(m, cpu=None):
    """A new kernel stack's first frame, accounted to its zone; None on failure."""
    cpu = m.current_cpu if cpu is None else cpu
    pfn = page_alloc.__alloc_pages_nodemask(m.pgdat, THREADINFO_GFP, THREAD_SIZE_ORDER, cpu)
    if pfn == NULL:
        return None
    m.page_zone(pfn).vm_stat[NR_KERNEL_STACK] += 1       # account_kernel_stack(ti, 1)
    return pfn


def free_thread_stack(m, pfn: int, cpu=None) -> None:
    """Give a kernel stack back (account_kernel_stack(ti, -1), __free_kmem_pages)."""
    m.page_zone(pfn).vm_stat[NR_KERNEL_STACK] -= 1
    page_alloc.__free_pages(m.pgdat, pfn, THREAD_SIZE_ORDER,
                            m.current_cpu if cpu is None else cpu)
