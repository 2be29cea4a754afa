"""Where the live 6.x kernel's slab files differ from 4.6 (docs/deviations.md, "SLUB")."""

import os
import re

import pytest

import linuxvm as lv

LIVE = "/sys/kernel/slab"
pytestmark = pytest.mark.skipif(not os.path.isdir(LIVE) or not os.access("/proc/slabinfo",
                                                                          os.R_OK),
                                reason="no readable /sys/kernel/slab and /proc/slabinfo here")


@pytest.fixture(scope="module")
def m():
    return lv.Machine(ram="256M", cpus=2)


def test_slabinfo_header_is_the_same(m):
    with open("/proc/slabinfo") as f:
        live = f.read().splitlines()[:2]
    assert live == m.proc.read("/proc/slabinfo").splitlines()[:2]


def test_kmalloc_names_differ_above_512(m):
    live = set(os.listdir(LIVE))
    model = set(m.proc.listdir(LIVE))
    # 4.20 renamed kmalloc-1024 … kmalloc-8192 to kmalloc-1k … kmalloc-8k
    assert {"kmalloc-1k", "kmalloc-8k"} <= live and "kmalloc-8192" not in live
    assert {"kmalloc-1024", "kmalloc-8192"} <= model and "kmalloc-8k" not in model
    # both have kmalloc-96 and kmalloc-192; 6.x adds the memcg/reclaimable twins
    assert {"kmalloc-96", "kmalloc-192"} <= live & model
    assert not any(n.startswith(("kmalloc-cg-", "kmalloc-rcl-")) for n in model)


def test_unique_ids_lost_the_t(m):
    live_ids = [n for n in os.listdir(LIVE) if n.startswith(":")]
    model_ids = [n for n in m.proc.listdir(LIVE) if n.startswith(":")]
    # kmemcheck (and with it the 't' for "not SLAB_NOTRACK") went away in 4.15
    assert live_ids and not any("t" in n for n in live_ids)
    assert model_ids and all(re.fullmatch(r":d?a?F?tA?-\d{7}", n) for n in model_ids)
