"""linuxvm autopsy (issue 16 part 4): a real program of this machine execve'd in the model
and shown at its entry point: maps, smaps, status, the decoded auxv and the page-table
dump of the hacks repository's tool."""

import os
import shutil

import pytest

import linuxvm as lv
from linuxvm.cli import main
from linuxvm.tools.autopsy import autopsy, AutopsyError, host_interpreter

TRUE = shutil.which("true") or "/bin/true"
pytestmark = pytest.mark.skipif(not os.path.exists(TRUE), reason="no true(1) on this machine")


def section(report, title):
    start = report.index(f"== {title} ==\n") + len(title) + 7
    end = report.find("\n== ", start)
    return report[start:end if end >= 0 else None]


def test_autopsy_of_true_without_aslr():
    m = lv.Machine(ram="512M", aslr=False)
    report = autopsy(m, TRUE)
    m.check()
    pid = next(iter(m.tasks))
    maps = section(report, f"/proc/{pid}/maps")
    assert maps == m.proc.read(f"/proc/{pid}/maps")
    names = [line.split()[-1] for line in maps.splitlines() if len(line.split()) == 6]
    assert os.path.abspath(TRUE) in names
    assert {"[stack]", "[vdso]", "[vvar]", "[vsyscall]"} <= set(names)
    interp = host_interpreter(TRUE)
    if interp is not None:
        assert interp in names
        # a PIE at ELF_ET_DYN_BASE, 4.6's 0x555555554000 with randomisation off
        assert maps.startswith("555555554000-")
    auxv = section(report, f"/proc/{pid}/auxv (decoded)")
    assert f"AT_EXECFN:          {os.path.abspath(TRUE)}" in auxv
    assert "AT_PLATFORM:        x86_64" in auxv and "AT_PAGESZ:          4096" in auxv
    status = section(report, f"/proc/{pid}/status")
    assert status == m.proc.read(f"/proc/{pid}/status")
    assert "== Page Counts ==" in report
    # the reading did not fault anything in: the stack's present pages are the same
    assert section(report, f"/proc/{pid}/smaps") == m.proc.read(f"/proc/{pid}/smaps")


def test_autopsy_errors_are_one_line_and_change_nothing(tmp_path, capsys):
    missing = str(tmp_path / "nope")
    with pytest.raises(AutopsyError, match="no such file"):
        autopsy(lv.Machine(ram="256M"), missing)
    text = tmp_path / "script.txt"
    text.write_text("hello\n")
    with pytest.raises(AutopsyError, match="not an ELF"):
        autopsy(lv.Machine(ram="256M"), str(text))
    assert main(["autopsy", missing, "--ram", "256M"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err


def test_autopsy_cli_prints_the_report(capsys):
    assert main(["autopsy", "--no-aslr", "--ram", "512M", TRUE, "--version"]) == 0
    out = capsys.readouterr().out
    assert "aslr=off" in out.splitlines()[0]
    assert "== /proc/1/maps ==" in out and "== pagetables 1 ==" in out
    assert "AT_ENTRY:" in out
    assert "/proc/1/cmdline" not in out
