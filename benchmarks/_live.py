"""Small helpers for benchmarks that time the same workload on the live kernel."""

import os
import shutil
import subprocess
import tempfile


def compile_c(source: str, name: str) -> str | None:
    """Compile ``source`` with gcc -O2 into a temp dir; None when gcc is missing."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    d = tempfile.mkdtemp(prefix="linuxvm-bench-")
    src = os.path.join(d, name + ".c")
    exe = os.path.join(d, name)
    with open(src, "w") as f:
        f.write(source)
    subprocess.run([cc, "-O2", "-o", exe, src], check=True)
    return exe


def run_c(exe: str, *args) -> dict:
    """Run a benchmark program that prints ``key value`` lines; returns them as floats."""
    out = subprocess.run([exe, *map(str, args)], check=True, capture_output=True, text=True)
    res = {}
    for line in out.stdout.splitlines():
        k, v = line.split()
        res[k] = float(v)
    return res
