"""linuxvm: an executable model of the Linux 4.6 memory manager (x86-64, one node, 4 KiB pages).

>>> import linuxvm as lv
>>> m = lv.Machine(ram="1G", cpus=2, seed=0)
>>> print(m.proc.read("/proc/buddyinfo"))
"""

from .errors import (KernelBug, SyscallError, Signal, SegmentationFault, BusError,
                     OutOfMemory, KernelPanic, OutOfMemoryPanic, ProcessKilled)
from .machine import Machine, Kernel
from .mm.gfp import parse_gfp, format_gfp
from .mm.mman import *  # noqa: F401,F403  PROT_*, MAP_*, MADV_*, MREMAP_*, MCL_*, MS_*, O_*
from .mm import mman as _mman
from .process import Process
from .ipc.shm import (IPC_PRIVATE, IPC_CREAT, IPC_EXCL, IPC_NOWAIT, IPC_RMID, IPC_SET,
                      IPC_STAT, IPC_INFO, SHM_RDONLY, SHM_RND, SHM_REMAP, SHM_EXEC,
                      SHM_HUGETLB, SHM_NORESERVE, SHM_DEST, SHM_LOCK, SHM_UNLOCK, SHM_STAT,
                      SHM_INFO, ShmidDs)
from . import helpers
from . import workloads
from . import viz          # light: its plotting modules (matplotlib) load on first use
from . import accel as _accel   # registers the accelerators (linuxvm/accel)

__version__ = "0.1.0"

__all__ = [
    "Machine", "Kernel",
    "KernelBug", "SyscallError", "Signal", "SegmentationFault", "BusError", "OutOfMemory",
    "KernelPanic", "OutOfMemoryPanic", "ProcessKilled",
    "parse_gfp", "format_gfp", "Process",
    "IPC_PRIVATE", "IPC_CREAT", "IPC_EXCL", "IPC_NOWAIT", "IPC_RMID", "IPC_SET", "IPC_STAT",
    "IPC_INFO", "SHM_RDONLY", "SHM_RND", "SHM_REMAP", "SHM_EXEC", "SHM_HUGETLB",
    "SHM_NORESERVE", "SHM_DEST", "SHM_LOCK", "SHM_UNLOCK", "SHM_STAT", "SHM_INFO", "ShmidDs",
] + _mman.__all__
