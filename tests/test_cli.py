"""The ``linuxvm`` command: help, reading model files, and bad input (one error line,
exit status 2, no traceback)."""

import subprocess
import sys

import pytest

import linuxvm as lv


def run(*argv):
    p = subprocess.run([sys.executable, "-m", "linuxvm.cli", *argv], capture_output=True,
                       text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def test_help_shows_examples():
    rc, out, err = run("--help")
    assert rc == 0 and err == ""
    assert "examples:" in out
    assert "linuxvm cat /proc/buddyinfo --ram 4G" in out
    assert "linuxvm alloc --order 3" in out


def test_cat_min_free_kbytes():
    rc, out, err = run("cat", "/proc/sys/vm/min_free_kbytes", "--ram", "1G")
    assert (rc, err) == (0, "")
    m = lv.Machine(ram="1G", cpus=2, seed=0)
    assert out == f"{m.sysctl['vm.min_free_kbytes']}\n" == "45056\n"


def test_cat_with_sysctl_option():
    rc, out, err = run("cat", "/proc/sys/vm/watermark_scale_factor", "--ram", "512M",
                       "--sysctl", "vm.watermark_scale_factor=200")
    assert (rc, out, err) == (0, "200\n", "")


BAD = [
    (["cat", "/proc/meminfo", "--ram", "1Q"], "unknown suffix 'Q'"),
    (["cat", "/proc/sys/vm/min_free_kbytes", "--ram", "16M"], "too small to boot"),
    (["alloc", "--gfp", "GFP_KERNEL|GFP_BOGUS", "--ram", "128M"], "'GFP_BOGUS'"),
    (["cat", "/proc/no_such_file", "--ram", "128M"], "/proc/no_such_file"),
    (["alloc", "--order", "-1", "--ram", "128M"], "order"),
    (["cat", "/proc/sys/vm/min_free_kbytes", "--ram", "128M", "--sysctl",
      "vm.min_free_kbytes=-5"], "vm.min_free_kbytes"),
    (["cat", "/proc/sys/vm/min_free_kbytes", "--ram", "128M", "--sysctl", "vm.nope=1"],
     "vm.nope"),
]


@pytest.mark.parametrize("argv,named", BAD, ids=[" ".join(a[:2]) + " " + n for a, n in BAD])
def test_bad_input_is_one_error_line(argv, named):
    rc, out, err = run(*argv)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("linuxvm: error: ") and named in lines[0]
    assert "Traceback" not in err


def test_main_in_process(capsys):
    from linuxvm.cli import main
    assert main(["cat", "/proc/sys/vm/lowmem_reserve_ratio", "--ram", "128M"]) == 0
    assert capsys.readouterr().out.split() == ["256", "256", "32"]
    assert main(["alloc", "--gfp", "__GFP_NOPE", "--ram", "128M"]) == 2
    assert capsys.readouterr().err == "linuxvm: error: unknown gfp flag '__GFP_NOPE' in " \
                                      "'__GFP_NOPE'\n"


def test_alloc_shows_where_blocks_came_from():
    rc, out, err = run("alloc", "--order", "2", "--count", "2", "--ram", "128M")
    assert (rc, err) == (0, "")
    lines = [l for l in out.splitlines() if l.startswith("order-2 GFP_KERNEL: pfn 0x")]
    assert len(lines) == 2 and all("(phys 0x" in l and ", zone DMA" in l for l in lines)
    assert "Node 0, zone    DMA32" in out           # buddyinfo follows


def test_oom_explain_command(capsys):
    from linuxvm.cli import main
    assert main(["oom-explain", "--ram", "512M", "--proc", "a=32M", "--proc",
                 "b=64M,adj=-1000", "--proc", "c=16M,uid=0"]) == 0
    out = capsys.readouterr().out
    assert "unkillable: oom_score_adj -1000" in out
    assert "select_bad_process picks 2 (a)" in out
    assert main(["oom-explain", "--proc", "bad"]) == 2
