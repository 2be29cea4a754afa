"""Issue 16: execve of real ELF binaries (fs/exec.py, fs/binfmt_elf.py, arch/x86/vdso.py).

The binaries are this machine's (/bin/true, /bin/ls, its dynamic loader, and a static
program built with gcc when gcc is present), copied into the model with import_host.
"""

import errno
import os
import shutil
import struct
import subprocess
import tempfile

import pytest

import linuxvm as lv
from linuxvm.fs.binfmt_elf import (AT_NAMES, AT_SYSINFO_EHDR, AT_HWCAP, AT_PAGESZ, AT_CLKTCK,
                                   AT_PHDR, AT_PHENT, AT_PHNUM, AT_BASE, AT_FLAGS, AT_ENTRY,
                                   AT_UID, AT_EUID, AT_GID, AT_EGID, AT_SECURE, AT_RANDOM,
                                   AT_EXECFN, AT_PLATFORM, AT_NULL, ElfHdr)
from linuxvm.fs.exec import MAX_ARG_STRLEN, O_CLOEXEC
from linuxvm.arch.x86.vdso import vdso_image_pfn
from linuxvm.include.personality import ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC

INTERP = "/lib64/ld-linux-x86-64.so.2"
PIE_BASE = 0x555555554000
MMAP_BASE_NORND = 0x7ffff7fff000           # PAGE_ALIGN(TASK_SIZE - 128 MiB)
STACK_TOP = 0x7ffffffff000

# 4.6's create_elf_tables order (ARCH_DLINFO first; x86 has no ELF_HWCAP2)
AUXV_ORDER_46 = [AT_SYSINFO_EHDR, AT_HWCAP, AT_PAGESZ, AT_CLKTCK, AT_PHDR, AT_PHENT, AT_PHNUM,
                 AT_BASE, AT_FLAGS, AT_ENTRY, AT_UID, AT_EUID, AT_GID, AT_EGID, AT_SECURE,
                 AT_RANDOM, AT_EXECFN, AT_PLATFORM, AT_NULL]


def _need(path):
    if not os.path.exists(path):
        pytest.skip(f"{path} is not on this machine")


@pytest.fixture
def mn():
    """A machine without address-space randomisation (randomize_va_space = 0)."""
    _need("/bin/true")
    _need(INTERP)
    m = lv.Machine(ram="256M", cpus=2, seed=0, aslr=False)
    m.fs.import_host("/bin/true")
    m.fs.import_host(INTERP)
    return m


def maps(m, p):
    """[(start, end, perms, offset, name)] of /proc/PID/maps."""
    out = []
    for line in m.proc.read(f"/proc/{p.pid}/maps").splitlines():
        f = line.split(None, 5)
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        out.append((lo, hi, f[1], int(f[2], 16), f[5] if len(f) > 5 else ""))
    return out


def auxv(m, p):
    raw = m.proc.read_bytes(f"/proc/{p.pid}/auxv")
    w = struct.unpack(f"<{len(raw) // 8}Q", raw)
    return [(w[i], w[i + 1]) for i in range(0, len(w), 2)]


def cstr(p, addr):
    out = b""
    while True:
        c = p.read(addr + len(out), 1)
        if c == b"\0":
            return out
        out += c


def host_ehdr(path):
    with open(path, "rb") as f:
        return ElfHdr(f.read(64))


def free_state(m):
    """What an exec and exit must give back: free pages, commit, slab objects, tasks."""
    m.kernel.drain_all_pages()
    slabs = m.proc.read("/proc/slabinfo")
    objs = {line.split()[0]: line.split()[1] for line in slabs.splitlines()[2:]
            if line.split()[0] in ("vm_area_struct", "mm_struct", "anon_vma", "task_struct")}
    committed = [l for l in m.proc.read("/proc/meminfo").splitlines()
                 if l.startswith("Committed_AS")]
    return m.nr_free_pages(), committed, objs


# -- the layout of /bin/true ------------------------------------------------------------------

def test_exec_true_layout_without_aslr(mn):
    #   555555554000  /bin/true  r--p r-xp r--p rw-p    ET_DYN at ELF_ET_DYN_BASE
    #   ...
    #   [vvar] 3 pages, [vdso] 2 pages                  below the loader (top-down)
    #   ld-linux  r--p r-xp r--p rw-p                   right below mmap_base
    #   [stack]   7ffffffde000-7ffffffff000             33 pages shown (guard hidden)
    #   [vsyscall]
    m = mn
    p = m.spawn("sh")
    m.check()
    assert m.proc.read(f"/proc/{p.pid}/maps") == ""
    assert p.execve("/bin/true", ["true"], ["A=1"]) == 0
    m.check()
    vm = maps(m, p)
    names = [v[4] for v in vm]
    assert names[:4] == ["/bin/true"] * 4
    assert [v[2] for v in vm[:4]] == ["r--p", "r-xp", "r--p", "rw-p"]
    assert vm[0][0] == PIE_BASE and vm[0][3] == 0
    # each segment's offset is its page's offset in the file (elf_map)
    for lo, hi, perms, off, name in vm[:4]:
        assert (lo - PIE_BASE) - off in (0, 0x1000)
    assert names[4:6] == ["[vvar]", "[vdso]"]
    assert vm[4][1] - vm[4][0] == 3 * 4096 and vm[5][1] - vm[5][0] == 2 * 4096
    assert vm[4][2] == "r--p" and vm[5][2] == "r-xp"
    assert vm[4][1] == vm[5][0] == vm[6][0] - 2 * 4096
    loader = [v for v in vm if v[4] == INTERP]
    assert len(loader) >= 2 and loader[-1][1] == MMAP_BASE_NORND
    assert vm[5][1] == loader[0][0]
    assert vm[-2][4] == "[stack]" and vm[-2][:2] == (0x7ffffffde000, STACK_TOP)
    assert vm[-1] == (0xffffffffff600000, 0xffffffffff601000, "r-xp", 0, "[vsyscall]")
    mm = p.mm
    assert mm.mmap_base == MMAP_BASE_NORND
    assert mm.start_code == PIE_BASE and mm.start_brk == mm.brk == vm[3][1]
    assert mm.end_code <= vm[1][1] and mm.start_data < mm.end_data <= vm[3][1]
    assert p.task.comm == "true"
    status = m.proc.read(f"/proc/{p.pid}/status")
    assert "VmStk:\t     136 kB" in status          # 2 pages of strings/guard + 32
    p.exit()
    m.check()


def test_smaps_of_special_mappings(mn):
    m = mn
    p = m.spawn("sh")
    p.execve("/bin/true", ["true"], [])
    smaps = m.proc.read(f"/proc/{p.pid}/smaps")
    blocks = smaps.split("VmFlags:")
    vvar = next(b for b in blocks if "[vvar]" in b)
    vdso = next(b for b in blocks if "[vdso]" in b)
    gate = blocks[-2].splitlines()[-18:]
    assert "[vsyscall]" in blocks[-2]
    assert "Rss:                   0 kB" in "\n".join(gate)
    assert smaps.rstrip().endswith("VmFlags: rd ex")
    # the next block's first line is the previous block's VmFlags
    after_vvar = blocks[blocks.index(vvar) + 1].splitlines()[0].split()
    after_vdso = blocks[blocks.index(vdso) + 1].splitlines()[0].split()
    assert after_vvar == ["rd", "mr", "pf", "io", "de", "dd", "sd"]
    assert after_vdso == ["rd", "ex", "mr", "mw", "me", "de", "sd"]
    m.check()


# -- the initial stack and auxv ---------------------------------------------------------------

def test_auxv_order_and_values(mn):
    m = mn
    p = m.spawn("sh", uid=1000, gid=100)
    p.execve("/bin/true", ["true", "--version"], ["HOME=/", "A=1"])
    m.check()
    av = auxv(m, p)
    assert [k for k, _ in av] == AUXV_ORDER_46
    d = dict(av)
    vm = maps(m, p)
    true_ex = host_ehdr("/bin/true")
    ld_ex = host_ehdr(INTERP)
    assert d[AT_SYSINFO_EHDR] == next(v[0] for v in vm if v[4] == "[vdso]")
    assert d[AT_PAGESZ] == 4096 and d[AT_CLKTCK] == 100 and d[AT_FLAGS] == 0
    assert d[AT_PHDR] == PIE_BASE + true_ex.e_phoff
    assert d[AT_PHENT] == 56 and d[AT_PHNUM] == true_ex.e_phnum
    assert d[AT_BASE] == next(v[0] for v in vm if v[4] == INTERP)
    assert d[AT_ENTRY] == PIE_BASE + true_ex.e_entry
    assert p.task.ip == d[AT_BASE] + ld_ex.e_entry           # starts in the loader
    assert (d[AT_UID], d[AT_EUID], d[AT_GID], d[AT_EGID], d[AT_SECURE]) == (1000, 1000, 100,
                                                                          100, 0)
    assert d[AT_HWCAP] == m.cpus[0].model.cpuid_1_edx
    assert cstr(p, d[AT_PLATFORM]) == b"x86_64"
    assert cstr(p, d[AT_EXECFN]) == b"/bin/true"
    assert d[AT_EXECFN] == STACK_TOP - 8 - len(b"/bin/true\0")  # the top: NUL word, filename
    rnd = p.read(d[AT_RANDOM], 16)
    assert d[AT_RANDOM] + 16 == d[AT_PLATFORM]
    # the stack pointer: argc, argv[], NULL, envp[], NULL, then the auxv pairs
    sp = p.sp
    assert sp % 16 == 0 and p.mm.start_stack == sp
    words = struct.unpack("<7Q", p.read(sp, 56))
    assert words[0] == 2 and words[3] == 0 and words[6] == 0
    assert [cstr(p, a) for a in words[1:3]] == [b"true", b"--version"]
    assert [cstr(p, a) for a in words[4:6]] == [b"HOME=/", b"A=1"]
    assert words[1] == p.mm.arg_start and p.mm.arg_end == words[4] == p.mm.env_start
    assert struct.unpack("<2Q", p.read(sp + 56, 16)) == av[0]
    # AT_RANDOM's bytes come from the machine's seed
    m2 = lv.Machine(ram="256M", cpus=2, seed=0, aslr=False)
    m2.fs.import_host("/bin/true")
    m2.fs.import_host(INTERP)
    p2 = m2.spawn("sh", uid=1000, gid=100)
    p2.execve("/bin/true", ["true", "--version"], ["HOME=/", "A=1"])
    assert p2.read(dict(auxv(m2, p2))[AT_RANDOM], 16) == rnd
    assert m2.proc.read(f"/proc/{p2.pid}/maps") == m.proc.read(f"/proc/{p.pid}/maps")


def test_cmdline_environ_exe(mn):
    m = mn
    p = m.spawn("sh")
    p.execve("/bin/true", ["true", "a b", b"\xff"], ["X=1", "Y="])
    assert m.proc.read_bytes(f"/proc/{p.pid}/cmdline") == b"true\0a b\0\xff\0"
    assert m.proc.read_bytes(f"/proc/{p.pid}/environ") == b"X=1\0Y=\0"
    assert m.proc.readlink(f"/proc/{p.pid}/exe") == "/bin/true"
    assert {"auxv", "cmdline", "environ", "exe"} <= set(m.proc.listdir(f"/proc/{p.pid}"))
    # a rewritten argv running on into the environment (setproctitle)
    mm = p.mm
    p.write(mm.arg_end - 1, b"!")
    assert m.proc.read_bytes(f"/proc/{p.pid}/cmdline") == b"true"
    p.write(mm.arg_start, b"-" * (mm.arg_end - mm.arg_start))
    assert m.proc.read_bytes(f"/proc/{p.pid}/cmdline") == b"-" * 11 + b"X=1"
    # a spawned process has no program
    q = m.spawn("q")
    assert m.proc.read_bytes(f"/proc/{q.pid}/cmdline") == b""
    assert m.proc.read_bytes(f"/proc/{q.pid}/auxv") == b""
    with pytest.raises(FileNotFoundError):
        m.proc.readlink(f"/proc/{q.pid}/exe")
    m.check()


def test_argv_none_and_empty(mn):
    m = mn
    p = m.spawn("sh")
    assert p.execve("/bin/true", None, None) == 0
    assert m.proc.read_bytes(f"/proc/{p.pid}/cmdline") == b""
    words = struct.unpack("<3Q", p.read(p.sp, 24))
    assert words == (0, 0, 0)          # argc 0, argv NULL, envp NULL
    m.check()


# -- errno cases -------------------------------------------------------------------------------

def _errno(p, *args):
    with pytest.raises(lv.SyscallError) as ei:
        p.execve(*args)
    return ei.value.errno


def test_exec_errors_leave_the_process_intact(mn):
    m = mn
    m.fs.create("/tmp/text", 100, b"hello world\n", mode=0o755)
    m.fs.create("/tmp/noexec", 0, mode=0o644)
    m.fs.mount("tmpfs", "/mnt/ne", noexec=True)
    with open("/bin/true", "rb") as f:
        true_bytes = f.read()
    p = m.spawn("sh")
    a = p.mmap(None, 8192, lv.PROT_READ | lv.PROT_WRITE, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.write(a, b"keep")
    before = m.proc.read(f"/proc/{p.pid}/maps")
    fd = p.open("/mnt/ne/true", lv.O_CREAT | lv.O_RDWR, 0o755)
    buf = p.mmap(None, len(true_bytes), lv.PROT_READ | lv.PROT_WRITE,
                 lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    p.write(buf, true_bytes)
    assert p.sys_write(fd, buf, len(true_bytes)) == len(true_bytes)
    p.close(fd)
    p.munmap(buf, len(true_bytes))
    rows = [
        (("/nonexistent", ["x"], []), errno.ENOENT),
        (("/tmp", ["x"], []), errno.EACCES),                   # a directory
        (("/dev/zero", ["x"], []), errno.EACCES),              # not a regular file
        (("/tmp/noexec", ["x"], []), errno.EACCES),            # no execute bit
        (("/mnt/ne/true", ["x"], []), errno.EACCES),           # a noexec mount
        (("/tmp/text", ["x"], []), errno.ENOEXEC),             # not ELF, no other format
        (("/bin/true", ["x" * MAX_ARG_STRLEN], []), errno.E2BIG),   # one string too long
        (("/bin/true", ["x"], ["y" * (MAX_ARG_STRLEN - 1)]), 0),    # just fits
    ]
    for args, want in rows:
        if want:
            assert _errno(p, *args) == want, args
            assert m.proc.read(f"/proc/{p.pid}/maps") == before
            assert p.read(a, 4) == b"keep"
        m.check()
    # a failure after strings were copied frees the new mm and its pages (the page cache
    # keeps what the first try read)
    for args in (("/bin/true", ["x"] * 10 + ["x" * MAX_ARG_STRLEN], ["e"] * 5000),
                 ("/tmp/text", ["x"] * 3000, [])):
        _errno(p, *args)
        base = free_state(m)
        _errno(p, *args)
        assert free_state(m) == base
        m.check()
    # root may execute a file only if some execute bit is set
    r = m.spawn("root", uid=0)
    assert _errno(r, "/tmp/noexec", ["x"], []) == errno.EACCES
    m.check()


def test_e2big_by_a_quarter_of_the_stack_limit(mn):
    m = mn
    # 4.6 allows ARG_MAX (128 KiB) of strings whatever the limit; past it, RLIMIT_STACK / 4
    strings = ["z" * 4000] * 40                             # ~160 KiB
    small = m.spawn("small", rlimits={"RLIMIT_STACK": 512 << 10})       # 128 KiB allowed
    assert _errno(small, "/bin/true", ["true"] + strings, []) == errno.E2BIG
    m.check()
    big = m.spawn("big", rlimits={"RLIMIT_STACK": 8 << 20})             # 2 MiB allowed
    assert big.execve("/bin/true", ["true"] + strings, []) == 0
    assert m.proc.read_bytes(f"/proc/{big.pid}/cmdline").count(b"\0") == 41
    m.check()
    # 80 KiB: more than a quarter of 256 KiB but within ARG_MAX
    tiny = m.spawn("tiny", rlimits={"RLIMIT_STACK": 256 << 10})
    assert tiny.execve("/bin/true", ["true"] + ["z" * 4000] * 20, []) == 0
    m.check()
    # the stack itself may not pass RLIMIT_STACK (acct_stack_growth): E2BIG again
    tinier = m.spawn("tinier", rlimits={"RLIMIT_STACK": 64 << 10})
    assert _errno(tinier, "/bin/true", ["true"] + ["z" * 4000] * 20, []) == errno.E2BIG
    m.check()


def test_etxtbsy_both_ways(mn):
    m = mn
    p = m.spawn("sh", uid=0)
    fd = p.open("/bin/true", lv.O_RDWR)
    assert _errno(p, "/bin/true", ["true"], []) == errno.ETXTBSY        # open for writing
    p.close(fd)
    m.check()
    q = m.spawn("q")
    q.execve("/bin/true", ["true"], [])
    # the running program's VM_DENYWRITE mappings keep writers out, root included
    r = m.spawn("root", uid=0)
    with pytest.raises(lv.SyscallError) as ei:
        r.open("/bin/true", lv.O_WRONLY)
    assert ei.value.errno == errno.ETXTBSY
    with pytest.raises(lv.SyscallError) as ei:
        r.open(INTERP, lv.O_RDWR)
    assert ei.value.errno == errno.ETXTBSY
    fd = r.open("/bin/true", lv.O_RDONLY)               # reading is fine
    r.close(fd)
    c = q.fork()                                        # the child's copies deny too
    q.exit()
    with pytest.raises(lv.SyscallError):
        r.open("/bin/true", lv.O_WRONLY)
    c.exit()
    fd = r.open("/bin/true", lv.O_WRONLY)               # nobody runs it any more
    r.close(fd)
    assert m.vfs.files["/bin/true"].i_writecount == 0
    m.check()


# -- lifetime: no leaks, fork then exec ---------------------------------------------------------

def test_exec_and_exit_leak_nothing(mn):
    m = mn
    p = m.spawn("warm")
    p.execve("/bin/true", ["true"], [])
    p.exit()                         # the page cache now holds the binary's pages
    m.check()
    base = free_state(m)
    for _ in range(2):
        p = m.spawn("sh")
        a = p.mmap(None, 1 << 20, lv.PROT_READ | lv.PROT_WRITE,
                   lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
        p.touch(a, 1 << 20, write=True)
        m.check()
        p.execve("/bin/true", ["true"], ["A=1"])        # the old mm goes as exit's would
        m.check()
        p.execve("/bin/true", ["true", "again"], [])     # exec of an exec'd process
        m.check()
        p.touch(p.sp - 8192, 8192, write=True)
        p.exit()
        m.check()
        assert free_state(m) == base


def test_exec_after_fork(mn):
    m = mn
    parent = m.spawn("sh")
    parent.execve("/bin/true", ["true"], [])
    a = parent.mmap(None, 4 << 20, lv.PROT_READ | lv.PROT_WRITE,
                    lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    parent.touch(a, 4 << 20, write=True)
    parent.write(a, b"parent")
    pmaps = m.proc.read(f"/proc/{parent.pid}/maps")
    child = parent.fork()
    m.check()
    old = child.mm
    child.execve("/bin/true", ["true", "child"], [])
    m.check()
    assert child.mm is not old and old.mm_users == 0
    assert m.proc.read(f"/proc/{parent.pid}/maps") == pmaps
    assert parent.read(a, 6) == b"parent"
    parent.write(a, b"PARENT")                 # the COW pages are the parent's alone again
    assert not any(v[0] == a for v in maps(m, child))
    assert m.proc.read_bytes(f"/proc/{child.pid}/cmdline") == b"true\0child\0"
    child.exit()
    parent.exit()
    m.check()


# -- ASLR -----------------------------------------------------------------------------------

def test_aslr_is_seeded_and_within_46_ranges():
    _need("/bin/true")
    _need(INTERP)

    def run(seed):
        m = lv.Machine(ram="256M", seed=seed)
        m.fs.import_host("/bin/true")
        m.fs.import_host(INTERP)
        p = m.spawn("sh")
        p.execve("/bin/true", ["true"], [])
        m.check()
        return m, p, maps(m, p)
    m0, p0, a = run(1)
    _, _, b = run(1)
    _, _, c = run(2)
    assert a == b and a != c
    base = a[0][0]
    # ELF_ET_DYN_BASE plus arch_mmap_rnd: 28 bits of pages
    assert PIE_BASE <= base < PIE_BASE + (1 << 40) and base % 4096 == 0
    stack = next(v for v in a if v[4] == "[stack]")
    # randomize_stack_top: up to 16 GiB below STACK_TOP, then up to 8 KiB more
    assert STACK_TOP - (0x3fffff << 12) - 8192 <= stack[1] <= STACK_TOP
    mm = p0.mm
    # arch_randomize_brk (randomize_va_space 2): within 32 MiB above the bss
    end_bss = a[3][1]
    assert end_bss <= mm.start_brk < end_bss + (32 << 20) and mm.brk == mm.start_brk
    vdso = next(v for v in a if v[4] == "[vdso]")
    # vdso_addr: above the stack, in the stack's 2 MiB region, when it fits there
    assert vdso[0] >= stack[1] or vdso[1] <= mm.mmap_base


def test_personality_no_randomize_and_sysctl(mn):
    m = lv.Machine(ram="256M", seed=5)
    m.fs.import_host("/bin/true")
    m.fs.import_host(INTERP)
    p = m.spawn("sh")
    assert p.personality() == 0
    assert p.personality(ADDR_NO_RANDOMIZE) == 0          # setarch -R
    assert p.personality() == ADDR_NO_RANDOMIZE
    p.execve("/bin/true", ["true"], [])
    assert maps(m, p) == maps(mn, _exec(mn))
    m.sysctl["kernel.randomize_va_space"] = 0
    q = m.spawn("q")
    q.execve("/bin/true", ["true"], [])
    assert maps(m, q)[0][0] == PIE_BASE
    m.check()


def _exec(m):
    p = m.spawn("sh")
    p.execve("/bin/true", ["true"], [])
    return p


# -- other binaries -------------------------------------------------------------------------

def test_exec_ls(mn):
    _need("/bin/ls")
    m = mn
    m.fs.import_host("/bin/ls")
    p = m.spawn("sh")
    p.execve("/bin/ls", ["ls", "-l"], ["LANG=C"])
    m.check()
    vm = maps(m, p)
    assert vm[0][0] == PIE_BASE and vm[0][4] == "/bin/ls"
    assert dict(auxv(m, p))[AT_ENTRY] == PIE_BASE + host_ehdr("/bin/ls").e_entry
    p.exit()
    m.check()


STATIC_C = r"""
#include <stdio.h>
int counter = 5;
char big[100000];
int main(void) { return printf("%d\n", counter + big[0]) < 0; }
"""


@pytest.fixture(scope="module")
def static_binary():
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    d = tempfile.mkdtemp(prefix="linuxvm-exec-")
    src = os.path.join(d, "static.c")
    exe = os.path.join(d, "static")
    with open(src, "w") as f:
        f.write(STATIC_C)
    r = subprocess.run(["gcc", "-O1", "-static", "-no-pie", "-o", exe, src],
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"gcc -static failed (no static libc?): {r.stderr[-300:]}")
    return exe


def test_exec_static(static_binary):
    m = lv.Machine(ram="256M", seed=0, aslr=False)
    m.fs.import_host(static_binary, "/static")
    p = m.spawn("sh")
    p.execve("/static", ["static"], [])
    m.check()
    vm = maps(m, p)
    ex = host_ehdr(static_binary)
    assert ex.e_type == "ET_EXEC"
    assert vm[0][0] == 0x400000 and vm[0][4] == "/static"
    assert not any(v[4].startswith("/lib") for v in vm)
    d = dict(auxv(m, p))
    assert d[AT_BASE] == 0 and d[AT_ENTRY] == ex.e_entry == p.task.ip
    # the bss past the file's last page is an anonymous mapping ending at the break (so
    # maps calls it [heap]: without brk randomisation the heap starts right there)
    mm = p.mm
    files = [v for v in vm if v[4] == "/static"]
    bss = vm[len(files)]
    assert bss[4] == "[heap]" and bss[0] == files[-1][1]
    assert bss[1] == mm.start_brk == mm.brk
    assert bss[2] == "rw-p"
    # the zeroed tail of the data page is a private (COW) copy
    smaps = m.proc.read(f"/proc/{p.pid}/smaps")
    data_block = smaps.split(f"{files[-1][0]:08x}-")[1]
    assert "Anonymous:             4 kB" in data_block.split("VmFlags")[0]
    assert p.brk(mm.brk + 4096) == mm.brk
    m.check()
    p.exit()
    m.check()


def test_executable_stack(static_binary, tmp_path):
    exe = str(tmp_path / "xstack")
    r = subprocess.run(["gcc", "-O1", "-static", "-no-pie", "-z", "execstack", "-o", exe,
                        "-x", "c", "-"], input=STATIC_C, capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"gcc -z execstack failed: {r.stderr[-300:]}")
    m = lv.Machine(ram="256M", seed=0, aslr=False)
    m.fs.import_host(exe, "/xstack")
    m.fs.import_host(static_binary, "/static")
    p = m.spawn("sh")
    p.execve("/xstack", ["x"], [])
    assert next(v for v in maps(m, p) if v[4] == "[stack]")[2] == "rwxp"
    assert p.personality() & READ_IMPLIES_EXEC          # elf_read_implies_exec
    a = p.mmap(None, 4096, lv.PROT_READ, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    assert next(v for v in maps(m, p) if v[0] == a)[2] == "r-xp"
    p.execve("/static", ["x"], [])
    assert next(v for v in maps(m, p) if v[4] == "[stack]")[2] == "rw-p"
    assert not p.personality() & READ_IMPLIES_EXEC      # set_personality_64bit
    m.check()


def test_auxv_names():
    assert AT_NAMES[33] == "AT_SYSINFO_EHDR" and AT_NAMES[0] == "AT_NULL"


def test_script_is_not_modelled_and_leaves_nothing(mn):
    m = mn
    m.fs.create("/tmp/script", 20, b"#!/bin/sh\necho hi\n\0\0", mode=0o755)
    p = m.spawn("sh")
    p.execve("/bin/true", ["true"], [])         # warm the cache
    with pytest.raises(NotImplementedError, match="binfmt_script"):
        p.execve("/tmp/script", ["script"], [])
    base = free_state(m)
    with pytest.raises(NotImplementedError):
        p.execve("/tmp/script", ["script"], [])
    assert free_state(m) == base
    assert m.vfs.files["/tmp/script"].i_writecount == 0
    m.check()


@pytest.mark.parametrize("args, exc", [
    ((b"/bin/true", ["true"], []), TypeError),          # path not a str
    (("/bin/true", "true", []), TypeError),             # argv a string, not a list
    (("/bin/true", ["true", 5], []), TypeError),
    (("/bin/true", ["tr\0ue"], []), ValueError),        # a NUL ends a C string
    (("/bin/true", ["true"], [b"A=\0"]), ValueError),
])
def test_execve_bad_arguments_change_nothing(mn, args, exc):
    m = mn
    p = m.spawn("sh")
    with pytest.raises(exc):
        p.execve(*args)
    assert m.proc.read(f"/proc/{p.pid}/maps") == ""
    m.check()


def test_close_on_exec(mn):
    m = mn
    m.fs.create("/tmp/f", 4096)
    p = m.spawn("sh")
    keep = p.open("/tmp/f", lv.O_RDONLY)
    gone = p.open("/tmp/f", lv.O_RDONLY | O_CLOEXEC)
    p.execve("/bin/true", ["true"], [])
    assert keep in p.task.files and gone not in p.task.files
    p.close(keep)
    assert m.vfs.files["/tmp/f"].i_count == 0
    m.check()


def test_reading_the_pid_files_of_an_execd_process(mn):
    m = mn
    p = m.spawn("sh")
    p.execve("/bin/true", ["true", "-v"], ["A=1"])
    d = f"/proc/{p.pid}"
    snap = (m.proc.read(f"{d}/smaps"), m.proc.read("/proc/meminfo"), m.nr_free_pages())
    for name in m.proc.listdir(d):
        node = m.proc.lookup(f"{d}/{name}")
        if name == "pagemap":
            m.proc.read_bytes(f"{d}/pagemap", (0x555555554000 >> 12) * 8, 64)
        elif name == "clear_refs":                  # write-only, as in 4.6
            with pytest.raises(lv.SyscallError) as e:
                m.proc.read(f"{d}/clear_refs")
            assert e.value.errno == errno.EINVAL
        elif node.kind == "binary":
            m.proc.read_bytes(f"{d}/{name}")
        elif node.kind == "link":
            assert m.proc.readlink(f"{d}/{name}") == "/bin/true"
        else:
            m.proc.read(f"{d}/{name}")
        m.check()
    assert snap == (m.proc.read(f"{d}/smaps"), m.proc.read("/proc/meminfo"),
                    m.nr_free_pages())


def test_mlockall_future_does_not_survive_exec(mn):
    m = mn
    p = m.spawn("sh", uid=0)
    p.mlockall(lv.MCL_FUTURE)
    p.execve("/bin/true", ["true"], [])
    assert p.mm.def_flags == 0 and p.mm.locked_vm == 0
    assert "VmLck:\t       0 kB" in m.proc.read(f"/proc/{p.pid}/status")
    m.check()


def test_vdso_pages_fault_in_and_mlockall_works(mn):
    m = mn
    p = m.spawn("v", uid=0)
    p.execve("/bin/true", ["true"], [])
    vdso = p.mm.context.vdso
    assert p.read(vdso, 16) == bytes(16)             # the model's image holds no code
    assert p.read(vdso + 4096, 4) == bytes(4)
    m.check()
    page = p.mm.context.vdso_image and vdso_image_pfn(m, p.mm.context.vdso_image, 0)
    rc = int(m.mem_map.rc[page])
    assert p.mlockall(lv.MCL_CURRENT) == 0            # [vvar] is VM_PFNMAP: skipped
    m.check()
    c = p.fork()
    assert c.read(vdso, 4) == bytes(4)
    m.check()
    c.exit(0)
    p.exit(0)
    m.check()
    assert int(m.mem_map.rc[page]) == rc - 1          # the mapping's reference went
