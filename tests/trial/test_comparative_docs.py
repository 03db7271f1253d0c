"""docs/validation.md's randomised-predictions section is the committed predictions table
(scripts/predict_randomised.py writes both; before 2026-12-07 the section was copied by hand and
had fallen behind the CSV: KarMMa-3 OS HR 2.26 in the docs against 2.64 in the table)."""

import importlib.util
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]


def test_predictions_section_matches_the_committed_table():
    spec = importlib.util.spec_from_file_location("predict", ROOT / "scripts" / "predict_randomised.py")
    predict = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(predict)
    text = (ROOT / "docs" / "validation.md").read_text()
    table = pd.read_csv(ROOT / "docs" / "randomised_predictions.csv")
    assert predict.updated(text, table) == text, "run python scripts/predict_randomised.py --doc-only"
    # every randomised preset has its row in the section
    for preset in sorted(set(table["preset"])):
        assert f"| `{preset}` |" in predict.render(table)
