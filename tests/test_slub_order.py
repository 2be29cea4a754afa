"""Slab order and objects per slab, against tables worked out by hand from 4.6's rules.

min_objects = 4 * (fls(nr_cpu_ids) + 1): 8 (1 CPU), 12 (2), 20 (8), 32 (64 CPUs), capped at
the objects an order-3 slab holds. The order is the first from get_order(min_objects *
size) up to 3 whose leftover is at most 1/16 of the slab (then 1/8, 1/4, then fewer
objects). Example, kmalloc-192 on 64 CPUs: 32 * 192 = 6144 -> order 1; 8192 % 192 = 128
<= 512, so order 1 with 42 objects. kmalloc-96 on 1 CPU: 768 -> order 0; 4096 % 96 = 64
<= 256 -> 42 objects.
"""

import re

import pytest

import linuxvm as lv

# cache: (order, objects) for 1, 2, 8, 64 CPUs
KMALLOC_TABLE = {
    "kmalloc-8":    [(0, 512), (0, 512), (0, 512), (0, 512)],
    "kmalloc-16":   [(0, 256), (0, 256), (0, 256), (0, 256)],
    "kmalloc-32":   [(0, 128), (0, 128), (0, 128), (0, 128)],
    "kmalloc-64":   [(0, 64), (0, 64), (0, 64), (0, 64)],
    "kmalloc-96":   [(0, 42), (0, 42), (0, 42), (0, 42)],
    "kmalloc-128":  [(0, 32), (0, 32), (0, 32), (0, 32)],
    "kmalloc-192":  [(0, 21), (0, 21), (0, 21), (1, 42)],
    "kmalloc-256":  [(0, 16), (0, 16), (1, 32), (1, 32)],
    "kmalloc-512":  [(0, 8), (1, 16), (2, 32), (2, 32)],
    "kmalloc-1024": [(1, 8), (2, 16), (3, 32), (3, 32)],
    "kmalloc-2048": [(2, 8), (3, 16), (3, 16), (3, 16)],
    "kmalloc-4096": [(3, 8), (3, 8), (3, 8), (3, 8)],
    "kmalloc-8192": [(3, 4), (3, 4), (3, 4), (3, 4)],
}
CPUS = [1, 2, 8, 64]

# the model's kernel-object caches, 2 and 8 CPUs: (objsize, order, objects)
KERNEL_TABLE = {
    "vm_area_struct":  [(200, 0, 20), (200, 0, 20)],
    "mm_struct":       [(960, 2, 17), (960, 3, 34)],
    "task_struct":     [(3392, 3, 9), (3392, 3, 9)],
    "anon_vma":        [(80, 0, 51), (80, 0, 51)],
    "anon_vma_chain":  [(64, 0, 64), (64, 0, 64)],
    "files_cache":     [(704, 2, 23), (704, 2, 23)],
    "signal_cache":    [(1088, 2, 15), (1088, 3, 30)],
    "sighand_cache":   [(2112, 3, 15), (2112, 3, 15)],
    "cred_jar":        [(192, 0, 21), (192, 0, 21)],
    "pid":             [(128, 0, 32), (128, 0, 32)],
    "radix_tree_node": [(584, 1, 14), (584, 2, 28)],
    "kmem_cache":      [(256, 0, 16), (256, 1, 32)],
    "kmem_cache_node": [(64, 0, 64), (64, 0, 64)],
}

ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+) : tunables\s+0\s+0\s+0 : "
                 r"slabdata\s+(\d+)\s+(\d+)\s+0$")


def slabinfo_rows(m):
    rows = {}
    for line in m.proc.read("/proc/slabinfo").splitlines()[2:]:
        g = ROW.match(line)
        assert g, line
        rows[g.group(1)] = [int(x) for x in g.groups()[1:]]
    return rows


@pytest.mark.parametrize("ci,cpus", list(enumerate(CPUS)))
def test_kmalloc_order_table(ci, cpus):
    m = lv.Machine(ram="256M", cpus=cpus)
    rows = slabinfo_rows(m)
    for name, per_cpu in KMALLOC_TABLE.items():
        order, objects = per_cpu[ci]
        size = int(name.split("-")[1])
        assert rows[name][2:5] == [size, objects, 1 << order], name
        assert m.proc.read(f"/sys/kernel/slab/{name}/order") == f"{order}\n"
        assert m.proc.read(f"/sys/kernel/slab/{name}/objs_per_slab") == f"{objects}\n"
        # the dma twins have the same geometry
        assert rows["dma-" + name][2:5] == [size, objects, 1 << order]
    m.check()


@pytest.mark.parametrize("ci,cpus", [(0, 2), (1, 8)])
def test_kernel_object_cache_table(ci, cpus):
    m = lv.Machine(ram="256M", cpus=cpus)
    rows = slabinfo_rows(m)
    for name, per_cpu in KERNEL_TABLE.items():
        objsize, order, objects = per_cpu[ci]
        assert rows[name][2:5] == [objsize, objects, 1 << order], name


def test_boot_line_and_cmdline_options():
    m = lv.Machine(ram="256M", cpus=8)
    assert any(l.endswith("SLUB: HWalign=64, Order=0-3, MinObjects=0, CPUs=8, Nodes=1")
               for l in m.dmesg())
    # slub_min_objects=4: kmalloc-1024 needs 4096 bytes -> order 0 (4 objects)
    # slub_max_order=1 caps kmalloc-2048 at order 1 (4 objects)
    m = lv.Machine(ram="256M", cpus=8, cmdline="slub_min_objects=4 slub_max_order=1")
    rows = slabinfo_rows(m)
    assert rows["kmalloc-1024"][3:5] == [4, 1]
    assert rows["kmalloc-2048"][3:5] == [4, 2]
    assert rows["kmalloc-8192"][3:5] == [1, 2]     # a single object: get_order(8192) = 1
    assert any("Order=0-1, MinObjects=4" in l for l in m.dmesg())
    # slub_min_order=2 raises every small cache to order 2
    m = lv.Machine(ram="256M", cpus=1, cmdline="slub_min_order=2")
    assert slabinfo_rows(m)["kmalloc-64"][3:5] == [256, 4]
