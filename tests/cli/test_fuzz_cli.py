"""Fuzz: random values for every numeric and named option of the commands: each bad one is one
line, `error: <option as typed>: ...` (or Click's own usage line naming it), exit code 2, never a
traceback. Valid values are skipped (they would run a simulation). Bounded for CI."""

import math

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cartwin.cli._common import OPTION_RANGES
from cartwin.cli.main import app

runner = CliRunner()

#: (command prefix, option) pairs, each numeric option where it appears.
NUMERIC = [
    (["trial", "zuma-1"], "--n"), (["trial", "zuma-1"], "--seed"), (["trial", "zuma-1"], "--replicates"),
    (["trial", "zuma-1"], "--follow-up-days"), (["trial", "zuma-1"], "--rtol"), (["trial", "zuma-1"], "--shard-size"),
    (["trial", "zuma-1"], "--workers"), (["simulate"], "--days"), (["simulate"], "--rtol"), (["simulate"], "--weight-kg"),
    (["simulate"], "--height-cm"), (["simulate"], "--tumour-cells"), (["simulate"], "--antigen-negative-fraction"),
    (["simulate"], "--seed"), (["calibrate"], "--n"), (["calibrate"], "--workers"), (["validate"], "--n"),
    (["sensitivity", "zuma-1"], "--base-samples"), (["sensitivity", "zuma-1"], "--n"),
    (["bench"], "--n-slow"), (["bench"], "--n-fast"), (["bench"], "--threads"), (["bench"], "--n-check"),
    (["registry", "search"], "--limit"), (["registry", "search"], "--since-year"), (["registry", "stats"], "--top"),
]
NAMED = [(["trial", "zuma-1"], "--engine"), (["simulate"], "--policy"), (["simulate"], "--product"),
         (["simulate"], "--indication"), (["simulate"], "--dose"), (["sensitivity", "zuma-1"], "--endpoint"),
         (["registry", "search"], "--phase"), (["registry", "search"], "--status"), (["registry", "search"], "--target"),
         (["registry", "search"], "--cell-therapy"), (["registry", "search"], "--source"), ([], "--format")]

numbers = st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["abc", "", "1e400", "-0", "nan", "inf", "0x10", "1_000", " 5"]))


def _valid(option, text) -> bool:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return False
    return OPTION_RANGES[option].accepts(int(value) if value.is_integer() else value) if math.isfinite(value) else False


def _check(result, option) -> None:
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 2, (option, result.exit_code, result.output[-600:])
    last = [line for line in result.output.strip().splitlines() if line.strip()][-1]
    named = last.startswith(f"error: {option}") or f"'{option}'" in result.output
    assert named, (option, result.output[-600:])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(NUMERIC), value=numbers)
def test_numeric_options(tmp_path, case, value):
    prefix, option = case
    text = str(value)
    assume(not _valid(option, text))
    extra = ["--out", str(tmp_path / "o")] if prefix[0] in ("trial", "simulate") else []
    if prefix[0] == "registry":
        extra = ["--db", str(tmp_path / "r.duckdb")]
    _check(runner.invoke(app, [*prefix, option, text, *extra]), option)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(NAMED), value=st.text(min_size=1, max_size=20).filter(lambda s: not s.startswith("-")))
def test_named_options(tmp_path, case, value):
    prefix, option = case
    known = {"--engine": {"auto", "numpy", "numba", "numba-generated"}, "--policy": {"none"},
             "--format": {"rich", "tsv", "csv", "json"}}
    assume(value.strip().lower() not in known.get(option, set()))
    assume(not any(ch.isdigit() for ch in value) or option != "--dose")
    if option in ("--phase", "--target", "--status", "--cell-therapy", "--source"):
        assume(value.strip().lower() not in {"1", "2", "3", "4", "na", "cd19", "bcma", "none", "other", "car-t", "car-nk",
                                              "autologous", "allogeneic", "unknown", "recruiting", "completed", "cd22",
                                              "gprc5d", "cd7", "early1", "0", "tcr-t", "car-nkt", "withdrawn", "terminated"})
    extra = ["--out", str(tmp_path / "o")] if prefix and prefix[0] in ("trial", "simulate") else []
    if prefix and prefix[0] == "registry":
        extra = ["--db", str(tmp_path / "r.duckdb")]
    args = [option, value, "presets"] if not prefix else [*prefix, option, value, *extra]
    result = runner.invoke(app, args)
    assert "Traceback" not in result.output, result.output
    if result.exit_code == 0:
        return  # the text happened to be accepted (e.g. a target synonym): nothing silent to check here
    _check(result, option)
