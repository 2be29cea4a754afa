"""``linuxvm autopsy PROGRAM``: the notes' "Process Autopsy" of a real program, as the
model leaves it at the entry point of its execve: maps, smaps, status, the auxiliary
vector decoded, and the page tables as the hacks repository's dumper prints them.

The program and its dynamic loader (PT_INTERP) are copied from the host into the model's
disk; nothing of the program runs (the model stops where user mode would begin), so the
shared libraries the loader would map are not there yet.
"""

import os
import struct

from elftools.elf.elffile import ELFFile
from elftools.common.exceptions import ELFError

from ..arch.x86.page_types import PAGE_SIZE
from ..fs.binfmt_elf import AT_NAMES
from ..fs.proc.base import read_resident
from .pagetables_usr import pagetables_usr

# auxv entries whose value is a string in the process's memory
_AT_STRINGS = ("AT_EXECFN", "AT_PLATFORM")


class AutopsyError(Exception):
    """A program the autopsy cannot load (missing, not ELF, refused by execve)."""


def host_interpreter(host_path: str):
    """The PT_INTERP path of a host ELF file, or None (a static program).

    :raises AutopsyError: the file is missing or not ELF
    """
    try:
        with open(host_path, "rb") as f:
            elf = ELFFile(f)
            for seg in elf.iter_segments():
                if seg["p_type"] == "PT_INTERP":
                    return seg.get_interp_name()
    except FileNotFoundError:
        raise AutopsyError(f"{host_path}: no such file on this machine") from None
    except (ELFError, struct.error) as e:
        raise AutopsyError(f"{host_path}: not an ELF file ({e})") from None
    except IsADirectoryError:
        raise AutopsyError(f"{host_path}: is a directory") from None
    return None


def load(m, host_path: str, argv=None, envp=None):
    """Import ``host_path`` (and its loader) and execve it in a new process; the Process.

    :raises AutopsyError: as host_interpreter, or execve's errno
    """
    host_path = os.path.abspath(host_path)
    interp = host_interpreter(host_path)
    for path in (host_path, interp):
        if path is not None and path not in m.fs.files:
            m.fs.import_host(os.path.realpath(path), path)
    p = m.spawn(os.path.basename(host_path)[:15], uid=0)
    try:
        p.execve(host_path, argv if argv is not None else [host_path],
                 envp if envp is not None else ["HOME=/", "PATH=/usr/bin:/bin"])
    except OSError as e:
        raise AutopsyError(f"execve({host_path}): {e.strerror}") from None
    return p


def decode_auxv(m, p) -> str:
    """/proc/PID/auxv as ``LD_SHOW_AUXV=1`` prints it: one ``AT_NAME: value`` a line."""
    raw = m.proc.read_bytes(f"/proc/{p.pid}/auxv")
    out = []
    for i in range(0, len(raw) - 15, 16):
        key, val = struct.unpack_from("<QQ", raw, i)
        if key == 0:
            break
        name = AT_NAMES.get(key, f"AT_??? ({key})")
        if name in _AT_STRINGS:
            # the string on the stack, read as /proc reads memory (no fault, no access bit)
            s = read_resident(m, p.task, val, min(256, PAGE_SIZE - (val & (PAGE_SIZE - 1))))
            text = s.split(b"\0", 1)[0].decode("utf-8", "replace")
            out.append(f"{name + ':':<20}{text}")
        elif name in ("AT_UID", "AT_EUID", "AT_GID", "AT_EGID", "AT_SECURE", "AT_PAGESZ",
                      "AT_CLKTCK", "AT_PHENT", "AT_PHNUM", "AT_FLAGS"):
            out.append(f"{name + ':':<20}{val}")
        else:
            out.append(f"{name + ':':<20}{val:#x}")
    return "\n".join(out) + "\n"


def autopsy(m, host_path: str, argv=None, envp=None) -> str:
    """The whole report for one program (see the module docstring)."""
    p = load(m, host_path, argv, envp)
    pid = p.pid
    parts = []
    for title, text in (
            (f"/proc/{pid}/maps", m.proc.read(f"/proc/{pid}/maps")),
            (f"/proc/{pid}/smaps", m.proc.read(f"/proc/{pid}/smaps")),
            (f"/proc/{pid}/status", m.proc.read(f"/proc/{pid}/status")),
            (f"/proc/{pid}/auxv (decoded)", decode_auxv(m, p))):
        parts.append(f"== {title} ==\n{text}")
    tool = m.spawn("pagetables", uid=0)
    r = pagetables_usr(m, str(pid), reader=tool)
    parts.append(f"== pagetables {pid} ==\n{r.stdout}{r.stderr}")
    return "\n".join(parts)
