"""Block devices and the I/O counting of submit_bio (block/blk-core.c).

The model's I/O completes at once; what it keeps is what 4.6 counts: pgpgin/pgpgout in
512-byte sectors (``/proc/vmstat`` prints them halved, in KiB) and each device's sector
and request counts.
"""

from ..arch.x86.page_types import PAGE_SIZE
from ..include.vm_event_item import VM_EVENT
from ..mm.fs_types import Inode

SECTORS_PER_PAGE = PAGE_SIZE >> 9
READ, WRITE = 0, 1


class BlockDevice:
    """struct block_device: a disk or partition, with the sector counts of the I/O it
    has done. ``bd_inode`` is its inode on the bdev pseudo filesystem, whose page cache
    holds what is read through the device itself (metadata, raw device I/O:
    /proc/meminfo's Buffers); the model's files never go through it."""

    __slots__ = ("name", "dev", "sectors_read", "sectors_written", "ios_read",
                 "ios_written", "bd_inode")

    def __init__(self, name: str, dev: tuple):
        self.name = name
        self.dev = dev
        self.bd_inode = Inode(0, dev, 0, bytearray(), f"/dev/{name}")
        self.sectors_read = self.sectors_written = 0
        self.ios_read = self.ios_written = 0

    def __repr__(self):
        return f"<block_device {self.name} {self.dev[0]}:{self.dev[1]}>"


def submit_bio(m, bdev, rw: int, sectors: int) -> None:
    """Count one bio's I/O: pgpgin/pgpgout in sectors, as 4.6 submit_bio does."""
    ev = m.pgdat.vm_events
    if rw == WRITE:
        ev[VM_EVENT["pgpgout"]] += sectors
        bdev.sectors_written += sectors
        bdev.ios_written += 1
    else:
        ev[VM_EVENT["pgpgin"]] += sectors
        bdev.sectors_read += sectors
        bdev.ios_read += 1
