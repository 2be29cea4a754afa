"""The block layer (block/): the devices the page cache and swap do their I/O on."""
