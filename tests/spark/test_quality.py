"""End to end on planted structure: sentences drawn from disjoint topic vocabularies."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.helpers import TOPICS, WORDS_PER_TOPIC, planted_corpus, planted_run, topic_purity
from w2v_spark.config import TrainConfig
from w2v_spark.errors import DataError
from w2v_spark.job.run import read_corpus, run


@pytest.fixture(scope="module")
def trained(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("planted")
    corpus = base / "corpus.txt"
    planted_corpus(corpus)
    cfg = TrainConfig(
        input=(str(corpus),), output=str(base / "out"), partitions=2, vector_size=24, window=4,
        negative=5, min_count=1, sample=0.0, epochs=4, alpha=0.025, seed=3,
    )  # fmt: skip
    metrics = run(cfg, spark, read_corpus(spark, cfg))
    table = pq.read_table(base / "out" / "vectors")
    vectors = np.stack(table.column("vector").to_numpy(zero_copy_only=False)).astype(np.float64)
    return metrics, table.column("word").to_pylist(), vectors


def test_neighbours_share_their_topic(trained):
    _, words, vectors = trained
    assert len(words) == TOPICS * WORDS_PER_TOPIC
    purity = topic_purity(words, vectors)
    random_purity = topic_purity(words, np.random.default_rng(0).normal(size=vectors.shape))
    chance = (WORDS_PER_TOPIC - 1) / (TOPICS * WORDS_PER_TOPIC - 1)
    assert random_purity < 0.45  # the threshold below is out of reach of untrained vectors
    assert purity >= 0.9, f"topic purity {purity:.2f} (random {random_purity:.2f}, chance {chance:.2f})"


def test_loss_falls_and_metrics_are_complete(trained):
    metrics, _, _ = trained
    losses = [e["loss"] for e in metrics["epochs"]]
    assert len(losses) == 4 and losses[-1] < losses[0]
    for e in metrics["epochs"]:
        assert e["examples"] > 0 and e["words"] == 40_000 and e["seconds"] > 0 and e["words_per_sec"] > 0


def test_too_small_vocabulary_is_a_clear_error_and_no_success_marker(spark, tmp_path):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("a b c\n" * 20)
    cfg = TrainConfig(input=(str(corpus),), output=str(tmp_path / "out"), min_count=1, window=5)
    with pytest.raises(DataError, match="only 3 words, too few for negative sampling"):
        run(cfg, spark, read_corpus(spark, cfg))
    assert not (tmp_path / "out" / "_SUCCESS").exists()


def test_full_softmax_objective_learns_the_topics(spark, tmp_path):
    metrics, words, vectors = planted_run(spark, tmp_path, objective="softmax", epochs=3)
    assert metrics["config"]["objective"] == "softmax"
    losses = [e["loss"] for e in metrics["epochs"]]
    assert losses[-1] < losses[0] < np.log(len(words))  # below the loss of a uniform guess
    assert topic_purity(words, vectors) >= 0.9


def test_full_softmax_refuses_a_large_vocabulary(spark, tmp_path, monkeypatch):
    from w2v_spark.train import objectives

    monkeypatch.setattr(objectives.Softmax, "max_vocab", 50)
    with pytest.raises(DataError, match="the softmax objective is limited to 50 words and the vocabulary has 100"):
        planted_run(spark, tmp_path, objective="softmax")
    assert not (tmp_path / "out" / "_SUCCESS").exists()


@pytest.mark.parametrize("objective", ["negative_sampling", "batch_negative_sampling"])
def test_each_negative_sampling_objective_learns_the_topics(spark, tmp_path, objective):
    metrics, words, vectors = planted_run(spark, tmp_path, objective=objective)
    losses = [e["loss"] for e in metrics["epochs"]]
    assert metrics["config"]["objective"] == objective and losses[-1] < losses[0]
    assert topic_purity(words, vectors) >= 0.9


def test_eight_shards_keep_the_planted_structure(spark, tmp_path):
    """Many shards must not break training: the same corpus on 8 shards stays as clean as on 2."""
    _, words, vectors = planted_run(spark, tmp_path, partitions=8)
    assert topic_purity(words, vectors) >= 0.9
