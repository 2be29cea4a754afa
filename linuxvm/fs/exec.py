"""execve: a new address space for a program (fs/exec.c).

>>> p.execve("/bin/true", ["true"], ["PATH=/bin"])

``do_execveat_common`` opens the file (``do_open_execat``: EACCES, ENOENT, ETXTBSY),
builds a new mm with a one-page stack VMA at STACK_TOP_MAX (``bprm_mm_init``), copies
the file name, the environment and the arguments onto it (``copy_strings``, E2BIG by
4.6's limits), reads the first 128 bytes (``prepare_binprm``) and asks the binary
formats to load it (``search_binary_handler``; only ELF is registered). The loader
calls back ``flush_old_exec`` (the old mm goes, as exit's mmput would drop it),
``setup_new_exec`` (the mmap layout) and ``setup_arg_pages`` (the stack moved to its
final place and grown by 128 KiB).

The strings come from the caller as Python ``str``/``bytes``, not from the old
process's memory (where the real call reads them with copy_from_user).
"""

import errno

from ..arch.x86.cpu import switch_mm
from ..arch.x86.page_types import PAGE_SIZE, PAGE_MASK, STACK_TOP_MAX, TASK_SIZE
from ..arch.x86.pgtable_types import vm_get_page_prot
from ..include.mm import (VM_SOFTDIRTY, VM_STACK_FLAGS, VM_STACK_INCOMPLETE_SETUP, VM_EXEC,
                          VM_INIT_DEF_MASK)
from ..include.personality import ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC
from ..include.resource import RLIMIT_STACK
from ..include.sched import PF_RANDOMIZE
from ..kernel.fork import mm_alloc, mmput, mmdrop
from ..arch.x86 import mmap as x86_mmap
from ..mm.gup import __get_user_pages, follow_page_pte, FOLL_WRITE, FOLL_FORCE, FOLL_TOUCH
from ..mm.memory import sync_mm_rss, tlb_gather_mmu, tlb_finish_mmu, next_content_tag
from ..mm.memory.free_pgtables import free_pgd_range
from ..mm.mm_types import MM_ANONPAGES
from ..mm.mman import O_RDONLY
from ..mm.mmap import insert_vm_struct, vm_area_alloc, vma_adjust, USER_PGTABLES_CEILING
from ..mm.mmap_stack import expand_stack, find_extend_vma
from ..mm.mprotect import mprotect_fixup
from ..mm.mremap import move_page_tables
from ..mm.slab_common import slab_free_obj
from ..mm.swap import lru_add_drain
from ..mm.vma import find_vma
from .file import S_IFMT, S_IFREG, S_IFDIR

BINPRM_BUF_SIZE = 128
MAX_ARG_STRLEN = PAGE_SIZE * 32
MAX_ARG_STRINGS = 0x7FFFFFFF
ARG_MAX = 131072                       # include/uapi/linux/limits.h: bytes of args + environ
STACK_EXPAND = 131072                  # setup_arg_pages: 32 pages more below the strings
EXSTACK_DEFAULT, EXSTACK_DISABLE_X, EXSTACK_ENABLE_X = 0, 1, 2
FMODE_EXEC = 0x20
O_CLOEXEC = 0o2000000
S_IXUGO = 0o111
MAY_EXEC = 1


class LinuxBinprm:
    """struct linux_binprm: what exec knows about the program while it loads it."""

    __slots__ = ("buf", "vma", "vma_pages", "mm", "p", "file", "filename", "interp",
                 "exec", "argc", "envc", "argv", "envp", "per_clear", "recursion_depth",
                 "loader")

    def __init__(self):
        self.buf = b""
        self.vma = None
        self.vma_pages = 0
        self.mm = None
        self.p = 0
        self.file = None
        self.filename = ""
        self.interp = ""
        self.exec = 0
        self.argc = self.envc = 0
        self.argv = []                 # the strings as copied, each with its NUL
        self.envp = []
        self.per_clear = 0
        self.recursion_depth = 0
        self.loader = 0


class LinuxBinfmt:
    """struct linux_binfmt: a loader, ``load_binary(m, bprm) -> 0 or -errno``."""

    __slots__ = ("name", "load_binary")

    def __init__(self, name: str, load_binary):
        self.name = name
        self.load_binary = load_binary

    def __repr__(self):
        return f"<linux_binfmt {self.name}>"


# the registered formats (register_binfmt), tried in order; binfmt_elf registers itself
formats = []


def register_binfmt(fmt) -> None:
    formats.append(fmt)


# -- the executable file ------------------------------------------------------------------

def exec_permission(inode, cred) -> int:
    """inode_permission(MAY_EXEC) on the owner and other bits (generic_permission; the
    model has no groups): root needs one execute bit (CAP_DAC_OVERRIDE)."""
    mode = inode.i_mode
    if cred is None or cred.euid == 0:
        return 0 if mode & S_IXUGO else -errno.EACCES
    bits = (mode >> 6) if cred.euid == inode.i_uid else mode
    return 0 if bits & MAY_EXEC else -errno.EACCES


def deny_write_access(file) -> int:
    """Keep writers out while the file is executed; -ETXTBSY if one has it open."""
    inode = file.inode
    if inode.i_writecount > 0:
        return -errno.ETXTBSY
    inode.i_writecount -= 1
    return 0


def allow_write_access(file) -> None:
    if file is not None:
        file.inode.i_writecount += 1


def do_open_execat(m, name: str, cred):
    """Open ``name`` for execution: a File, or -errno (ENOENT, EACCES for a directory, a
    special file, a noexec mount or no execute permission, ETXTBSY)."""
    vfs = m.vfs
    if name in vfs.dirs:
        inode = vfs.dirs[name]
    else:
        inode = vfs.files.get(name)
        if inode is None:
            return -errno.ENOENT
    err = exec_permission(inode, cred)
    if err:
        return err
    if inode.i_mode & S_IFMT == S_IFDIR:
        return -errno.EACCES
    file = vfs.open(name, O_RDONLY | FMODE_EXEC, 0o666, None)
    if isinstance(file, int):
        return file
    err = 0
    if inode.i_mode & S_IFMT != S_IFREG or inode.i_fop is not None:
        err = -errno.EACCES
    elif inode.sb is not None and inode.sb.noexec:        # path_noexec
        err = -errno.EACCES
    else:
        err = deny_write_access(file)
    if err:
        file.fput()
        return err
    return file


def open_exec(m, name: str):
    """The interpreter's file, opened as the binary was (fs/exec.c open_exec)."""
    return do_open_execat(m, name, m.current.cred)


def kernel_read(m, file, offset: int, count: int):
    """``count`` bytes of ``file`` at ``offset`` through the page cache (vfs_read into a
    kernel buffer); bytes (short at the end of the file) or -errno."""
    if not file.f_mode_read:
        return -errno.EBADF
    out = bytearray()

    def copy(pfn: int, off: int, nr: int) -> int:
        page = m.page_contents.get(pfn)
        out.extend(page[off:off + nr] if page is not None else bytes(nr))
        return nr
    ret = file.f_op.read_iter(m, file, offset, count, copy)
    if ret < 0:
        return ret
    return bytes(out)


# -- the new mm and its temporary stack ---------------------------------------------------

def __bprm_mm_init(m, bprm) -> int:
    """The temporary stack: one page just below STACK_TOP_MAX; bprm->p at its top word."""
    mm = bprm.mm
    flags = VM_SOFTDIRTY | VM_STACK_FLAGS | VM_STACK_INCOMPLETE_SETUP
    vma = vm_area_alloc(m, mm, STACK_TOP_MAX - PAGE_SIZE, STACK_TOP_MAX, flags)
    vma.vm_page_prot = vm_get_page_prot(flags)
    err = insert_vm_struct(m, mm, vma)
    if err:
        slab_free_obj(m, "vm_area_struct", vma)
        return err
    bprm.vma = vma
    mm.stack_vm = mm.total_vm = 1
    bprm.p = vma.vm_end - 8            # a zero word stays at the very top
    return 0


def bprm_mm_init(m, bprm) -> int:
    mm = mm_alloc(m, m.current)
    if mm is None:
        return -errno.ENOMEM
    old = m.current.mm
    if old is not None:
        # mm_init: of the caller's default VMA flags only VM_NOHUGEPAGE survives exec
        mm.def_flags = old.def_flags & VM_INIT_DEF_MASK
    bprm.mm = mm
    err = __bprm_mm_init(m, bprm)
    if err:
        bprm.mm = None
        mmdrop(m, mm)
    return err


def acct_arg_size(m, bprm, pages: int) -> None:
    """Charge the new stack's pages to the old mm's anon RSS while exec builds it, so the
    OOM killer sees them (fs/exec.c acct_arg_size)."""
    mm = m.current.mm
    diff = pages - bprm.vma_pages
    if mm is None or not diff:
        return
    bprm.vma_pages = pages
    mm.rss_stat[MM_ANONPAGES] += diff


def get_arg_page(m, bprm, pos: int, write: bool):
    """The frame of the new stack at ``pos``, faulted in (get_user_pages_remote); None
    when the stack cannot grow there or the strings pass a quarter of RLIMIT_STACK."""
    task = m.current
    vma = find_extend_vma(m, bprm.mm, pos)
    if vma is None:
        return None
    flags = FOLL_TOUCH | FOLL_FORCE | (FOLL_WRITE if write else 0)
    if __get_user_pages(m, task, bprm.mm, vma, pos & PAGE_MASK, 1, flags) <= 0:
        return None
    pfn = follow_page_pte(m, vma, pos & PAGE_MASK, flags & ~FOLL_TOUCH)
    if pfn is None:
        return None
    if write:
        size = bprm.vma.vm_end - bprm.vma.vm_start
        acct_arg_size(m, bprm, size // PAGE_SIZE)
        # up to ARG_MAX of strings even with a small stack; past that, a quarter of it
        if size > ARG_MAX and size > task.rlimit(RLIMIT_STACK) // 4:
            return None
    return pfn


def _as_bytes(s) -> bytes:
    if isinstance(s, str):
        s = s.encode()
    elif isinstance(s, (bytearray, memoryview)):
        s = bytes(s)
    elif not isinstance(s, bytes):
        raise TypeError(f"an argument or environment string must be str or bytes, not {s!r}")
    if b"\0" in s:
        raise ValueError(f"{s!r} holds a NUL byte: a C string ends there")
    return s


def count(strings) -> int:
    """The number of strings (fs/exec.c count); -E2BIG past MAX_ARG_STRINGS."""
    n = 0 if strings is None else len(strings)
    return -errno.E2BIG if n > MAX_ARG_STRINGS else n


def copy_strings(m, bprm, strings, record=None) -> int:
    """Copy ``strings`` to the new stack from the last to the first, each ending at
    bprm->p as it moves down; 0 or -E2BIG."""
    for s in reversed(strings):
        data = s + b"\0"
        length = len(data)
        if length > MAX_ARG_STRLEN:
            return -errno.E2BIG
        pos = bprm.p
        bprm.p -= length
        end = length
        while end > 0:
            offset = pos % PAGE_SIZE or PAGE_SIZE
            n = min(offset, end)
            pos -= n
            pfn = get_arg_page(m, bprm, pos, True)
            if pfn is None:
                return -errno.E2BIG
            buf = m.page_contents.get(pfn)
            if buf is None:
                buf = m.page_contents[pfn] = bytearray(PAGE_SIZE)
            off = pos & (PAGE_SIZE - 1)
            buf[off:off + n] = data[end - n:end]
            m.mem_map.content[pfn] = next_content_tag(m)
            end -= n
        if record is not None:
            record.insert(0, data)
    return 0


# -- the point of no return -----------------------------------------------------------------

def exec_mmap(m, mm) -> int:
    """Make ``mm`` the task's address space and drop the old one (mmput, as exit does)."""
    task = m.current
    old_mm = task.mm
    if old_mm is not None:
        sync_mm_rss(old_mm, task)
    active_mm = task.active_mm
    task.mm = task.active_mm = mm
    cpu = m.cpus[task.cpu]
    if cpu.current is task:
        switch_mm(m, cpu, active_mm, mm, task)          # activate_mm
    mm.vmacache_seqnum = 0
    if old_mm is not None:
        mmput(m, old_mm)
        return 0
    mmdrop(m, active_mm)
    return 0


def flush_old_exec(m, bprm) -> int:
    """Switch to the new mm; from here a failure kills the process (fs/exec.c)."""
    task = m.current
    if bprm.mm.exe_file is not None:
        bprm.mm.exe_file.fput()
    bprm.mm.exe_file = bprm.file.get_file()            # set_mm_exe_file
    acct_arg_size(m, bprm, 0)
    err = exec_mmap(m, bprm.mm)
    if err:
        return err
    bprm.mm = None
    task.flags &= ~PF_RANDOMIZE
    task.personality &= ~bprm.per_clear
    return 0


def setup_new_exec(m, bprm) -> None:
    """The new mmap layout, the task's name and close-on-exec (fs/exec.c)."""
    task = m.current
    x86_mmap.arch_pick_mmap_layout(m, task, task.mm)
    task.comm = bprm.filename.rsplit("/", 1)[-1][:15]
    task.mm.task_size = TASK_SIZE
    for fd in sorted(task.files):                      # do_close_on_exec
        if task.files[fd].f_flags & O_CLOEXEC:
            task.files.pop(fd).fput()


def randomize_va_space(m) -> int:
    return m.sysctl.values["kernel.randomize_va_space"]


def arch_align_stack(m, task, sp: int) -> int:
    """Lower ``sp`` by up to 8 KiB at random, then 16-byte align (arch/x86/kernel/process.c)."""
    if not task.personality & ADDR_NO_RANDOMIZE and randomize_va_space(m):
        sp -= m.rng.getrandbits(32) % 8192
    return sp & ~0xF


def shift_arg_pages(m, vma, shift: int) -> int:
    """Move the stack VMA and its page tables ``shift`` bytes down; 0 or -errno."""
    mm = vma.vm_mm
    old_start, old_end = vma.vm_start, vma.vm_end
    length = old_end - old_start
    new_start, new_end = old_start - shift, old_end - shift
    if find_vma(mm, new_start) is not vma:
        return -errno.EFAULT
    vma_adjust(m, vma, new_start, old_end, vma.vm_pgoff)
    if move_page_tables(m, vma, old_start, vma, new_start, length) != length:
        return -errno.ENOMEM
    lru_add_drain(m)
    tlb = tlb_gather_mmu(m, mm, old_start, old_end)
    ceiling = vma.vm_next.vm_start if vma.vm_next is not None else USER_PGTABLES_CEILING
    if new_end > old_start:
        free_pgd_range(tlb, new_end, old_end, new_end, ceiling)
    else:
        free_pgd_range(tlb, old_start, old_end, new_end, ceiling)
    tlb_finish_mmu(tlb, old_start, old_end)
    vma_adjust(m, vma, new_start, new_end, vma.vm_pgoff)
    return 0


def setup_arg_pages(m, bprm, stack_top: int, executable_stack: int) -> int:
    """Put the stack at ``stack_top`` with its final flags and 128 KiB of room below the
    strings (fs/exec.c, !CONFIG_STACK_GROWSUP); 0 or -errno."""
    task = m.current
    mm = task.mm
    vma = bprm.vma
    stack_top = arch_align_stack(m, task, stack_top)
    stack_top = (stack_top + PAGE_SIZE - 1) & PAGE_MASK
    mmap_min_addr = m.sysctl.values["vm.mmap_min_addr"]
    if stack_top < mmap_min_addr or vma.vm_end - vma.vm_start >= stack_top - mmap_min_addr:
        return -errno.ENOMEM
    stack_shift = vma.vm_end - stack_top
    bprm.p -= stack_shift
    mm.arg_start = bprm.p
    if bprm.loader:
        bprm.loader -= stack_shift
    bprm.exec -= stack_shift
    vm_flags = VM_STACK_FLAGS
    if task.personality & READ_IMPLIES_EXEC:
        vm_flags |= VM_EXEC                 # VM_STACK_DEFAULT_FLAGS under READ_IMPLIES_EXEC
    if executable_stack == EXSTACK_ENABLE_X:
        vm_flags |= VM_EXEC
    elif executable_stack == EXSTACK_DISABLE_X:
        vm_flags &= ~VM_EXEC
    vm_flags |= mm.def_flags | VM_STACK_INCOMPLETE_SETUP
    _, ret = mprotect_fixup(m, vma, None, vma.vm_start, vma.vm_end, vm_flags)
    if ret:
        return ret
    if stack_shift:
        ret = shift_arg_pages(m, vma, stack_shift)
        if ret:
            return ret
    vma.vm_flags &= ~VM_STACK_INCOMPLETE_SETUP
    stack_size = vma.vm_end - vma.vm_start
    rlim_stack = task.rlimit(RLIMIT_STACK) & PAGE_MASK
    if stack_size + STACK_EXPAND > rlim_stack:
        stack_base = vma.vm_end - rlim_stack
    else:
        stack_base = vma.vm_start - STACK_EXPAND
    mm.start_stack = bprm.p
    if expand_stack(m, vma, stack_base):
        return -errno.EFAULT
    return 0


# -- the system call --------------------------------------------------------------------------

def prepare_binprm(m, bprm) -> int:
    """The first BINPRM_BUF_SIZE bytes of the file into bprm->buf (zero-padded)."""
    data = kernel_read(m, bprm.file, 0, BINPRM_BUF_SIZE)
    if isinstance(data, int):
        return data
    bprm.buf = data + bytes(BINPRM_BUF_SIZE - len(data))
    return len(data)


def search_binary_handler(m, bprm) -> int:
    """Try each binary format; -ENOEXEC when none takes the file (fs/exec.c)."""
    if bprm.recursion_depth > 5:
        return -errno.ELOOP
    retval = -errno.ENOENT
    for fmt in formats:
        bprm.recursion_depth += 1
        retval = fmt.load_binary(m, bprm)
        bprm.recursion_depth -= 1
        if retval < 0 and bprm.mm is None:
            # it failed after flush_old_exec: force_sigsegv, the process dies
            m.current.sigkill = True
            return retval
        if retval != -errno.ENOEXEC:
            return retval
    if bprm.buf[:2] == b"#!":
        raise NotImplementedError("binfmt_script (#! interpreter scripts) is not modelled")
    # request_module("binfmt-XXXX") finds no module on a typical system: ENOEXEC stands
    return retval


def free_bprm(bprm) -> None:
    if bprm.file is not None:
        allow_write_access(bprm.file)
        bprm.file.fput()
        bprm.file = None


def do_execveat_common(m, filename: str, argv, envp) -> int:
    """execve(2) of ``filename`` with the lists of strings ``argv`` and ``envp`` (None:
    a NULL array); 0 or -errno. The current task must be the caller."""
    task = m.current
    file = do_open_execat(m, filename, task.cred)
    if isinstance(file, int):
        return file
    bprm = LinuxBinprm()
    bprm.file = file
    bprm.filename = bprm.interp = filename
    retval = bprm_mm_init(m, bprm)
    if retval:
        free_bprm(bprm)
        return retval
    argv = [] if argv is None else argv
    envp = [] if envp is None else envp
    try:
        retval = _exec_strings_and_load(m, bprm, argv, envp)
    except NotImplementedError:
        retval = -errno.ENOEXEC             # (undo what was built, then say what is missing)
        raise
    finally:
        if retval < 0 and bprm.mm is not None:
            acct_arg_size(m, bprm, 0)
            mmput(m, bprm.mm)
            bprm.mm = None
        free_bprm(bprm)
    return min(retval, 0)


def _exec_strings_and_load(m, bprm, argv, envp) -> int:
    bprm.argc = count(argv)
    if bprm.argc < 0:
        return bprm.argc
    bprm.envc = count(envp)
    if bprm.envc < 0:
        return bprm.envc
    retval = prepare_binprm(m, bprm)
    if retval < 0:
        return retval
    retval = copy_strings(m, bprm, [bprm.filename.encode()])       # copy_strings_kernel
    if retval < 0:
        return retval
    bprm.exec = bprm.p
    retval = copy_strings(m, bprm, envp, bprm.envp)
    if retval < 0:
        return retval
    retval = copy_strings(m, bprm, argv, bprm.argv)
    if retval < 0:
        return retval
    return search_binary_handler(m, bprm)


def sys_execve(m, filename: str, argv, envp) -> int:
    """The execve system call for the current task; 0 or -errno.

    :raises TypeError: a string that is neither str nor bytes
    :raises ValueError: a string with a NUL byte in it
    """
    argv = None if argv is None else [_as_bytes(s) for s in argv]
    envp = None if envp is None else [_as_bytes(s) for s in envp]
    return do_execveat_common(m, filename, argv, envp)

