"""Offline simulation of combination rules for P shard models, on one run's kept tuples.

    w2v-spark train --input tokens.txt --output RUN --partitions 1 --keep-tuples --seed S
    python bench/sim_exchange.py RUN --shards 16 --meets 1,8 --hot 0,1000 --seed S

Each epoch's tuples (one shard's file, shuffled sentences and pairs) are cut into P contiguous
slices, one per simulated shard, so every rule sees exactly the tuples the one-model run trained
on, in the same order: the comparison with ``--shards 1`` is paired. Every shard trains its own
copy with the job's kernel for the run's ``--objective`` (the window-batched one by default)
and its learning-rate schedule (at ``--multiple`` times the rate, default P^(5/6), or one
multiple per epoch with ``--epoch-multiples``; with ``--shards 1`` a multiple trains one model
at that rate); ``--meets`` times per epoch, at equal row counts, the first ``--hot`` rows (ids
follow descending count, so these are the most frequent words) of E and Theta are averaged
across the copies (0: none; -1: every row); at the end of every epoch every row is averaged, as
the job does (``--ruler``: pWord2Vec's doubling schedule, as the job's meetings). No Spark:
the kernel and the files are the job's, the scheduling is sequential. Prints one JSON line
per configuration with gensim's evaluators' scores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import evaluate

from w2v_spark.train import blocks, objectives
from w2v_spark.train.blocks import ModelShape
from w2v_spark.train.rounds import learning_rate

CHUNK = 65_536  # rows per kernel call, about a row group, as the job's tasks stream them


def load_epoch(run: Path, epoch: int) -> pa.Table:
    return pq.read_table(run / "tuples" / f"epoch={epoch}" / "part-00000.parquet").combine_chunks()


def train_slice(
    emb: np.ndarray, theta: np.ndarray, data: pa.Table, objective: str,
    lo: int, hi: int, n: int, shard_lo: int, epoch: int, epochs: int, scale: float,
) -> float:  # fmt: skip
    """Rows lo..hi of the epoch, which belong to a shard whose rows start at shard_lo and number n."""
    alpha, min_alpha = 0.025, 0.0001
    drop = scale * (alpha - min_alpha) / max(n, 1) / epochs
    loss = 0.0
    obj = objectives.get(objective)
    for s in range(lo, hi, CHUNK):
        e = min(hi, s + CHUNK)
        progress = (epoch - 1 + (s - shard_lo) / max(n, 1)) / epochs
        lr0 = scale * learning_rate(alpha, min_alpha, progress)
        loss += obj.train(data.slice(s, e - s), emb, theta, lr0, -drop)[0]
    return loss


def simulate(run: Path, shape: ModelShape, words: list[str], args: argparse.Namespace, meets: list[int], hot: int,
             multiple: float) -> dict[str, float]:  # fmt: skip
    p = args.shards
    init = [blocks.init_block(shape, args.seed, b) for b in range(shape.blocks)]
    emb0 = np.concatenate([e for e, _ in init])
    theta0 = np.concatenate([t for _, t in init])
    embs = np.stack([emb0] * p)
    thetas = np.stack([theta0] * p)
    loss = 0.0
    for epoch in range(1, args.epochs + 1):
        data = load_epoch(run, epoch)
        base_e, base_t = embs[0].copy(), thetas[0].copy()
        hot_e, hot_t = embs[0, : max(hot, 0)].copy(), thetas[0, : max(hot, 0)].copy()
        total = data.num_rows
        bounds = [total * i // p for i in range(p + 1)]
        j_count = meets[min(epoch, len(meets)) - 1]
        for j in range(j_count):
            for s in range(p):
                lo, n = bounds[s], bounds[s + 1] - bounds[s]
                a, b = lo + n * j // j_count, lo + n * (j + 1) // j_count
                m_e = float(args.epoch_multiples.split(",")[epoch - 1]) if args.epoch_multiples else multiple
                loss += train_slice(embs[s], thetas[s], data, args.objective, a, b, n, lo, epoch, args.epochs, m_e)
            rows = shape.vocab_size if (hot < 0 or j == j_count - 1) else hot
            if args.ruler and 0 < rows < shape.vocab_size:
                rows = min(shape.vocab_size, hot * ((j + 1) & -(j + 1)))  # pWord2Vec: x2 every other meeting
            if rows and p > 1:
                embs[:, :rows] = embs[:, :rows].mean(axis=0, dtype=np.float32)
                thetas[:, :rows] = thetas[:, :rows].mean(axis=0, dtype=np.float32)
                if hot > 0 and args.hot_gain != 1.0:
                    embs[:, :hot] = hot_e + args.hot_gain * (embs[0, :hot] - hot_e)
                    thetas[:, :hot] = hot_t + args.hot_gain * (thetas[0, :hot] - hot_t)
                if hot > 0:
                    hot_e, hot_t = embs[0, :hot].copy(), thetas[0, :hot].copy()
                if j == j_count - 1 and args.cold_gain != 1.0:
                    h = max(hot, 0)
                    embs[:, h:] = base_e[h:] + args.cold_gain * (embs[0, h:] - base_e[h:])
                    thetas[:, h:] = base_t[h:] + args.cold_gain * (thetas[0, h:] - base_t[h:])
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write(f"{len(words)} {shape.vector_size}\n")
        for w, v in zip(words, embs[0], strict=True):
            fh.write(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n")
    scores = evaluate(fh.name)
    Path(fh.name).unlink()
    return {"loss": loss, **scores}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--meets", action="append", default=[], help="meetings per epoch, per epoch comma-separated "
                    "(the last repeats); repeat the flag to try several")  # fmt: skip
    ap.add_argument("--hot", default="0", help="comma-separated hot-row counts to try (-1: every row)")
    ap.add_argument("--multiple", default="", help="comma-separated rate multiples (default P^(5/6))")
    ap.add_argument("--epoch-multiples", default="", help="multiple per epoch, comma-separated")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--tag", default="")
    ap.add_argument("--objective", default="batch_negative_sampling", help="the run's --objective (its tuples' layout)")
    ap.add_argument("--ruler", action="store_true", help="meeting j averages hot x (largest power of 2 dividing j)")
    ap.add_argument("--hot-gain", type=float, default=1.0, help="at meetings, hot rows step this x the mean delta")
    ap.add_argument("--cold-gain", type=float, default=1.0, help="at epoch ends, other rows step this x the mean")
    args = ap.parse_args()
    words = pq.read_table(args.run / "vocab").column("word").to_pylist()
    shape = ModelShape(len(words), 100)
    multiples = [float(x) for x in args.multiple.split(",")] if args.multiple else [args.shards ** (5 / 6)]
    for meets_s in args.meets or ["1"]:
        meets = [int(x) for x in meets_s.split(",")]
        for hot in [int(x) for x in args.hot.split(",")]:
            for m in multiples:
                started = time.perf_counter()
                r = simulate(args.run, shape, words, args, meets, hot, m if (args.shards > 1 or args.multiple) else 1.0)
                record = {
                    "tag": args.tag, "objective": args.objective, "seed": args.seed, "shards": args.shards,
                    "meets": meets_s, "hot": hot,
                    "ruler": args.ruler, "multiple": args.epoch_multiples or round(m, 3), "cold_gain": args.cold_gain,
                    "hot_gain": args.hot_gain, "analogy": round(100 * r["analogy_accuracy"], 2),
                    "wordsim": round(r["wordsim_spearman"], 4), "loss": round(r["loss"], 1),
                    "seconds": round(time.perf_counter() - started, 1),
                }  # fmt: skip
                print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
