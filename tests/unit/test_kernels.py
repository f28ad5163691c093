"""The compiled kernels against straightforward numpy references."""

import numpy as np
import pytest

from w2v_spark import kernels


def test_rng_is_deterministic_and_uniform():
    a = kernels.uniform(200_000, kernels.derive_seed(1, 2, 3))
    b = kernels.uniform(200_000, kernels.derive_seed(1, 2, 3))
    c = kernels.uniform(200_000, kernels.derive_seed(1, 3, 2))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0.0 and a.max() < 1.0
    hist, _ = np.histogram(a, bins=10, range=(0, 1))
    assert np.all(np.abs(hist / a.size - 0.1) < 0.005)


def test_alias_table_samples_the_given_distribution():
    weights = np.array([50.0, 20.0, 15.0, 10.0, 4.0, 1.0, 0.0])
    prob, alias = kernels.build_alias_table(weights)
    state = kernels.derive_seed(7)
    draws = np.array([kernels.sample_alias(prob, alias, state) for _ in range(200_000)])
    freq = np.bincount(draws, minlength=weights.size) / draws.size
    expected = weights / weights.sum()
    assert freq[-1] == 0.0
    np.testing.assert_allclose(freq, expected, atol=0.004)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def reference_sgd(emb, out, centers, targets, negatives, lr_start, lr_step):
    """The SGNS update written out plainly: per row, gradients of the logistic loss."""
    emb, out = emb.astype(np.float64), out.astype(np.float64)
    loss = 0.0
    for i, c in enumerate(centers):
        lr = lr_start + i * lr_step
        grad_c = np.zeros_like(emb[c])
        for w, label in [(targets[i], 1.0), *[(n, 0.0) for n in negatives[:, i]]]:
            x = out[w] @ emb[c]
            loss += -np.log(_sigmoid(x)) if label else -np.log(_sigmoid(-x))
            g = label - _sigmoid(x)  # minus dLoss/dx
            grad_c += g * out[w]
            out[w] += lr * g * emb[c]
        emb[c] += lr * grad_c
    return emb, out, loss


def test_reference_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    e, o = rng.normal(size=4), rng.normal(size=4)

    def loss(e, o, label):
        x = o @ e
        return -np.log(_sigmoid(x)) if label else -np.log(_sigmoid(-x))

    for label in (1.0, 0.0):
        g = label - _sigmoid(o @ e)
        eps = 1e-6
        numeric = np.array(
            [
                (loss(e, o + eps * np.eye(4)[q], label) - loss(e, o - eps * np.eye(4)[q], label)) / (2 * eps)
                for q in range(4)
            ]
        )
        np.testing.assert_allclose(-g * e, numeric, rtol=1e-5)


def test_sgd_step_matches_reference_on_tiny_example():
    rng = np.random.default_rng(42)
    V, d = 7, 5
    emb = rng.normal(scale=0.5, size=(V, d)).astype(np.float32)
    out = rng.normal(scale=0.5, size=(V, d)).astype(np.float32)
    centers = np.array([0, 1, 0, 3], dtype=np.int32)
    targets = np.array([2, 0, 4, 3], dtype=np.int32)
    negatives = np.array([[5, 6], [2, 2], [1, 6], [0, 4]], dtype=np.int32).T.copy()  # (k, n)
    ref_emb, ref_out, ref_loss = reference_sgd(emb, out, centers, targets, negatives, 0.5, -0.05)
    e, o = emb.copy(), out.copy()
    loss = kernels.sgd_step(e, o, centers, targets, negatives, 0.5, -0.05)
    np.testing.assert_allclose(e, ref_emb, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(o, ref_out, rtol=1e-5, atol=1e-6)
    assert loss == pytest.approx(ref_loss, rel=1e-6)


def test_sgd_step_reduces_loss_on_repeated_pairs():
    rng = np.random.default_rng(1)
    V, d = 50, 16
    emb = ((rng.random((V, d)) - 0.5) / d).astype(np.float32)
    out = np.zeros((V, d), np.float32)
    centers = rng.integers(0, 10, 2000).astype(np.int32)
    targets = (centers + 10).astype(np.int32)  # planted: word i predicts word i+10
    negatives = rng.integers(20, V, (3, 2000)).astype(np.int32)
    first = kernels.sgd_step(emb, out, centers, targets, negatives, 0.1, 0.0)
    for _ in range(5):
        last = kernels.sgd_step(emb, out, centers, targets, negatives, 0.1, 0.0)
    assert last < 0.3 * first


def _generate(ids_by_sentence, keep, V, window, negative, seed, counts=None, capacity=1 << 16):
    ids = np.concatenate(ids_by_sentence).astype(np.int32)
    offsets = np.r_[0, np.cumsum([len(s) for s in ids_by_sentence])].astype(np.int64)
    weights = np.ones(V) if counts is None else counts**0.75
    prob, alias = kernels.build_alias_table(weights)
    state = kernels.derive_seed(seed)
    C, T, N = np.empty(capacity, np.int32), np.empty(capacity, np.int32), np.empty((negative, capacity), np.int32)
    out_c, out_t, out_n = [], [], []
    s = 0
    while s < len(ids_by_sentence):
        used, n, _ = kernels.generate_tuples(ids, offsets, s, keep, prob, alias, window, negative, state, C, T, N)
        assert used > 0
        s += used
        out_c.append(C[:n].copy())
        out_t.append(T[:n].copy())
        out_n.append(N[:, :n].T.copy())
    return np.concatenate(out_c), np.concatenate(out_t), np.concatenate(out_n)


def test_tuples_small_buffer_streams_the_same_pairs():
    rng = np.random.default_rng(3)
    V = 300
    sentences = [rng.integers(0, V, rng.integers(1, 40)) for _ in range(200)]
    keep = np.full(V, 0.8)
    big = _generate(sentences, keep, V, 4, 3, seed=9)
    small = _generate(sentences, keep, V, 4, 3, seed=9, capacity=4 * 2 * 40)
    for a, b in zip(big, small, strict=True):
        assert np.array_equal(a, b)


def test_shuffle_pairs_is_a_uniform_permutation_that_keeps_pairs_whole():
    n, k = 1000, 3
    centers = np.arange(n, dtype=np.int32)
    targets = centers + 10_000
    negatives = np.stack([centers + 20_000 * (m + 1) for m in range(k)]).astype(np.int32)
    pad = 5  # spare room past n, which must stay untouched
    C, T, N = (
        np.concatenate([a, np.full((*a.shape[:-1], pad), -1, np.int32)], axis=-1) for a in (centers, targets, negatives)
    )
    kernels.shuffle_pairs(C, T, N, n, kernels.derive_seed(4))
    assert sorted(C[:n]) == list(range(n)) and not np.array_equal(C[:n], centers)
    assert np.array_equal(T[:n], C[:n] + 10_000)  # a pair's target and negatives move with it
    assert all(np.array_equal(N[m, :n], C[:n] + 20_000 * (m + 1)) for m in range(k))
    assert (C[n:] == -1).all() and (T[n:] == -1).all() and (N[:, n:] == -1).all()  # past n: untouched
    again = centers.copy(), targets.copy(), negatives.copy()
    kernels.shuffle_pairs(*again, n, kernels.derive_seed(4))
    assert np.array_equal(again[0], C[:n])  # reproducible from the state

    # All 24 orders of 4 pairs equally likely (an off-by-one gives only some of them).
    state = kernels.derive_seed(5)
    seen: dict[tuple[int, ...], int] = {}
    trials = 48_000
    for _ in range(trials):
        c = np.arange(4, dtype=np.int32)
        kernels.shuffle_pairs(c, c.copy(), np.empty((0, 4), np.int32), 4, state)
        seen[tuple(c)] = seen.get(tuple(c), 0) + 1
    assert len(seen) == 24
    np.testing.assert_allclose(np.array(list(seen.values())) / trials, 1 / 24, atol=0.006)


def test_numba_cache_dir_skips_unwritable_places(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    fallback = tmp_path / "fallback" / "numba"
    import os

    if os.access(locked, os.W_OK):  # root ignores permission bits: use only the file obstacle
        candidates = [str(blocked / "sub"), str(fallback)]
    else:
        candidates = [str(locked / "sub"), str(blocked / "sub"), str(fallback)]
    assert kernels.numba_cache_dir(candidates) == str(fallback)
    assert fallback.is_dir()
    assert kernels.numba_cache_dir([str(blocked / "sub")]) is None


def reference_softmax(emb, out, centers, targets, lr_start, lr_step):
    """Full-softmax cross-entropy SGD written out plainly in float64."""
    emb, out = emb.astype(np.float64), out.astype(np.float64)
    loss = 0.0
    for i, (c, t) in enumerate(zip(centers, targets, strict=True)):
        lr = lr_start + i * lr_step
        scores = out @ emb[c]
        p = np.exp(scores - scores.max())
        p /= p.sum()
        loss += -np.log(p[t])
        g = -p
        g[t] += 1.0  # minus dLoss/dscores
        grad_c = g @ out
        out += lr * np.outer(g, emb[c])
        emb[c] += lr * grad_c
    return emb, out, loss


def test_softmax_step_matches_reference_and_learns():
    rng = np.random.default_rng(7)
    V, d = 9, 4
    emb = rng.normal(scale=0.5, size=(V, d)).astype(np.float32)
    out = rng.normal(scale=0.5, size=(V, d)).astype(np.float32)
    centers = np.array([0, 3, 3, 8, 1], np.int32)
    targets = np.array([1, 2, 2, 0, 8], np.int32)
    ref_emb, ref_out, ref_loss = reference_softmax(emb, out, centers, targets, 0.3, -0.02)
    e, o = emb.copy(), out.copy()
    loss = kernels.softmax_step(e, o, centers, targets, 0.3, -0.02)
    np.testing.assert_allclose(e, ref_emb, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(o, ref_out, rtol=1e-4, atol=1e-5)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    # a planted mapping (word i predicts word (i + 1) % V) is learned: loss falls below chance
    many_c = np.tile(np.arange(V, dtype=np.int32), 200)
    many_t = ((many_c + 1) % V).astype(np.int32)
    first = kernels.softmax_step(e, o, many_c, many_t, 0.2, 0.0) / many_c.size
    last = kernels.softmax_step(e, o, many_c, many_t, 0.2, 0.0) / many_c.size
    assert first > last and last < 0.2 * np.log(V)


# --- window-batched training: one target, its contexts, shared negatives -------------------


def _windows(sentences, keep, V, window, negative, seed, capacity=1 << 14):
    ids = np.concatenate(sentences).astype(np.int32)
    offsets = np.r_[0, np.cumsum([len(s) for s in sentences])].astype(np.int64)
    prob, alias = kernels.build_alias_table(np.ones(V))
    state = kernels.derive_seed(seed)
    T, C, N = (
        np.empty(capacity, np.int32),
        np.empty((2 * window, capacity), np.int32),
        np.empty((negative, capacity), np.int32),
    )
    rows, s, pairs = [], 0, 0
    while s < len(sentences):
        used, n, p, _ = kernels.generate_windows(ids, offsets, s, keep, prob, alias, window, negative, state, T, C, N)
        assert used > 0
        s += used
        pairs += p
        rows += [(T[r], C[:, r].copy(), N[:, r].copy()) for r in range(n)]
    return rows, pairs


def test_windows_keep_the_seeds_rule_and_stream_the_same_rows():
    rng = np.random.default_rng(5)
    V, window = 4000, 3
    cuts = np.sort(rng.choice(np.arange(1, 3000), 120, replace=False))
    sentences = np.split(rng.permutation(V)[:3000], cuts)  # every word once, so positions are known
    rows, pairs = _windows(sentences, np.ones(V), V, window, 4, seed=2)
    position = {}
    for s, sent in enumerate(sentences):
        position.update({int(w): (s, i) for i, w in enumerate(sent)})
    assert pairs == sum(int((c >= 0).sum()) for _, c, _ in rows) and pairs > 0
    for t, contexts, negs in rows:
        used = contexts[contexts >= 0]
        assert len(used) > 0 and (contexts[len(used) :] == -1).all()  # packed first, then padding
        st, it = position[int(t)]
        for c in used:
            sc, ic = position[int(c)]
            assert sc == st and 0 < abs(ic - it) <= window
            for n in negs:  # the seed's rule, pair by pair: no negative within `window` of c
                sn, i_n = position.get(int(n), (-1, 0))
                assert sn != sc or abs(i_n - ic) > window
    longest = max(len(x) for x in sentences)  # a buffer must hold one sentence's rows
    small, _ = _windows(sentences, np.ones(V), V, window, 4, seed=2, capacity=longest)
    assert len(small) == len(rows)
    assert all(a[0] == b[0] and (a[1] == b[1]).all() and (a[2] == b[2]).all() for a, b in zip(rows, small, strict=True))


def test_a_window_of_one_context_trains_as_its_pair_does():
    """With one context per row, the batched kernel is word2vec's per-pair step on that pair, but
    for the sigmoid: a table's (word2vec.c's) instead of an exp, off by at most 0.0031, so each
    update is off by at most that times lr times a row's entry (0.05 * 0.0031 * 1.2 < 2e-4),
    which rows trained several times add up."""
    rng = np.random.default_rng(1)
    V, d, n, k = 60, 8, 40, 3
    targets = rng.integers(0, 20, n).astype(np.int32)
    contexts = np.full((4, n), -1, np.int32)
    contexts[0] = rng.integers(20, 40, n)
    negatives = np.stack([rng.permutation(np.arange(40, V))[:k] for _ in range(n)], axis=1).astype(np.int32)
    emb = rng.normal(0, 0.3, (V, d)).astype(np.float32)
    theta = rng.normal(0, 0.3, (V, d)).astype(np.float32)
    e1, t1, e2, t2 = emb.copy(), theta.copy(), emb.copy(), theta.copy()
    loss_w, pairs = kernels.sgd_window_step(e1, t1, targets, contexts, negatives, 0.05, -1e-4, loss_every=1)
    loss_p = kernels.sgd_step(e2, t2, contexts[0].copy(), targets, negatives, 0.05, -1e-4)
    assert pairs == n and loss_w == pytest.approx(loss_p, rel=1e-3)
    assert np.abs(e1 - emb).max() > 20 * 1e-3  # the updates are far larger than the tolerance
    np.testing.assert_allclose(e1, e2, atol=1e-3)
    np.testing.assert_allclose(t1, t2, atol=1e-3)


def test_the_table_sigmoid_is_within_its_step_of_the_exact_one_and_saturates_beyond_max_exp():
    x = np.linspace(-8.0, 8.0, 20_001)
    table = np.array([kernels._table_sigmoid(v) for v in x])
    exact = 1.0 / (1.0 + np.exp(-x))
    inside = np.abs(x) < kernels.MAX_EXP
    assert np.abs(table - exact)[inside].max() < 0.0031
    assert (table[x >= kernels.MAX_EXP] == 1.0).all() and (table[x <= -kernels.MAX_EXP] == 0.0).all()
    assert (np.diff(table) >= 0).all()  # monotone, as a sigmoid


def test_window_step_learns_its_windows():
    rng = np.random.default_rng(2)
    V, d, n = 200, 16, 3000
    emb = ((rng.random((V, d)) - 0.5) / d).astype(np.float32)
    theta = np.zeros((V, d), np.float32)
    targets = rng.integers(0, 20, n).astype(np.int32)
    contexts = np.where(rng.random((6, n)) < 0.7, targets + 20, -1).astype(np.int32)
    contexts = -np.sort(-contexts, axis=0)  # packed first
    negatives = rng.integers(60, V, (3, n)).astype(np.int32)
    first, pairs = kernels.sgd_window_step(emb, theta, targets, contexts, negatives, 0.1, 0.0)
    for _ in range(5):
        last, _ = kernels.sgd_window_step(emb, theta, targets, contexts, negatives, 0.1, 0.0)
    assert pairs == int((contexts >= 0).sum()) and last < 0.3 * first


def test_window_step_estimates_its_loss_from_a_sample_of_rows_and_updates_as_the_exact_one():
    """The default sums the loss of one row in LOSS_EVERY: the estimate is close to the whole
    sum, and the vectors are bit-equal to those of the step that sums every row's loss."""
    rng = np.random.default_rng(3)
    V, d, n = 500, 16, 20_000
    targets = rng.integers(0, V, n).astype(np.int32)
    contexts = np.where(rng.random((6, n)) < 0.7, rng.integers(0, V, (6, n)), -1).astype(np.int32)
    contexts[0] = rng.integers(0, V, n)
    contexts = -np.sort(-contexts, axis=0)  # packed first
    negatives = rng.integers(0, V, (3, n)).astype(np.int32)
    emb = ((rng.random((V, d)) - 0.5) / d).astype(np.float32)
    theta = rng.normal(0, 0.3, (V, d)).astype(np.float32)
    e1, t1, e2, t2 = emb.copy(), theta.copy(), emb.copy(), theta.copy()
    exact, pairs = kernels.sgd_window_step(e1, t1, targets, contexts, negatives, 0.05, -1e-6, loss_every=1)
    estimate, pairs_s = kernels.sgd_window_step(e2, t2, targets, contexts, negatives, 0.05, -1e-6)
    assert kernels.LOSS_EVERY > 1 and pairs_s == pairs
    assert estimate != exact and estimate == pytest.approx(exact, rel=0.02)
    assert np.array_equal(e1, e2) and np.array_equal(t1, t2)


def test_shuffle_windows_keeps_rows_whole():
    n = 500
    targets = np.arange(n, dtype=np.int32)
    contexts = np.stack([targets + 1000 * (m + 1) for m in range(4)]).astype(np.int32)
    negatives = np.stack([targets + 100_000 * (m + 1) for m in range(2)]).astype(np.int32)
    kernels.shuffle_windows(targets, contexts, negatives, n, kernels.derive_seed(4))
    assert sorted(targets.tolist()) == list(range(n)) and (targets[:50] != np.arange(50)).any()
    assert (contexts == targets + 1000 * np.arange(1, 5)[:, None]).all()
    assert (negatives == targets + 100_000 * np.arange(1, 3)[:, None]).all()


def test_shuffles_give_the_order_of_swapping_whole_rows_in_place():
    """The shuffles move columns one at a time, but in the order Fisher-Yates gives when it swaps
    whole rows with the same draws, so the tuples (and the vectors) of a seed stay what they were."""
    n, pad = 300, 7
    rows = np.random.default_rng(3).integers(0, 50_000, size=(9, n + pad)).astype(np.int32)
    expected, state = rows.copy(), kernels.derive_seed(11)
    for i in range(n - 1, 0, -1):
        j = int((int(kernels.next_u64(state)) >> 32) * (i + 1) >> 32)
        expected[:, [i, j]] = expected[:, [j, i]]
    windows = rows.copy()
    kernels.shuffle_windows(windows[0], windows[1:5], windows[5:], n, kernels.derive_seed(11))
    assert np.array_equal(windows, expected)
    pairs = rows.copy()
    kernels.shuffle_pairs(pairs[0], pairs[1], pairs[2:], n, kernels.derive_seed(11))
    assert np.array_equal(pairs, expected)


def reference_window_step(emb, theta, targets, contexts, negatives, lr_start, lr_step, perturb=""):
    """:func:`kernels.sgd_window_step` written out in plain numpy, in the kernel's order: per row,
    copy the contexts' E rows and the k+1 Theta rows (target, then negatives), score every
    (context, output) pair, read the sigmoid from word2vec.c's table, and add the gradients to
    E context by context, then to Theta row by row, from the copies (float32, as the kernel).

    Returns (E, Theta, summed loss, pairs, the smallest distance of a score from a table step):
    a score closer than the kernel's rounding to a step could take the neighbouring value.
    ``perturb`` breaks one part on purpose ("skip_context", "exact_sigmoid", "no_decay"), to show
    that the comparison notices."""
    emb, theta = emb.copy(), theta.copy()
    k1 = negatives.shape[0] + 1
    labels = np.r_[1.0, np.zeros(k1 - 1)]
    scale = kernels._SIGMOID_SIZE / kernels.MAX_EXP / 2
    loss, pairs, margin = 0.0, 0, np.inf
    for r in range(targets.shape[0]):
        lr = lr_start + (0 if perturb == "no_decay" else r) * lr_step
        rows = np.r_[targets[r], negatives[:, r]]
        ctx = contexts[:, r][: int((contexts[:, r] >= 0).sum())]  # packed first, then -1
        if perturb == "skip_context":
            ctx = ctx[:-1]
        ins, outs = emb[ctx].copy(), theta[rows].copy()
        x = ins.astype(np.float64) @ outs.astype(np.float64).T  # (B, k+1) scores
        steps = (x + kernels.MAX_EXP) * scale
        margin = min(margin, float(np.abs(steps - np.clip(np.round(steps), 0, kernels._SIGMOID_SIZE)).min()) / scale)
        sig = kernels.SIGMOID_TABLE[np.clip(steps, 0, kernels._SIGMOID_SIZE - 1).astype(np.int64)].astype(np.float64)
        sig = np.where(x >= kernels.MAX_EXP, 1.0, np.where(x <= -kernels.MAX_EXP, 0.0, sig))
        if perturb == "exact_sigmoid":
            sig = _sigmoid(x)
        grads = ((labels - sig) * lr).astype(np.float32)
        loss += float(np.logaddexp(0, np.where(labels == 1.0, -x, x)).sum())  # softplus(-x) for 1, (x) for 0
        for b, c in enumerate(ctx):
            for m in range(k1):
                emb[c] += grads[b, m] * outs[m]
        for m, w in enumerate(rows):
            for b in range(len(ctx)):
                theta[w] += grads[b, m] * ins[b]
        pairs += len(ctx)
    return emb, theta, loss, pairs, margin


def _random_windows(seed, V=40, d=16, n=40, window=3, k=5):
    """Rows as generate_windows makes them (2 to 2*window contexts, packed, then -1), from a small
    vocabulary, so rows share words and repeat some within a row (a context twice, a negative twice)."""
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, V, n).astype(np.int32)
    contexts = np.full((2 * window, n), -1, np.int32)
    for r, b in enumerate(rng.integers(2, 2 * window + 1, n)):
        contexts[:b, r] = rng.integers(0, V, b)
    contexts[:2, 0] = 7  # the same context twice in a row: E[7] gets both updates
    negatives = rng.integers(0, V, (k, n)).astype(np.int32)
    negatives[:2, 1] = 11  # the same negative twice: Theta[11] gets both updates
    emb = rng.normal(0, 0.3, (V, d)).astype(np.float32)
    theta = rng.normal(0, 0.3, (V, d)).astype(np.float32)
    return emb, theta, targets, contexts, negatives


def test_the_window_step_is_the_plain_numpy_update_on_windows_of_several_contexts():
    """The default kernel against :func:`reference_window_step` on rows of 2 to 6 contexts and 5
    shared negatives, with a decaying learning rate, to float32 rounding (rtol 1e-5); and the
    comparison fails when the reference skips a context, uses the exact sigmoid or keeps the
    rate constant."""
    lr_start, lr_step = 0.05, -5e-4
    for seed in range(100):  # the first draw whose scores all keep clear of the table's steps
        emb, theta, targets, contexts, negatives = _random_windows(seed)
        ref_emb, ref_theta, ref_loss, ref_pairs, margin = reference_window_step(
            emb, theta, targets, contexts, negatives, lr_start, lr_step
        )
        if margin > 1e-5:  # float32 rounding moves a score by about 1e-6 at most here
            break
    else:
        pytest.fail("no draw kept every score clear of the sigmoid table's steps")
    e, t = emb.copy(), theta.copy()
    loss, pairs = kernels.sgd_window_step(e, t, targets, contexts, negatives, lr_start, lr_step, loss_every=1)
    assert pairs == ref_pairs == int((contexts >= 0).sum()) and (contexts >= 0).sum(axis=0).min() >= 2
    assert np.abs(e - emb).max() > 0.01 and np.abs(t - theta).max() > 0.01  # the updates are far above the tolerance
    np.testing.assert_allclose(e, ref_emb, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(t, ref_theta, rtol=1e-5, atol=1e-7)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    for perturb in ("skip_context", "exact_sigmoid", "no_decay"):
        wrong_emb, wrong_theta, *_ = reference_window_step(
            emb, theta, targets, contexts, negatives, lr_start, lr_step, perturb
        )
        assert not np.allclose(e, wrong_emb, rtol=1e-5, atol=1e-7), perturb
        assert not np.allclose(t, wrong_theta, rtol=1e-5, atol=1e-7), perturb
