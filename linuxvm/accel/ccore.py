"""The compiled core: C bodies (linuxvm/accel/_cpage_alloc.pyx and _cuaccess.pyx, built by
``pip install .``) put in place of the pure-Python bodies of the buddy allocator's
accelerators, of ``release_pages`` and of the one-access ``user_access``.

Each compiled body leaves exactly the state of its pure-Python twin (tests/test_ccore.py
compares whole machines, and tests/test_accel.py tests whatever body is registered).
``Machine(fast=False)`` still runs the kernel-shaped reference code everywhere. Where the
extension is not built (no C compiler at install time) the pure-Python bodies stay and one
``CompiledCoreMissing`` warning line says so; ``LINUXVM_NO_CCORE=1`` in the environment
chooses them deliberately, without the warning.
"""

import importlib.util
import os
import warnings

from ..lib.accel_registry import replace_body
from . import page_alloc, swap, uaccess_one

# the optional extensions (setup.py): module name -> module, None where it does not import
_EXTENSIONS = {}
_MISSING = []
for _name in ("_cpage_alloc", "_cuaccess"):
    try:
        _EXTENSIONS[_name] = importlib.import_module(f"{__package__}.{_name}")
    except ImportError as _e:
        _EXTENSIONS[_name] = None
        # Python's own message for a missing submodule of a package being imported talks
        # of a circular import; say plainly that it is not there, and pass on any other
        _MISSING.append(f"linuxvm/accel/{_name}"
                        if importlib.util.find_spec(f"{__package__}.{_name}") is None
                        else str(_e))

__all__ = ["CompiledCoreMissing", "COMPILED", "PURE", "install"]

# the accelerators with a compiled body -> the module of their pure-Python body, and the
# extension of the compiled one
_PURE_HOME = {"alloc_order0": page_alloc, "free_order0": page_alloc,
              "free_hot_cold_page_list": page_alloc, "rmqueue_bulk": page_alloc,
              "release_pages": swap, "user_access": uaccess_one}
_COMPILED_HOME = {"user_access": "_cuaccess"}           # the rest: _cpage_alloc
COMPILED_NAMES = tuple(_PURE_HOME)


class CompiledCoreMissing(RuntimeWarning):
    """The compiled core is not built here: the pure-Python accelerators are used."""


# name -> compiled body in use (empty without the compiled core) / the pure-Python body
COMPILED = {}
PURE = {}


def install() -> None:
    """Register the compiled bodies, or warn (one line) that the pure-Python ones stay."""
    for name, module in _PURE_HOME.items():
        PURE[name] = getattr(module, name)
    if os.environ.get("LINUXVM_NO_CCORE"):
        return
    if _MISSING:
        # one line (no source line to show), and no colon before the reason, so a
        # filterwarnings entry can name the message (pyproject.toml's pytest section)
        absent = [x for x in _MISSING if x.startswith("linuxvm/accel/")]
        why = [x for x in _MISSING if x not in absent]
        if absent:
            why.insert(0, f"no {', '.join(absent)} extension{'s' if len(absent) > 1 else ''}"
                          f"; pip install . builds {'them' if len(absent) > 1 else 'it'}")
        warnings.warn_explicit(f"linuxvm compiled core not built ({'; '.join(why)}); using "
                               f"the pure-Python accelerators in their place",
                               CompiledCoreMissing, "linuxvm", 0)
    for name in COMPILED_NAMES:
        ext = _EXTENSIONS[_COMPILED_HOME.get(name, "_cpage_alloc")]
        if ext is None:
            continue
        fn = getattr(ext, name)
        replace_body(name, fn)
        COMPILED[name] = fn
