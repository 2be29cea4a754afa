"""Architecture code (x86-64 only)."""
