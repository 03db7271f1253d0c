import tomllib

import pandas as pd
import pytest
from typer.testing import CliRunner

from cartwin.cli.main import app

runner = CliRunner()


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "reg.duckdb"
    result = runner.invoke(app, ["registry", "import", "--examples", "--db", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_import_examples_then_search_writes_files(db, tmp_path):
    out_csv, out_pq = tmp_path / "m.csv", tmp_path / "m.parquet"
    result = runner.invoke(app, ["registry", "search", "--condition", "multiple myeloma", "--phase", "2",
                                 "--target", "BCMA", "--csv", str(out_csv), "--parquet", str(out_pq),
                                 "--db", str(db)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "NCT03361748" in result.output and "2 studies" in result.output
    assert sorted(pd.read_csv(out_csv)["nct_id"]) == ["NCT03361748", "NCT03548207"]
    assert len(pd.read_parquet(out_pq)) == 2


def test_stats_with_figure(db, tmp_path):
    fig = tmp_path / "landscape.png"
    result = runner.invoke(app, ["registry", "stats", "--figure", str(fig), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "by target" in result.output and "CD19" in result.output and fig.stat().st_size > 20_000


def test_to_protocol_and_show(db, tmp_path):
    out = tmp_path / "karmma.toml"
    result = runner.invoke(app, ["registry", "to-protocol", "NCT03361748", "--out", str(out), "--db", str(db)])
    assert result.exit_code == 0, result.output
    proto = tomllib.loads(out.read_text())
    assert proto["product"]["key"] == "ide-cel" and "registry.dose.value" in proto["assumed"]
    assert "assumed" in result.output
    shown = runner.invoke(app, ["registry", "show", "NCT02348216", "--db", str(db)])
    assert shown.exit_code == 0 and "ZUMA-1" in shown.output


def test_import_reports_bad_files_and_keeps_good(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.json").write_text("{oops")
    from cartwin.registry import fixtures_dir

    (tmp_path / "in" / "good.json").write_text((fixtures_dir() / "NCT02348216.json").read_text())
    result = runner.invoke(app, ["registry", "import", str(tmp_path / "in"), "--db", str(tmp_path / "r.duckdb")])
    assert result.exit_code == 1
    assert "bad.json" in result.output and "1 studies" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args, words", [
    (["search", "--status", "OPEN"], "status"),
    (["search", "--phase", "9"], "phase"),
    (["search", "--target", "CD999"], "target"),
    (["to-protocol", "NCT00000000"], "NCT00000000"),
    (["show", "NCT00000001"], "NCT00000001"),
])
def test_bad_input_exits_2_without_traceback(db, args, words):
    result = runner.invoke(app, ["registry", *args, "--db", str(db)])
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output


def test_search_without_database_says_to_import(tmp_path):
    result = runner.invoke(app, ["registry", "search", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2 and "registry import" in result.output


def test_sync_offline_fails_fast_and_clearly(tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    result = runner.invoke(app, ["registry", "sync", "--query", "CAR-T", "--since", "2024-01-01",
                                 "--db", str(tmp_path / "r.duckdb")])
    assert result.exit_code == 2
    assert "cannot reach clinicaltrials.gov" in result.output and "Traceback" not in result.output


def test_sync_bad_since_exits_2(tmp_path):
    result = runner.invoke(app, ["registry", "sync", "--since", "yesterday", "--db", str(tmp_path / "r.duckdb")])
    assert result.exit_code == 2 and "since" in result.output


def test_to_protocol_output_is_a_protocol_cartwin_trial_runs(db, tmp_path):
    out = tmp_path / "zuma1.toml"
    result = runner.invoke(app, ["registry", "to-protocol", "NCT02348216", "--out", str(out), "--db", str(db)])
    assert result.exit_code == 0, result.output
    trial = runner.invoke(app, ["trial", str(out), "--n", "5", "--seed", "2", "--follow-up-days", "60",
                                "--out", str(tmp_path / "run")])
    assert trial.exit_code == 0, trial.output
    assert len(pd.read_parquet(tmp_path / "run" / "patients.parquet")) == 5


def test_to_protocol_refuses_a_design_it_cannot_simulate(db, tmp_path):
    result = runner.invoke(app, ["registry", "to-protocol", "NCT03373097", "--out", str(tmp_path / "x.toml"), "--db", str(db)])
    assert result.exit_code == 2
    assert "registry.trial.indication: expected a disease with a simulator preset" in result.output
    assert not (tmp_path / "x.toml").exists()


def test_search_piped_never_splits_an_nct_id(db):
    result = runner.invoke(app, ["registry", "search", "--db", str(db)])
    assert result.exit_code == 0
    rows = [r.split("\t") for r in result.output.splitlines() if r.startswith("NCT") and not r.startswith("NCT ID")]
    assert len(rows) >= 10 and all(len(r[0]) == 11 and r[0][3:].isdigit() for r in rows)
    assert all(len(r) == len(rows[0]) for r in rows)


def test_search_wildcards_are_literal(db):
    every = runner.invoke(app, ["registry", "search", "--db", str(db)])
    percent = runner.invoke(app, ["registry", "search", "--condition", "%", "--db", str(db)])
    assert percent.exit_code == 0
    assert percent.output.count("\nNCT") < every.output.count("\nNCT")
