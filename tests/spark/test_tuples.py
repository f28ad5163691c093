"""Invariants of the training tuples, from the kernel and from the Spark stage that writes them."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality

from w2v_spark import kernels
from w2v_spark.runtime import storage
from w2v_spark.text import corpus
from w2v_spark.text.vocabulary import build_vocabulary, keep_probabilities, noise_distribution
from w2v_spark.train import objectives, tuples


@pytest.fixture(scope="module")
def unique_word_corpus(spark, tmp_path_factory):
    """Every word occurs once, so a word id gives back its sentence and position."""
    rng = np.random.default_rng(4)
    sentences = [[f"w{s}_{i}" for i in range(rng.integers(1, 25))] for s in range(300)]
    token_df = spark.createDataFrame([(s,) for s in sentences], "tokens array<string>")
    vocab = build_vocabulary(token_df, min_count=1)
    vocab_dir = str(tmp_path_factory.mktemp("vocab"))
    storage.write_table(vocab.to_arrow(), vocab_dir)
    corpus_dir = str(tmp_path_factory.mktemp("corpus"))
    encoded = corpus.encode(token_df, storage.join(vocab_dir, "part-00000.parquet"))
    shards = corpus.write_corpus(corpus.shard(encoded, 3), corpus_dir)
    where = {}
    index = {w: i for i, w in enumerate(vocab.words.to_pylist())}
    for s, sent in enumerate(sentences):
        for i, w in enumerate(sent):
            where[index[w]] = (s, i)
    return vocab, shards, corpus_dir, where


def _epoch(spark, corpus, tmp_path, *, seed=1, epoch=1, window=3, negative=4, name="t", objective="negative_sampling"):
    vocab, shards, corpus_dir, _ = corpus
    prob, alias = kernels.build_alias_table(noise_distribution(vocab.counts))
    tables = str(tmp_path / f"{name}-tables.npy")
    tuples.write_tables(tables, keep_probabilities(vocab.counts, 0.0), prob, alias)
    params = tuples.TupleParams(window=window, negative=negative, seed=seed, tables=tables, objective=objective)
    out = str(tmp_path / name)
    stats = tuples.generate_epoch(spark, corpus_dir, out, params, epoch, shards, 3)
    return stats, tuples.epoch_dir(out, epoch)


def test_spark_stage_writes_one_valid_shard_per_partition(spark, unique_word_corpus, tmp_path):
    vocab, shards, _, where = unique_word_corpus
    assert [s.shard for s in shards] == [0, 1, 2]
    assert sum(s.words for s in shards) == vocab.size
    stats, path = _epoch(spark, unique_word_corpus, tmp_path)
    files = sorted(p.name for p in (tmp_path / "t" / "epoch=1").iterdir())
    assert files == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    table = pq.read_table(path)
    assert table.num_rows == sum(s.rows for s in stats) == sum(s.pairs for s in stats) > 1000
    via_spark = tuples.read_tuples(spark, str(tmp_path / "t"), negative=4)  # the Hive-style folder adds `epoch`
    assert via_spark.columns == ["center", "target", "negative_1", "negative_2", "negative_3", "negative_4", "epoch"]
    assert via_spark.where("epoch = 1").count() == table.num_rows
    C = table.column("center").to_numpy()
    T = table.column("target").to_numpy()
    N = np.stack([table.column(f"negative_{j}").to_numpy() for j in range(1, 5)], axis=1)
    assert N.shape[1] == 4
    for c, t, negs in zip(C, T, N, strict=True):
        (sc, ic), (st, it) = where[c], where[t]
        assert sc == st and 1 <= abs(ic - it) <= 3
        for n in negs:
            sn, i_n = where[n]
            assert n != c and not (sn == sc and abs(i_n - ic) <= 3)


def test_same_seed_epoch_and_shard_give_the_same_tuples(spark, unique_word_corpus, tmp_path):
    _, a = _epoch(spark, unique_word_corpus, tmp_path, name="a")
    _, b = _epoch(spark, unique_word_corpus, tmp_path, name="b")
    _, other_epoch = _epoch(spark, unique_word_corpus, tmp_path, epoch=2, name="c")
    _, other_seed = _epoch(spark, unique_word_corpus, tmp_path, seed=2, name="d")
    ta = pq.read_table(a)
    assert ta.equals(pq.read_table(b))
    assert not ta.equals(pq.read_table(other_epoch))
    assert not ta.equals(pq.read_table(other_seed))


def test_explode_triples_gives_the_seed_examples(spark):
    tuple_df = spark.createDataFrame([(0, 1, 2, 3), (1, 0, 3, 3)], objectives.get("negative_sampling").ddl(0, 2))
    vocab_df = spark.createDataFrame(
        [("a", 9, 0), ("b", 5, 1), ("c", 2, 2), ("d", 1, 3)], "word string, count long, id int"
    )
    expected = spark.createDataFrame(
        [("a", "b", 1), ("a", "c", 0), ("a", "d", 0), ("b", "a", 1), ("b", "d", 0), ("b", "d", 0)],
        "context string, target string, label int",
    )
    assert_df_equality(
        tuples.explode_triples(tuple_df, vocab_df), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_window_tuples_keep_the_seeds_rule_through_their_triples(spark, unique_word_corpus, tmp_path):
    """batch_negative_sampling: one row per window; its literal pairs obey the rule pair by pair."""
    vocab, _, _, where = unique_word_corpus
    stats, path = _epoch(spark, unique_word_corpus, tmp_path, objective="batch_negative_sampling", name="w")
    table = pq.read_table(path)
    assert table.column_names[:2] == ["target", "context_1"] and table.num_rows == sum(s.rows for s in stats)
    pairs = sum(s.pairs for s in stats)
    assert pairs > 2 * table.num_rows  # several pairs a row, counted as pairs
    via_spark = tuples.read_tuples(spark, path, negative=4, window=3, objective="batch_negative_sampling")
    vocab_df = spark.createDataFrame(
        [(w, int(c), i) for i, (w, c) in enumerate(zip(vocab.words.to_pylist(), vocab.counts, strict=True))],
        "word string, count long, id int",
    )
    triples = tuples.explode_triples(via_spark, vocab_df).collect()
    assert sum(t.label for t in triples) == pairs and len(triples) == 5 * pairs
    index = {w: i for i, w in enumerate(vocab.words.to_pylist())}
    for t in triples:
        (sc, ic), (st, it) = where[index[t.context]], where[index[t.target]]
        if t.label == 1:
            assert sc == st and 1 <= abs(ic - it) <= 3
        else:
            assert t.target != t.context and not (st == sc and abs(it - ic) <= 3)


def test_explode_triples_of_windows(spark):
    ddl = objectives.get("batch_negative_sampling").ddl(1, 2)
    windows = spark.createDataFrame([(0, 1, -1, 2, 3), (1, 0, 2, 3, 3)], ddl)
    vocab_df = spark.createDataFrame(
        [("a", 9, 0), ("b", 5, 1), ("c", 2, 2), ("d", 1, 3)], "word string, count long, id int"
    )
    expected = spark.createDataFrame(
        [("b", "a", 1), ("b", "c", 0), ("b", "d", 0),
         ("a", "b", 1), ("a", "d", 0), ("a", "d", 0), ("c", "b", 1), ("c", "d", 0), ("c", "d", 0)],
        "context string, target string, label int",
    )  # fmt: skip
    assert_df_equality(tuples.explode_triples(windows, vocab_df), expected, ignore_row_order=True, ignore_nullable=True)
