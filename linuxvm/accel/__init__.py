"""The accelerator layer: faster stand-ins for named reference functions.

Each module here holds the accelerators of one kernel-named module (``accel/page_alloc.py``
for ``mm/page_alloc.py``, ...). Importing this package registers them all in
``linuxvm.lib.accel_registry.REGISTRY``; each ``Machine`` turns them on or off
(``Machine(fast=...)``, ``m.accel.set(name, on)``). An accelerator leaves exactly the state
its reference function leaves: ``linuxvm.accel.fingerprint`` and tests/test_accel.py prove
it, each accelerator alone and all together. See docs/accelerators.md.
"""

from ..lib.accel_registry import REGISTRY
from . import filemap, memory, mmap, mmu, swap, uaccess, uaccess_filemap  # noqa: F401 (registers)
from . import uaccess_one, uaccess_trace  # noqa: F401 (registers)
from . import ccore

ccore.install()          # the compiled bodies, where the extension is built

__all__ = ["REGISTRY", "memory"]
