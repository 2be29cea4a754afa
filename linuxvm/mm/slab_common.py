"""Allocator-independent slab code: flags, alignment, merging, the kmalloc size classes and
the caches the rest of the kernel creates at boot (mm/slab_common.c, include/linux/slab.h).

The config is a 4.6 x86-64 distribution kernel's: SLUB, SLUB_DEBUG (not _ON), SYSFS,
MEMCG compiled in (so SLAB_ACCOUNT has its value; no cgroup is ever created), ZONE_DMA
(dma-kmalloc-N caches), no KMEMCHECK (SLAB_NOTRACK is 0), no KASAN, no FAILSLAB, no
SLUB_STATS.
"""

# include/linux/slab.h
SLAB_CONSISTENCY_CHECKS = 0x00000100
SLAB_RED_ZONE = 0x00000400
SLAB_POISON = 0x00000800
SLAB_HWCACHE_ALIGN = 0x00002000
SLAB_CACHE_DMA = 0x00004000
SLAB_STORE_USER = 0x00010000
SLAB_RECLAIM_ACCOUNT = 0x00020000
SLAB_PANIC = 0x00040000
SLAB_DESTROY_BY_RCU = 0x00080000
SLAB_MEM_SPREAD = 0x00100000
SLAB_TRACE = 0x00200000
SLAB_DEBUG_OBJECTS = 0                   # no CONFIG_DEBUG_OBJECTS
SLAB_NOLEAKTRACE = 0x00800000
SLAB_NOTRACK = 0                         # no CONFIG_KMEMCHECK
SLAB_FAILSLAB = 0                        # no CONFIG_FAILSLAB
SLAB_ACCOUNT = 0x04000000                # CONFIG_MEMCG
SLAB_KASAN = 0                           # no CONFIG_KASAN
SLAB_TEMPORARY = SLAB_RECLAIM_ACCOUNT
# mm/slub.c internal flags
__OBJECT_POISON = 0x80000000
__CMPXCHG_DOUBLE = 0x40000000

SLAB_FLAG_NAMES = {
    "SLAB_CONSISTENCY_CHECKS": SLAB_CONSISTENCY_CHECKS, "SLAB_DEBUG_FREE": SLAB_CONSISTENCY_CHECKS,
    "SLAB_RED_ZONE": SLAB_RED_ZONE, "SLAB_POISON": SLAB_POISON,
    "SLAB_HWCACHE_ALIGN": SLAB_HWCACHE_ALIGN, "SLAB_CACHE_DMA": SLAB_CACHE_DMA,
    "SLAB_STORE_USER": SLAB_STORE_USER, "SLAB_RECLAIM_ACCOUNT": SLAB_RECLAIM_ACCOUNT,
    "SLAB_TEMPORARY": SLAB_TEMPORARY, "SLAB_PANIC": SLAB_PANIC,
    "SLAB_DESTROY_BY_RCU": SLAB_DESTROY_BY_RCU, "SLAB_MEM_SPREAD": SLAB_MEM_SPREAD,
    "SLAB_TRACE": SLAB_TRACE, "SLAB_DEBUG_OBJECTS": SLAB_DEBUG_OBJECTS,
    "SLAB_NOLEAKTRACE": SLAB_NOLEAKTRACE, "SLAB_NOTRACK": SLAB_NOTRACK,
    "SLAB_FAILSLAB": SLAB_FAILSLAB, "SLAB_ACCOUNT": SLAB_ACCOUNT, "SLAB_KASAN": SLAB_KASAN,
}

# mm/slab.h
SLAB_CORE_FLAGS = (SLAB_HWCACHE_ALIGN | SLAB_CACHE_DMA | SLAB_PANIC | SLAB_DESTROY_BY_RCU
                   | SLAB_DEBUG_OBJECTS)
SLAB_DEBUG_FLAGS = (SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_TRACE
                    | SLAB_CONSISTENCY_CHECKS)
SLAB_CACHE_FLAGS = (SLAB_NOLEAKTRACE | SLAB_RECLAIM_ACCOUNT | SLAB_TEMPORARY | SLAB_NOTRACK
                    | SLAB_ACCOUNT)
CACHE_CREATE_MASK = SLAB_CORE_FLAGS | SLAB_DEBUG_FLAGS | SLAB_CACHE_FLAGS
# mm/slab_common.c
SLAB_NEVER_MERGE = (SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_TRACE
                    | SLAB_DESTROY_BY_RCU | SLAB_NOLEAKTRACE | SLAB_FAILSLAB | SLAB_KASAN)
SLAB_MERGE_SAME = SLAB_RECLAIM_ACCOUNT | SLAB_CACHE_DMA | SLAB_NOTRACK | SLAB_ACCOUNT
# mm/slub.c
DEBUG_DEFAULT_FLAGS = SLAB_CONSISTENCY_CHECKS | SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER
DEBUG_METADATA_FLAGS = SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER

ARCH_KMALLOC_MINALIGN = 8                # __alignof__(unsigned long long)
ARCH_SLAB_MINALIGN = 8
CACHE_LINE_SIZE = 64                     # cache_line_size() on x86-64
KMALLOC_SHIFT_LOW = 3
KMALLOC_SHIFT_HIGH = 13                  # PAGE_SHIFT + 1 (SLUB)
KMALLOC_SHIFT_MAX = 23                   # MAX_ORDER + PAGE_SHIFT
KMALLOC_MIN_SIZE = 1 << KMALLOC_SHIFT_LOW
KMALLOC_MAX_CACHE_SIZE = 1 << KMALLOC_SHIFT_HIGH
KMALLOC_MAX_SIZE = 1 << KMALLOC_SHIFT_MAX
ZERO_SIZE_PTR = 16

# size_index[(size - 1) / 8] for sizes up to 192: which kmalloc_caches[] index serves them
size_index = [3, 4, 5, 5, 6, 6, 6, 6, 1, 1, 1, 1, 7, 7, 7, 7, 2, 2, 2, 2, 2, 2, 2, 2]
# kmalloc_info[]: index -> (name, size); index 1 and 2 are the odd sizes 96 and 192
kmalloc_info = [(None, 0), ("kmalloc-96", 96), ("kmalloc-192", 192)] + [
    (f"kmalloc-{1 << i}", 1 << i) for i in range(3, KMALLOC_SHIFT_HIGH + 1)]

# The caches start_kernel creates after mm_init, in its order (radix_tree_init, pidmap_init,
# anon_vma_init, cred_init, fork_init, proc_caches_init, vfs_caches_init), with 4.6's flags
# (kernel/fork.c, mm/rmap.c, lib/radix-tree.c, kernel/cred.c, kernel/pid.c, fs/dcache.c,
# fs/file_table.c) and ctor presence. object_size is sizeof() on a 4.6 x86-64
# distribution config (NUMA, MEMCG, 64 signals; task_struct includes an AVX xsave area):
# vm_area_struct 200 and anon_vma 72 / anon_vma_chain 64 are summed from 4.6's struct
# layouts; the others are the <objsize> values 4.x-era x86-64 distribution kernels show
# in /proc/slabinfo (radix_tree_node 584 = 576 + the free pointer its ctor moves out,
# files_cache 704, sighand_cache 2112, signal_cache 1088, mm_struct 960, cred_jar 192,
# pid 128, filp 256, dentry 192, inode_cache 592, ext4_inode_cache 1072,
# shmem_inode_cache 680). They were not measured from one 4.6 binary. The inode caches
# of ext4 and shmem are made by their filesystems' init, after start_kernel's.
#   (name, object_size, align, flags, has_ctor: True or the ctor's kernel name)
KERNEL_CACHES = [
    ("radix_tree_node", 576, 0, SLAB_PANIC | SLAB_RECLAIM_ACCOUNT, True),
    ("pid", 112, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_ACCOUNT, False),
    ("anon_vma", 72, 0, SLAB_DESTROY_BY_RCU | SLAB_PANIC | SLAB_ACCOUNT, True),
    ("anon_vma_chain", 64, 8, SLAB_PANIC | SLAB_ACCOUNT, False),
    ("cred_jar", 168, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_ACCOUNT, False),
    ("task_struct", 3392, 16, SLAB_PANIC | SLAB_NOTRACK | SLAB_ACCOUNT, False),
    ("sighand_cache", 2088, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_DESTROY_BY_RCU
     | SLAB_NOTRACK | SLAB_ACCOUNT, True),
    ("signal_cache", 1064, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_NOTRACK | SLAB_ACCOUNT,
     False),
    ("files_cache", 704, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_NOTRACK | SLAB_ACCOUNT,
     False),
    ("fs_cache", 56, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_NOTRACK | SLAB_ACCOUNT, False),
    ("mm_struct", 944, 64, SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_NOTRACK | SLAB_ACCOUNT,
     False),
    ("vm_area_struct", 200, 8, SLAB_PANIC | SLAB_ACCOUNT, False),
    ("names_cache", 4096, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC, False),
    ("filp", 232, 0, SLAB_HWCACHE_ALIGN | SLAB_PANIC, False),
    ("dentry", 192, 8, SLAB_RECLAIM_ACCOUNT | SLAB_PANIC | SLAB_MEM_SPREAD | SLAB_ACCOUNT,
     False),
    ("inode_cache", 592, 0, SLAB_RECLAIM_ACCOUNT | SLAB_PANIC | SLAB_MEM_SPREAD
     | SLAB_ACCOUNT, "init_once"),
    ("shmem_inode_cache", 680, 0, SLAB_PANIC | SLAB_ACCOUNT, "shmem_init_inode"),
    ("ext4_inode_cache", 1072, 0, SLAB_RECLAIM_ACCOUNT | SLAB_MEM_SPREAD | SLAB_ACCOUNT,
     "init_once"),
]


def parse_slab_flags(flags) -> int:
    """The value of ``flags``: an int or names joined by ``|`` ("SLAB_HWCACHE_ALIGN|SLAB_POISON").

    :raises ValueError: a token that is not a SLAB_* name (the message names it)
    """
    if isinstance(flags, int) and not isinstance(flags, bool):
        if flags < 0:
            raise ValueError(f"slab flags must not be negative: {flags}")
        return flags
    if not isinstance(flags, str):
        raise ValueError(f"slab flags must be an int or a string of names, not {flags!r}")
    value = 0
    for tok in flags.split("|"):
        tok = tok.strip()
        if not tok or tok == "0":
            continue
        if tok in SLAB_FLAG_NAMES:
            value |= SLAB_FLAG_NAMES[tok]
            continue
        try:
            value |= int(tok, 0)
        except ValueError:
            raise ValueError(f"unknown slab flag {tok!r} in {flags!r}") from None
    return value


def ALIGN(x: int, a: int) -> int:
    return (x + a - 1) & ~(a - 1)


def fls(x: int) -> int:
    return x.bit_length()


def get_order(size: int) -> int:
    """Smallest order whose block holds ``size`` bytes (include/asm-generic/getorder.h)."""
    return max(0, ((size - 1) >> 12).bit_length())


def calculate_alignment(flags: int, align: int, size: int) -> int:
    """Object alignment from the flags, the requested alignment and the size
    (mm/slab_common.c calculate_alignment)."""
    if flags & SLAB_HWCACHE_ALIGN:
        ralign = CACHE_LINE_SIZE
        while size <= ralign // 2:
            ralign //= 2
        align = max(align, ralign)
    if align < ARCH_SLAB_MINALIGN:
        align = ARCH_SLAB_MINALIGN
    return ALIGN(align, 8)


def kmalloc_index(size: int) -> int:
    """kmalloc_caches[] index for a request of ``size`` bytes (kmalloc_slab's lookup)."""
    if size <= 192:
        return size_index[(size - 1) // 8]
    return fls(size - 1)


def slab_unmergeable(sl, s) -> bool:
    """Whether ``s`` may never take aliases (mm/slab_common.c slab_unmergeable)."""
    return bool(sl.slab_nomerge or s.flags & SLAB_NEVER_MERGE or s.ctor is not None
                or s.refcount < 0)


def find_mergeable(sl, size: int, align: int, flags: int, name: str, ctor):
    """The newest existing cache that can serve this one (mm/slab_common.c find_mergeable)."""
    if sl.slab_nomerge or flags & SLAB_NEVER_MERGE or ctor is not None:
        return None
    size = ALIGN(size, 8)
    align = calculate_alignment(flags, align, size)
    size = ALIGN(size, align)
    flags = sl.kmem_cache_flags(flags, name)
    for s in sl.slab_caches:            # newest first, like list_for_each_entry_reverse
        if slab_unmergeable(sl, s):
            continue
        if size > s.size:
            continue
        if flags & SLAB_MERGE_SAME != s.flags & SLAB_MERGE_SAME:
            continue
        if s.size & ~(align - 1) != s.size:
            continue
        if s.size - size >= 8:
            continue
        return s
    return None


def create_unique_id(s) -> str:
    """The sysfs directory name of a mergeable cache, e.g. ":t-0000064" (mm/slub.c)."""
    p = ""
    if s.flags & SLAB_CACHE_DMA:
        p += "d"
    if s.flags & SLAB_RECLAIM_ACCOUNT:
        p += "a"
    if s.flags & SLAB_CONSISTENCY_CHECKS:
        p += "F"
    if not s.flags & SLAB_NOTRACK:
        p += "t"
    if s.flags & SLAB_ACCOUNT:
        p += "A"
    if p:
        p += "-"
    return f":{p}{s.size:07d}"


def parse_slub_cmdline(cmdline: str) -> dict:
    """The slub_* and slab_nomerge boot options (mm/slub.c __setup handlers)."""
    opts = {"slub_debug": 0, "slub_debug_slabs": None, "slub_min_order": 0,
            "slub_max_order": 3, "slub_min_objects": 0, "slab_nomerge": False,
            "disable_higher_order_debug": False, "unknown_debug": []}
    for word in (cmdline or "").split():
        key, eq, val = word.partition("=")
        if key == "slub_debug":
            _setup_slub_debug(opts, val if eq else None)
        elif key in ("slub_min_order", "slub_max_order", "slub_min_objects"):
            opts[key] = _get_option(val)
        elif key in ("slab_nomerge", "slub_nomerge"):
            opts["slab_nomerge"] = True
        elif key == "slab_merge":
            opts["slab_nomerge"] = False
    opts["slub_max_order"] = min(opts["slub_max_order"], 10)   # MAX_ORDER - 1
    return opts


def _get_option(val: str) -> int:
    """get_option(): a leading integer (base auto-detected), 0 when there is none."""
    digits = ""
    for ch in val.strip():
        if ch.isalnum() or (ch == "-" and not digits):
            digits += ch
        else:
            break
    try:
        return int(digits, 0)
    except ValueError:
        return 0


def _setup_slub_debug(opts: dict, val) -> None:
    """setup_slub_debug: "slub_debug" alone = full debugging; letters pick features."""
    opts["slub_debug"] = DEBUG_DEFAULT_FLAGS
    if not val:
        return
    if val.startswith(","):
        opts["slub_debug_slabs"] = val[1:]
        return
    opts["slub_debug"] = 0
    if val.startswith("-"):
        return
    letters = {"f": SLAB_CONSISTENCY_CHECKS, "z": SLAB_RED_ZONE, "p": SLAB_POISON,
               "u": SLAB_STORE_USER, "t": SLAB_TRACE, "a": SLAB_FAILSLAB}
    i = 0
    while i < len(val) and val[i] != ",":
        ch = val[i].lower()
        if ch in letters:
            opts["slub_debug"] |= letters[ch]
        elif ch == "o":
            opts["disable_higher_order_debug"] = True
        else:
            opts["unknown_debug"].append(val[i])
        i += 1
    if i < len(val) and val[i] == ",":
        opts["slub_debug_slabs"] = val[i + 1:]


def slab_alloc_obj(m, cache: str, obj) -> None:
    """kmem_cache_alloc for a modelled kernel object: back ``obj`` by an object of its
    SLUB cache (``obj.slab_obj``), when SLUB is modelled on ``m``."""
    slab = m.slab
    if slab is not None:
        obj.slab_obj = slab.alloc_obj(cache)


def slab_free_obj(m, cache: str, obj) -> None:
    """kmem_cache_free of ``obj``'s backing object, if it has one."""
    slab = m.slab
    if slab is not None and obj.slab_obj:
        slab.free_obj(cache, obj.slab_obj)
    obj.slab_obj = 0
