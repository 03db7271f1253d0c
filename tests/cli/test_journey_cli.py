import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from cartwin.cli.main import app

runner = CliRunner()


def test_journey_writes_outputs(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["journey", "--arrivals-per-week", "10", "--suites", "4", "--weeks", "12",
                                 "--seed", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    df = pd.read_parquet(out / "patients.parquet")
    for col in ["patient_id", "vein_to_vein_day", "infused", "not_infused_reason", "dose_cells",
                "cd8_fraction", "memory_fraction", "tumour_burden_factor_at_infusion"]:
        assert col in df.columns
    summary = json.loads((out / "summary.json").read_text())
    assert {"median", "q1", "q3"} <= set(summary["vein_to_vein_day"])
    assert set(summary["utilisation"]) == {"apheresis", "manufacturing", "qc", "beds"}
    assert "death" in summary["not_infused_by_reason"]
    assert summary["provenance"]["seed"] == 1 and summary["network"]["manufacturing_suites"] == 4
    assert (out / "journey.png").stat().st_size > 10_000
    assert "vein-to-vein" in result.output


def test_journey_config_file_and_product(tmp_path):
    cfg = tmp_path / "j.yaml"
    cfg.write_text("preset: eliana\nnetwork:\n  beds: 30\n")
    out = tmp_path / "run"
    result = runner.invoke(app, ["journey", "--config", str(cfg), "--product", "car-nk-cd19", "--weeks", "4",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["journey"]["product"] == "car-nk-cd19" and summary["network"]["beds"] == 30
    assert summary["vein_to_vein_day"]["n"] == 0 and summary["enrolment_to_infusion_day"]["n"] > 0


@pytest.mark.parametrize(
    "args, named",
    [
        (["--suites", "0"], "--suites"),
        (["--arrivals-per-week", "-1"], "--arrivals-per-week"),
        (["--weeks", "0"], "--weeks"),
        (["--seed", "-4"], "--seed"),
        (["--product", "nope"], "--product"),
        (["--preset", "kymriah-dlbcl"], "--preset"),  # not a preset (karmma is one since 2026-12-07)
    ],
)
def test_bad_options_exit_2_with_named_option(tmp_path, args, named):
    result = runner.invoke(app, ["journey", *args, "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert named in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "text, named",
    [
        ("bridging_probability: 1.5\n", "bridging_probability"),
        ("manufacturing: {median_day: -1}\n", "manufacturing.median_day"),
        ("network: {qc_slots: 0}\n", "qc_slots"),
        ("suites: 3\n", "suites"),
    ],
)
def test_bad_config_file_exit_2_naming_field(tmp_path, text, named):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    result = runner.invoke(app, ["journey", "--config", str(cfg), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2, result.output
    assert named in result.output and "Traceback" not in result.output


def test_missing_config_file_exit_2(tmp_path):
    result = runner.invoke(app, ["journey", "--config", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2
