"""Stage 4: shard-wise SGNS training, with the shards' parameters averaged at every sync.

Each epoch is split into ``syncs`` rounds. In a round, one Spark task per shard reads the
current E (embeddings) and Theta (output weights) from a file, runs the compiled SGD kernel
over its share of the round's tuples (streamed from Parquet a row group at a time), and writes
its parameter deltas to a file; the driver averages the deltas into the next round's model.
Parameters move through files in the output directory rather than through Spark's own
channels (broadcast and result serialisation): measured on 8 shards of 35k x 100, a round's
exchange took 0.3 s that way against 1.1 s with a broadcast and ``treeAggregate``.

Why every shard trains at a multiple of the learning rate and the deltas are plainly averaged
over all P shards: averaged at the plain rate, P shards move every row 1/P as far per epoch as
one machine would (each saw 1/P of the data), which is how Spark MLlib's Word2Vec loses quality
as partitions grow. While a row's updates are small and add up linearly, P shards at P times
the rate, averaged, move it exactly as far as one machine over all the data, with the same SGD
noise; where a row saturates (a frequent word reaching its optimum within a shard), each shard
stops at the optimum and the average stays there instead of overshooting, as summing would.
But a shard at P times the rate also drifts further within a round, and that costs accuracy:
measured on the benchmark corpus with shuffled pairs, P^(5/6) (1.8 at 2 shards, 5.7 at 8) beat
P, P^(2/3) and lower multiples at 8 shards by 0.4-0.7 analogy points on each of three seeds
and matched P^(2/3) at 2 shards (``shard_lr_scale``; docs/averaging-experiments.md has the runs).

Averaging still costs accuracy (8 shards lose about 2 analogy points against one), so
``hogwild`` lets the tasks of one executor train a single shared copy of the model in place
(memory-mapped from the executor's local directory, no locks: Hogwild, as word2vec's and
gensim's threads share one model) and averages only the executors' copies, at the rate
multiple of their number. On one machine that is one model whatever the number of shards. The
price: concurrent updates make a run's result depend on timing, so it is not reproducible.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np
from pyspark import SparkContext

from w2v_spark import kernels, memory, storage
from w2v_spark.tuples import part_name


def init_params(vocab_size: int, vector_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """E uniform in (-0.5/d, 0.5/d) as in word2vec, Theta zeros; float32, reproducible from seed.

    Drawn a block of rows at a time (the generator's state carries over, so the values do not
    depend on the block size): no float64 copy of a large model.
    """
    state = kernels.derive_seed(seed, -1)
    emb = np.empty((vocab_size, vector_size), dtype=np.float32)
    rows = storage.block_rows(vector_size)
    for start in range(0, vocab_size, rows):
        block = emb[start : start + rows]
        block[:] = ((kernels.uniform(block.size, state) - 0.5) / vector_size).reshape(block.shape)
    return emb, np.zeros((vocab_size, vector_size), dtype=np.float32)


def shard_lr_scale(partitions: int) -> float:
    """The multiple of the learning rate every shard trains at: P^(5/6), 1 for one shard."""
    return float(np.power(float(partitions), 5.0 / 6.0))


def learning_rate(alpha: float, min_alpha: float, progress: float) -> float:
    """Linear decay from alpha at progress 0 to min_alpha at progress 1 (of the whole run)."""
    return alpha - (alpha - min_alpha) * progress


@dataclass(frozen=True)
class Schedule:
    alpha: float
    min_alpha: float
    epochs: int
    lr_scale: float = 1.0  # every shard's learning rate is multiplied by this (shard_lr_scale of the models averaged)
    softmax: bool = False  # the full-softmax objective instead of negative sampling


@dataclass
class ShardStats:
    """What a training task reports besides its deltas (which it writes to a file)."""

    shard: int
    loss: float
    examples: int
    seconds: float = 0.0  # the task's time and its kernel time, for profiling
    kernel_seconds: float = 0.0
    worker_peaks: dict[int, float] = field(default_factory=dict)  # pid -> peak RSS MiB
    delta: str = ""  # the file holding this task's model's deltas (one per executor with hogwild)


@dataclass(frozen=True)
class EpochResult:
    emb: np.ndarray
    out: np.ndarray
    loss: float  # summed over examples
    examples: int
    task_seconds: float  # summed over tasks
    kernel_seconds: float
    worker_peaks: dict[int, float]
    models: int  # models averaged in the epoch's last round


@dataclass(frozen=True)
class SharedClock:
    """With hogwild, the rows an executor's tasks have trained so far in a round, shared by them.

    The learning rate follows it, as word2vec's threads follow a shared word count: tasks that
    train one copy one after another would otherwise each restart the round's decay.
    """

    counter: np.ndarray  # int64[1], memory-mapped beside the executor's copy
    lock_dir: str  # the executor's directory, whose lock guards the counter
    start: int  # rows of the epoch, all shards, before this round
    total: int  # rows of the epoch, all shards
    models: int  # executors training copies side by side, each about 1/models of the round

    def advance(self, rows: int) -> int:
        """Count ``rows`` more; returns the count before them."""
        with _locked(self.lock_dir):
            before = int(self.counter[0])
            self.counter[0] = before + rows
        return before


def train_shard(
    tuples_file: str,
    emb: np.ndarray,
    out: np.ndarray,
    epoch: int,
    schedule: Schedule,
    sync: int = 0,
    syncs: int = 1,
    shard: int = 0,
    clock: SharedClock | None = None,
) -> ShardStats:
    """SGD on (emb, out), in place, over round ``sync`` of ``syncs`` of one tuples file (its rows
    n*sync/syncs up to n*(sync+1)/syncs). Training in place keeps one copy of the model per task.

    ``epoch`` counts from 1. The learning rate follows global progress: a shard at row i of n
    in epoch e is at (e - 1 + i/n) / epochs of the run, because all shards of an epoch advance
    side by side. With a ``clock`` (hogwild) it is the executor's progress through the epoch instead.
    """
    started = time.perf_counter()
    n = storage.num_rows(tuples_file)
    first, stop = n * sync // syncs, n * (sync + 1) // syncs
    scale = schedule.lr_scale
    rows_per_epoch = max(n, 1) if clock is None else max(clock.total, 1) / clock.models
    drop = scale * (schedule.alpha - schedule.min_alpha) / rows_per_epoch / schedule.epochs
    loss = 0.0
    done = first
    kernel_seconds = 0.0
    for group in storage.iter_row_range(tuples_file, first, stop):
        batch = group.combine_chunks()
        columns = [batch.column(j).to_numpy() for j in range(batch.num_columns)]
        centers, targets = columns[0], columns[1]
        # (k, n), the kernel's layout: stacking the k columns is one small copy per row group
        negatives = np.stack(columns[2:]) if len(columns) > 2 else np.empty((0, len(batch)), np.int32)
        if clock is None:
            progress = (epoch - 1 + done / max(n, 1)) / schedule.epochs
        else:
            trained = clock.start + clock.advance(len(batch)) * clock.models
            progress = (epoch - 1 + min(1.0, trained / max(clock.total, 1))) / schedule.epochs
        lr0 = scale * learning_rate(schedule.alpha, schedule.min_alpha, progress)
        t = time.perf_counter()
        if schedule.softmax:
            loss += kernels.softmax_step(emb, out, centers, targets, lr0, -drop)
        else:
            loss += kernels.sgd_step(emb, out, centers, targets, negatives, lr0, -drop)
        kernel_seconds += time.perf_counter() - t
        done += len(batch)
    return ShardStats(
        shard=shard,
        loss=loss,
        examples=done - first,
        seconds=time.perf_counter() - started,
        kernel_seconds=kernel_seconds,
        worker_peaks=dict([memory.worker_sample()]),
    )


def train_epoch(
    sc: SparkContext,
    tuples_epoch_dir: str,
    work_dir: str,
    emb: np.ndarray,
    out: np.ndarray,
    epoch: int,
    partitions: int,
    schedule: Schedule,
    syncs: int = 1,
    hogwild: bool = False,
    executors: int = 1,
    run: str = "",
) -> EpochResult:
    """One epoch over every shard in ``syncs`` rounds; returns the averaged (E, Theta) and stats.

    ``work_dir`` holds the exchanged parameters (``model.npy``, ``delta-part-NNNNN.npy`` per
    round); every task must be able to read and write it, like the tuples. It is emptied on return.
    With ``hogwild`` the tasks of one executor train a shared copy instead (``open_shared_copy``)
    and the deltas are one file per executor, ``delta-executor-<hash>.npy``; ``executors`` is how
    many train side by side (each then about 1/executors of a round), for the learning rate, and
    ``run`` names the run's copies (unique per run, so no run ever picks up another's copy).
    """
    tuples_dir = storage.normalize(tuples_epoch_dir)
    loss = 0.0
    examples = 0
    task_seconds = kernel_seconds = 0.0
    peaks: dict[int, float] = {}
    models = 0
    sizes: list[int] = []
    if hogwild:  # rows per shard, for the executors' shared clocks
        if not run:
            raise ValueError("hogwild training needs a run id naming its shared copies")
        sizes = [storage.num_rows(storage.join(tuples_dir, part_name(p))) for p in range(partitions)]
    for sync in range(syncs):
        round_dir = storage.join(work_dir, f"epoch={epoch}-sync={sync}")
        model_file = storage.join(round_dir, "model.npy")
        storage.write_arrays(model_file, emb, out)

        def task(shards: Iterable[int], sync: int = sync, round_dir: str = round_dir) -> Iterator[ShardStats]:
            # One model in memory per task: read, trained in place, then written out as the
            # difference from the round's model, which is read back a block of rows at a time.
            # Hogwild: every task of this executor trains the one copy in its local directory
            # instead, and they share one deltas file.
            model = storage.join(round_dir, "model.npy")
            if hogwild:
                local = executor_dir(run)
                shared = storage.join(round_dir, f"delta-executor-{hashlib.sha1(local.encode()).hexdigest()[:16]}.npy")
                start = sum(n * sync // syncs for n in sizes)
            for p in shards:
                clock: SharedClock | None = None
                writing: AbstractContextManager[None]
                if hogwild:
                    task_emb, task_out, counter = open_shared_copy(local, f"{epoch}-{sync}", model)
                    clock = SharedClock(counter, local, start, sum(sizes), executors)
                    del counter  # the clock holds it (a memory map, released with the clock)
                    # Written under the lock, so the file last written holds the training of every
                    # task that ran here (the last to finish writes after all the others have finished).
                    delta, writing = shared, _locked(local)
                else:
                    task_emb, task_out = storage.read_arrays(model, 2)
                    delta, writing = delta_file(round_dir, p), nullcontext()
                stats = train_shard(
                    storage.join(tuples_dir, part_name(p)), task_emb, task_out, epoch, schedule, sync, syncs, p, clock
                )
                with writing:
                    rows = storage.block_rows(task_emb.shape[1])
                    storage.write_differences(delta, [task_emb, task_out], model, rows)
                del task_emb, task_out, clock
                stats.delta = delta
                yield stats

        rdd = sc.parallelize(range(partitions), partitions)
        stats = rdd.mapPartitions(task).collect()
        deltas = sorted({s.delta for s in stats})
        models = len(deltas)
        emb, out = average(emb, out, deltas, models)
        storage.delete_dir(round_dir)
        for s in stats:
            loss += s.loss
            examples += s.examples
            task_seconds += s.seconds
            kernel_seconds += s.kernel_seconds
            memory.merge_peaks(peaks, s.worker_peaks)
    return EpochResult(emb, out, loss, examples, task_seconds, kernel_seconds, peaks, models)


def executor_count(sc: SparkContext) -> int:
    """Executors now registered with the application (1 in local mode, where the driver runs the tasks)."""
    master = sc.master or ""
    if master.startswith("local") and not master.startswith("local-cluster"):
        return 1
    # Block managers: one per executor plus the driver's. PySpark has no public call for this.
    return max(1, int(sc._jsc.sc().getExecutorMemoryStatus().size()) - 1)


def remove_shared_copies(sc: SparkContext, run: str, partitions: int) -> None:
    """Delete the run's shared copies: one task per shard, each removing its executor's directory.

    Best effort: Spark does not promise every executor a task (one that gets none keeps its last
    copy until the application ends and Spark deletes its local directory).
    """

    def remove(_: Iterable[int]) -> None:
        shutil.rmtree(executor_dir(run), ignore_errors=True)

    sc.parallelize(range(partitions), partitions).foreachPartition(remove)


def executor_dir(run: str) -> str:
    """This executor's directory for the run's shared copies: under Spark's local directory
    for the executor (deleted when the application ends), which its tasks share and no other
    executor does."""
    base = (os.environ.get("SPARK_LOCAL_DIRS") or tempfile.gettempdir()).split(",")[0]
    path = os.path.join(base, f"w2v-spark-{run}")
    os.makedirs(path, exist_ok=True)
    return path


@contextmanager
def _locked(directory: str) -> Iterator[None]:
    with open(os.path.join(directory, "lock"), "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def open_shared_copy(local: str, name: str, model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The executor's copy of a round's model and its row counter (for ``SharedClock``),
    memory-mapped for writing; the first task of the round on this executor makes them from the
    round's model file (and removes older rounds')."""
    emb_path, out_path, count_path = (os.path.join(local, f"{name}-{m}.npy") for m in ("emb", "out", "rows"))
    with _locked(local):
        if not os.path.exists(count_path):
            for f in os.listdir(local):
                if f.endswith(".npy"):
                    os.remove(os.path.join(local, f))
            arrays = [*storage.read_arrays(model, 2), np.zeros(1, np.int64)]
            for path, array in zip((emb_path, out_path, count_path), arrays, strict=True):
                np.save(path + ".tmp.npy", array)
                os.replace(path + ".tmp.npy", path)
    emb, out, counter = (np.load(p, mmap_mode="r+").view(np.ndarray) for p in (emb_path, out_path, count_path))
    return emb, out, counter


def delta_file(round_dir: str, shard: int) -> str:
    return storage.join(round_dir, f"delta-part-{shard:05d}.npy")


def average(emb: np.ndarray, out: np.ndarray, delta_files: list[str], shards: int) -> tuple[np.ndarray, np.ndarray]:
    """Add the mean of the shards' deltas to (emb, out), in place (a missing shard counts as no change).

    Deltas are read a block of rows at a time and added straight into the model, so the driver
    holds the model and one block, whatever the number of shards or the size of the model.
    """
    inv = np.float32(1.0 / shards)
    targets = (emb, out)
    rows = storage.block_rows(emb.shape[1])
    for f in delta_files:
        for index, start, block in storage.iter_array_rows(f, 2, rows):
            targets[index][start : start + len(block)] += inv * block
    return emb, out
