"""``linuxvm vtop ADDR`` and ``linuxvm ptdump``: walk the kernel's tables or show them as
/sys/kernel/debug/kernel_page_tables does."""

import sys

from ..cli import EXTRA_COMMANDS, CliError, boot, machine_line


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
    sys.stdout.write(str(vtop(m.init_mm, addr)))
    return 0


def cmd_ptdump(args) -> int:
    from ..arch.x86.dump_pagetables import ptdump_walk_pgd_level
    m = boot(args)
    print(machine_line(args, m))
    sys.stdout.write(ptdump_walk_pgd_level(m))
    return 0


def register(sub, add_machine_args) -> None:
    s = sub.add_parser("vtop", help="translate a kernel virtual address, showing each level")
    s.add_argument("addr", help="virtual address, e.g. 0xffff880000001000")
    add_machine_args(s)
    s.set_defaults(fn=cmd_vtop)
    s = sub.add_parser("ptdump", help="the kernel page tables as kernel_page_tables shows them")
    add_machine_args(s)
    s.set_defaults(fn=cmd_ptdump)


EXTRA_COMMANDS.append(register)
