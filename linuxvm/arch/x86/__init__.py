"""x86-64: page-table formats, the MMU, TLBs, the fault entry and the boot memory map."""
