"""Constants headers, as the kernel's include/: one module per header, named after it.

Pure data (flags, enum values, limits) that more than one layer reads. Nothing here
imports any other part of linuxvm, so every layer, down to the arch hardware, may use it.
"""
