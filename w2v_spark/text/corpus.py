"""Stage 3a: the id-encoded corpus, in training shards written once per run.

Encoding runs as ``mapInArrow`` with pyarrow's vectorized hash lookup (no Python per token);
every Spark job here goes through the DataFrame API, so the stage runs on Spark Connect too.
The encoded corpus is written once, one Parquet file per training shard, which every epoch's
tuple tasks (tuples.py) read back.

Determinism: a sentence's shard and its place in the shard follow its position in the input
(``seq``), so a rerun writes the same shards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from w2v_spark.runtime import storage, tasks
from w2v_spark.text.schemas import CORPUS_ARROW_SCHEMA
from w2v_spark.text.vocabulary import read_words

__all__ = ["PARQUET_OPTIONS", "ShardStats", "encode", "part_name", "shard", "write_corpus"]

# Parquet settings for the transient shard files (corpus and tuples): uncompressed, no dictionary,
# the fastest to write and read back for narrow integer columns (docs/architecture.md#tuples).
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "none",
    "use_dictionary": False,
    "write_statistics": False,
}
SHARD_STATS_SCHEMA = "shard int, sentences long, words long"


def part_name(shard: int) -> str:
    return f"part-{shard:05d}.parquet"


def encode(tokens: DataFrame, vocab_file: str, objective: str = "") -> DataFrame:
    """``tokens array<string>`` to ``ids array<int>``, dropping out-of-vocabulary words.

    ``vocab_file`` is the vocabulary's Parquet file (``word`` in id order), which every task
    reads once: files in the run directory travel to tasks on classic and Connect sessions alike.
    Sentences left empty are dropped. ``objective``, if given, names the objective whose
    compiled kernels each worker loads meanwhile, for the first epoch's tasks.
    """

    def encode_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # The same worker processes generate the tuples next: have their imports ready by then.
        tasks.preload(
            "w2v_spark.train.tuples",
            "w2v_spark.train.rounds",
            then="w2v_spark.train.objectives:warm_up" if objective else "",
            args=(objective,),
        )
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
            encoded = pa.ListArray.from_arrays(pa.array(offsets), values)
            keep = lengths > 0
            yield pa.RecordBatch.from_arrays([encoded.filter(pa.array(keep))], names=["ids"])

    return tokens.mapInArrow(encode_batches, "ids array<int>")


def shard(encoded: DataFrame, shards: int, seed: int = 1) -> DataFrame:
    """Spread sentences round-robin over ``shards`` shards, in a seeded random order inside each.

    Adds ``seq`` (the sentence's position: input split, then row) and ``shard``; the result
    has ``shards`` Spark partitions, partition p holding shard p ordered by a hash of
    (seq, seed). Why shuffled: trained in input order, the model keeps adapting to the document
    at hand and forgets the rest (its loss even rises as the learning rate decays); a random
    sentence order made the loss fall every epoch and raised WordSim-353 by about 0.05
    (docs/design/experiment-log.md#sentence-order). The order is the same every epoch and rerun;
    the pairs made from it are shuffled again, a buffer at a time, by the tuple generator.
    """
    seq = F.monotonically_increasing_id()
    return (
        encoded.select(seq.alias("seq"), "ids")
        .withColumn("shard", F.pmod(F.col("seq"), F.lit(shards)).cast("int"))
        .repartitionById(shards, "shard")
        .sortWithinPartitions("shard", F.xxhash64("seq", F.lit(seed)), "seq")
    )


@dataclass(frozen=True)
class ShardStats:
    shard: int
    sentences: int
    words: int


def write_corpus(sharded: DataFrame, corpus_dir: str) -> list[ShardStats]:
    """Write each shard of ``shard()``'s output to ``corpus_dir/part-NNNNN.parquet``."""
    root = storage.normalize(corpus_dir)

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
                        sink = open_shard.enter_context(storage.atomic_output(storage.join(root, part_name(s))))
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
