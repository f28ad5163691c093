"""Stage 4: shard-wise SGNS training with parameter averaging after each epoch.

Each epoch the driver broadcasts E (embeddings) and Theta (output weights), one Spark task per
shard streams its tuples file in Arrow record batches straight into the compiled SGD kernel,
and the driver combines the shards' updated parameters into the next epoch's starting point.

Averaging: every row is averaged over the shards that updated it, weighted by how many
updates each shard made to it. For a word that all shards see about equally often this is the
plain parameter average; a word that only one shard saw keeps that shard's update instead of
having it divided by the number of shards (the dilution that makes Spark MLlib's Word2Vec
degrade as partitions grow).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow.parquet as pq
from pyspark import SparkContext

from w2v_spark import kernels, memory, storage
from w2v_spark.tuples import part_name


def init_params(vocab_size: int, vector_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """E uniform in (-0.5/d, 0.5/d) as in word2vec, Theta zeros; float32, reproducible from seed."""
    emb = kernels.uniform(vocab_size * vector_size, kernels.derive_seed(seed, -1))
    emb = ((emb - 0.5) / vector_size).astype(np.float32).reshape(vocab_size, vector_size)
    return emb, np.zeros((vocab_size, vector_size), dtype=np.float32)


def learning_rate(alpha: float, min_alpha: float, progress: float) -> float:
    """Linear decay from alpha at progress 0 to min_alpha at progress 1 (of the whole run)."""
    return alpha - (alpha - min_alpha) * progress


@dataclass(frozen=True)
class Schedule:
    alpha: float
    min_alpha: float
    epochs: int


@dataclass
class ShardResult:
    """One shard's contribution: update-weighted parameter deltas, update counts, loss."""

    emb_delta: np.ndarray  # sum over the shard's rows of updates * (E_shard - E_start)
    emb_updates: np.ndarray  # float64[V]
    out_delta: np.ndarray
    out_updates: np.ndarray
    loss: float
    examples: int
    seconds: float = 0.0  # summed task time and kernel time, for profiling
    kernel_seconds: float = 0.0
    worker_peaks: dict[int, float] = field(default_factory=dict)  # pid -> peak RSS MiB

    def add(self, other: ShardResult) -> ShardResult:
        """Sum in place (the combine step of the reduction)."""
        self.emb_delta += other.emb_delta
        self.emb_updates += other.emb_updates
        self.out_delta += other.out_delta
        self.out_updates += other.out_updates
        self.loss += other.loss
        self.examples += other.examples
        self.seconds += other.seconds
        self.kernel_seconds += other.kernel_seconds
        memory.merge_peaks(self.worker_peaks, other.worker_peaks)
        return self


@dataclass(frozen=True)
class EpochResult:
    emb: np.ndarray
    out: np.ndarray
    loss: float  # summed over examples
    examples: int
    task_seconds: float  # summed over shards
    kernel_seconds: float
    worker_peaks: dict[int, float]


def train_shard(
    tuples_file: str, start_emb: np.ndarray, start_out: np.ndarray, epoch: int, schedule: Schedule
) -> ShardResult:
    """SGD over one tuples file, starting from (start_emb, start_out), which are left untouched.

    ``epoch`` counts from 1. The learning rate follows global progress: a shard at row i of n
    in epoch e is at (e - 1 + i/n) / epochs of the run, because all shards of an epoch advance
    side by side.
    """
    started = time.perf_counter()
    emb, out = start_emb.copy(), start_out.copy()
    emb_updates = np.zeros(emb.shape[0], dtype=np.int64)
    out_updates = np.zeros(out.shape[0], dtype=np.int64)
    fs, path = storage.filesystem(tuples_file)
    with fs.open_input_file(path) as raw:
        n = pq.ParquetFile(raw).metadata.num_rows
    loss = 0.0
    done = 0
    kernel_seconds = 0.0
    drop = (schedule.alpha - schedule.min_alpha) / max(n, 1) / schedule.epochs
    for group in storage.iter_row_groups(tuples_file):
        batch = group.combine_chunks()
        columns = [batch.column(j).to_numpy() for j in range(batch.num_columns)]
        centers, targets = columns[0], columns[1]
        # (k, n), the kernel's layout: stacking the k columns is one small copy per row group
        negatives = np.stack(columns[2:]) if len(columns) > 2 else np.empty((0, len(batch)), np.int32)
        lr0 = learning_rate(schedule.alpha, schedule.min_alpha, (epoch - 1 + done / max(n, 1)) / schedule.epochs)
        t = time.perf_counter()
        loss += kernels.sgd_step(emb, out, centers, targets, negatives, lr0, -drop, emb_updates, out_updates)
        kernel_seconds += time.perf_counter() - t
        done += len(batch)
    # Turn the trained copies into weighted deltas in place: no extra V x d arrays.
    emb -= start_emb
    emb *= emb_updates.astype(np.float32)[:, None]
    out -= start_out
    out *= out_updates.astype(np.float32)[:, None]
    return ShardResult(
        emb_delta=emb,
        emb_updates=emb_updates.astype(np.float64),
        out_delta=out,
        out_updates=out_updates.astype(np.float64),
        loss=loss,
        examples=done,
        seconds=time.perf_counter() - started,
        kernel_seconds=kernel_seconds,
        worker_peaks=dict([memory.worker_sample()]),
    )


def combine(start: np.ndarray, delta_sum: np.ndarray, updates: np.ndarray) -> np.ndarray:
    """Start parameters plus each row's update-weighted mean delta (rows nobody touched stay)."""
    scale = np.divide(1.0, updates, out=np.zeros_like(updates), where=updates > 0).astype(np.float32)
    combined: np.ndarray = start + delta_sum * scale[:, None]
    return combined


def train_epoch(
    sc: SparkContext,
    tuples_epoch_dir: str,
    emb: np.ndarray,
    out: np.ndarray,
    epoch: int,
    partitions: int,
    schedule: Schedule,
) -> EpochResult:
    """One epoch over every shard: the averaged (E, Theta), loss, examples and task profile."""
    params = sc.broadcast((emb, out))
    directory = storage.normalize(tuples_epoch_dir)

    def task(shards: Iterable[int]) -> Iterator[ShardResult]:
        e, o = params.value  # shared by every task of this Python worker: train_shard copies
        for p in shards:
            yield train_shard(storage.join(directory, part_name(p)), e, o, epoch, schedule)

    try:
        total = (
            sc.parallelize(range(partitions), partitions)
            .mapPartitions(task)
            .treeAggregate(None, _merge, _merge, depth=2)
        )
    finally:
        params.destroy()
    if total is None:
        return EpochResult(emb, out, 0.0, 0, 0.0, 0.0, {})
    return EpochResult(
        emb=combine(emb, total.emb_delta, total.emb_updates),
        out=combine(out, total.out_delta, total.out_updates),
        loss=total.loss,
        examples=total.examples,
        task_seconds=total.seconds,
        kernel_seconds=total.kernel_seconds,
        worker_peaks=total.worker_peaks,
    )


def _merge(acc: ShardResult | None, item: ShardResult | None) -> ShardResult | None:
    if acc is None:
        return item
    if item is None:
        return acc
    return acc.add(item)
