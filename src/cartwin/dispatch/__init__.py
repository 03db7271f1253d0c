"""Dispatch: run a large job as independent, seeded, checkpointed shards (serially or on Dask).

Owns splitting ``n_items`` into shards, one seed stream per shard, running shards on a
serial or Dask dispatcher, writing each finished shard atomically to a Parquet dataset with a
manifest, resuming a stopped run and reporting progress and worker failures. It knows nothing
about models or trials: the caller (e.g. the trial layer) passes a ``task``.
May import :mod:`cartwin.foundation` only; Dask is imported lazily when asked for.

    from cartwin.dispatch import run_shards, read_shards

    def task(shard_index, item_start, item_stop, seed_sequence):
        rng = numpy.random.default_rng(seed_sequence)
        ...  # simulate patients item_start..item_stop-1
        return pandas.DataFrame(...)

    run = run_shards(task, n_items=1_000_000, shard_size=10_000, seed=7, out_dir="runs/t1",
                     scheduler="local", workers=2)
    frame = read_shards("runs/t1")

    with cluster("local", workers=2) as client:     # one cluster for several runs
        run_shards(task_a, ..., scheduler=client)
        run_shards(task_b, ..., scheduler=client)
"""

from cartwin.dispatch.runner import (
    ResumeMismatch,
    ShardError,
    ShardRun,
    cluster,
    read_shards,
    run_shards,
    shard_seed,
)

__all__ = ["ResumeMismatch", "ShardError", "ShardRun", "cluster", "read_shards", "run_shards", "shard_seed"]
