import numpy as np
import pytest
from chispa import assert_df_equality

from w2v_spark.text.schemas import VOCAB_SCHEMA
from w2v_spark.text.vocabulary import build_vocabulary, count_words, keep_probabilities, noise_distribution


def _tokens(spark, sentences):
    return spark.createDataFrame([(s.split(),) for s in sentences], "tokens array<string>")


SENTENCES = ["b a c a", "c b a d", "e b a", "d c"]  # a:4 b:3 c:3 d:2 e:1


def test_counts_respect_min_count(spark):
    actual = count_words(_tokens(spark, SENTENCES), min_count=2)
    expected = spark.createDataFrame([("a", 4), ("b", 3), ("c", 3), ("d", 2)], "word string, count long")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_ids_by_descending_count_then_word(spark):
    vocab = build_vocabulary(_tokens(spark, SENTENCES), min_count=1)
    expected = spark.createDataFrame([("a", 4, 0), ("b", 3, 1), ("c", 3, 2), ("d", 2, 3), ("e", 1, 4)], VOCAB_SCHEMA)
    assert_df_equality(vocab.to_frame(spark), expected)
    assert vocab.total == 13


def test_max_vocab_size_keeps_the_most_frequent(spark):
    vocab = build_vocabulary(_tokens(spark, SENTENCES), min_count=1, max_vocab_size=3)
    assert vocab.words.to_pylist() == ["a", "b", "c"]
    assert vocab.counts.tolist() == [4, 3, 3]


def test_keep_probabilities_follow_word2vec_formula():
    counts = np.array([1_000_000, 10_000, 100, 1])
    total = counts.sum()
    t = 1e-3 * total
    expected = np.minimum(1.0, (np.sqrt(counts / t) + 1) * t / counts)
    np.testing.assert_allclose(keep_probabilities(counts, 1e-3), expected)
    assert keep_probabilities(counts, 1e-3)[0] < 0.1  # very frequent words are mostly dropped
    assert keep_probabilities(counts, 1e-3)[-1] == 1.0  # rare words are always kept
    assert np.all(keep_probabilities(counts, 0.0) == 1.0)


@pytest.mark.parametrize("exponent", [0.75, 1.0, 0.0])
def test_noise_distribution_is_normalized_power_of_counts(exponent):
    counts = np.array([81, 16, 1])
    p = noise_distribution(counts, exponent)
    np.testing.assert_allclose(p, counts**exponent / (counts**exponent).sum())
