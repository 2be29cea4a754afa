"""mm/memory.c: page tables built on demand and walked, the mmu_gather, freeing page
tables, zapping ranges, fork's copy_page_range, and page faults.

One module per section of memory.c; every name is importable from here
(``from linuxvm.mm.memory import handle_mm_fault``):

* ``rss``           the mm RSS counters (sync_mm_rss, get_mm_rss, ...)
* ``pgtable``       __pud_alloc/__pmd_alloc/__pte_alloc and wrappers, walks, follow_pte,
                    the none_or_clear_bad entry walk, vm_normal_page
* ``gather``        struct mmu_gather (tlb_gather_mmu ... tlb_finish_mmu)
* ``free_pgtables`` free_pgtables, free_pgd_range ... free_pte_range
* ``zap``           unmap_vmas, unmap_page_range, zap_*_range, zap_page_range
* ``copy``          copy_page_range, copy_pte_range, copy_one_pte
* ``fault``         handle_mm_fault, handle_pte_fault, do_anonymous_page, do_wp_page

change_protection lives in mm/mprotect.py and move_page_tables in mm/mremap.py, as in
4.6. The accelerators of these functions are in linuxvm/accel/memory.py.
"""

from .rss import (TASK_RSS_EVENTS_THRESH, inc_mm_counter_fast, dec_mm_counter_fast,
                  sync_mm_rss, check_sync_rss_stat, get_mm_counter, get_mm_rss,
                  update_hiwater_rss, mm_counter)
from .pgtable import (PMD_MASK, PUD_MASK, PGDIR_MASK, __pud_alloc, __pmd_alloc, __pte_alloc,
                      __pte_alloc_kernel, pud_alloc, pmd_alloc, pte_alloc, pte_alloc_map, walk,
                      pte_lookup, follow_pte, none_or_clear_bad_entries, none_or_clear_bad_loop,
                      is_zero_pfn, print_bad_pte, vm_normal_page)
from .gather import (MMU_GATHER_BUNDLE, MAX_GATHER_BATCH, MAX_GATHER_BATCH_COUNT, MmuGather,
                     tlb_gather_mmu, tlb_remove_tlb_entry, tlb_next_batch, __tlb_remove_page,
                     tlb_remove_page, tlb_flush, tlb_flush_mmu_tlbonly, tlb_flush_mmu_free,
                     tlb_flush_mmu, tlb_finish_mmu, pte_free_tlb, pmd_free_tlb, pud_free_tlb,
                     free_pages_and_swap_cache)
from .free_pgtables import (free_pte_range, free_pmd_range, free_pud_range, free_pgd_bounds,
                            free_pgd_range, free_pgtables, _unlink)
from .zap import (zap_present_pte, zap_swap_pte, zap_huge_pmd, zap_pte_range, zap_pmd_range,
                  zap_pud_range, unmap_page_range, unmap_single_vma, unmap_vmas, zap_page_range,
                  zap_page_range_single)
from .copy import is_cow_mapping, copy_one_pte, copy_pte_range, copy_page_range, add_mm_rss_vec
from .fault import (VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_MAJOR, VM_FAULT_WRITE,
                    VM_FAULT_HWPOISON, VM_FAULT_HWPOISON_LARGE, VM_FAULT_SIGSEGV,
                    VM_FAULT_NOPAGE, VM_FAULT_LOCKED, VM_FAULT_RETRY, VM_FAULT_FALLBACK,
                    VM_FAULT_ERROR, FAULT_FLAG_WRITE, FAULT_FLAG_MKWRITE,
                    FAULT_FLAG_ALLOW_RETRY, FAULT_FLAG_RETRY_NOWAIT, FAULT_FLAG_KILLABLE,
                    FAULT_FLAG_TRIED, FAULT_FLAG_USER, GFP_HIGHUSER_MOVABLE_ZERO,
                    next_content_tag, copy_user_highpage, maybe_mkwrite, ptep_set_access_flags,
                    ptep_clear_flush, alloc_page_vma, check_stack_guard_page, do_anonymous_page,
                    wp_page_reuse, wp_page_copy, reuse_swap_page, do_wp_page,
                    page_move_anon_rmap, handle_pte_fault, __handle_mm_fault,
                    transparent_hugepage_enabled, handle_mm_fault)
