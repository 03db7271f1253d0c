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

CSV = """patient_id,time_day,temperature_c,map_mmhg,vasopressors,o2_support,o2_flow_l_per_min,ice_score,ward,consciousness
1,0,37.0,80,0,none,0,10,A,alert
1,1.25,38.9,62,0,none,0,10,A,alert
1,1.75,39.2,70,1,low_flow,3,8,A,alert
1,3,37.1,75,0,none,0,10,A,alert
2,0,hot,80,0,none,0,10,B,alert
2,1,38.2,80,0,nasal,0,10,B,alert
2,2,38.4,80,0,none,0,6,B,alert
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
        assert list(daily.columns) == ["patient_id", "day", "crs_grade", "crs_grade_upper", "crs_status", "crs_unobserved", "crs_rule",
                                       "icans_grade", "icans_grade_upper", "icans_status", "icans_unobserved", "icans_rule",
                                       "n_observations", "scale"]
        # the example file records every measured input: each grade is exact
        assert (daily["crs_status"] == "observed").all()
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


# ==== strict reading (issue 24): one test per way `cartwin grade` was found silently wrong ====

HEADER = "patient_id,time_day,temperature_c,map_mmhg,vasopressors,o2_support,ice_score,consciousness"


def _write(tmp_path, text, name="obs.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _grade(*args):
    return runner.invoke(app, ["grade", *map(str, args)], env={"COLUMNS": "200"})


# -- Why 1: a misnamed vital is read as normal; NaN/NA/null temperatures count as afebrile -----
def test_misnamed_vital_stops_naming_the_column_it_needs(tmp_path):
    path = _write(tmp_path, "patient_id,time_day,temp,map_mmhg,vasopressors,o2_support,ice_score,consciousness\n"
                            "1,1,39.5,80,0,none,10,alert\n")
    out = tmp_path / "g.csv"
    result = _grade(path, "--out", out)
    assert result.exit_code == 2, result.output
    assert "temperature_c" in result.output and "'temp'" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_assume_normal_grades_an_absent_column_and_says_so_in_every_row(tmp_path):
    path = _write(tmp_path, "patient_id,time_day,temp,map_mmhg,vasopressors,o2_support,ice_score,consciousness\n"
                            "1,1,39.5,80,0,none,10,alert\n2,1,37.0,80,0,none,10,alert\n")
    rows = tmp_path / "rows.csv"
    result = _grade(path, "--assume-normal", "--per-observation", rows)
    assert result.exit_code == 0, result.output
    graded = pd.read_csv(rows, dtype=str, keep_default_na=False)
    assert (graded["crs_status"] == "assumed normal").all()
    assert graded["crs_unobserved"].str.contains("temperature_c").all()
    assert graded["assumptions"].str.contains("assume-normal").all()


@pytest.mark.parametrize("spelling", ["NaN", "NA", "null", "", "n/a", "-"])
def test_missing_value_spellings_are_not_assessable_not_grade_0(tmp_path, spelling):
    path = _write(tmp_path, f"{HEADER}\n1,1,{spelling},80,0,none,10,alert\n2,1,37.0,80,0,none,10,alert\n")
    out = tmp_path / "g.csv"
    result = _grade(path, "--out", out)
    assert result.exit_code == 0, result.output
    daily = pd.read_csv(out, dtype={"patient_id": str})
    p1, p2 = daily[daily.patient_id == "1"].iloc[0], daily[daily.patient_id == "2"].iloc[0]
    assert pd.isna(p1["crs_grade"]) and p1["crs_status"] == "not assessable"
    assert "temperature_c" in p1["crs_unobserved"]
    assert p2["crs_grade"] == 0 and p2["crs_status"] == "observed"


# -- Why 2: a trailing comma on every row shifts every column ---------------------------------
def test_trailing_comma_on_every_row_does_not_shift_columns(tmp_path):
    path = _write(tmp_path, f"{HEADER}\n1,1,39.5,80,0,none,10,alert,\n2,1,37.0,80,0,none,10,alert,\n")
    out = tmp_path / "g.csv"
    result = _grade(path, "--out", out)
    assert result.exit_code == 0, result.output
    daily = pd.read_csv(out, dtype={"patient_id": str})
    assert daily["patient_id"].tolist() == ["1", "2"] and daily["day"].tolist() == [1, 1]
    assert daily["crs_grade"].tolist() == [1, 0]


def test_a_row_with_more_values_than_the_header_is_refused(tmp_path):
    path = _write(tmp_path, f"{HEADER}\n1,1,39.5,80,0,none,10,alert,9\n")
    result = _grade(path)
    assert result.exit_code == 2 and "row 2" in result.output and "more values than the header" in result.output


# -- Why 3: ids coerced to numbers; a second column with the same name ignored -----------------
def test_patient_ids_are_kept_as_text_exactly_as_written(tmp_path):
    ids = ["007", "7", "1", "1.0", "1e20", "99999999999999999999"]
    body = "".join(f"{i},1,37.0,80,0,none,10,alert\n" for i in ids)
    out = tmp_path / "g.csv"
    result = _grade(_write(tmp_path, f"{HEADER}\n{body}"), "--out", out)
    assert result.exit_code == 0, result.output
    daily = pd.read_csv(out, dtype={"patient_id": str})
    assert sorted(daily["patient_id"]) == sorted(ids)


def test_duplicate_column_names_are_refused(tmp_path):
    path = _write(tmp_path, f"{HEADER},temperature_c\n1,1,37.0,80,0,none,10,alert,39.5\n")
    result = _grade(path)
    assert result.exit_code == 2 and "temperature_c" in result.output and "twice" in result.output


# -- Why 4: times from datetime skip the range check; time zones raise tracebacks --------------
DT_HEADER = "patient_id,datetime,infusion_datetime,temperature_c,map_mmhg,vasopressors,o2_support,ice_score,consciousness"


def test_datetime_derived_times_are_range_checked(tmp_path):
    path = _write(tmp_path, f"{DT_HEADER}\n1,2049-01-01T00:00,2025-01-01T00:00,37.0,80,0,none,10,alert\n")
    result = _grade(path)
    assert result.exit_code == 2, result.output
    assert "row 2" in result.output and "datetime" in result.output and "3650" in result.output


@pytest.mark.parametrize(
    "stamp, infusion",
    [("2025-01-02T08:00+02:00", "2025-01-01T00:00+00:00"),   # mixed offsets
     ("2025-01-02T06:00Z", "2025-01-01T00:00Z")],
)
def test_offsets_are_normalised_to_utc(tmp_path, stamp, infusion):
    path = _write(tmp_path, f"{DT_HEADER}\n1,{stamp},{infusion},37.0,80,0,none,10,alert\n"
                            f"1,2025-01-03T06:00+00:00,{infusion},37.0,80,0,none,10,alert\n")
    rows = tmp_path / "rows.csv"
    result = _grade(path, "--per-observation", rows)
    assert result.exit_code == 0, result.output
    assert pd.read_csv(rows)["time_day"].round(4).tolist() == [1.25, 2.25]


@pytest.mark.parametrize(
    "stamps",
    [("2025-01-02T06:00", "2025-01-03T06:00+01:00"),          # naive and aware in one column
     ("2025-01-02T06:00+01:00", "2025-01-03T06:00")],
)
def test_naive_and_aware_time_stamps_mixed_are_refused_by_name(tmp_path, stamps):
    a, b = stamps
    path = _write(tmp_path, f"{DT_HEADER}\n1,{a},2025-01-01T00:00,37.0,80,0,none,10,alert\n"
                            f"1,{b},2025-01-01T00:00,37.0,80,0,none,10,alert\n")
    result = _grade(path)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "offset" in result.output and "datetime" in result.output


# -- Why 5: half-written output; an empty result exits 0 ---------------------------------------
def test_output_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    path = _write(tmp_path, f"{HEADER}\n1,1,39.5,80,0,none,10,alert\n")
    out = tmp_path / "g.csv"
    out.write_text("previous complete file\n")
    real = pd.DataFrame.to_csv

    def disk_full(self, target, *args, **kwargs):
        with open(target, "w") as fh:
            fh.write("patient_id,day,crs_gr")  # cut mid-row
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full)
    result = _grade(path, "--out", out)
    monkeypatch.setattr(pd.DataFrame, "to_csv", real)
    assert result.exit_code == 2 and "No space left" in result.output
    assert out.read_text() == "previous complete file\n"
    assert [p.name for p in tmp_path.iterdir() if p.name not in ("obs.csv", "g.csv")] == []


def test_header_only_file_is_an_error(tmp_path):
    result = _grade(_write(tmp_path, f"{HEADER}\n"))
    assert result.exit_code == 2 and "no observation rows" in result.output


def test_skip_bad_dropping_every_row_is_an_error_unless_asked(tmp_path):
    path = _write(tmp_path, f"{HEADER}\n1,1,hot,80,0,none,10,alert\n")
    out = tmp_path / "g.csv"
    result = _grade(path, "--skip-bad", "--out", out)
    assert result.exit_code == 2 and "every row" in result.output and not out.exists()
    result = _grade(path, "--skip-bad", "--allow-empty", "--out", out)
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 0


# -- Why 6: trials report grade >= 3 cytopenias; cartwin graded only CRS and ICANS -------------
def test_labs_ctcae5_grades_cytopenias(tmp_path):
    path = _write(tmp_path, f"{HEADER},anc_per_ul,platelets_per_nl\n1,1,37.0,80,0,none,10,alert,450,19\n"
                            "1,2,37.0,80,0,none,10,alert,1200,60\n")
    labs = tmp_path / "labs.csv"
    result = _grade(path, "--labs", "ctcae5", "--labs-out", labs)
    assert result.exit_code == 0, result.output
    graded = pd.read_csv(labs)
    assert graded["neutrophil_count_decreased_grade"].tolist() == [4, 2]
    assert graded["platelet_count_decreased_grade"].tolist() == [4, 2]
