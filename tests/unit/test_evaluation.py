"""The evaluators agree with gensim's on the same vectors, and the neighbour search finds planted neighbours."""

from __future__ import annotations

import numpy as np
import pytest

from w2v_spark.io import evaluation

gensim_utils = pytest.importorskip("gensim.test.utils")
from gensim.models import KeyedVectors  # noqa: E402

ANALOGIES = gensim_utils.datapath("questions-words.txt")
PAIRS = gensim_utils.datapath("wordsim353.tsv")


def _planted_vectors(seed: int = 0, d: int = 50) -> tuple[list[str], np.ndarray]:
    """Vectors for the evaluation words where some analogies and similarities hold by construction.

    Words come from both evaluation files (lower-cased, a few also upper-cased), shuffled, plus
    filler words, and some words are dropped so that questions and pairs get skipped. For half
    of the analogy lines, d is set near b - a + c, so accuracy is neither 0 nor 1; for half of
    the WordSim pairs, b is pulled towards a in proportion to the human score.
    """
    rng = np.random.default_rng(seed)
    words: set[str] = set()
    quads = []
    with open(ANALOGIES) as fh:
        for line in fh:
            parts = line.lower().split()
            if len(parts) == 4 and not line.startswith(":"):
                words.update(parts)
                quads.append(parts)
    pairs = []
    with open(PAIRS) as fh:
        for line in fh:
            parts = line.strip().split("\t")
            if len(parts) == 3 and not line.startswith("#"):
                words.update(p.lower() for p in parts[:2])
                pairs.append((parts[0].lower(), parts[1].lower(), float(parts[2])))
    vocab = sorted(words)
    rng.shuffle(vocab)
    vocab = vocab[: int(0.9 * len(vocab))]  # some questions and pairs become out-of-vocabulary
    vocab += [w.upper() for w in vocab[:40]] + [f"filler{i}" for i in range(300)]
    rng.shuffle(vocab)
    index = {w: i for i, w in enumerate(vocab)}
    vecs = rng.normal(size=(len(vocab), d)).astype(np.float32)
    for a, b, c, dd in quads[::2]:
        if all(w in index for w in (a, b, c, dd)):
            vecs[index[dd]] = vecs[index[b]] - vecs[index[a]] + vecs[index[c]] + rng.normal(scale=0.8, size=d)
    for a, b, score in pairs[::2]:
        if a in index and b in index and a != b:
            vecs[index[b]] += score / 10 * vecs[index[a]]
    return vocab, vecs


@pytest.fixture(scope="module")
def planted():
    words, vecs = _planted_vectors()
    kv = KeyedVectors(vecs.shape[1])
    kv.add_vectors(words, vecs)
    return words, vecs, kv


def test_analogies_agree_with_gensim(planted):
    words, vecs, kv = planted
    ours = evaluation.evaluate_analogies(words, vecs, ANALOGIES)
    score, sections = kv.evaluate_word_analogies(ANALOGIES)
    assert 0.05 < ours.accuracy < 0.95, "planted structure should make the score informative"
    assert ours.accuracy == pytest.approx(score, abs=0.005)
    by_name = {s["section"]: s for s in sections}
    assert ours.total == len(by_name["Total accuracy"]["correct"]) + len(by_name["Total accuracy"]["incorrect"])
    assert ours.skipped > 0
    for name, s in ours.sections.items():
        assert s.total == len(by_name[name]["correct"]) + len(by_name[name]["incorrect"])
        assert abs(s.correct - len(by_name[name]["correct"])) <= max(1, 0.005 * s.total)


def test_analogies_respect_restrict_vocab(planted):
    words, vecs, kv = planted
    ours = evaluation.evaluate_analogies(words, vecs, ANALOGIES, restrict_vocab=1000)
    score, _ = kv.evaluate_word_analogies(ANALOGIES, restrict_vocab=1000)
    assert ours.total < evaluation.evaluate_analogies(words, vecs, ANALOGIES).total
    assert ours.accuracy == pytest.approx(score, abs=0.005)


def test_pairs_agree_with_gensim(planted):
    words, vecs, kv = planted
    ours = evaluation.evaluate_pairs(words, vecs, PAIRS)
    pearson, spearman, oov = kv.evaluate_word_pairs(PAIRS)
    assert ours.spearman > 0.1, "planted structure should make the correlation positive"
    assert ours.spearman == pytest.approx(spearman.statistic, abs=0.005)
    assert ours.pearson == pytest.approx(pearson.statistic, abs=0.005)
    assert ours.oov_ratio == pytest.approx(oov, abs=1e-9) and oov > 0


def test_spearman_ranks_handle_ties_like_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, 200).astype(float)  # many ties
    y = x + rng.integers(0, 3, 200)
    ours = evaluation._pearson(evaluation._ranks(x), evaluation._ranks(y))
    assert ours == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)


def test_nearest_finds_planted_neighbours_and_rejects_unknown_words():
    rng = np.random.default_rng(2)
    words = ["kernel", "Linux", "linux", "driver", "module", "banana"]
    vecs = rng.normal(size=(6, 20)).astype(np.float32)
    vecs[3] = vecs[0] + 0.1 * rng.normal(size=20)  # driver ~ kernel
    vecs[4] = vecs[0] + 0.3 * rng.normal(size=20)  # module a bit further
    found = evaluation.nearest(words, vecs, "kernel", k=2)
    assert [w for w, _ in found] == ["driver", "module"]
    assert found[0][1] > found[1][1] > 0.8
    assert all(w != "kernel" for w, _ in evaluation.nearest(words, vecs, "kernel", k=10))
    assert len(evaluation.nearest(words, vecs, "kernel", k=10)) == 5
    assert evaluation.find_word(words, "linux") == 2  # exact match first
    assert evaluation.find_word(words, "LINUX") == 1  # else the first case-insensitive match
    with pytest.raises(KeyError):
        evaluation.nearest(words, vecs, "nonexistent")


def test_pca_recovers_a_planted_plane():
    from w2v_spark.cli.plots import pca_2d

    rng = np.random.default_rng(3)
    plane = rng.normal(size=(200, 2)) * [10.0, 3.0]  # two strong directions
    basis = np.linalg.qr(rng.normal(size=(30, 30)))[0][:2]  # embedded in 30 dimensions
    x = plane @ basis + 0.01 * rng.normal(size=(200, 30)) + 5.0
    xy = pca_2d(x)
    # up to sign, PC 1 is the first planted coordinate and PC 2 the second
    assert abs(np.corrcoef(xy[:, 0], plane[:, 0])[0, 1]) > 0.999
    assert abs(np.corrcoef(xy[:, 1], plane[:, 1])[0, 1]) > 0.999
