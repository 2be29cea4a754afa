"""Per-task flags that memory management tests (include/linux/sched.h PF_*)."""

PF_RANDOMIZE = 0x00400000
