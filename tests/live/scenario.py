"""The data every live comparison is written in: step constructors, scenarios,
declared deviations, and the records (snapshots, runs) both the live and model sides
produce. See harness.py for how they are run and compared."""

import dataclasses

PG = 4096


class ModelAPIMissing(AssertionError):
    """The model does not yet offer a façade piece a scenario needs (a failure, not a skip)."""


class LiveUnavailable(Exception):
    """gcc, setarch or /proc/self/pagemap is missing: the live half cannot run here."""


# ---------------------------------------------------------------------------
# Step constructors: the vocabulary scenarios are written in.
# prot is a string of r/w/x letters or "none"; flags are '|'-separated MAP_*
# names without the prefix; advice is a MADV_* name without the prefix.
# ---------------------------------------------------------------------------

def mmap(name, length, prot="rw", flags="private|anon", at=None, nohuge=True):
    """mmap a region called ``name``; ``at=(ref, off)`` passes ref's address + off as the hint."""
    return ("mmap", name, length, prot, flags, at, nohuge)


def munmap(name, off, length):
    return ("munmap", name, off, length)


def mprotect(name, off, length, prot):
    return ("mprotect", name, off, length, prot)


def mremap(name, off, old_len, new_len, flags="maymove", new=None, at=None):
    """mremap part of ``name``; the result is called ``new`` (default: ``name`` itself)."""
    return ("mremap", name, off, old_len, new_len, flags, new or name, at)


def brk(delta):
    """brk(brk0 + delta), brk0 being the page-aligned break at the start (region "heap")."""
    return ("brk", delta)


def mlock(name, off, length):
    return ("mlock", name, off, length)


def munlock(name, off, length):
    return ("munlock", name, off, length)


def madvise(name, off, length, advice, live=None):
    """madvise(2); ``live`` names another advice the C program uses instead, for a declared
    deviation where 4.6's ``advice`` behaves as 6.x's ``live`` (e.g. MADV_FREE without swap)."""
    return ("madvise", name, off, length, advice, live)


def touch(name, off, length, rw="w"):
    """One access per page: a load ("r") or a write access keeping the contents ("w", a locked
    read-modify-write in C: one write fault); stops at the first signal."""
    return ("touch", name, off, length, rw)


def touch_sp(name, sp_off, target_off, rw="w"):
    """Touch name+target_off with the stack pointer just below name+sp_off."""
    return ("touch_sp", name, sp_off, target_off, rw)


def fill(name, off, length, seed):
    """Write the 8-byte word (seed << 32 | page's index in the region) at the start of each page."""
    return ("fill", name, off, length, seed)


def verify(name, off, length, seed):
    """Count pages whose first word differs from fill's pattern (seed 0: zeros)."""
    return ("verify", name, off, length, seed)


def alias(name, ref, off, length):
    """Name part of another region (its pagemap is reported separately)."""
    return ("alias", name, ref, off, length)


def forget(name):
    """Stop reporting a region."""
    return ("forget", name)


def snapshot(label):
    return ("snapshot", label)


def fork(child):
    return ("fork", child)


def child(child_name, *steps):
    """Steps run in the child (which waits for them) while the parent waits."""
    return ("child", child_name, tuple(steps))


def exit_(child_name):
    return ("exit", child_name)


# ---------------------------------------------------------------------------
# Scenarios and declared deviations
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Dev:
    """A declared 4.6-vs-live difference on one compared quantity.

    ``key`` names the quantity as :func:`compare` does — ``("delta", label,
    field)``, ``("maps", label)``, ``("result", step)``, ``("pages", label,
    region)`` — and ``live`` maps the model's value to the value the live
    kernel must show. The deviation is accepted only if the live value is
    exactly that; ``name`` must have an entry in docs/deviations.md.
    """
    name: str
    key: tuple
    live: object          # callable(model_value) -> expected live value


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    steps: tuple
    doc: str = ""
    devs: tuple = ()
    # label -> new PUD tables the step needs (live VmPTE counts them, 4.6 does not)
    pud_tables: tuple = ()
    # live self-consistency: label -> {field: delta} the live kernel must show
    live_expect: tuple = ()
    kind: str = "faults"   # "maps" compares shapes/results/VM sizes; "faults" everything
    # a deviation name: the model must *differ* from the live kernel here (6.x semantics
    # that 4.6 does not have); the difference is asserted, not hidden
    differs: str = ""

    def flat(self):
        """Steps with global indices, child blocks flattened: [(index, child or None, step)]."""
        out, i = [], 0
        for st in self.prologue(self.kind) + self.steps:
            if st[0] == "child":
                for sub in st[2]:
                    out.append((i, st[1], sub))
                    i += 1
            else:
                out.append((i, None, st))
                i += 1
        return out

    @staticmethod
    def prologue(kind):
        """Steps both runs take before the baseline snapshot "start"."""
        # the anchor is made read-only, with no NOHUGEPAGE flag, so that it never merges
        # with a scenario region
        anchor = (mmap("_anchor", PG, nohuge=False), mprotect("_anchor", 0, PG, "r"))
        if kind == "maps":      # no page faults: shapes need only the address-space calls
            return anchor
        # written first, so that both runs hold the page tables for the top 2 MiB; then
        # the zero page's PFN is learnt from a read-touched scratch page
        return (anchor[0], touch("_anchor", 0, PG, "w"), anchor[1],
                mmap("_z", PG, "r"), touch("_z", 0, PG, "r"), snapshot("_zero"),
                munmap("_z", 0, PG), forget("_z"))

    def region_names(self):
        names = ["heap"]
        for _, _, st in self.flat():
            n = {"mmap": 1, "alias": 1, "mremap": 6}.get(st[0])
            if n is not None and st[n] not in names:
                names.append(st[n])
        return names

    def growsdown_regions(self):
        return {st[1] for _, _, st in self.flat() if st[0] == "mmap" and "growsdown" in st[4]}


# ---------------------------------------------------------------------------
# Records both sides produce
# ---------------------------------------------------------------------------

@dataclasses.dataclass
class Snap:
    label: str
    pid: int
    hidden: bool
    minflt: int = 0
    status: dict = dataclasses.field(default_factory=dict)
    maps: list = dataclasses.field(default_factory=list)
    brk: tuple = (0, 0)
    regions: dict = dataclasses.field(default_factory=dict)
    pm: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Run:
    """One scenario's observations: snapshots in order and per-step results."""
    snaps: list
    results: dict          # step -> ("ok", v) | ("err", errno) | ("sig", signo, code, off) | ("verify", bad)
    brk0: int = 0
    raw: str = ""
    exits: list = dataclasses.field(default_factory=list)   # (snapshots before it, pid)

    def snap(self, label):
        for s in self.snaps:
            if s.label == label:
                return s
        raise KeyError(f"no snapshot {label!r} (have {[s.label for s in self.snaps]})")

    def visible(self):
        return [s for s in self.snaps if not s.hidden]


def parse_maps_line(line):
    """(start, end, perms, pgoff, inode, name) of one /proc/PID/maps line."""
    parts = line.split(None, 5)
    start, end = (int(x, 16) for x in parts[0].split("-"))
    name = parts[5].strip() if len(parts) > 5 else ""
    return start, end, parts[1], int(parts[2], 16), int(parts[4]), name


def parse_status(lines):
    out = {}
    for line in lines:
        k, _, v = line.partition(":")
        v = v.split()
        if v and v[0].isdigit():
            out[k] = int(v[0])
    return out
