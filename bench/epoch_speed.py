"""Per-epoch training speed, ours against gensim, on the same tokens and cores.

    python bench/epoch_speed.py TOKENS --epochs 3 --repeat 2 --json out.json

TOKENS is one tokenized sentence per line (``bench/compare.py`` writes one; ``--copies N``
concatenates N copies of it first, to reach a corpus of tens of millions of words). Each
system runs in its own process, interleaved per repetition, with the same hyperparameters as
``bench/compare.py``. An epoch's words/s is the corpus's raw words (out-of-vocabulary ones
included, as gensim counts them) divided by the epoch's wall time: ours from metrics.json
(tuple generation and training, every round's averaging included); gensim's (``corpus_file``
mode, the fastest it has) timed by a callback from the start to the end of each epoch.
Start-up, vocabulary and export are left out on both sides: ``bench/compare.py`` measures
those end to end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

GENSIM_SCRIPT = """
import json, sys, time
from gensim.models import Word2Vec
from gensim.models.callbacks import CallbackAny2Vec
tokens, epochs, d, window, negative, min_count, sample, workers = sys.argv[1:9]

class Clock(CallbackAny2Vec):
    def __init__(self):
        self.seconds = []
    def on_epoch_begin(self, model):
        self.t = time.perf_counter()
    def on_epoch_end(self, model):
        self.seconds.append(time.perf_counter() - self.t)

clock = Clock()
m = Word2Vec(corpus_file=tokens, sg=1, hs=0, negative=int(negative), vector_size=int(d), window=int(window),
             min_count=int(min_count), sample=float(sample), workers=int(workers), epochs=int(epochs), seed=1,
             callbacks=[clock])
print(json.dumps({"words": m.corpus_total_words, "epoch_seconds": clock.seconds}))
"""


def run_ours(tokens: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    out = work / "ours"
    exe = shutil.which("w2v-spark") or sys.exit("w2v-spark is not installed (pip install -e .)")
    cmd = [
        exe, "train", "--input", str(tokens), "--output", str(out), "--overwrite", "--master", f"local[{args.cores}]",
        "--partitions", str(args.cores), "--epochs", str(args.epochs), "--vector-size", str(args.vector_size),
        "--window", str(args.window), "--negative", str(args.negative), "--min-count", str(args.min_count),
        "--sample", str(args.sample), *args.extra.split(),
    ]  # fmt: skip
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    (work / "ours.log").write_text(r.stderr)
    if r.returncode != 0:
        sys.exit(f"w2v-spark failed (exit {r.returncode}); see {work / 'ours.log'}")
    metrics = json.loads((out / "metrics.json").read_text())
    # the corpus's raw words, as gensim counts them (metrics.json counts the in-vocabulary ones)
    words = raw_words(tokens)
    return {"words": words, "epoch_seconds": [e["seconds"] for e in metrics["epochs"]], "stages": metrics["stages"]}


def raw_words(tokens: Path) -> int:
    with tokens.open(encoding="utf-8") as fh:
        return sum(len(line.split()) for line in fh)


def run_gensim(tokens: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-c", GENSIM_SCRIPT, str(tokens), str(args.epochs), str(args.vector_size),
           str(args.window), str(args.negative), str(args.min_count), str(args.sample), str(args.cores)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    (work / "gensim.log").write_text(r.stderr)
    if r.returncode != 0:
        sys.exit(f"gensim failed (exit {r.returncode}); see {work / 'gensim.log'}")
    return dict(json.loads(r.stdout.strip().splitlines()[-1]))


def concatenate(tokens: Path, copies: int, work: Path) -> Path:
    if copies == 1:
        return tokens
    big = work / f"tokens-x{copies}.txt"
    if not big.exists() or big.stat().st_size != tokens.stat().st_size * copies:
        with big.open("wb") as out:
            for _ in range(copies):
                with tokens.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 24)
    return big


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("tokens", type=Path)
    p.add_argument("--copies", type=int, default=1, help="train on this many copies of TOKENS, concatenated")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--vector-size", type=int, default=100)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--negative", type=int, default=5)
    p.add_argument("--min-count", type=int, default=5)
    p.add_argument("--sample", type=float, default=1e-3)
    p.add_argument("--extra", default="", help="more flags for w2v-spark train, e.g. '--objective negative_sampling'")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/w2v-bench/epoch-speed"))
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    tokens = concatenate(args.tokens, args.copies, args.workdir)
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "gensim": []}
    for rep in range(args.repeat):  # interleaved, so drifting machine load hits both alike
        for name, fn in (("ours", run_ours), ("gensim", run_gensim)):
            print(f"[{rep + 1}/{args.repeat}] {name} ...", flush=True)
            t = time.perf_counter()
            result = fn(tokens, args.workdir, args)
            result["wall_seconds"] = time.perf_counter() - t
            result["words_per_sec"] = [result["words"] / s for s in result["epoch_seconds"]]
            runs[name].append(result)
            rates = ", ".join(f"{r:,.0f}" for r in result["words_per_sec"])
            print(f"  {result['words']:,} words; words/s per epoch: {rates}", flush=True)
    medians = {name: statistics.median(r for run in rs for r in run["words_per_sec"]) for name, rs in runs.items()}
    ratio = medians["ours"] / medians["gensim"]
    ours, gensim = medians["ours"], medians["gensim"]
    print(f"median words/s per epoch: ours {ours:,.0f}, gensim {gensim:,.0f}; ours/gensim {ratio:.2f}")
    if args.json:
        record = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{os.uname().machine}, {os.cpu_count()} cores, Python {sys.version.split()[0]}",
            "tokens": str(args.tokens),
            "copies": args.copies,
            "params": {k: v for k, v in vars(args).items() if k not in ("tokens", "workdir", "json")},
            "runs": runs,
            "median_words_per_sec": medians,
            "ours_over_gensim": ratio,
        }
        args.json.write_text(json.dumps(record, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
