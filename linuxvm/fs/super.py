"""Each superblock's slab shrinker (fs/super.c super_cache_count/super_cache_scan): its
unused dentries and inodes, counted under vm.vfs_cache_pressure, pruned in proportion,
dentries first since they pin the inodes.
"""

from ..mm import gfp as G
from ..mm.vmscan.shrinker import (Shrinker, register_shrinker, SHRINK_STOP,
                                  SHRINKER_NUMA_AWARE, SHRINKER_MEMCG_AWARE)
from .dcache import prune_dcache_sb
from .inode import prune_icache_sb


def mult_frac(x: int, numer: int, denom: int) -> int:
    """x * numer / denom without overflowing x * numer (include/linux/kernel.h)."""
    quot, rem = divmod(x, denom)
    return quot * numer + rem * numer // denom


def super_cache_count(m, sb) -> int:
    """Unused dentries and inodes on the superblock's LRUs, scaled by
    vm.vfs_cache_pressure (vfs_pressure_ratio)."""
    total = len(sb.s_dentry_lru) + len(sb.s_inode_lru)
    return mult_frac(total, m.sysctl["vm.vfs_cache_pressure"], 100)


def super_cache_scan(m, sb, sc) -> int:
    """Prune the superblock's dentries, then its inodes, each its share of
    ``sc.nr_to_scan`` (at least one); the objects freed. Refused (SHRINK_STOP) for an
    allocation that may not recurse into filesystems (no __GFP_FS)."""
    if not sc.gfp_mask & G.__GFP_FS:
        return SHRINK_STOP
    inodes = len(sb.s_inode_lru)
    dentries = len(sb.s_dentry_lru)
    total_objects = dentries + inodes + 1
    dentries = mult_frac(sc.nr_to_scan, dentries, total_objects)
    inodes = mult_frac(sc.nr_to_scan, inodes, total_objects)
    sc.nr_to_scan = dentries + 1
    freed = prune_dcache_sb(m, sb, sc)
    sc.nr_to_scan = inodes + 1
    freed += prune_icache_sb(m, sb, sc)
    return freed


def register_super_shrinker(m, sb) -> None:
    """sget → alloc_super's s_shrink, registered with the filesystem mounted."""
    sb.s_shrink = Shrinker(f"super_cache_scan {sb.fstype} {sb.dev[0]}:{sb.dev[1]}",
                           lambda shrinker, sc: super_cache_count(m, sb),
                           lambda shrinker, sc: super_cache_scan(m, sb, sc), batch=1024,
                           flags=SHRINKER_NUMA_AWARE | SHRINKER_MEMCG_AWARE)
    register_shrinker(m, sb.s_shrink)
