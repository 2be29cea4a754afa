"""The kernel log buffer (kernel/printk/printk.c), read with ``dmesg``."""

KERN_EMERG, KERN_ALERT, KERN_CRIT, KERN_ERR, KERN_WARNING, KERN_NOTICE, KERN_INFO, \
    KERN_DEBUG = range(8)


class LogBuffer:
    """Records of (timestamp ns, level, text); ``lines()`` formats them as dmesg does."""

    __slots__ = ("records", "clock", "limit")

    def __init__(self, clock=lambda: 0, limit: int = 1 << 16):
        self.records = []
        self.clock = clock
        self.limit = limit

    def printk(self, level: int, text: str) -> None:
        t = self.clock()
        for line in text.rstrip("\n").split("\n"):
            self.records.append((t, level, line))
        if len(self.records) > self.limit:
            del self.records[: len(self.records) - self.limit]

    def pr_err(self, text):
        self.printk(KERN_ERR, text)

    def pr_warn(self, text):
        self.printk(KERN_WARNING, text)

    def pr_info(self, text):
        self.printk(KERN_INFO, text)

    def lines(self) -> list:
        return [f"[{t // 1_000_000_000:5d}.{(t // 1000) % 1_000_000:06d}] {msg}"
                for t, _, msg in self.records]
