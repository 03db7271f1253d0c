"""Documentation examples run."""

import runpy
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "docs" / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path):
    runpy.run_path(str(path), run_name="__main__")


def test_ferritin_example_rises_with_crs():
    ns = runpy.run_path(str(EXAMPLES[0]))
    ferritin = ns["main"]()
    assert ferritin.max() > 2 * ferritin[0]
