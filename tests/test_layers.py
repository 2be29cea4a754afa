"""Imports point downwards (DESIGN.md §2): the import-linter layers contract in
pyproject.toml holds, every module of the package sits in a layer, and the contract does
catch an upward import (checked on a copy of the package, never on the tree itself)."""

import ast
import os
import pathlib
import shutil
import subprocess
import sys
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PKG = ROOT / "linuxvm"
# packages split across layers: they hold a docstring and nothing else
CONTAINERS = {"linuxvm", "linuxvm.arch", "linuxvm.arch.x86"}


def layers() -> list:
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in conf["contracts"] if c["type"] == "layers"]
    return [[m.strip() for m in layer.replace("|", ":").split(":")]
            for layer in contract["layers"]]


def modules() -> list:
    out = []
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.append((".".join(parts), path))
    return out


def lint_imports(cwd: pathlib.Path, env=None) -> subprocess.CompletedProcess:
    script = ("import sys, importlinter.cli as c; "
              "sys.exit(c.lint_imports(config_filename='pyproject.toml', no_cache=True))")
    return subprocess.run([sys.executable, "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True)


def test_every_module_is_in_a_layer():
    named = [m for layer in layers() for m in layer]
    missing = [name for name, path in modules() if name not in CONTAINERS
               and not any(name == n or name.startswith(n + ".") for n in named)]
    assert not missing, f"modules in no layer of pyproject.toml: {missing}"


@pytest.mark.parametrize("name", sorted(CONTAINERS - {"linuxvm"}))
def test_containers_hold_no_code(name):
    path = PKG.joinpath(*name.split(".")[1:], "__init__.py")
    body = ast.parse(path.read_text()).body
    assert all(isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) for s in body)


def test_no_function_local_imports():
    """Imports sit at the top of each module: none hidden in a function to dodge a cycle."""
    # a genuinely optional heavy dependency is listed here: the sweep imports dask and
    # pyarrow only when a Dask engine or a Parquet table is asked for
    allowed = {"linuxvm.tools.sweep"}
    found = []
    for name, path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for sub in ast.walk(node):
                    if isinstance(sub, (ast.Import, ast.ImportFrom)) and name not in allowed:
                        found.append(f"{name}:{sub.lineno}")
    assert not found, f"{len(found)} function-local imports: {found}"


def test_layers_contract_holds():
    r = lint_imports(ROOT)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def test_contract_catches_an_upward_import(tmp_path):
    shutil.copytree(PKG, tmp_path / "linuxvm", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / "linuxvm" / "arch" / "x86" / "page_types.py"
    target.write_text(target.read_text() + "\nfrom ...mm import page as _upward  # noqa\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    r = lint_imports(tmp_path, env)
    assert r.returncode != 0
    assert "linuxvm.arch.x86.page_types -> linuxvm.mm.page" in r.stdout
