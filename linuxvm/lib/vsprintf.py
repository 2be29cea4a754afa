"""The kernel's number parsers that never fail: simple_strtoull and simple_strtoll (lib/vsprintf.c)."""

U64 = (1 << 64) - 1


def _parse_integer_fixup_radix(s: bytes, base: int):
    """Base 0 picks 16 for "0x" followed by a hex digit, 8 for a leading "0", else 10; base
    16 skips a "0x" prefix (lib/kstrtox.c:_parse_integer_fixup_radix)."""
    hexdig = b"0123456789abcdefABCDEF"
    if base == 0:
        if s[:1] == b"0":
            base = 16 if s[1:2].lower() == b"x" and s[2:3] and s[2:3] in hexdig else 8
        else:
            base = 10
    if base == 16 and s[:2].lower() == b"0x" and s[2:3] and s[2:3] in hexdig:
        s = s[2:]
    return s, base


def simple_strtoull(s: bytes, base: int = 0) -> int:
    """The value of the longest digit prefix of ``s``, wrapping modulo 2^64 as
    _parse_integer's arithmetic does; no digits give 0 (lib/vsprintf.c:simple_strtoull)."""
    s, base = _parse_integer_fixup_radix(bytes(s), base)
    val = 0
    for c in s:
        ch = chr(c).lower()
        if "0" <= ch <= "9":
            d = ord(ch) - ord("0")
        elif "a" <= ch <= "f":
            d = ord(ch) - ord("a") + 10
        else:
            break
        if d >= base:
            break
        val = (val * base + d) & U64
    return val


def simple_strtoll(s: bytes, base: int = 0) -> int:
    """simple_strtoull with a leading '-' negating, as a u64 bit pattern (lib/vsprintf.c)."""
    s = bytes(s)
    if s[:1] == b"-":
        return -simple_strtoull(s[1:], base) & U64
    return simple_strtoull(s, base)
