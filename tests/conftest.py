import pytest

import linuxvm as lv


@pytest.fixture
def m():
    """A small machine: 512 MiB, 2 CPUs, seed 0."""
    return lv.Machine(ram="512M", cpus=2, seed=0)
