import numpy as np
import pytest

from w2v_spark.text.vocabulary import keep_probabilities, noise_distribution


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
