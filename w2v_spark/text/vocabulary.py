"""Stage 2: word counts, the id assignment, and the two distributions derived from counts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from w2v_spark.text.schemas import VOCAB_SCHEMA


def count_words(tokens: DataFrame, min_count: int) -> DataFrame:
    """``word string, count long`` for every word seen at least ``min_count`` times."""
    return (
        tokens.select(F.explode("tokens").alias("word"))
        .groupBy("word")
        .agg(F.count(F.lit(1)).alias("count"))
        .where(F.col("count") >= min_count)
    )


@dataclass(frozen=True)
class Vocabulary:
    """The vocabulary on the driver: ``words[i]`` has id i and ``counts[i]`` occurrences.

    Ids follow descending count, ties broken by the word (Unicode code point order, which is
    also Spark's UTF-8 byte order), so the same corpus always gives the same ids.
    """

    words: pa.StringArray
    counts: np.ndarray  # int64, non-increasing

    @property
    def size(self) -> int:
        return len(self.words)

    @property
    def total(self) -> int:
        """Occurrences of vocabulary words in the corpus (word2vec's train_words)."""
        return int(self.counts.sum())

    def digest(self) -> str:
        """SHA-256 of the words and their counts, in id order: what a checkpoint's rows belong to."""
        h = hashlib.sha256()
        for word in self.words.to_pylist():
            h.update(word.encode("utf-8") + b"\0")
        h.update(np.ascontiguousarray(self.counts, dtype="<i8").tobytes())
        return h.hexdigest()

    def to_arrow(self) -> pa.Table:
        return pa.table(
            {
                "word": self.words,
                "count": pa.array(self.counts, pa.int64()),
                "id": pa.array(np.arange(self.size, dtype=np.int32)),
            }
        )

    def to_frame(self, spark: SparkSession) -> DataFrame:
        """The vocabulary as a ``word, count, id`` DataFrame (the layout saved as vocab/)."""
        return spark.createDataFrame(self.to_arrow(), schema=VOCAB_SCHEMA)


def build_vocabulary(tokens: DataFrame, min_count: int, max_vocab_size: int = 0) -> Vocabulary:
    """Count words in Spark and bring the (sorted, optionally truncated) vocabulary to the driver.

    ``max_vocab_size`` > 0 keeps only that many most frequent words after ``min_count``
    (gensim's ``max_final_vocab``, not its counting-time pruning).
    """
    counts = count_words(tokens, min_count)
    if max_vocab_size:  # a single-stage top-K in Spark, so only the kept words travel
        counts = counts.orderBy(F.desc("count"), F.asc("word")).limit(max_vocab_size)
    # Sorting on the driver: a Spark orderBy costs a sampling job and a shuffle (seconds on a
    # fresh JVM) for a table that is collected anyway. Arrow compares strings as UTF-8
    # bytes, which is Spark's order and Unicode code point order.
    table = counts.toArrow()
    table = table.take(pc.sort_indices(table, sort_keys=[("count", "descending"), ("word", "ascending")]))
    words = table.column("word").combine_chunks()
    counts = table.column("count").to_numpy().astype(np.int64)
    return Vocabulary(words=words, counts=counts)


def read_words(vocab_file: str) -> pa.StringArray:
    """The ``word`` column of a vocabulary Parquet file (vocab/), in id order; for tasks."""
    from w2v_spark.runtime import storage

    fs, path = storage.filesystem(vocab_file)
    with fs.open_input_file(path) as fh:
        words: pa.StringArray = pq.read_table(fh, columns=["word"]).column(0).combine_chunks()
    return words


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Probability of keeping each occurrence of a word under frequent-word subsampling.

    word2vec's formula: with t = sample * total, keep = (sqrt(c / t) + 1) * t / c, capped at 1,
    so words rarer than about t are always kept and very frequent ones mostly dropped.
    ``sample`` = 0 keeps everything.
    """
    c = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones_like(c)
    t = sample * c.sum()
    keep: np.ndarray = np.minimum(1.0, (np.sqrt(c / t) + 1.0) * t / c)
    return keep


def noise_distribution(counts: np.ndarray, ns_exponent: float = 0.75) -> np.ndarray:
    """Negative-sampling probabilities, proportional to count ** ns_exponent."""
    w = np.asarray(counts, dtype=np.float64) ** ns_exponent
    p: np.ndarray = w / w.sum()
    return p
