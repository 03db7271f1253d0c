"""A killed sharded trial resumes only as the same run: a changed protocol or tolerance is
refused naming what differs; a shard corrupted inside is named and redone; outputs are atomic
and the output directory is checked before any work."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from cartwin.dispatch import ResumeMismatch
from cartwin.engine.choice import resolve_solver
from cartwin.foundation.errors import CartwinWarning, ValidationError
from cartwin.trial.protocol import load_protocol
from cartwin.trial.runner import ShardOptions, run_trial

SOLVER = resolve_solver("auto")
ARGS = {"n": 30, "seed": 3, "follow_up_days": 90.0}


def _killed_run(out: Path) -> None:
    """Run a sharded ZUMA-1 trial in a subprocess that is killed (SIGKILL) inside cohort shard 2."""
    script = textwrap.dedent(f"""
        import os, signal
        import cartwin.trial.runner as runner
        from cartwin.trial.runner import ShardOptions, run_trial

        real = runner._CohortShard.__call__
        def dying(self, shard_index, start, stop, seed_sequence):
            if shard_index == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, shard_index, start, stop, seed_sequence)
        runner._CohortShard.__call__ = dying
        run_trial("zuma-1", n={ARGS['n']}, seed={ARGS['seed']}, follow_up_days={ARGS['follow_up_days']},
                  shards=ShardOptions(out_dir={str(out)!r}, shard_size=6, progress=False))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=600, env=env)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["shards"]) == {"0", "1"}


def _opts(out: Path, resume: bool = True) -> ShardOptions:
    return ShardOptions(out_dir=str(out), shard_size=6, progress=False, resume=resume)


def test_kill_then_resume_with_another_protocol_or_tolerance_is_refused(tmp_path):
    out = tmp_path / "run"
    _killed_run(out)
    other_dose = load_protocol("zuma-1").replace(dose={"value": 1.0e6})
    with pytest.raises(ResumeMismatch, match="protocol_sha256 was '[0-9a-f]{64}', now '[0-9a-f]{64}'"):
        run_trial(other_dose, **ARGS, solver=SOLVER, shards=_opts(out))
    with pytest.raises(ResumeMismatch, match=r"rtol was 0\.001, now 0\.0001") as info:
        run_trial("zuma-1", **ARGS, solver=SOLVER, rtol=1e-4, shards=_opts(out))
    assert "protocol_sha256" not in str(info.value)  # only what differs is named
    # the same settings resume, and give what an uninterrupted run gives
    resumed = run_trial("zuma-1", **ARGS, solver=SOLVER, shards=_opts(out))
    clean = run_trial("zuma-1", **ARGS, solver=SOLVER)
    pd.testing.assert_frame_equal(resumed.patients, clean.patients, check_dtype=False)


def test_a_trial_shard_corrupted_inside_is_named_and_redone(tmp_path):
    out = tmp_path / "run"
    first = run_trial("zuma-1", **ARGS, solver=SOLVER, shards=_opts(out, resume=False))
    shard = out / "shards" / "part-000001.parquet"
    data = bytearray(shard.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 32] = bytes(255 - b for b in data[mid:mid + 32])
    shard.write_bytes(bytes(data))
    with pytest.warns(CartwinWarning, match=r"shard 1 \(.*part-000001\.parquet\) its SHA-256 does not match the manifest.*redoing it"):
        again = run_trial("zuma-1", **ARGS, solver=SOLVER, shards=_opts(out))
    pd.testing.assert_frame_equal(first.patients, again.patients)


def test_outputs_are_written_atomically_and_the_directory_checked_first(tmp_path, monkeypatch):
    from cartwin.foundation import results

    result = run_trial("zuma-1", n=6, seed=2, follow_up_days=60.0, solver=SOLVER)
    out = tmp_path / "out"
    result.write(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = results.atomic_write_bytes

    def full_disk(path, data):
        if Path(path).name == "report.html":
            raise OSError(28, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(results, "atomic_write_bytes", full_disk)
    with pytest.raises(OSError):
        result.write(out)
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after["report.html"] == before["report.html"]  # the old report, whole: never half a file
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only directories")
def test_read_only_output_directory_is_refused_before_work(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ValidationError, match="shards.out_dir"):
            run_trial("zuma-1", n=4, seed=1, shards=ShardOptions(out_dir=str(ro / "x"), progress=False))
    finally:
        ro.chmod(0o700)


def test_check_writable_names_the_option(tmp_path):
    from cartwin.foundation.results import check_writable

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValidationError, match="--out: expected a directory cartwin can write in"):
        check_writable(blocker / "sub", "--out")
