"""One error style: every bad option is named as typed with its accepted range, the same range
wherever the option appears; --version, -h; tables as plain TSV/CSV/JSON when piped."""

import json
import re

import pytest
from typer.testing import CliRunner

from cartwin.cli._common import OPTION_RANGES
from cartwin.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize(("args", "option", "expected"), [
    (["trial", "zuma-1", "--n", "-5"], "--n", "an integer in [1, 1e+08]"),
    (["trial", "zuma-1", "--replicates", "0"], "--replicates", "an integer in [1, 1000]"),
    (["trial", "zuma-1", "--replicates", "-2"], "--replicates", "an integer in [1, 1000]"),
    (["trial", "zuma-1", "--rtol", "1"], "--rtol", "[1e-10, 0.01]"),
    (["simulate", "--rtol", "1"], "--rtol", "[1e-10, 0.01]"),
    (["simulate", "--weight-kg", "0"], "--weight-kg", "[2, 400]"),
    (["simulate", "--days", "0"], "--days", "[1, 3650]"),
    (["trial", "zuma-1", "--follow-up-days", "5"], "--follow-up-days", "[28, 3650]"),
    (["trial", "zuma-1", "--shard-size", "0", "--resume"], "--shard-size", "[1, 1e+07]"),
    (["calibrate", "--design-points", "3"], "--design-points", "[10, 10000]"),
    (["sensitivity", "zuma-1", "--base-samples", "0"], "--base-samples", "[1, 4096]"),
    (["--format", "xml", "presets"], "--format", "one of 'rich', 'tsv', 'csv', 'json'"),
])
def test_errors_name_the_option_as_typed_and_its_range(tmp_path, args, option, expected):
    result = runner.invoke(app, args + (["--out", str(tmp_path / "o")] if args[0] in ("trial", "simulate") else []))
    assert result.exit_code == 2, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith(f"error: {option}: expected "), line
    assert expected in line and "Traceback" not in result.output


def test_every_checked_option_exists_in_some_command():
    from typer.main import get_command

    names = set()

    def walk(cmd):
        for p in getattr(cmd, "params", []):
            names.update(p.opts)
        for sub in getattr(cmd, "commands", {}).values():
            walk(sub)

    walk(get_command(app))
    assert set(OPTION_RANGES) <= names, set(OPTION_RANGES) - names


def test_version_and_short_help():
    from cartwin import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"cartwin {__version__}"
    for args in (["-h"], ["trial", "-h"], ["registry", "-h"]):
        result = runner.invoke(app, args, env={"COLUMNS": "200"})
        assert result.exit_code == 0 and "Usage" in result.output, args


def test_trial_help_points_to_a_command_that_exists():
    result = runner.invoke(app, ["trial", "--help"], env={"COLUMNS": "200"})
    assert "--list" not in result.output and "cartwin presets" in result.output
    listed = runner.invoke(app, ["presets"])
    assert "zuma-1\tZUMA-1\taxi-cel\tlbcl\t111" in listed.output


def test_piped_tables_are_plain_tsv_and_never_cut():
    result = runner.invoke(app, ["presets"])  # CliRunner's stdout is not a terminal
    assert result.exit_code == 0
    assert "axicabtagene ciloleucel" in result.output.lower()  # was cut to "axicabtage…"
    assert "┃" not in result.output and "…" not in result.output
    rows = [r for r in result.output.splitlines() if r and not r.startswith("#")]
    header = rows[0].split("\t")
    assert header[:3] == ["key", "product", "class"]


def test_format_csv_and_json():
    result = runner.invoke(app, ["--format", "json", "presets"])
    docs = [json.loads(chunk) for chunk in re.split(r"\n(?=\{)", result.output.strip())]
    assert docs[0]["title"] == "Products" and docs[0]["rows"][0]["key"]
    result = runner.invoke(app, ["--format", "csv", "presets"])
    assert "key,product,class" in result.output
