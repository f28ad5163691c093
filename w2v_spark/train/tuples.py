"""Stage 3b: each epoch's training tuples, one Spark task per corpus shard.

Every epoch, one Spark task per shard (corpus.py wrote them) streams its sentences through the
objective's compiled generator (objectives.py) and writes ``tuples/epoch=E/part-NNNNN.parquet``
with pyarrow. Writing from the task rather than through Spark's row-based Parquet writer is
faster for this narrow integer data (docs/architecture.md#tuples).

Determinism: a shard's random draws come only from (seed, epoch, shard). A retried or
re-executed task therefore rewrites byte-for-byte the same file, via a temporary name and a
rename, so a half-written file never appears under the final name.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

import w2v_spark
from w2v_spark import kernels
from w2v_spark.runtime import memory, progress, storage, tasks
from w2v_spark.text.corpus import PARQUET_OPTIONS, ShardStats, part_name
from w2v_spark.text.schemas import TRIPLE_STRUCT
from w2v_spark.train import objectives

__all__ = [
    "TupleParams",
    "TupleStats",
    "epoch_dir",
    "explode_triples",
    "generate_epoch",
    "generate_shard",
    "read_tuples",
    "write_tables",
]

# Pairs the tuple buffer holds (it grows only to fit one maximal sentence); each fill is
# shuffled and becomes one Parquet row group, which bounds the memory of every reader of the shard.
MIN_PAIR_CAPACITY = 1 << 18


@dataclass(frozen=True)
class TupleParams:
    """What a tuple task needs besides its shard: plain values and the file of the count tables."""

    window: int
    negative: int
    seed: int
    tables: str  # a write_arrays file: keep_prob, noise_prob, noise_alias (write_tables)
    # the registered objective whose tuples to make (objectives.py); the job passes --objective's
    objective: str = "negative_sampling"


def write_tables(path: str, keep_prob: np.ndarray, noise_prob: np.ndarray, noise_alias: np.ndarray) -> int:
    """The subsampling and noise tables as one file in the run directory; returns its bytes."""
    storage.write_arrays(path, keep_prob, noise_prob, noise_alias)
    return int(keep_prob.nbytes + noise_prob.nbytes + noise_alias.nbytes)


@dataclass(frozen=True)
class TupleStats:
    shard: int
    rows: int  # rows of the tuples file: pairs, or windows of several pairs (objectives.py)
    pairs: int
    words: int
    kept: int
    seconds: float  # the task's own time, for profiling against the stage's wall time
    kernel_seconds: float
    pid: int
    peak_rss_mb: float
    package: str = ""  # where the task's w2v_spark came from (an installed copy, or a --py-files zip)
    executor: str = ""  # tasks.executor_id() of the task's executor
    jvm: tuple[int, float] | None = None  # (pid, peak MiB) of the executor's JVM


class _ShardGenerator:
    """Feeds a corpus shard's row groups through the objective's generator into one Parquet
    writer, a shuffled buffer at a time, and counts what it made."""

    def __init__(self, params: TupleParams, epoch: int, shard_id: int) -> None:
        keep_prob, noise_prob, noise_alias = storage.read_arrays(params.tables, 3)
        self.tables: objectives.Tables = (keep_prob, noise_prob, noise_alias)
        self.objective = objectives.get(params.objective)
        self.window, self.k = params.window, params.negative
        self.state = kernels.derive_seed(params.seed, epoch, shard_id)
        self.schema = self.objective.arrow_schema(self.window, self.k)
        self.bufs: list[np.ndarray] = []
        self.capacity = 0
        self.rows = self.pairs = self.words = self.kept = 0
        self.kernel_seconds = 0.0

    def feed(self, ids: np.ndarray, offsets: np.ndarray, writer: pq.ParquetWriter) -> None:
        """Tuples of the sentences ``ids[offsets[s]:offsets[s+1]]``, written as row groups."""
        self.words += len(ids)
        longest = int(np.max(np.diff(offsets))) if len(offsets) > 1 else 0
        need = max(MIN_PAIR_CAPACITY, self.objective.rows_needed(longest, self.window))
        if need > self.capacity:
            self.capacity = need
            self.bufs = self.objective.buffers(self.capacity, self.window, self.k)
        s = 0
        while s < len(offsets) - 1:
            t = time.perf_counter()
            generated = self.objective.generate(
                ids, offsets, s, self.tables, self.window, self.k, self.state, self.bufs
            )
            used, n, n_pairs, n_kept = generated
            self.kernel_seconds += time.perf_counter() - t
            s += used
            self.kept += n_kept
            if n:
                self.objective.shuffle(self.bufs, n, self.state)
                self.rows += n
                self.pairs += n_pairs
                columns = self.objective.rows(self.bufs, n)  # views, no copies
                writer.write_batch(pa.RecordBatch.from_arrays([pa.array(c) for c in columns], schema=self.schema))


def _row_groups(corpus_file: str | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, offsets from 0) of each row group of a corpus shard; none for an empty shard."""
    groups = storage.iter_row_groups(corpus_file, ["ids"]) if corpus_file is not None else iter(())
    for group in groups:
        lists = group.column(0).combine_chunks()
        offsets = lists.offsets.to_numpy().astype(np.int64)
        offsets -= offsets[0]
        yield lists.flatten().to_numpy(), offsets


def generate_shard(
    corpus_file: str | None,
    out_file: str,
    params: TupleParams,
    epoch: int,
    shard_id: int,
    counter: progress.Counter | None = None,
) -> TupleStats:
    """Tuples for one (epoch, shard), streamed from the corpus shard to ``out_file``.

    Runs inside a Spark task (or anywhere: it only needs the files). ``corpus_file`` None
    means an empty shard, which still gets an (empty) tuples file. ``counter`` counts words done.
    """
    started = time.perf_counter()
    gen = _ShardGenerator(params, epoch, shard_id)
    with (
        storage.atomic_output(out_file) as sink,
        pq.ParquetWriter(sink, gen.schema, **PARQUET_OPTIONS) as writer,
    ):
        for ids, offsets in _row_groups(corpus_file):
            gen.feed(ids, offsets, writer)
            if counter is not None:
                counter.add(len(ids))
    pid, peak = memory.worker_sample()
    return TupleStats(
        shard_id,
        gen.rows,
        gen.pairs,
        gen.words,
        gen.kept,
        time.perf_counter() - started,
        gen.kernel_seconds,
        pid,
        peak,
        os.path.dirname(os.path.dirname(os.path.abspath(w2v_spark.__file__))),  # the zip or site-packages
        tasks.executor_id(),
        memory.jvm_sample(),
    )


def generate_epoch(
    spark: SparkSession,
    corpus_dir: str,
    tuples_dir: str,
    params: TupleParams,
    epoch: int,
    shards: list[ShardStats],
    shard_count: int,
    report_delay: float = 0.0,
) -> list[TupleStats]:
    """One Spark task per shard writes ``tuples_dir/epoch=E/part-NNNNN.parquet``; returns their stats."""
    present = {s.shard for s in shards if s.sentences}
    corpus = storage.normalize(corpus_dir)
    epoch_out = epoch_dir(tuples_dir, epoch)
    counters = storage.join(epoch_out, "_progress")  # Spark's readers skip _-prefixed names
    storage.delete_dir(epoch_out)

    def work(p: int) -> dict[str, Any]:
        src = storage.join(corpus, part_name(p)) if p in present else None
        counter = progress.Counter(counters, p)
        stats = generate_shard(src, storage.join(epoch_out, part_name(p)), params, epoch, p, counter)
        return dataclasses.asdict(stats)

    words = sum(s.words for s in shards)
    with progress.report(counters, f"EPOCH {epoch} - TUPLES", "words", words, words, report_delay):
        results = tasks.run_tasks(spark, shard_count, work)
    storage.delete_dir(counters)
    return [TupleStats(**{**r, "jvm": tuple(r["jvm"]) if r["jvm"] else None}) for r in results]


def epoch_dir(tuples_dir: str, epoch: int) -> str:
    return storage.join(tuples_dir, f"epoch={epoch}")


def read_tuples(
    spark: SparkSession, path: str, negative: int, window: int = 0, objective: str = "negative_sampling"
) -> DataFrame:
    """Tuples written by :func:`generate_epoch` with ``negative`` negatives per row (and, for an
    objective whose rows are windows, ``window``).

    Reading ``tuples/`` adds the ``epoch`` column (from the Hive-style ``epoch=E`` folders).
    """
    ddl = objectives.get(objective).ddl(window, negative)
    return spark.read.schema(ddl).parquet(storage.spark_uri(path))


def explode_triples(tuples: DataFrame, vocab: DataFrame) -> DataFrame:
    """The seed's literal examples: ``(context, target, label)`` with words as strings.

    Each true pair gives (center, target, 1) and one (center, n, 0) per negative, whatever the
    tuples' layout (one row per pair, or one per window: objectives.py). Following the seed's
    naming, ``context`` is the input word c (our ``center``). For inspection and tests: this is
    k+1 rows per pair, so don't run it over a whole corpus.
    """
    pairs = objectives.for_columns(tuples.columns).pairs(tuples)
    names = vocab.select("id", "word")
    c = names.withColumnRenamed("id", "center").withColumnRenamed("word", "context")
    t = names.withColumnRenamed("id", "target").withColumnRenamed("word", "target_word")
    return (
        pairs.join(F.broadcast(c), "center")
        .join(F.broadcast(t), "target")
        .select("context", F.col("target_word").alias("target"), F.col("label").cast("int"))
        .to(TRIPLE_STRUCT)
    )
