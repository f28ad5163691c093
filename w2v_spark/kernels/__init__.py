"""Compiled numeric kernels: random numbers, noise sampling, tuple generation and SGD.

Everything here works on plain numpy arrays and never imports Spark, so the kernels can be
tested (and benchmarked) on their own. Per-example loops live here, compiled by numba: a
Python-level loop over training pairs is 10-100x too slow for word2vec.

Randomness comes from a tiny SplitMix64 generator whose whole state is one uint64 in a
caller-owned array. That makes every draw a pure function of the seed the caller derives
from (seed, epoch, shard), independent of numpy's or numba's global generators, of the
machine, and of how Spark schedules or retries tasks.
"""

from __future__ import annotations

import os
import tempfile

import numba
import numpy as np
from numba import njit

from w2v_spark.private import private_dir


def numba_cache_dir(candidates: list[str]) -> str | None:
    """The first of ``candidates`` that is (or can be made) a writable directory of this user's
    that no one else may write into (``private.private_dir``), else None.

    numba unpickles the cache's index files: a directory someone else can write into would run
    their code in every process that loads the kernels.
    """
    for path in candidates:
        if not private_dir(path):
            continue
        try:
            probe = tempfile.NamedTemporaryFile(dir=path)  # noqa: SIM115 - closed (and deleted) at once
            probe.close()
            return path
        except OSError:
            continue
    return None


# Compiled kernels are cached on disk (cache=CACHE), so every process after the first loads them
# in a fraction of a second instead of compiling for ~10 s. numba caches next to this file, or
# in ~/.cache; on a cluster executor neither may be writable (read-only site-packages, a
# service account without a home), and then numba refuses to cache at all. So unless the user
# chose a directory (NUMBA_CACHE_DIR), fall back to the first writable of those places and
# the temporary directory that is this user's alone. With none, each process compiles its own:
# numba refuses to define a cached function it has nowhere to cache.
CACHE = True
if not getattr(numba.config, "CACHE_DIR", "") and not os.access(os.path.dirname(os.path.abspath(__file__)), os.W_OK):
    _home_cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "w2v-spark")
    _tmp_cache = os.path.join(tempfile.gettempdir(), f"w2v-spark-numba-{os.getuid()}")
    _chosen = numba_cache_dir([_home_cache, _tmp_cache])
    setattr(numba.config, "CACHE_DIR", _chosen or "")  # noqa: B010
    CACHE = _chosen is not None

# SplitMix64 constants (Steele, Lea & Flood 2014). Kept as uint64 scalars so numba does all
# the arithmetic modulo 2**64 instead of promoting to float64.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_S32 = np.uint64(32)
_LOW32 = np.uint64(0xFFFFFFFF)
_TWO_POW_M53 = 1.0 / 9007199254740992.0  # 2**-53
_TWO_POW_M32 = 1.0 / 4294967296.0  # 2**-32

# The window-batched kernel sums the loss of one row in this many (sgd_window_step says why);
# shuffled rows by the thousand make it a close estimate of the epoch's mean loss.
LOSS_EVERY = 16

# The window-batched kernel's sigmoid, as word2vec.c and gensim compute it: a table of 1000
# values over [-MAX_EXP, MAX_EXP], and 0 or 1 beyond. One exp per pair had taken about a fifth
# of the kernel's time (docs/design/kernels.md#sigmoid-table).
MAX_EXP = 6.0
_SIGMOID_SIZE = 1000
_SIGMOID_X = (np.arange(_SIGMOID_SIZE) / _SIGMOID_SIZE * 2 - 1) * MAX_EXP
SIGMOID_TABLE = (np.exp(_SIGMOID_X) / (np.exp(_SIGMOID_X) + 1)).astype(np.float32)


@njit(cache=CACHE, nogil=True)
def _mix(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(cache=CACHE, nogil=True)
def next_u64(state: np.ndarray) -> np.uint64:
    """Advance the one-word SplitMix64 ``state`` in place and return 64 random bits."""
    state[0] += _GOLDEN
    return _mix(state[0])


@njit(cache=CACHE, nogil=True)
def next_double(state: np.ndarray) -> float:
    """A uniform float64 in [0, 1) from the top 53 bits of the next draw."""
    return float(next_u64(state) >> _S11) * _TWO_POW_M53


@njit(cache=CACHE, nogil=True)
def uniform(n: int, state: np.ndarray) -> np.ndarray:
    """n uniform float64 draws in [0, 1)."""
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        out[i] = next_double(state)
    return out


def warm_up() -> None:
    """Load the driver's compiled kernels (alias table, uniform draws) from numba's cache.

    Imports and cache loading take a noticeable part of a second; the CLI runs it in a thread
    while Spark starts, when the driver's Python would otherwise sit idle.
    """
    build_alias_table(np.ones(2))
    uniform(1, derive_seed(0))


def derive_seed(*parts: int) -> np.ndarray:
    """Fold integers (seed, epoch, shard, ...) into a fresh generator state.

    Each part is mixed in turn, so (1, 2, 3) and (1, 3, 2) give unrelated streams. Returns a
    uint64 array of length 1, the form every kernel here takes as ``state``.
    """
    z = np.uint64(0x5EED_0F_3D9378A8)
    with np.errstate(over="ignore"):
        for p in parts:
            z = _mix_py(np.uint64(z ^ np.uint64(p & 0xFFFFFFFFFFFFFFFF)) + _GOLDEN)
    return np.array([z], dtype=np.uint64)


def _mix_py(z: np.uint64) -> np.uint64:
    # Same as _mix, in numpy scalars (called a handful of times per task, not worth compiling).
    with np.errstate(over="ignore"):
        z = np.uint64((z ^ (z >> _S30)) * _MIX1)
        z = np.uint64((z ^ (z >> _S27)) * _MIX2)
        return np.uint64(z ^ (z >> _S31))


def build_alias_table(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker/Vose alias table for sampling index i with probability weights[i] / sum(weights).

    Returns (prob, alias): draw i uniformly, keep it with probability prob[i], else take
    alias[i]. O(1) per draw, exact up to float64 rounding, and O(V) memory, unlike
    word2vec's 1e8-entry unigram table.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("alias table needs a non-empty vector of non-negative, finite weights")
    return _vose(w * (w.size / w.sum()))


@njit(cache=CACHE)
def _vose(scaled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = scaled.size
    prob = np.ones(n, dtype=np.float64)
    alias = np.arange(n).astype(np.int32)
    small = np.empty(n, dtype=np.int64)
    large = np.empty(n, dtype=np.int64)
    ns = 0
    nl = 0
    s = scaled.copy()
    for i in range(n):
        if s[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        lo = small[ns]
        hi = large[nl - 1]
        prob[lo] = s[lo]
        alias[lo] = hi
        s[hi] = (s[hi] + s[lo]) - 1.0
        if s[hi] < 1.0:
            nl -= 1
            small[ns] = hi
            ns += 1
    # Whatever is left has probability 1 up to rounding: prob stays 1.0, alias itself.
    return prob, alias


@njit(cache=CACHE, nogil=True)
def sample_alias(prob: np.ndarray, alias: np.ndarray, state: np.ndarray) -> int:
    """One draw from an alias table built by :func:`build_alias_table`.

    One 64-bit draw serves both choices: the high 32 bits pick the column (multiply-shift, no
    modulo bias beyond size / 2**32) and the low 32 bits the coin. Half the generator calls of
    two float draws, on the hottest path of tuple generation (it measured faster in
    ``bench/kernel_speed.py``).
    """
    u = next_u64(state)
    i = np.int64(((u >> _S32) * np.uint64(prob.size)) >> _S32)  # int64: uint64 | int would unify to float
    if float(u & _LOW32) * _TWO_POW_M32 < prob[i]:
        return int(i)
    return int(alias[i])


@njit(cache=CACHE, nogil=True, inline="always")
def _longest(offsets: np.ndarray, first_sentence: int) -> int:
    """Length of the longest sentence from ``first_sentence`` on: the size of the kept-words buffer."""
    max_len = 0
    for s in range(first_sentence, offsets.shape[0] - 1):
        max_len = max(max_len, offsets[s + 1] - offsets[s])
    return max_len


@njit(cache=CACHE, nogil=True, inline="always")
def _subsample(
    ids: np.ndarray, start: int, length: int, keep_prob: np.ndarray, state: np.ndarray, kept: np.ndarray
) -> int:
    """Copy the words of ``ids[start:start+length]`` that survive subsampling (each kept with
    probability keep_prob[id], before windowing, as word2vec does) into ``kept``; returns how many."""
    n_kept = 0
    for j in range(length):
        w = ids[start + j]
        if keep_prob[w] >= 1.0 or next_double(state) < keep_prob[w]:
            kept[n_kept] = w
            n_kept += 1
    return n_kept


@njit(cache=CACHE, nogil=True, inline="always")
def _draw_negative(
    noise_prob: np.ndarray, noise_alias: np.ndarray, state: np.ndarray, kept: np.ndarray, lo: int, hi: int
) -> int:
    """One noise word, redrawn while it equals any of ``kept[lo:hi]`` (the seed's rule: no negative
    within the window)."""
    while True:
        cand = sample_alias(noise_prob, noise_alias, state)
        clash = False
        for m in range(lo, hi):
            if kept[m] == cand:
                clash = True
                break
        if not clash:
            return cand


@njit(cache=CACHE, nogil=True)
def generate_tuples(
    ids: np.ndarray,
    offsets: np.ndarray,
    first_sentence: int,
    keep_prob: np.ndarray,
    noise_prob: np.ndarray,
    noise_alias: np.ndarray,
    window: int,
    negative: int,
    state: np.ndarray,
    centers: np.ndarray,
    targets: np.ndarray,
    negatives: np.ndarray,
) -> tuple[int, int, int]:
    """Skip-gram pairs with negatives for sentences ``first_sentence`` onwards, as word2vec makes them.

    ``ids[offsets[s]:offsets[s+1]]`` is sentence s. Per sentence: drop each word with
    probability 1 - keep_prob[id] (frequent-word subsampling, before windowing, as word2vec
    does); for each kept position i draw the effective window b uniformly from 1..window and
    pair the center with every kept word within b positions; for each pair draw ``negative``
    words from the noise table, rejecting the center and every word within ``window``
    positions of it (the full window, so no true context of that center is ever a negative).

    Output goes into the caller's ``centers``, ``targets`` (n,) and ``negatives`` (k, n)
    buffers (one row per negative slot: the column layout of the tuples files). Stops before a
    sentence that might not fit, so memory stays bounded whatever the sentence lengths.
    Returns (sentences consumed, pairs written, words kept).
    """
    capacity = centers.shape[0]
    n_sent = offsets.shape[0] - 1
    kept = np.empty(_longest(offsets, first_sentence), dtype=np.int32)
    n_pairs = 0
    n_kept_total = 0
    s = first_sentence
    while s < n_sent:
        start = offsets[s]
        length = offsets[s + 1] - start
        if n_pairs + length * 2 * window > capacity:
            break
        n_kept = _subsample(ids, start, length, keep_prob, state, kept)
        n_kept_total += n_kept
        for i in range(n_kept):
            c = kept[i]
            b = 1 + int(next_double(state) * window)
            lo_full = max(0, i - window)
            hi_full = min(n_kept, i + window + 1)
            for j in range(max(0, i - b), min(n_kept, i + b + 1)):
                if j == i:
                    continue
                centers[n_pairs] = c
                targets[n_pairs] = kept[j]
                for k in range(negative):
                    negatives[k, n_pairs] = _draw_negative(noise_prob, noise_alias, state, kept, lo_full, hi_full)
                n_pairs += 1
        s += 1
    return s - first_sentence, n_pairs, n_kept_total


@njit(cache=CACHE, nogil=True)
def shuffle_pairs(centers: np.ndarray, targets: np.ndarray, negatives: np.ndarray, n: int, state: np.ndarray) -> None:
    """Shuffle the first ``n`` pairs in place (Fisher-Yates; a pair's negatives move with it).

    Why: word2vec trains a center's window pairs one after another, so SGD takes several
    correlated steps on the same rows in a row. Decorrelated, the same pairs train markedly
    better vectors (docs/design/kernels.md#shuffle; docs/design/experiment-log.md#shuffled-pairs). Draws
    come from the shard's own generator, so the order is as reproducible as the pairs.
    """
    perm = shuffled_order(n, state)
    scratch = np.empty(n, dtype=centers.dtype)
    _permute(centers.reshape(1, -1), perm, scratch)
    _permute(targets.reshape(1, -1), perm, scratch)
    _permute(negatives, perm, scratch)


@njit(cache=CACHE, nogil=True)
def shuffled_order(n: int, state: np.ndarray) -> np.ndarray:
    """Fisher-Yates on the indices 0..n-1: row i of the shuffle is row ``perm[i]`` of the input.

    The same draws and swaps as swapping whole rows in place, so the same order, but the rows'
    columns are then moved one column at a time (``_permute``): a swap of a row spread over
    k + 2 or more column arrays touched as many cache lines, twice, and cost as much as making
    the tuples (docs/design/kernels.md#shuffle).
    """
    perm = np.arange(n).astype(np.int32)
    for i in range(n - 1, 0, -1):
        j = np.int64(((next_u64(state) >> _S32) * np.uint64(i + 1)) >> _S32)  # uniform in 0..i
        perm[i], perm[j] = perm[j], perm[i]
    return perm


@njit(cache=CACHE, nogil=True)
def _permute(columns: np.ndarray, perm: np.ndarray, scratch: np.ndarray) -> None:
    """Reorder the first len(perm) entries of every row of ``columns`` (c, capacity) by ``perm``."""
    n = perm.shape[0]
    for m in range(columns.shape[0]):
        for i in range(n):
            scratch[i] = columns[m, perm[i]]
        for i in range(n):
            columns[m, i] = scratch[i]


@njit(cache=CACHE, nogil=True, fastmath=True, inline="always")
def _score(x: float, positive: bool) -> tuple[float, float]:
    """(logistic loss, sigmoid(x)) of score x for a label of 1 (``positive``) or 0, from one exp:
    with e = exp(-|x|), sigmoid(x) is 1/(1+e) or e/(1+e) and the loss softplus(-+x) is
    max(-+x, 0) + log1p(e); no overflow for any x, and one transcendental fewer than the direct
    formulas (measured in bench/window_kernel.py)."""
    e = np.exp(-abs(x))
    sig = 1.0 / (1.0 + e) if x >= 0.0 else e / (1.0 + e)
    z = -x if positive else x
    return max(z, 0.0) + np.log1p(e), sig


@njit(cache=CACHE, nogil=True, fastmath=True, inline="always")
def _table_sigmoid(x: float) -> float:
    """sigmoid(x) from SIGMOID_TABLE, word2vec.c's lookup (its expTable): no exp per pair."""
    if x >= MAX_EXP:
        return 1.0
    if x <= -MAX_EXP:
        return 0.0
    return float(SIGMOID_TABLE[int((x + MAX_EXP) * (_SIGMOID_SIZE / MAX_EXP / 2))])


@njit(cache=CACHE, nogil=True, fastmath=True)
def sgd_step(
    emb: np.ndarray,
    theta: np.ndarray,
    centers: np.ndarray,
    targets: np.ndarray,
    negatives: np.ndarray,
    lr_start: float,
    lr_step: float,
) -> float:
    """One SGD pass over a batch of (center, target, negatives) rows; returns the summed loss.

    ``negatives`` is (k, n), column j holding the j-th negative of every row (the layout of the
    tuples files, so a row group goes in without a transpose). For row i with center c, the true
    target t (label 1) and the negatives n_j = negatives[j, i] (label 0) are
    scored as x = theta[w] . emb[c]; the loss is -log sigmoid(x) for t and -log sigmoid(-x) for
    each n_j, the binary logistic loss of SGNS. As in word2vec, each output row is updated
    straight away with g * emb[c], where g = lr * (label - sigmoid(x)), while the gradient for
    emb[c] is accumulated over the k+1 targets and applied once at the end of the row.

    The learning rate of row i is lr_start + i * lr_step (the caller maps global training
    progress onto this linear ramp).
    """
    n = centers.shape[0]
    k = negatives.shape[0]
    d = emb.shape[1]
    grad = np.empty(d, dtype=np.float32)
    loss = 0.0
    for i in range(n):
        lr = lr_start + i * lr_step
        c = centers[i]
        ec = emb[c]
        grad[:] = 0.0
        for j in range(k + 1):
            if j == 0:
                w = targets[i]
                label = 1.0
            else:
                w = negatives[j - 1, i]
                label = 0.0
            ow = theta[w]
            x = 0.0
            for q in range(d):
                x += ec[q] * ow[q]
            loss_, sig = _score(x, label == 1.0)
            loss += loss_
            g = np.float32((label - sig) * lr)
            for q in range(d):
                grad[q] += g * ow[q]
                ow[q] += g * ec[q]
        for q in range(d):
            ec[q] += grad[q]
    return loss


@njit(cache=CACHE, nogil=True, fastmath=True)
def softmax_step(
    emb: np.ndarray,
    theta: np.ndarray,
    centers: np.ndarray,
    targets: np.ndarray,
    lr_start: float,
    lr_step: float,
) -> float:
    """The full-softmax baseline: one SGD pass over (center, target) pairs; returns the summed loss.

    Pr(t | c) = exp(theta[t] . emb[c]) / sum_j exp(theta[j] . emb[c]), trained with cross-entropy,
    so every pair touches every row of ``theta``: O(V d) work per pair against O((k + 1) d) for
    negative sampling, which is why negative sampling is the default (see bench/objectives.py).
    Learning rates as in :func:`sgd_step`.
    """
    n = centers.shape[0]
    vocab, d = theta.shape
    scores = np.empty(vocab, dtype=np.float64)
    grad = np.empty(d, dtype=np.float32)
    loss = 0.0
    for i in range(n):
        lr = lr_start + i * lr_step
        ec = emb[centers[i]]
        t = targets[i]
        top = -np.inf
        for j in range(vocab):
            x = 0.0
            for q in range(d):
                x += theta[j, q] * ec[q]
            scores[j] = x
            top = max(top, x)
        total = 0.0
        for j in range(vocab):
            scores[j] = np.exp(scores[j] - top)
            total += scores[j]
        loss += np.log(total) - np.log(scores[t])  # -log softmax, shifted by the max for stability
        grad[:] = 0.0
        for j in range(vocab):
            # g = lr * (1[j == t] - p_j): the negative gradient of the loss with respect to the score
            g = np.float32(lr * ((1.0 if j == t else 0.0) - scores[j] / total))
            for q in range(d):
                grad[q] += g * theta[j, q]
                theta[j, q] += g * ec[q]
        for q in range(d):
            ec[q] += grad[q]
    return loss


@njit(cache=CACHE, nogil=True)
def generate_windows(
    ids: np.ndarray,
    offsets: np.ndarray,
    first_sentence: int,
    keep_prob: np.ndarray,
    noise_prob: np.ndarray,
    noise_alias: np.ndarray,
    window: int,
    negative: int,
    state: np.ndarray,
    targets: np.ndarray,
    contexts: np.ndarray,
    negatives: np.ndarray,
) -> tuple[int, int, int, int]:
    """Skip-gram windows with shared negatives, as pWord2Vec's HogBatch makes them.

    Subsampling and the effective window b (uniform in 1..window, drawn per target position)
    as in :func:`generate_tuples`. One row per kept position i: ``targets[r]`` = the word at i
    (the Theta side), ``contexts[:, r]`` = the kept words within b of it (the E side), packed
    first and padded with -1, and ``negatives[:, r]`` = k noise words shared by all of the
    row's pairs. A negative is never within ``window`` positions of any of the row's contexts
    (the draws reject every word in i-b-window .. i+b+window), so each literal pair
    (c, n) still obeys the rule of :func:`generate_tuples`.

    ``contexts`` is (2*window, n) and ``negatives`` (k, n), the column layout of the windows
    files. Returns (sentences consumed, rows written, pairs in them, words kept).
    """
    capacity = targets.shape[0]
    n_sent = offsets.shape[0] - 1
    kept = np.empty(_longest(offsets, first_sentence), dtype=np.int32)
    n_rows = 0
    n_pairs = 0
    n_kept_total = 0
    s = first_sentence
    while s < n_sent:
        start = offsets[s]
        length = offsets[s + 1] - start
        if n_rows + length > capacity:
            break
        n_kept = _subsample(ids, start, length, keep_prob, state, kept)
        n_kept_total += n_kept
        if n_kept < 2:
            s += 1
            continue
        for i in range(n_kept):
            b = 1 + int(next_double(state) * window)
            m = 0
            for j in range(max(0, i - b), min(n_kept, i + b + 1)):
                if j != i:
                    contexts[m, n_rows] = kept[j]
                    m += 1
            for q in range(m, contexts.shape[0]):
                contexts[q, n_rows] = -1
            targets[n_rows] = kept[i]
            lo = max(0, i - b - window)
            hi = min(n_kept, i + b + window + 1)
            for k in range(negative):
                negatives[k, n_rows] = _draw_negative(noise_prob, noise_alias, state, kept, lo, hi)
            n_rows += 1
            n_pairs += m
        s += 1
    return s - first_sentence, n_rows, n_pairs, n_kept_total


@njit(cache=CACHE, nogil=True)
def shuffle_windows(
    targets: np.ndarray, contexts: np.ndarray, negatives: np.ndarray, n: int, state: np.ndarray
) -> None:
    """Shuffle the first ``n`` rows of a windows buffer in place (Fisher-Yates), as
    :func:`shuffle_pairs` does for pairs: consecutive rows then share no words by position."""
    perm = shuffled_order(n, state)
    scratch = np.empty(n, dtype=targets.dtype)
    _permute(targets.reshape(1, -1), perm, scratch)
    _permute(contexts, perm, scratch)
    _permute(negatives, perm, scratch)


@njit(cache=CACHE, nogil=True, fastmath=True)
def sgd_window_step(
    emb: np.ndarray,
    theta: np.ndarray,
    targets: np.ndarray,
    contexts: np.ndarray,
    negatives: np.ndarray,
    lr_start: float,
    lr_step: float,
    loss_every: int = LOSS_EVERY,
) -> tuple[float, int]:
    """One SGD pass over windows rows (see :func:`generate_windows`); returns (summed loss, pairs).

    Row r holds one target t, up to 2*window contexts c_b and k shared negatives n_j: every
    pair (c_b, t) has label 1 and every (c_b, n_j) label 0, with the loss of :func:`sgd_step`.
    As pWord2Vec's HogBatch (Ji et al. 2016), a row is one minibatch: the B context rows and
    the k+1 output rows are copied in, the B x (k+1) scores computed, and both sides' summed
    gradients added back at the end of the row, so each output row is read and written once
    per window instead of once per pair. The learning rate of row r is lr_start + r * lr_step.

    The loss is summed over every ``loss_every``-th row only and scaled up by pairs / pairs in
    those rows: an estimate (the rows come shuffled), and the updates are the same as with
    ``loss_every=1``. Its log1p per pair cost about a fifth of the kernel's time for a figure
    that is only reported and checked for divergence (docs/design/kernels.md#sampled-loss).
    """
    n = targets.shape[0]
    width = contexts.shape[0]
    k1 = negatives.shape[0] + 1
    d = emb.shape[1]
    outs = np.empty((k1, d), dtype=np.float32)
    ins = np.empty((width, d), dtype=np.float32)
    grads = np.empty((width, k1), dtype=np.float32)
    rows = np.empty(k1, dtype=np.int64)
    ctx = np.empty(width, dtype=np.int64)
    loss = 0.0
    pairs = 0
    sampled = 0  # pairs in the rows whose loss is summed
    for r in range(n):
        lr = lr_start + r * lr_step
        rows[0] = targets[r]
        for j in range(k1 - 1):
            rows[j + 1] = negatives[j, r]
        b_n = 0
        for b in range(width):
            if contexts[b, r] < 0:
                break
            ctx[b_n] = contexts[b, r]
            b_n += 1
        with_loss = r % loss_every == 0
        loss += _window_minibatch(emb, theta, rows, ctx, b_n, outs, ins, grads, lr, with_loss)
        pairs += b_n
        sampled += b_n if with_loss else 0
    return (loss * pairs / sampled if sampled else 0.0), pairs


@njit(cache=CACHE, nogil=True, fastmath=True, inline="always")
def _window_minibatch(
    emb: np.ndarray,
    theta: np.ndarray,
    rows: np.ndarray,
    ctx: np.ndarray,
    b_n: int,
    outs: np.ndarray,
    ins: np.ndarray,
    grads: np.ndarray,
    lr: float,
    with_loss: bool,
) -> float:
    """One window of :func:`sgd_window_step`: Theta rows ``rows`` (target, then negatives) against
    the E rows ``ctx[:b_n]``, through the scratch buffers ``outs``, ``ins`` and ``grads``; its
    summed loss if ``with_loss``, else 0."""
    k1 = rows.shape[0]
    d = emb.shape[1]
    loss = 0.0
    for m in range(k1):  # explicit loops: numba's slice assignment measured slower here
        src = theta[rows[m]]
        for q in range(d):
            outs[m, q] = src[q]
    for b in range(b_n):
        src = emb[ctx[b]]
        for q in range(d):
            ins[b, q] = src[q]
    for b in range(b_n):
        for m in range(k1):
            x = np.float32(0.0)
            for q in range(d):
                x += ins[b, q] * outs[m, q]
            sig = _table_sigmoid(x)  # type: ignore[arg-type]  # float32 score, kept in float32
            if with_loss:
                loss += _score(x, m == 0)[0]  # type: ignore[arg-type]
            grads[b, m] = np.float32(((1.0 if m == 0 else 0.0) - sig) * lr)
    for b in range(b_n):
        dst = emb[ctx[b]]
        for m in range(k1):
            g = grads[b, m]
            for q in range(d):
                dst[q] += g * outs[m, q]
    for m in range(k1):
        dst = theta[rows[m]]
        for b in range(b_n):
            g = grads[b, m]
            for q in range(d):
                dst[q] += g * ins[b, q]
    return loss
