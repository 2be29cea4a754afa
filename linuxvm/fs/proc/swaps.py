"""/proc/swaps (mm/swapfile.c proc_swaps_operations, swap_show)."""

from ...mm.swapfile import swap_show


def register(procfs):
    m = procfs.m
    procfs.add_text("/proc/swaps", lambda: swap_show(m))
