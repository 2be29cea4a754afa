"""The ``Process`` façade: a task and the C-like system calls of the mmap family.

>>> p = m.spawn("prog", uid=1000)
>>> a = p.mmap(None, 1 << 20, lv.PROT_READ | lv.PROT_WRITE, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)

Each call runs with ``m.current`` set to the task, returns what the system call
returns, and raises ``SyscallError`` with the kernel's errno where the kernel fails.
"""

import errno
from collections.abc import Iterable, Mapping

from .arch.x86 import mmap as x86_mmap
from .arch.x86 import uaccess
from .arch.x86.uaccess import run_on_cpu
from .arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE, TASK_SIZE
from .errors import SyscallError, OutOfMemory, ProcessKilled
from .kernel import fork
from .kernel.exit import do_exit, exit_killed_task
from .kernel.fork import copy_process
from .kernel.time import account_work
from .include.capability import CAP_NUMBERS
from .include.sched import PF_RANDOMIZE
from .fs.hugetlbfs import hugetlb_file_setup, HPAGE_SIZE
from .kernel.sched import TaskStruct, Cred, parse_rlimits
from .mm.slab_common import slab_alloc_obj
from .mm import mmap as mmap_mod
from .mm.gup import mm_populate
from .mm import mlock as mlock_mod
from .mm.madvise import sys_madvise
from .mm.mman import (MAP_ANONYMOUS, MAP_HUGETLB, MAP_EXECUTABLE, MAP_DENYWRITE,
                      MAP_HUGE_SHIFT, MAP_HUGE_MASK, MAP_NORESERVE)
from .mm.mprotect import sys_mprotect
from .mm.mremap import sys_mremap
from .mm.msync import sys_msync
from .fs import read_write as rw
from .fs.exec import sys_execve
from .fs import binfmt_elf      # noqa: F401  (registers the ELF format: init_elf_binfmt)
from .fs.fs_writeback import sys_sync
from .ipc import shm as ipc_shm

ELF_ET_DYN_BASE = TASK_SIZE // 3 * 2
U64 = (1 << 64) - 1
U32 = (1 << 32) - 1
LONG_MIN = -(1 << 63)
INT_MIN = -(1 << 31)


def _u64(name, value, allow_none=False):
    """An ``unsigned long`` argument as the C ABI passes it: ints a C caller could write
    (from LONG_MIN, as -1 is ULONG_MAX, up to ULONG_MAX) become their 64-bit value.

    :raises TypeError: not an int (None only where ``allow_none``)
    :raises ValueError: an int no C caller can pass (it would not fit 64 bits)
    """
    if value.__class__ is int:          # the common case, checked first (bool is not int)
        if LONG_MIN <= value <= U64:
            return value & U64
        raise ValueError(f"{name} {value!r} does not fit an unsigned long (64 bits)")
    if value is None and allow_none:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    return _u64(name, int(value))       # an int subclass (IntFlag): its plain value


def _s32(name, value):
    """An ``int`` argument as the kernel sees it: the low 32 bits, signed."""
    v = _u32(name, value)
    return v - (1 << 32) if v >= 1 << 31 else v


def _u32(name, value):
    """An ``int`` or ``unsigned int`` argument: INT_MIN..UINT_MAX, kept as its low 32 bits.

    :raises TypeError: not an int
    :raises ValueError: an int no C caller can pass in 32 bits
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if not INT_MIN <= value <= U32:
        raise ValueError(f"{name} {value!r} does not fit a 32-bit int")
    return int(value) & U32


def _length(name, value):
    """A byte count for the CPU-access helpers (read, touch): an int from 0 to 2^64 - 1.

    :raises TypeError: not an int
    :raises ValueError: negative or above 64 bits
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if not 0 <= value <= U64:
        raise ValueError(f"{name} must be from 0 to 2**64 - 1, not {value!r}")
    return int(value)


def spawn(m, comm="prog", uid=1000, rlimits=None, gid=None, caps=None):
    """Create a task with an empty address space laid out by arch_pick_mmap_layout.

    :param comm: the task name (truncated to 15 bytes as TASK_COMM_LEN does)
    :param uid: 0 gives CAP_SYS_ADMIN, CAP_IPC_LOCK, CAP_SYS_RESOURCE, CAP_SYS_RAWIO
    :param rlimits: ``{"RLIMIT_STACK": soft | (soft, hard), …}`` for DATA, STACK, MEMLOCK, AS
    :param gid: the group id (default: the uid)
    :param caps: explicit capability names (an iterable of "CAP_…" strings from 4.6's
        list), overriding the uid rule
    :raises TypeError: rlimits not a mapping, caps not an iterable of strings
    :raises ValueError: a bad comm, uid, gid, rlimit or capability name
    :raises OutOfMemory: no memory for the PGD
    """
    if not isinstance(comm, str) or not comm:
        raise ValueError(f"comm must be a non-empty string, not {comm!r}")
    if isinstance(uid, bool) or not isinstance(uid, int) or not 0 <= uid < 1 << 32:
        raise ValueError(f"uid must be an integer in [0, 2^32), not {uid!r}")
    if gid is not None and (isinstance(gid, bool) or not isinstance(gid, int) or
                            not 0 <= gid < 1 << 32):
        raise ValueError(f"gid must be an integer in [0, 2^32), not {gid!r}")
    if rlimits is not None:
        if not isinstance(rlimits, Mapping):
            raise TypeError(f"rlimits must be a mapping such as {{'RLIMIT_STACK': 1 << 20}}, "
                            f"not {rlimits!r}")
        for key, val in rlimits.items():
            pair = val if isinstance(val, (tuple, list)) and len(val) == 2 else (val,)
            if any(v is not None and (isinstance(v, bool) or not isinstance(v, int))
                   for v in pair):
                raise TypeError(f"rlimit {key!r} must be an int, None or a (soft, hard) pair "
                                f"of them, not {val!r}")
    if caps is not None:
        if isinstance(caps, (str, bytes)) or not isinstance(caps, Iterable):
            raise TypeError(f"caps must be an iterable of capability names, not {caps!r}")
        caps = list(caps)
        for cap in caps:
            if not isinstance(cap, str) or cap not in CAP_NUMBERS:
                raise ValueError(f"caps: unknown capability {cap!r} (4.6 names CAP_CHOWN "
                                 f"... CAP_AUDIT_READ)")
    limits = parse_rlimits(rlimits)
    pid = m.next_pid
    task = TaskStruct(pid, comm, Cred(uid, gid, caps))
    task.signal.rlim.update(limits)
    if m.aslr:                                  # randomize_va_space = 2
        task.flags |= PF_RANDOMIZE
    mm = fork.mm_alloc(m, task)
    if mm is None:
        raise OutOfMemory("no memory for the page global directory")
    m.next_pid += 1
    slab_alloc_obj(m, "task_struct", task)
    task.mm = task.active_mm = mm
    x86_mmap.arch_pick_mmap_layout(m, task, mm)
    # an empty ET_DYN image at the 4.6 PIE base: the heap starts where its bss would end
    base = ELF_ET_DYN_BASE & ~(PAGE_SIZE - 1)
    if task.flags & PF_RANDOMIZE:
        base += x86_mmap.arch_mmap_rnd(m)
    mm.start_code = mm.end_code = mm.start_data = mm.end_data = base
    mm.start_brk = mm.brk = base
    if task.flags & PF_RANDOMIZE:
        mm.start_brk = mm.brk = x86_mmap.arch_randomize_brk(m, mm)
        task.brk_randomized = True
    m.tasks[pid] = task
    return Process(m, task)


class Process:
    """A task and its system calls (DESIGN §4)."""

    __slots__ = ("m", "task")

    def __init__(self, m, task):
        self.m = m
        self.task = task

    def __repr__(self):
        return f"<Process {self.task.pid} {self.task.comm}>"

    @property
    def pid(self) -> int:
        return self.task.pid

    @property
    def mm(self):
        return self.task.mm

    # -- plumbing -------------------------------------------------------------------
    def _as_current(self, fn, *args):
        """Run ``fn(m, *args)`` with this task as ``m.current`` (it is the running task
        during its own system calls); a dead task is never left current."""
        m = self.m
        task = self.task
        saved = m.current
        if task.mm is not None and getattr(m, "cpus", None):
            # a system call runs on the CPU the task is scheduled on
            run_on_cpu(m, task)
        m.current = task
        try:
            return fn(m, *args)
        finally:
            m.current = saved if saved is not task or task.mm is not None else None
            account_work(m, 1)          # the system call's time (linuxvm/kernel/time.py)

    def _call(self, name, fn, *args):
        """_as_current for a live task, turning a negative return into SyscallError."""
        m = self.m
        task = self.task
        if task.mm is None or task.sigkill or m.oom.panic_msg is not None:
            self._not_runnable()
        saved = m.current
        cpu = m.cpus[task.cpu]          # (a booted machine always has its CPUs)
        if cpu.current is task:
            m.current_cpu = cpu.cpu     # run_on_cpu without a switch, the usual case
        else:
            run_on_cpu(m, task)
        m.current = task
        try:
            ret = fn(m, *args)
        except ProcessKilled:
            m.current = saved if saved is not task else None
            self._killed()
        finally:
            if m.current is task:
                m.current = saved if saved is not task or task.mm is not None else None
            account_work(m, 1)          # the system call's time (linuxvm/kernel/time.py)
        if task.sigkill:
            self._killed()              # killed during the call: it dies on the way out
        if isinstance(ret, int) and ret < 0:
            raise SyscallError(-ret, name)
        return ret

    def _not_runnable(self):
        """Raise why this process cannot run: the machine panicked, the process was
        killed (it dies now if it has not yet), or it exited."""
        task = self.task
        self.m.check_alive()
        if task.sigkill:
            self._killed()
        raise ValueError(f"process {task.pid} has exited")

    def _killed(self):
        """SIGKILL is pending: the task exits now if it has not, and the call raises
        ProcessKilled (get_signal -> do_group_exit on the way back to user mode)."""
        task = self.task
        if task.mm is not None:
            exit_killed_task(self.m, task)
        raise ProcessKilled(task.pid)

    # -- the mmap family ------------------------------------------------------------
    def mmap(self, addr, length, prot, flags, fd=-1, offset=0) -> int:
        """mmap(2): the mapped address."""
        if addr is None:
            addr = 0                    # no hint
        if addr.__class__ is int and length.__class__ is int and prot.__class__ is int and \
                flags.__class__ is int and fd.__class__ is int and offset.__class__ is int \
                and LONG_MIN <= addr <= U64 and LONG_MIN <= length <= U64 and \
                LONG_MIN <= prot <= U64 and LONG_MIN <= flags <= U64 and \
                LONG_MIN <= fd <= U64 and LONG_MIN <= offset <= U64:
            # plain ints (the common case): what _u64 would return, without six calls
            return self._call("mmap", self._sys_mmap, addr & U64, length & U64, prot & U64,
                              flags & U64, fd & 0xFFFFFFFF, offset & U64)
        args = (_u64("addr", addr, True), _u64("length", length), _u64("prot", prot),
                _u64("flags", flags), _u64("fd", fd) & 0xFFFFFFFF, _u64("offset", offset))
        return self._call("mmap", self._sys_mmap, *args)

    def _sys_mmap(self, m, addr, length, prot, flags, fd, off):
        if off & (PAGE_SIZE - 1):
            return -errno.EINVAL
        pgoff = off >> PAGE_SHIFT
        file = None
        if not flags & MAP_ANONYMOUS:
            file = self.task.files.get(fd)
            if file is None:
                return -errno.EBADF
            if flags & MAP_HUGETLB and not file.inode.is_hugetlbfs:
                return -errno.EINVAL
        elif flags & MAP_HUGETLB:
            sizelog = (flags >> MAP_HUGE_SHIFT) & MAP_HUGE_MASK
            if sizelog not in (0, 21):          # only the 2 MiB hstate exists
                return -errno.EINVAL
            if not flags & MAP_NORESERVE:
                return -errno.ENOMEM             # hugetlb_reserve_pages: no huge pages
            length = (length + HPAGE_SIZE - 1) & ~(HPAGE_SIZE - 1)
            file = hugetlb_file_setup(m, length)
        flags &= ~(MAP_EXECUTABLE | MAP_DENYWRITE)    # ignored from user space
        ret, populate = mmap_mod.do_mmap(m, file, addr, length, prot, flags, 0, pgoff)
        if file is not None and file.inode.is_hugetlbfs and not self.task.files.get(fd) is file:
            file.fput()                          # mmap_pgoff drops the setup reference
        if ret >= 0 and populate:
            mm_populate(m, ret, populate)
        return ret

    def munmap(self, addr, length) -> int:
        """munmap(2): 0; unmapping nothing is success."""
        if addr.__class__ is int and length.__class__ is int and LONG_MIN <= addr <= U64 \
                and LONG_MIN <= length <= U64:
            return self._call("munmap", mmap_mod.vm_munmap, addr & U64, length & U64)
        return self._call("munmap", mmap_mod.vm_munmap, _u64("addr", addr),
                          _u64("length", length))

    def mprotect(self, addr, length, prot) -> int:
        """mprotect(2): 0; PROT_GROWSDOWN extends to the VMA start."""
        return self._call("mprotect", sys_mprotect, _u64("addr", addr), _u64("length", length),
                          _u64("prot", prot))

    def mremap(self, old, old_len, new_len, flags=0, new_addr=None) -> int:
        """mremap(2): the (possibly new) address; ``new_addr`` only with MREMAP_FIXED."""
        return self._call("mremap", sys_mremap, _u64("old", old), _u64("old_len", old_len),
                          _u64("new_len", new_len), _u64("flags", flags),
                          _u64("new_addr", new_addr, True))

    def brk(self, addr=0) -> int:
        """brk(2) as the system call returns it: the new break, or the old one on failure
        (brk(0) returns the current break)."""
        return self._call("brk", mmap_mod.sys_brk, _u64("addr", addr, True))

    def madvise(self, addr, length, advice) -> int:
        """madvise(2): 0; ENOMEM after advising what is mapped when the range has holes."""
        return self._call("madvise", sys_madvise, _u64("addr", addr), _u64("length", length),
                          _u32("advice", advice))

    def mlock(self, addr, length) -> int:
        """mlock(2): 0; the range is locked and populated."""
        return self._call("mlock", mlock_mod.sys_mlock, _u64("addr", addr),
                          _u64("length", length))

    def mlock2(self, addr, length, flags=0) -> int:
        """mlock2(2): 0; MLOCK_ONFAULT locks without populating."""
        return self._call("mlock2", mlock_mod.sys_mlock2, _u64("addr", addr),
                          _u64("length", length), _u32("flags", flags))

    def munlock(self, addr, length) -> int:
        """munlock(2): 0."""
        return self._call("munlock", mlock_mod.sys_munlock, _u64("addr", addr),
                          _u64("length", length))

    def mlockall(self, flags) -> int:
        """mlockall(2): 0; MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT."""
        return self._call("mlockall", mlock_mod.sys_mlockall, _u32("flags", flags))

    def munlockall(self) -> int:
        """munlockall(2): 0."""
        return self._call("munlockall", mlock_mod.sys_munlockall)

    def msync(self, addr, length, flags) -> int:
        """msync(2): 0; MS_SYNC writes the dirty pages of shared file mappings in the
        range to disk, MS_ASYNC and MS_INVALIDATE do nothing more (4.6)."""
        return self._call("msync", sys_msync, _u64("addr", addr), _u64("length", length),
                          _u32("flags", flags))

    # -- System V shared memory ---------------------------------------------------------
    def shmget(self, key, size, shmflg=0) -> int:
        """shmget(2): the segment's shmid (IPC_PRIVATE, or a key with IPC_CREAT/IPC_EXCL
        and the mode's low nine bits)."""
        return self._call("shmget", ipc_shm.sys_shmget, _s32("key", key), _u64("size", size),
                          _s32("shmflg", shmflg))

    def shmat(self, shmid, shmaddr=0, shmflg=0) -> int:
        """shmat(2): the address the segment is attached at (SHM_RDONLY, SHM_RND,
        SHM_REMAP, SHM_EXEC)."""
        return self._call("shmat", ipc_shm.do_shmat, _s32("shmid", shmid),
                          _u64("shmaddr", shmaddr if shmaddr is not None else 0),
                          _s32("shmflg", shmflg))

    def shmdt(self, shmaddr) -> int:
        """shmdt(2): 0; the attach starting at ``shmaddr`` is unmapped."""
        return self._call("shmdt", ipc_shm.sys_shmdt, _u64("shmaddr", shmaddr))

    def shmctl(self, shmid, cmd):
        """shmctl(2): IPC_STAT gives a ``ShmidDs`` (shm_segsz, shm_nattch, shm_cpid,
        shm_lpid, shm_perm.key/mode/uid/cuid); IPC_RMID gives 0."""
        shmid, cmd = _s32("shmid", shmid), _s32("cmd", cmd)
        out = []

        def do_shmctl(m, shmid, cmd):
            ret = ipc_shm.sys_shmctl(m, shmid, cmd)
            if isinstance(ret, int):
                return ret
            out.append(ret)
            return 0
        ret = self._call("shmctl", do_shmctl, shmid, cmd)
        return out[0] if out else ret

    # -- files ----------------------------------------------------------------------
    def open(self, path, flags=0, mode=0o666) -> int:
        """open(2) on the model's VFS: the lowest free fd from 3 (0-2 are stdio).

        :raises TypeError: ``path`` not a str or ``flags`` not an int
        :raises SyscallError: the kernel's errno (EINVAL for flags build_open_flags refuses)
        """
        if not isinstance(path, str):
            raise TypeError(f"path must be a str, not {path!r}")
        files = self.task.files
        cred = self.task.cred

        def do_open(m, path, flags):
            f = m.vfs.open(path, flags, mode, cred)
            if isinstance(f, int):
                return f
            fd = 3
            while fd in files:
                fd += 1
            files[fd] = f
            return fd
        return self._call("open", do_open, path, _u32("flags", flags))

    def close(self, fd) -> int:
        """close(2): 0, or EBADF."""
        def do_close(m, fd):
            f = self.task.files.pop(fd, None)
            if f is None:
                return -errno.EBADF
            f.fput()
            return 0
        return self._call("close", do_close, _u32("fd", fd))

    # -- lifetime -------------------------------------------------------------------
    def exit(self, code: int = 0) -> None:
        """exit(2): close files, exit_mm (mmput tears the address space down), reap.

        :param code: the exit status, a C int (its low 8 bits are what a parent sees)
        :raises TypeError: ``code`` not an int
        :raises ValueError: ``code`` does not fit 32 bits, or the process has exited
        """
        _u32("code", code)
        task = self.task
        if task.sigkill or self.m.oom.panic_msg is not None:
            self._not_runnable()
        if task.mm is None:
            raise ValueError(f"process {task.pid} has already exited")
        self._as_current(do_exit, task)

    def fork(self) -> "Process":
        """fork(2): a child with a copy-on-write copy of the address space.

        :raises SyscallError: ENOMEM when the child's mm cannot be built
        """
        m = self.m
        if self.task.mm is None or self.task.sigkill or m.oom.panic_msg is not None:
            self._not_runnable()
        try:
            child = self._as_current(copy_process, self.task)
        except ProcessKilled:
            self._killed()
        if self.task.sigkill:
            # copy_process's last check: a fatal signal arrived, the child is undone
            if child is not None:
                exit_killed_task(m, child)
            self._killed()
        if child is None:
            raise SyscallError(errno.ENOMEM, "fork")
        return Process(m, child)

    def execve(self, path, argv, envp=None) -> int:
        """execve(2): replace the address space with the program at ``path`` (an ELF
        file in the model's filesystem, e.g. from ``m.fs.import_host``); 0. The process
        stops where it would enter user mode: ``p.task.ip`` is the entry point and
        ``p.sp`` the initial stack pointer.

        >>> m.fs.import_host("/bin/true"); m.fs.import_host("/lib64/ld-linux-x86-64.so.2")
        >>> p.execve("/bin/true", ["true"], ["HOME=/"])

        :param argv: the argument strings (str or bytes, no NUL), or None for a NULL array
        :param envp: the environment strings, likewise
        :raises TypeError: ``path`` not a str, a string neither str nor bytes
        :raises ValueError: a string holding a NUL byte
        :raises SyscallError: 4.6's errno (ENOENT, EACCES, ENOEXEC, E2BIG, ETXTBSY, ENOMEM)
        :raises ProcessKilled: the load failed after the old address space was gone (4.6
            kills the process with SIGSEGV)
        """
        if not isinstance(path, str):
            raise TypeError(f"path must be a str, not {path!r}")
        for name, strings in (("argv", argv), ("envp", envp)):
            if strings is not None and (isinstance(strings, (str, bytes)) or
                                        not isinstance(strings, Iterable)):
                raise TypeError(f"{name} must be a list of strings or None, not {strings!r}")
        argv = None if argv is None else list(argv)
        envp = None if envp is None else list(envp)
        return self._call("execve", sys_execve, path, argv, envp)

    def personality(self, persona=0xFFFFFFFF) -> int:
        """personality(2): set the execution domain (e.g. ADDR_NO_RANDOMIZE, as
        ``setarch -R`` does before exec); the old one. 0xffffffff only queries
        (kernel/exec_domain.c)."""
        persona = _u32("persona", persona)

        def sys_personality(m, persona):
            old = self.task.personality
            if persona != 0xFFFFFFFF:
                self.task.personality = persona
            return old
        return self._call("personality", sys_personality, persona)

    # -- memory accesses (the CPU, not a system call) ---------------------------------
    @property
    def sp(self) -> int:
        """The user stack pointer the fault handler compares stack accesses with."""
        return self.task.sp

    @sp.setter
    def sp(self, value: int) -> None:
        self.task.sp = _u64("sp", value)

    def _live(self):
        if self.task.mm is None or self.task.sigkill or self.m.oom.panic_msg is not None:
            self._not_runnable()
        return self.m

    def _user(self, fn, *args):
        """A user-mode access; a SIGKILL it receives kills the process."""
        m = self._live()
        try:
            return fn(m, self.task, *args)
        except ProcessKilled:
            self._killed()
        finally:
            account_work(m)             # the faults' time (linuxvm/kernel/time.py)

    def read(self, addr: int, n: int) -> bytes:
        """Read ``n`` bytes at ``addr`` as the process would (faulting pages in).

        :raises TypeError: ``addr`` or ``n`` not an int
        :raises ValueError: ``n`` negative, or either outside 64 bits
        :raises SegmentationFault: the kernel answers with SIGSEGV
        :raises ProcessKilled: the OOM killer killed the process (now or before)
        """
        return self._user(uaccess.read_user, _u64("addr", addr), _length("n", n))

    def write(self, addr: int, data: bytes) -> None:
        """Write ``data`` at ``addr`` (faulting and COW-breaking pages as needed).

        :param data: bytes, bytearray or memoryview (an int is refused, not turned into
            that many zero bytes as ``bytes(5)`` would)
        :raises TypeError: ``data`` not bytes-like, or ``addr`` not an int
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes, bytearray or memoryview, not "
                            f"{type(data).__name__}")
        self._user(uaccess.write_user, _u64("addr", addr), bytes(data))

    def touch(self, addr: int, length: int, write: bool = False, bulk: bool = True) -> None:
        """Access every page of [addr, addr+length) once, reading or writing.

        ``bulk`` lets the machine's ``touch_bulk`` accelerator fault runs of never-touched
        pages a 2 MiB chunk at a time; it leaves exactly the state the one-access-at-a-time
        path (``bulk=False``, or the accelerator off) leaves.

        :raises TypeError: ``addr`` or ``length`` not an int
        :raises ValueError: ``length`` negative, or either outside 64 bits
        """
        # _user written out, the arguments' common case checked first: one page's touch
        # is a benchmark of its own (benchmarks/__main__.py), and each layer costs
        if addr.__class__ is not int or not 0 <= addr <= U64:
            addr = _u64("addr", addr)
        if length.__class__ is not int or not 0 <= length <= U64:
            length = _length("length", length)
        m = self.m
        task = self.task
        if task.mm is None or task.sigkill or m.oom.panic_msg is not None:
            self._not_runnable()
        try:
            uaccess.touch(m, task, addr, length, write, bulk)
        except ProcessKilled:
            self._killed()
        finally:
            account_work(m)             # the faults' time (linuxvm/kernel/time.py)

    def access(self, addr: int, kind: str = "r") -> int:
        """One access of kind "r", "w" or "x"; returns the physical address used.

        :raises TypeError: ``kind`` not a str, ``addr`` not an int
        :raises ValueError: ``kind`` none of "r", "w", "x"
        """
        if kind.__class__ is not str and not isinstance(kind, str):
            raise TypeError(f"kind must be 'r', 'w' or 'x', not {kind!r}")
        # _user written out, as in touch
        if addr.__class__ is not int or not 0 <= addr <= U64:
            addr = _u64("addr", addr)
        m = self.m
        task = self.task
        if task.mm is None or task.sigkill or m.oom.panic_msg is not None:
            self._not_runnable()
        try:
            return uaccess.access(m, task, addr, kind)
        except ProcessKilled:
            self._killed()
        finally:
            account_work(m)             # the faults' time (linuxvm/kernel/time.py)

    def access_batch(self, addrs, kinds: str) -> dict:
        """Many accesses in order, as a recorded trace makes them: ``access(addrs[i],
        kinds[i])`` for each; what they cost: ``accesses``, ``tlb_hits`` (L1),
        ``stlb_hits``, ``tlb_misses`` (page walks after a miss) and ``faults`` (minor and
        major page faults of this process).

        >>> p.access_batch([a, a + 8, a + 4096], "rww")["accesses"]
        3

        :param addrs: a sequence of user addresses
        :param kinds: a str of "r", "w", "x", one per address
        :raises TypeError: ``kinds`` not a str
        :raises ValueError: lengths differ, a kind none of "r", "w", "x", or an address
            outside 64 bits
        :raises SegmentationFault: an access the kernel answers with SIGSEGV (the accesses
            before it are made, the rest are not)
        """
        if not isinstance(kinds, str):
            raise TypeError(f"kinds must be a str of 'r', 'w', 'x', not {kinds!r}")
        if addrs.__class__ is not list:
            addrs = list(addrs)
        if len(addrs) != len(kinds):
            raise ValueError(f"{len(addrs)} addresses but {len(kinds)} kinds")
        bad = set(kinds) - set("rwx")
        if bad:
            raise ValueError(f"access kinds must be 'r', 'w' or 'x', not {sorted(bad)}")
        if addrs and (set(map(type, addrs)) != {int} or min(addrs) < 0
                      or max(addrs) >= 1 << 64):
            addrs = [_u64("addr", a) for a in addrs]
        m = self._live()
        task = self.task
        tlb = m.cpus[task.cpu].tlb
        before = (tlb.hits, tlb.stlb_hits, tlb.misses, task.min_flt + task.maj_flt)
        try:
            self._user(uaccess.access_batch, addrs, kinds)
        finally:
            tlb = m.cpus[task.cpu].tlb
            after = (tlb.hits, tlb.stlb_hits, tlb.misses, task.min_flt + task.maj_flt)
        return {"accesses": len(addrs), "tlb_hits": after[0] - before[0],
                "stlb_hits": after[1] - before[1], "tlb_misses": after[2] - before[2],
                "faults": after[3] - before[3]}

    # -- file I/O system calls (fs/read_write.c, fs/open.c, fs/sync.c, mm/fadvise.c) -------
    # read(2)/write(2) are ``sys_read``/``sys_write``: ``read``/``write`` above are the
    # CPU's loads and stores to user memory. Buffers are user addresses in this process:
    # the bytes move between the file and its memory as copy_to_user/copy_from_user
    # move them (faulting the buffer in; EFAULT when nothing could be copied).
    def _fd(self, fd):
        if fd.__class__ is not int:
            if isinstance(fd, bool) or not isinstance(fd, int):
                raise TypeError(f"fd must be an int, not {fd!r}")
        return fd

    def _count(self, name, n):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"{name} must be a non-negative int, not {n!r}")
        return n

    def _loff(self, name, v):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an int, not {v!r}")
        return v

    def sys_read(self, fd, buf, count) -> int:
        """read(2): ``count`` bytes from the file position into user memory at ``buf``;
        the bytes read (0 at EOF)."""
        return self._call("read", rw.sys_read, self.task, self._fd(fd), _u64("buf", buf),
                          self._count("count", count))

    def sys_write(self, fd, buf, count) -> int:
        """write(2): ``count`` bytes of user memory at ``buf`` to the file position (the
        end with O_APPEND); the bytes written."""
        return self._call("write", rw.sys_write, self.task, self._fd(fd), _u64("buf", buf),
                          self._count("count", count))

    def pread(self, fd, buf, count, offset) -> int:
        """pread64(2): read at ``offset`` without moving the file position."""
        return self._call("pread64", rw.sys_pread64, self.task, self._fd(fd),
                          _u64("buf", buf), self._count("count", count),
                          self._loff("offset", offset))

    def pwrite(self, fd, buf, count, offset) -> int:
        """pwrite64(2): write at ``offset`` without moving the file position."""
        return self._call("pwrite64", rw.sys_pwrite64, self.task, self._fd(fd),
                          _u64("buf", buf), self._count("count", count),
                          self._loff("offset", offset))

    def lseek(self, fd, offset, whence) -> int:
        """lseek(2): the new file position (SEEK_SET, SEEK_CUR, SEEK_END)."""
        return self._call("lseek", rw.sys_lseek, self.task, self._fd(fd),
                          self._loff("offset", offset), self._loff("whence", whence))

    def ftruncate(self, fd, length) -> int:
        """ftruncate(2): 0; the page cache and mappings past the new size go."""
        return self._call("ftruncate", rw.do_sys_ftruncate, self.task, self._fd(fd),
                          self._loff("length", length))

    def unlink(self, path) -> int:
        """unlink(2): 0; the inode lives on while open files and mappings hold it."""
        if not isinstance(path, str):
            raise TypeError(f"path must be a str, not {path!r}")
        return self._call("unlink", rw.sys_unlink, self.task, path)

    def fsync(self, fd) -> int:
        """fsync(2): 0 once the file's dirty pages are written to its disk."""
        return self._call("fsync", rw.do_fsync, self.task, self._fd(fd), False)

    def fdatasync(self, fd) -> int:
        """fdatasync(2): as fsync (the model keeps no metadata to skip)."""
        return self._call("fdatasync", rw.do_fsync, self.task, self._fd(fd), True)

    def sync(self) -> int:
        """sync(2): 0 once every dirty page of every disk filesystem is written (the
        flushers run the queued work at once)."""
        return self._call("sync", sys_sync)

    def posix_fadvise(self, fd, offset, length, advice) -> int:
        """posix_fadvise(2) as the fadvise64 system call: 0 (errno on failure, where
        glibc would return it)."""
        return self._call("fadvise64", rw.sys_fadvise64, self.task, self._fd(fd),
                          self._loff("offset", offset), self._loff("length", length),
                          self._loff("advice", advice))
