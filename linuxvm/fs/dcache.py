"""The dentry cache (fs/dcache.c): a name per cached inode backed by a ``dentry`` slab
object; unused dentries of a disk filesystem stay cached on their superblock's LRU
(dput → dentry_lru_add) until the slab shrinker prunes them (prune_dcache_sb), which
frees the name, drops its inode reference (the inode goes to the inode LRU) and prunes
the ancestors nothing else holds.

Dentries of ramfs, tmpfs and device nodes are pinned (d_count 1 from creation, as
simple_mknod's dget leaves them), as are the root and mountpoints: they are never on
an LRU, and unlinking one frees it (always_delete_dentry). A disk filesystem's name
that is unlinked while unused, or looked up and not found, stays cached as a negative
dentry (no inode) until pruned.

``m.vfs.dcache`` is the dentry hash: path → the hashed dentry of that name.
"""

from ..errors import KernelBug
from ..mm.debug import extra_checks
from ..mm.fs_types import Dentry
from .inode import (iput_final, list_lru_walk, LRU_REMOVED, LRU_ROTATE)

DCACHE_REFERENCED = 0x00000040      # include/linux/dcache.h
DCACHE_OP_DELETE = 0x00000008       # d_op->d_delete: always_delete_dentry (pinned names)
DCACHE_DENTRY_KILLED = 0x00100000


def d_in_use(dentry) -> bool:
    """d_lockref.count > 0: children, a pin, or open files and mappings of its inode."""
    inode = dentry.d_inode
    return dentry.d_count > 0 or (inode is not None and inode.i_count > 0)


def d_alloc(m, sb, name: str, parent, inode, pinned: bool = False) -> Dentry:
    """A new hashed dentry for ``name`` under ``parent``, instantiated with ``inode`` or
    negative (None) (d_alloc + d_add); a pinned one holds a reference of its own."""
    dentry = Dentry(name, None, parent, sb)
    slab = m.slab
    if slab is not None:
        dentry.slab_obj = slab.alloc_obj("dentry")
    if parent is not None:
        parent.d_count += 1
    if pinned:
        dentry.d_count = 1
        dentry.d_flags |= DCACHE_OP_DELETE
    if inode is not None:
        d_instantiate(dentry, inode)
    m.vfs.dcache[name] = dentry
    return dentry


def d_instantiate(dentry, inode) -> None:
    """Give a (negative) dentry its inode (fs/dcache.c d_instantiate)."""
    dentry.d_inode = inode
    inode.i_dentry = dentry


def d_lru_del(dentry) -> None:
    if dentry.d_lru:
        dentry.d_lru = False
        del dentry.d_sb.s_dentry_lru[dentry]


def dentry_free(m, dentry) -> None:
    slab = m.slab
    if slab is not None and dentry.slab_obj:
        slab.free_obj("dentry", dentry.slab_obj)
    dentry.slab_obj = 0


def __dentry_kill(m, dentry):
    """Free an unused dentry: off the LRU, its inode reference dropped, its parent's
    reference dropped; the parent, which the caller may prune next (fs/dcache.c)."""
    d_lru_del(dentry)
    if not dentry.d_unhashed:
        dentry.d_unhashed = True            # __d_drop
        if m.vfs.dcache.get(dentry.d_name) is dentry:
            del m.vfs.dcache[dentry.d_name]
    parent = dentry.d_parent
    dentry.d_parent = None
    if parent is not None:
        parent.d_count -= 1
    inode = dentry.d_inode
    dentry.d_inode = None
    dentry.d_flags |= DCACHE_DENTRY_KILLED
    dentry_free(m, dentry)
    if inode is not None and inode.i_dentry is dentry:
        inode.i_dentry = None               # dentry_unlink_inode → iput
        iput_final(m, inode)
    return parent


def dput(m, dentry) -> None:
    """Drop a use of a dentry: an unlinked one nothing uses is freed (and its parent's
    last use dropped in turn); an unused one is kept on the LRU, marked referenced
    (fs/dcache.c dput)."""
    while dentry is not None and not d_in_use(dentry):
        if not dentry.d_unhashed and not dentry.d_flags & DCACHE_OP_DELETE:
            dentry.d_flags |= DCACHE_REFERENCED
            if not dentry.d_lru:                    # dentry_lru_add
                dentry.d_lru = True
                dentry.d_sb.s_dentry_lru[dentry] = None
            return
        dentry = __dentry_kill(m, dentry)


def dput_inode(inode) -> None:
    """super_operations.dput of a disk filesystem: the last open file or mapping of a
    linked inode went, so its dentry is unused."""
    dentry = inode.i_dentry
    if dentry is not None:
        dput(inode.machine, dentry)


def d_delete(m, dentry) -> None:
    """unlink: an unused name of a disk filesystem turns negative (its inode, now
    unlinked, is evicted); one in use leaves the hash and is freed at its last use; a
    pinned name loses its pin and goes (fs/dcache.c d_delete, simple_unlink's dput)."""
    if dentry.d_flags & DCACHE_OP_DELETE:
        dentry.d_count -= 1
    if d_in_use(dentry):
        dentry.d_unhashed = True            # d_drop
        if m.vfs.dcache.get(dentry.d_name) is dentry:
            del m.vfs.dcache[dentry.d_name]
        return
    inode = dentry.d_inode
    if not dentry.d_flags & DCACHE_OP_DELETE:
        dentry.d_inode = None               # dentry_unlink_inode: a negative dentry
        if inode is not None:
            inode.i_dentry = None
            iput_final(m, inode)
    dput(m, dentry)


def dentry_lru_isolate(dentry, dispose: list) -> int:
    """One dentry at the LRU's head: drop it from the list if in use, give a recently used
    one another pass, or take it to be freed (fs/dcache.c dentry_lru_isolate)."""
    if d_in_use(dentry):
        d_lru_del(dentry)
        return LRU_REMOVED
    if dentry.d_flags & DCACHE_REFERENCED:
        dentry.d_flags &= ~DCACHE_REFERENCED
        return LRU_ROTATE
    d_lru_del(dentry)
    dispose.append(dentry)
    return LRU_REMOVED


def shrink_dentry_list(m, dispose: list) -> None:
    """Free the isolated dentries, newest first, and each ancestor whose last child
    that was (fs/dcache.c shrink_dentry_list)."""
    while dispose:
        dentry = dispose.pop()
        if dentry.d_flags & DCACHE_DENTRY_KILLED or d_in_use(dentry):
            continue
        parent = __dentry_kill(m, dentry)
        while parent is not None and not d_in_use(parent):
            parent = __dentry_kill(m, parent)


def prune_dcache_sb(m, sb, sc) -> int:
    """Free up to ``sc.nr_to_scan`` unused dentries of one filesystem: how many left the
    LRU (fs/dcache.c prune_dcache_sb)."""
    dispose = []
    freed = list_lru_walk(sb.s_dentry_lru, sc,
                          lambda dentry: dentry_lru_isolate(dentry, dispose))
    shrink_dentry_list(m, dispose)
    return freed


def check_dcache(m) -> None:
    """m.check(): the LRUs hold only live entries of their own superblock;
    an in-core inode is on its s_inodes; a name whose inode holds pages is in core; a
    hashed dentry's children are counted in its d_count."""
    vfs = m.vfs
    if vfs is None:
        return
    children = {}
    for d in vfs.dcache.values():
        if d.d_flags & DCACHE_DENTRY_KILLED or d.d_unhashed:
            raise KernelBug(f"{d!r} is in the dentry hash but killed or unhashed")
        if d.d_parent is not None:
            children[id(d.d_parent)] = children.get(id(d.d_parent), 0) + 1
        inode = d.d_inode
        if inode is not None and inode.i_dentry is not d:
            raise KernelBug(f"{d!r} names ino {inode.i_ino}, whose dentry is {inode.i_dentry!r}")
    for d in vfs.dcache.values():
        if d.d_count < children.get(id(d), 0):
            raise KernelBug(f"{d!r} has {children[id(d)]} cached children")
    for sb in list(vfs.mounts.values()) + [vfs.shm_mnt]:
        for d in sb.s_dentry_lru:
            if not d.d_lru or d.d_sb is not sb or d.d_flags & DCACHE_DENTRY_KILLED:
                raise KernelBug(f"{d!r} on the dentry LRU of {sb!r}")
        in_core = set(map(id, sb.inodes))
        for inode in sb.s_inode_lru:
            # (one a lookup took back into use may stay until the pruner passes: lazily)
            if not inode.i_lru or inode.sb is not sb or id(inode) not in in_core:
                raise KernelBug(f"ino {inode.i_ino} on the inode LRU of {sb!r}")
    for path, inode in list(vfs.files.items()) + list(vfs.dirs.items()):
        if inode.i_mapping.nrpages and m.slab is not None and not inode.slab_obj:
            raise KernelBug(f"{path}: evicted inode {inode.i_ino} still holds pages")
        if inode.i_dentry is not None and inode.i_dentry.d_inode is not inode:
            raise KernelBug(f"{path}: its dentry names another inode")


extra_checks.append(check_dcache)
