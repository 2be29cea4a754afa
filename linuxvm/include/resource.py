"""Resource limits: RLIMIT_* numbers and RLIM_INFINITY (include/uapi/asm-generic/resource.h)
and the limits init starts with (include/asm-generic/resource.h INIT_RLIMITS), for the
resources memory management checks."""

RLIM_INFINITY = (1 << 64) - 1
RLIMIT_DATA = 2
RLIMIT_STACK = 3
RLIMIT_MEMLOCK = 8
RLIMIT_AS = 9
RLIMIT_NAMES = {"RLIMIT_DATA": RLIMIT_DATA, "RLIMIT_STACK": RLIMIT_STACK,
                "RLIMIT_MEMLOCK": RLIMIT_MEMLOCK, "RLIMIT_AS": RLIMIT_AS}
_STK_LIM = 8 << 20                 # include/uapi/linux/resource.h
MLOCK_LIMIT = 64 << 10             # include/uapi/linux/resource.h

# INIT_RLIMITS for the resources mm uses: (soft, hard)
INIT_RLIMITS = {
    RLIMIT_DATA: (RLIM_INFINITY, RLIM_INFINITY),
    RLIMIT_STACK: (_STK_LIM, RLIM_INFINITY),
    RLIMIT_MEMLOCK: (MLOCK_LIMIT, MLOCK_LIMIT),
    RLIMIT_AS: (RLIM_INFINITY, RLIM_INFINITY),
}
