"""The engine benchmark runs its engines on one cohort and reports errors against the reference."""

import pytest

pytest.importorskip("numba")

from cartwin.engine.bench import run_benchmark  # noqa: E402


def test_benchmark_rows_for_compiled_engine_and_its_baseline():
    engines = ("numba-baseline", "numba-shampine4", "numba", "numba-generated")
    rows = run_benchmark(n_slow=2, n_fast=8, threads=1, engines=engines, n_check=1, days=30.0)
    by_engine = {r.engine: r for r in rows}
    assert set(by_engine) == set(engines)
    for row in rows:
        assert row.patients > 0 and row.patients_per_s > 0
        assert row.max_rel_error < 1e-4  # rtol 1e-6 against Radau at 1e-10
        assert "failed" not in row.note
    assert "exact Jacobian" in by_engine["numba"].note and "Rodas5P" in by_engine["numba"].note
    assert "hoisted" in by_engine["numba-generated"].note


def test_unknown_engines_are_refused_before_anything_runs():
    from cartwin.foundation.errors import ValidationError

    with pytest.raises(ValidationError, match="^engines: expected some of lsoda, numpy.*got 'numba9'"):
        run_benchmark(n_slow=2, n_fast=2, engines=("numba", "numba9"))


def _bench_scale():
    """benchmarks/bench_scale.py as a module (benchmarks are scripts, not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_scale.py"
    spec = importlib.util.spec_from_file_location("bench_scale", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scale_benchmark_streams_summaries_to_shards(tmp_path):
    bench_scale = _bench_scale()
    out = tmp_path / "scale"
    result = bench_scale.main(["--n", "12", "--shard-size", "5", "--workers", "0", "--out", str(out)])
    assert result["patients"] == 12 and result["failed"] == 0
    assert len(list((out / "shards").glob("*.parquet"))) == 3  # 5 + 5 + 2 patients
    assert result["mean_steps"] > 200  # a year: lymphodepletion, expansion, the policy's doses


def test_scale_benchmark_runs_the_zuma1_trial_path_with_the_equivalence_check(tmp_path):
    import pandas as pd

    bench_scale = _bench_scale()
    out = tmp_path / "scale"
    result = bench_scale.main(["--population", "zuma-1", "--n", "12", "--shard-size", "6", "--workers", "0",
                               "--rtol", "1e-4", "--check-n", "10", "--out", str(out)])
    assert result["patients"] == 12 and result["population"] == "zuma-1" and result["rtol"] == 1e-4
    frame = pd.concat([pd.read_parquet(p) for p in sorted((out / "shards").glob("*.parquet"))])
    assert list(frame["patient"]) == list(range(12)) and frame["infused"].any()
    check = result["equivalence"]
    assert check["rtol"] == 1e-4 and check["patients_compared"] > 0
    assert check["passed"] == (float(check["worst_ratio"]) <= 0.1 and check["grade_agreement"] >= 0.999)
