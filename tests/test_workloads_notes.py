"""The notes' experiments as model programs (linuxvm.workloads): each runs to its end
with m.check() at every stop, its figures are what the model's /proc says at that stop,
and what they show is what the notes observe (and what glibc's and 4.6's rules give,
computed here independently)."""

import io
import re

import pytest

import linuxvm as lv
from linuxvm.cli import main
from linuxvm.workloads import (GLIBC_2_36, autopsy, crazy_alloc,
                               multi_page_alloc, run_example, simple_alloc)
from linuxvm.workloads.experiments import MEMINFO_FIELDS, STACK_TOP, STATUS_FIELDS, parse_kb
from linuxvm.workloads.malloc import DEFAULT_TOP_PAD, MINSIZE, request2size

PAGE = 4096


def machine(ram="512M", **kw):
    return lv.Machine(ram=ram, cpus=1, seed=0, aslr=False, **kw)


def run(m, gen):
    """Drive a program, checking the machine and the figures at every stop."""
    steps = []
    pid = None
    for step in gen:
        m.check()
        pid = max(m.tasks)
        assert step.status == parse_kb(m.proc.read(f"/proc/{pid}/status"), STATUS_FIELDS)
        assert step.meminfo == parse_kb(m.proc.read("/proc/meminfo"), MEMINFO_FIELDS)
        maps = m.proc.read(f"/proc/{pid}/maps")
        for ln in step.maps:
            assert ln in maps.splitlines()
        # every resident page lies in a 2 MiB region that has a PTE table
        present = resident_pages(m, pid, maps)
        assert step.status["VmPTE"] >= 4 * len({a >> 21 for a in present})
        if step.region is not None:
            start, n = step.region
            assert step.present == [i for i in range(n) if start + i * PAGE in present]
        steps.append(step)
    m.check()
    return steps


def resident_pages(m, pid, maps):
    out = set()
    for ln in maps.splitlines():
        lo, hi = (int(x, 16) for x in ln.split()[0].split("-"))
        data = m.proc.read_bytes(f"/proc/{pid}/pagemap", (lo >> 12) * 8, (hi - lo) >> 9)
        for i in range(0, len(data), 8):
            if data[i + 7] & 0x80:
                out.add(lo + (i // 8) * PAGE)
    return out


def heap_line(step):
    return [ln for ln in step.maps if ln.endswith("[heap]")]


def span(line):
    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
    return lo, hi


# -- multi_page_alloc -------------------------------------------------------------------

def test_multi_page_alloc_first_and_last_pages_have_ptes_after_malloc():
    m = machine()
    steps = run(m, multi_page_alloc(m))
    assert [s.label for s in steps] == ["before alloc", "malloc", "touch page 0",
                                        "touch page 1", "touch page 7", "memset", "free"]
    outputs = [s.output for s in steps]
    assert outputs[:1] + outputs[2:] == [
        "Before alloc.\n", "Touched 1st page.\n", "Touched 2nd page.\n",
        "Touched 7th page.\n", "Memset.\n", "Freed.\n"]
    ptr = steps[1].values["ptr"]
    assert steps[1].output == ("Alloc'ed.\nAddress = %016x\n"
                               "PGD/PUD/PMD/PTE/offset=%d/%d/%d/%d/%d\n" % (
                                   ptr, ptr >> 39, ptr >> 30 & 511, ptr >> 21 & 511,
                                   ptr >> 12 & 511, ptr & 4095))
    # below M_MMAP_THRESHOLD: from the brk heap, which grew by nb + top_pad + MINSIZE
    (heap,) = heap_line(steps[1])
    lo, hi = span(heap)
    assert lo <= ptr < hi
    nb = request2size(11 * PAGE)
    assert hi - lo == -(-(nb + DEFAULT_TOP_PAD + MINSIZE) // PAGE) * PAGE
    # the chunk header (page 0) and the top chunk's header after it (page 11) are written
    assert steps[1].present == [0, 11]
    assert steps[2].present == [0, 11]            # page 0 was already there
    assert steps[3].present == [0, 1, 11]
    assert steps[4].present == [0, 1, 7, 11]
    assert steps[5].present == list(range(12))
    # free: merged into the top, which is trimmed back to top_pad (a 132 KiB heap)
    (heap,) = heap_line(steps[6])
    assert span(heap)[1] - span(heap)[0] == 132 << 10
    assert steps[6].status["VmData"] == steps[5].status["VmData"] - 44


def test_multi_page_alloc_with_a_newer_glibc():
    # tcache and malloc'ed stdio buffers (glibc 2.36): the heap exists before the malloc,
    # which is served from the top without a brk; the same pages get headers
    m = machine()
    steps = run(m, multi_page_alloc(m, glibc=GLIBC_2_36, stdout="pipe", stdin="pipe"))
    (heap0,) = heap_line(steps[0])
    assert span(heap0)[1] - span(heap0)[0] == 132 << 10
    assert heap_line(steps[1]) == [heap0]
    ptr = steps[1].values["ptr"]
    assert ptr - span(heap0)[0] == 0x290 + 2 * 0x1010 + 16     # tcache, stdout, stdin
    assert steps[1].present == [0, 11]
    assert heap_line(steps[6]) == [heap0]          # the top is below the trim threshold


# -- simple_alloc ---------------------------------------------------------------------

def test_simple_alloc_mmaps_the_big_block_and_grows_the_stack():
    m = machine()
    steps = run(m, simple_alloc(m))
    labels = [s.label for s in steps]
    assert labels == ["start", "heap_alloc: malloc", "heap_alloc: filled", "heap_alloc: freed",
                      "stack_alloc: deepest call", "stack_alloc: returned"]
    buf = steps[1].values["buf"]
    (line,) = steps[1].maps
    lo, hi = span(line)
    assert not line.endswith("[heap]") and buf == lo + 16
    assert hi - lo == 1026 * PAGE                   # ALIGN_UP(nb + SIZE_SZ, 4096)
    assert steps[1].present == [0]                  # the chunk header
    assert steps[2].present == list(range(1026))
    assert steps[3].maps == [] and steps[3].present == []      # munmap'ed by free
    assert steps[3].status["VmSize"] == steps[0].status["VmSize"]
    # 7001 frames of 1056 bytes below the initial stack, grown by expand_stack: no SIGSEGV
    deepest = steps[4].values["sp"]
    assert STACK_TOP - deepest > 7 << 20
    (stack,) = steps[4].maps
    lo, hi = span(stack)
    assert hi == STACK_TOP and lo <= deepest & ~(PAGE - 1)
    assert steps[4].status["VmStk"] == ((hi - lo) >> 10) + 4     # maps hides the guard page
    assert steps[4].status["VmStk"] < 8 << 10        # within RLIMIT_STACK
    pages = (STACK_TOP - (deepest & ~(PAGE - 1))) // PAGE
    assert steps[4].present == list(range(pages))


def test_simple_alloc_gets_sigsegv_under_a_4m_stack_limit():
    # acct_stack_growth refuses to grow past RLIMIT_STACK: the 7 MiB recursion faults
    m = machine()
    gen = simple_alloc(m, rlimits={"RLIMIT_STACK": 4 << 20})
    labels = []
    with pytest.raises(lv.SegmentationFault) as e:
        for step in gen:
            labels.append(step.label)
            m.check()
    assert labels[-1] == "heap_alloc: freed"
    assert STACK_TOP - e.value.addr >= (4 << 20) - PAGE
    m.check()


# -- crazy_alloc ----------------------------------------------------------------------

def commit_figures(step):
    return step.meminfo["Committed_AS"], step.meminfo["CommitLimit"]


@pytest.mark.parametrize("ram,outcomes", [("1G", {0: False, 1: True, 2: False}),
                                          ("10G", {0: True, 1: True, 2: False})])
def test_crazy_alloc_under_each_overcommit_mode(ram, outcomes):
    m = machine(ram)
    steps = run(m, crazy_alloc(m))
    assert m.sysctl["vm.overcommit_memory"] == 0            # restored
    req = (8 << 30) + PAGE                                  # ALIGN_UP(nb + SIZE_SZ, 4096)
    for mode in (0, 1, 2):
        start, after = [s for s in steps if s.values["mode"] == mode]
        committed, limit = commit_figures(start)
        mi = parse_kb(m.proc.read("/proc/meminfo"), ("MemTotal", "SwapTotal", "MemFree"))
        # 4.6's rules from the figures: ALWAYS admits; NEVER needs Committed_AS + the
        # request below CommitLimit; GUESS needs the request below what could be freed,
        # which is at most MemTotal + SwapTotal (and on 10G, MemFree alone covers it)
        if mode == 1:
            expect = True
        elif mode == 2:
            expect = committed + (req >> 10) < limit
        else:
            expect = (req >> 10) < mi["MemFree"] if mi["MemFree"] > (9 << 20) else False
            assert expect or (req >> 10) > mi["MemTotal"] + mi["SwapTotal"]
        assert expect == outcomes[mode]
        ok = bool(after.values["ptr"])
        assert ok == expect
        assert after.values["exit_status"] == (0 if ok else 1)
        calls = [(name, args[1] if name == "mmap" else None, ret)
                 for name, args, ret in after.values["syscalls"]]
        if ok:
            assert after.output == ""
            assert calls == [("mmap", req, after.values["ptr"] - 16)]
            assert after.meminfo["Committed_AS"] - committed == req >> 10
            assert after.status["VmData"] - start.status["VmData"] == req >> 10
        else:
            assert after.output == "malloc: Cannot allocate memory\n"
            # mmap refused; the brk fallback refused (brk returns the old break); then
            # mmap as MORECORE of nb + top_pad + MINSIZE, refused too
            assert [c[0] for c in calls] == ["mmap", "brk", "brk", "mmap"]
            assert calls[0][2] == -12 and calls[3][2] == -12
            assert calls[3][1] == (8 << 30) + (132 << 10)
            assert after.meminfo["Committed_AS"] == committed
            assert after.status == start.status


# -- the autopsy program --------------------------------------------------------------

def test_autopsy_figures():
    m = machine()
    steps = run(m, autopsy(m))
    assert "".join(s.output for s in steps) == (
        "mmap        <hit ret>\n0, SIZE - 1 <hit ret>\nmemset      <hit ret>\n")
    ptr = steps[0].values["ptr"]
    (line,) = steps[0].maps
    lo, hi = span(line)
    assert lo <= ptr and ptr + (10 << 20) <= hi
    # after mmap: VmData covers the 10 MiB (and the pages glibc 2.23 mmaps for the
    # stdout and stdin buffers); nothing resident
    assert steps[0].status["VmData"] == 10240 + 4 + 4
    assert steps[0].present == []
    # the two end writes: two pages in different 2 MiB regions
    assert steps[1].present == [0, 2559]
    # memset: everything; page tables for every 2 MiB region the 10 MiB spans
    assert steps[2].present == list(range(2560))
    regions = len({(ptr + i * PAGE) >> 21 for i in range(2560)})
    assert regions in (5, 6)
    assert steps[2].status["VmPTE"] >= 4 * regions


def test_run_example_cli(capsys):
    assert main(["run-example", "multi_page_alloc", "--ram", "256M", "--cpus", "1"]) == 0
    out = capsys.readouterr().out
    assert "Touched 7th page." in out and "pagemap: 4 of the 12 pages" in out
    assert main(["run-example", "crazy_alloc", "--ram", "256M", "--cpus", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("malloc: Cannot allocate memory") == 2
    m = machine("256M")

    buf = io.StringIO()
    run_example(m, "autopsy", buf)
    assert re.search(r"VmData 10248 kB", buf.getvalue())
