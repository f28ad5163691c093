"""Kernel speed on one core: why numba, and both of our kernels against gensim's.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python bench/kernel_speed.py
    OMP_NUM_THREADS=1 python bench/kernel_speed.py --tokens tokens.txt --words 2000000 [--json out.json]

Without ``--tokens``: the per-pair SGNS update on the same random pairs, the compiled kernel
against the best plain-numpy formulation we know (minibatches of 1024 pairs, einsum for the
scores, np.add.at for the scattered updates); pairs/s, median of 3.

With ``--tokens``: one pass over the same sentences (the file's first ``--words`` words, one
sentence per line as bench/compare.py writes them; window 5, 5 negatives, sample 1e-3,
min_count 5, d=100) by our per-pair kernel, our window-batched kernel and gensim's
``train_batch_sg`` (its Cython skip-gram routine, called on jobs of at most 10,000 words as
its worker threads call it). gensim draws windows, subsampling and negatives inside the
routine, so the like-for-like figure is words/s of generation plus SGD; ours also report
pairs/s of SGD alone. Median of 3, one core.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from w2v_spark import kernels

V, D, K, N = 30_000, 100, 5, 400_000


def numpy_sgd(
    emb: np.ndarray,
    out: np.ndarray,
    centers: np.ndarray,
    targets: np.ndarray,
    negatives: np.ndarray,
    lr: float,
    batch: int = 1024,
) -> None:
    for s in range(0, len(centers), batch):
        c = centers[s : s + batch]
        w = np.concatenate([targets[s : s + batch, None], negatives[s : s + batch]], axis=1)
        ec, ow = emb[c], out[w]
        x = np.einsum("bd,bkd->bk", ec, ow)
        label = np.zeros_like(x)
        label[:, 0] = 1.0
        g = ((label - 1.0 / (1.0 + np.exp(-x))) * lr).astype(np.float32)
        np.add.at(emb, c, np.einsum("bk,bkd->bd", g, ow))
        np.add.at(out, w.ravel(), (g[:, :, None] * ec[:, None, :]).reshape(-1, emb.shape[1]))


def gensim_words_per_s(lines: list[list[str]]) -> tuple[float, int]:
    """gensim's train_batch_sg over these sentences, one thread: (words/s, words)."""
    from gensim.models import Word2Vec
    from gensim.models.word2vec_inner import train_batch_sg

    total = sum(len(line) for line in lines)
    times = []
    for _ in range(3):
        model = Word2Vec(vector_size=100, window=5, negative=5, sample=1e-3, min_count=5, sg=1, workers=1, seed=1)
        model.build_vocab(lines)
        work, _ = model._get_thread_working_mem()
        jobs: list[list[list[str]]] = []
        job: list[list[str]] = []
        size = 0
        for sentence in lines:  # gensim's jobs: at most 10,000 words each
            if size + len(sentence) > 10_000 and job:
                jobs.append(job)
                job, size = [], 0
            job.append(sentence[:10_000])
            size += len(job[-1])
        jobs.append(job)
        t = time.perf_counter()
        for job in jobs:
            train_batch_sg(model, job, 0.025, work, False)
        times.append(time.perf_counter() - t)
    return total / float(np.median(times)), total


def against_gensim(path: str, words: int) -> dict[str, Any]:
    """Our two kernels (generation + SGD) and gensim's routine on the same sentences, one core."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from window_kernel import read_lines, sentences, time_kernels

    ids, offsets, counts = sentences(path, words)
    report: dict[str, Any] = {"corpus": path, "words": words, "vocab": len(counts)}
    report.update(time_kernels(ids, offsets, counts, words))
    g_words, total = gensim_words_per_s(read_lines(path, words))
    report["gensim train_batch_sg"] = {"words_per_s": g_words, "words": total}
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", help="a tokens file: compare our kernels with gensim's on its sentences")
    ap.add_argument("--words", type=int, default=2_000_000)
    ap.add_argument("--json", help="also write the report here")
    args = ap.parse_args()
    if args.tokens:
        report = against_gensim(args.tokens, args.words)
        text = json.dumps(report, indent=1)
        print(text)
        if args.json:
            Path(args.json).write_text(text + "\n")
        return
    rng = np.random.default_rng(0)
    p = 1.0 / np.arange(1, V + 1) ** 0.75
    p /= p.sum()
    centers = rng.choice(V, N, p=p).astype(np.int32)
    targets = rng.choice(V, N, p=p).astype(np.int32)
    negatives = rng.choice(V, (K, N), p=p).astype(np.int32)  # (k, n)
    speeds = {}
    for name in ("numba", "numpy"):
        times = []
        for _ in range(3):
            emb = ((rng.random((V, D)) - 0.5) / D).astype(np.float32)
            out = np.zeros((V, D), np.float32)
            few = np.ascontiguousarray(negatives[:, :10])
            kernels.sgd_step(emb, out, centers[:10], targets[:10], few, 0.025, 0.0)  # compile
            t = time.perf_counter()
            if name == "numba":
                kernels.sgd_step(emb, out, centers, targets, negatives, 0.025, 0.0)
            else:
                numpy_sgd(emb, out, centers, targets, negatives.T, 0.025)
            times.append(time.perf_counter() - t)
        speeds[name] = N / float(np.median(times))
        print(f"{name:6s} {speeds[name]:>12,.0f} pairs/s")
    print(f"numba / numpy: {speeds['numba'] / speeds['numpy']:.1f}x")


if __name__ == "__main__":
    main()
