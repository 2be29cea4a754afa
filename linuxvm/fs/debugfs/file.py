"""debugfs attribute files: debugfs_create_u32, debugfs_create_x64 (fs/debugfs/file.c, fs/libfs.c).

Both are simple_attr files: a read formats the value afresh at offset 0 ("%llu\\n" for
u32, "0x%016llx\\n" for x64); a write takes at most 23 bytes (set_buf is 24 with its
NUL), parses them with simple_strtoll in base 0 (never an error: no digits give 0,
"010" is octal) and claims to have taken the whole input.
"""

from ...lib.vsprintf import simple_strtoll

S_IRUSR, S_IWUSR = 0o400, 0o200
SIMPLE_ATTR_BUF = 24                # struct simple_attr: char set_buf[24]


class DebugfsValue:
    """The variable an attribute file exposes (the module's static ``u64 vaddr`` or ``u32``)."""
    __slots__ = ("value", "bits")

    def __init__(self, bits: int, value: int = 0):
        self.bits = bits
        self.value = value


def simple_attr_write(var: DebugfsValue, data: bytes) -> int:
    """Parse and store; returns the length claimed written (fs/libfs.c:simple_attr_write)."""
    buf = bytes(data)[:SIMPLE_ATTR_BUF - 1]
    # copy_from_user takes the bytes verbatim; the string ends at the first NUL
    buf = buf.split(b"\0", 1)[0]
    var.value = simple_strtoll(buf, 0) & ((1 << var.bits) - 1)    # debugfs_u32_set truncates
    return len(data)


def debugfs_create_attr(procfs, path: str, var: DebugfsValue, fmt, mode: int) -> None:
    """debugfs_create_u32 / debugfs_create_x64: a read-write attribute file (mode has both
    S_IRUSR and S_IWUSR, so the read-write fops)."""
    def write(text):
        simple_attr_write(var, text.encode() if isinstance(text, str) else text)
    procfs.add_text(path, lambda: fmt(var.value), write, mode=mode)


def fmt_u32(v: int) -> str:
    return f"{v}\n"


def fmt_x64(v: int) -> str:
    return f"0x{v:016x}\n"
