"""The hacks repository's page-table dumper: the pagetables module's debugfs files
(vaddr, pid, pgd, pud, pmd, pte) and the user tool's output, checked against the
model's page tables read independently (pagemap for the leaves, the mm's tables for
the upper levels)."""

import errno

import pytest

import linuxvm as lv
from linuxvm.arch.x86.pgtable import read_table, set_entry, get_entry
from linuxvm.cli import main
from linuxvm.tools.pagetables_usr import human_bytes, pagetables_usr
from linuxvm.workloads.experiments import start_process

D = "/sys/kernel/debug/pagetables/"
RW = lv.PROT_READ | lv.PROT_WRITE
ANON = lv.MAP_PRIVATE | lv.MAP_ANONYMOUS
PAGE = 4096
NX = 1 << 63


def table(m, name) -> list:
    data = m.proc.read_bytes(D + name)
    assert len(data) == 4096
    return [int.from_bytes(data[i:i + 8], "little") for i in range(0, 4096, 8)]


def errno_of(m, name):
    with pytest.raises(lv.SyscallError) as e:
        m.proc.read_bytes(D + name)
    return e.value.errno


def pagemap_pfn(m, p, addr):
    e = int.from_bytes(m.proc.read_bytes(f"/proc/{p.pid}/pagemap", (addr >> 12) * 8, 8),
                       "little")
    assert e >> 63, f"{addr:#x} not present"
    return e & ((1 << 55) - 1)


@pytest.fixture
def m():
    return lv.Machine(ram="256M", cpus=1, seed=0, aslr=False)


# -- the debugfs files ---------------------------------------------------------------

def test_files_and_modes(m):
    assert m.proc.listdir(D) == ["pgd", "pid", "pmd", "pte", "pud", "vaddr"]
    assert {n: m.proc.mode(D + n) for n in m.proc.listdir(D)} == {
        "vaddr": 0o600, "pid": 0o600, "pgd": 0o400, "pud": 0o400, "pmd": 0o400, "pte": 0o400}
    assert m.proc.read(D + "vaddr") == "0x0000000000000000\n"      # debugfs x64: "0x%016llx\n"
    assert m.proc.read(D + "pid") == "0\n"                          # debugfs u32: "%llu\n"


@pytest.mark.parametrize("text,value", [
    ("0x7f0000001000", 0x7F0000001000),
    ("4096", 4096),
    ("010", 8),                     # simple_strtoll base 0: a leading 0 is octal
    ("0x", 0),                      # "0x" without a hex digit: octal "0", then "x" stops it
    ("junk", 0),                    # no digits: 0, and the write still succeeds
    ("12junk", 12),
    ("-1", (1 << 64) - 1),
    # only 23 bytes are read, and the value wraps modulo 2^64
    ("0x1234567890123456789012345", 0x123456789012345678901 & ((1 << 64) - 1)),
])
def test_vaddr_writes_parse_like_simple_attr_write(m, text, value):
    m.proc.write(D + "vaddr", text)
    assert m.proc.read(D + "vaddr") == f"0x{value:016x}\n"


def test_pid_is_u32(m):
    m.proc.write(D + "pid", "-1")
    assert m.proc.read(D + "pid") == "4294967295\n"
    m.proc.write(D + "pid", "0x100000005")          # debugfs_u32_set truncates
    assert m.proc.read(D + "pid") == "5\n"


def test_table_files_are_not_writable(m):
    for name in ("pgd", "pud", "pmd", "pte"):
        with pytest.raises(lv.SyscallError) as e:
            m.proc.write(D + name, b"\0" * 8)
        assert e.value.errno == errno.EINVAL


def test_tables_follow_vaddr_and_einval_on_none_entries(m):
    p = m.spawn("t")
    a = p.mmap(None, 2 * PAGE, RW, ANON)
    p.write(a, b"x")
    m.check()
    m.proc.write(D + "pid", str(p.pid))
    m.proc.write(D + "vaddr", hex(a))
    pgd = table(m, "pgd")
    assert pgd == list(read_table(m, p.mm.pgd))
    pud_pfn = (pgd[a >> 39 & 511] & ((1 << 52) - 1)) >> 12
    assert table(m, "pud") == list(read_table(m, pud_pfn))
    pte = table(m, "pte")
    assert (pte[a >> 12 & 511] & ((1 << 52) - 1)) >> 12 == pagemap_pfn(m, p, a)
    assert pte[(a >> 12 & 511) + 1] == 0                            # not touched
    # reads take offsets as simple_read_from_buffer does
    assert m.proc.read_bytes(D + "pgd", 8 * 255, 8) == pgd[255].to_bytes(8, "little")
    assert m.proc.read_bytes(D + "pgd", 4096, 8) == b""
    assert m.proc.read_bytes(D + "pgd", 4090, 100) == pgd[511].to_bytes(8, "little")[2:]
    # an address with no PGD entry: every level below the PGD is EINVAL
    m.proc.write(D + "vaddr", "0x100000000000")
    assert len(table(m, "pgd")) == 512
    assert [errno_of(m, n) for n in ("pud", "pmd", "pte")] == [errno.EINVAL] * 3
    # a PGD entry but no PUD entry: pud reads, pmd and pte are EINVAL
    m.proc.write(D + "vaddr", hex(a - (1 << 30)))
    assert len(table(m, "pud")) == 512
    assert [errno_of(m, n) for n in ("pmd", "pte")] == [errno.EINVAL] * 2
    m.check()


def test_esrch_without_an_mm(m):
    assert m.current is None                        # nothing has run: pid 0 has no mm
    assert errno_of(m, "pgd") == errno.ESRCH
    p = m.spawn("gone")
    q = m.spawn("other")
    for pid in ("999", "-1", str(p.pid)):
        if pid == str(p.pid):
            p.exit(0)
        m.proc.write(D + "pid", pid)
        assert [errno_of(m, n) for n in ("pgd", "pud", "pmd", "pte")] == [errno.ESRCH] * 4
    m.proc.write(D + "pid", str(q.pid))
    assert len(table(m, "pgd")) == 512
    m.check()


# -- the user tool ---------------------------------------------------------------------

def expected_tree(m, p, leaves):
    """The tool's lines for a process whose only user entries lead to ``leaves``
    ({addr: (pte flag text, pte value)}), computed from the mm's tables and pagemap."""
    lines = []
    seen = set()
    for addr in sorted(leaves):
        idx = [addr >> 39 & 511, addr >> 30 & 511, addr >> 21 & 511, addr >> 12 & 511]
        t = p.mm.pgd
        for level in range(3):
            e = read_table(m, t)[idx[level]]
            key = (level, tuple(idx[:level + 1]))
            if key not in seen:
                seen.add(key)
                assert e & 0xFFF == 0x067 and not e >> 63      # _PAGE_TABLE
                lines.append("   " * level + f"{idx[level]:03d} {e & ~0x1FF:016x} 000001100111")
            t = (e & ((1 << 52) - 1)) >> 12
        flags, value = leaves[addr]
        lines.append("   " * 3 + f"{idx[3]:03d} {value & ~0x1FF & ((1 << 46) - 1):016x} {flags}")
    return lines, seen


def test_tool_output_for_a_small_process(m):
    #   a: 4 pages: written, written, read (the zero page), untouched
    p = m.spawn("small")
    a = p.mmap(None, 4 * PAGE, RW, ANON)
    p.write(a, b"1")
    p.write(a + PAGE, b"2")
    p.read(a + 2 * PAGE, 1)
    m.check()
    r = pagetables_usr(m, p.pid)
    assert r.status == 0 and r.stderr == ""
    zero_pfn = pagemap_pfn(m, p, a + 2 * PAGE)
    # a written anonymous PTE: PRESENT|RW|USER|ACCESSED|DIRTY, SOFT_DIRTY (bit 11) and NX;
    # the tool masks only the low 9 bits, so bit 11 shows in the address (…800)
    leaves = {a: ("000001100111 NX", pagemap_pfn(m, p, a) << 12 | 0x800),
              a + PAGE: ("000001100111 NX", pagemap_pfn(m, p, a + PAGE) << 12 | 0x800),
              # the zero page: PRESENT|USER|ACCESSED, SPECIAL (bit 9) leaks in as …200
              a + 2 * PAGE: ("000000100101 NX", zero_pfn << 12 | 0x200)}
    lines, seen = expected_tree(m, p, leaves)
    body, counts = r.stdout.split("\n== Page Counts ==\n\n")
    assert body.splitlines() == lines
    assert lines[-1].endswith("200 000000100101 NX")
    n = {lvl: sum(1 for k in seen if k[0] == lvl) for lvl in range(3)}
    assert counts.splitlines() == [
        "PGD pages:\t       1 (   4.0 KiB)",
        f"PUD pages:\t{n[0]:8d} ({human_bytes(n[0] * 4096)})",
        f"PMD pages:\t{n[1]:8d} ({human_bytes(n[1] * 4096)})",
        f"PTE pages:\t{n[2]:8d} ({human_bytes(n[2] * 4096)})",
        "4K Phys pages:\t       3 (  12.0 KiB)",
        f"TOTAL:\t\t{4 + sum(n.values()):8d} ({human_bytes((4 + sum(n.values())) * 4096)})",
        "",
        "R/W PTEs:\t       2/3 (   8.0 KiB)",
        "User PTEs:\t       3/3 (  12.0 KiB)",
        "Accessed PTEs:\t       3/3 (  12.0 KiB)",
        "Dirty PTEs:\t       2/3 (   8.0 KiB)",
        "NX PTEs:\t       3/3 (  12.0 KiB)",
    ]
    # the tool left vaddr at the last table it descended into (the PTE table's base)
    assert m.proc.read(D + "vaddr") == f"0x{a & ~((1 << 21) - 1):016x}\n"
    assert m.proc.read(D + "pid") == f"{p.pid}\n"
    m.check()


def test_pid_0_is_the_tool_itself(m):
    tool = start_process(m, "pagetables")
    mine = pagetables_usr(m, reader=tool)
    assert mine.status == 0
    assert pagetables_usr(m, tool.pid).stdout == mine.stdout
    assert m.proc.read(D + "pid") == f"{tool.pid}\n"
    m.check()


def test_tool_errors(m):
    r = pagetables_usr(m, 4242)
    assert (r.stdout, r.stderr, r.status) == (
        "", "pagetables: error: read error: No such process\n", 1)


def test_kernel_half_is_hidden_and_index_271_is_not_shown(m):
    p = m.spawn("k")
    r = pagetables_usr(m, p.pid)
    pgd = read_table(m, p.mm.pgd)
    assert any(pgd[i] for i in range(272, 512))     # the kernel half is there…
    assert r.stdout.startswith("\n== Page Counts ==")  # …but not shown; nothing user-mapped


def _hand_built_pmd_leaf(m, p, a):
    """Put a 2 MiB PSE leaf into the PMD slot after ``a``'s (a free slot), as THP or
    hugetlb would leave one (PRESENT|RW|USER|ACCESSED|DIRTY|PSE, NX)."""
    e = get_entry(m, (p.mm.pgd, a >> 39 & 511))
    pud = (e & ((1 << 52) - 1)) >> 12
    e = read_table(m, pud)[a >> 30 & 511]
    pmd = (e & ((1 << 52) - 1)) >> 12
    slot = ((a >> 21) & 511) ^ 1
    assert read_table(m, pmd)[slot] == 0
    value = NX | (0x40000000) | 0xE7
    set_entry(m, (pmd, slot), value)
    return (pmd, slot), value, (a & ~((1 << 30) - 1)) | slot << 21


def test_huge_leaf_is_marked_not_descended_and_counted_4k_in_flag_totals(m):
    p = m.spawn("h")
    a = p.mmap(None, PAGE, RW, ANON)
    p.write(a, b"x")
    ptr, value, haddr = _hand_built_pmd_leaf(m, p, a)
    try:
        r = pagetables_usr(m, p.pid)
        m.proc.write(D + "vaddr", hex(haddr))
        assert errno_of(m, "pte") == errno.EINVAL          # a PSE PMD is pmd_bad
        assert len(table(m, "pmd")) == 512
    finally:
        set_entry(m, ptr, 0)
    lines = r.stdout.splitlines()
    leaf = [ln for ln in lines if ln.endswith(" H")]
    assert leaf == ["      %03d %016x 000011100111 NX H" % (ptr[1], 0x40000000)]
    # not descended into: the next line is not a deeper one
    i = lines.index(leaf[0])
    assert i + 1 == len(lines) or not lines[i + 1].startswith(" " * 9)
    assert "Huge Phys pages:       1 (   2.0 MiB)" in lines
    assert "4K Phys pages:\t       1 (   4.0 KiB)" in lines
    # TOTAL adds the huge page's 2 MiB; the flag lines count it as one 4 KiB page of two
    total = [ln for ln in lines if ln.startswith("TOTAL:")][0]
    tables = int(total.split()[1]) - 2
    assert total == "TOTAL:\t\t%8d (%s)" % (tables + 2,
                                               human_bytes(tables * 4096 + 4096 + (2 << 20)))
    assert "R/W PTEs:\t       2/2 (   8.0 KiB)" in lines
    assert "NX PTEs:\t       2/2 (   8.0 KiB)" in lines
    m.check()


def test_unreadable_table_prints_invalid_and_is_not_counted(m):
    # a present, non-PSE PMD entry that is pmd_bad (ACCESSED clear): the tool descends,
    # every read of the pte file fails with EINVAL and fread tries again each time
    p = m.spawn("bad")
    a = p.mmap(None, PAGE, RW, ANON)
    p.write(a, b"x")
    e = get_entry(m, (p.mm.pgd, a >> 39 & 511))
    pud = (e & ((1 << 52) - 1)) >> 12
    pmd = (read_table(m, pud)[a >> 30 & 511] & ((1 << 52) - 1)) >> 12
    ptr = (pmd, a >> 21 & 511)
    good = get_entry(m, ptr)
    set_entry(m, ptr, good & ~0x20)
    try:
        r = pagetables_usr(m, p.pid)
    finally:
        set_entry(m, ptr, good)
    lines = r.stdout.split("\n== Page Counts ==")[0].splitlines()
    body = lines[lines.index("      %03d %016x 000001000111" % (ptr[1], good & ~0x1FF)) + 1:]
    # index 0 of an unreadable table looks valid (entry 0, index 0 is not negative)
    assert body[0] == "         000    <not present> 000000000000"
    assert body[1:] == ["         %03d        <INVALID>" % i for i in range(1, 512)]
    assert "!!! Invalid" not in r.stdout            # entry 0 is not present: never counted
    assert "4K Phys pages:\t       0 (   0.0 )" in r.stdout
    m.check()


@pytest.mark.parametrize("n,text", [
    (0, "   0.0 "), (1024, "1024.0 "), (1025, "   1.0 KiB"), (4096, "   4.0 KiB"),
    (3 << 30, "   3.0 GiB"), (1536 << 20, "   1.5 GiB"), (5 << 40, "   5.0 TiB")])
def test_human_bytes(n, text):
    assert human_bytes(n) == text


def test_cli_pagetables(capsys):
    assert main(["pagetables", "1", "--user", "16K", "--ram", "256M", "--cpus", "1"]) == 0
    out = capsys.readouterr().out
    assert "4K Phys pages:\t       4 (  16.0 KiB)" in out
    assert main(["pagetables", "--ram", "256M", "--cpus", "1"]) == 0     # the tool itself
    assert "4K Phys pages:\t       1 (   4.0 KiB)" in capsys.readouterr().out
    assert main(["pagetables", "77", "--ram", "256M", "--cpus", "1"]) == 1
    assert "No such process" in capsys.readouterr().err


def test_cli_cat_of_a_refused_read(capsys):
    # nothing has run on a fresh machine: pid 0 has no mm
    assert main(["cat", D + "pgd", "--ram", "256M", "--cpus", "1"]) == 2
    assert "No such process" in capsys.readouterr().err
