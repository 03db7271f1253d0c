"""The observation table: every bad cell is named by row and column; --skip-bad keeps the rest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartwin.clinic.grading import COLUMNS, grade_frame, read_observations, validate_observations
from cartwin.foundation.errors import DataError

GOOD = {"patient_id": 1, "time_day": 1.0}

BAD_VALUES = {
    "number": "abc",
    "integer": 2.5,
    "bool": "maybe",
    "category": "sideways",
    "datetime": "not a date",
}


@pytest.mark.parametrize("name", [n for n, c in COLUMNS.items() if c.kind != "id"])
def test_every_column_rejects_a_bad_value_naming_row_and_column(name):
    col = COLUMNS[name]
    rows = pd.DataFrame([dict(GOOD), dict(GOOD), dict(GOOD)])
    rows[name] = pd.Series([None, BAD_VALUES[col.kind], None], dtype=object)
    if name == "time_day":
        rows[name] = [1.0, "abc", 2.0]
    with pytest.raises(DataError) as info:
        validate_observations(rows, "obs.csv", first_row=2)
    assert info.value.row == 3 and info.value.column == name
    assert "row 3" in str(info.value) and name in str(info.value)


@pytest.mark.parametrize(
    "name, value",
    [("temperature_c", 50.0), ("temperature_c", float("inf")), ("ice_score", 11), ("ice_score", -1),
     ("vasopressors", -1), ("spo2_pct", 101), ("capd_score", 33), ("age_years", -2)],
)
def test_out_of_range_values_are_bad(name, value):
    with pytest.raises(DataError, match=name):
        validate_observations(pd.DataFrame([{**GOOD, name: value}]))


def test_missing_required_columns():
    with pytest.raises(DataError, match="patient_id"):
        validate_observations(pd.DataFrame({"time_day": [0.0]}))
    with pytest.raises(DataError, match="time_day"):
        validate_observations(pd.DataFrame({"patient_id": [1]}))
    with pytest.raises(DataError) as info:
        validate_observations(pd.DataFrame({"patient_id": [1, None], "time_day": [0.0, 1.0]}))
    assert info.value.column == "patient_id" and info.value.row == 1


def test_oxygen_flow_without_device_is_a_contradiction():
    with pytest.raises(DataError, match="o2_flow_l_per_min"):
        validate_observations(pd.DataFrame([{**GOOD, "o2_support": "none", "o2_flow_l_per_min": 4}]))


def test_skip_bad_drops_only_bad_rows_and_reports_them():
    obs = pd.DataFrame(
        {
            "patient_id": [1, 1, 2, 2],
            "time_day": [0, 1, 0, 1],
            "temperature_c": ["37", "hot", "39", "38.2"],
            "o2_support": ["none", "none", "face mask", "tent"],
            "note": ["a", "b", "c", "d"],
        }
    )
    clean, bad = validate_observations(obs, skip_bad=True, first_row=2)
    assert bad[["row", "column"]].values.tolist() == [[3, "temperature_c"], [5, "o2_support"]]
    assert clean["note"].tolist() == ["a", "c"]  # unknown columns kept
    assert clean["o2_support"].tolist() == ["none", "face_mask"]  # spelling normalised
    assert grade_frame(clean, assume_normal=True)["crs_grade"].tolist() == [0, 3]


def test_parsing_of_flags_and_empty_cells():
    obs = pd.DataFrame({"patient_id": [1, 1, 1], "time_day": [0, 1, 2], "tocilizumab_given": ["yes", "0", None],
                        "consciousness": [None, "Voice", ""], "ice_score": ["", "7", None]})
    clean, _ = validate_observations(obs)
    assert clean["tocilizumab_given"].tolist() == [True, False, False]
    # consciousness is measured: an empty cell stays missing (not observed), never "alert"
    assert clean["consciousness"].isna().tolist() == [True, False, True] and clean["consciousness"][1] == "voice"
    assert np.isnan(clean["ice_score"][0]) and clean["ice_score"][1] == 7


def test_datetime_stands_in_for_time_day():
    obs = pd.DataFrame({"patient_id": [1, 1], "datetime": ["2024-03-01T08:00", "2024-03-02T20:00"],
                        "infusion_datetime": ["2024-03-01T08:00"] * 2})
    clean, _ = validate_observations(obs)
    np.testing.assert_allclose(clean["time_day"], [0.0, 1.5])


def test_read_observations_numbers_rows_like_a_spreadsheet(tmp_path):
    path = tmp_path / "obs.csv"
    path.write_text("patient_id,time_day,ice_score\n7,0,10\n7,1,eleven\n")
    with pytest.raises(DataError) as info:
        read_observations(path)
    assert info.value.row == 3 and info.value.column == "ice_score"
    clean, bad = read_observations(path, skip_bad=True)
    assert len(clean) == 1 and clean["patient_id"].tolist() == ["7"] and bad["row"].tolist() == [3]
    with pytest.raises(DataError, match="not found"):
        read_observations(tmp_path / "missing.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        read_observations(tmp_path / "empty.csv")


def test_example_file_is_valid_and_documented():
    from importlib.resources import files

    path = files("cartwin.clinic") / "data" / "example_observations.csv"
    clean, bad = read_observations(path)
    assert len(bad) == 0 and clean["patient_id"].nunique() == 3
    assert set(clean.columns) <= set(COLUMNS)


def test_docs_list_every_column_and_scale():
    from pathlib import Path

    from cartwin.clinic.grading import SCALES

    doc = (Path(__file__).parents[3] / "docs" / "grading.md").read_text()
    for name in COLUMNS:
        assert f"`{name}`" in doc, name
    for scale in SCALES:
        assert f"`{scale}`" in doc, scale


@pytest.mark.parametrize("n", [1, 7, 5000])
def test_choose_is_the_first_true_condition_as_np_select(n):
    from cartwin.clinic.grading.schema import choose

    rng = np.random.default_rng(n)
    conditions = [rng.random(n) < share for share in (0.1, 0.3, 0.3, 0.6)]
    grade, code, texts = choose(conditions, [4, 3, 2, 1], ["a", "b", "c", "d"])
    np.testing.assert_array_equal(grade, np.select(conditions, [4, 3, 2, 1], 0))
    np.testing.assert_array_equal(code, np.select(conditions, [1, 2, 3, 4], 0))
    assert texts == ("", "a", "b", "c", "d")
    with pytest.raises(TypeError, match="boolean"):
        choose([np.ones(n)], [1], ["a"])
