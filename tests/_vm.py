"""Shared helpers for the address-space tests: a process, layout pictures, errno checks."""

import pytest

import linuxvm as lv

P = 4096
RW = lv.PROT_READ | lv.PROT_WRITE
R = lv.PROT_READ
RX = lv.PROT_READ | lv.PROT_EXEC
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
FIXED = ANON | lv.MAP_FIXED
BASE = 0x10000000          # a quiet spot for MAP_FIXED layouts (page 0 of the pictures)


def machine(**kw):
    kw.setdefault("ram", "256M")
    kw.setdefault("seed", 0)
    return lv.Machine(**kw)


def proc(m, **kw):
    p = m.spawn("t", **kw)
    m.check()
    return p


def layout(p, base=BASE, pages=64):
    """[(first_page, end_page, "rwxp"), …] of the VMAs inside [base, base + pages*P)."""
    out = []
    v = p.mm.mmap
    while v is not None:
        if v.vm_end > base and v.vm_start < base + pages * P:
            f = v.vm_flags
            perms = ("r" if f & 1 else "-") + ("w" if f & 2 else "-") + ("x" if f & 4 else "-")
            out.append(((v.vm_start - base) // P, (v.vm_end - base) // P, perms))
        v = v.vm_next
    return out


def fixed(p, first, n, prot=RW, flags=FIXED):
    a = p.mmap(BASE + first * P, n * P, prot, flags)
    assert a == BASE + first * P
    p.m.check()
    return a


def errno_of(fn, *args, **kw):
    with pytest.raises(lv.SyscallError) as ei:
        fn(*args, **kw)
    return ei.value.errno
