"""The memory manager, one module per kernel file in mm/."""
