"""Invariants of the training tuples, from the kernel and from the Spark stage that writes them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from w2v_spark import kernels
from w2v_spark.text.vocabulary import keep_probabilities, noise_distribution
from w2v_spark.train import objectives, tuples


def _one_sentence(sentence, keep, prob, alias, window, negative, state):
    ids = np.asarray(sentence, dtype=np.int32)
    offsets = np.array([0, len(ids)], dtype=np.int64)
    cap = max(16, len(ids) * 2 * window)
    C, T, N = np.empty(cap, np.int32), np.empty(cap, np.int32), np.empty((negative, cap), np.int32)
    used, n, kept = kernels.generate_tuples(ids, offsets, 0, keep, prob, alias, window, negative, state, C, T, N)
    assert used == 1
    return C[:n], T[:n], N[:, :n].T, kept


def test_pairs_within_window_and_negatives_outside_it():
    """Sentences are permutations of distinct words from a tiny vocabulary, so positions are known
    and most noise draws land in the window: the rejection is exercised thousands of times."""
    rng = np.random.default_rng(0)
    V, window, negative = 14, 3, 4
    keep = np.ones(V)
    prob, alias = kernels.build_alias_table(np.arange(V, 0, -1) ** 0.75)
    state = kernels.derive_seed(5)
    widths = []
    negatives_seen = 0
    for _ in range(2000):
        sentence = rng.permutation(V)[: rng.integers(2, 13)]
        pos = {int(w): i for i, w in enumerate(sentence)}
        C, T, N, kept = _one_sentence(sentence, keep, prob, alias, window, negative, state)
        assert kept == len(sentence)
        by_center: dict[int, int] = {}
        for c, t, negs in zip(C, T, N, strict=True):
            d = abs(pos[int(c)] - pos[int(t)])
            assert 1 <= d <= window, "true pair outside the window"
            by_center[int(c)] = max(by_center.get(int(c), 0), d)
            for n in negs:
                assert n != c, "negative equals the center"
                assert not (int(n) in pos and abs(pos[int(n)] - pos[int(c)]) <= window), "negative inside the window"
                negatives_seen += 1
        for c, b in by_center.items():
            i = pos[c]
            if i >= window and len(sentence) - 1 - i >= window:  # room on both sides: max distance is b
                widths.append(b)
    assert negatives_seen > 20_000
    freq = np.bincount(widths, minlength=window + 1)[1:] / len(widths)
    np.testing.assert_allclose(freq, 1 / window, atol=0.03)  # effective window uniform on 1..window


def _zipf_corpus(seed: int, vocab: int, size: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """i.i.d. word ids with P(id) proportional to 1 / (id + shift), and their counts."""
    p = 1.0 / (np.arange(vocab) + shift)
    corpus = np.random.default_rng(seed).choice(vocab, size, p=p / p.sum()).astype(np.int32)
    return corpus, np.bincount(corpus, minlength=vocab).astype(np.float64)


def test_negative_frequencies_follow_count_to_the_075():
    V = 1000
    corpus, counts = _zipf_corpus(seed=1, vocab=V, size=300_000, shift=10.0)
    prob, alias = kernels.build_alias_table(noise_distribution(counts, 0.75))
    offsets = np.arange(0, corpus.size + 1, 50, dtype=np.int64)
    cap = 1 << 20
    C, T, N = np.empty(cap, np.int32), np.empty(cap, np.int32), np.empty((5, cap), np.int32)
    state = kernels.derive_seed(2)
    draws = np.zeros(V)
    s = 0
    while s < offsets.size - 1:
        used, n, _ = kernels.generate_tuples(corpus, offsets, s, np.ones(V), prob, alias, 2, 5, state, C, T, N)
        draws += np.bincount(N[:, :n].ravel(), minlength=V)
        s += used
    observed = draws / draws.sum()
    noise = counts**0.75 / (counts**0.75).sum()
    # Rejection removes w whenever it is among the 2*window+1 = 5 words around the center; the
    # corpus is i.i.d., so that happens with probability 1 - (1 - f_w)**5.
    f = counts / counts.sum()
    expected = noise * (1 - f) ** 5
    expected /= expected.sum()
    assert 0.5 * np.abs(observed - expected).sum() < 0.006  # total variation distance
    assert 0.5 * np.abs(observed - noise).sum() < 0.02  # and close to count**0.75 itself
    ok = draws > 200
    slope = np.polyfit(np.log(counts[ok]), np.log(observed[ok]), 1)[0]
    assert 0.72 < slope < 0.78, slope


def test_subsampling_keeps_words_at_the_formula_rate():
    V = 200
    corpus, counts = _zipf_corpus(seed=2, vocab=V, size=400_000, shift=1.0)
    keep = keep_probabilities(counts, 1e-2)
    assert keep[0] < 0.5
    offsets = np.arange(0, corpus.size + 1, 1000, dtype=np.int64)
    cap = 1 << 21
    C, T, N = np.empty(cap, np.int32), np.empty(cap, np.int32), np.empty((1, cap), np.int32)
    prob, alias = kernels.build_alias_table(np.ones(V))
    state = kernels.derive_seed(3)
    # window=1: a kept word inside its (kept) sentence is the center of exactly two pairs.
    used, n, kept_total = kernels.generate_tuples(corpus, offsets, 0, keep, prob, alias, 1, 1, state, C, T, N)
    assert used == offsets.size - 1
    kept = np.bincount(C[:n], minlength=V) / 2.0
    expected = keep * counts
    assert kept_total == pytest.approx(expected.sum(), rel=0.01)
    sd = np.sqrt(counts * keep * (1 - keep)) + 1.0
    assert np.all(np.abs(kept[:20] - expected[:20]) < 5 * sd[:20] + 400 / 2), (kept[:5], expected[:5])


@pytest.mark.parametrize("name", ["batch_negative_sampling", "negative_sampling"])
def test_the_workers_warm_up_loads_the_kernels_a_shard_then_uses(name, tmp_path):
    """objectives.warm_up must call each kernel with the argument types of a real shard (read-only
    ids from Parquet, the tables file's arrays): numba compiles a new variant for other types, and
    the warm-up would then load nothing the first epoch uses."""
    import pyarrow as pa

    from w2v_spark.text.schemas import CORPUS_ARROW_SCHEMA
    from w2v_spark.train import rounds

    used: list[Any] = [kernels.generate_windows, kernels.shuffle_windows, kernels.sgd_window_step]
    if name == "negative_sampling":
        used = [kernels.generate_tuples, kernels.shuffle_pairs, kernels.sgd_step]
    objectives.warm_up(name)
    warmed = [set(k.signatures) for k in used]  # other tests may have added variants of their own before
    corpus_file = str(tmp_path / "corpus.parquet")
    sentences = [list(range(v, v + 12)) for v in range(0, 40, 4)]
    pq.write_table(pa.table({"seq": range(len(sentences)), "ids": sentences}, schema=CORPUS_ARROW_SCHEMA), corpus_file)
    counts = np.full(60, 10.0)
    prob, alias = kernels.build_alias_table(noise_distribution(counts))
    tables = str(tmp_path / "tables.npy")
    tuples.write_tables(tables, keep_probabilities(counts, 0.0), prob, alias)
    out = str(tmp_path / "tuples.parquet")
    tuples.generate_shard(corpus_file, out, tuples.TupleParams(3, 2, 1, tables, name), 1, 0)
    emb, theta = np.zeros((60, 8), np.float32), np.zeros((60, 8), np.float32)
    rounds.train_shard(out, emb, theta, 1, rounds.Schedule(0.025, 0.0001, 1, objective=name))
    assert [set(k.signatures) for k in used] == warmed  # the shard compiled nothing the warm-up did not load
