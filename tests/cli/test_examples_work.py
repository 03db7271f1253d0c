"""Documented commands work and say what happened: bench shows progress, writes its JSON as it goes, prints its install hint intact and
never reports patients for an engine that did not run."""

import json

import pytest
from typer.testing import CliRunner

from cartwin.cli.main import app

runner = CliRunner()


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
