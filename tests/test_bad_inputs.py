"""Every row of the bad-input table (tests/bad_inputs.py) gets the outcome the table and
docs/bad-inputs.md document, and m.check() passes after it."""

import pathlib

import pytest

from bad_inputs import OTHER, ROWS, matches, render, run

DOC = pathlib.Path(__file__).parent.parent / "docs" / "bad-inputs.md"

# rows another part of issue 11 fixes on its own branch, failing on this one until merged
FAILING_HERE = {
    'm.sysctl["vm.max_map_count"] = 2; p.mprotect(a + PG, PG, lv.PROT_READ)',
    "p.mlock(a + PG, PG); p.munlock(a + PG, PG); p.write(a, b'x')",
    'p.mlock2(a, 4 * PG, lv.MLOCK_ONFAULT); p.mlock(a, 4 * PG); c = p.fork(); c.mm.locked_vm, p.mm.locked_vm',
    'p.mlockall(lv.MCL_FUTURE); c = p.fork(); c.mmap(None, 4 * PG, RW, PA); c.mm.locked_vm',
    "p.madvise(a, 16 * PG, lv.MADV_MERGEABLE); b = p.mremap(a, 4 * PG, 4 * PG, lv.MREMAP_MAYMOVE | lv.MREMAP_FIXED, a + 64 * PG); 'mg' in vmflags(p, a + 4 * PG), 'mg' in vmflags(p, b)",
    'p.mlock(a, -1)',
    'p.munlock(a, -1)',
    'p.mlock2(a, -1, 0)',
    'p.msync(a, -1, lv.MS_SYNC)',
    'b = root.mmap(None, 4 * PG, RW, PA); root.mlock(b, 2**64 - PG)',
    'p.mlock(a, 16 * PG); p.munlock(a, 16 * PG); lru_pages(p, a, 16)',
    'm.proc.read("/proc/01/status")',
    'stat_state(p), status_state(p)',
    'K.free_pages(K.alloc_pages("GFP_KERNEL", 3), 1)',
    'K.free_pages(K.alloc_pages("GFP_KERNEL|__GFP_COMP", 2), 0)',
    "p.write(a, b'x'); K.free_pages(lv.helpers.vtop(p.mm, a).pfn, 0)",
    'o = K.kmalloc(64); K.free_pages((o - 0xffff880000000000) >> 12, 0)',
    'o = K.kmalloc(3 * PG); K.free_pages((o - 0xffff880000000000) >> 12, 0)',
    'o = K.kmalloc(64); K.kfree(o); K.krealloc(o, 100)',
    'K.__get_free_pages("GFP_KERNEL", 0) >= 0xffff880000000000',
    "o = K.kmalloc(64); K.kfree(o); K.write_kernel(o, b'\\xff' * 64); [K.kmalloc(64) for _ in range(200)][-1] > 0",
    'K.alloc_pages("GFP_KERNEL", 2**40)',
    'K.memset(K.kmalloc(64), 0, 2**40)',
    'm.proc.read_bytes(f"/proc/{p.pid}/pagemap")',
}


def _param(row):
    marks = [pytest.mark.xfail(strict=True, reason=OTHER)] if row.id in FAILING_HERE else []
    return pytest.param(row, id=row.id, marks=marks)


@pytest.mark.parametrize("row", [_param(r) for r in ROWS])
def test_row(row):
    m, value, exc = run(row)
    assert matches(row, value, exc) == ""
    m.check()


def test_row_ids_are_unique():
    ids = [r.id for r in ROWS]
    assert len(ids) == len(set(ids))


def test_failing_rows_belong_to_other_parts():
    assert all(r.owner == "other" for r in ROWS if r.id in FAILING_HERE)


def test_doc_is_rendered_from_the_rows():
    assert DOC.read_text() == render(), \
        "docs/bad-inputs.md is stale: python tests/bad_inputs.py > docs/bad-inputs.md"


def test_failing_rows_are_rows():
    assert FAILING_HERE <= {r.id for r in ROWS}
