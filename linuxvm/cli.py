"""The ``linuxvm`` command.

Each subcommand is a function ``cmd_<name>(args) -> int`` registered in
``build_parser``; it boots a machine, calls the façade and the helpers, and prints. Bad input (an unknown size, a RAM size too small to boot, an
unknown gfp flag or file) prints one error line and exits with status 2.
"""

import argparse
import os
import sys
import time

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from .arch.x86.dump_pagetables import ptdump_walk_pgd_level
from .helpers.slabinfo import read_caches, format_table
from .helpers.vtop import vtop
from .helpers.oom_explain import oom_explain
from .helpers.pagemap import format_binary
from .helpers import crash
from .helpers import live as live_mod
from .helpers.residency import residency, format_residency
from .helpers.sched import find_task
from .machine import Machine
from .errors import Signal, OutOfMemory, SyscallError
from .mm.gfp import parse_gfp, format_gfp
from .mm.mman import PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS
from .tools import soak
from .tools.autopsy import autopsy, AutopsyError
from .tools.pagetables_usr import pagetables_usr
from .tools import scenario as scenario_mod
from .tools import diff as diff_mod
from .tools import sweep as sweep_mod
from .tools import replay_strace, replay_trace
from .units import parse_size
from . import viz
from .workloads.demo import run_demo
from .workloads.experiments import EXAMPLES as EXPERIMENTS, run_example, start_process
from .workloads.malloc import GLIBC_2_23, GLIBC_2_36

EXAMPLES = """\
examples:
  linuxvm demo                              boot a 4 GiB machine and show its memory
  linuxvm demo --ram 64G --cpus 8           the same for a bigger machine
  linuxvm cat /proc/buddyinfo --ram 4G      print any file of the model
  linuxvm cat /proc/zoneinfo --ram 512M --sysctl vm.min_free_kbytes=16384
  linuxvm ls /proc/sys/vm                   list a directory of the model
  linuxvm dmesg --ram 16G                   the boot log
  linuxvm alloc --order 3 --gfp 'GFP_KERNEL|__GFP_ZERO' --count 4
                                            allocate blocks and show where they came from
  linuxvm vtop 0xffff880000001000           walk the kernel page tables for an address
  linuxvm ptdump --ram 16G                  /sys/kernel/debug/kernel_page_tables
  linuxvm slabinfo --cmdline slub_debug=FZPU
                                            the slab caches, as tools/vm/slabinfo shows them
  linuxvm soak --seed 0 --seeds 4 --steps 20000 --jobs 2
                                            random system calls and kernel API calls with
                                            m.check() after each; shrunk reproducers
  linuxvm oom-explain --ram 1G --proc web=200M --proc db=300M,adj=-500 --proc job=100M,uid=0
                                            whom the OOM killer would choose, and why
  linuxvm cat /proc/1/pagemap --user 64K    a pagemap decoded (--raw: the bytes)
  linuxvm export-proc /tmp/model --user 64M the model's /proc and /sys as files, for
                                            free, vmstat, ps, pmap and slabtop
  linuxvm pagetables 1 --user 64K           the hacks repository's page-table dumper over
                                            /sys/kernel/debug/pagetables of process 1
  linuxvm run-example multi_page_alloc      a notes experiment, with /proc figures at each stop
  linuxvm autopsy /bin/true                 a real program at its entry point after execve:
                                            maps, smaps, status, auxv, page tables
  linuxvm kmem -i --user 64M                crash's memory usage summary (-f free areas,
                                            -p START-END page structs, -s slab caches)
  linuxvm ps --user 64M --user 8M           crash's ps of the model's tasks
  linuxvm vm 1 --user 64M                   crash's vm: the mm and the VMAs of pid 1
  linuxvm run examples/autopsy.toml         a scenario file (docs/scenarios.md): its steps,
                                            snapshots and a summary table
  linuxvm diff examples/autopsy.toml --a vm.swappiness=60 --b vm.swappiness=10
                                            the same scenario twice, side by side
  linuxvm plot physmap --ram 256M --user 64M -o physmap.png
                                            a picture (physmap, frag, pagetables; .png or
                                            .svg): pagetables draws the --user process
  linuxvm sweep examples/fragmentation.toml --param vm.min_free_kbytes=1024,4096
          --seeds 0..9 --figure kernel_allocs,free_pages --out frag.csv
                                            every parameter combination x seed, one row per
                                            run (--scheduler local|tcp://HOST:PORT: Dask)
  linuxvm live $$ --model --ram 1G          a process of this machine: residency, zero
                                            page, THP, page types; then a model process
                                            seeded from its snapshot
  linuxvm replay-strace examples/replay/maps_demo.strace --keep
                                            a real program's memory system calls replayed
                                            (strace -f -e trace=memory,process,desc)
  linuxvm replay-trace examples/replay/lackey_demo.lackey
                                            a valgrind lackey trace through the TLB and MMU
  linuxvm trace --events kmem:mm_page_alloc,vmscan --graph --ram 256M -- fault
                                            4.6's trace events (ftrace's text) and the
                                            function graph of one anonymous write fault
"""


class CliError(Exception):
    """Bad input: reported as one line, exit status 2."""


def add_machine_args(p):
    p.add_argument("--ram", default="4G", help="RAM size, e.g. 512M, 4G, 64G (default 4G)")
    p.add_argument("--cpus", type=int, default=2, help="number of CPUs (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    p.add_argument("--thp", default="madvise", choices=["always", "madvise", "never"],
                   help="transparent hugepage mode (default madvise)")
    p.add_argument("--sysctl", action="append", default=[], metavar="NAME=VALUE",
                   help="set a sysctl after boot, e.g. vm.min_free_kbytes=16384")
    p.add_argument("--cmdline", default="", help="kernel command line, e.g. slub_debug=FZPU")


def boot(args):
    sysctl = {}
    for item in args.sysctl:
        if "=" not in item:
            raise CliError(f"--sysctl wants NAME=VALUE, not {item!r}")
        k, v = item.split("=", 1)
        sysctl[k.strip()] = v.strip()
    try:
        m = Machine(ram=args.ram, cpus=args.cpus, seed=args.seed, thp=args.thp,
                    cmdline=args.cmdline)
    except ValueError as e:
        raise CliError(str(e)) from None
    for k, v in sysctl.items():
        try:
            m.sysctl[k] = v
        except KeyError:
            raise CliError(f"unknown sysctl {k!r}") from None
        except OSError as e:
            raise CliError(f"cannot set {k}={v}: {e.strerror}") from None
    return m


def machine_line(args, m) -> str:
    return (f"# linuxvm: ram={args.ram} cpus={args.cpus} seed={args.seed} thp={args.thp}"
            + (f" cmdline={args.cmdline!r}" if args.cmdline else "")
            + "".join(f" --sysctl {s}" for s in args.sysctl))


def cmd_cat(args) -> int:
    m = boot(args)
    if args.user:
        _user_process(m, args.user)
    if (args.offset is not None and args.offset < 0) or (args.bytes is not None
                                                          and args.bytes < 0):
        raise CliError("--offset and --bytes must not be negative")
    try:
        node = m.proc._follow(args.path)
        if node.kind == "binary":
            if args.raw:
                data = m.proc.read_bytes(args.path, args.offset or 0,
                                         args.bytes if args.bytes is not None else 64)
                sys.stdout.flush()
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
            else:
                sys.stdout.write(format_binary(m.proc, args.path, args.offset, args.bytes))
        elif args.raw:
            sys.stdout.buffer.write(m.proc.read_bytes(args.path))
        else:
            sys.stdout.write(m.proc.read(args.path))
    except FileNotFoundError:
        raise CliError(f"{args.path}: no such file in the model") from None
    except IsADirectoryError:
        raise CliError(f"{args.path}: is a directory (use 'linuxvm ls')") from None
    except SyscallError as e:
        raise CliError(f"{args.path}: read at offset {args.offset or 0}: {e.strerror}") from None
    except ValueError as e:
        raise CliError(str(e)) from None
    return 0


def cmd_ls(args) -> int:
    m = boot(args)
    if args.user:
        _user_process(m, args.user)
    try:
        for name in m.proc.listdir(args.path):
            print(name)
    except (FileNotFoundError, NotADirectoryError) as e:
        raise CliError(f"{args.path}: {e.strerror}") from None
    return 0


def cmd_dmesg(args) -> int:
    m = boot(args)
    print("\n".join(m.dmesg()))
    return 0


def cmd_alloc(args) -> int:
    m = boot(args)
    try:
        gfp = parse_gfp(args.gfp)
    except ValueError as e:
        raise CliError(str(e)) from None
    print(machine_line(args, m))
    for _ in range(args.count):
        try:
            pfn = m.kernel.alloc_pages(gfp, args.order)
        except ValueError as e:
            raise CliError(str(e)) from None
        if pfn is None:
            print(f"order-{args.order} {format_gfp(gfp)}: allocation failed")
            break
        zone = m.page_zone(pfn)
        print(f"order-{args.order} {format_gfp(gfp)}: pfn {pfn:#x} "
              f"(phys {pfn << 12:#x}, zone {zone.name})")
    print(m.proc.read("/proc/buddyinfo"), end="")
    tail = [l for l in m.dmesg() if "allocation failure" in l]
    if tail:
        print("\n".join(tail))
    return 0


def cmd_demo(args) -> int:
    m = boot(args)
    print(machine_line(args, m))
    run_demo(m, sys.stdout)
    return 0


def _user_process(m, size_text):
    """Spawn a process, mmap SIZE bytes of anonymous memory and touch every page."""
    try:
        size = parse_size(size_text)
    except ValueError as e:
        raise CliError(str(e)) from None
    if size <= 0:
        raise CliError(f"--user wants a positive size, not {size_text!r}")
    p = m.spawn("prog")
    try:
        addr = p.mmap(None, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        p.touch(addr, size, write=True)
    except OSError as e:
        raise CliError(f"mmap/touch of {size_text} failed: {e}") from None
    return p, addr, size


def cmd_vtop(args) -> int:
    """Walk page tables step by step for one address (crash's vtop)."""
    m = boot(args)
    try:
        addr = int(args.addr, 0)
    except ValueError:
        raise CliError(f"not an address: {args.addr!r}") from None
    if not 0 <= addr < 1 << 64:
        raise CliError(f"address {args.addr} does not fit 64 bits")
    print(machine_line(args, m))
    mm = m.init_mm
    if args.user:
        p, base, size = _user_process(m, args.user)
        print(f"# pid {p.pid}: {args.user} anonymous mapping at {base:#x}, touched; "
              f"ADDR is an offset into it")
        addr += base
        mm = p.mm
    sys.stdout.write(str(vtop(mm, addr)))
    return 0


def cmd_ptdump(args) -> int:
    """Page tables as /sys/kernel/debug/kernel_page_tables shows them: the kernel's, or
    (``--user SIZE``) a process's that mapped and touched SIZE bytes."""
    m = boot(args)
    print(machine_line(args, m))
    pgd = None
    if args.user:
        p, base, size = _user_process(m, args.user)
        print(f"# pid {p.pid}: {args.user} anonymous mapping at {base:#x}, touched")
        pgd = p.mm.pgd
    sys.stdout.write(ptdump_walk_pgd_level(m, pgd))
    return 0


def cmd_slabinfo(args) -> int:
    """The cache table of tools/vm/slabinfo (helpers/slabinfo.py)."""
    m = boot(args)
    for spec in args.alloc:
        name, _, count = spec.partition("=")
        try:
            n = int(count or "1")
            m.slab.find_cache(name)
        except ValueError as e:
            raise CliError(f"--alloc {spec!r}: {e}") from None
        for _ in range(n):
            if not m.kernel.kmem_cache_alloc(name):
                break
    print(machine_line(args, m))
    caches = read_caches(m)
    if args.aliases:
        for c in sorted(caches, key=lambda c: c["name"]):
            if c["aliases"]:
                print(f"{c['name']:<20} -> {' '.join(c['alias_names'])}")
        return 0
    print("\n".join(format_table(caches, show_empty=args.empty, show_bytes=args.bytes,
                                 sort_size=args.size)))
    return 0


def cmd_soak(args) -> int:
    return soak.run_soak(args)


DEFAULT_OOM_PROCS = ["editor=64M", "browser=192M", "backup=96M,uid=0", "sshd=8M,adj=-1000"]


def _parse_proc(spec: str):
    """``NAME=SIZE[,adj=N][,uid=N]`` -> (name, bytes, adj, uid)."""
    name, _, rest = spec.partition("=")
    parts = rest.split(",")
    try:
        size = parse_size(parts[0])
        opts = dict(kv.split("=", 1) for kv in parts[1:])
        adj = int(opts.pop("adj", 0))
        uid = int(opts.pop("uid", 1000))
    except ValueError as e:
        raise CliError(f"--proc {spec!r}: {e}") from None
    if not name or opts:
        raise CliError(f"--proc wants NAME=SIZE[,adj=N][,uid=N], not {spec!r}")
    return name, size, adj, uid


def cmd_oom_explain(args) -> int:
    """Spawn init and the ``--proc`` processes, each touching its SIZE of anonymous
    memory, then show oom_badness term by term and the victim (helpers/oom_explain.py)."""
    procs = [_parse_proc(s) for s in (args.proc or DEFAULT_OOM_PROCS)]
    m = boot(args)
    print(machine_line(args, m) + "".join(f" --proc {s}" for s in (args.proc or
                                                                      DEFAULT_OOM_PROCS)))
    init = m.spawn("init", uid=0)
    for name, size, adj, uid in procs:
        p = m.spawn(name, uid=uid)
        try:
            if adj:
                m.current = init.task           # written by root (CAP_SYS_RESOURCE)
                m.proc.write(f"/proc/{p.pid}/oom_score_adj", str(adj))
                m.current = None
            if size:
                a = p.mmap(None, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
                p.touch(a, size, write=True)
        except (OSError, Signal, OutOfMemory) as e:   # an OOM kill on the way is news
            print(f"# {name}: {type(e).__name__}: {e}")
    sys.stdout.write(str(oom_explain(m)))
    return 0


def cmd_export_proc(args) -> int:
    """Write the model's /proc and /sys as files under DIR (m.proc.export), for real tools
    to read through a bind mount."""
    m = boot(args)
    for size in args.user:
        _user_process(m, size)
    try:
        result = m.proc.export(args.dir)
    except OSError as e:
        raise CliError(f"cannot export to {args.dir}: {e.strerror or e}") from None
    print(machine_line(args, m) + "".join(f" --user {u}" for u in args.user))
    print(f"wrote {result.files} files, {result.dirs} directories and {result.links} links "
          f"under {result.root}/proc and {result.root}/sys ({len(result.skipped)} of them "
          f"empty: reading them fails in 4.6 too, write-only or ENOSYS)")
    print(f"read them with real tools in a private mount namespace, e.g.:\n"
          f"  unshare -pfm sh -c 'mount --bind {result.root}/proc /proc && "
          f"mount --bind {result.root}/sys /sys && exec free'")
    return 0


def cmd_pagetables(args) -> int:
    """``./pagetables [pid]`` of linux-vm-hacks: a process (pid 1) that mapped and touched
    ``--user`` bytes, then the tool as its own process (pid 0: the tool itself)."""
    m = boot(args)
    print(machine_line(args, m))
    if args.user:
        p, base, size = _user_process(m, args.user)
        print(f"# pid {p.pid}: {args.user} anonymous mapping at {base:#x}, touched")
    tool = start_process(m, "pagetables")
    print(f"# pid {tool.pid}: the tool")
    r = pagetables_usr(m, args.pid, reader=tool)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    return r.status


def cmd_run_example(args) -> int:
    """One of the notes' experiments, printing its prompts and the /proc figures."""
    m = boot(args)
    print(machine_line(args, m) + f" glibc={args.glibc}")
    glibc = GLIBC_2_36 if args.glibc == "2.36" else GLIBC_2_23
    run_example(m, args.name, sys.stdout, glibc=glibc)
    return 0


def cmd_autopsy(args) -> int:
    """The notes' process autopsy of a real program (linuxvm/tools/autopsy.py)."""
    m = boot(args)
    print(machine_line(args, m) + f" aslr={'on' if not args.no_aslr else 'off'}")
    if args.no_aslr:
        m.sysctl["kernel.randomize_va_space"] = 0
    try:
        report = autopsy(m, args.program, [args.program] + args.args)
    except AutopsyError as e:
        raise CliError(str(e)) from None
    sys.stdout.write(report)
    return 0


def _parse_pfn_range(text: str, nr_frames: int):
    """``START[-END]`` (END exclusive, numbers in any base int() reads) -> (start, end);
    no text: the whole mem_map."""
    if not text:
        return 0, nr_frames
    a, sep, b = text.partition("-")
    try:
        start = int(a, 0)
        end = int(b, 0) if sep else start + 1
    except ValueError:
        raise CliError(f"-p wants START[-END] page frame numbers, not {text!r}") from None
    if not 0 <= start < end <= nr_frames:
        raise CliError(f"pfn range {text} is outside mem_map (0-{nr_frames:#x})")
    return start, end


def cmd_kmem(args) -> int:
    """crash's kmem -i, -f, -p, -s over the model (helpers/crash.py)."""
    m = boot(args)
    for size in args.user:
        _user_process(m, size)
    if args.i:
        sys.stdout.write(crash.kmem_i(m))
    elif args.f:
        sys.stdout.write(crash.kmem_f(m))
    elif args.p is not None:
        start, end = _parse_pfn_range(args.p, m.mem_map.nr_frames)
        sys.stdout.write(crash.kmem_p(m, start, end))
    else:
        sys.stdout.write(crash.kmem_s(m))
    return 0


def cmd_ps(args) -> int:
    """crash's ps over the model's tasks (helpers/crash.py)."""
    m = boot(args)
    for size in args.user:
        _user_process(m, size)
    sys.stdout.write(crash.ps(m))
    return 0


def cmd_vm(args) -> int:
    """crash's vm PID: the task's mm and its VMAs (helpers/crash.py)."""
    m = boot(args)
    for size in args.user:
        _user_process(m, size)
    try:
        pid = int(args.pid, 0)
    except ValueError:
        raise CliError(f"not a pid: {args.pid!r}") from None
    task = find_task(m, pid)
    if task is None:
        raise CliError(f"no such pid: {pid} (spawn processes with --user SIZE)")
    sys.stdout.write(crash.vm(m, task))
    return 0


def _load_scenario(path, overrides=None):
    try:
        return scenario_mod.load(path, overrides)
    except scenario_mod.ScenarioError as e:
        raise CliError(str(e)) from None


def _run_scenario(scn, check):
    """Run with a progress bar on stderr (only when it is a terminal)."""
    err = Console(stderr=True)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(scn.path, total=len(scn.steps))

        def progress(done, total, text):
            bar.update(task, completed=done, description=text)
        try:
            return scenario_mod.run(scn, check=check, progress=progress)
        except scenario_mod.ScenarioError as e:
            raise CliError(str(e)) from None
        except scenario_mod.StepFailed as e:   # the model refused a step: status 1
            print(f"linuxvm: {e}", file=sys.stderr)
            raise SystemExit(1) from None


def cmd_run(args) -> int:
    """Run a scenario file (linuxvm/tools/scenario.py, docs/scenarios.md)."""
    scn = _load_scenario(args.file)     # the whole file is checked before anything boots
    out = Console(highlight=False, soft_wrap=True)
    res = _run_scenario(scn, args.check)
    if scn.description:
        out.print(f"# {scn.description}", markup=False)
    for line in res.log:
        out.print(line, markup=False)
    for name, path, text in res.snapshots:
        out.print(f"== {name}: {path} ==", markup=False)
        out.print(text, end="", markup=False)
    rows, mach = scenario_mod.summary(res)
    t = Table(title="processes")
    for col in ("name", "pid", "VSZ kB", "RSS kB", "swap kB"):
        t.add_column(col, justify="left" if col == "name" else "right")
    for name, pid, vsz, rss, swap in rows:
        t.add_row(name, str(pid), *(("exited",) + ("",) * 2 if vsz is None
                                    else (str(vsz), str(rss), str(swap))))
    out.print(t)
    t = Table(title="machine")
    t.add_column("figure")
    t.add_column("value", justify="right")
    for k, v in mach:
        t.add_row(k, v)
    out.print(t)
    if args.plot:
        for path in _plot_run(res, args.plot):
            out.print(f"wrote {path}", markup=False)
    return 0


def _plot_run(res, folder) -> list:
    """The pictures of a scenario run in ``folder``: the physical memory map and the
    fragmentation of the machine at the end, and free pages and RSS over the snapshots
    (when they hold /proc/meminfo or /proc/PID/status)."""
    try:
        os.makedirs(folder, exist_ok=True)
        paths = [viz.physical_map(res.machine, os.path.join(folder, "physmap.png")),
                 viz.fragmentation(res.machine, os.path.join(folder, "frag.png"))]
        try:
            paths.append(viz.timeline(res, os.path.join(folder, "timeline.png")))
        except ValueError:
            pass                    # no snapshot to draw over time: the two above are all
    except OSError as e:
        raise CliError(f"cannot write pictures to {folder}: {e.strerror or e}") from None
    return paths


def cmd_diff(args) -> int:
    """One scenario and seed twice with two sets of sysctl overrides, side by side."""
    try:
        a = diff_mod.parse_overrides(args.a)
        b = diff_mod.parse_overrides(args.b)
    except ValueError as e:
        raise CliError(str(e)) from None
    sa = _load_scenario(args.file, a)
    sb = _load_scenario(args.file, b)
    out = Console(highlight=False, soft_wrap=True)
    ra = _run_scenario(sa, args.check)
    rb = _run_scenario(sb, args.check)
    label_a = " ".join(args.a) or "(no overrides)"
    label_b = " ".join(args.b) or "(no overrides)"
    for text, differs in diff_mod.report(ra, rb, label_a, label_b, args.width,
                                         args.only_diff):
        out.print(text, style="bold yellow" if differs else None, markup=False)
    return 0


PLOT_KINDS = ("physmap", "frag", "pagetables")


def cmd_plot(args) -> int:
    """A picture of the model (lv.viz): the physical memory map, the fragmentation of the
    free lists, or a process's page-table tree, written to ``-o FILE``."""
    if args.kind not in PLOT_KINDS:
        raise CliError(f"unknown picture kind {args.kind!r}: one of {', '.join(PLOT_KINDS)}")
    if not args.output.lower().endswith((".png", ".svg")):
        raise CliError(f"-o wants a .png or .svg file, not {args.output!r}")
    m = boot(args)
    pid = None
    if args.user:
        pid = _user_process(m, args.user)[0].pid
    if args.pid is not None:
        pid = args.pid
    if args.kind == "pagetables" and pid is None:
        raise CliError("the pagetables picture needs a process: give --user SIZE or --pid")
    try:
        path = viz.plot(m, args.kind, args.output, pid=pid)
    except ValueError as e:
        raise CliError(str(e)) from None
    except OSError as e:
        raise CliError(f"cannot write {args.output}: {e.strerror or e}") from None
    print(f"{machine_line(args, m)}\nwrote {path}")
    return 0


def _count(n, word) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def cmd_sweep(args) -> int:
    """A scenario for every combination of --param values and every seed: one table row
    per run (linuxvm/tools/sweep.py), locally or on a Dask cluster."""
    try:
        params = sweep_mod.parse_params(args.param)
        figures = sweep_mod.parse_figures(args.figure)
        if args.out is not None and sweep_mod.output_kind(args.out) == "parquet" \
                and not sweep_mod.parquet_available():
            raise sweep_mod.SweepError("writing Parquet needs pyarrow (pip install pyarrow); "
                                       "or write a .csv file")
        if args.jobs < 1:
            raise sweep_mod.SweepError(f"--jobs must be at least 1, not {args.jobs}")
        sweep_mod.check_scheduler(args.scheduler)
        try:
            with open(args.file, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise sweep_mod.SweepError(f"{args.file}: {getattr(e, 'strerror', None) or e}")
        scn = scenario_mod.loads(text, args.file)
        seeds = (sweep_mod.parse_seeds(args.seeds) if args.seeds is not None
                 else [scn.machine.get("seed", 0)])
        sweep_mod.check(text, args.file, params, seeds, figures)
    except (sweep_mod.SweepError, scenario_mod.ScenarioError) as e:
        raise CliError(str(e)) from None
    nruns = len(seeds)
    for _, vals in params:
        nruns *= len(vals)
    jobs = min(args.jobs, nruns) if args.scheduler is None else args.jobs
    engine = sweep_mod.engine_name(jobs, args.scheduler)
    # the table goes to --out, or to stdout with everything else on stderr
    out = Console(highlight=False, soft_wrap=True, stderr=args.out is None)
    if not out.is_terminal:         # a file or a pipe: the summary table at its full width
        out = Console(highlight=False, soft_wrap=True, stderr=args.out is None, width=200)
    err = Console(stderr=True)
    shape = " x ".join([f"{len(v)} {n}" for n, v in params] + [_count(len(seeds), "seed")])
    out.print(f"# sweep {args.file}: {shape} = {_count(nruns, 'run')} on {engine}",
              markup=False)
    start = time.monotonic()
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("runs", total=nruns)
        try:
            table = sweep_mod.sweep(text, params, seeds, figures, path=args.file,
                                    jobs=jobs, scheduler=args.scheduler,
                                    check_each=args.check,
                                    progress=lambda done, total: bar.update(task,
                                                                            completed=done))
        except sweep_mod.SweepError as e:
            raise CliError(str(e)) from None
        except sweep_mod.RunError as e:         # a model defect: the traceback matters
            sys.stderr.write(e.detail)
            print(f"linuxvm: {e}", file=sys.stderr)
            return 1
    took = time.monotonic() - start
    if args.out is None:
        table.write_csv(sys.stdout)
    else:
        try:
            table.write(args.out)
        except sweep_mod.SweepError as e:
            raise CliError(str(e)) from None
    header, rows = sweep_mod.summary(table, len(params))
    t = Table(title=f"{_count(nruns, 'run')}, {_count(len(seeds), 'seed')} each "
                    f"combination: mean (min–max) over the seeds")
    for i, col in enumerate(header):
        t.add_column(col, justify="left" if i < len(params) else "right")
    for row in rows:
        t.add_row(*row)
    out.print(t)
    aborted = sum(1 for r in table.rows if "aborted_at" in table.columns
                  and r[table.columns.index("aborted_at")])
    if aborted:
        out.print(f"{_count(aborted, 'run')} ended at a failing step (aborted_at)",
                  markup=False)
    rows = _count(nruns, "row")
    dest = f"wrote {rows} to {args.out}" if args.out else rows
    out.print(f"{dest} in {took:.1f} s", markup=False)
    return 0


def cmd_live(args) -> int:
    """The residency, zero-page, THP, exclusive and page-types breakdowns of a process of
    this machine (helpers/live.py, helpers/residency.py); with --model, the same for a
    model process seeded from its snapshot."""
    try:
        pid = int(args.pid, 10)
        if pid <= 0:
            raise ValueError
    except ValueError:
        raise CliError(f"not a pid: {args.pid!r}") from None
    rows = None if args.all else args.rows
    try:
        with live_mod.LiveProcess(pid) as proc:
            sys.stdout.write(format_residency(residency(proc), rows))
            snap = live_mod.snapshot(proc) if args.model else None
    except ProcessLookupError:
        raise CliError(f"no such process: {pid}") from None
    except FileNotFoundError as e:
        raise CliError(f"{e.filename}: missing on this kernel") from None
    except PermissionError as e:
        raise CliError(f"{e.filename}: {e.strerror} (pagemap of another user's process "
                       f"needs ptrace access)") from None
    if snap is not None:
        m = boot(args)
        seeded = live_mod.spawn_from_snapshot(m, snap, files=args.files)
        m.check()
        print()
        print(machine_line(args, m))
        print(f"seeded model process {seeded.process.pid}: {len(seeded.mapped)} mappings "
              f"({len(seeded.skipped)} of the kernel's own left out, "
              f"{len(seeded.as_anon)} file mappings made anonymous)")
        for note in seeded.notes:
            print(f"note: {note}")
        sys.stdout.write(format_residency(residency(seeded.process), rows))
    return 0


def cmd_replay_strace(args) -> int:
    """Replay an strace log's memory, process and file calls (tools/replay_strace.py)."""
    try:
        calls = replay_strace.parse(args.log)
    except replay_strace.ReplayError as e:
        raise CliError(str(e)) from None
    m = boot(args)
    print(machine_line(args, m) + (" exec=fresh" if args.no_exec else ""))
    try:
        r = replay_strace.replay(m, calls, args.log, exec_host=not args.no_exec,
                                 exits=not args.keep)
    except replay_strace.ReplayError as e:
        raise CliError(str(e)) from None
    m.check()
    sys.stdout.write(replay_strace.format_summary(r))
    if args.keep:
        shown = set()
        for real, pr in sorted(r.procs.items()):
            if pr.p.mm is None or pr.p.pid in shown:
                continue
            shown.add(pr.p.pid)
            print(f"\n# pid {real} in the log, {pr.p.pid} in the model: "
                  f"/proc/{pr.p.pid}/maps")
            sys.stdout.write(m.proc.read(f"/proc/{pr.p.pid}/maps"))
    return 0


def cmd_replay_trace(args) -> int:
    """Replay a valgrind lackey trace through the TLB and MMU (tools/replay_trace.py)."""
    if args.limit is not None and args.limit < 1:
        raise CliError(f"--limit wants a positive number of records, not {args.limit}")
    try:
        trace = replay_trace.parse(args.trace, args.limit)
    except replay_trace.TraceError as e:
        raise CliError(str(e)) from None
    m = boot(args)
    if args.no_accel:
        m.accel.set("access_batch", False)
    print(machine_line(args, m) + (" access_batch=off" if args.no_accel else ""))
    p = m.spawn("lackey", uid=0)
    try:
        mapped = replay_trace.map_pages(p, trace)
    except replay_trace.TraceError as e:
        raise CliError(str(e)) from None
    err = Console(stderr=True)
    t0 = time.perf_counter()
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(args.trace, total=len(trace.addrs))
        got = replay_trace.replay(p, trace, lambda n: bar.advance(task, n))
    dt = time.perf_counter() - t0
    m.check()
    rec = trace.records
    pages = sum(e - s for s, e, _ in mapped) >> 12
    print(f"{args.trace}: {sum(rec.values())} records (I {rec['I']}, L {rec['L']}, "
          f"S {rec['S']}, M {rec['M']}), {trace.split} crossing a page")
    print(f"mapped: {len(mapped)} anonymous runs, {pages} pages (every page the trace "
          f"touches, at its own address)")
    print(f"accesses {got['accesses']}: TLB hits {got['tlb_hits']}, STLB hits "
          f"{got['stlb_hits']}, misses {got['tlb_misses']}, page faults {got['faults']}")
    print(f"replayed in {dt:.3f} s: {got['accesses'] / dt:,.0f} accesses/s")
    return 0


def build_parser():
    p = argparse.ArgumentParser(
        prog="linuxvm",
        description="An executable model of the Linux 4.6 memory manager (x86-64).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")

    s = sub.add_parser("demo", help="boot a machine and show its physical memory")
    add_machine_args(s)
    s.set_defaults(fn=cmd_demo)

    s = sub.add_parser("cat", help="print a /proc, /sys or debugfs file of the model "
                                   "(binary files decoded as tables)")
    s.add_argument("path")
    s.add_argument("--bytes", type=int, default=None,
                   help="bytes of a binary file to show (default 64; a pagemap shows its "
                        "mappings' entries, at most 1024)")
    s.add_argument("--offset", type=int, default=None,
                   help="byte offset into a binary file (a multiple of 8)")
    s.add_argument("--raw", action="store_true",
                   help="write the bytes unchanged to stdout instead of a table")
    s.add_argument("--user", metavar="SIZE",
                   help="first spawn a process (pid 1) that maps and touches SIZE bytes")
    add_machine_args(s)
    s.set_defaults(fn=cmd_cat)

    s = sub.add_parser("ls", help="list a directory of the model's /proc or /sys")
    s.add_argument("path")
    s.add_argument("--user", metavar="SIZE",
                   help="first spawn a process (pid 1) that maps and touches SIZE bytes")
    add_machine_args(s)
    s.set_defaults(fn=cmd_ls)

    s = sub.add_parser("dmesg", help="print the kernel log after boot")
    add_machine_args(s)
    s.set_defaults(fn=cmd_dmesg)

    s = sub.add_parser("alloc", help="allocate pages with alloc_pages and show the result")
    s.add_argument("--order", type=int, default=0)
    s.add_argument("--gfp", default="GFP_KERNEL")
    s.add_argument("--count", type=int, default=1)
    add_machine_args(s)
    s.set_defaults(fn=cmd_alloc)

    s = sub.add_parser("vtop", help="translate a virtual address, showing each level "
                                    "(crash's vtop)")
    s.add_argument("addr", help="virtual address, e.g. 0xffff880000001000 (with --user: an "
                                "offset into the process's mapping)")
    s.add_argument("--user", metavar="SIZE", help="walk a process that mapped and touched "
                                                  "SIZE bytes (e.g. 4M) instead of init_mm")
    add_machine_args(s)
    s.set_defaults(fn=cmd_vtop)

    s = sub.add_parser("ptdump", help="page tables in the format of "
                                      "/sys/kernel/debug/kernel_page_tables")
    s.add_argument("--user", metavar="SIZE", help="dump a process that mapped and touched "
                                                  "SIZE bytes instead of the kernel tables")
    add_machine_args(s)
    s.set_defaults(fn=cmd_ptdump)

    s = sub.add_parser("slabinfo", help="slab cache table like tools/vm/slabinfo")
    s.add_argument("-e", "--empty", action="store_true", help="also show empty caches")
    s.add_argument("-B", "--bytes", action="store_true", help="sizes in bytes")
    s.add_argument("-S", "--size", action="store_true", help="sort by size")
    s.add_argument("-a", "--aliases", action="store_true", help="show the alias names")
    s.add_argument("--alloc", action="append", default=[], metavar="CACHE=N",
                   help="allocate N objects of CACHE first, e.g. vm_area_struct=500")
    add_machine_args(s)
    s.set_defaults(fn=cmd_slabinfo)

    s = sub.add_parser("soak", help="syzkaller-style soak: random system calls and kernel "
                                    "API calls, m.check() after each, shrunk reproducers")
    soak.add_args(s)
    s.set_defaults(fn=cmd_soak)
    s = sub.add_parser("oom-explain", help="the OOM killer's score table and its victim")
    s.add_argument("--proc", action="append", metavar="NAME=SIZE[,adj=N][,uid=N]",
                   help="a process touching SIZE of anonymous memory (repeatable; default: "
                        + " ".join(DEFAULT_OOM_PROCS) + ")")
    add_machine_args(s)
    s.set_defaults(fn=cmd_oom_explain)

    s = sub.add_parser("export-proc", help="write the model's /proc and /sys as files under "
                                           "DIR, for procps tools in a mount namespace")
    s.add_argument("dir", metavar="DIR", help="absent, empty, or an earlier export")
    s.add_argument("--user", action="append", default=[], metavar="SIZE",
                   help="spawn a process that maps and touches SIZE bytes first (repeatable)")
    add_machine_args(s)
    s.set_defaults(fn=cmd_export_proc)

    s = sub.add_parser("pagetables", help="linux-vm-hacks' pagetables tool over the model's "
                                          "/sys/kernel/debug/pagetables")
    s.add_argument("pid", nargs="?", help="the process to dump (default: the tool itself)")
    s.add_argument("--user", metavar="SIZE", help="first start a process (pid 1) that maps "
                                                  "and touches SIZE bytes")
    add_machine_args(s)
    s.set_defaults(fn=cmd_pagetables)

    s = sub.add_parser("run-example", help="run one of the notes' experiments "
                                           "(" + ", ".join(EXPERIMENTS) + ")")
    s.add_argument("name", choices=list(EXPERIMENTS))
    s.add_argument("--glibc", default="2.23", choices=["2.23", "2.36"],
                   help="the malloc/stdio behaviour to model (default 2.23, the notes' era)")
    add_machine_args(s)
    s.set_defaults(fn=cmd_run_example)

    s = sub.add_parser("autopsy", help="execve a real program of this machine in the model "
                                       "and show its maps, smaps, status, auxv, page tables")
    s.add_argument("program", help="a host ELF file (its loader is copied in too)")
    s.add_argument("args", nargs=argparse.REMAINDER,
                   help="its arguments (everything after PROGRAM; options go before it)")
    s.add_argument("--no-aslr", action="store_true",
                   help="randomize_va_space=0, as setarch -R (the notes' addresses)")
    add_machine_args(s)
    s.set_defaults(fn=cmd_autopsy)

    s = sub.add_parser("kmem", help="crash's kmem: -i memory usage, -f free areas, -p page "
                                    "structs, -s slab caches")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("-i", action="store_true", help="memory usage summary")
    g.add_argument("-f", action="store_true", help="free blocks per zone and order")
    g.add_argument("-p", nargs="?", const="", metavar="START[-END]",
                   help="struct pages of a pfn range (END exclusive; default all)")
    g.add_argument("-s", action="store_true", help="slab caches")
    s.add_argument("--user", action="append", default=[], metavar="SIZE",
                   help="spawn a process that maps and touches SIZE bytes first (repeatable)")
    add_machine_args(s)
    s.set_defaults(fn=cmd_kmem)

    s = sub.add_parser("ps", help="crash's ps: the model's tasks")
    s.add_argument("--user", action="append", default=[], metavar="SIZE",
                   help="spawn a process that maps and touches SIZE bytes first (repeatable)")
    add_machine_args(s)
    s.set_defaults(fn=cmd_ps)

    s = sub.add_parser("vm", help="crash's vm: a task's mm and VMAs")
    s.add_argument("pid", metavar="PID")
    s.add_argument("--user", action="append", default=[], metavar="SIZE",
                   help="spawn a process that maps and touches SIZE bytes first (repeatable)")
    add_machine_args(s)
    s.set_defaults(fn=cmd_vm)

    s = sub.add_parser("run", help="run a scenario file (TOML, docs/scenarios.md) with a "
                                   "progress bar and a summary table")
    s.add_argument("file", help="the scenario file")
    s.add_argument("--check", action="store_true",
                   help="m.check() after every step (slower)")
    s.add_argument("--plot", metavar="DIR",
                   help="also draw the run into DIR: physmap.png and frag.png of the machine "
                        "at the end, timeline.png of free pages and RSS over the snapshots")
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("diff", help="what-if: run a scenario twice with two sets of sysctl "
                                    "overrides and show its snapshots and vmstat side by side")
    s.add_argument("file", help="the scenario file")
    s.add_argument("--a", action="append", default=[], metavar="NAME=VALUE",
                   help="a sysctl for run A (repeatable), e.g. vm.swappiness=60")
    s.add_argument("--b", action="append", default=[], metavar="NAME=VALUE",
                   help="a sysctl for run B (repeatable), e.g. vm.swappiness=10")
    s.add_argument("--only-diff", action="store_true", help="show only the lines that differ")
    s.add_argument("--width", type=int, default=diff_mod.WIDTH,
                   help=f"width of each column (default {diff_mod.WIDTH})")
    s.add_argument("--check", action="store_true", help="m.check() after every step")
    s.set_defaults(fn=cmd_diff)

    s = sub.add_parser("plot", help="draw a picture of the model: physmap (physical memory "
                                    "by owner, zone, migratetype), frag (unusable index per "
                                    "order), pagetables (a process's page-table tree)")
    s.add_argument("kind", metavar="KIND", help="one of " + ", ".join(PLOT_KINDS))
    s.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="the picture file; its suffix (.png or .svg) chooses the format")
    s.add_argument("--user", metavar="SIZE",
                   help="first spawn a process (pid 1) that maps and touches SIZE bytes")
    s.add_argument("--pid", type=int, default=None,
                   help="the process whose page tables to draw (default: the --user one)")
    add_machine_args(s)
    s.set_defaults(fn=cmd_plot)

    s = sub.add_parser("sweep", help="run a scenario for every combination of parameter "
                                     "values and seeds; one table row per run (CSV or "
                                     "Parquet), locally or on a Dask cluster")
    s.add_argument("file", help="the scenario file")
    s.add_argument("--param", action="append", default=[], metavar="NAME=V1,V2,...",
                   help="a sysctl (vm.min_free_kbytes=8192,65536) or [machine] key (ram, "
                        "swap, cpus, thp, aslr) and its values (repeatable: the runs are "
                        "every combination)")
    s.add_argument("--seeds", metavar="SEEDS",
                   help="seeds to run each combination with: N, A..B (both included) or a "
                        "comma list of those (default: the scenario's seed)")
    s.add_argument("--figure", action="append", default=[], metavar="NAME",
                   help="a column to measure (repeatable or comma list): "
                        + ", ".join(sweep_mod.FIGURES) + ", vmstat.NAME, meminfo.NAME, "
                        "buddyinfo.ORDER, status.PROC.FIELD (default: "
                        + ",".join(sweep_mod.DEFAULT_FIGURES) + ")")
    s.add_argument("--out", metavar="FILE",
                   help="the table: .csv, or .parquet if pyarrow is installed "
                        "(default: CSV on stdout)")
    s.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="local processes, or LocalCluster workers (default: the CPUs)")
    s.add_argument("--scheduler", metavar="tcp://HOST:PORT|local",
                   help="run on Dask: the address of a running scheduler, or local for a "
                        "LocalCluster (needs the cluster extra: pip install "
                        "'linuxvm[cluster]')")
    s.add_argument("--check", action="store_true", help="m.check() after every step")
    s.set_defaults(fn=cmd_sweep)

    s = sub.add_parser("live", help="a process of this machine: residency, zero page, THP, "
                                    "exclusive and page types from its /proc files; "
                                    "--model seeds a model process from it")
    s.add_argument("pid", metavar="PID", help="a process id of this machine")
    s.add_argument("--rows", type=int, default=40,
                   help="mappings shown (default 40; the total counts all)")
    s.add_argument("--all", action="store_true", help="show every mapping")
    s.add_argument("--model", action="store_true",
                   help="seed a model process with its mappings and resident pages "
                        "(helpers/live.py spawn_from_snapshot) and show it too")
    s.add_argument("--files", default="create", choices=["create", "anon"],
                   help="with --model: map file mappings from sparse model files of the "
                        "same path (create), or as anonymous memory (anon)")
    add_machine_args(s)
    s.set_defaults(fn=cmd_live)

    s = sub.add_parser("replay-strace", help="replay the memory, process and file calls of "
                                             "an strace -f log in the model")
    s.add_argument("log", metavar="LOG",
                   help="output of strace -f -e trace=memory,process,desc -o LOG PROGRAM")
    s.add_argument("--no-exec", action="store_true",
                   help="do not execve host programs: a fresh process stands in")
    s.add_argument("--keep", action="store_true",
                   help="leave the exits out and print each process's final maps")
    add_machine_args(s)
    s.set_defaults(fn=cmd_replay_strace)

    s = sub.add_parser("replay-trace", help="replay a valgrind lackey --trace-mem=yes trace "
                                            "through the model's TLB and MMU")
    s.add_argument("trace", metavar="TRACE", help="valgrind --tool=lackey --trace-mem=yes log")
    s.add_argument("--limit", type=int, default=None, metavar="N",
                   help="replay only the first N records")
    s.add_argument("--no-accel", action="store_true",
                   help="turn the access_batch accelerator off (the reference loop)")
    add_machine_args(s)
    s.set_defaults(fn=cmd_replay_trace)

    s = sub.add_parser("trace", help="trace events (ftrace's text) and/or the function graph "
                                     "of one canned operation or a scenario file")
    s.add_argument("what", metavar="WHAT",
                   help="one of " + ", ".join(TRACE_OPS) + ", or a scenario file (.toml)")
    s.add_argument("--events", default=None, metavar="LIST",
                   help="comma-separated events, as set_event takes them "
                        "(kmem:mm_page_alloc,vmscan,...; default: all, unless --graph)")
    s.add_argument("--graph", action="store_true",
                   help="also print the function_graph of the model's functions "
                        "(durations in host time)")
    s.add_argument("--list", action="store_true", help="list the available events first")
    add_machine_args(s)
    s.set_defaults(fn=cmd_trace)
    return p


# linuxvm trace's canned operations: what is set up first, then the one traced call
TRACE_OPS = {
    "fault": "one anonymous write fault (p.access(a, 'w') on a fresh private mapping)",
    "mmap": "one mmap of 1 MiB of private anonymous memory",
    "alloc": "one order-0 page allocation (m.kernel.alloc_pages('GFP_KERNEL', 0))",
    "kmalloc": "one kmalloc(64, GFP_KERNEL)",
}


def _trace_canned(m, what):
    """Set up ``what`` and return the traced call."""
    if what == "alloc":
        return lambda: m.kernel.alloc_pages("GFP_KERNEL", 0)
    if what == "kmalloc":
        return lambda: m.kernel.kmalloc(64, "GFP_KERNEL")
    p = m.spawn("prog")
    if what == "mmap":
        return lambda: p.mmap(None, 1 << 20, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS)
    a = p.mmap(None, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    return lambda: p.access(a, "w")


def cmd_trace(args) -> int:
    """Trace one canned operation or a scenario: ftrace's event text, the function graph."""
    events = [e for e in (args.events or "").split(",") if e.strip()]
    if not events and not args.graph:
        events = ["all"]
    graph = None

    def start(m):
        nonlocal graph
        try:
            m.trace.enable(*events)
        except ValueError as e:
            raise CliError(str(e)) from None
        if args.graph:
            graph = m.trace.function_graph()
            graph.__enter__()

    def stop():
        if graph is not None:
            graph.__exit__(None, None, None)

    if args.what in TRACE_OPS:
        m = boot(args)
        op = _trace_canned(m, args.what)
        m.check()
        start(m)
        try:
            op()
        finally:
            stop()
    else:
        scn = _load_scenario(args.what)
        try:
            res = scenario_mod.run(scn, check=False, on_boot=start)
        except (scenario_mod.ScenarioError, scenario_mod.StepFailed) as e:
            raise CliError(str(e)) from None
        finally:
            stop()
        m = res.machine
    m.trace.disable()
    m.check()
    out = sys.stdout
    out.write(f"# linuxvm trace {args.what} --ram {args.ram} --cpus {args.cpus} "
              f"--seed {args.seed}\n")
    if args.list:
        out.write("".join(e + "\n" for e in m.trace.events()))
    if events:
        out.write(m.trace.read())
    if graph is not None:
        out.write(graph.text())
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "fn", None):
        parser.print_help()
        return 2
    try:
        return args.fn(args)
    except CliError as e:
        print(f"linuxvm: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
