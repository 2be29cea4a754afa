"""The kmem events: the page allocator and the slab allocator (include/trace/events/kmem.h).

Fields are TP_STRUCT__entry's; a page is passed as its frame number (-1 for NULL). The
slab events' ``call_site`` is the name of the calling model function: the model has no
kernel text addresses for _RET_IP_, so it prints what `trace-cmd report` would resolve
the address to (docs/tracing.md).
"""

from ....lib.tracepoint import TRACE_EVENT, pointer
from .mmflags import show_gfp_flags, pfn_to_page

pageblock_order = 9


def _kmem_alloc(call_site, ptr, bytes_req, bytes_alloc, gfp_flags):
    return (f"call_site={call_site} ptr={pointer(ptr)} bytes_req={bytes_req} "
            f"bytes_alloc={bytes_alloc} gfp_flags={show_gfp_flags(gfp_flags)}")


def _kmem_free(call_site, ptr):
    return f"call_site={call_site} ptr={pointer(ptr)}"


kmalloc = TRACE_EVENT("kmem", "kmalloc",
                      "call_site ptr bytes_req bytes_alloc gfp_flags", _kmem_alloc)
kmem_cache_alloc = TRACE_EVENT("kmem", "kmem_cache_alloc",
                               "call_site ptr bytes_req bytes_alloc gfp_flags", _kmem_alloc)
kfree = TRACE_EVENT("kmem", "kfree", "call_site ptr", _kmem_free)
kmem_cache_free = TRACE_EVENT("kmem", "kmem_cache_free", "call_site ptr", _kmem_free)

mm_page_free = TRACE_EVENT(
    "kmem", "mm_page_free", "pfn order",
    lambda pfn, order: f"page={pfn_to_page(pfn)} pfn={pfn} order={order}")

mm_page_free_batched = TRACE_EVENT(
    "kmem", "mm_page_free_batched", "pfn cold",
    lambda pfn, cold: f"page={pfn_to_page(pfn)} pfn={pfn} order=0 cold={int(cold)}")


def _page_or_null(pfn):
    return (pfn_to_page(pfn), pfn) if pfn != -1 else (pointer(0), 0)


def _mm_page_alloc(pfn, order, gfp_flags, migratetype):
    page, pfn = _page_or_null(pfn)
    return (f"page={page} pfn={pfn} order={order} migratetype={migratetype} "
            f"gfp_flags={show_gfp_flags(gfp_flags)}")


mm_page_alloc = TRACE_EVENT("kmem", "mm_page_alloc", "pfn order gfp_flags migratetype",
                            _mm_page_alloc)


def _mm_page(pfn, order, migratetype):
    page, pfn_shown = _page_or_null(pfn)
    return (f"page={page} pfn={pfn_shown} order={order} migratetype={migratetype} "
            f"percpu_refill={int(order == 0)}")


mm_page_alloc_zone_locked = TRACE_EVENT("kmem", "mm_page_alloc_zone_locked",
                                        "pfn order migratetype", _mm_page)

mm_page_pcpu_drain = TRACE_EVENT(
    "kmem", "mm_page_pcpu_drain", "pfn order migratetype",
    lambda pfn, order, mt: f"page={pfn_to_page(pfn)} pfn={pfn} order={order} migratetype={mt}")


def _extfrag(pfn, alloc_order, fallback_order, alloc_migratetype, fallback_migratetype,
             change_ownership):
    return (f"page={pfn_to_page(pfn)} pfn={pfn} alloc_order={alloc_order} "
            f"fallback_order={fallback_order} pageblock_order={pageblock_order} "
            f"alloc_migratetype={alloc_migratetype} "
            f"fallback_migratetype={fallback_migratetype} "
            f"fragmenting={int(fallback_order < pageblock_order)} "
            f"change_ownership={int(change_ownership)}")


mm_page_alloc_extfrag = TRACE_EVENT(
    "kmem", "mm_page_alloc_extfrag",
    "pfn alloc_order fallback_order alloc_migratetype fallback_migratetype change_ownership",
    _extfrag)
