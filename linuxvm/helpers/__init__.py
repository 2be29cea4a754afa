"""drgn-style helpers over a model Machine (DESIGN.md §2): one module per subsystem, kernel
names, each with a REPL example that tests/test_helpers_doctest.py runs."""
from .vtop import vtop  # noqa: F401
from .oom_explain import oom_explain  # noqa: F401
from .sched import for_each_task, find_task, task_state_to_char  # noqa: F401
from .mm import (Page, for_each_vma, find_vma, follow_page, follow_pfn,  # noqa: F401
                 follow_phys, page_to_pfn, pfn_to_page, virt_to_page, virt_to_pfn,
                 page_to_virt, page_to_phys, pfn_to_virt, decode_page_flags, dump_page,
                 TaskRss, task_rss, cmdline, environ)
from .page_alloc import (for_each_online_pgdat, for_each_zone,  # noqa: F401
                         for_each_free_area, for_each_pcp_page, FreeBlock, PcpPage)
from .slab import (for_each_slab_cache, find_slab_cache,  # noqa: F401
                   slab_cache_for_each_allocated_object, slab_object_info, SlabObjectInfo)
from .residency import (residency, page_types, format_residency,  # noqa: F401
                        ModelSource, proc_source)
from .live import LiveProcess, snapshot, spawn_from_snapshot  # noqa: F401
