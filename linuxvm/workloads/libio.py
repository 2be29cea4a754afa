"""The stdio a program's prompts go through: stdout and stdin buffers (glibc libio:
_IO_file_doallocate, puts, getchar), as far as they touch the program's memory.

A stream's buffer is allocated on its first use: ``st_blksize`` bytes of the file it
is attached to when below BUFSIZ (1024 for a terminal, 4096 for a pipe or a file),
from ``malloc`` in newer glibc and from a one-page anonymous ``mmap`` (ALLOC_BUF) in
the glibc of the notes' era. Output is copied into the buffer, so its pages are
touched; a terminal's stdout is line-buffered and flushed at each newline.
"""

from ..mm.mman import PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS

BUFSIZ = 8192
ST_BLKSIZE = {"tty": 1024, "pipe": 4096, "file": 4096}


class FILE:
    """One stream (struct _IO_FILE): where its buffer is and how full it is."""
    __slots__ = ("name", "kind", "buf", "size", "pos")

    def __init__(self, name, kind):
        if kind not in ST_BLKSIZE:
            raise ValueError(f"stream kind must be one of {', '.join(ST_BLKSIZE)}, not {kind!r}")
        self.name = name
        self.kind = kind
        self.buf = 0
        self.size = 0
        self.pos = 0


class Stdio:
    """stdin and stdout of process ``p`` whose libc is ``malloc`` (a MallocState)."""

    def __init__(self, malloc, stdout="tty", stdin="tty"):
        self.malloc = malloc
        self.p = malloc.p
        self.stdout = FILE("stdout", stdout)
        self.stdin = FILE("stdin", stdin)
        self.text = []              # what reached the terminal / pipe

    def _doallocate(self, f: FILE) -> None:
        """_IO_file_doallocate."""
        size = min(BUFSIZ, ST_BLKSIZE[f.kind])
        if self.malloc.glibc.stdio_malloc:
            f.buf = self.malloc.malloc(size)
        else:
            f.buf = self.p.mmap(None, (size + 4095) & ~4095, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS)
        f.size = size

    def _write(self, data: bytes) -> None:
        f = self.stdout
        if not f.buf:
            self._doallocate(f)
        while data:
            n = min(len(data), f.size - f.pos)
            self.p.write(f.buf + f.pos, data[:n])
            f.pos += n
            data = data[n:]
            if f.pos == f.size:
                f.pos = 0                           # a full buffer is written out

    def puts(self, s: str) -> None:
        data = s.encode() + b"\n"
        self._write(data)
        if self.stdout.kind == "tty":
            self.stdout.pos = 0                     # line-buffered: flushed at the newline
        self.text.append(s + "\n")

    def printf(self, s: str) -> None:
        self._write(s.encode())
        if self.stdout.kind == "tty" and s.endswith("\n"):
            self.stdout.pos = 0
        self.text.append(s)

    def getchar_wait(self) -> None:
        """getchar up to the read(2) that waits: stdin's buffer is allocated first."""
        if not self.stdin.buf:
            self._doallocate(self.stdin)

    def getchar(self, line: bytes = b"\n") -> int:
        """Reads a line of input into stdin's buffer (the user pressed return); a
        terminal's stdin flushes stdout first (line-buffered streams are flushed)."""
        f = self.stdin
        self.getchar_wait()
        self.p.write(f.buf, line[:f.size])
        self.stdout.pos = 0 if self.stdout.kind == "tty" else self.stdout.pos
        return line[0]
