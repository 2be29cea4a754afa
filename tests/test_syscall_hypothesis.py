"""Random sequences of the mmap family with m.check() after every call."""

import errno

from hypothesis import given, settings, HealthCheck, strategies as st

import linuxvm as lv
from _vm import P, BASE, machine

PROTS = [0, lv.PROT_READ, lv.PROT_READ | lv.PROT_WRITE, lv.PROT_READ | lv.PROT_EXEC,
         lv.PROT_READ | lv.PROT_WRITE | lv.PROT_EXEC]
FLAGS = [lv.MAP_PRIVATE | lv.MAP_ANONYMOUS, lv.MAP_SHARED | lv.MAP_ANONYMOUS,
         lv.MAP_PRIVATE | lv.MAP_ANONYMOUS | lv.MAP_NORESERVE,
         lv.MAP_PRIVATE | lv.MAP_ANONYMOUS | lv.MAP_GROWSDOWN,
         lv.MAP_PRIVATE, lv.MAP_SHARED]                     # the last two map a file
ADVICE = [lv.MADV_NORMAL, lv.MADV_RANDOM, lv.MADV_SEQUENTIAL, lv.MADV_DONTFORK,
          lv.MADV_DOFORK, lv.MADV_DONTDUMP, lv.MADV_DODUMP, lv.MADV_HUGEPAGE,
          lv.MADV_NOHUGEPAGE, lv.MADV_DONTNEED, lv.MADV_WILLNEED, lv.MADV_FREE, 5]

page = st.integers(0, 40)
npages = st.integers(0, 12)
call = st.one_of(
    st.tuples(st.just("mmap"), page, npages, st.sampled_from(PROTS), st.sampled_from(FLAGS),
              st.booleans()),
    st.tuples(st.just("munmap"), page, npages),
    st.tuples(st.just("mprotect"), page, npages, st.sampled_from(PROTS)),
    st.tuples(st.just("mremap"), page, npages, npages, st.integers(0, 3), page),
    st.tuples(st.just("madvise"), page, npages, st.sampled_from(ADVICE)),
    st.tuples(st.just("mlock"), page, npages, st.booleans()),
    st.tuples(st.just("munlock"), page, npages),
    st.tuples(st.just("brk"), st.integers(-2, 10)),
    st.tuples(st.just("mlockall"), st.integers(0, 7)),
)

ALLOWED = {errno.EINVAL, errno.ENOMEM, errno.EACCES, errno.EPERM, errno.EAGAIN, errno.EFAULT}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(call, min_size=1, max_size=25), st.booleans())
def test_random_syscalls_keep_invariants(calls, never):
    m = machine(sysctl={"vm.overcommit_memory": 2 if never else 0})
    p = m.spawn("fuzz", uid=1000)
    brk0 = p.brk(0)
    m.vfs.create("/f", 64 * P)
    fd = p.open("/f", lv.O_RDWR)
    for c in calls:
        op = c[0]
        try:
            if op == "mmap":
                _, pg, n, prot, flags, fixed = c
                p.mmap(BASE + pg * P, n * P, prot, flags | (lv.MAP_FIXED if fixed else 0),
                       -1 if flags & lv.MAP_ANONYMOUS else fd, (pg % 4) * P)
            elif op == "munmap":
                p.munmap(BASE + c[1] * P, c[2] * P)
            elif op == "mprotect":
                p.mprotect(BASE + c[1] * P, c[2] * P, c[3])
            elif op == "mremap":
                _, pg, old, new, flags, to = c
                p.mremap(BASE + pg * P, old * P, new * P, flags, BASE + to * P)
            elif op == "madvise":
                p.madvise(BASE + c[1] * P, c[2] * P, c[3])
            elif op == "mlock":
                if c[3]:
                    p.mlock2(BASE + c[1] * P, c[2] * P, lv.MLOCK_ONFAULT)
                else:
                    p.mlock(BASE + c[1] * P, c[2] * P)
            elif op == "munlock":
                p.munlock(BASE + c[1] * P, c[2] * P)
            elif op == "brk":
                p.brk(brk0 + c[1] * P)
            elif op == "mlockall":
                if c[1] & 1:
                    p.mlockall(c[1])
                else:
                    p.munlockall()
        except lv.SyscallError as e:
            assert e.errno in ALLOWED, (c, e)
        m.check()
    p.exit()
    m.check()
    # stack growth of a VMA without VM_ACCOUNT is charged and never returned (4.6)
    assert m.vm_committed_as == getattr(m, "committed_outside_vmas", 0)
