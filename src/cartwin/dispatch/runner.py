"""``run_shards``: seeded shards, serial or Dask dispatch, Parquet checkpoints, resume.

Reproducibility: shard ``k`` covers items ``[k * shard_size, min((k + 1) * shard_size, n_items))``
and receives ``SeedSequence(seed).spawn``-equivalent child ``k`` (spawn key ``(k,)``), so its
result depends only on ``(seed, k, shard_size)`` — never on how many workers ran, in which
order, or whether the run was resumed.

Layout of ``out_dir``::

    manifest.json                 run settings, the run's identity, one entry per finished shard
                                  (rows, bytes, sha256)
    shards/part-000000.parquet    one file per shard, written atomically (temp file + rename)

A shard counts as finished when its file's SHA-256 matches the manifest's (or, for a file the
manifest had not recorded yet, when Parquet reads it whole); a run killed at any moment
therefore loses at most the shards in flight, and ``resume=True`` runs only the others. A shard
that fails the check (truncated, corrupted inside, missing) is named in a
:class:`~cartwin.foundation.errors.CartwinWarning` and redone. ``identity`` (what the caller
says the results depend on: a protocol's content hash, the engine, its tolerance, the package
version) is stored in the manifest and a resume with a different one is refused, naming the
difference, so two settings never mix in one result. Workers write their own shard files, so ``out_dir`` must be on a file system every
worker can reach (a shared disk on a cluster).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cartwin.foundation.errors import CartwinError, CartwinWarning, DataError, ValidationError

Task = Callable[[int, int, int, np.random.SeedSequence], pd.DataFrame]

MANIFEST = "manifest.json"
FORMAT = "cartwin-shards/1"


class ShardError(CartwinError):
    """A shard failed (task error, worker died or ran out of memory); names the shard."""

    def __init__(self, shard: int, item_start: int, item_stop: int, reason: str):
        self.shard = shard
        self.item_start = item_start
        self.item_stop = item_stop
        self.reason = reason
        super().__init__(
            f"shard {shard} (items {item_start}..{item_stop - 1}) failed: {reason}. "
            "Finished shards are kept; rerun with resume=True (CLI: the same command with --resume) to continue."
        )


class ResumeMismatch(CartwinError):
    """A resume whose settings differ from the stopped run's; names every difference."""


@dataclass
class ShardRun:
    """What a call to :func:`run_shards` did."""

    out_dir: Path
    n_shards: int
    ran: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    redone: dict[int, str] = field(default_factory=dict)  # shard -> why its file was not kept
    seconds: float = 0.0
    rows: int = 0

    @property
    def files(self) -> list[Path]:
        return [shard_path(self.out_dir, k) for k in range(self.n_shards)]


def shard_seed(seed: int, shard: int) -> np.random.SeedSequence:
    """The seed stream of shard ``shard``: child ``shard`` of ``SeedSequence(seed)``."""
    root = np.random.SeedSequence(seed)
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, int(shard)), pool_size=root.pool_size)


def shard_path(out_dir: str | os.PathLike, shard: int) -> Path:
    return Path(out_dir) / "shards" / f"part-{shard:06d}.parquet"


def _bounds(k: int, shard_size: int, n_items: int) -> tuple[int, int]:
    return k * shard_size, min((k + 1) * shard_size, n_items)


def _check_shard(path: Path, entry: Mapping[str, Any]) -> tuple[int | None, str]:
    """``(rows, "")`` for a finished shard file, ``(None, why)`` for one to redo ("" when absent)."""
    from cartwin.foundation.results import file_sha256

    if not path.exists():
        return None, ("listed in the manifest as finished but missing" if entry else "")
    import pyarrow.parquet as pq

    expected = entry.get("sha256")
    if expected is not None:
        if file_sha256(path) != expected:
            return None, "its SHA-256 does not match the manifest (corrupted or changed since it was written)"
        return int(entry.get("rows", pq.ParquetFile(path).metadata.num_rows)), ""
    try:
        # Not recorded yet (killed between the rename and the manifest): read it whole, which
        # decompresses every page, so a corruption inside is found as well as a bad footer.
        return int(pq.read_table(path).num_rows), ""
    except Exception as exc:  # noqa: BLE001 - any unreadable file is simply not finished
        return None, f"unreadable ({type(exc).__name__}: {exc})"


def _run_one(task: Task, k: int, start: int, stop: int, seed: int, out_dir: str) -> tuple[int, int, int, float, str]:
    """Run shard ``k`` and write it; returns (shard, rows, bytes, seconds, sha256). Runs on a worker."""
    from cartwin.foundation.results import file_sha256, write_parquet

    t0 = time.perf_counter()
    frame = task(k, start, stop, shard_seed(seed, k))
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"the task returned {type(frame).__name__}, expected a pandas DataFrame")
    path = shard_path(out_dir, k)
    write_parquet(frame, path)
    return k, len(frame), path.stat().st_size, time.perf_counter() - t0, file_sha256(path)


def _write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    from cartwin.foundation.results import atomic_write_text

    atomic_write_text(out_dir / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True, default=str))


def _settings(n_items: int, shard_size: int, seed: int, task: Task) -> dict[str, Any]:
    name = getattr(task, "__qualname__", None) or type(task).__name__
    return {"format": FORMAT, "n_items": int(n_items), "shard_size": int(shard_size), "seed": int(seed),
            "n_shards": -(-int(n_items) // int(shard_size)), "task": f"{getattr(task, '__module__', '')}.{name}"}


def run_shards(
    task: Task,
    n_items: int,
    shard_size: int,
    seed: int,
    out_dir: str | os.PathLike,
    *,
    resume: bool = False,
    scheduler: Any = None,
    workers: int | None = None,
    progress: bool = True,
    memory_limit: str | None = "auto",
    description: str = "shards",
    identity: Mapping[str, Any] | None = None,
) -> ShardRun:
    """Run ``task`` over ``n_items`` items in shards of ``shard_size``, checkpointing each shard.

    Parameters
    ----------
    task: ``task(shard_index, item_start, item_stop, seed_sequence) -> pandas.DataFrame``; must be
        picklable for process-based schedulers (a module-level function or ``functools.partial``).
    n_items, shard_size: items (e.g. virtual patients) and items per shard.
    seed: root seed; shard ``k`` gets :func:`shard_seed` ``(seed, k)``.
    out_dir: dataset directory (``shards/part-NNNNNN.parquet`` + ``manifest.json``).
    resume: continue a run in ``out_dir`` (same ``n_items``, ``shard_size``, ``seed``), skipping
        finished shards. Without it, an ``out_dir`` holding shards is an error (no silent overwrite).
    scheduler: ``None``/``"serial"`` (this process, no Dask), ``"local"`` (a Dask LocalCluster of
        ``workers`` processes), ``"threads"`` (LocalCluster of threads, for tests), an address
        ``"tcp://host:8786"`` of a running Dask scheduler, or a ``distributed.Client``.
    workers: worker processes for ``"local"`` (default: number of CPUs).
    progress: show a Rich progress bar over shards (stderr).
    memory_limit: per-worker memory limit for ``"local"`` (Dask syntax, e.g. ``"4GiB"``).
    identity: JSON-able settings the results depend on beyond the seed and sizes (e.g.
        ``{"protocol_sha256": ..., "engine": ..., "rtol": ...}``); stored in the manifest, and a
        resume whose identity differs is refused naming every key that differs.

    Raises
    ------
    ShardError: a shard's task raised, or its worker died (e.g. out of memory); names the shard.
    ValidationError: bad arguments, or ``resume`` with settings that differ from the manifest.
    """
    for name, value, low in (("n_items", n_items, 1), ("shard_size", shard_size, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValidationError(name, f"an integer >= {low}", value)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValidationError("seed", "a non-negative integer", seed)
    if workers is not None and (not isinstance(workers, (int, np.integer)) or workers < 1):
        raise ValidationError("workers", "a positive integer", workers)
    out = Path(out_dir)
    settings = _settings(n_items, shard_size, seed, task)
    n_shards = settings["n_shards"]
    manifest_path = out / MANIFEST
    if manifest_path.exists():
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValidationError(str(manifest_path), "a readable cartwin shard manifest", str(exc)) from None
        if not resume:
            raise ValidationError(
                "out_dir", "an empty or new directory", str(out),
                hint="it holds a shard run; pass resume=True (CLI: --resume) to continue it or choose another directory",
            )
        for key in ("format", "n_items", "shard_size", "seed"):
            if manifest.get(key) != settings[key]:
                raise ValidationError(f"resume.{key}", f"{manifest.get(key)!r} (as in {manifest_path})", settings[key])
        _check_identity(manifest.get("identity") or {}, identity, manifest_path)
        manifest["task"] = settings["task"]
    else:
        if resume and out.exists() and any(out.iterdir()):
            raise ValidationError("resume", f"a directory with {MANIFEST}", str(out))
        manifest = dict(settings, shards={})
    manifest["identity"] = _jsonable(identity or {})
    out.mkdir(parents=True, exist_ok=True)
    (out / "shards").mkdir(exist_ok=True)

    done: dict[str, Any] = {}
    redone: dict[int, str] = {}
    for k in range(n_shards):
        path = shard_path(out, k)
        entry = manifest["shards"].get(str(k), {})
        rows, why = _check_shard(path, entry)
        if rows is not None:
            done[str(k)] = {**entry, "rows": rows, "bytes": path.stat().st_size}
        elif why:
            redone[k] = why
            path.unlink(missing_ok=True)
    if redone:
        warnings.warn("; ".join(f"shard {k} ({shard_path(out, k)}) {why}: redoing it" for k, why in redone.items()),
                      CartwinWarning, stacklevel=2)
    manifest["shards"] = done
    _write_manifest(out, manifest)
    todo = [k for k in range(n_shards) if str(k) not in done]
    run = ShardRun(out, n_shards, skipped=sorted(int(k) for k in done), redone=redone)
    t_start = time.perf_counter()

    def finished(k: int, rows: int, size: int, seconds: float, sha256: str) -> None:
        manifest["shards"][str(k)] = {"rows": rows, "bytes": size, "seconds": round(seconds, 3), "sha256": sha256}
        _write_manifest(out, manifest)
        run.ran.append(k)
        run.rows += rows

    with _Progress(progress, n_shards, len(done), description) as bar:
        if scheduler in (None, "serial"):
            for k in todo:
                start, stop = _bounds(k, shard_size, n_items)
                try:
                    _, rows, size, seconds, sha256 = _run_one(task, k, start, stop, seed, str(out))
                except Exception as exc:  # noqa: BLE001 - re-raised with the shard named
                    raise ShardError(k, start, stop, f"{type(exc).__name__}: {exc}") from exc
                finished(k, rows, size, seconds, sha256)
                bar.advance()
        else:
            _run_dask(task, todo, shard_size, n_items, seed, out, scheduler, workers, memory_limit, finished, bar)
    run.seconds = time.perf_counter() - t_start
    return run


def _dask():
    try:
        import distributed
    except ModuleNotFoundError as exc:  # pragma: no cover - exercised only without dask
        raise CartwinError("parallel runs need Dask: pip install 'cartwin[cluster]' (dask[distributed])") from exc
    return distributed


@contextlib.contextmanager
def cluster(scheduler: Any = None, workers: int | None = None, memory_limit: str | None = "auto"):
    """The scheduler to pass to several :func:`run_shards` calls, started once.

    ``"local"``/``"threads"`` start a Dask LocalCluster and yield a ``distributed.Client`` to it,
    closed on exit; an address yields a client to it; ``None``/``"serial"`` and a ``Client`` are
    yielded as they are. A trial's journeys and its cohort share one cluster this way (a second
    LocalCluster cost ~4 s to start on 2 cores).
    """
    if scheduler in (None, "serial"):
        yield scheduler
        return
    distributed = _dask()
    if isinstance(scheduler, distributed.Client):
        yield scheduler
        return
    local = None
    if scheduler in ("local", "threads"):
        n = workers or os.cpu_count() or 1
        threads = scheduler == "threads"
        local = distributed.LocalCluster(
            n_workers=n, threads_per_worker=1, processes=not threads, dashboard_address=None,
            memory_limit=memory_limit if not threads else None, silence_logs=40,
        )
        client = distributed.Client(local)
    elif isinstance(scheduler, str) and ("://" in scheduler or ":" in scheduler):
        client = distributed.Client(scheduler)
    else:
        raise ValidationError("scheduler", "None, 'serial', 'local', 'threads', a scheduler address or a dask Client", scheduler)
    try:
        yield client
    finally:
        client.close()
        if local is not None:
            local.close()


def _run_dask(task, todo, shard_size, n_items, seed, out, scheduler, workers, memory_limit, finished, bar):
    distributed = _dask()
    with cluster(scheduler, workers, memory_limit) as client:
        # Sent once and kept on the workers: passed to each submit, the task (which may hold
        # the whole cohort) would be pickled into every shard's graph, several times over.
        task_on_workers = client.scatter(task, broadcast=True, hash=False) if todo else None
        futures = {}
        for k in todo:
            start, stop = _bounds(k, shard_size, n_items)
            fut = client.submit(_run_one, task_on_workers, k, start, stop, seed, str(out), pure=False,
                                key=f"cartwin-shard-{k:06d}-{os.getpid()}-{time.time_ns()}", retries=0)
            futures[fut] = (k, start, stop)
        for fut in distributed.as_completed(list(futures)):
            k, start, stop = futures[fut]
            try:
                _, rows, size, seconds, sha256 = fut.result()
            except Exception as exc:  # noqa: BLE001 - re-raised with the shard named
                for other in futures:
                    other.cancel()
                raise ShardError(k, start, stop, _reason(exc, distributed)) from exc
            finished(k, rows, size, seconds, sha256)
            bar.advance()


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples as lists, numpy scalars as numbers)."""
    return json.loads(json.dumps(value, sort_keys=True, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))


def _check_identity(recorded: Mapping[str, Any], identity: Mapping[str, Any] | None, manifest_path: Path) -> None:
    """Refuse a resume whose identity differs from the one the stopped run recorded."""
    now = _jsonable(identity or {})
    differ = [k for k in sorted(set(recorded) | set(now)) if recorded.get(k) != now.get(k)]
    if differ:
        what = "; ".join(f"{k} was {recorded.get(k)!r}, now {now.get(k)!r}" for k in differ)
        raise ResumeMismatch(
            f"resume: the stopped run in {manifest_path.parent} was made with other settings ({what}); "
            "resume with the same protocol and options, or start a new run in another directory")


def _reason(exc: BaseException, distributed) -> str:
    killed = getattr(getattr(distributed, "scheduler", None), "KilledWorker", None)
    if killed is not None and isinstance(exc, killed):
        return ("its worker died while running it (often out of memory: lower shard_size or raise "
                f"the worker memory limit) [{exc}]")
    return f"{type(exc).__name__}: {exc}"


class _Progress:
    """A Rich bar over shards, or nothing."""

    def __init__(self, enabled: bool, total: int, completed: int, description: str):
        self.enabled = enabled
        self.total, self.completed, self.description = total, completed, description
        self._progress = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task(self.description, total=self.total, completed=self.completed)
        return self

    def advance(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)
        return False


def read_shards(out_dir: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """All finished shards of a run as one DataFrame, in shard order."""
    import pyarrow.parquet as pq

    out = Path(out_dir)
    files = sorted((out / "shards").glob("part-*.parquet"))
    if not files:
        return pd.DataFrame(columns=columns or [])
    frames = []
    for f in files:
        try:
            frames.append(pq.read_table(f, columns=columns).to_pandas())
        except Exception as exc:  # noqa: BLE001 - named with the file; resume redoes it
            raise DataError(str(f), f"unreadable shard ({type(exc).__name__}: {exc}); rerun with --resume to redo it") from None
    return pd.concat(frames, ignore_index=True)
