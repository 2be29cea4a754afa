"""The tick and jiffies (include/linux/jiffies.h, include/asm-generic/param.h, the
jiffies helpers of kernel/time/time.c).

The model's clock is ``m.clock_ns``, nanoseconds since the end of boot (local_clock and
the monotonic boot time at once); jiffies are read from it. As on x86-64 (64-bit
``jiffies``), the counter starts at INITIAL_JIFFIES, five minutes before its low 32 bits
wrap, and keeps counting past 2**32.
"""

HZ = 250                             # CONFIG_HZ_250, what the distribution kernels use
USER_HZ = 100                        # the unit of clock_t in /proc (CLK_TCK)
NSEC_PER_SEC = 1_000_000_000
TICK_NSEC = NSEC_PER_SEC // HZ       # 4 ms
INITIAL_JIFFIES = (-300 * HZ) & 0xFFFFFFFF     # (unsigned long)(unsigned int)(-300*HZ)


def jiffies(m) -> int:
    """The jiffies counter now (jiffies_64): INITIAL_JIFFIES plus the ticks since boot."""
    return INITIAL_JIFFIES + m.clock_ns // TICK_NSEC


def jiffies_to_ns(j: int) -> int:
    """The clock time (``m.clock_ns``) at which the counter reaches ``j``."""
    return (j - INITIAL_JIFFIES) * TICK_NSEC


def msecs_to_jiffies(ms: int) -> int:
    """Milliseconds to jiffies, rounded up (kernel/time/time.c __msecs_to_jiffies, HZ
    dividing 1000)."""
    return -(-ms * HZ // 1000)


def jiffies_64_to_clock_t(x: int) -> int:
    """Jiffies to USER_HZ ticks (kernel/time/time.c: TICK_NSEC is not a multiple of a
    USER_HZ tick at HZ=250, so through nanoseconds)."""
    return x * TICK_NSEC // (NSEC_PER_SEC // USER_HZ)


def time_after_eq(a: int, b: int) -> bool:
    """``a`` is ``b`` or later (64-bit jiffies: no wrap to allow for)."""
    return a - b >= 0
