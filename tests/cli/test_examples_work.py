"""Documented commands work and say what happened: calibrate exits non-zero when it did not
converge, bench shows progress, writes its JSON as it goes, prints its install hint intact and
never reports patients for an engine that did not run."""

import json

import pytest
from typer.testing import CliRunner

from cartwin.cli.main import app

runner = CliRunner()


def _record(optimizer: str, inside: bool) -> dict:
    return {"preset": "karmma", "evaluations": 40, "objective": 12.5, "multipliers": {"k_prolif_per_day": 1.0},
            "optimizer": f"scipy Nelder-Mead (log multipliers), start committed, {optimizer}",
            "targets": {"orr": {"published": 0.73, "ci_low": 0.65, "ci_high": 0.8, "simulated": 0.5, "within_ci": inside}},
            "all_within_ci": inside}


@pytest.mark.parametrize(("optimizer", "inside", "code"), [("converged=False", False, 1), ("converged=True", True, 0),
                                                             ("stopped: every target inside its 95% CI", True, 0)])
def test_calibrate_exit_code_says_whether_it_converged(tmp_path, monkeypatch, optimizer, inside, code):
    import cartwin.trial.calibration as calibration

    monkeypatch.setattr(calibration, "calibrate", lambda *a, **k: _record(optimizer, inside))
    result = runner.invoke(app, ["calibrate", "karmma", "--out", str(tmp_path / "c.json")])
    assert result.exit_code == code, result.output
    if code:
        assert "did not converge in 40 evaluations" in result.output and "1 of 1 targets outside" in result.output
    assert (tmp_path / "c.json").exists()


def test_bench_progress_json_and_a_skipped_engine(tmp_path, monkeypatch):
    pytest.importorskip("numba")
    import cartwin.engine.bench as bench

    monkeypatch.setattr(bench, "roadrunner_installed", lambda: False)
    written = []
    real = bench.run_benchmark

    def spy(*args, on_row=None, **kw):
        def record(rows):
            written.append(len(rows))
            on_row(rows)
        return real(*args, on_row=record, **kw)

    monkeypatch.setattr(bench, "run_benchmark", spy)
    out = tmp_path / "bench.json"
    result = runner.invoke(app, ["bench", "--n-slow", "2", "--n-fast", "4", "--n-check", "1", "--threads", "1",
                                 "--engines", "numpy,roadrunner", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert written == [1, 2]  # the JSON was rewritten after each engine
    rows = json.loads(out.read_text())["rows"]
    assert [r["engine"] for r in rows] == ["numpy", "roadrunner"] and rows[1]["patients"] == 0
    assert 'pip install "cartwin[bench]"' in result.output  # not eaten as Rich markup
    assert "roadrunner: libroadrunner is not installed, skipped" in result.output
    assert "roadrunner: 1000 patients" not in result.output and "roadrunner: 4 patients" not in result.output
    assert "numpy: 4 patients in" in result.output  # progress with timing


def test_bench_defaults_are_sized_for_about_two_minutes():
    from cartwin.cli.bench import DEFAULT_ENGINES, DEFAULT_N_FAST, DEFAULT_N_SLOW

    assert DEFAULT_N_SLOW <= 20 and DEFAULT_N_FAST <= 2000
    assert "numba-baseline" not in DEFAULT_ENGINES  # the in-run baselines compile for minutes
