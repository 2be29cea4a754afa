"""The model side of a live comparison: the same steps through the linuxvm façade."""

import struct

from linuxvm.mm.memory import TASK_RSS_EVENTS_THRESH

from .scenario import (PG, ModelAPIMissing, Run, Scenario, Snap, parse_maps_line,
                       parse_status)

SPLIT_RSS_EVENTS = TASK_RSS_EVENTS_THRESH      # the per-task RSS cache folds after this many


def _need(obj, attr, what):
    try:
        return getattr(obj, attr)
    except AttributeError:
        raise ModelAPIMissing(f"the model lacks {what}: live comparison needs it") from None


def _const(lv, prefix, names):
    value = 0
    for n in names.split("|"):
        if n and n != "none":
            value |= _need(lv, f"{prefix}{n.upper()}", f"the constant lv.{prefix}{n.upper()}")
    return value


def _prot(lv, prot):
    return 0 if prot == "none" else _const(lv, "PROT_", "|".join(
        {"r": "read", "w": "write", "x": "exec"}[c] for c in prot))


def live_top_gap(live: Run) -> int:
    """Bytes the live program's [vvar]/[vdso] occupy between its anchor and mmap_base."""
    s = live.snap("start")
    anchor_end = s.regions["_anchor"][0] + PG
    ends = [en for st, en, _, _, _, name in s.maps
            if name in ("[vvar]", "[vvar_vclock]", "[vdso]") and st >= anchor_end]
    return max(ends) - anchor_end if ends else 0


class ModelRunner:
    """Runs a scenario's steps through the façade and records what /proc shows."""

    def __init__(self, sc: Scenario, pad: int):
        import linuxvm as lv
        self.lv, self.sc, self.pad = lv, sc, pad
        try:
            self.m = lv.Machine(ram="512M", cpus=2, seed=0, thp="never", aslr=False)
            spawn = _need(self.m, "spawn", "Machine.spawn (issue 4)")
            self.p = spawn("scenario", uid=0)
        except NotImplementedError as e:
            raise ModelAPIMissing(f"model: {e}") from None
        self.procs = {None: self.p}
        self.regions = {}
        self.snaps, self.results, self.exits = [], {}, []

    def run(self) -> Run:
        try:
            return self._run()
        except NotImplementedError as e:
            raise ModelAPIMissing(f"model raised NotImplementedError: {e}") from None

    def _run(self):
        p, lv = self.p, self.lv
        self.brk0 = (_need(p, "brk", "Process.brk")(0) + PG - 1) & ~(PG - 1)
        p.brk(self.brk0)
        self.regions["heap"] = (self.brk0, 0)
        if self.sc.kind == "faults" and any(st[0] == "brk" for _, _, st in self.sc.flat()):
            # the live heap starts right above the binary's bss and static glibc's TLS
            # block, whose page tables exist; give the model's heap the same neighbour
            floor = _need(p, "mmap", "Process.mmap")(
                self.brk0 - PG, PG, _prot(lv, "rw"), _const(lv, "MAP_", "private|anon|fixed"))
            _need(p, "touch", "Process.touch")(floor, PG, write=True)
        if self.pad:
            _need(p, "mmap", "Process.mmap")(None, self.pad, _prot(lv, "none"),
                                             _const(lv, "MAP_", "private|anon"))
        pro = len(self.sc.prologue(self.sc.kind))
        for i, who, st in self.sc.flat():
            self.step(i, self.procs[who], who, st)
            self.m.check()
            if i + 1 == pro:
                self.snapshot(p, None, "start", False)
        self.snapshot(p, None, "_end", True)
        return Run(self.snaps, self.results, self.brk0, exits=self.exits)

    def _addr(self, name):
        if name not in self.regions or not self.regions[name][0]:
            raise AssertionError(f"scenario {self.sc.name}: region {name!r} used before it exists")
        return self.regions[name][0]

    def _call(self, i, fn, *args):
        try:
            r = fn(*args)
        except self.lv.SyscallError as e:
            self.results[i] = ("err", e.errno)
            return None
        self.results[i] = ("ok", 0)
        return r

    def step(self, i, p, who, st):
        lv, op = self.lv, st[0]
        if op == "mmap":
            _, n, length, prot, flags, at, nohuge = st
            hint = self._addr(at[0]) + at[1] if at else None
            try:
                v = _need(p, "mmap", "Process.mmap")(hint, length, _prot(lv, prot),
                                                     _const(lv, "MAP_", flags))
            except lv.SyscallError as e:
                self.results[i] = ("err", e.errno)
                return
            self.results[i] = ("ok", v - hint if hint else 0)
            self.regions[n] = (v, length)
            if nohuge and "anon" in flags:
                _need(p, "madvise", "Process.madvise")(v, length, _const(lv, "MADV_", "nohugepage"))
        elif op in ("munmap", "mlock", "munlock"):
            _, n, off, length = st
            self._call(i, _need(p, op, f"Process.{op}"), self._addr(n) + off, length)
        elif op == "mprotect":
            _, n, off, length, prot = st
            self._call(i, _need(p, op, "Process.mprotect"), self._addr(n) + off, length,
                       _prot(lv, prot))
        elif op == "madvise":
            _, n, off, length, adv, _live_adv = st
            self._call(i, _need(p, op, "Process.madvise"), self._addr(n) + off, length,
                       _const(lv, "MADV_", adv))
        elif op == "mremap":
            _, n, off, old, new, flags, new_name, at = st
            o = self._addr(n) + off
            target = self._addr(at[0]) + at[1] if at else None
            v = self._call(i, _need(p, "mremap", "Process.mremap"), o, old, new,
                           _const(lv, "MREMAP_", flags), target)
            if v is not None:
                self.results[i] = ("ok", v - o)
                self.regions[new_name] = (v, new)
        elif op == "brk":
            v = _need(p, "brk", "Process.brk")(self.brk0 + st[1])
            self.results[i] = ("ok", v - self.brk0)
            if v == self.brk0 + st[1]:
                self.regions["heap"] = (self.brk0, (max(st[1], 0) + PG - 1) & ~(PG - 1))
        elif op in ("touch", "touch_sp"):
            base = self._addr(st[1])
            if op == "touch":
                addr, length, rw = base + st[2], st[3], st[4]
            else:
                addr, length, rw = base + st[3], PG, st[4]
                old_sp = _need(p, "sp", "Process.sp (settable stack pointer)")
                p.sp = base + st[2] - 256      # the C frame sits just below sp_off
            try:
                _need(p, "touch", "Process.touch")(addr, length, write=(rw == "w"))
                self.results[i] = ("ok", 0)
            except lv.Signal as e:
                self.results[i] = ("sig", e.signo, e.code, e.addr - base)
            finally:
                if op == "touch_sp":
                    p.sp = old_sp
        elif op == "fill":
            _, n, off, length, seed = st
            base = self._addr(n)
            for k in range(off // PG, (off + length) // PG):
                _need(p, "write", "Process.write")(base + k * PG,
                                                   struct.pack("<Q", (seed << 32) | k))
            self.results[i] = ("ok", 0)
        elif op == "verify":
            _, n, off, length, seed = st
            base, bad = self._addr(n), 0
            try:
                for k in range(off // PG, (off + length) // PG):
                    want = (seed << 32) | k if seed else 0
                    got = _need(p, "read", "Process.read")(base + k * PG, 8)
                    bad += struct.unpack("<Q", bytes(got))[0] != want
                self.results[i] = ("verify", bad)
            except lv.Signal as e:
                self.results[i] = ("sig", e.signo, e.code, e.addr - self._addr(n))
        elif op == "alias":
            _, n, ref, off, length = st
            self.regions[n] = (self._addr(ref) + off, length)
        elif op == "forget":
            self.regions[st[1]] = (0, 0)
        elif op == "snapshot":
            label = st[1] if who is None else f"{who}:{st[1]}"
            self.snapshot(p, who, label, st[1].startswith("_"))
        elif op == "fork":
            c = _need(p, "fork", "Process.fork (issue 5)")()
            self.procs[st[1]] = c
            self.results[i] = ("ok", 0)
            # the live parent re-bases here (its post-fork "_warm" snapshot)
            self.snapshot(p, None, "_warm", True)
        elif op == "exit":
            c = self.procs[st[1]]
            _need(c, "exit", "Process.exit")()
            self.exits.append((len(self.snaps), c.pid))
            self.results[i] = ("ok", 0)
        else:
            raise ValueError(f"unknown step {st!r}")

    def snapshot(self, p, who, label, hidden):
        proc = _need(self.m, "proc", "Machine.proc")
        pid = _need(p, "pid", "Process.pid")

        def read(name, *args):
            try:
                return proc.read_bytes(f"/proc/{pid}/{name}", *args) if args else \
                    proc.read(f"/proc/{pid}/{name}")
            except FileNotFoundError:
                raise ModelAPIMissing(f"the model lacks /proc/PID/{name}: live comparison "
                                      f"needs it") from None

        s = Snap(label, pid, hidden)
        s.minflt = int(read("stat").rsplit(")", 1)[1].split()[7])
        s.status = parse_status(read("status").splitlines())
        s.maps = [parse_maps_line(x) for x in read("maps").splitlines()]
        s.brk = (self.brk0, p.brk(0))
        for n, (a, ln) in self.regions.items():
            if not a:
                continue
            s.regions[n] = (a, ln)
            npages = ln // PG
            if self.sc.kind == "faults" and 0 < npages <= 4096:
                raw = read("pagemap", (a // PG) * 8, npages * 8)
                s.pm[n] = list(struct.unpack(f"<{npages}Q", bytes(raw)))
        if self.sc.kind == "faults":
            s.status["_smaps_anon"] = self._smaps_anon(proc, pid)
        self.snaps.append(s)

    @staticmethod
    def _smaps_anon(proc, pid):
        try:
            text = proc.read(f"/proc/{pid}/smaps")
        except (OSError, KeyError, ValueError, NotImplementedError):
            return None   # no smaps yet: RssAnon is then compared as shown
        return sum(int(x.split()[1]) for x in text.splitlines() if x.startswith("Anonymous:"))


def run_model(sc: Scenario, live: Run) -> Run:
    """Run the scenario in the model, with the prologue padded to match the live layout."""
    return ModelRunner(sc, live_top_gap(live)).run()
