"""Malformed scenario files (issue 18 part 2): one ``FILE:LINE: reason`` line, exit status
2, no traceback, and nothing booted (the whole file is checked first)."""

import pytest

from linuxvm import cli
from linuxvm.tools import scenario

HEAD = """[machine]
ram = "128M"

[[process]]
name = "a"

"""
MMAP = """[[step]]
op = "mmap"
process = "a"
region = "buf"
size = "1M"

"""

# (name, file text, line of the mistake, words of the reason)
BAD = [
    ("syntax error", HEAD + "[[step]]\nop = \"mmap\n", 8, "TOML syntax error"),
    ("unknown top-level key", HEAD + MMAP + "[processes]\nname = \"b\"\n", 13,
     "unknown top-level key 'processes'"),
    ("unknown step kind", HEAD + "[[step]]\nop = \"mmapp\"\nprocess = \"a\"\n", 8,
     "unknown step op 'mmapp'"),
    ("missing required field", HEAD + "[[step]]\nop = \"mmap\"\nprocess = \"a\"\n", 7,
     "missing required field 'size'"),
    ("bad size string", HEAD + "[[step]]\nop = \"mmap\"\nprocess = \"a\"\nsize = \"10Q\"\n",
     10, "unknown suffix"),
    ("region used before defined", HEAD + "[[step]]\nop = \"touch\"\nprocess = \"a\"\n"
     "region = \"buf\"\n" + MMAP, 10, "region 'buf' is used before it is defined"),
    ("unknown process name", HEAD + MMAP + "[[step]]\nop = \"touch\"\nprocess = \"b\"\n"
     "region = \"buf\"\n", 15, "unknown process name 'b'"),
    ("sysctl name unknown", "[machine]\nram = \"128M\"\n\n[machine.sysctl]\n"
     "\"vm.swapiness\" = 10\n", 5, "unknown sysctl 'vm.swapiness'"),
    ("negative length", HEAD + MMAP + "[[step]]\nop = \"touch\"\nprocess = \"a\"\n"
     "region = \"buf\"\nlength = -4096\n", 17, "length must not be negative"),
    ("exec of a missing host file", HEAD + "[[step]]\nop = \"exec\"\nprocess = \"a\"\n"
     "host = \"/no/such/program\"\n", 10, "host file '/no/such/program' does not exist"),
]


@pytest.fixture
def no_boot(monkeypatch):
    """Fail the test if anything tries to boot a machine."""
    def refuse(*a, **kw):
        raise AssertionError("a bad scenario booted a machine")
    monkeypatch.setattr(scenario, "Machine", refuse)


@pytest.mark.parametrize("name,text,line,reason", BAD, ids=[b[0] for b in BAD])
def test_bad_file(tmp_path, capsys, no_boot, name, text, line, reason):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(scenario.ScenarioError) as ei:
        scenario.load(str(path))
    assert ei.value.line == line, str(ei.value)
    assert reason in ei.value.reason
    assert cli.main(["run", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"linuxvm: error: {path}:{line}: ") and reason in err


def test_all_ten_are_distinct():
    assert len({b[0] for b in BAD}) == 10


def test_snapshot_of_unknown_process(tmp_path, no_boot):
    text = HEAD + MMAP + "[[snapshot]]\nfiles = [\"/proc/{zz}/maps\"]\n"
    with pytest.raises(scenario.ScenarioError, match=r":14: .*unknown process name 'zz'"):
        scenario.loads(text, "x.toml")


def test_use_after_exit_and_past_region_end(no_boot):
    text = HEAD + MMAP + "[[step]]\nop = \"exit\"\nprocess = \"a\"\n\n" \
        "[[step]]\nop = \"touch\"\nprocess = \"a\"\nregion = \"buf\"\n"
    with pytest.raises(scenario.ScenarioError, match=r":19: .*'a' has exited"):
        scenario.loads(text, "x.toml")
    text = HEAD + MMAP + "[[step]]\nop = \"touch\"\nprocess = \"a\"\nregion = \"buf\"\n" \
        "offset = \"1M\"\nlength = 1\n"
    with pytest.raises(scenario.ScenarioError, match=r":18: .*past the end of region"):
        scenario.loads(text, "x.toml")


def test_missing_file(capsys):
    assert cli.main(["run", "/no/such/scenario.toml"]) == 2
    assert "No such file" in capsys.readouterr().err
