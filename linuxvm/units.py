"""Parsing and printing of sizes (``"512M"``, ``"4G"``) for the façade and CLI."""

_SUFFIX = {"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10,
           "M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
           "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30,
           "T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40}


def parse_size(value) -> int:
    """Bytes in ``value``: an int, or a string such as ``"512M"``, ``"4G"``, ``"1536K"``.

    Suffixes are binary (K = 1024) like the kernel's ``memparse``.
    :raises ValueError: unknown suffix or not a number
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid size {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"invalid size {value!r}: negative")
        return value
    if not isinstance(value, str):
        raise ValueError(f"invalid size {value!r}")
    s = value.strip().upper()
    i = len(s)
    while i and not (s[i - 1].isdigit()):
        i -= 1
    num, suffix = s[:i], s[i:].strip()
    if suffix not in _SUFFIX:
        raise ValueError(f"invalid size {value!r}: unknown suffix {s[i:]!r} (use K, M, G or T)")
    try:
        n = int(num, 0) if num.startswith("0X") is False else int(num, 16)
    except ValueError:
        raise ValueError(f"invalid size {value!r}: not a number") from None
    return n * _SUFFIX[suffix]


def human_kb(kb: int) -> str:
    for unit in ("kB", "MB", "GB", "TB"):
        if kb < 10240 or unit == "TB":
            return f"{kb} {unit}"
        kb //= 1024
    return f"{kb} TB"
