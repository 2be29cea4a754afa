"""debugfs files of the x86 paging code (kernel_page_tables, x86/tlb_single_page_flush_ceiling)
and of the hacks repository's pagetables module (/sys/kernel/debug/pagetables/)."""

from ...arch.x86 import dump_pagetables, tlb
from ..debugfs import pagetables


def register(procfs):
    dump_pagetables.register(procfs)
    tlb.register(procfs)
    pagetables.register(procfs)
