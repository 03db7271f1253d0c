"""``cartwin grade``: daily grades with the deciding rule; bad rows exit 2 naming row and
column (no traceback) or, with --skip-bad, are reported and skipped."""

from __future__ import annotations

from importlib.resources import files

import pandas as pd
import pytest
from typer.testing import CliRunner

from cartwin.cli.main import app

runner = CliRunner()
EXAMPLE = str(files("cartwin.clinic") / "data" / "example_observations.csv")

CSV = """patient_id,time_day,temperature_c,map_mmhg,vasopressors,o2_support,o2_flow_l_per_min,ice_score,ward
1,0,37.0,80,0,none,0,10,A
1,1.25,38.9,62,0,none,0,10,A
1,1.75,39.2,70,1,low_flow,3,8,A
1,3,37.1,75,0,none,0,10,A
2,0,hot,80,0,none,0,10,B
2,1,38.2,80,0,nasal,0,10,B
2,2,38.4,80,0,none,0,6,B
"""


@pytest.fixture
def obs_csv(tmp_path):
    path = tmp_path / "obs.csv"
    path.write_text(CSV)
    return path


def test_example_file_grades_on_every_scale(tmp_path):
    for scale in ("astct", "lee2014", "penn", "ctcae5"):
        out = tmp_path / f"{scale}.csv"
        result = runner.invoke(app, ["grade", EXAMPLE, "--scale", scale, "--out", str(out)], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        daily = pd.read_csv(out)
        assert list(daily.columns) == ["patient_id", "day", "crs_grade", "crs_rule", "icans_grade", "icans_rule", "n_observations", "scale"]
        assert daily["crs_grade"].between(0, 4).all() and daily["crs_rule"].notna().all()
        assert (daily["scale"] == scale).all()
        if scale == "astct":
            assert daily["icans_grade"].between(0, 4).all()
        else:
            assert daily["icans_grade"].isna().all()
        assert "max CRS" in result.output


def test_bad_value_exits_2_naming_row_and_column(obs_csv, tmp_path):
    out = tmp_path / "g.csv"
    result = runner.invoke(app, ["grade", str(obs_csv), "--out", str(out)])
    assert result.exit_code == 2
    assert "row 6" in result.output and "temperature_c" in result.output and "'hot'" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_skip_bad_reports_and_grades_the_rest(obs_csv, tmp_path):
    out = tmp_path / "g.csv"
    per_obs = tmp_path / "rows.csv"
    alerts = tmp_path / "alerts.csv"
    result = runner.invoke(app, ["grade", str(obs_csv), "--out", str(out), "--skip-bad", "--per-observation", str(per_obs),
                                 "--alerts", str(alerts)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "skipped 2 row(s)" in result.output and "o2_support" in result.output and "nasal" in result.output
    assert "ward" in result.output  # unknown column noted, and kept
    daily = pd.read_csv(out)
    p1 = daily[daily.patient_id == 1]
    assert p1["day"].tolist() == [0, 1, 3]
    assert p1["crs_grade"].tolist() == [0, 3, 0]
    assert p1["crs_rule"].iloc[1].startswith("hypotension requiring one vasopressor")
    assert p1["n_observations"].tolist() == [1, 2, 1]
    p2 = daily[daily.patient_id == 2]
    assert p2["day"].tolist() == [2] and p2["crs_grade"].tolist() == [1] and p2["icans_grade"].tolist() == [2]
    rows = pd.read_csv(per_obs)
    assert len(rows) == 5 and rows["ward"].tolist() == ["A", "A", "A", "A", "B"]
    assert set(pd.read_csv(alerts)["alert"]) == {"fever", "hypotension", "new_confusion", "hypoxia"}


def test_bad_scale_and_missing_file_exit_2(obs_csv, tmp_path):
    result = runner.invoke(app, ["grade", str(obs_csv), "--scale", "mskcc"])
    assert result.exit_code == 2 and "--scale" in result.output and "astct" in result.output
    result = runner.invoke(app, ["grade", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2 and "not found" in result.output


def test_missing_time_column_exits_2(tmp_path):
    path = tmp_path / "obs.csv"
    path.write_text("patient_id,temperature_c\n1,38.5\n")
    result = runner.invoke(app, ["grade", str(path)])
    assert result.exit_code == 2 and "time_day" in result.output


def test_error_line_is_not_wrapped_whatever_the_path_length(tmp_path):
    deep = tmp_path / ("a_rather_long_directory_name_" * 4)
    deep.mkdir()
    bad = deep / "obs.csv"
    bad.write_text("patient_id,time_day,temperature_c\n1,0.0,hot\n")
    result = runner.invoke(app, ["grade", str(bad), "--out", str(tmp_path / "g.csv")])
    assert result.exit_code == 2
    line = next(x for x in result.output.splitlines() if "error:" in x)
    assert "row" in line and "temperature_c" in line and "'hot'" in line
