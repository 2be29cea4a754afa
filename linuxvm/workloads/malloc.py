"""A model of glibc's malloc for one thread (main_arena), run inside a model process
(glibc malloc/malloc.c: __libc_malloc, _int_malloc, sysmalloc, _int_free, systrim,
munmap_chunk; misc/sbrk.c).

What it keeps of glibc, because it decides which pages a program touches and which
system calls it makes:

* chunk layout: a chunk at ``p`` has ``prev_size`` at ``p`` and ``size`` (with the
  PREV_INUSE / IS_MMAPPED / NON_MAIN_ARENA bits) at ``p + 8``; the user pointer is
  ``chunk2mem(p) = p + 16``; sizes are ``request2size`` (16-byte aligned, at least
  MINSIZE 32). Every header write is a real store into the process's memory, so the
  pages it lands on are faulted in as they are in the real program;
* the top chunk and sysmalloc: a request of M_MMAP_THRESHOLD (128 KiB, dynamic) or more
  that the top cannot serve gets its own ``mmap`` of ``ALIGN_UP(nb + SIZE_SZ, 4096)``;
  otherwise the heap grows with ``sbrk(nb + top_pad + MINSIZE - old_top)`` rounded up
  to pages (top_pad 128 KiB); a failed sbrk falls back to mmap of at least 1 MiB
  (MMAP_AS_MORECORE_SIZE), and malloc returns NULL with ENOMEM when that fails too;
* free: an mmapped chunk is unmapped and raises the mmap threshold to its size (the
  trim threshold to twice that); a heap chunk merges with free neighbours and the top,
  and when the merged size is at least FASTBIN_CONSOLIDATION_THRESHOLD (64 KiB) and
  the top reaches M_TRIM_THRESHOLD the heap is trimmed with a negative sbrk, keeping
  top_pad;
* glibc >= 2.26 (``tcache=True``): the first malloc first allocates and zeroes the
  tcache_perthread_struct (a 0x290 chunk since 2.30).

Simplified, and said so: free chunks are one address-ordered list searched best-fit
(glibc's fastbins, tcache bins, unsorted/small/large bins choose differently for small
chunks and write their links into other free chunks); only the freed chunk's own
fd/bk words and its neighbours' headers are written.
"""

import errno
from dataclasses import dataclass

from ..errors import SyscallError
from ..mm.mman import PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS

SIZE_SZ = 8
MALLOC_ALIGNMENT = 2 * SIZE_SZ
MALLOC_ALIGN_MASK = MALLOC_ALIGNMENT - 1
MINSIZE = 32
PREV_INUSE, IS_MMAPPED, NON_MAIN_ARENA = 1, 2, 4
SIZE_BITS = PREV_INUSE | IS_MMAPPED | NON_MAIN_ARENA
DEFAULT_MMAP_THRESHOLD = 128 * 1024             # M_MMAP_THRESHOLD
DEFAULT_MMAP_THRESHOLD_MAX = 4 * 1024 * 1024 * 8   # 4 MiB * sizeof(long): 32 MiB
DEFAULT_TOP_PAD = 128 * 1024                    # M_TOP_PAD
DEFAULT_TRIM_THRESHOLD = 128 * 1024             # M_TRIM_THRESHOLD
DEFAULT_MMAP_MAX = 65536                        # M_MMAP_MAX
MMAP_AS_MORECORE_SIZE = 1024 * 1024
FASTBIN_CONSOLIDATION_THRESHOLD = 65536
PAGESIZE = 4096
U64 = (1 << 64) - 1
TCACHE_PERTHREAD_BYTES = 64 * 2 + 64 * 8        # uint16_t counts[64] + entries[64] (>= 2.30)


def request2size(req: int) -> int:
    if req + SIZE_SZ + MALLOC_ALIGN_MASK < MINSIZE:
        return MINSIZE
    return (req + SIZE_SZ + MALLOC_ALIGN_MASK) & ~MALLOC_ALIGN_MASK


def chunk2mem(p: int) -> int:
    return p + 2 * SIZE_SZ


def mem2chunk(mem: int) -> int:
    return mem - 2 * SIZE_SZ


def align_up(v: int, a: int) -> int:
    return (v + a - 1) & ~(a - 1)


def align_down(v: int, a: int) -> int:
    return v & ~(a - 1)


@dataclass(frozen=True)
class GlibcConfig:
    """Which glibc the program is linked with, as far as the heap can tell."""
    name: str
    tcache: bool                # 2.26+: tcache_perthread_struct on the first malloc
    stdio_malloc: bool          # stdio buffers from malloc (newer) or a page of mmap (2.23)


GLIBC_2_23 = GlibcConfig("2.23", tcache=False, stdio_malloc=False)   # the notes' era (2016)
GLIBC_2_36 = GlibcConfig("2.36", tcache=True, stdio_malloc=True)     # Debian 12


class MallocState:
    """main_arena and mp_ (struct malloc_state, struct malloc_par), and the syscalls
    malloc makes on behalf of process ``p``."""

    def __init__(self, p, glibc: GlibcConfig = GLIBC_2_23):
        self.p = p
        self.glibc = glibc
        # mp_
        self.mmap_threshold = DEFAULT_MMAP_THRESHOLD
        self.trim_threshold = DEFAULT_TRIM_THRESHOLD
        self.top_pad = DEFAULT_TOP_PAD
        self.n_mmaps_max = DEFAULT_MMAP_MAX
        self.n_mmaps = 0
        self.no_dyn_threshold = False
        self.sbrk_base = 0
        # main_arena
        self.top = 0                # 0: initial_top, a zero-sized chunk outside the heap
        self.top_size = 0
        self.system_mem = 0
        self.contiguous = True
        self.free_chunks = {}       # chunk address -> size, for non-top free heap chunks
        self.chunks = {}            # in-use heap chunk address -> size
        self.mmapped = {}           # mmapped chunk address -> size
        self.curbrk = None          # glibc's __curbrk
        self.tcache = None
        self.syscalls = []          # (name, args, result) of each system call malloc made
        self.errno = 0

    # -- the system calls --------------------------------------------------------------
    def _sys(self, name, fn, *args):
        try:
            ret = fn(*args)
        except SyscallError as e:
            self.syscalls.append((name, args, -e.errno))
            return None, e.errno
        self.syscalls.append((name, args, ret))
        return ret, 0

    def sbrk(self, increment: int):
        """misc/sbrk.c: the old break, or None (errno ENOMEM) when brk fell short."""
        if self.curbrk is None:
            self.curbrk, _ = self._sys("brk", self.p.brk, 0)
        old = self.curbrk
        if increment == 0:
            return old
        if increment > 0 and old + increment > U64:
            self.errno = errno.ENOMEM
            return None
        want = (old + increment) & U64
        new, _ = self._sys("brk", self.p.brk, want)     # __brk: the kernel's answer is the break
        self.curbrk = new
        if new < want:
            self.errno = errno.ENOMEM
            return None
        return old

    def _mmap(self, size):
        addr, err = self._sys("mmap", self.p.mmap, None, size, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS)
        if addr is None:
            self.errno = err
        return addr

    # -- stores into the program's memory ----------------------------------------------
    def _store(self, addr, value):
        self.p.write(addr, (value & U64).to_bytes(8, "little"))

    def set_head(self, p, size):
        self._store(p + SIZE_SZ, size)

    def set_foot(self, p, size):
        self._store(p + size, size)

    # -- malloc ------------------------------------------------------------------------
    def malloc(self, nbytes: int) -> int:
        """__libc_malloc: the user pointer, or 0 with ``self.errno`` ENOMEM."""
        if self.glibc.tcache and self.tcache is None:
            self.tcache_init()
        return self._int_malloc(nbytes)

    def tcache_init(self):
        """tcache_init: the per-thread cache struct, zeroed, is the first heap chunk."""
        self.tcache = -1
        victim = self._int_malloc(TCACHE_PERTHREAD_BYTES)
        if victim:
            self.p.write(victim, bytes(TCACHE_PERTHREAD_BYTES))
            self.tcache = victim

    def calloc(self, n: int, size: int) -> int:
        mem = self.malloc(n * size)
        if mem and mem - 2 * SIZE_SZ not in self.mmapped:
            self.p.write(mem, bytes(n * size))      # mmapped chunks are already zero
        return mem

    def _int_malloc(self, nbytes: int) -> int:
        if nbytes >= (1 << 64) - 2 * MINSIZE:       # REQUEST_OUT_OF_RANGE
            self.errno = errno.ENOMEM
            return 0
        nb = request2size(nbytes)
        # the bins: best fit among the free chunks (see the module docstring)
        fit = None
        for c, size in self.free_chunks.items():
            if size >= nb and (fit is None or size < self.free_chunks[fit] or
                               (size == self.free_chunks[fit] and c < fit)):
                fit = c
        if fit is not None:
            size = self.free_chunks.pop(fit)
            if size - nb >= MINSIZE:
                rem = fit + nb
                self.free_chunks[rem] = size - nb
                self.set_head(fit, nb | PREV_INUSE)
                self.set_head(rem, (size - nb) | PREV_INUSE)
                self.set_foot(rem, size - nb)
            else:
                nb = size
                self.set_head(fit + nb, self._next_size(fit + nb) | PREV_INUSE)   # set_inuse
            self.chunks[fit] = nb
            return chunk2mem(fit)
        # use_top
        if self.top and self.top_size >= nb + MINSIZE:
            return self._split_top(nb)
        return self.sysmalloc(nb)

    def _next_size(self, c):
        if c == self.top:
            return self.top_size
        return self.chunks.get(c) or self.free_chunks.get(c) or 0

    def _split_top(self, nb):
        victim = self.top
        remainder_size = self.top_size - nb
        self.top = victim + nb
        self.top_size = remainder_size
        self.set_head(victim, nb | PREV_INUSE)
        self.set_head(self.top, remainder_size | PREV_INUSE)
        self.chunks[victim] = nb
        return chunk2mem(victim)

    def sysmalloc(self, nb: int) -> int:
        """Get memory from the system: its own mmap above the threshold, else grow the heap."""
        if nb >= self.mmap_threshold and self.n_mmaps < self.n_mmaps_max:
            size = align_up(nb + SIZE_SZ, PAGESIZE)
            if size > nb:
                mm = self._mmap(size)
                if mm is not None:
                    self.set_head(mm, size | IS_MMAPPED)
                    self.mmapped[mm] = size
                    self.n_mmaps += 1
                    return chunk2mem(mm)
        old_top, old_size = self.top, self.top_size
        old_end = old_top + old_size
        size = nb + self.top_pad + MINSIZE
        if self.contiguous:
            size -= old_size
        size = align_up(size, PAGESIZE)
        brk = self.sbrk(size) if size > 0 else None
        snd_brk = None
        if brk is None:
            # mmap as a backup when MORECORE fails (the heap becomes non-contiguous)
            if self.contiguous:
                size = align_up(size + old_size, PAGESIZE)
            size = max(size, MMAP_AS_MORECORE_SIZE)
            if size > nb:
                mbrk = self._mmap(size)
                if mbrk is not None:
                    brk = mbrk
                    snd_brk = brk + size
                    self.contiguous = False
        if brk is not None:
            if not self.sbrk_base:
                self.sbrk_base = brk
            self.system_mem += size
            if old_top and brk == old_end and snd_brk is None:
                self.top_size = size + old_size
                self.set_head(old_top, self.top_size | PREV_INUSE)
            else:
                correction = 0
                aligned_brk = brk
                if self.contiguous:
                    if old_size:
                        self.system_mem += brk - old_end
                    front_misalign = chunk2mem(brk) & MALLOC_ALIGN_MASK
                    if front_misalign:
                        correction = MALLOC_ALIGNMENT - front_misalign
                        aligned_brk += correction
                    correction += old_size
                    end_misalign = brk + size + correction
                    correction += align_up(end_misalign, PAGESIZE) - end_misalign
                    snd_brk = self.sbrk(correction)
                    if snd_brk is None:
                        correction = 0
                        snd_brk = self.sbrk(0)
                    # (sbrk returns the old break: snd_brk is where ``size`` ended)
                if snd_brk is not None:
                    self.top = aligned_brk
                    self.top_size = snd_brk - aligned_brk + correction
                    self.set_head(self.top, self.top_size | PREV_INUSE)
                    self.system_mem += correction
                    if old_size:
                        # fenceposts where the old top ended; the rest of it is freed
                        fence = align_down(old_size - 4 * SIZE_SZ, MALLOC_ALIGNMENT)
                        self.set_head(old_top, fence | PREV_INUSE)
                        self.set_head(old_top + fence, (2 * SIZE_SZ) | PREV_INUSE)
                        self.set_head(old_top + fence + 2 * SIZE_SZ, (2 * SIZE_SZ) | PREV_INUSE)
                        if fence >= MINSIZE:
                            self.chunks[old_top] = fence
                            self._int_free(old_top)
        if self.top and self.top_size >= nb + MINSIZE:
            return self._split_top(nb)
        self.errno = errno.ENOMEM
        return 0

    # -- free --------------------------------------------------------------------------
    def free(self, mem: int) -> None:
        """__libc_free."""
        if not mem:
            return
        p = mem2chunk(mem)
        size = self.mmapped.get(p)
        if size is not None:
            if (not self.no_dyn_threshold and self.mmap_threshold < size
                    <= DEFAULT_MMAP_THRESHOLD_MAX):
                self.mmap_threshold = size
                self.trim_threshold = 2 * size
            del self.mmapped[p]
            self.n_mmaps -= 1
            self._sys("munmap", self.p.munmap, p, size)        # munmap_chunk
            return
        if p not in self.chunks:
            raise ValueError(f"free(): invalid pointer {mem:#x}")
        self._int_free(p)

    def _int_free(self, p):
        size = self.chunks.pop(p)
        # consolidate backward
        prev = next((c for c, s in self.free_chunks.items() if c + s == p), None)
        if prev is not None:
            size += self.free_chunks.pop(prev)
            p = prev
        nextchunk = p + size
        if nextchunk != self.top:
            nsize = self.free_chunks.pop(nextchunk, None)
            if nsize is not None:
                size += nsize
            else:
                # clear_inuse_bit_at_offset: the next chunk's size loses PREV_INUSE
                self.set_head(nextchunk, self._next_size(nextchunk))
            self._store(p + 2 * SIZE_SZ, 0)            # fd, bk: the unsorted bin's links
            self._store(p + 3 * SIZE_SZ, 0)
            self.set_head(p, size | PREV_INUSE)
            self.set_foot(p, size)
            self.free_chunks[p] = size
        else:
            size += self.top_size
            self.top = p
            self.top_size = size
            self.set_head(p, size | PREV_INUSE)
        if size >= FASTBIN_CONSOLIDATION_THRESHOLD and self.top_size >= self.trim_threshold:
            self.systrim(self.top_pad)

    def systrim(self, pad: int) -> bool:
        """Give the top of the heap back with a negative sbrk, keeping ``pad`` bytes."""
        top_area = self.top_size - MINSIZE - 1
        if top_area <= pad:
            return False
        extra = align_down(top_area - pad, PAGESIZE)
        if extra == 0:
            return False
        current_brk = self.sbrk(0)
        if current_brk == self.top + self.top_size:
            self.sbrk(-extra)
            new_brk = self.sbrk(0)
            released = current_brk - new_brk
            if released:
                self.system_mem -= released
                self.top_size -= released
                self.set_head(self.top, self.top_size | PREV_INUSE)
                return True
        return False
