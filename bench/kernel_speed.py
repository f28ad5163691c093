"""Why numba: the SGNS update on the same pairs, one core, compiled kernel vs vectorized numpy.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python bench/kernel_speed.py

The numpy version is the best plain-numpy formulation we know (minibatches of 1024 pairs,
einsum for the scores, np.add.at for the scattered updates). Prints pairs/s (median of 3).
"""

from __future__ import annotations

import time

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


def main() -> None:
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
