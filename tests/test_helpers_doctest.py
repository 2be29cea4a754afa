"""Issue 19 part 2: every REPL example in lv.helpers runs as a doctest on one fixed machine
(256 MiB, seed 0): pid 1 'prog' has mapped and written 64 KiB of anonymous memory at
``addr``, pid 2 'other' has an empty address space. Each module gets a fresh machine."""

import doctest
import importlib

import pytest

import linuxvm as lv

MODULES = ["sched", "mm", "page_alloc", "slab", "crash", "vtop", "oom_explain", "pagemap",
           "residency"]


def fixed_globals() -> dict:
    m = lv.Machine(ram="256M", seed=0)
    p = m.spawn("prog")
    addr = p.mmap(None, 64 << 10, lv.PROT_READ | lv.PROT_WRITE,
                  lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.touch(addr, 64 << 10, write=True)
    m.spawn("other")
    m.check()
    return {"lv": lv, "m": m, "p": p, "addr": addr}


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    mod = importlib.import_module(f"linuxvm.helpers.{name}")
    g = fixed_globals()
    tests = doctest.DocTestFinder().find(mod, globs=dict(vars(mod), **g))
    examples = sum(len(t.examples) for t in tests)
    assert examples, f"linuxvm.helpers.{name} has no REPL examples"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    # one shared namespace per module: the module docstring's names (s, a, page) reach the
    # functions' examples in the order the finder sorts them
    shared = dict(vars(mod), **g)
    for t in sorted(tests, key=lambda t: t.lineno or 0):
        t.globs = shared
        runner.run(t, clear_globs=False)
    g["m"].check()
    assert runner.failures == 0, f"{runner.failures} of {examples} examples failed"
