"""Why negative sampling: time per training pair of both objectives as the vocabulary grows.

    pip install -e ".[bench]"
    python bench/objectives.py --png docs/objectives.png

One core, d=100, the compiled kernels of w2v_spark.kernels on Zipf-distributed pairs. Negative
sampling (k=5) touches k+1 output rows per pair whatever the vocabulary; the full softmax
scores, normalises and updates all V of them. Prints a table (median of 3 timings) and draws
it on log-log axes.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from w2v_spark import kernels

D, K = 100, 5


def pairs(vocab: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = 1.0 / np.arange(1, vocab + 1)
    p /= p.sum()
    draw = rng.choice(vocab, (K + 2, n), p=p).astype(np.int32)
    return draw[0], draw[1], np.ascontiguousarray(draw[2:])


def seconds_per_pair(objective: str, vocab: int, rng: np.random.Generator) -> float:
    # enough pairs for about a second of work at the expected speed
    n = 400_000 if objective == "negative_sampling" else max(50, 30_000_000 // vocab)
    c, t, neg = pairs(vocab, n, rng)
    times = []
    for _ in range(3):
        emb = ((rng.random((vocab, D)) - 0.5) / D).astype(np.float32)
        out = np.zeros((vocab, D), np.float32)
        start = time.perf_counter()
        if objective == "negative_sampling":
            kernels.sgd_step(emb, out, c, t, neg, 0.025, 0.0)
        else:
            kernels.softmax_step(emb, out, c, t, 0.025, 0.0)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--png", help="draw the result here (needs matplotlib)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    e, o = np.zeros((10, D), np.float32), np.zeros((10, D), np.float32)
    few = np.zeros(2, np.int32)
    kernels.sgd_step(e, o, few, few, np.zeros((K, 2), np.int32), 0.0, 0.0)  # load both kernels first
    kernels.softmax_step(e, o, few, few, 0.0, 0.0)
    rows = []
    print(f"{'vocabulary':>10s} {'neg. sampling':>14s} {'softmax':>12s} {'ratio':>8s}")
    for v in args.vocab:
        ns, sm = seconds_per_pair("negative_sampling", v, rng), seconds_per_pair("softmax", v, rng)
        rows.append((v, ns, sm))
        print(f"{v:10,d} {ns * 1e6:11.2f} us {sm * 1e6:9.1f} us {sm / ns:7,.0f}x")
    if args.png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
        vs = [r[0] for r in rows]
        ax.loglog(vs, [r[1] * 1e6 for r in rows], marker="o", label=f"negative sampling (k={K})")
        ax.loglog(vs, [r[2] * 1e6 for r in rows], marker="s", label="full softmax")
        ax.set_xlabel("vocabulary size V")
        ax.set_ylabel("microseconds per training pair (1 core)")
        ax.set_title(f"time per pair, d={D}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.png)
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
