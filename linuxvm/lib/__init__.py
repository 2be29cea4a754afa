"""Generic code below every other layer (as the kernel's lib/): no memory-management logic."""
