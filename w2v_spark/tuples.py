"""Stage 3: id-encoded sentences in training shards, and each epoch's training tuples.

Encoding runs as ``mapInArrow`` with pyarrow's vectorized hash lookup (no Python per token);
every Spark job here goes through the DataFrame API, so the stage runs on Spark Connect too.
The encoded corpus is written once, one Parquet file per training shard; then, every epoch,
one Spark task per shard streams its sentences through the compiled tuple generator and
writes ``tuples/epoch=E/part-NNNNN.parquet`` with pyarrow. Writing from the task rather than
through Spark's row-based Parquet writer is about 2-4x faster here for this narrow integer
data (measured: 10M rows in 2.9 s vs 5-11 s on 2 cores).

Determinism: a sentence's shard and its place in the shard follow its position in the input
(``seq``), and a shard's random draws come only from (seed, epoch, shard). A retried or
re-executed task therefore rewrites byte-for-byte the same file, via a temporary name and a
rename, so a half-written file never appears under the final name.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from w2v_spark import kernels, memory, objectives, progress, storage, tasks
from w2v_spark.schemas import CORPUS_ARROW_SCHEMA, TRIPLE_STRUCT
from w2v_spark.vocabulary import read_words

__all__ = [
    "ShardStats",
    "TupleParams",
    "TupleStats",
    "encode",
    "epoch_dir",
    "explode_triples",
    "generate_epoch",
    "generate_shard",
    "read_tuples",
    "shard",
    "write_corpus",
    "write_tables",
]

# Parquet settings for the transient shards: see the module docstring.
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "none",
    "use_dictionary": False,
    "write_statistics": False,
}
SHARD_STATS_SCHEMA = "shard int, sentences long, words long"
# Pairs the tuple buffer holds (it grows only to fit one maximal sentence); each fill is
# shuffled and becomes one Parquet row group, which bounds the memory of every reader of the shard.
MIN_PAIR_CAPACITY = 1 << 18


def part_name(shard: int) -> str:
    return f"part-{shard:05d}.parquet"


def encode(tokens: DataFrame, vocab_file: str) -> DataFrame:
    """``tokens array<string>`` to ``ids array<int>``, dropping out-of-vocabulary words.

    ``vocab_file`` is the vocabulary's Parquet file (``word`` in id order), which every task
    reads once: files in the run directory travel to tasks on classic and Connect sessions alike.
    Sentences left empty are dropped.
    """

    def encode_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        vocab = read_words(vocab_file)
        for batch in batches:
            lists = batch.column(0)
            flat = lists.flatten()
            ids = pc.index_in(flat, value_set=vocab.cast(flat.type))
            valid = pc.is_valid(ids).to_numpy(zero_copy_only=False)
            parents = pc.list_parent_indices(lists).to_numpy()
            lengths = np.bincount(parents[valid], minlength=len(lists))
            offsets = np.zeros(len(lists) + 1, dtype=np.int32)
            np.cumsum(lengths, out=offsets[1:])
            values = pc.drop_null(ids).cast(pa.int32())
            out = pa.ListArray.from_arrays(pa.array(offsets), values)
            keep = lengths > 0
            yield pa.RecordBatch.from_arrays([out.filter(pa.array(keep))], names=["ids"])

    return tokens.mapInArrow(encode_batches, "ids array<int>")


def shard(encoded: DataFrame, partitions: int, seed: int = 1) -> DataFrame:
    """Spread sentences round-robin over ``partitions`` shards, in a seeded random order inside each.

    Adds ``seq`` (the sentence's position: input split, then row) and ``shard``; the result
    has ``partitions`` Spark partitions, partition p holding shard p ordered by a hash of
    (seq, seed). Why shuffled: trained in input order, the model keeps adapting to the document
    at hand and forgets the rest (its loss even rises as the learning rate decays); a random
    sentence order made the loss fall every epoch and raised WordSim-353 by about 0.05
    (docs/averaging-experiments.md, section 2). The order is the same every epoch and rerun;
    the pairs made from it are shuffled again, a buffer at a time, by the tuple generator.
    """
    seq = F.monotonically_increasing_id()
    return (
        encoded.select(seq.alias("seq"), "ids")
        .withColumn("shard", F.pmod(F.col("seq"), F.lit(partitions)).cast("int"))
        .repartitionById(partitions, "shard")
        .sortWithinPartitions("shard", F.xxhash64("seq", F.lit(seed)), "seq")
    )


@dataclass(frozen=True)
class ShardStats:
    shard: int
    sentences: int
    words: int


def write_corpus(sharded: DataFrame, corpus_dir: str) -> list[ShardStats]:
    """Write each shard of ``shard()``'s output to ``corpus_dir/part-NNNNN.parquet``."""
    out = storage.normalize(corpus_dir)

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        stats: dict[int, list[int]] = {}
        with ExitStack() as open_shard:  # holds the current shard's file; closing it commits
            writer: pq.ParquetWriter | None = None
            current = -1
            for batch in batches:
                shard_ids = batch.column("shard").to_numpy()
                # Normally one shard per task; split at shard changes in case Spark merged some.
                cuts = np.flatnonzero(np.diff(shard_ids)) + 1
                for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(shard_ids)], strict=True):
                    s = int(shard_ids[lo])
                    if s != current:
                        open_shard.close()
                        sink = open_shard.enter_context(storage.atomic_output(storage.join(out, part_name(s))))
                        writer = open_shard.enter_context(
                            pq.ParquetWriter(sink, CORPUS_ARROW_SCHEMA, **PARQUET_OPTIONS)
                        )
                        current = s
                        stats.setdefault(s, [0, 0])
                    part = batch.slice(lo, hi - lo)
                    assert writer is not None
                    writer.write_batch(part.select(["seq", "ids"]).cast(CORPUS_ARROW_SCHEMA))
                    stats[s][0] += len(part)
                    stats[s][1] += len(part.column("ids").flatten())
        if stats:
            keys = sorted(stats)
            yield pa.RecordBatch.from_pydict(
                {
                    "shard": pa.array(keys, pa.int32()),
                    "sentences": pa.array([stats[k][0] for k in keys], pa.int64()),
                    "words": pa.array([stats[k][1] for k in keys], pa.int64()),
                }
            )

    rows = sharded.mapInArrow(write, SHARD_STATS_SCHEMA).collect()
    seen = [r["shard"] for r in rows]
    if len(seen) != len(set(seen)):
        raise RuntimeError(f"a corpus shard was written by two tasks ({sorted(seen)}); please report this")
    return sorted((ShardStats(r["shard"], r["sentences"], r["words"]) for r in rows), key=lambda s: s.shard)


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


def generate_shard(
    corpus_file: str | None, out_file: str, params: TupleParams, epoch: int, shard_id: int,
    counter: progress.Counter | None = None,
) -> TupleStats:  # fmt: skip
    """Tuples for one (epoch, shard), streamed from the corpus shard to ``out_file``.

    Runs inside a Spark task (or anywhere: it only needs the files). ``corpus_file`` None
    means an empty shard, which still gets an (empty) tuples file. ``counter`` counts words done.
    """
    started = time.perf_counter()
    keep_prob, noise_prob, noise_alias = storage.read_arrays(params.tables, 3)
    tables = (keep_prob, noise_prob, noise_alias)
    objective = objectives.get(params.objective)
    k, window = params.negative, params.window
    kernel_seconds = 0.0
    state = kernels.derive_seed(params.seed, epoch, shard_id)
    rows = pairs = words = kept = 0
    capacity = 0
    bufs: list[np.ndarray] = []
    schema = objective.arrow_schema(window, k)
    with (
        storage.atomic_output(out_file) as sink,
        pq.ParquetWriter(sink, schema, **PARQUET_OPTIONS) as writer,
    ):
        groups = storage.iter_row_groups(corpus_file, ["ids"]) if corpus_file is not None else iter(())
        for group in groups:
            lists = group.column(0).combine_chunks()
            ids = lists.flatten().to_numpy()
            offsets = lists.offsets.to_numpy().astype(np.int64)
            offsets -= offsets[0]
            words += len(ids)
            longest = int(np.max(np.diff(offsets))) if len(offsets) > 1 else 0
            need = max(MIN_PAIR_CAPACITY, objective.rows_needed(longest, window))
            if need > capacity:
                capacity = need
                bufs = objective.buffers(capacity, window, k)
            s = 0
            while s < len(offsets) - 1:
                t = time.perf_counter()
                used, n, n_pairs, n_kept = objective.generate(ids, offsets, s, tables, window, k, state, bufs)
                kernel_seconds += time.perf_counter() - t
                s += used
                kept += n_kept
                if n:
                    objective.shuffle(bufs, n, state)
                    rows += n
                    pairs += n_pairs
                    columns = objective.rows(bufs, n)  # views, no copies
                    writer.write_batch(pa.RecordBatch.from_arrays([pa.array(c) for c in columns], schema=schema))
            if counter is not None:
                counter.add(len(ids))
    pid, peak = memory.worker_sample()
    return TupleStats(
        shard_id, rows, pairs, words, kept, time.perf_counter() - started, kernel_seconds, pid, peak,
        os.path.dirname(os.path.dirname(os.path.abspath(kernels.__file__))), tasks.executor_id(), memory.jvm_sample(),
    )  # fmt: skip


def generate_epoch(
    spark: SparkSession,
    corpus_dir: str,
    tuples_dir: str,
    params: TupleParams,
    epoch: int,
    shards: list[ShardStats],
    partitions: int,
    report_delay: float = 0.0,
) -> list[TupleStats]:
    """One Spark task per shard writes ``tuples_dir/epoch=E/part-NNNNN.parquet``; returns their stats."""
    present = {s.shard for s in shards if s.sentences}
    corpus = storage.normalize(corpus_dir)
    out = storage.join(tuples_dir, f"epoch={epoch}")
    counters = storage.join(out, "_progress")  # Spark's readers skip _-prefixed names
    storage.delete_dir(out)

    def work(p: int) -> dict[str, Any]:
        src = storage.join(corpus, part_name(p)) if p in present else None
        counter = progress.Counter(counters, p)
        stats = generate_shard(src, storage.join(out, part_name(p)), params, epoch, p, counter)
        return dataclasses.asdict(stats)

    words = sum(s.words for s in shards)
    with progress.report(counters, f"EPOCH {epoch} - TUPLES", "words", words, words, report_delay):
        results = tasks.run_tasks(spark, partitions, work)
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
