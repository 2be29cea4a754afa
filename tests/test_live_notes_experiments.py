"""The notes' multi_page_alloc and simple_alloc on this machine's kernel and glibc, against
the model's workloads run with the same glibc behaviour (GLIBC_2_36: tcache, malloc'ed
stdio buffers; stdin and stdout pipes), stop by stop: whether brk or mmap served the
allocation, where in the heap it landed, the heap's Rss, which pages are present, and
the stack the recursion grew.

Declared differences (docs/deviations.md): the live program is a dynamically linked
executable whose anonymous neighbours (the loader's and libc's pages) can merge with
its mmap'ed chunk, so that VMA's bounds and Rss are not compared, only its pages'
presence; its stack starts with the real argv/envp/auxv, so VmStk is compared within
two pages.
"""

import os
import re
import shutil
import subprocess

import pytest

import linuxvm as lv
from linuxvm.workloads import GLIBC_2_36, multi_page_alloc, simple_alloc
from live.harness import cache_dir, live_available

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "live", "notes_experiments.c")
PAGE = 4096


def build():
    why = live_available()
    if why:
        pytest.skip(why)
    exe = os.path.join(cache_dir(), "notes_experiments-O0")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(SRC):
        tmp = f"{exe}.{os.getpid()}.tmp"
        r = subprocess.run(["gcc", "-O0", "-fno-stack-clash-protection", "-w", "-o", tmp, SRC],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        os.replace(tmp, exe)
    return exe


def run_live(which):
    exe = build()
    cmd = [exe, which]
    if shutil.which("setarch"):
        cmd = ["setarch", os.uname().machine, "-R"] + cmd
    r = subprocess.run(cmd, input="\n" * 8, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    stops = {}
    for ln in r.stderr.splitlines():
        mt = re.match(r"STOP (\S+) (.*)", ln)
        if mt:
            stops[mt.group(1)] = dict(kv.split("=", 1) for kv in mt.group(2).split())
    return stops


def live_fig(s):
    lo, hi = (int(x, 16) for x in s["heapvma"].split("-"))
    vlo, vhi = (int(x, 16) for x in s["vma"].split("-"))
    return {"ptr": int(s["ptr"], 16), "heap": (lo, hi), "heaprss": int(s["heaprss"]),
            "in_heap": s["heap"] == "1", "vma": (vlo, vhi), "present": s["present"],
            "vmstk": int(s["vmstk"])}


def smaps_heap_rss(m, pid):
    text = m.proc.read(f"/proc/{pid}/smaps")
    mt = re.search(r"\[heap\]\n(?:.*\n)*?Rss:\s+(\d+) kB", text)
    return int(mt.group(1)) if mt else 0


def model_fig(m, step, ptr):
    pid = max(m.tasks)
    heap = [ln for ln in m.proc.read(f"/proc/{pid}/maps").splitlines() if ln.endswith("[heap]")]
    lo, hi = (int(x, 16) for x in heap[0].split()[0].split("-")) if heap else (0, 0)
    return {"heap": (lo, hi), "heaprss": smaps_heap_rss(m, pid),
            "in_heap": bool(ptr) and lo <= ptr < hi, "vmstk": step.status["VmStk"]}


def test_multi_page_alloc_live_and_model_agree():
    live = run_live("multi_page_alloc")
    m = lv.Machine(ram="512M", cpus=1, seed=0, aslr=False)
    names = ["before", "malloc", "touch0", "touch1", "touch7", "memset", "free"]
    for name, step in zip(names, multi_page_alloc(m, glibc=GLIBC_2_36, stdout="pipe",
                                                  stdin="pipe")):
        m.check()
        lv_ = live_fig(live[name])
        ptr = step.values.get("ptr", 0)
        mo = model_fig(m, step, ptr)
        # the heap: its size, its Rss (smaps walks the tables: no counter lag)
        assert mo["heap"][1] - mo["heap"][0] == lv_["heap"][1] - lv_["heap"][0], name
        assert mo["heaprss"] == lv_["heaprss"], name
        if name != "before":
            assert mo["in_heap"] and lv_["in_heap"], name          # brk, not mmap
            assert ptr - mo["heap"][0] == lv_["ptr"] - lv_["heap"][0], name
            model_present = "".join("1" if i in step.present else "0" for i in range(12))
            assert model_present == lv_["present"], name
    m.check()


def test_simple_alloc_live_and_model_agree():
    live = run_live("simple_alloc")
    m = lv.Machine(ram="512M", cpus=1, seed=0, aslr=False)
    steps, figs = {}, {}
    for s in simple_alloc(m, glibc=GLIBC_2_36):
        m.check()
        steps[s.label] = s
        figs[s.label] = model_fig(m, s, s.values.get("buf", 0))
    # above the mmap threshold: not in the heap; the chunk header's page only, then all
    fre = steps["heap_alloc: freed"]
    for label, name in (("heap_alloc: malloc", "malloc"), ("heap_alloc: filled", "filled")):
        lv_ = live_fig(live[name])
        assert not lv_["in_heap"] and not figs[label]["in_heap"]
        assert len(steps[label].present) == int(lv_["present"]), name
    assert int(live["malloc"]["present"]) == 1 and int(live["filled"]["present"]) == 1026
    # the first malloc made the heap for the tcache only: one page resident in both
    assert live_fig(live["malloc"])["heaprss"] == figs["heap_alloc: malloc"]["heaprss"] == 4
    # free unmapped it in both
    assert live["freed"]["vma"] == "0-0" and fre.maps == []
    # the recursion: VmStk grew alike (within two pages, see the module docstring)
    grown_live = int(live["deepest"]["vmstk"]) - int(live["start"]["vmstk"])
    grown_model = (steps["stack_alloc: deepest call"].status["VmStk"]
                   - steps["start"].status["VmStk"])
    assert abs(grown_live - grown_model) <= 8, (grown_live, grown_model)
    m.check()
