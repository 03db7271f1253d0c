import json

import pandas as pd
from typer.testing import CliRunner

from cartwin.cli.main import app

runner = CliRunner()


def test_trial_writes_patients_endpoints_and_report(tmp_path):
    out = tmp_path / "t"
    result = runner.invoke(app, ["trial", "zuma-1", "--n", "24", "--seed", "2", "--out", str(out),
                                 "--follow-up-days", "90"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    patients = pd.read_parquet(out / "patients.parquet")
    assert len(patients) == 24
    endpoints = json.loads((out / "endpoints.json").read_text())
    assert {"itt", "infused"} <= set(endpoints)
    for name in ("orr", "cr_rate", "crs_any", "crs_grade3plus", "icans_any", "pfs_12m", "os_12m", "cmax_median"):
        assert {"estimate", "ci_low", "ci_high"} <= set(endpoints["infused"][name])
    assert "<html" in (out / "report.html").read_text().lower()
    assert "orr" in result.output
    provenance = endpoints["provenance"]
    assert provenance["rtol"] == 1e-3 and provenance["engine"] in ("rodas5p-numba-generated", "rosenbrock4-numpy")  # auto


def test_trial_bad_input_exit_2(tmp_path):
    for args, name in ((["trial", "nope"], "nope"), (["trial", "zuma-1", "--n", "0"], "n"),
                       (["trial", "zuma-1", "--engine", "gpu9"], "--engine"),
                       (["trial", "zuma-1", "--n", "4", "--rtol", "0.5"], "rtol"),
                       (["trial", "zuma-1", "--replicates", "2", "--workers", "2"], "--replicates")):
        result = runner.invoke(app, args + ["--out", str(tmp_path / "x")])
        assert result.exit_code == 2, (args, result.output)
        assert name in result.output and "Traceback" not in result.output


def test_sensitivity_cli_small(tmp_path):
    result = runner.invoke(app, ["sensitivity", "zuma-1", "--endpoint", "crs_any", "--base-samples", "2", "--n", "8",
                                 "--out", str(tmp_path / "s.csv")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "s.csv")
    assert list(table["parameter"]) == ["k_prolif_per_day", "gamma_kill_per_day", "p_il6_myeloid_pg_per_ml_day",
                                        "k_neurovascular_on_per_day"]
    assert {"S1", "S1_low", "S1_high", "ST", "ST_low", "ST_high", "in_unit_interval"} <= set(table.columns)


def test_sensitivity_cli_defaults_are_the_functions():
    import inspect

    from cartwin.cli.trial import sensitivity
    from cartwin.trial.sensitivity import DEFAULT_BASE_SAMPLES, DEFAULT_PATIENTS

    params = inspect.signature(sensitivity).parameters
    assert params["base_samples"].default.default == DEFAULT_BASE_SAMPLES
    assert params["n"].default.default == DEFAULT_PATIENTS


def test_sensitivity_unknown_endpoint_is_named(tmp_path):
    result = runner.invoke(app, ["sensitivity", "zuma-1", "--endpoint", "happiness"])
    assert result.exit_code == 2 and "endpoint" in result.output


def test_demo_writes_the_trial_and_its_report(tmp_path):
    # The README's first command (make demo) runs this.
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(tmp_path / "demo" / "patients.parquet")) == 200
    assert json.loads((tmp_path / "demo" / "endpoints.json").read_text())["provenance"]["rtol"] == 1e-3  # the trials' default (DEFAULT_RTOL)
    assert (tmp_path / "demo" / "report.html").exists()


def _tsv_table(output: str, title: str) -> list[list[str]]:
    """Rows (header first) of the TSV table whose ``#`` title line contains ``title``."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#") and title in line) + 1
    rows = []
    for line in lines[start:]:
        if line.startswith("#") or "\t" not in line:
            break
        rows.append(line.split("\t"))
    return rows


def test_randomised_trial_prints_toxicity_by_arm_as_the_report_names_it(tmp_path):
    """`cartwin trial transform`: a row per endpoint of endpoints.json's arms.<arm>.toxicity.events
    (the report's "Toxicity by arm" rows), a column per arm, "not modelled" where an arm lacks one."""
    from cartwin.trial.comparative_report import format_rate

    out = tmp_path / "tr"
    result = runner.invoke(app, ["trial", "transform", "--n", "40", "--seed", "1", "--out", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    arms = json.loads((out / "endpoints.json").read_text())["arms"]
    rows = _tsv_table(result.output, "toxicity by arm")
    assert rows[0] == ["endpoint", "liso-cel", "standard-of-care"]
    body = {r[0]: r[1:] for r in rows[1:]}
    report = (out / "report.html").read_text()
    assert all(f"<td><code>{name}</code></td>" in report for name in body)  # the report's row names
    every = {k for a in arms.values() for k in a["toxicity"]["events"]}
    assert set(body) == every and len(rows) - 1 == len(every)
    for col, arm in enumerate(("liso-cel", "standard-of-care")):
        events = arms[arm]["toxicity"]["events"]
        for name, cells in body.items():
            assert cells[col] == (format_rate(events[name]) if name in events else "not modelled"), (arm, name)
    assert body["crs_any_infused"][1] == "not modelled" and body["infection_grade3plus"][0] == "not modelled"
    assert body["death_without_progression"][0].endswith(f"/{arms['liso-cel']['n']})")  # a share of the arm (ITT)
    assert "CAR-T arm's parameters: calibration: calibrated; factors: " in " ".join(result.output.split())
