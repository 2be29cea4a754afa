"""A syzkaller-style soak: a weighted random mix of every system call and kernel API the
model offers, with ``m.check()`` after every step and a shrunk reproducer on a failure.

    python -m linuxvm.tools.soak --seed 0 --steps 20000
    linuxvm soak --seed 0 --seeds 8 --steps 100000 --jobs 2

A run is a list of steps ``(op, step_seed)`` drawn from ``random.Random(seed)``; a step
chooses its arguments from ``random.Random(step_seed)`` and the current state (live
processes, their mappings, the kernel objects the soak holds), so any sub-list of a run
can be replayed on a fresh ``Machine(seed=seed)``: that is what the shrinker does
(delta debugging, as Hypothesis shrinks), and the steps that remain are printed as a
runnable Python snippet using the public API.

What a step may raise is decided per operation: ``SyscallError`` from system calls,
``OutOfMemory`` where the kernel would call the OOM killer, ``SegmentationFault`` /
``BusError`` from accesses, ``ValueError`` / ``KernelBug`` from a deliberately invalid
kernel-API call, ``NotImplementedError`` for what the model says it does not model.
Anything else, and any ``KernelBug`` from ``m.check()``, is a failure.

At the end every process exits and the soak gives back what it holds; then the frames
must add up to the boot value (``frame_census``). The operations themselves, the
known-issue list and the census are in ``linuxvm.tools.soak_ops``.
"""

import argparse
import contextlib
import multiprocessing
import random
import sys
import time
import traceback
from collections import Counter

# the operations, the known-issue list and the frame census live in soak_ops
from .soak_ops import (KNOWN_ISSUES, DISABLED,  # noqa: F401
                       OPS, Run, frame_census, census_total)

def plan(seed: int, steps: int) -> list:
    """The run's steps: (op, step_seed) drawn from random.Random(seed)."""
    r = random.Random(seed)
    names, weights = list(OPS), list(OPS.values())
    return [(r.choices(names, weights)[0], r.getrandbits(63)) for _ in range(steps)]


def signature(phase, exc) -> tuple:
    """How a failure is told apart: where it happened and what was raised where."""
    if exc is None:
        return (phase, None, None)
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else None
    return (phase, type(exc).__name__, where)


class Failure:
    __slots__ = ("phase", "index", "exc", "sig", "lines", "census")

    def __init__(self, phase, index, exc, lines, census=None):
        self.phase, self.index, self.exc, self.lines = phase, index, exc, lines
        self.sig = signature(phase, exc)
        self.census = census


def execute(seed, steps, ram="256M", enabled=(), teardown=True, progress=None):
    """Run ``steps`` on a fresh machine; (Run, Failure or None)."""
    run = Run(seed, ram, enabled)
    m = run.m
    for i, (op, s) in enumerate(steps):
        try:
            run.step(op, s)
        except Exception as e:      # noqa: BLE001 - everything unexpected is a failure
            return run, Failure("step", i, e, list(run.lines))
        try:
            m.check()
        except Exception as e:      # noqa: BLE001
            run.lines.append("m.check()")
            return run, Failure("check", i, e, list(run.lines))
        if progress is not None:
            progress(i)
    if not teardown:
        return run, None
    try:
        run.teardown()
        m.check()
    except Exception as e:          # noqa: BLE001
        run.lines.append("m.check()")
        return run, Failure("teardown", len(steps), e, list(run.lines))
    end = frame_census(m)
    if census_total(end) != census_total(run.boot):
        run.lines.append("assert census_total(frame_census(m)) == boot, frame_census(m)")
        return run, Failure("leak", len(steps), None, list(run.lines), (run.boot, end))
    return run, None


def shrink(seed, steps, failure, ram="256M", enabled=(), budget_s=120.0, log=None):
    """Delta debugging: drop chunks of steps while a fresh replay still fails the same way;
    returns (steps, Failure) of the smallest run found."""
    t_end = time.monotonic() + budget_s
    best = steps[:failure.index + 1] if failure.phase in ("step", "check") else list(steps)
    best_fail = failure

    def attempt(cand):
        nonlocal best, best_fail
        _, f = execute(seed, cand, ram, enabled)
        if f is None or f.sig != failure.sig:
            return False
        best = cand[:f.index + 1] if f.phase in ("step", "check") else cand
        best_fail = f
        if log:
            log(f"  shrink: {len(best)} steps")
        return True

    # first whole kinds of operation (most failures need only a few), then chunks
    for op in sorted({s[0] for s in best}, key=lambda o: -sum(s[0] == o for s in best)):
        if time.monotonic() < t_end and any(s[0] == op for s in best):
            attempt([s for s in best if s[0] != op])
    chunk = max(1, len(best) // 2)
    while chunk >= 1 and time.monotonic() < t_end:
        i = 0
        while i < len(best) and time.monotonic() < t_end:
            if not attempt(best[:i] + best[i + chunk:]):
                i += chunk
        chunk //= 2
    best_fail.lines = shrink_lines(best_fail.lines, failure.sig, t_end + 30.0)
    return best, best_fail


HEADER = 7       # the reproducer's imports, boot and set-up lines, never removed


def replay_lines(lines):
    """Exec a reproducer; the signature of what it raised (phase "replay"), or None."""
    try:
        exec(compile("\n".join(lines) + "\n", "<reproducer>", "exec"), {})
    except Exception as e:          # noqa: BLE001
        return signature("replay", e)
    return None


def shrink_lines(lines, sig, t_end):
    """Drop lines of the printed reproducer itself while it still raises the same thing
    at the same place (a line whose variable is needed later makes a NameError, so it
    stays)."""
    target = replay_lines(lines)
    if target is None or target[1:] != sig[1:] and sig[0] != "leak":
        return lines
    head, body = lines[:HEADER], lines[HEADER:]
    chunk = max(1, len(body) // 2)
    while chunk >= 1:
        i = 0
        while i < len(body) - 1 and time.monotonic() < t_end:
            cand = body[:i] + body[i + chunk:]
            if cand and cand[-1] == body[-1] and replay_lines(head + cand) == target:
                body = cand
            else:
                i += chunk
        chunk //= 2
    return head + body


def reproducer(failure) -> str:
    return "\n".join(failure.lines) + "\n"


def soak_seed(seed, steps, ram="256M", enabled=(), quiet=False, shrink_budget=120.0):
    """One seed's run: a result dict (counts, expected, known, census, failure text)."""
    plan_ = plan(seed, steps)
    t0 = time.monotonic()
    last = [t0]

    def progress(i):
        now = time.monotonic()
        if not quiet and now - last[0] >= 5.0:
            last[0] = now
            print(f"soak: seed {seed} step {i + 1}/{steps} "
                  f"{(i + 1) / (now - t0):.0f} steps/s", file=sys.stderr, flush=True)

    run, fail = execute(seed, plan_, ram, enabled, progress=progress)
    elapsed = time.monotonic() - t0
    res = {"seed": seed, "steps": steps if fail is None else fail.index + 1,
           "elapsed": elapsed, "counts": dict(run.counts), "expected": dict(run.expected),
           "known": dict(run.known), "boot": run.boot,
           "end": frame_census(run.m) if fail is None else None, "failure": None}
    if fail is not None:
        log = None if quiet else (lambda s: print(s, file=sys.stderr, flush=True))
        small, sfail = shrink(seed, plan_, fail, ram, enabled, shrink_budget, log)
        text = [f"FAILURE: seed {seed}, step {fail.index} ({fail.phase}"
                + (f", op {plan_[fail.index][0]}" if fail.phase == "step" else "") + ")",
                "".join(traceback.format_exception(fail.exc)) if fail.exc else
                f"frame leak: boot {run.boot} end {fail.census[1]}",
                f"minimal reproducer ({len(small)} of {fail.index + 1} steps, "
                f"replay with python):", reproducer(sfail)]
        res["failure"] = "\n".join(text)
        res["reproducer"] = reproducer(sfail)
        res["shrunk_steps"] = len(small)
    return res


def _soak_star(args):
    return soak_seed(*args)


def summary(results) -> str:
    steps = sum(r["steps"] for r in results)
    elapsed = sum(r["elapsed"] for r in results)
    counts, expected, known = Counter(), Counter(), Counter()
    for r in results:
        counts.update(r["counts"])
        expected.update(r["expected"])
        known.update(r["known"])
    out = [f"soak: {len(results)} seed(s), {steps} steps in {elapsed:.1f} s "
           f"({steps / max(elapsed, 1e-9):.0f} steps/s per process)",
           "operations: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
           "expected errors:"]
    out += [f"  {k}: {v}" for k, v in sorted(expected.items())]
    if known:
        out.append("patterns left out (KNOWN_ISSUES; run them with --enable KEY):")
        out += [f"  {k}: {v}" for k, v in sorted(known.items())]
    leaks = 0
    for r in results:
        if r["end"] is not None:
            b, e = census_total(r["boot"]), census_total(r["end"])
            leaks += abs(e - b)
            if e != b:
                out.append(f"  seed {r['seed']}: frames at boot {r['boot']} at end {r['end']}")
    done = [r for r in results if r["end"] is not None]
    out.append(f"frame-leak check: {len(done)} seed(s) ended with every process exited; "
               f"free + pcp + slab + page tables + stacks + page cache + lazily held PGDs "
               f"{'equal' if not leaks else 'DIFFER FROM'} the boot value "
               f"({leaks} frames leaked)")
    fails = [r for r in results if r["failure"]]
    out.append(f"failures: {len(fails)}")
    for r in fails:
        out.append(r["failure"])
    return "\n".join(out)


def add_args(p):
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--steps", type=int, default=10000, help="steps per seed (default 10000)")
    p.add_argument("--seeds", type=int, default=1, help="run seeds seed..seed+N-1")
    p.add_argument("--ram", default="256M", help="RAM of each machine (default 256M)")
    p.add_argument("--jobs", type=int, default=1, help="processes across seeds (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--enable", action="append", default=[], metavar="KEY",
                   choices=sorted(KNOWN_ISSUES), help="re-enable a known-issue pattern")
    p.add_argument("--shrink-budget", type=float, default=120.0,
                   help="seconds to spend shrinking a failure (default 120)")


def run_soak(args) -> int:
    """Run the soak the parsed ``args`` ask for; print the summary; 1 on any failure."""
    seeds = list(range(args.seed, args.seed + args.seeds))
    work = [(s, args.steps, args.ram, tuple(args.enable), args.quiet, args.shrink_budget)
            for s in seeds]
    if args.jobs > 1 and len(seeds) > 1:
        with multiprocessing.Pool(min(args.jobs, len(seeds))) as pool:
            results = pool.map(_soak_star, work)
    else:
        results = [_soak_star(w) for w in work]
    print(summary(results))
    return 1 if any(r["failure"] or (r["end"] is not None and
                                     census_total(r["end"]) != census_total(r["boot"]))
                    for r in results) else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m linuxvm.tools.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(p)
    return run_soak(p.parse_args(argv))


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
