"""Every row of the bad-input table (tests/bad_inputs.py) gets the outcome the table and
docs/bad-inputs.md document, and m.check() passes after it."""

import pathlib

import pytest

import linuxvm as lv

from bad_inputs import OTHER, ROWS, matches, render, run

DOC = pathlib.Path(__file__).parent.parent / "docs" / "bad-inputs.md"

# rows another part of issue 11 fixes on its own branch, failing on this one until merged
FAILING_HERE = set()


def _param(row):
    marks = [pytest.mark.xfail(strict=True, reason=OTHER)] if row.id in FAILING_HERE else []
    return pytest.param(row, id=row.id, marks=marks)


@pytest.mark.parametrize("row", [_param(r) for r in ROWS])
def test_row(row):
    m, value, exc = run(row)
    assert matches(row, value, exc) == ""
    if row.corrupts:
        with pytest.raises(lv.KernelBug):
            m.check()
    else:
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
