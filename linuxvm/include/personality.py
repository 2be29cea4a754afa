"""Personality bits the mmap layout and mprotect read (include/uapi/linux/personality.h)."""

ADDR_NO_RANDOMIZE = 0x0040000
ADDR_COMPAT_LAYOUT = 0x0200000
READ_IMPLIES_EXEC = 0x0400000
MMAP_PAGE_ZERO = 0x0100000
