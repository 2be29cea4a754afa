"""``linuxvm vtop ADDR`` and ``linuxvm ptdump``: walk page tables step by step, or show them
as /sys/kernel/debug/kernel_page_tables does — for the kernel, or (``--user SIZE``) for a
process that has mapped and touched SIZE bytes of anonymous memory."""

import sys

from ..cli import EXTRA_COMMANDS, CliError, boot, machine_line

PROT_RW = 0x3
MAP_PRIVATE_ANON = 0x22


def _user_process(m, size_text):
    """Spawn a process, mmap SIZE bytes of anonymous memory and touch every page."""
    from ..units import parse_size
    try:
        size = parse_size(size_text)
    except ValueError as e:
        raise CliError(str(e)) from None
    if size <= 0:
        raise CliError(f"--user wants a positive size, not {size_text!r}")
    p = m.spawn("prog")
    try:
        addr = p.mmap(None, size, PROT_RW, MAP_PRIVATE_ANON)
        p.touch(addr, size, write=True)
    except OSError as e:
        raise CliError(f"mmap/touch of {size_text} failed: {e}") from None
    return p, addr, size


def cmd_vtop(args) -> int:
    from .vtop import vtop
    m = boot(args)
    try:
        addr = int(args.addr, 0)
    except ValueError:
        raise CliError(f"not an address: {args.addr!r}") from None
    if not 0 <= addr < 1 << 64:
        raise CliError(f"address {args.addr} does not fit 64 bits")
    print(machine_line(args, m))
    mm = m.init_mm
    if args.user:
        p, base, size = _user_process(m, args.user)
        print(f"# pid {p.pid}: {args.user} anonymous mapping at {base:#x}, touched; "
              f"ADDR is an offset into it")
        addr += base
        mm = p.mm
    sys.stdout.write(str(vtop(mm, addr)))
    return 0


def cmd_ptdump(args) -> int:
    from ..arch.x86.dump_pagetables import ptdump_walk_pgd_level
    m = boot(args)
    print(machine_line(args, m))
    pgd = None
    if args.user:
        p, base, size = _user_process(m, args.user)
        print(f"# pid {p.pid}: {args.user} anonymous mapping at {base:#x}, touched")
        pgd = p.mm.pgd
    sys.stdout.write(ptdump_walk_pgd_level(m, pgd))
    return 0


def register(sub, add_machine_args) -> None:
    s = sub.add_parser("vtop", help="translate a virtual address, showing each level "
                                    "(crash's vtop)")
    s.add_argument("addr", help="virtual address, e.g. 0xffff880000001000 (with --user: an "
                                "offset into the process's mapping)")
    s.add_argument("--user", metavar="SIZE", help="walk a process that mapped and touched "
                                                  "SIZE bytes (e.g. 4M) instead of init_mm")
    add_machine_args(s)
    s.set_defaults(fn=cmd_vtop)
    s = sub.add_parser("ptdump", help="page tables in the format of "
                                      "/sys/kernel/debug/kernel_page_tables")
    s.add_argument("--user", metavar="SIZE", help="dump a process that mapped and touched "
                                                  "SIZE bytes instead of the kernel tables")
    add_machine_args(s)
    s.set_defaults(fn=cmd_ptdump)


EXTRA_COMMANDS.append(register)
