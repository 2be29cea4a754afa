"""The compiled core: C bodies (linuxvm/accel/_cpage_alloc.pyx, built by ``pip install .``)
put in place of the pure-Python bodies of the buddy allocator's accelerators and of
``release_pages``.

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
from . import page_alloc, swap

try:
    from . import _cpage_alloc                   # the optional extension (setup.py)
except ImportError as _e:
    _cpage_alloc = None
    # Python's own message for a missing submodule of a package being imported talks of a
    # circular import; say plainly that it is not there, and pass on any other reason
    _MISSING = ("no linuxvm/accel/_cpage_alloc extension; pip install . builds it"
                if importlib.util.find_spec(__package__ + "._cpage_alloc") is None else str(_e))

__all__ = ["CompiledCoreMissing", "COMPILED", "PURE", "install"]

# the accelerators with a compiled body -> the module of their pure-Python body
_PURE_HOME = {"alloc_order0": page_alloc, "free_order0": page_alloc,
              "free_hot_cold_page_list": page_alloc, "rmqueue_bulk": page_alloc,
              "release_pages": swap}
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
    if _cpage_alloc is None:
        # one line (no source line to show), and no colon before the reason, so a
        # filterwarnings entry can name the message (pyproject.toml's pytest section)
        warnings.warn_explicit(f"linuxvm compiled core not built ({_MISSING}); using the "
                               f"pure-Python accelerators", CompiledCoreMissing, "linuxvm", 0)
        return
    for name in COMPILED_NAMES:
        fn = getattr(_cpage_alloc, name)
        replace_body(name, fn)
        COMPILED[name] = fn
