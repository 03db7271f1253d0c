from pathlib import Path

import pytest
from typer.testing import CliRunner

from cartwin.cli.main import app

runner = CliRunner()
SBML = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "sbml"  # ../shared beside the checkout


def test_model_export_writes_sbml_of_a_library_model(tmp_path):
    out = tmp_path / "stein.xml"
    result = runner.invoke(app, ["model", "export", "--model", "stein2019", "--param", "foldx=100", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert 'id="foldx" value="100.0"' in text and "<event" in text  # the T_max breakpoint


def test_model_export_bad_model_and_param_exit_2(tmp_path):
    result = runner.invoke(app, ["model", "export", "--model", "nope", "--out", str(tmp_path / "x.xml")])
    assert result.exit_code == 2 and "--model" in result.output
    result = runner.invoke(app, ["model", "export", "--model", "stein2019", "--param", "foldx", "--out", str(tmp_path / "x.xml")])
    assert result.exit_code == 2 and "NAME=VALUE" in result.output


def test_model_import_lists_and_writes_the_module(tmp_path):
    pytest.importorskip("libsbml")
    if not SBML.exists():
        pytest.skip("shared SBML files not present")
    out = tmp_path / "barros.py"
    result = runner.invoke(app, ["model", "import", str(SBML / "BIOMD0000001019.xml"), "--out", str(out)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "event (setting)" in result.output and "class Sbml_" in out.read_text()
    result = runner.invoke(app, ["model", "import", str(tmp_path / "missing.xml")])
    assert result.exit_code == 2 and "missing.xml" in result.output
