"""A synthetic corpus with a Zipf vocabulary, for scale tests: any number of tokens and word types.

    python bench/zipf_corpus.py OUT.txt --tokens 100_000_000 --types 2_000_000 [--exponent 1.0]

Words are "w<rank>" (rank 1 the most frequent), drawn i.i.d. with P(rank r) proportional to
1 / r**exponent, in sentences of 5 to 30 words, written in chunks so memory stays flat
(about 200 MB whatever the size). Deterministic for a given --seed. There is no semantics to
learn: this corpus measures time and memory, not quality.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--tokens", type=lambda s: int(s.replace("_", "")), default=10_000_000)
    ap.add_argument("--types", type=lambda s: int(s.replace("_", "")), default=1_000_000)
    ap.add_argument("--exponent", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    cdf = np.cumsum(1.0 / np.arange(1, args.types + 1) ** args.exponent)
    cdf /= cdf[-1]
    names = np.array([f"w{r}" for r in range(1, args.types + 1)], dtype=object)
    started = time.perf_counter()
    written = 0
    with open(args.out, "w", encoding="ascii") as fh:
        while written < args.tokens:
            n = min(2_000_000, args.tokens - written)
            ranks = np.searchsorted(cdf, rng.random(n), side="right")
            lengths = rng.integers(5, 31, size=n // 5 + 1)
            ends = np.cumsum(lengths)
            ends = ends[ends < n]
            words = names[ranks]
            lines = (" ".join(s) for s in np.split(words, ends))
            fh.write("\n".join(lines) + "\n")
            written += n
    print(f"wrote {args.out}: {written:,} tokens over {args.types:,} types in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
