import json

import pandas as pd
from typer.testing import CliRunner

from cartwin.cli.main import app

runner = CliRunner()


def test_simulate_writes_outputs(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["simulate", "--product", "axi-cel", "--indication", "lbcl", "--dose", "2e6/kg",
                                 "--days", "60", "--seed", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    tc = pd.read_parquet(out / "timecourse.parquet")
    for col in ["day", "car_t_per_ul", "transgene_copies_per_ug", "tumor_cells", "tumor_antigen_neg_cells",
                "b_cells_per_ul", "il6_pg_per_ml", "spd_cm2", "response", "temperature_c", "map_mmhg",
                "o2_support", "ice_score", "crs_grade_astct", "icans_grade_astct"]:
        assert col in tc.columns
    assert tc["day"].min() == 0 and tc["day"].max() == 60
    summary = json.loads((out / "summary.json").read_text())
    patient = summary["patients"][0]
    assert {"cmax_copies_per_ug", "tmax_day", "auc0_28_day_copies_per_ug", "best_response",
            "crs_max_grade_astct", "icans_max_grade_astct", "crs_onset_day", "tocilizumab_doses"} <= set(patient)
    # 6-hourly observations while in hospital.
    assert (tc["day"] == 0.25).any()
    assert summary["provenance"]["seed"] == 1
    assert (out / "patient.png").stat().st_size > 10_000
    assert "Cmax" in result.output


def test_presets_lists_products_and_parameters():
    result = runner.invoke(app, ["presets", "--parameters"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    assert "axi-cel" in result.output and "lbcl" in result.output and "k_prolif_per_day" in result.output


def test_bad_options_exit_2_with_named_option(tmp_path):
    cases = [
        (["simulate", "--dose", "lots"], "--dose"),
        (["simulate", "--product", "nope"], "--product"),
        (["simulate", "--days", "-3"], "--days"),
        (["simulate", "--weight-kg", "0"], "--weight-kg"),
        (["simulate", "--product", "ide-cel", "--indication", "lbcl"], "--indication"),
        (["simulate", "--antigen-negative-fraction", "2"], "--antigen-negative-fraction"),
        (["simulate", "--policy", "magic"], "--policy"),
        (["simulate", "--policy", "lee-2014"], "--age-years"),
        (["simulate", "--policy", "lee-2014", "--age-years", "-4"], "--age-years"),
    ]
    for args, name in cases:
        result = runner.invoke(app, args + ["--out", str(tmp_path / "x")])
        assert result.exit_code == 2, (args, result.output)
        assert name in result.output, (args, result.output)
        assert "Traceback" not in result.output
