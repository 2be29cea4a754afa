"""mprotect: errno paths, VM_MAY* rules, accounting on becoming writable, GROWSDOWN."""

import errno

import pytest

import linuxvm as lv
from _vm import P, RW, R, BASE, FIXED, machine, proc, layout, fixed, errno_of


def test_mprotect_errno_paths():
    m = machine()
    p = proc(m)
    fixed(p, 0, 4)
    fixed(p, 6, 2)
    cases = [
        ((BASE + 1, P, R), errno.EINVAL),                             # unaligned start
        ((BASE, P, R | 0x10), errno.EINVAL),                          # unknown prot bit
        ((BASE, P, R | lv.PROT_GROWSDOWN | lv.PROT_GROWSUP), errno.EINVAL),
        ((BASE, 8 * P, R), errno.ENOMEM),                             # hole at 4-5
        ((BASE + 20 * P, P, R), errno.ENOMEM),                        # nothing mapped
        ((BASE - P, 2 * P, R), errno.ENOMEM),                         # starts in a hole
        (((1 << 64) - P, 2 * P, R), errno.ENOMEM),                    # wraps
        ((BASE, P, R | lv.PROT_GROWSDOWN), errno.EINVAL),             # not a GROWSDOWN vma
    ]
    for args, err in cases:
        assert errno_of(p.mprotect, *args) == err, args
        m.check()
    assert p.mprotect(BASE, 0, R) == 0                                # len 0: success
    # the hole case still changed the part before the hole, as 4.6 does
    assert layout(p) == [(0, 4, "r--"), (6, 8, "rw-")]


def test_mprotect_may_bits_eacces():
    m = machine()
    p = proc(m)
    m.vfs.create("/ro", 4 * P)
    fd = p.open("/ro", lv.O_RDONLY)
    a = p.mmap(0, P, R, lv.MAP_SHARED, fd)
    assert errno_of(p.mprotect, a, P, RW) == errno.EACCES
    assert p.mprotect(a, P, lv.PROT_READ | lv.PROT_EXEC) == 0        # VM_MAYEXEC is set
    m.check()


def test_becoming_writable_charges_commit_once():
    m = machine()
    p = proc(m)
    a = p.mmap(0, 8 * P, R, lv.MAP_PRIVATE | lv.MAP_ANONYMOUS)
    assert m.vm_committed_as == 0
    p.mprotect(a, 4 * P, RW)
    assert m.vm_committed_as == 4
    p.mprotect(a, 4 * P, R)          # VM_ACCOUNT stays: no refund
    p.mprotect(a, 4 * P, RW)
    assert m.vm_committed_as == 4
    assert p.mm.data_vm == 4
    m.check()


def test_prot_growsdown_extends_to_vma_start():
    m = machine()
    p = proc(m)
    fixed(p, 0, 8, RW, FIXED | lv.MAP_GROWSDOWN)
    p.mprotect(BASE + 6 * P, P, R | lv.PROT_GROWSDOWN)
    m.check()
    assert layout(p) == [(0, 7, "r--"), (7, 8, "rw-")]
    assert p.mm.stack_vm == 8


def test_prot_none_over_touched_pages_keeps_them_mapped():
    """PROT_NONE PTEs (present bit clear, _PAGE_PROTNONE set) still map their pages: RSS,
    mapcount and the invariant checker count them, through fork, re-enable and unmap."""
    m = lv.Machine(ram="256M", cpus=1, seed=0)
    p = m.spawn("x")
    a = p.mmap(None, 8 * P, 3, 0x22)
    p.touch(a, 8 * P, write=True)
    m.check()
    p.mprotect(a, 4 * P, 0)
    m.check()
    smaps = m.proc.read(f"/proc/{p.pid}/smaps")
    block = smaps[smaps.index(f"{a:08x}-"):]
    assert block.split("\n")[0].split()[1] == "---p"
    assert "\nRss:                  16 kB\n" in block.split("VmFlags")[0]
    pm = m.proc.read_bytes(f"/proc/{p.pid}/pagemap", (a >> 12) * 8, 8 * 8)
    assert all(int.from_bytes(pm[i:i + 8], "little") >> 63 for i in range(0, 64, 8))
    c = p.fork()
    m.check()
    p.mprotect(a, 4 * P, 3)
    m.check()
    p.touch(a, 8 * P, write=True)
    m.check()
    c.exit()
    m.check()
    p.munmap(a, 8 * P)
    m.check()
