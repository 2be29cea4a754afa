"""The ELF loader: PT_LOAD segments as private file mappings, the bss, the dynamic loader
(PT_INTERP), the executable-stack choice (PT_GNU_STACK) and the initial stack's tables
(fs/binfmt_elf.c load_elf_binary, load_elf_interp, elf_map, set_brk, padzero,
create_elf_tables).

The headers are decoded with pyelftools' struct definitions from the bytes the kernel
reads (``kernel_read`` through the page cache): the first 128 bytes, the program
headers and the interpreter's name. The model stops where 4.6's start_thread returns
to user mode: ``task.ip`` is the entry point (the interpreter's for a dynamic program)
and ``task.sp`` the initial stack pointer.
"""

import errno

from elftools.elf.structs import ELFStructs

from ..arch.x86 import mmap as x86_mmap
from ..arch.x86.page_types import PAGE_SHIFT, PAGE_SIZE, TASK_SIZE
from ..arch.x86.vdso import arch_setup_additional_pages
from ..include.mm import VM_LOCKED
from ..include.personality import ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, MMAP_PAGE_ZERO
from ..include.sched import PF_RANDOMIZE
from ..mm import gup
from ..mm.mman import (PROT_READ, PROT_WRITE, PROT_EXEC, MAP_PRIVATE, MAP_FIXED,
                       MAP_DENYWRITE, MAP_EXECUTABLE)
from ..mm.mmap import do_mmap, do_munmap, do_brk
from ..mm.mmap_stack import find_extend_vma
from .exec import (LinuxBinfmt, register_binfmt, kernel_read, open_exec, allow_write_access,
                   flush_old_exec, setup_new_exec, setup_arg_pages, arch_align_stack,
                   randomize_va_space, MAX_ARG_STRLEN, EXSTACK_DEFAULT, EXSTACK_DISABLE_X,
                   EXSTACK_ENABLE_X)
from .read_write import copy_to_user

ELF_MIN_ALIGN = PAGE_SIZE
ELF_ET_DYN_BASE = TASK_SIZE // 3 * 2
STACK_TOP = TASK_SIZE                  # x86-64 without a 32-bit personality
STACK_RND_MASK = 0x3fffff
PATH_MAX = 4096
ELF_PLATFORM = b"x86_64"
ELF_EXEC_PAGESIZE = PAGE_SIZE
CLOCKS_PER_SEC = 100                   # USER_HZ
ELF_PHDR_SIZE = 56                     # sizeof(struct elf64_phdr)
ELF_EHDR_SIZE = 64
EM_X86_64 = 62

# include/uapi/linux/auxvec.h, arch/x86/include/uapi/asm/auxvec.h
AT_NULL, AT_IGNORE, AT_EXECFD, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_BASE, AT_FLAGS, \
    AT_ENTRY, AT_NOTELF, AT_UID, AT_EUID, AT_GID, AT_EGID, AT_PLATFORM, AT_HWCAP, \
    AT_CLKTCK = range(18)
AT_SECURE = 23
AT_BASE_PLATFORM = 24
AT_RANDOM = 25
AT_HWCAP2 = 26
AT_EXECFN = 31
AT_SYSINFO_EHDR = 33
AT_NAMES = {v: k for k, v in globals().items() if k.startswith("AT_") and isinstance(v, int)}

PF_X, PF_W, PF_R = 1, 2, 4

_structs = ELFStructs(little_endian=True, elfclass=64)
_structs.create_basic_structs()
_structs.create_advanced_structs(e_type="ET_DYN", e_machine="EM_X86_64",
                                 e_ident_osabi="ELFOSABI_SYSV")


class ElfHdr:
    """The fields of struct elf64_hdr the loader reads (decoded by pyelftools)."""

    __slots__ = ("e_ident", "e_type", "e_machine", "e_entry", "e_phoff", "e_phentsize",
                 "e_phnum")

    def __init__(self, buf: bytes):
        self.e_ident = buf[:16]
        h = _structs.Elf_Ehdr.parse(buf[:ELF_EHDR_SIZE])
        self.e_type = h.e_type
        self.e_machine = h.e_machine
        self.e_entry = h.e_entry
        self.e_phoff = h.e_phoff
        self.e_phentsize = h.e_phentsize
        self.e_phnum = h.e_phnum


class ElfPhdr:
    """One struct elf64_phdr."""

    __slots__ = ("p_type", "p_flags", "p_offset", "p_vaddr", "p_filesz", "p_memsz")

    def __init__(self, raw: bytes):
        h = _structs.Elf_Phdr.parse(raw)
        self.p_type = h.p_type
        self.p_flags = h.p_flags
        self.p_offset = h.p_offset
        self.p_vaddr = h.p_vaddr
        self.p_filesz = h.p_filesz
        self.p_memsz = h.p_memsz


def ELF_PAGESTART(v: int) -> int:
    return v & ~(ELF_MIN_ALIGN - 1)


def ELF_PAGEOFFSET(v: int) -> int:
    return v & (ELF_MIN_ALIGN - 1)


def ELF_PAGEALIGN(v: int) -> int:
    return (v + ELF_MIN_ALIGN - 1) & ~(ELF_MIN_ALIGN - 1)


def BAD_ADDR(x: int) -> bool:
    return (x & ((1 << 64) - 1)) >= TASK_SIZE


def elf_check_arch(ex) -> bool:
    return ex.e_machine == "EM_X86_64" or ex.e_machine == EM_X86_64


def _elf_header(buf: bytes):
    """The header in ``buf``, or None when it is not a 64-bit little-endian ELF file."""
    if buf[:4] != b"\x7fELF" or len(buf) < ELF_EHDR_SIZE:
        return None
    if buf[4] != 2 or buf[5] != 1:          # ELFCLASS64, ELFDATA2LSB (elf_check_arch)
        return None
    return ElfHdr(buf)


def load_elf_phdrs(m, ex, file):
    """The program headers of ``file`` (kernel_read of e_phnum entries); None when they
    are malformed or unreadable."""
    if ex.e_phentsize != ELF_PHDR_SIZE:
        return None
    if ex.e_phnum < 1 or ex.e_phnum > 65536 // ELF_PHDR_SIZE:
        return None
    size = ELF_PHDR_SIZE * ex.e_phnum
    if size > ELF_MIN_ALIGN:
        return None
    data = kernel_read(m, file, ex.e_phoff, size)
    if isinstance(data, int) or len(data) != size:
        return None
    return [ElfPhdr(data[i:i + ELF_PHDR_SIZE]) for i in range(0, size, ELF_PHDR_SIZE)]


def total_mapping_size(phdrs) -> int:
    loads = [p for p in phdrs if p.p_type == "PT_LOAD"]
    if not loads:
        return 0
    return loads[-1].p_vaddr + loads[-1].p_memsz - ELF_PAGESTART(loads[0].p_vaddr)


def vm_mmap(m, file, addr: int, length: int, prot: int, flags: int, offset: int) -> int:
    """mm/util.c vm_mmap: do_mmap_pgoff and the populate it asks for; address or -errno."""
    if offset & (PAGE_SIZE - 1):
        return -errno.EINVAL
    ret, populate = do_mmap(m, file, addr, length, prot, flags, 0, offset >> PAGE_SHIFT)
    if ret >= 0 and populate:
        gup.mm_populate(m, ret, populate)
    return ret


def vm_brk(m, addr: int, length: int) -> int:
    """Anonymous memory at [addr, addr+len) (mm/mmap.c vm_brk); ``len`` is an unsigned
    long, so a negative one page-aligns to nothing."""
    length &= (1 << 64) - 1
    if not (length + PAGE_SIZE - 1) & ((1 << 64) - PAGE_SIZE):
        return addr
    mm = m.current.mm
    ret = do_brk(m, addr, length)
    if ret >= 0 and mm.def_flags & VM_LOCKED:
        gup.mm_populate(m, addr, length)
    return ret


def elf_map(m, file, addr: int, ph, prot: int, typ: int, total_size: int) -> int:
    """Map one PT_LOAD segment's file pages (the whole image first when ``total_size``,
    unmapping what lies past the segment); the address or -errno."""
    size = ph.p_filesz + ELF_PAGEOFFSET(ph.p_vaddr)
    off = ph.p_offset - ELF_PAGEOFFSET(ph.p_vaddr)
    addr = ELF_PAGESTART(addr)
    size = ELF_PAGEALIGN(size)
    if not size:
        return addr
    if total_size:
        total_size = ELF_PAGEALIGN(total_size)
        map_addr = vm_mmap(m, file, addr, total_size, prot, typ, off)
        if not BAD_ADDR(map_addr):
            do_munmap(m, m.current.mm, map_addr + size, total_size - size)
        return map_addr
    return vm_mmap(m, file, addr, size, prot, typ, off)


def set_brk(m, start: int, end: int) -> int:
    """Map the bss pages past the file's and start the heap at its end; 0 or -errno."""
    start = ELF_PAGEALIGN(start)
    end = ELF_PAGEALIGN(end)
    if end > start:
        addr = vm_brk(m, start, end - start)
        if BAD_ADDR(addr):
            return addr
    mm = m.current.mm
    mm.start_brk = mm.brk = end
    return 0


def padzero(m, elf_bss: int) -> int:
    """Zero the rest of the page holding the end of the file's data (its bss start); 0
    or -EFAULT."""
    nbyte = ELF_PAGEOFFSET(elf_bss)
    if nbyte:
        nbyte = ELF_MIN_ALIGN - nbyte
        if clear_user(m, elf_bss, nbyte) != nbyte:
            return -errno.EFAULT
    return 0


def clear_user(m, addr: int, n: int) -> int:
    """Zero ``n`` user bytes at ``addr``; the bytes cleared."""
    return copy_to_user(m, m.current, addr, bytes(n))


def _prot(ph) -> int:
    prot = 0
    if ph.p_flags & PF_R:
        prot |= PROT_READ
    if ph.p_flags & PF_W:
        prot |= PROT_WRITE
    if ph.p_flags & PF_X:
        prot |= PROT_EXEC
    return prot


def load_elf_interp(m, interp_ex, interpreter, no_base: int, phdrs):
    """Map the dynamic loader; ``(load_addr or -errno, first map address)``."""
    interp_map_addr = 0
    # 4.6 returns ~0UL for these, which load_elf_binary passes on as (int)~0UL: -EPERM
    if interp_ex.e_type not in ("ET_EXEC", "ET_DYN") or not elf_check_arch(interp_ex):
        return -errno.EPERM, 0
    if interpreter.f_op.mmap is None:
        return -errno.EPERM, 0
    total_size = total_mapping_size(phdrs)
    if not total_size:
        return -errno.EINVAL, 0
    load_addr = 0
    load_addr_set = False
    elf_bss = last_bss = 0
    for ph in phdrs:
        if ph.p_type != "PT_LOAD":
            continue
        elf_type = MAP_PRIVATE | MAP_DENYWRITE
        vaddr = ph.p_vaddr
        if interp_ex.e_type == "ET_EXEC" or load_addr_set:
            elf_type |= MAP_FIXED
        elif no_base and interp_ex.e_type == "ET_DYN":
            load_addr = -vaddr
        map_addr = elf_map(m, interpreter, (load_addr + vaddr) & ((1 << 64) - 1), ph,
                           _prot(ph), elf_type, total_size)
        total_size = 0
        if not interp_map_addr:
            interp_map_addr = map_addr
        if BAD_ADDR(map_addr):
            return (map_addr if map_addr < 0 else -errno.EINVAL), interp_map_addr
        if not load_addr_set and interp_ex.e_type == "ET_DYN":
            load_addr = map_addr - ELF_PAGESTART(vaddr)
            load_addr_set = True
        k = load_addr + ph.p_vaddr
        if BAD_ADDR(k) or ph.p_filesz > ph.p_memsz or ph.p_memsz > TASK_SIZE or \
                TASK_SIZE - ph.p_memsz < k:
            return -errno.ENOMEM, interp_map_addr
        elf_bss = max(elf_bss, load_addr + ph.p_vaddr + ph.p_filesz)
        last_bss = max(last_bss, load_addr + ph.p_vaddr + ph.p_memsz)
    if last_bss > elf_bss:
        if padzero(m, elf_bss):
            return -errno.EFAULT, interp_map_addr
        elf_bss = ELF_PAGESTART(elf_bss + ELF_MIN_ALIGN - 1)
        err = vm_brk(m, elf_bss, last_bss - elf_bss)
        if BAD_ADDR(err):
            return (err if err < 0 else -errno.EINVAL), interp_map_addr
    return load_addr, interp_map_addr


def randomize_stack_top(m, stack_top: int) -> int:
    """STACK_TOP lowered by up to STACK_RND_MASK pages (16 GiB) when randomising."""
    task = m.current
    rnd = 0
    if task.flags & PF_RANDOMIZE and not task.personality & ADDR_NO_RANDOMIZE:
        rnd = (x86_mmap.get_random_long(m) & STACK_RND_MASK) << PAGE_SHIFT
    return ((stack_top + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)) - rnd


def elf_hwcap(m) -> int:
    """ELF_HWCAP: the boot CPU's CPUID leaf 1 EDX."""
    return m.cpus[0].model.cpuid_1_edx


def create_elf_tables(m, bprm, ex, load_addr: int, interp_load_addr: int) -> int:
    """Write the platform string, AT_RANDOM's bytes, argc, argv[], envp[] and the auxv
    below the strings; bprm->p ends at argc. 0 or -EFAULT."""
    task = m.current
    mm = task.mm
    cred = task.cred
    p = arch_align_stack(m, task, bprm.p)
    platform = ELF_PLATFORM + b"\0"
    p -= len(platform)
    u_platform = p
    if copy_to_user(m, task, u_platform, platform) != len(platform):
        return -errno.EFAULT
    rand_bytes = m.rng.getrandbits(128).to_bytes(16, "little")     # get_random_bytes
    p -= 16
    u_rand_bytes = p
    if copy_to_user(m, task, u_rand_bytes, rand_bytes) != 16:
        return -errno.EFAULT
    auxv = []
    if mm.context is not None and mm.context.vdso:                 # ARCH_DLINFO
        auxv += [AT_SYSINFO_EHDR, mm.context.vdso]
    auxv += [AT_HWCAP, elf_hwcap(m), AT_PAGESZ, ELF_EXEC_PAGESIZE, AT_CLKTCK, CLOCKS_PER_SEC,
             AT_PHDR, load_addr + ex.e_phoff, AT_PHENT, ELF_PHDR_SIZE, AT_PHNUM, ex.e_phnum,
             AT_BASE, interp_load_addr, AT_FLAGS, 0, AT_ENTRY, ex.e_entry,
             AT_UID, cred.uid, AT_EUID, cred.euid, AT_GID, cred.gid, AT_EGID, cred.egid,
             AT_SECURE, 0, AT_RANDOM, u_rand_bytes,
             # x86 defines no ELF_HWCAP2 in 4.6: no AT_HWCAP2
             AT_EXECFN, bprm.exec, AT_PLATFORM, u_platform, AT_NULL, 0]
    mm.saved_auxv = list(auxv)
    ei_index = len(auxv)
    sp = p - ei_index * 8                                          # STACK_ADD
    items = (bprm.argc + 1) + (bprm.envc + 1) + 1
    bprm.p = (sp - items * 8) & ~15                                # STACK_ROUND
    sp = bprm.p
    if find_extend_vma(m, mm, bprm.p) is None:
        return -errno.EFAULT
    words = [bprm.argc]
    p = mm.arg_end = mm.arg_start
    for s in bprm.argv:
        words.append(p)
        if not len(s) or len(s) > MAX_ARG_STRLEN:
            return -errno.EINVAL
        p += len(s)
    words.append(0)
    mm.arg_end = mm.env_start = p
    for s in bprm.envp:
        words.append(p)
        if not len(s) or len(s) > MAX_ARG_STRLEN:
            return -errno.EINVAL
        p += len(s)
    words.append(0)
    mm.env_end = p
    words += auxv
    table = b"".join(w.to_bytes(8, "little") for w in words)
    if copy_to_user(m, task, sp, table) != len(table):
        return -errno.EFAULT
    return 0


def load_elf_binary(m, bprm) -> int:
    """binfmt_elf's load_binary: 0, or -errno (-ENOEXEC: not an ELF executable for this
    machine, so another format may try)."""
    task = m.current
    ex = _elf_header(bprm.buf)
    if ex is None:
        return -errno.ENOEXEC
    if ex.e_type not in ("ET_EXEC", "ET_DYN") or not elf_check_arch(ex):
        return -errno.ENOEXEC
    if bprm.file.f_op.mmap is None:
        return -errno.ENOEXEC
    phdrs = load_elf_phdrs(m, ex, bprm.file)
    if phdrs is None:
        return -errno.ENOEXEC
    interpreter = None
    try:
        retval, interpreter, interp_ex, interp_phdrs, executable_stack = \
            _read_interp(m, bprm, ex, phdrs)
        if retval:
            return retval
        retval = flush_old_exec(m, bprm)
        if retval:
            return retval
        # SET_PERSONALITY (set_personality_64bit clears READ_IMPLIES_EXEC), then
        # elf_read_implies_exec: set again unless PT_GNU_STACK asks for a non-exec stack
        task.personality &= ~READ_IMPLIES_EXEC
        if executable_stack != EXSTACK_DISABLE_X:
            task.personality |= READ_IMPLIES_EXEC
        if not task.personality & ADDR_NO_RANDOMIZE and randomize_va_space(m):
            task.flags |= PF_RANDOMIZE
        setup_new_exec(m, bprm)
        retval = setup_arg_pages(m, bprm, randomize_stack_top(m, STACK_TOP), executable_stack)
        if retval < 0:
            return retval
        mm = task.mm
        mm.start_stack = bprm.p
        retval = _map_segments(m, bprm, ex, phdrs, interpreter, interp_ex, interp_phdrs)
        if retval < 0:
            return retval
        return 0
    finally:
        if interpreter is not None:
            allow_write_access(interpreter)
            interpreter.fput()


def _read_interp(m, bprm, ex, phdrs):
    """PT_INTERP (the loader opened and its headers read) and PT_GNU_STACK: ``(0 or
    -errno, interpreter file, its header, its program headers, executable_stack)``."""
    interpreter = interp_ex = interp_phdrs = None
    for ph in phdrs:
        if ph.p_type != "PT_INTERP":
            continue
        if ph.p_filesz > PATH_MAX or ph.p_filesz < 2:
            return -errno.ENOEXEC, None, None, None, 0
        name = kernel_read(m, bprm.file, ph.p_offset, ph.p_filesz)
        if isinstance(name, int):
            return name, None, None, None, 0
        if len(name) != ph.p_filesz:
            return -errno.EIO, None, None, None, 0
        if name[-1] != 0:
            return -errno.ENOEXEC, None, None, None, 0
        interpreter = open_exec(m, name[:-1].decode(errors="surrogateescape"))
        if isinstance(interpreter, int):
            return interpreter, None, None, None, 0
        buf = kernel_read(m, interpreter, 0, ELF_EHDR_SIZE)
        if isinstance(buf, int) or len(buf) != ELF_EHDR_SIZE:
            err = buf if isinstance(buf, int) else -errno.EIO
            return err, interpreter, None, None, 0
        interp_ex = buf
        break
    executable_stack = EXSTACK_DEFAULT
    for ph in phdrs:
        if ph.p_type == "PT_GNU_STACK":
            executable_stack = EXSTACK_ENABLE_X if ph.p_flags & PF_X else EXSTACK_DISABLE_X
    if interpreter is not None:
        hdr = _elf_header(interp_ex)
        if hdr is None or not elf_check_arch(hdr):
            return -errno.ELIBBAD, interpreter, None, None, 0
        interp_phdrs = load_elf_phdrs(m, hdr, interpreter)
        if interp_phdrs is None:
            return -errno.ELIBBAD, interpreter, None, None, 0      # (4.6: its retval)
        interp_ex = hdr
    return 0, interpreter, interp_ex, interp_phdrs, executable_stack


def _map_segments(m, bprm, ex, phdrs, interpreter, interp_ex, interp_phdrs) -> int:
    """The PT_LOAD mappings, the bss and brk, the loader, the vDSO and the stack's tables
    (load_elf_binary after setup_arg_pages)."""
    task = m.current
    mm = task.mm
    load_addr = load_bias = 0
    load_addr_set = False
    elf_bss = elf_brk = 0
    start_code, end_code, start_data, end_data = (1 << 64) - 1, 0, 0, 0
    for ph in phdrs:
        if ph.p_type != "PT_LOAD":
            continue
        if elf_brk > elf_bss:
            # an earlier segment had bss: map it and clear its partial page
            retval = set_brk(m, elf_bss + load_bias, elf_brk + load_bias)
            if retval:
                return retval
            nbyte = ELF_PAGEOFFSET(elf_bss)
            if nbyte:
                nbyte = min(ELF_MIN_ALIGN - nbyte, elf_brk - elf_bss)
                clear_user(m, elf_bss + load_bias, nbyte)   # may fail on odd protections
        elf_flags = MAP_PRIVATE | MAP_DENYWRITE | MAP_EXECUTABLE
        vaddr = ph.p_vaddr
        total_size = 0
        if ex.e_type == "ET_EXEC" or load_addr_set:
            elf_flags |= MAP_FIXED
        else:
            # ET_DYN: out of the way of the mmap base and of what it may exec
            load_bias = ELF_ET_DYN_BASE - vaddr
            if task.flags & PF_RANDOMIZE:
                load_bias += x86_mmap.arch_mmap_rnd(m)
            load_bias = ELF_PAGESTART(load_bias)
            total_size = total_mapping_size(phdrs)
            if not total_size:
                return -errno.EINVAL
        error = elf_map(m, bprm.file, load_bias + vaddr, ph, _prot(ph), elf_flags, total_size)
        if BAD_ADDR(error):
            return error if error < 0 else -errno.EINVAL
        if not load_addr_set:
            load_addr_set = True
            load_addr = ph.p_vaddr - ph.p_offset
            if ex.e_type == "ET_DYN":
                load_bias += error - ELF_PAGESTART(load_bias + vaddr)
                load_addr += load_bias
        k = ph.p_vaddr
        start_code = min(start_code, k)
        start_data = max(start_data, k)
        if BAD_ADDR(k) or ph.p_filesz > ph.p_memsz or ph.p_memsz > TASK_SIZE or \
                TASK_SIZE - ph.p_memsz < k:
            return -errno.EINVAL
        k = ph.p_vaddr + ph.p_filesz
        elf_bss = max(elf_bss, k)
        if ph.p_flags & PF_X and end_code < k:
            end_code = k
        end_data = max(end_data, k)
        elf_brk = max(elf_brk, ph.p_vaddr + ph.p_memsz)
    entry = ex.e_entry + load_bias
    elf_bss += load_bias
    elf_brk += load_bias
    start_code += load_bias
    end_code += load_bias
    start_data += load_bias
    end_data += load_bias
    # the bss before the loader, so that the loader cannot land where the bss goes
    retval = set_brk(m, elf_bss, elf_brk)
    if retval:
        return retval
    if elf_bss != elf_brk and padzero(m, elf_bss):
        return -errno.EFAULT
    interp_load_addr = 0
    if interpreter is not None:
        elf_entry, _ = load_elf_interp(m, interp_ex, interpreter, load_bias, interp_phdrs)
        if elf_entry >= 0:
            interp_load_addr = elf_entry
            elf_entry += interp_ex.e_entry
        if elf_entry < 0 or BAD_ADDR(elf_entry):
            return elf_entry if elf_entry < 0 else -errno.EINVAL
    else:
        elf_entry = entry
        if BAD_ADDR(elf_entry):
            return -errno.EINVAL
    mm.binfmt = elf_format                                  # set_binfmt
    retval = arch_setup_additional_pages(m, bprm, interpreter is not None)
    if retval < 0:
        return retval
    ex.e_entry = entry
    retval = create_elf_tables(m, bprm, ex, load_addr, interp_load_addr)
    if retval < 0:
        return retval
    mm.end_code = end_code
    mm.start_code = start_code
    mm.start_data = start_data
    mm.end_data = end_data
    mm.start_stack = bprm.p
    if task.flags & PF_RANDOMIZE and randomize_va_space(m) > 1:
        mm.brk = mm.start_brk = x86_mmap.arch_randomize_brk(m, mm)
        task.brk_randomized = True
    if task.personality & MMAP_PAGE_ZERO:
        vm_mmap(m, None, 0, PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_FIXED | MAP_PRIVATE, 0)
    # start_thread: user mode resumes at the entry point with this stack pointer
    task.ip = elf_entry
    task.sp = bprm.p
    return 0


elf_format = LinuxBinfmt("elf", load_elf_binary)
register_binfmt(elf_format)             # init_elf_binfmt
