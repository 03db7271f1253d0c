"""`cartwin calibrate`, `cartwin validate` and `cartwin trial --parameter-uncertainty` from the command line."""

import json

import pandas as pd
from typer.testing import CliRunner

from cartwin.cli.main import app

runner = CliRunner()


def test_calibrate_then_validate_a_small_fit(tmp_path):
    out = tmp_path / "fit"
    result = runner.invoke(app, ["calibrate", "--presets", "liu2020-car-nk", "--n", "30", "--design-points", "10",
                                 "--refine-rounds", "0", "--bootstrap", "2", "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "calibrated_parameters.json").read_text())
    assert set(record["products"]) == {"car-nk-cd19"} and set(record["indications"]) == {"lbcl"}
    assert len(record["draws"]) == 2 and record["design_points"] == 10
    assert len(pd.read_csv(out / "calibration_design.csv")) == 10
    table = tmp_path / "v.csv"
    result = runner.invoke(app, ["validate", "--record", str(out / "calibrated_parameters.json"), "--n", "30",
                                 "--seed", "7", "--no-left-out", "--workers", "1", "--out", str(table)])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(table)
    assert set(rows.endpoint) == {"orr", "cr_rate", "crs_any", "icans_any"}
    assert rows.fresh_seed.notna().all() and rows.left_out.isna().all()
    assert "inside the published 95% CI" in result.output


def test_validate_refuses_the_fit_seed_and_a_missing_record(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"settings": {"seed": 1}}))
    (tmp_path / "calibration_design.csv").write_text("preset\n")
    result = runner.invoke(app, ["validate", "--record", str(tmp_path / "r.json"), "--seed", "1"])
    assert result.exit_code != 0 and "--seed" in result.output
    result = runner.invoke(app, ["validate", "--record", str(tmp_path / "none.json")])
    assert result.exit_code != 0 and "--record" in result.output


def test_calibrate_names_a_bad_option(tmp_path):
    result = runner.invoke(app, ["calibrate", "--design-points", "3", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "--design-points" in result.output


def test_trial_with_parameter_uncertainty_writes_wider_intervals(tmp_path):
    out = tmp_path / "t"
    result = runner.invoke(app, ["trial", "juliet", "--n", "40", "--follow-up-days", "60", "--parameter-uncertainty", "3",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "parameter_uncertainty.csv")
    assert {"orr", "crs_any"} <= set(table.endpoint)
    assert ((table.total_ci_low <= table.estimate) & (table.estimate <= table.total_ci_high)).all()
    assert (table.parameter_sd > 0).any()  # the draws are different parameter sets
    assert (table.draws == 3).all()
