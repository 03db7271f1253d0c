"""Sharded runs: identical results for any worker count, checkpoints, resume after a kill."""

import functools
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cartwin.dispatch import ShardError, cluster, read_shards, run_shards, shard_seed
from cartwin.foundation.errors import ValidationError


def draw(shard, start, stop, seed_sequence, log=None, fail_at=None):
    """A stand-in for a trial task: per-item random draws from the shard's stream."""
    if log is not None:
        with open(log, "a") as fh:
            fh.write(f"{shard}\n")
    if shard == fail_at:
        raise RuntimeError("boom")
    rng = np.random.default_rng(seed_sequence)
    return pd.DataFrame({"item": np.arange(start, stop), "shard": shard, "value": rng.normal(size=stop - start)})


def calls(log: Path) -> list[int]:
    return [int(s) for s in log.read_text().split()] if log.exists() else []


def test_shard_seeds_are_the_root_sequence_children():
    children = np.random.SeedSequence(11).spawn(4)
    for k, child in enumerate(children):
        assert shard_seed(11, k).generate_state(4).tolist() == child.generate_state(4).tolist()


def test_serial_run_writes_dataset_and_manifest(tmp_path):
    run = run_shards(draw, 25, 10, seed=1, out_dir=tmp_path / "a", progress=False)
    assert run.ran == [0, 1, 2] and run.rows == 25
    frame = read_shards(tmp_path / "a")
    assert frame["item"].tolist() == list(range(25))
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["n_shards"] == 3 and set(manifest["shards"]) == {"0", "1", "2"}


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_same_results_whatever_the_number_of_workers(tmp_path, workers):
    reference = run_shards(draw, 50, 7, seed=5, out_dir=tmp_path / "serial", progress=False)
    assert reference.rows == 50
    run_shards(draw, 50, 7, seed=5, out_dir=tmp_path / "dask", scheduler="threads", workers=workers, progress=False)
    pd.testing.assert_frame_equal(read_shards(tmp_path / "dask"), read_shards(tmp_path / "serial"))


def test_failed_shard_is_named_and_resume_does_not_redo_finished_shards(tmp_path):
    log = tmp_path / "calls.txt"
    out = tmp_path / "run"
    with pytest.raises(ShardError, match=r"shard 3 \(items 30\.\.39\)") as info:
        run_shards(functools.partial(draw, log=log, fail_at=3), 55, 10, seed=2, out_dir=out, progress=False)
    assert info.value.shard == 3
    assert calls(log) == [0, 1, 2, 3]
    with pytest.raises(ValidationError, match="resume"):
        run_shards(functools.partial(draw, log=log), 55, 10, seed=2, out_dir=out, progress=False)
    run = run_shards(functools.partial(draw, log=log), 55, 10, seed=2, out_dir=out, resume=True, progress=False)
    assert run.skipped == [0, 1, 2] and run.ran == [3, 4, 5]
    assert calls(log) == [0, 1, 2, 3, 3, 4, 5]
    clean = run_shards(draw, 55, 10, seed=2, out_dir=tmp_path / "clean", progress=False)
    assert clean.rows == 55
    pd.testing.assert_frame_equal(read_shards(out), read_shards(tmp_path / "clean"))


def test_resume_with_other_settings_is_refused(tmp_path):
    run_shards(draw, 20, 10, seed=2, out_dir=tmp_path, progress=False)
    with pytest.raises(ValidationError, match="resume.seed"):
        run_shards(draw, 20, 10, seed=3, out_dir=tmp_path, resume=True, progress=False)


def test_process_killed_with_sigkill_then_resumed(tmp_path):
    out = tmp_path / "run"
    log = tmp_path / "calls.txt"
    script = textwrap.dedent(f"""
        import functools, os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_runner import draw
        from cartwin.dispatch import run_shards

        def task(shard, start, stop, ss):
            if shard == 4:
                os.kill(os.getpid(), signal.SIGKILL)
            return draw(shard, start, stop, ss, log={str(log)!r})

        run_shards(task, 60, 10, seed=9, out_dir={str(out)!r}, progress=False)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert calls(log) == [0, 1, 2, 3]
    run = run_shards(functools.partial(draw, log=log), 60, 10, seed=9, out_dir=out, resume=True, progress=False)
    assert run.ran == [4, 5] and calls(log) == [0, 1, 2, 3, 4, 5]
    run_shards(draw, 60, 10, seed=9, out_dir=tmp_path / "clean", progress=False)
    pd.testing.assert_frame_equal(read_shards(out), read_shards(tmp_path / "clean"))
    assert not any(name.endswith(".tmp") for name in os.listdir(out / "shards"))


def test_dask_worker_failure_names_the_shard(tmp_path):
    with pytest.raises(ShardError, match="shard 1 .*RuntimeError: boom"):
        run_shards(functools.partial(draw, fail_at=1), 30, 10, seed=1, out_dir=tmp_path, scheduler="threads",
                   workers=2, progress=False)


def test_bad_arguments_raise_validation_errors(tmp_path):
    with pytest.raises(ValidationError, match="shard_size"):
        run_shards(draw, 10, 0, seed=1, out_dir=tmp_path)
    with pytest.raises(ValidationError, match="scheduler"):
        run_shards(draw, 10, 5, seed=1, out_dir=tmp_path / "x", scheduler="nonsense", progress=False)


def test_process_cluster_gives_the_same_dataset(tmp_path):
    pytest.importorskip("distributed")
    run_shards(draw, 40, 10, seed=4, out_dir=tmp_path / "serial", progress=False)
    run_shards(draw, 40, 10, seed=4, out_dir=tmp_path / "procs", scheduler="local", workers=2, progress=False)
    pd.testing.assert_frame_equal(read_shards(tmp_path / "procs"), read_shards(tmp_path / "serial"))


def test_one_cluster_serves_several_runs_and_is_closed_after(tmp_path):
    # A sharded trial runs its journeys and then its cohort on one cluster.
    pytest.importorskip("distributed")
    with cluster("threads", workers=2) as client:
        for name, n in (("a", 30), ("b", 12)):
            run_shards(draw, n, 7, seed=2, out_dir=tmp_path / name, scheduler=client, progress=False)
            run_shards(draw, n, 7, seed=2, out_dir=tmp_path / f"{name}-serial", progress=False)
            pd.testing.assert_frame_equal(read_shards(tmp_path / name), read_shards(tmp_path / f"{name}-serial"))
        assert client.status == "running"
    assert client.status == "closed"
    with cluster(None) as scheduler:
        assert scheduler is None
    with pytest.raises(ValidationError, match="scheduler"), cluster("nonsense"):
        pass


class CountedPickles:
    """A task that notes every time it is pickled (in a file the worker processes share too)."""

    def __init__(self, log: Path):
        self.log = str(log)
        self.payload = np.ones(1000)

    def __getstate__(self):
        with open(self.log, "a") as fh:
            fh.write("pickled\n")
        return self.__dict__

    def __call__(self, shard, start, stop, seed_sequence):
        return draw(shard, start, stop, seed_sequence)


def test_task_is_sent_to_the_workers_once_not_with_every_shard(tmp_path):
    # A trial's task holds the whole cohort (~125 MB at 10^6 patients); sent with each of
    # ~1,500 shards it would fill the driver's memory (4 pickles a shard before it was scattered).
    pytest.importorskip("distributed")
    log = tmp_path / "pickles.txt"
    n_shards = 30
    run_shards(CountedPickles(log), 10 * n_shards, 10, seed=2, out_dir=tmp_path / "run", scheduler="local", workers=2,
               progress=False)
    assert 1 <= len(log.read_text().split()) <= 8 < n_shards
    shards = json.loads((tmp_path / "run" / "manifest.json").read_text())["shards"]
    assert all(entry["seconds"] >= 0 for entry in shards.values())  # timed on the worker
    run_shards(draw, 10 * n_shards, 10, seed=2, out_dir=tmp_path / "plain", progress=False)
    pd.testing.assert_frame_equal(read_shards(tmp_path / "run"), read_shards(tmp_path / "plain"))


def test_resume_with_another_identity_is_refused_naming_what_differs(tmp_path):
    from cartwin.dispatch import ResumeMismatch

    ident = {"protocol_sha256": "aaa", "engine": "rodas5p-numba", "rtol": 1e-6, "cartwin_version": "0.1"}
    with pytest.raises(ShardError):
        run_shards(functools.partial(draw, fail_at=1), 30, 10, seed=2, out_dir=tmp_path, identity=ident, progress=False)
    with pytest.raises(ResumeMismatch, match=r"rtol was 1e-06, now 0\.0001") as info:
        run_shards(draw, 30, 10, seed=2, out_dir=tmp_path, resume=True, identity={**ident, "rtol": 1e-4}, progress=False)
    assert "protocol_sha256" not in str(info.value)
    with pytest.raises(ResumeMismatch, match="engine was 'rodas5p-numba', now 'rodas5p-numpy'; protocol_sha256 was 'aaa', now 'bbb'"):
        run_shards(draw, 30, 10, seed=2, out_dir=tmp_path, resume=True,
                   identity={**ident, "protocol_sha256": "bbb", "engine": "rodas5p-numpy"}, progress=False)
    run = run_shards(draw, 30, 10, seed=2, out_dir=tmp_path, resume=True, identity=ident, progress=False)
    assert run.skipped == [0] and run.ran == [1, 2]


def _corrupt_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 16] = bytes(255 - b for b in data[mid:mid + 16])
    path.write_bytes(bytes(data))


def test_a_shard_corrupted_inside_is_named_and_redone(tmp_path):
    from cartwin.dispatch.runner import shard_path
    from cartwin.foundation.errors import CartwinWarning

    run_shards(draw, 30, 10, seed=2, out_dir=tmp_path / "run", progress=False)
    reference = read_shards(tmp_path / "run")
    bad = shard_path(tmp_path / "run", 1)
    _corrupt_middle(bad)  # the footer is intact: Parquet still opens it
    with pytest.warns(CartwinWarning, match=r"shard 1 \(.*part-000001\.parquet\) its SHA-256 does not match.*redoing it"):
        run = run_shards(draw, 30, 10, seed=2, out_dir=tmp_path / "run", resume=True, progress=False)
    assert run.ran == [1] and run.skipped == [0, 2] and 1 in run.redone
    pd.testing.assert_frame_equal(read_shards(tmp_path / "run"), reference)


def test_a_truncated_shard_is_named_and_redone(tmp_path):
    from cartwin.dispatch.runner import shard_path
    from cartwin.foundation.errors import CartwinWarning

    run_shards(draw, 30, 10, seed=2, out_dir=tmp_path, progress=False)
    reference = read_shards(tmp_path)
    path = shard_path(tmp_path, 2)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(CartwinWarning, match="shard 2 .*redoing it"):
        run = run_shards(draw, 30, 10, seed=2, out_dir=tmp_path, resume=True, progress=False)
    assert run.ran == [2]
    pd.testing.assert_frame_equal(read_shards(tmp_path), reference)


def test_an_unreadable_shard_is_named_when_read(tmp_path):
    from cartwin.dispatch.runner import shard_path
    from cartwin.foundation.errors import DataError

    run_shards(draw, 30, 10, seed=2, out_dir=tmp_path, progress=False)
    path = shard_path(tmp_path, 0)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(DataError, match="part-000000.parquet: unreadable shard"):
        read_shards(tmp_path)


def test_a_resume_hint_names_the_flag_as_it_is():
    err = ShardError(1, 10, 20, "boom")
    assert "--resume DIR" not in str(err) and "--resume" in str(err)
