"""Boot-time physical memory: memblock.memory and memblock.reserved (mm/memblock.c)."""

from ..errors import KernelBug


class MemblockType:
    """A sorted list of non-overlapping [base, end) regions with names for reserved ones."""

    __slots__ = ("name", "regions")

    def __init__(self, name: str):
        self.name = name
        self.regions = []          # [base, end, label]

    def add(self, base: int, size: int, label: str = "") -> None:
        if size <= 0:
            return
        self.regions.append([base, base + size, label])
        self.regions.sort(key=lambda r: r[0])
        merged = []
        for r in self.regions:
            if merged and r[0] <= merged[-1][1] and (r[2] == merged[-1][2]):
                merged[-1][1] = max(merged[-1][1], r[1])
            else:
                merged.append(r)
        self.regions = merged

    def remove(self, base: int, size: int) -> None:
        end = base + size
        out = []
        for b, e, lab in self.regions:
            if e <= base or b >= end:
                out.append([b, e, lab])
                continue
            if b < base:
                out.append([b, base, lab])
            if e > end:
                out.append([end, e, lab])
        self.regions = out

    def total_size(self) -> int:
        return sum(e - b for b, e, _ in self.regions)


class Memblock:
    """``memblock``: memory known to the kernel and what boot code has reserved in it."""

    __slots__ = ("memory", "reserved", "current_limit", "bottom_up")

    def __init__(self):
        self.memory = MemblockType("memory")
        self.reserved = MemblockType("reserved")
        self.current_limit = 1 << 64
        self.bottom_up = False

    def memblock_add(self, base: int, size: int) -> None:
        self.memory.add(base, size)

    def memblock_remove(self, base: int, size: int) -> None:
        self.memory.remove(base, size)

    def memblock_reserve(self, base: int, size: int, label: str = "") -> None:
        self.reserved.add(base, size, label)

    def memblock_free(self, base: int, size: int) -> None:
        self.reserved.remove(base, size)

    def free_ranges(self):
        """[start, end) ranges of memory not reserved, ascending (for_each_free_mem_range)."""
        res = sorted((b, e) for b, e, _ in self.reserved.regions)
        for mb, me, _ in self.memory.regions:
            cur = mb
            for rb, re_ in res:
                if re_ <= cur or rb >= me:
                    continue
                if rb > cur:
                    yield cur, rb
                cur = max(cur, re_)
                if cur >= me:
                    break
            if cur < me:
                yield cur, me

    def memblock_find_in_range(self, start: int, end: int, size: int, align: int) -> int:
        """Highest (top-down) free [x, x+size) inside [start, end); 0 when none."""
        end = min(end, self.current_limit)
        start = max(start, 4096)
        for fb, fe in reversed(list(self.free_ranges())):
            this_start = max(fb, start)
            this_end = min(fe, end)
            if this_end < size:
                continue
            cand = (this_end - size) & ~(align - 1)
            if cand >= this_start:
                return cand
        return 0

    def memblock_alloc_range(self, size: int, align: int, start: int, end: int,
                             label: str) -> int:
        found = self.memblock_find_in_range(start, end, size, align)
        if not found:
            raise KernelBug(f"memblock: cannot allocate {size:#x} bytes for {label}")
        self.memblock_reserve(found, size, label)
        return found

    def memblock_alloc(self, size: int, align: int, label: str, min_addr: int = 0,
                       max_addr: int = 1 << 64) -> int:
        return self.memblock_alloc_range(size, align, min_addr, max_addr, label)

    def reserved_by_label(self) -> dict:
        out = {}
        for b, e, lab in self.reserved.regions:
            out[lab] = out.get(lab, 0) + (e - b)
        return out
