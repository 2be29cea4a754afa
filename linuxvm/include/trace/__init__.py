"""Trace headers, as the kernel's include/trace/."""
