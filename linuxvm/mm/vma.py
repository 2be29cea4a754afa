"""struct vm_area_struct and the per-mm VMA tree with 4.6's gap tracking (mm/mmap.c).

The kernel keeps VMAs in a red-black tree augmented with ``rb_subtree_gap``: the
largest free gap ``vm_start - vm_prev.vm_end`` anywhere in a node's subtree. We
keep the same augmentation on an AVL tree (the VMAs are the nodes, as ``vm_rb``
is embedded in the kernel's struct). Both trees are balanced, so ``find_vma`` and
the gap searches visit O(log n) nodes; AVL only changes how rebalancing rotates,
which no user can observe. The address-sorted ``vm_next``/``vm_prev`` list is kept
alongside, as in 4.6.
"""

from ..arch.x86.page_types import PAGE_SHIFT


class VmAreaStruct:
    """struct vm_area_struct."""

    __slots__ = (
        "vm_start", "vm_end", "vm_next", "vm_prev",
        "rb_left", "rb_right", "rb_parent", "rb_height", "rb_subtree_gap",
        "vm_mm", "vm_page_prot", "vm_flags", "anon_vma_chain", "anon_vma", "vm_ops",
        "vm_pgoff", "vm_file", "vm_private_data", "vm_policy", "vm_userfaultfd_ctx",
        "slab_obj",
    )

    def __init__(self, mm, start, end, flags, pgoff=0, file=None):
        self.vm_start = start
        self.vm_end = end
        self.vm_next = self.vm_prev = None
        self.rb_left = self.rb_right = self.rb_parent = None
        self.rb_height = 1
        self.rb_subtree_gap = 0
        self.vm_mm = mm
        self.vm_page_prot = 0
        self.vm_flags = flags
        self.anon_vma_chain = []
        self.anon_vma = None
        self.vm_ops = None
        self.vm_pgoff = pgoff
        self.vm_file = file
        self.vm_private_data = None
        self.vm_policy = None
        self.vm_userfaultfd_ctx = None
        self.slab_obj = 0

    def __repr__(self):
        return (f"<vma {self.vm_start:#x}-{self.vm_end:#x} flags={self.vm_flags:#x} "
                f"pgoff={self.vm_pgoff:#x}>")

    def copy(self):
        """``*new = *vma`` (tree and list links are not copied)."""
        new = _new_vma(VmAreaStruct)        # every field set here, as __init__ would
        new.vm_start = self.vm_start
        new.vm_end = self.vm_end
        new.vm_next = new.vm_prev = None
        new.rb_left = new.rb_right = new.rb_parent = None
        new.rb_height = 1
        new.rb_subtree_gap = 0
        new.vm_mm = self.vm_mm
        new.vm_page_prot = self.vm_page_prot
        new.vm_flags = self.vm_flags
        new.anon_vma_chain = []
        new.anon_vma = self.anon_vma
        new.vm_ops = self.vm_ops
        new.vm_pgoff = self.vm_pgoff
        new.vm_file = self.vm_file
        new.vm_private_data = self.vm_private_data
        new.vm_policy = self.vm_policy
        new.vm_userfaultfd_ctx = self.vm_userfaultfd_ctx
        new.slab_obj = 0
        return new


_new_vma = object.__new__


def vma_pages(vma) -> int:
    return (vma.vm_end - vma.vm_start) >> PAGE_SHIFT


def vma_is_anonymous(vma) -> bool:
    return vma.vm_ops is None


# -- the augmented tree ----------------------------------------------------------------

def vma_compute_subtree_gap(v) -> int:
    """Largest gap in ``v``'s subtree; also refreshes the AVL height (mm/mmap.c)."""
    prev = v.vm_prev
    g = v.vm_start - prev.vm_end if prev is not None else v.vm_start
    h = 0
    left, right = v.rb_left, v.rb_right
    if left is not None:
        h = left.rb_height
        if left.rb_subtree_gap > g:
            g = left.rb_subtree_gap
    if right is not None:
        if right.rb_height > h:
            h = right.rb_height
        if right.rb_subtree_gap > g:
            g = right.rb_subtree_gap
    v.rb_height = h + 1
    v.rb_subtree_gap = g
    return g


def _rotate(n, hl, hr):
    """Rotate ``n`` (refreshed; subtree heights ``hl``, ``hr`` 2 apart) into balance; the new
    subtree root, which takes over ``n``'s parent."""
    parent = n.rb_parent
    if hl > hr:
        left = n.rb_left
        a, b = left.rb_left, left.rb_right
        if (a.rb_height if a is not None else 0) < (b.rb_height if b is not None else 0):
            c = left.rb_right = b.rb_left               # rotate left at n.rb_left
            if c is not None:
                c.rb_parent = left
            b.rb_left = left
            left.rb_parent = b
            vma_compute_subtree_gap(left)
            vma_compute_subtree_gap(b)
            left = n.rb_left = b
            b.rb_parent = n
        c = n.rb_left = left.rb_right                   # rotate right at n
        if c is not None:
            c.rb_parent = n
        left.rb_right = n
        n.rb_parent = left
        left.rb_parent = parent
        vma_compute_subtree_gap(n)
        vma_compute_subtree_gap(left)
        return left
    right = n.rb_right
    a, b = right.rb_right, right.rb_left
    if (a.rb_height if a is not None else 0) < (b.rb_height if b is not None else 0):
        c = right.rb_left = b.rb_right                  # rotate right at n.rb_right
        if c is not None:
            c.rb_parent = right
        b.rb_right = right
        right.rb_parent = b
        vma_compute_subtree_gap(right)
        vma_compute_subtree_gap(b)
        right = n.rb_right = b
        b.rb_parent = n
    c = n.rb_right = right.rb_left                      # rotate left at n
    if c is not None:
        c.rb_parent = n
    right.rb_left = n
    n.rb_parent = right
    right.rb_parent = parent
    vma_compute_subtree_gap(n)
    vma_compute_subtree_gap(right)
    return right


def _balance(n):
    """Refresh ``n`` and rotate it back into AVL balance; the subtree's new root."""
    vma_compute_subtree_gap(n)
    left, right = n.rb_left, n.rb_right
    hl = left.rb_height if left is not None else 0
    hr = right.rb_height if right is not None else 0
    if hl - hr > 1 or hr - hl > 1:
        return _rotate(n, hl, hr)
    return n


def _rebalance_path(mm, path, start, child, stale=None) -> bool:
    """Hang ``child`` under the end of ``path`` and rebalance the path bottom-up; whether
    the walk passed ``stale`` (an AVL update's recursion unwinding)."""
    # A node that keeps its place, height and gap leaves everything above it as it was,
    # so the walk stops there: VMAs whose own gap changed are refreshed by their callers
    # through vma_gap_update, as in the kernel -- except ``stale``, a VMA whose own gap
    # changed and that this walk refreshes, so it does not stop before passing it.
    # ``child`` needs hanging under the next node up only at the start and after a
    # rotation; otherwise it is that node's child already.
    i = len(path)
    relink = True
    while i:
        i -= 1
        n = path[i]
        if start < n.vm_start:
            if relink:
                n.rb_left = child
                if child is not None:
                    child.rb_parent = n
            left, right = child, n.rb_right
        else:
            if relink:
                n.rb_right = child
                if child is not None:
                    child.rb_parent = n
            left, right = n.rb_left, child
        # _balance(n), with vma_compute_subtree_gap written out
        prev = n.vm_prev
        g = n.vm_start - prev.vm_end if prev is not None else n.vm_start
        if left is not None:
            hl = left.rb_height
            if left.rb_subtree_gap > g:
                g = left.rb_subtree_gap
        else:
            hl = 0
        if right is not None:
            hr = right.rb_height
            if right.rb_subtree_gap > g:
                g = right.rb_subtree_gap
        else:
            hr = 0
        h = (hl if hl > hr else hr) + 1
        if n is stale:
            stale = None
        if hl - hr > 1 or hr - hl > 1:
            n.rb_height = h
            n.rb_subtree_gap = g
            child = _rotate(n, hl, hr)
            relink = True
            continue
        if h == n.rb_height:
            if g == n.rb_subtree_gap and stale is None:
                return True             # nothing above changes
            # The height stayed: every node above keeps its height and balance, so the
            # rest of the walk only refreshes gaps (the same values the full step gives).
            # Past ``stale``, a node's gap was the largest of its parts, so the child's
            # old and new gap (``old``, ``g``) can settle it without reading the others.
            old = n.rb_subtree_gap
            n.rb_subtree_gap = g
            while i:
                i -= 1
                n = path[i]
                cur = n.rb_subtree_gap
                if stale is None:
                    if g >= cur:
                        if g == cur:
                            return True     # the child's gap only reached it
                        n.rb_subtree_gap = g    # the child's gap is the largest now
                        old = cur
                        continue
                    if old < cur:
                        return True         # the largest gap lies elsewhere and stays
                prev = n.vm_prev
                g = n.vm_start - prev.vm_end if prev is not None else n.vm_start
                c = n.rb_left
                if c is not None and c.rb_subtree_gap > g:
                    g = c.rb_subtree_gap
                c = n.rb_right
                if c is not None and c.rb_subtree_gap > g:
                    g = c.rb_subtree_gap
                if n is stale:
                    stale = None
                if g == cur and stale is None:
                    return True
                n.rb_subtree_gap = g
                old = cur
            return stale is None        # (the root stayed the root)
        n.rb_height = h
        n.rb_subtree_gap = g
        child = n
        relink = False
    mm.mm_rb = child
    if child is not None:
        child.rb_parent = None
    return stale is None


def vma_gap_update(mm, v) -> None:
    """Refresh the gaps from ``v`` up to the root after its own gap changed (mm/mmap.c)."""
    # An ancestor whose gap comes out unchanged ends the walk, as the kernel's propagate
    # callback does; heights need no refresh (every insert and erase keeps them exact).
    start = v.vm_start
    prev = v.vm_prev
    g = start - prev.vm_end if prev is not None else start
    c = v.rb_left
    if c is not None and c.rb_subtree_gap > g:
        g = c.rb_subtree_gap
    c = v.rb_right
    if c is not None and c.rb_subtree_gap > g:
        g = c.rb_subtree_gap
    if g == v.rb_subtree_gap:
        return                          # nothing above can change either
    n = v.rb_parent
    if n is None and mm.mm_rb is not v:
        return                          # not in the tree (yet)
    v.rb_subtree_gap = g
    while n is not None:
        prev = n.vm_prev
        g = n.vm_start - prev.vm_end if prev is not None else n.vm_start
        c = n.rb_left
        if c is not None and c.rb_subtree_gap > g:
            g = c.rb_subtree_gap
        c = n.rb_right
        if c is not None and c.rb_subtree_gap > g:
            g = c.rb_subtree_gap
        if g == n.rb_subtree_gap:
            return
        n.rb_subtree_gap = g
        n = n.rb_parent


def vma_rb_insert(mm, v, stale=None) -> bool:
    """Insert ``v`` by vm_start and rebalance its path; whether that refreshed ``stale``."""
    v.rb_left = v.rb_right = v.rb_parent = None
    v.rb_height = 1                     # vma_compute_subtree_gap of a leaf
    prev = v.vm_prev
    v.rb_subtree_gap = v.vm_start - prev.vm_end if prev is not None else v.vm_start
    path = []
    n = mm.mm_rb
    start = v.vm_start
    while n is not None:
        path.append(n)
        n = n.rb_left if start < n.vm_start else n.rb_right
    return _rebalance_path(mm, path, start, v, stale)


def _path_to(mm, v) -> list:
    """The nodes from the root down to ``v``'s parent; KeyError when ``v`` is not in the tree."""
    path = []                           # v's ancestors, up through the parent links
    n = v.rb_parent
    while n is not None:
        path.append(n)
        n = n.rb_parent
    if (path[-1] if path else v) is not mm.mm_rb:
        raise KeyError(v)
    path.reverse()
    return path


def vma_rb_erase(mm, v, stale=None, path=None) -> bool:
    """Take ``v`` out of the tree (its successor takes its place); whether that refreshed
    ``stale``. ``path`` is _path_to(mm, v) when the caller has it."""
    if path is None:
        path = _path_to(mm, v)
    left, right = v.rb_left, v.rb_right
    reached = True
    if left is None:
        repl = right
        if right is not None and stale is not None:
            reached = False             # the successor is below ``right``, off the walk
            stale = None
    elif right is None:
        repl = left
    else:
        # pop the minimum of the right subtree, rebalancing the left spine walked
        spine = []
        low = right
        while low.rb_left is not None:
            spine.append(low)
            low = low.rb_left
        rest = low.rb_right
        for s in reversed(spine):
            s.rb_left = rest
            if rest is not None:
                rest.rb_parent = s
            rest = _balance(s)
        low.rb_left = left
        left.rb_parent = low
        low.rb_right = rest
        if rest is not None:
            rest.rb_parent = low
        low.rb_parent = v.rb_parent
        repl = _balance(low)            # refreshes low completely
        if low is stale:
            stale = None
    passed = _rebalance_path(mm, path, v.vm_start, repl, stale)
    v.rb_left = v.rb_right = v.rb_parent = None
    return passed and reached


def __vma_link_list(mm, vma, prev) -> None:
    """Put ``vma`` on the sorted list after ``prev`` (None: first)."""
    vma.vm_prev = prev
    if prev is not None:
        nxt = prev.vm_next
        prev.vm_next = vma
    else:
        nxt = mm.mmap
        mm.mmap = vma
    vma.vm_next = nxt
    if nxt is not None:
        nxt.vm_prev = vma


def __vma_link_rb(mm, vma) -> None:
    """Insert into the tree and fix the gap of the VMA after it (mm/mmap.c)."""
    # The kernel refreshes the next VMA's gap first, then inserts. That VMA lies on the
    # insertion path (a new leaf hangs below the lower of its two in-order neighbours
    # and the path passes through both), so the insertion's bottom-up refresh covers
    # it: the same tree and gaps with one walk instead of two.
    nxt = vma.vm_next
    if nxt is None:
        mm.highest_vm_end = vma.vm_end
        vma_rb_insert(mm, vma)
    elif not vma_rb_insert(mm, vma, nxt):
        vma_gap_update(mm, nxt)         # not on the path after all: refresh it on its own


def __vma_unlink(mm, vma) -> None:
    """Take ``vma`` off the tree and the list (mm/mmap.c __vma_unlink)."""
    # The kernel erases, unlinks from the list, then refreshes the next VMA's gap. The
    # list goes first here, so the erase's bottom-up walk already sees the next VMA's
    # final gap and refreshes it when it passes it (as the successor taking ``vma``'s
    # place, or as an ancestor); only otherwise does it need a vma_gap_update of its own.
    path = _path_to(mm, vma)            # (KeyError before anything changes)
    prev, nxt = vma.vm_prev, vma.vm_next
    if nxt is not None:
        nxt.vm_prev = prev
    if prev is not None:
        prev.vm_next = nxt
    else:
        mm.mmap = nxt
    if nxt is not None:
        if not vma_rb_erase(mm, vma, nxt, path):
            vma_gap_update(mm, nxt)
    else:
        vma_rb_erase(mm, vma, None, path)
        mm.highest_vm_end = prev.vm_end if prev is not None else 0
    vma.vm_next = vma.vm_prev = None
    mm.vmacache_seqnum += 1


def find_vma(mm, addr: int):
    """The first VMA with ``vm_end > addr`` (it may start above ``addr``), or None.

    >>> find_vma(p.mm, 0x7ffff7ff0000)
    <vma 0x7ffff7fe0000-0x7ffff7fff000 flags=0x8100073 pgoff=0x7ffff7fe0>

    :param mm: ``struct mm_struct *``
    """
    n = mm.mm_rb
    best = None
    while n is not None:
        if n.vm_end > addr:
            best = n
            if n.vm_start <= addr:
                break
            n = n.rb_left
        else:
            n = n.rb_right
    return best


def find_vma_prev(mm, addr: int):
    """``(vma, prev)``: find_vma and the VMA before it (the last VMA when none follows)."""
    vma = find_vma(mm, addr)
    if vma is not None:
        return vma, vma.vm_prev
    n = mm.mm_rb
    while n is not None and n.rb_right is not None:
        n = n.rb_right
    return None, n


def find_vma_intersection(mm, start: int, end: int):
    vma = find_vma(mm, start)
    if vma is not None and end <= vma.vm_start:
        return None
    return vma


def find_vma_links(mm, addr: int, end: int):
    """``(overlaps, prev)``: whether ``[addr, end)`` meets a VMA, and the VMA before it."""
    n = mm.mm_rb                        # find_vma(mm, addr), written out
    vma = None
    while n is not None:
        if n.vm_end > addr:
            vma = n
            if n.vm_start <= addr:
                break
            n = n.rb_left
        else:
            n = n.rb_right
    if vma is not None:
        return vma.vm_start < end, vma.vm_prev
    return False, find_vma_prev(mm, addr)[1]


# -- gap searches (mm/mmap.c unmapped_area / unmapped_area_topdown) ---------------------

_STOP = object()


def _search_up(n, length, low_limit, high_limit):
    if n is None or n.rb_subtree_gap < length:
        return None
    gap_end = n.vm_start
    if gap_end >= low_limit:
        r = _search_up(n.rb_left, length, low_limit, high_limit)
        if r is not None:
            return r
    gap_start = n.vm_prev.vm_end if n.vm_prev is not None else 0
    if gap_start > high_limit:
        return _STOP
    if gap_end >= low_limit and gap_end - gap_start >= length:
        return n
    return _search_up(n.rb_right, length, low_limit, high_limit)


def unmapped_area(mm, length, low_limit, high_limit, align_mask=0, align_offset=0):
    """Lowest free range of ``length`` in [low_limit, high_limit); an address or None
    (the kernel's -ENOMEM)."""
    need = length + align_mask
    if high_limit < need:
        return None
    hi = high_limit - need
    if low_limit > hi:
        return None
    found = _search_up(mm.mm_rb, need, low_limit + need, hi)
    if found is _STOP:
        return None
    if found is None:
        gap_start = mm.highest_vm_end
        if gap_start > hi:
            return None
    else:
        gap_start = found.vm_prev.vm_end if found.vm_prev is not None else 0
    if gap_start < low_limit:
        gap_start = low_limit
    return gap_start + ((align_offset - gap_start) & align_mask)


def unmapped_area_topdown(mm, length, low_limit, high_limit, align_mask=0, align_offset=0):
    """Highest free range of ``length`` below ``high_limit``; an address or None."""
    need = length + align_mask
    if high_limit < need:
        return None
    hi = high_limit - need
    if low_limit > hi:
        return None
    if mm.highest_vm_end <= hi:
        gap_end = high_limit
    else:
        # The highest node whose gap below it fits: right subtree first, then the node,
        # then the left subtree, skipping subtrees whose largest gap is too small (the
        # kernel's walk, with the nodes whose right subtree is being searched on a list).
        low = low_limit + need
        n = mm.mm_rb
        pending = None
        while True:
            if n is None or n.rb_subtree_gap < need:
                if not pending:
                    return None
                n = pending.pop()           # its right subtree had nothing
                prev = n.vm_prev
                gap_start = prev.vm_end if prev is not None else 0
            else:
                prev = n.vm_prev
                gap_start = prev.vm_end if prev is not None else 0
                if gap_start <= hi:
                    right = n.rb_right
                    if right is not None and right.rb_subtree_gap >= need:
                        if pending is None:
                            pending = [n]
                        else:
                            pending.append(n)
                        n = right
                        continue
                    # (a right subtree without a big enough gap has nothing)
            gap_end = n.vm_start
            if gap_end < low:
                return None
            if gap_start <= hi and gap_end - gap_start >= need:
                break
            n = n.rb_left
        if gap_end > high_limit:
            gap_end = high_limit
    gap_end -= length
    return gap_end - ((gap_end - align_offset) & align_mask)


def for_each_vma(mm):
    v = mm.mmap
    while v is not None:
        yield v
        v = v.vm_next
