"""``linuxvm replay-trace TRACE``: replay a valgrind lackey memory trace through the model's
TLB and MMU.

The trace is what ``valgrind --tool=lackey --trace-mem=yes`` writes: ``I  ADDR,SIZE`` for
an instruction fetch, `` L``, `` S`` and `` M`` for a load, a store and a modify (load and
store of one instruction), addresses in hex, and ``==PID==`` lines of valgrind's own.
Each record becomes one user access of the model's CPU (``x``, ``r``, ``w``; a modify is
one write, as x86 translates a read-modify-write instruction for writing), two when it
crosses a page boundary.

The address space is made from the trace itself: every page it touches is mapped
anonymously at its real address (MAP_FIXED), in runs of consecutive pages, readable and
writable, and executable when the run holds an instruction fetch. So the first access to
each page is a minor fault (do_anonymous_page), and what follows shows the TLB at work.
The loop over the accesses is ``Process.access_batch``, whose ``access_batch``
accelerator (linuxvm/accel/uaccess_trace.py) takes TLB hits inline.
"""

from dataclasses import dataclass, field

from ..errors import SyscallError
from ..mm import mman

__all__ = ["TraceError", "Trace", "parse", "map_pages", "replay", "CHUNK"]

PAGE_SHIFT = 12
PAGE = 1 << PAGE_SHIFT
CHUNK = 65536           # accesses per access_batch call (the progress bar's step)
KIND = {"I": "x", "L": "r", "S": "w", "M": "w"}
USER_END = 1 << 47
MMAP_MIN_ADDR = 65536


class TraceError(Exception):
    """A trace the replay cannot read or map: ``FILE:LINE: reason``."""


@dataclass
class Trace:
    """A parsed trace: the model's accesses in order, and what the records were."""
    path: str
    addrs: list = field(default_factory=list)
    kinds: str = ""
    records: dict = field(default_factory=lambda: {"I": 0, "L": 0, "S": 0, "M": 0})
    split: int = 0          # records crossing a page boundary (two accesses each)


def parse(path: str, limit: int = None) -> Trace:
    """Read a lackey trace (at most ``limit`` records).

    :raises TraceError: an unreadable file, or a line that is no lackey record
    """
    t = Trace(path)
    addrs = t.addrs
    kinds = []
    rec = t.records
    split = 0
    try:
        f = open(path, encoding="ascii", errors="replace")
    except OSError as e:
        raise TraceError(f"{path}: {e.strerror}") from None
    with f:
        for lineno, line in enumerate(f, 1):
            if line.startswith("==") or not line.strip():
                continue
            head = line[:3]
            c = head[0] if head[0] != " " else head[1]
            k = KIND.get(c)
            if k is None or head not in ("I  ", " L ", " S ", " M "):
                raise TraceError(f"{path}:{lineno}: not a lackey record: {line.strip()[:60]!r}")
            a, sep, n = line[3:].partition(",")
            try:
                va = int(a, 16)
                size = int(n)
            except ValueError:
                raise TraceError(f"{path}:{lineno}: bad address or size: "
                                 f"{line.strip()[:60]!r}") from None
            if not 0 <= va < USER_END or size < 0:
                raise TraceError(f"{path}:{lineno}: address {va:#x} is not a user address")
            rec[c] += 1
            addrs.append(va)
            kinds.append(k)
            if size and ((va & (PAGE - 1)) + size > PAGE):
                addrs.append((va | (PAGE - 1)) + 1)
                kinds.append(k)
                split += 1
            if limit is not None and sum(rec.values()) >= limit:
                break
    if not addrs:
        raise TraceError(f"{path}: no accesses in the trace")
    t.kinds = "".join(kinds)
    t.split = split
    return t


def runs(trace: Trace) -> list:
    """(start, end, executable) runs of consecutive pages the trace touches."""
    pages = {}
    for va, k in zip(trace.addrs, trace.kinds):
        pn = va >> PAGE_SHIFT
        pages[pn] = pages.get(pn, False) or k == "x"
    out = []
    for pn in sorted(pages):
        if out and out[-1][1] == pn:
            out[-1][1] = pn + 1
            out[-1][2] = out[-1][2] or pages[pn]
        else:
            out.append([pn, pn + 1, pages[pn]])
    return [(s << PAGE_SHIFT, e << PAGE_SHIFT, x) for s, e, x in out]


def map_pages(p, trace: Trace) -> list:
    """Map every page the trace touches in process ``p``; the runs mapped.

    :raises TraceError: a page the model will not map there (below mmap_min_addr …)
    """
    done = []
    for start, end, x in runs(trace):
        prot = mman.PROT_READ | mman.PROT_WRITE | (mman.PROT_EXEC if x else 0)
        try:
            p.mmap(start, end - start, prot,
                   mman.MAP_PRIVATE | mman.MAP_ANONYMOUS | mman.MAP_FIXED)
        except SyscallError as e:
            raise TraceError(f"{trace.path}: cannot map {start:#x}-{end:#x} in the model: "
                             f"{e.strerror}") from None
        done.append((start, end, x))
    return done


def replay(p, trace: Trace, progress=None) -> dict:
    """Make the trace's accesses in process ``p`` (whose pages are mapped); the counters
    ``Process.access_batch`` returns, summed. ``progress(n)`` is called after each chunk."""
    total = {"accesses": 0, "tlb_hits": 0, "stlb_hits": 0, "tlb_misses": 0, "faults": 0}
    addrs, kinds = trace.addrs, trace.kinds
    for i in range(0, len(addrs), CHUNK):
        got = p.access_batch(addrs[i:i + CHUNK], kinds[i:i + CHUNK])
        for k, v in got.items():
            total[k] += v
        if progress is not None:
            progress(got["accesses"])
    return total
