"""Exceptions the model raises: kernel errors, signals and the model's BUG()."""

import errno as _errno
import os as _os


class KernelBug(Exception):
    """An inconsistency inside the model: the model's BUG(). Always a defect."""


class SyscallError(OSError):
    """A system call failed with the kernel's errno (the -E… return value)."""

    def __init__(self, err: int, syscall: str = "", detail: str = ""):
        msg = _os.strerror(err)
        if syscall:
            msg = f"{syscall}: {msg}"
        if detail:
            msg = f"{msg} ({detail})"
        super().__init__(err, msg)
        self.syscall = syscall


class Signal(Exception):
    """A signal the kernel delivers for a memory access (force_sig_info)."""

    signo = 0
    name = "SIG?"

    def __init__(self, code: int, addr: int, detail: str = ""):
        self.code = code
        self.addr = addr
        super().__init__(f"{self.name} code={code} addr={addr:#x}" + (f": {detail}" if detail else ""))


class SegmentationFault(Signal):
    signo = 11
    name = "SIGSEGV"


class BusError(Signal):
    signo = 7
    name = "SIGBUS"


class ProcessKilled(Signal):
    """The process died of SIGKILL (the OOM killer's): raised by the call during which it
    was killed, or by its next use (si_code SI_KERNEL: a signal the kernel forced)."""

    signo = 9
    name = "SIGKILL"

    def __init__(self, pid: int = 0, detail: str = ""):
        self.pid = pid
        super().__init__(0x80, 0, detail or f"process {pid} was killed")


class OutOfMemory(Exception):
    """Memory the kernel cannot find: no OOM victim is left (4.6 panics; see
    OutOfMemoryPanic), or an allocation outside a process that fails."""


class KernelPanic(Exception):
    """The machine panicked (kernel/panic.c panic()); it refuses every use after this."""


class OutOfMemoryPanic(KernelPanic, OutOfMemory):
    """out_of_memory found nothing to kill: "Out of memory and no killable processes..."."""


def errno_name(err: int) -> str:
    return _errno.errorcode.get(err, str(err))
