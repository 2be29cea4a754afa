"""debugfs files of the x86 paging code: kernel_page_tables and x86/tlb_single_page_flush_ceiling."""

from ...arch.x86 import dump_pagetables, tlb


def register(procfs):
    dump_pagetables.register(procfs)
    tlb.register(procfs)
