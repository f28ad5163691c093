"""Per-pair SGNS kernel against the window-batched one (shared negatives), on the same sentences.

    OMP_NUM_THREADS=1 python bench/window_kernel.py [--tokens FILE] [--words N]
    python bench/window_kernel.py --tokens FILE --quality --seeds 1,2,3,4,5 [--kernels pairs,windows]

Sentences come from a tokens file (one sentence per line, as bench/compare.py writes) or, without
one, from a Zipf(1.0) stream over 30,000 words. Both generators run on the same sentences with
word2vec's defaults (window 5, 5 negatives, sample 1e-3); each kernel then trains one pass, and the
script prints pairs/s for generation and for SGD (median of 3), on one core.

With --quality it trains one model per kernel and seed instead, on the whole file for 5 epochs
(fresh tuples each epoch, the rate decaying linearly from 0.025 to 0.0001 over the run, as the
job does with one shard), and scores it with gensim's evaluators (bench/compare.py), one JSON
line per run.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter

import numpy as np

from w2v_spark import kernels
from w2v_spark.text.vocabulary import keep_probabilities, noise_distribution

WINDOW, K, D = 5, 5, 100


def read_lines(path: str, words: int) -> list[list[str]]:
    """The file's first sentences (one per line), up to the first that reaches ``words`` words."""
    lines: list[list[str]] = []
    total = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            lines.append(line.split())
            total += len(lines[-1])
            if total >= words:
                break
    return lines


def sentences(path: str | None, words: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, offsets, counts) of at most ``words`` words, ids by descending count, min_count 5."""
    if path is None:
        rng = np.random.default_rng(0)
        p = 1.0 / np.arange(1, 30_001)
        ids = rng.choice(30_000, words, p=p / p.sum()).astype(np.int32)
        offsets = np.arange(0, words + 1, 20, dtype=np.int64)
        return ids, offsets, np.bincount(ids, minlength=30_000).astype(np.int64)
    lines = read_lines(path, words)
    counts = Counter(w for line in lines for w in line)
    vocab = [w for w, c in counts.most_common() if c >= 5]
    index = {w: i for i, w in enumerate(vocab)}
    encoded = [[index[w] for w in line if w in index] for line in lines]
    offsets = np.cumsum([0] + [len(e) for e in encoded]).astype(np.int64)
    ids = np.fromiter((i for e in encoded for i in e), dtype=np.int32, count=int(offsets[-1]))
    return ids, offsets, np.array([counts[w] for w in vocab], dtype=np.int64)


def generate(
    ids: np.ndarray, offsets: np.ndarray, counts: np.ndarray, windows: bool, seed: int = 1, epoch: int = 1
) -> tuple[tuple, float]:
    keep = keep_probabilities(counts, 1e-3)
    prob, alias = kernels.build_alias_table(noise_distribution(counts, 0.75))
    state = kernels.derive_seed(seed, epoch, 0)
    n = len(ids)
    t = time.perf_counter()
    if windows:
        targets, contexts, negs = np.empty(n, np.int32), np.empty((2 * WINDOW, n), np.int32), np.empty((K, n), np.int32)
        _, rows, _, _ = kernels.generate_windows(ids, offsets, 0, keep, prob, alias, WINDOW, K, state, targets,
                                                 contexts, negs)  # fmt: skip
        kernels.shuffle_windows(targets, contexts, negs, rows, state)
        out = (targets[:rows], np.ascontiguousarray(contexts[:, :rows]), np.ascontiguousarray(negs[:, :rows]))
    else:
        cap = n * 2 * WINDOW
        centers, targets, negs = np.empty(cap, np.int32), np.empty(cap, np.int32), np.empty((K, cap), np.int32)
        _, pairs, _ = kernels.generate_tuples(ids, offsets, 0, keep, prob, alias, WINDOW, K, state, centers, targets,
                                              negs)  # fmt: skip
        kernels.shuffle_pairs(centers, targets, negs, pairs, state)
        out = (centers[:pairs], targets[:pairs], np.ascontiguousarray(negs[:, :pairs]))
    return out, time.perf_counter() - t


def train(vocab: int, data: tuple, windows: bool) -> tuple[float, int]:
    rng = np.random.default_rng(0)
    emb = ((rng.random((vocab, D)) - 0.5) / D).astype(np.float32)
    theta = np.zeros((vocab, D), np.float32)
    t = time.perf_counter()
    if windows:
        _, pairs = kernels.sgd_window_step(emb, theta, *data, 0.025, 0.0)
    else:
        kernels.sgd_step(emb, theta, *data, 0.025, 0.0)
        pairs = len(data[0])
    return time.perf_counter() - t, int(pairs)


def time_kernels(ids: np.ndarray, offsets: np.ndarray, counts: np.ndarray, words: int) -> dict[str, dict[str, float]]:
    """Both kernels on the same sentences, one core, medians of 3: pairs/s of generation and of
    SGD, and ``words`` per second of both together."""
    report: dict[str, dict[str, float]] = {}
    for windows in (False, True):
        small = generate(ids[:2000], offsets[offsets <= 2000], counts, windows)[0]  # compile
        train(len(counts), small, windows)
        gen, sgd, pairs = [], [], 0
        for _ in range(3):
            data, g = generate(ids, offsets, counts, windows)
            s, pairs = train(len(counts), data, windows)
            gen.append(g)
            sgd.append(s)
        g_s, s_s = float(np.median(gen)), float(np.median(sgd))
        report["windows (shared negatives)" if windows else "pairs (word2vec)"] = {
            "pairs": pairs,
            "generate_pairs_per_s": pairs / g_s,
            "sgd_pairs_per_s": pairs / s_s,
            "words_per_s": words / (g_s + s_s),
        }
    return report


def quality(path: str, windows: bool, seed: int, epochs: int = 5) -> dict[str, float]:
    """One model on the whole file; its gensim scores (the vocabulary is min_count 5, as the job's)."""
    import tempfile

    from compare import evaluate

    with open(path, encoding="utf-8") as fh:
        words = [w for line in fh for w in line.split()]
    ids, offsets, counts = sentences(path, len(words))
    vocab = [w for w, c in Counter(words).most_common() if c >= 5]
    state = kernels.derive_seed(seed, 0, 0)
    emb = ((kernels.uniform(len(vocab) * D, state) - 0.5) / D).astype(np.float32).reshape(len(vocab), D)
    theta = np.zeros_like(emb)
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        data, _ = generate(ids, offsets, counts, windows, seed, epoch)
        n = len(data[0])
        lr0 = 0.025 - (0.025 - 0.0001) * (epoch - 1) / epochs
        step = -(0.025 - 0.0001) / epochs / n
        if windows:
            kernels.sgd_window_step(emb, theta, *data, lr0, step)
        else:
            kernels.sgd_step(emb, theta, *data, lr0, step)
    seconds = time.perf_counter() - t0
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as fh:
        fh.write(f"{len(vocab)} {D}\n")
        for w, v in zip(vocab, emb, strict=True):
            fh.write(w + " " + " ".join(f"{x:.6g}" for x in v) + "\n")
        fh.flush()
        scores = evaluate(fh.name)
    return {"kernel": "windows" if windows else "pairs", "seed": seed, "seconds": seconds, **scores}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", help="a tokens file (one sentence per line); default: a Zipf stream")
    ap.add_argument("--words", type=int, default=1_000_000)
    ap.add_argument("--quality", action="store_true", help="train and score models instead of timing kernels")
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--kernels", default="pairs,windows")
    args = ap.parse_args()
    if args.quality:
        for seed in (int(s) for s in args.seeds.split(",")):
            for kernel in args.kernels.split(","):
                run = quality(args.tokens, kernel == "windows", seed)
                print(json.dumps({"corpus": args.tokens, **run}), flush=True)
        return
    ids, offsets, counts = sentences(args.tokens, args.words)
    report = time_kernels(ids, offsets, counts, len(ids))
    print(json.dumps({"words": len(ids), "vocab": len(counts), **report}, indent=1))


if __name__ == "__main__":
    main()
