"""Parameter sweeps (issue 18 part 5): one scenario run for every combination of parameter
values and every seed, one table row per run (docs/scenarios.md, "Sweeps")::

    linuxvm sweep FILE --param vm.min_free_kbytes=8192,65536 --seeds 0..99 --out t.csv

A run is ``run_one(text, path, params, seed, figures)``: it parses the scenario *text*
(a task carries the whole scenario, so workers need no shared filesystem), applies the
parameters, boots with the seed and measures the figures. The model is deterministic, so
the same scenario, parameters and seed give the same row on any host running the same
linuxvm. Engines: this process (``jobs=1``), local processes (``ProcessPoolExecutor``)
or a Dask cluster (``scheduler="tcp://host:port"``, or ``"local"`` for a LocalCluster).
"""

import concurrent.futures
import csv
import hashlib
import importlib.util
import itertools
import multiprocessing
import os
import re
import traceback
from dataclasses import dataclass

from ..errors import SyscallError
from ..kernel.sysctl import Sysctl
from ..machine import Machine
from ..units import parse_size
from . import scenario

# [machine] keys a --param may vary besides sysctls (the seed is --seeds)
MACHINE_PARAMS = ("ram", "swap", "cpus", "thp", "aslr")

# the figure vocabulary: fixed names, then the families NAME.FIELD
FIGURES = {
    "free_pages": "nr_free_pages at the end (pages)",
    "processes": "processes of the scenario (declared or forked) still alive at the end",
    "failed_steps": "steps that failed, whatever their on_error",
    "aborted_at": "number of the [[step]] whose failure (on_error = \"fail\") ended the "
                  "run; 0 if the run reached its end",
    "oom_kills": "\"Killed process\" lines in the kernel log (4.6 has no oom_kill counter)",
    "kernel_allocs": "blocks the kernel_alloc steps obtained",
    "kernel_alloc_failures": "kernel_alloc steps that ended in a failed allocation",
    "digest": "first 16 hex digits of a SHA-256 over the step log, every snapshot and the "
              "final /proc/vmstat and /proc/meminfo: equal digests, equal runs",
}
FAMILIES = {
    "vmstat": "vmstat.NAME: a /proc/vmstat counter at the end",
    "meminfo": "meminfo.NAME: a /proc/meminfo field at the end (kB, or pages for HugePages_*)",
    "buddyinfo": "buddyinfo.ORDER: free blocks of that order at the end, all zones",
    "status": "status.PROC.FIELD: a number from /proc/PID/status of the scenario's process "
              "PROC at the end (kB for the Vm* fields); empty if it has exited",
}
DEFAULT_FIGURES = ("free_pages", "processes", "failed_steps", "aborted_at", "oom_kills",
                   "kernel_allocs", "vmstat.pgmajfault", "vmstat.pswpout",
                   "vmstat.allocstall", "vmstat.compact_stall", "digest")
MAX_ORDER = 11
_INT = re.compile(r"-?\d+")


class SweepError(Exception):
    """Bad sweep input (a parameter, seed range, figure or output), or a run whose
    parameters the machine refused: one line for the user."""


class RunError(Exception):
    """A run raised something other than a refused step (a model defect such as
    ``KernelBug``): the message names the run; ``detail`` is the worker's traceback."""

    def __init__(self, message, detail=""):
        super().__init__(message, detail)
        self.message, self.detail = message, detail

    def __str__(self):
        return self.message


@dataclass
class Table:
    """The sweep's result: ``columns`` (parameters, ``seed``, figures) and one tuple per
    run in ``rows``, in the order parameters × seeds were given (not completion order)."""
    columns: list
    rows: list

    def write_csv(self, f):
        """Write the table as CSV (header line first; an empty cell for no value)."""
        w = csv.writer(f, lineterminator="\n")
        w.writerow(self.columns)
        for row in self.rows:
            w.writerow(["" if v is None else v for v in row])

    def write_parquet(self, path):
        """Write the table as Parquet (needs pyarrow, which linuxvm does not depend on).

        :raises SweepError: pyarrow is not installed
        """
        if not parquet_available():
            raise SweepError("writing Parquet needs pyarrow (pip install pyarrow); "
                             "or write a .csv file")
        import pyarrow                  # optional: only this writer needs it
        import pyarrow.parquet
        data = {}
        for i, col in enumerate(self.columns):
            values = [row[i] for row in self.rows]
            kinds = {type(v) for v in values if v is not None}
            if len(kinds) > 1:          # e.g. a parameter given as 256 and as "256 32"
                values = [None if v is None else str(v) for v in values]
            data[col] = values
        pyarrow.parquet.write_table(pyarrow.table(data), path)

    def write(self, path):
        """Write to ``path``: ``.csv`` or ``.parquet`` by its suffix.

        :raises SweepError: another suffix, no pyarrow for Parquet, or an unwritable path
        """
        kind = output_kind(path)
        try:
            if kind == "parquet":
                self.write_parquet(path)
            else:
                with open(path, "w", encoding="utf-8", newline="") as f:
                    self.write_csv(f)
        except OSError as e:
            raise SweepError(f"cannot write {path}: {e.strerror or e}") from None


def parquet_available() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


def dask_available() -> bool:
    return importlib.util.find_spec("distributed") is not None


def output_kind(path) -> str:
    """"csv" or "parquet" by the suffix of ``path``.

    :raises SweepError: another suffix
    """
    low = str(path).lower()
    if low.endswith(".csv"):
        return "csv"
    if low.endswith(".parquet"):
        return "parquet"
    raise SweepError(f"--out wants a .csv or .parquet file, not {path!r}")


# -- the command line's syntax --------------------------------------------------------------
def _value(text):
    """A parameter value as the table holds it: an int if it is one, else the text."""
    return int(text) if _INT.fullmatch(text) else text


def parse_param(item: str) -> tuple:
    """``"vm.min_free_kbytes=8192,16384"`` -> ("vm.min_free_kbytes", ["8192", "16384"]).

    :raises SweepError: no ``=``, no name, or an empty value
    """
    name, eq, values = item.partition("=")
    name = name.strip()
    if not eq or not name:
        raise SweepError(f"--param is NAME=VALUE[,VALUE...], not {item!r}")
    vals = [v.strip() for v in values.split(",")]
    if not all(vals):
        raise SweepError(f"--param {name}: empty value in {values!r}")
    return name, vals


def parse_params(items) -> list:
    """The --param options as [(name, [value text, ...])], each name once."""
    out = []
    for item in items or ():
        name, vals = parse_param(item)
        if name in [n for n, _ in out]:
            raise SweepError(f"--param {name} is given twice (list its values in one)")
        if len(set(vals)) != len(vals):
            raise SweepError(f"--param {name}: a value is listed twice")
        out.append((name, vals))
    return out


def parse_seeds(text: str) -> list:
    """``"0..99"`` (both ends included), ``"7"`` or a comma list of those -> seeds in
    order, each once.

    :raises SweepError: anything else, or an empty range
    """
    out = []
    for part in str(text).split(","):
        part = part.strip()
        mt = re.fullmatch(r"(\d+)\s*\.\.\s*(\d+)", part)
        if mt:
            lo, hi = int(mt.group(1)), int(mt.group(2))
            if hi < lo:
                raise SweepError(f"--seeds: empty range {part!r} (A..B wants A <= B)")
            new = range(lo, hi + 1)
        elif re.fullmatch(r"\d+", part):
            new = [int(part)]
        else:
            raise SweepError(f"--seeds wants N, A..B (both included) or a comma list of "
                             f"those, not {text!r}")
        out.extend(s for s in new if s not in out)
    return out


def parse_figures(items) -> tuple:
    """The --figure options (repeatable, each a comma list) as a tuple, each name once;
    none given: ``DEFAULT_FIGURES``."""
    out = []
    for item in items or ():
        for name in item.split(","):
            name = name.strip()
            if not name:
                raise SweepError(f"--figure: empty name in {item!r}")
            if name not in out:
                out.append(name)
    return tuple(out) or DEFAULT_FIGURES


# -- checking everything before the first run ------------------------------------------------
_PROBE = {}


def _probe_names() -> dict:
    """The field names of /proc/vmstat, /proc/meminfo and /proc/PID/status (numeric ones),
    read from a small machine booted once."""
    if not _PROBE:
        m = Machine(ram="64M", seed=0)
        p = m.spawn("probe")
        _PROBE["vmstat"] = set(scenario.vmstat(m))
        _PROBE["meminfo"] = set(_colon_fields(m.proc.read("/proc/meminfo")))
        _PROBE["status"] = set(_colon_fields(m.proc.read(f"/proc/{p.pid}/status")))
    return _PROBE


def _colon_fields(text) -> dict:
    """``Name:  123 kB`` lines -> {Name: 123}; lines whose value is not a number are left out."""
    out = {}
    for line in text.splitlines():
        k, colon, v = line.partition(":")
        parts = v.split()
        if colon and parts and _INT.fullmatch(parts[0]):
            out[k.strip()] = int(parts[0])
    return out


def process_names(scn) -> set:
    """Names a scenario gives its processes: declared ones and fork children."""
    return {n for n, _ in scn.processes} | {s.args["child"] for s in scn.steps
                                             if s.op == "fork"}


def check_figure(name, scn) -> None:
    """:raises SweepError: ``name`` is not in the figure vocabulary (or names a field or
    process that does not exist)"""
    if name in FIGURES:
        return
    family, dot, rest = name.partition(".")
    if not dot or family not in FAMILIES or not rest:
        raise SweepError(f"unknown figure {name!r}: one of {', '.join(FIGURES)}, or "
                         f"vmstat.NAME, meminfo.NAME, buddyinfo.ORDER, status.PROC.FIELD")
    names = _probe_names()
    if family in ("vmstat", "meminfo") and rest not in names[family]:
        raise SweepError(f"figure {name!r}: /proc/{family} has no field {rest!r}")
    if family == "buddyinfo" and not (rest.isdigit() and int(rest) < MAX_ORDER):
        raise SweepError(f"figure {name!r}: the order is 0 to {MAX_ORDER - 1}")
    if family == "status":
        proc, dot, fld = rest.rpartition(".")
        if not dot or not proc:
            raise SweepError(f"figure {name!r}: status.PROC.FIELD, e.g. status.hog.VmRSS")
        if proc not in process_names(scn):
            raise SweepError(f"figure {name!r}: the scenario has no process {proc!r}")
        if fld not in names["status"]:
            raise SweepError(f"figure {name!r}: /proc/PID/status has no number {fld!r}")


def _machine_value(name, text):
    """A [machine] parameter's value from its text.

    :raises ValueError: a value [machine] would refuse
    """
    if name in ("ram", "swap"):
        parse_size(text)
        return text
    if name == "cpus":
        if not re.fullmatch(r"\d+", text) or not 1 <= int(text) <= 256:
            raise ValueError("cpus must be from 1 to 256")
        return int(text)
    if name == "thp":
        if text not in ("always", "madvise", "never"):
            raise ValueError("thp must be always, madvise or never")
        return text
    if text.lower() in ("true", "1", "yes"):     # aslr
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise ValueError("aslr must be true or false")


def check_params(params) -> None:
    """:raises SweepError: an unknown parameter or a value it would refuse"""
    table = Sysctl(None)
    for name, vals in params:
        if name == "seed":
            raise SweepError("--param seed: give seeds with --seeds")
        if name in MACHINE_PARAMS:
            for v in vals:
                try:
                    _machine_value(name, v)
                except ValueError as e:
                    raise SweepError(f"--param {name}={v}: {e}") from None
            continue
        if name not in table:
            raise SweepError(f"--param {name}: not a sysctl (vm.*) nor a [machine] key "
                             f"({', '.join(MACHINE_PARAMS)})")
        for v in vals:
            try:
                table.prepare(name, v)
            except SyscallError as e:   # what writing it to /proc/sys would answer
                raise SweepError(f"--param {name}={v}: the sysctl refuses it "
                                 f"({os.strerror(e.errno)})") from None
            except NotImplementedError as e:
                raise SweepError(f"--param {name}={v}: {e}") from None


def check(text, path, params, seeds, figures):
    """Check a whole sweep before any run: the scenario, parameters, seeds and figures.

    :raises scenario.ScenarioError: the scenario text is bad
    :raises SweepError: anything else
    """
    scn = scenario.loads(text, path)
    check_params(params)
    if not seeds:
        raise SweepError("no seeds")
    for f in figures:
        check_figure(f, scn)
    return scn


# -- one run ---------------------------------------------------------------------------------
def measure(res, aborted_at, figures) -> tuple:
    """The ``figures`` of a finished (or aborted) run ``res``."""
    m = res.machine
    vm_text = m.proc.read("/proc/vmstat")
    mi_text = m.proc.read("/proc/meminfo")
    vm = scenario.vmstat(m)
    mi = _colon_fields(mi_text)
    out = []
    for name in figures:
        family, _, rest = name.partition(".")
        if name == "free_pages":
            v = vm["nr_free_pages"]
        elif name == "processes":
            v = sum(1 for p in res.procs.values() if p.task.mm is not None)
        elif name == "failed_steps":
            v = res.failed
        elif name == "aborted_at":
            v = aborted_at
        elif name == "oom_kills":
            v = sum(1 for line in m.dmesg() if "Killed process" in line)
        elif name == "kernel_allocs":
            v = sum(len(got) - (got[-1] == "failed") for _, got in res.kernel_allocs)
        elif name == "kernel_alloc_failures":
            v = sum(got[-1] == "failed" for _, got in res.kernel_allocs)
        elif name == "digest":
            h = hashlib.sha256()
            for part in ["\n".join(res.log), *(f"{n}\0{p}\0{t}" for n, p, t in res.snapshots),
                         vm_text, mi_text]:
                h.update(part.encode() + b"\0")
            v = h.hexdigest()[:16]
        elif family == "vmstat":
            v = vm[rest]
        elif family == "meminfo":
            v = mi[rest]
        elif family == "buddyinfo":
            v = sum(int(line.split()[4 + int(rest)])
                    for line in m.proc.read("/proc/buddyinfo").splitlines() if line.strip())
        else:                       # status.PROC.FIELD
            proc, _, fld = rest.rpartition(".")
            p = res.procs.get(proc)
            v = None
            if p is not None and p.task.mm is not None:
                v = _colon_fields(m.proc.read(f"/proc/{p.pid}/status")).get(fld)
        out.append(v)
    return tuple(out)


def run_one(text, path, params, seed, figures, check_each=False) -> tuple:
    """One run: the scenario ``text`` with ``params`` ((name, value text) pairs) and
    ``seed``; its ``figures``. A step failing with on_error = "fail" ends the run and is
    measured where it stopped (``aborted_at``).

    :raises SweepError: the scenario or the machine refused a parameter
    :raises RunError: anything else went wrong (the worker's traceback in ``detail``)
    """
    try:
        sysctls = {n: v for n, v in params if n not in MACHINE_PARAMS}
        scn = scenario.loads(text, path, sysctls)
        for n, v in params:
            if n in MACHINE_PARAMS:
                scn.machine[n] = _machine_value(n, v)
        scn.machine["seed"] = seed
        try:
            res, aborted_at = scenario.run(scn, check=check_each), 0
        except scenario.StepFailed as e:
            res, aborted_at = e.result, e.step
        return measure(res, aborted_at, figures)
    except scenario.ScenarioError as e:
        raise SweepError(str(e)) from None
    except Exception as e:          # noqa: BLE001 (sent back whole, with where it happened)
        raise RunError(f"{type(e).__name__}: {e}", traceback.format_exc()) from None


# -- engines: each yields (index, get) as runs finish; get() is the figures or raises ------
def _serial(tasks):
    for i, args in enumerate(tasks):
        yield i, (lambda args=args: run_one(*args))


def _processes(tasks, jobs):
    # forkserver: workers start from a clean process, not a fork of one whose threads
    # (the progress bar's) might hold a lock at the moment of the fork
    ex = concurrent.futures.ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("forkserver"))
    try:
        futs = {ex.submit(run_one, *args): i for i, args in enumerate(tasks)}
        for f in concurrent.futures.as_completed(futs):
            yield futs[f], f.result
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _dask(tasks, scheduler, jobs, cluster_options, connect_timeout):
    check_scheduler(scheduler)
    import dask.distributed         # optional and slow to import: only when asked for
    cluster = None
    try:
        if scheduler == "local":
            opts = dict(n_workers=jobs, threads_per_worker=1, processes=True,
                        dashboard_address=None)
            opts.update(cluster_options or {})
            cluster = dask.distributed.LocalCluster(**opts)
            client = dask.distributed.Client(cluster)
        else:
            client = dask.distributed.Client(scheduler, timeout=connect_timeout)
    except (OSError, TimeoutError) as e:
        if cluster is not None:
            cluster.close()
        raise SweepError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
    try:
        futs = [client.submit(run_one, *args, pure=False) for args in tasks]
        index = {f.key: i for i, f in enumerate(futs)}
        for f in dask.distributed.as_completed(futs):
            yield index[f.key], f.result
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def engine_name(jobs=1, scheduler=None) -> str:
    if scheduler == "local":
        return f"a Dask LocalCluster of {jobs} worker{'s' * (jobs > 1)}"
    if scheduler:
        return f"the Dask cluster at {scheduler}"
    if jobs > 1:
        return f"{jobs} local processes"
    return "this process"


def check_scheduler(scheduler) -> None:
    """:raises SweepError: not "local" nor a scheduler address, or dask is missing"""
    if scheduler is None:
        return
    if scheduler != "local" and not re.fullmatch(r"[a-z]+://\S+", scheduler):
        raise SweepError(f"--scheduler wants tcp://HOST:PORT (a running Dask scheduler) or "
                         f"local, not {scheduler!r}")
    if not dask_available():
        raise SweepError("--scheduler needs dask.distributed: pip install 'linuxvm[cluster]'")


def describe(params, seed) -> str:
    return ", ".join([f"{n}={v}" for n, v in params] + [f"seed {seed}"])


def sweep(text, params, seeds, figures=DEFAULT_FIGURES, path="<scenario>", jobs=1,
          scheduler=None, check_each=False, progress=None, cluster_options=None,
          connect_timeout=30) -> Table:
    """Run the scenario ``text`` for every combination of ``params`` ([(name, [value
    text, ...])]) and every seed; one row per run.

    :param jobs: local processes (1: in this process), or LocalCluster workers
    :param scheduler: None (local processes), "local" (a Dask LocalCluster) or the
        address of a running Dask scheduler ("tcp://host:8786")
    :param progress: called as ``progress(done, total)`` after each run
    :param cluster_options: LocalCluster keyword arguments replacing the defaults
    :raises scenario.ScenarioError: the scenario text is bad; nothing ran
    :raises SweepError: bad parameters, seeds, figures or scheduler; or a run whose
        parameters the machine refused (the message names the run)
    :raises RunError: a run failed otherwise (the message names the run)
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise SweepError(f"--jobs must be a positive integer, not {jobs!r}")
    check_scheduler(scheduler)
    check(text, path, params, seeds, figures)
    combos = list(itertools.product(*[[(n, v) for v in vals] for n, vals in params]))
    runs = [(combo, seed) for combo in combos for seed in seeds]
    tasks = [(text, path, combo, seed, tuple(figures), check_each) for combo, seed in runs]
    if scheduler is not None:
        results = _dask(tasks, scheduler, jobs, cluster_options, connect_timeout)
    elif jobs > 1 and len(tasks) > 1:
        results = _processes(tasks, min(jobs, len(tasks)))
    else:
        results = _serial(tasks)
    rows = [None] * len(tasks)
    try:
        for done, (i, get) in enumerate(results, 1):
            combo, seed = runs[i]
            try:
                figs = get()
            except SweepError as e:
                raise SweepError(f"run {describe(combo, seed)}: {e}") from None
            except RunError as e:
                raise RunError(f"run {describe(combo, seed)}: {e}", e.detail) from None
            rows[i] = tuple(_value(v) for _, v in combo) + (seed,) + tuple(figs)
            if progress is not None:
                progress(done, len(tasks))
    finally:
        results.close()
    return Table([n for n, _ in params] + ["seed"] + list(figures), rows)


def summary(table: Table, nparams: int) -> tuple:
    """(header, rows) of the per-combination summary: the parameter values, the number
    of runs, and for each figure the mean with its range over the seeds (numbers) or
    the number of distinct values (text)."""
    groups = {}
    for row in table.rows:
        groups.setdefault(row[:nparams], []).append(row)
    figs = table.columns[nparams + 1:]
    header = table.columns[:nparams] + ["runs"] + figs
    rows = []
    for key, members in groups.items():
        cells = [str(k) for k in key] + [str(len(members))]
        for j in range(nparams + 1, len(table.columns)):
            vals = [r[j] for r in members if r[j] is not None]
            if not vals:
                cells.append("")
            elif all(isinstance(v, int) for v in vals):
                lo, hi = min(vals), max(vals)
                mean = sum(vals) / len(vals)
                text = f"{mean:.0f}" if mean == int(mean) else f"{mean:.1f}"
                cells.append(text if lo == hi else f"{text} ({lo}–{hi})")
            else:
                n = len(set(vals))
                cells.append(str(vals[0]) if n == 1 else f"{n} distinct")
        rows.append(cells)
    return header, rows
