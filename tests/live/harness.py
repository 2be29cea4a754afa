"""Live-kernel comparison harness: one scenario, run on this machine's kernel and in the model.

A scenario is data: a tuple of steps built by the constructors in scenario.py
(``mmap("a", 4 * PG)``, ``touch("a", 0, PG, "w")``, ``snapshot("after")``, ``fork("c")``,
``child("c", …)`` …), with names standing for addresses. From that one description the
harness

1. generates a C program (``prelude.c`` + a ``main`` with one block per step),
   compiles it statically with ``gcc -O1`` into a cache directory keyed by the
   source hash, runs it under ``setarch -R`` (no ASLR, like the model's
   ``aslr=False``) and parses the records it prints at each snapshot:
   its own ``/proc/self/maps``, the ``Vm*``/``Rss*`` lines of
   ``/proc/self/status``, ``ru_minflt``, the brk, and the ``/proc/self/pagemap``
   entries of every named region; step results (return value or errno,
   signal number, ``si_code`` and ``si_addr``, content checks);
2. runs the same steps in the model through the façade (``lv.Machine``,
   ``m.spawn``, ``p.mmap`` …; model_side.py) and reads the same files from ``m.proc``;
   a façade piece or /proc file the model lacks raises ``ModelAPIMissing`` (a failure);
3. compares the two runs with the rules of :func:`compare`.

Both runs start with the same prologue so that page-table sharing lines up:
the live program's top of the mmap area holds ``[vvar]``/``[vdso]``; the model
maps a PROT_NONE pad of the same size there, then both map and write one
``_anchor`` page (so both have the PUD/PMD/PTE tables for the top 2 MiB), then
both read-touch a scratch page ``_z`` to learn the zero page's PFN and unmap it.
When a fault scenario uses brk, the model also maps and writes the page just below
brk0, standing in for the live program's bss/TLS pages (so the heap's page tables exist
in both). The live program then faults in its own runtime (``warm``) and both take the
baseline snapshot ``start``. Shape-only ("maps") scenarios skip the touches.
"""

import hashlib
import os
import shutil
import subprocess
import tempfile

from .model_side import SPLIT_RSS_EVENTS, live_top_gap, run_model  # noqa: F401
from .scenario import (PG, Dev, LiveUnavailable, ModelAPIMissing, Run, Scenario,  # noqa: F401
                       Snap, parse_maps_line, parse_status)

HERE = os.path.dirname(os.path.abspath(__file__))
PRELUDE = os.path.join(HERE, "prelude.c")
PFN_MASK = (1 << 55) - 1
SPECIAL_MAPS = ("[vvar]", "[vvar_vclock]", "[vdso]", "[vsyscall]", "[stack]")
DELTA_FIELDS = ("minflt", "VmSize", "VmData", "VmStk", "VmLck", "RssAnon", "VmPTE")
MAPS_DELTA_FIELDS = ("VmSize", "VmData", "VmStk", "VmLck")
PROLOGUE_NAMES = ("_pad", "_anchor", "_z")


# ---------------------------------------------------------------------------
# C generation
# ---------------------------------------------------------------------------

def _c_prot(prot):
    if prot == "none":
        return "PROT_NONE"
    names = {"r": "PROT_READ", "w": "PROT_WRITE", "x": "PROT_EXEC"}
    return "|".join(names[c] for c in prot)


def _c_flags(flags, prefix):
    return "|".join(f"{prefix}{f.upper()}" for f in flags.split("|") if f) or "0"


def generate_c(sc: Scenario) -> str:
    """The C program for a scenario (prelude + generated main and child functions)."""
    regs = sc.region_names()
    idx = {n: i for i, n in enumerate(regs)}
    children = [st[1] for st in sc.steps if st[0] == "fork"]
    main = []

    def A(name):
        return f"R[{idx[name]}].addr"

    def emit(i, st, who):
        op = st[0]
        code = [f"cur_step = {i};"]
        if op == "mmap":
            _, n, length, prot, flags, at, nohuge = st
            hint = f"({A(at[0])} + {at[1]}UL)" if at else "0UL"
            madv = (f" madvise((void *)R[{idx[n]}].addr, {length}UL, MADV_NOHUGEPAGE);"
                    if nohuge and "anon" in flags else ";")
            code.append(f"{{ uintptr_t h = {hint}; if (map_result({idx[n]}, mmap((void *)h, "
                        f"{length}UL, {_c_prot(prot)}, {_c_flags(flags, 'MAP_')}, -1, 0), "
                        f"{length}UL, h)){madv} }}")
        elif op in ("munmap", "mlock", "munlock"):
            _, n, off, length = st
            code.append(f"cur_base = {A(n)}; okerr({op}((void *)({A(n)} + {off}UL), {length}UL));")
        elif op == "mprotect":
            _, n, off, length, prot = st
            code.append(f"okerr(mprotect((void *)({A(n)} + {off}UL), {length}UL, {_c_prot(prot)}));")
        elif op == "madvise":
            _, n, off, length, adv, live_adv = st
            adv = live_adv or adv
            code.append(f"okerr(madvise((void *)({A(n)} + {off}UL), {length}UL, "
                        f"MADV_{adv.upper()}));")
        elif op == "mremap":
            _, n, off, old, new, flags, new_name, at = st
            target = f"({A(at[0])} + {at[1]}UL)" if at else "0UL"
            code.append(f"{{ uintptr_t o = {A(n)} + {off}UL; map_result({idx[new_name]}, "
                        f"mremap((void *)o, {old}UL, {new}UL, {_c_flags(flags, 'MREMAP_')}, "
                        f"(void *){target}), {new}UL, o); }}")
        elif op == "brk":
            delta = st[1]
            code.append(f"{{ uintptr_t v = (uintptr_t)syscall(SYS_brk, brk0 + {delta}L); "
                        f"out(\"@ret %d ok %ld\\n\", cur_step, (long)(v - brk0));")
            code.append(f"  if (v == brk0 + {delta}L) {{ R[0].addr = brk0; "
                        f"R[0].len = ({max(delta, 0)}UL + PG - 1) & ~(PG - 1); }} }}")
        elif op == "touch":
            _, n, off, length, rw = st
            code.append(f"cur_base = {A(n)}; touch({A(n)} + {off}UL, {length}UL, {int(rw == 'w')});")
        elif op == "touch_sp":
            _, n, sp_off, target, rw = st
            code.append(f"cur_base = {A(n)}; touch_with_sp({A(n)} + {sp_off}L, "
                        f"{A(n)} + ({target}L), {int(rw == 'w')});")
        elif op in ("fill", "verify"):
            _, n, off, length, seed = st
            code.append(f"cur_base = {A(n)}; {op}({A(n)} + {off}UL, {length}UL, {seed}UL);")
        elif op == "alias":
            _, n, ref, off, length = st
            code.append(f"R[{idx[n]}].addr = {A(ref)} + {off}UL; R[{idx[n]}].len = {length}UL;")
        elif op == "forget":
            code.append(f"R[{idx[st[1]]}].addr = 0;")
        elif op == "snapshot":
            label = st[1] if who is None else f"{who}:{st[1]}"
            code.append(f"snapshot(\"{label}\", {int(st[1].startswith('_'))});")
        elif op == "fork":
            c = st[1]
            code.append(f"if (pipe(ch_{c}.to) || pipe(ch_{c}.from)) _exit(9); flush();")
            code.append(f"ch_{c}.pid = fork(); if (ch_{c}.pid == 0) child_{c}(&ch_{c});")
            code.append(f"ret(ch_{c}.pid > 0 ? 0 : -errno); parent_ready(&ch_{c}); warm();")
        elif op == "exit":
            code.append(f"parent_exit(&ch_{st[1]});")
        else:
            raise ValueError(f"unknown step {st!r}")
        return code

    i, blocks = 0, {c: [] for c in children}
    pro = len(sc.prologue(sc.kind))
    for st in sc.prologue(sc.kind) + sc.steps:
        if st[0] == "child":
            body = []
            for sub in st[2]:
                body.extend(emit(i, sub, st[1]))
                i += 1
            blocks[st[1]].append(body)
            main.append(f"parent_run(&ch_{st[1]});")
            continue
        main.extend(emit(i, st, None))
        i += 1
        if i == pro:
            main.append('warm(); snapshot("start", 0);')
    funcs = []
    for c in children:
        body = []
        for blk in blocks[c]:
            body += ["child_wait(c);"] + blk + ["child_ack(c);"]
        funcs.append(f"static void child_{c}(struct child *c)\n{{\n\twarm();\n\tchild_ack(c);\n\t"
                     + "\n\t".join(body) + "\n\tchild_wait(c);\n\t_exit(10);\n}\n")
    head = [f"#define NREG {len(regs)}", f'#include "{PRELUDE}"']
    head += [f"static struct child ch_{c};" for c in children]
    names = ", ".join(f'"{n}"' for n in regs)
    return ("\n".join(head) + "\n" + "\n".join(funcs) +
            f"int main(void)\n{{\n\tstatic const char *names[] = {{ {names} }};\n"
            f"\tint i;\n\tfor (i = 0; i < NREG; i++) R[i].name = names[i];\n\tprologue();\n\t"
            + "\n\t".join(main) + "\n\tsnapshot(\"_end\", 1);\n\treturn 0;\n}\n")


# ---------------------------------------------------------------------------
# Build, run, parse (live side)
# ---------------------------------------------------------------------------

def cache_dir():
    d = os.path.join(tempfile.gettempdir(), f"linuxvm-live-{os.getuid()}")
    os.makedirs(d, exist_ok=True)
    return d


def live_available():
    """None when the live half can run here, else the reason it cannot."""
    if shutil.which("gcc") is None:
        return "gcc is not installed"
    if not os.path.exists("/proc/self/pagemap"):
        return "/proc/self/pagemap is missing"
    return None


def build(sc: Scenario) -> str:
    """Compile the scenario's program (cached by source hash); the binary's path."""
    why = live_available()
    if why:
        raise LiveUnavailable(why)
    src = generate_c(sc)
    with open(PRELUDE, "rb") as f:
        digest = hashlib.sha256(src.encode() + f.read()).hexdigest()[:16]
    d = cache_dir()
    exe = os.path.join(d, f"{sc.name}-{digest}")
    if os.path.exists(exe):
        return exe
    c_path = exe + ".c"
    with open(c_path, "w") as f:
        f.write(src)
    tmp = f"{exe}.{os.getpid()}.tmp"
    r = subprocess.run(["gcc", "-O1", "-static", "-fno-stack-clash-protection", "-w",
                        "-o", tmp, c_path], capture_output=True, text=True)
    if r.returncode:
        raise AssertionError(f"gcc failed for scenario {sc.name}:\n{r.stderr[-3000:]}")
    os.replace(tmp, exe)
    return exe


def parse_output(text) -> Run:
    snaps, results, cur, status, brk0, exits = [], {}, None, [], 0, []
    for line in text.splitlines():
        if not line.startswith("@"):
            continue
        tag, _, rest = line.partition(" ")
        if tag == "@snap":
            label, pid, hidden = rest.split()
            cur = Snap(label, int(pid), hidden == "1")
            status = []
        elif tag == "@minflt":
            cur.minflt = int(rest)
        elif tag == "@status":
            status.append(rest)
        elif tag == "@maps":
            cur.maps.append(parse_maps_line(rest))
        elif tag == "@brk":
            cur.brk = tuple(int(x, 16) for x in rest.split())
        elif tag == "@region":
            n, a, ln = rest.split()
            cur.regions[n] = (int(a, 16), int(ln, 16))
        elif tag == "@pm":
            n, *vals = rest.split()
            cur.pm[n] = [int(x, 16) for x in vals]
        elif tag == "@end":
            cur.status = parse_status(status)
            snaps.append(cur)
            cur = None
        elif tag == "@ret":
            i, kind, v = rest.split()
            results[int(i)] = (kind, int(v))
        elif tag == "@sig":
            i, signo, code, off = rest.split()
            results[int(i)] = ("sig", int(signo), int(code), int(off, 16) - (1 << 64)
                               if int(off, 16) >= 1 << 63 else int(off, 16))
        elif tag == "@verify":
            i, bad = rest.split()
            results[int(i)] = ("verify", int(bad))
        elif tag == "@brk0":
            brk0 = int(rest, 16)
        elif tag == "@exit":
            exits.append((len(snaps), int(rest)))
        elif tag == "@error":
            raise AssertionError(f"live program error: {rest}")
    return Run(snaps, results, brk0, text, exits)


_live_runs = {}


def run_live(sc: Scenario) -> Run:
    """Compile (cached) and run the scenario on this machine's kernel; its parsed records
    (run once per test session)."""
    exe = build(sc)
    if exe in _live_runs:
        return _live_runs[exe]
    cmd = [exe]
    if shutil.which("setarch"):
        cmd = ["setarch", os.uname().machine, "-R", exe]
    # a loaded host now and then adds a fault of its own (a page of the C library, the
    # stack after fork): up to three runs, and the first that shows exactly what the
    # scenario expects of the live kernel is kept (a real difference shows in all three)
    for _ in range(3):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"live program {exe} exited with {r.returncode}: "
                                 f"{r.stderr[-2000:]}")
        run = parse_output(r.stdout)
        if not live_problems(sc, run):
            break
    _live_runs[exe] = run
    return run


# ---------------------------------------------------------------------------
# Normalisation and comparison
# ---------------------------------------------------------------------------

def tracked_ranges(run: Run, sc: Scenario):
    """[(start, end, kind)] the scenario owns: every range a named region ever had, and the heap."""
    gd = sc.growsdown_regions()
    rng = {}
    for s in run.snaps:
        for n, (a, ln) in s.regions.items():
            if n in PROLOGUE_NAMES or n == "heap" or not a:
                continue
            lo, hi = rng.get(n, (a, a + ln))
            rng[n] = (min(lo, a), max(hi, a + ln))
    brk_hi = max([s.brk[1] for s in run.snaps] + [run.brk0])
    # heap first, then grows-down regions: a VMA is classified by the first range it meets
    out = [(run.brk0, brk_hi + PG, "heap")]
    out += sorted(((lo, hi, "gd" if n in gd else "anon") for n, (lo, hi) in rng.items()),
                  key=lambda r: (r[2] != "gd", r[0]))
    return out


def maps_shape(snap: Snap, run: Run, sc: Scenario):
    """The scenario's own VMAs as (kind, start, end, perms), start/end relative to the anchor,
    or to brk0 for the heap and for regions nearer brk0 than the anchor ("anon@brk0"). Libraries, vdso, vvar, vsyscall, the binary and the loader are left out;
    a grows-down region's VMA may extend below its recorded range (stack growth)."""
    ranges = tracked_ranges(run, sc)
    anchor = snap.regions.get("_anchor", (run.snap("start").regions["_anchor"][0], PG))[0]
    out = []
    for start, end, perms, _, inode, name in snap.maps:
        if inode or name in SPECIAL_MAPS or start >= 1 << 47:
            continue
        kind = next((k for lo, hi, k in ranges if start < hi and end > lo), None)
        if kind is None:      # grown below a grows-down region (up to 16 MiB: RLIMIT_STACK)
            kind = next((k for lo, hi, k in ranges if k == "gd" and start < hi
                         and end > lo - (16 << 20)), None)
        if kind == "heap":
            out.append(("heap", max(start, run.brk0) - run.brk0, end - run.brk0, perms))
        elif kind is not None and abs(start - run.brk0) < abs(start - anchor):
            out.append((kind + "@brk0", start - run.brk0, end - run.brk0, perms))
        elif kind is not None:
            out.append((kind, start - anchor, end - anchor, perms))
    return out


def page_states(run: Run):
    """{label: {region: [(present, exclusive, file, swapped, frame)]}} with frames as tokens:
    'zero' for the zero page, '-' when not present, else an integer numbered by first
    appearance, so "same frame as before" and "a new frame" compare across runs. A frame
    keeps its token while the latest snapshot of a live process still shows it; one that
    reappears after that (freed and reallocated: which frame comes back is the allocator's
    choice) gets a new token."""
    zero = run.snap("_zero").pm["_z"][0] & PFN_MASK
    tokens, out, alive, exits, next_token = {}, {}, {}, sorted(run.exits), 0
    for k, s in enumerate(run.snaps):
        while exits and exits[0][0] <= k:
            alive.pop(exits.pop(0)[1], None)
        shown = set().union(*alive.values()) if alive else set()
        per, present_now = {}, set()
        for n in sorted(s.pm):
            if n in PROLOGUE_NAMES:
                continue
            row = []
            for e in s.pm[n]:
                pfn = e & PFN_MASK
                if not e >> 63 & 1:
                    tok = "-"
                elif pfn == zero:
                    tok = "zero"
                else:
                    if pfn not in shown and pfn not in present_now:
                        tokens[pfn], next_token = next_token, next_token + 1
                    tok = tokens[pfn]
                    present_now.add(pfn)
                row.append((e >> 63 & 1, e >> 56 & 1, e >> 61 & 1, e >> 62 & 1, tok))
            per[n] = row
        alive[s.pid] = present_now
        if not s.hidden:
            out[s.label] = per
    return out


def deltas(run: Run, fields=DELTA_FIELDS):
    """{label: {field: value − value at the same process's previous snapshot}} for every
    visible snapshot that follows another visible one of the same process. The base is the
    latest earlier snapshot of that process, hidden or not: the live program's hidden
    ``_warm`` snapshots after fork absorb the runtime's own copy-on-write faults."""
    base, seen, out = {}, set(), {}
    for s in run.snaps:
        if s.label == "_zero":
            continue
        vals = dict(s.status)
        vals["minflt"] = s.minflt
        p = base.get(s.pid)
        if not s.hidden and s.pid in seen and p is not None:
            d = {f: vals.get(f, 0) - p.get(f, 0) for f in fields + ("VmPMD",)}
            if vals.get("_smaps_anon") is not None and p.get("_smaps_anon") is not None:
                d["_smaps_anon"] = vals["_smaps_anon"] - p["_smaps_anon"]
                d["_lag"] = (vals["_smaps_anon"] - vals.get("RssAnon", 0),
                             p["_smaps_anon"] - p.get("RssAnon", 0))
            out[s.label] = d
        if not s.hidden:
            seen.add(s.pid)
        base[s.pid] = vals
    return out


def errno_name(v):
    import errno
    return errno.errorcode.get(v, str(v))


def _fmt_result(r):
    if r is None:
        return None
    if r[0] == "err":
        return ("err", errno_name(r[1]))
    return r


def observations(run: Run, sc: Scenario):
    """Every compared quantity of one run as {key: value} (keys as in :class:`Dev`)."""
    obs = {}
    skip_steps = len(sc.prologue(sc.kind))
    for i, r in run.results.items():
        if i >= skip_steps:
            obs[("result", i)] = _fmt_result(r)
    fields = MAPS_DELTA_FIELDS if sc.kind == "maps" else DELTA_FIELDS
    for label, d in deltas(run, fields).items():
        for f in fields:
            obs[("delta", label, f)] = d[f]
    for s in run.visible():
        obs[("maps", s.label)] = maps_shape(s, run, sc)
    if sc.kind == "faults":
        for label, per in page_states(run).items():
            for n, row in per.items():
                obs[("pages", label, n)] = row
    return obs


def _global_live_value(key, mval, sc: Scenario, mdeltas):
    """(deviation name, live value) for quantities every scenario compares through a
    deviation, or None: VmPTE (6.x counts every page-table level) and RssAnon (4.6's
    /proc lags by the task's cached SPLIT_RSS_COUNTING deltas)."""
    if key[0] != "delta" or key[1] not in mdeltas:
        return None
    d = mdeltas[key[1]]
    if key[2] == "VmPTE":
        puds = dict(sc.pud_tables).get(key[1], 0)
        return ("vmpte_counts_all_levels", mval + d["VmPMD"] + 4 * puds)
    if key[2] == "RssAnon" and d.get("_lag") is not None:
        if not all(0 <= x < SPLIT_RSS_EVENTS * 4 for x in d["_lag"]):
            return ("split_rss_counting (lag out of range: model bug)", d["_lag"])
        return ("split_rss_counting", d["_smaps_anon"])
    return None


def _describe(mval, lval):
    """'model X != live Y', for per-page lists only the pages that differ (at most 8)."""
    if (isinstance(mval, list) and isinstance(lval, list) and len(mval) == len(lval)
                        and mval and isinstance(mval[0], tuple) and len(mval[0]) == 5):
        diff = [(i, m, v) for i, (m, v) in enumerate(zip(mval, lval)) if m != v]
        shown = ", ".join(f"page {i}: model {m} live {v}" for i, m, v in diff[:8])
        more = f" (+{len(diff) - 8} more)" if len(diff) > 8 else ""
        return f"{len(diff)} of {len(mval)} pages differ: {shown}{more}"
    return f"model {mval!r} != live {lval!r}"


def compare(model: Run, live: Run, sc: Scenario):
    """Mismatches between the model's and the live kernel's run of ``sc`` (empty: they agree).

    Rules:
    * maps: the scenario's own VMAs only (:func:`maps_shape`), as (kind, start, end, perms)
      relative to the anchor page both runs map first (heap: relative to brk0);
    * counters: deltas between consecutive visible snapshots of the same process
      (:func:`deltas`), so the C runtime's own faults and pages cancel out;
    * pages: pagemap present/exclusive/file/swapped bits per page, frames as tokens
      (:func:`page_states`): zero page, not present, or "same frame as earlier";
    * results: ok/errno, signal number, si_code and si_addr relative to the region.
    A quantity with a declared deviation (the scenario's ``devs``, or the global
    ``vmpte_counts_all_levels`` and ``split_rss_counting``) must show exactly the
    declared live value; every other quantity must be equal.
    """
    mo, lo = observations(model, sc), observations(live, sc)
    fields = MAPS_DELTA_FIELDS if sc.kind == "maps" else DELTA_FIELDS
    mdeltas = deltas(model, fields)
    devs = {d.key: d for d in sc.devs}
    problems = []
    for key in sorted(set(mo) | set(lo), key=repr):
        mval, lval = mo.get(key), lo.get(key)
        if key in devs:
            want = devs[key].live(mval)
            if lval != want:
                problems.append(f"{key}: deviation {devs[key].name} declares live={want!r} "
                                f"(model {mval!r}) but live shows {lval!r}")
            continue
        glob = _global_live_value(key, mval, sc, mdeltas) if mval is not None else None
        if glob is not None:
            if glob[1] != lval:
                problems.append(f"{key}: model {mval!r}, so after {glob[0]} live should be "
                                f"{glob[1]!r}, but live shows {lval!r}")
            continue
        if mval != lval:
            problems.append(f"{key}: {_describe(mval, lval)}")
    return problems


# ---------------------------------------------------------------------------
# Live self-consistency (runs without the model)
# ---------------------------------------------------------------------------

def live_problems(sc: Scenario, run: Run):
    """What is wrong with a live run on its own: missing snapshots, unparsed output,
    or a delta different from the scenario's ``live_expect``."""
    want = ["_zero", "start"] if sc.kind == "faults" else ["start"]
    for i, who, st in sc.flat():
        if st[0] == "snapshot" and not st[1].startswith("_"):
            want.append(st[1] if who is None else f"{who}:{st[1]}")
    have = [s.label for s in run.snaps]
    problems = [f"snapshot {w!r} missing" for w in want if w not in have]
    for s in run.snaps:
        for f in ("VmSize", "VmRSS", "RssAnon", "VmPTE", "VmData"):
            if f not in s.status:
                problems.append(f"{s.label}: status lacks {f}")
        if not s.maps:
            problems.append(f"{s.label}: no maps lines")
    d = deltas(run)
    for label, exp in sc.live_expect:
        for f, v in exp.items():
            got = d.get(label, {}).get(f)
            if got != v:
                problems.append(f"{label}: live Δ{f} = {got}, scenario expects {v}")
    for i, who, st in sc.flat():
        if st[0] not in ("snapshot", "alias", "forget", "child") and i not in run.results:
            problems.append(f"step {i} {st[0]} printed no result")
    return problems


# ---------------------------------------------------------------------------
# The two tests every scenario list gets (tests/test_live_maps.py, test_live_faults.py)
# ---------------------------------------------------------------------------

def scenario_tests(scenarios):
    """(test_live_side_runs, test_model_matches_live) parametrised over ``scenarios``.

    The first needs only gcc and the live kernel: the program ran, printed every
    snapshot, and the live deltas are the scenario's ``live_expect``. The second
    (marked ``live``) runs the model too and asserts :func:`compare` finds nothing;
    a façade piece the model lacks fails it with :class:`ModelAPIMissing`.
    """
    import pytest

    ids = [sc.name for sc in scenarios]
    why = live_available()
    skip = pytest.mark.skipif(why is not None, reason=f"live kernel comparison: {why}")

    @skip
    @pytest.mark.parametrize("sc", scenarios, ids=ids)
    def test_live_side_runs(sc):
        run = run_live(sc)
        assert live_problems(sc, run) == []

    @skip
    @pytest.mark.live
    @pytest.mark.parametrize("sc", scenarios, ids=ids)
    def test_model_matches_live(sc):
        live = run_live(sc)
        problems = compare(run_model(sc, live), live, sc)
        if sc.differs:
            assert problems, (f"{sc.name}: declared deviation {sc.differs!r} says the model "
                              f"(4.6) differs from the live kernel here, but they agree")
            return
        assert not problems, (f"{sc.name}: model and live kernel differ:\n  "
                              + "\n  ".join(problems))

    return test_live_side_runs, test_model_matches_live
