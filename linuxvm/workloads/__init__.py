"""Front-ends that run programs on the model: the notes' experiments (``multi_page_alloc``,
``simple_alloc``, ``crazy_alloc``, ``autopsy``: generators of ``Step``; ``run_example``
prints a whole run), the glibc malloc model they use, the hacks repository's page-table
dumper (``pagetables_usr``: the tool's text for a pid), and the demo."""

from .experiments import (EXAMPLES, Step, autopsy, crazy_alloc, multi_page_alloc,
                          run_example, simple_alloc, start_process)
from .malloc import GLIBC_2_23, GLIBC_2_36, GlibcConfig, MallocState
from ..tools.pagetables_usr import pagetables_usr

__all__ = ["EXAMPLES", "Step", "autopsy", "crazy_alloc", "multi_page_alloc", "run_example",
           "simple_alloc", "start_process", "GLIBC_2_23", "GLIBC_2_36", "GlibcConfig",
           "MallocState", "pagetables_usr"]
