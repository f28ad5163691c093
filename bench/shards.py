"""Quality against the number of shards, side by side with gensim, over several seeds.

    python bench/shards.py /tmp/w2v-bench/work/tokens.txt --shards 1,8,8 --syncs 1,8,1 \
        --modes average,average,hogwild --seeds 1,2,3
    python bench/shards.py /tmp/w2v-bench/pydocs.txt --shards 1,16,4 --syncs 1,1,1 \
        --masters "local[2];local[16];local-cluster[4,1,2560]" --seeds 1,2,3,4,5

``--masters`` gives each configuration its own Spark master (``;``-separated): ``local[16]``
runs 16 shards at once as a 16-core machine would (oversubscribed on 2 cores, which is fine
for quality), ``local-cluster[N,1,MB]`` gives N executor processes.
``bench/build_python_docs_corpus.sh`` builds the second corpus, of another genre.

Input: one tokenized sentence per line (``bench/compare.py`` writes ``tokens.txt`` from a raw
corpus). For every seed, gensim (skip-gram, negative sampling, ``--cores`` workers) and then
``w2v-spark train --partitions P --syncs-per-epoch S [--hogwild]`` for each (P, S, mode), on the same tokens
with the same hyperparameters; every result is scored with gensim's evaluators (analogy
accuracy, WordSim-353 Spearman). Why several seeds: on the 4.8M-word benchmark corpus a
single run's analogy accuracy moves by up to 0.7 points with the seed alone, which is the size
of the differences being measured. Prints every run, the medians, and for every configuration
after the first how much it loses against the first (one model): the scale-out target is at
most 0.5 analogy points and 0.01 WordSim-353. ``--extra`` adds flags per configuration
(``--hot-words 0`` turns the hot-row meetings off); ``--mllib 8`` adds Spark MLlib's Word2Vec
at 8 partitions for every seed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from compare import GENSIM_SCRIPT, MLLIB_SCRIPT, evaluate, run_timed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tokens", help="one whitespace-tokenized sentence per line")
    p.add_argument("--shards", default="1,8", help="comma-separated --partitions values")
    p.add_argument("--syncs", default="1,8", help="--syncs-per-epoch for each of --shards")
    p.add_argument("--modes", help="average or hogwild for each of --shards (default: average for all)")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument(
        "--masters",
        help="Spark master for each of --shards, e.g. local[16] or local-cluster[4,1,2560] (default: local[CORES])",
    )
    p.add_argument("--extra", help="extra w2v-spark flags for each of --shards, ';'-separated (e.g. '--hot-words 0')")
    p.add_argument("--mllib", default="", help="comma-separated numPartitions of Spark MLlib's Word2Vec runs, per seed")
    p.add_argument("--no-gensim", action="store_true", help="skip gensim")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--workdir", default="/tmp/w2v-bench/shards")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    shards = [int(x) for x in args.shards.split(",")]
    syncs = [int(x) for x in args.syncs.split(",")]
    if len(syncs) != len(shards):
        sys.exit(f"--syncs needs one value per --shards value ({len(shards)}), got {len(syncs)}")
    modes = args.modes.split(",") if args.modes else ["average"] * len(shards)
    if len(modes) != len(shards) or not set(modes) <= {"average", "hogwild"}:
        sys.exit(f"--modes needs average or hogwild for each --shards value ({len(shards)}), got {args.modes}")
    masters = args.masters.split(";") if args.masters else [f"local[{args.cores}]"] * len(shards)
    if len(masters) != len(shards):
        sys.exit(f"--masters needs one master per --shards value ({len(shards)}), separated by ';', got {args.masters}")
    extras = [e.split() for e in args.extra.split(";")] if args.extra else [[] for _ in shards]
    if len(extras) != len(shards):
        sys.exit(f"--extra needs one entry per --shards value ({len(shards)}), separated by ';', got {args.extra}")
    mllib = [int(x) for x in args.mllib.split(",")] if args.mllib else []
    seeds = [int(x) for x in args.seeds.split(",")]
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    beside = Path(sys.executable).parent / "w2v-spark"
    exe = str(beside) if beside.exists() else "w2v-spark"
    hyper = {"epochs": args.epochs, "vector_size": 100, "window": 5, "negative": 5, "min_count": 5, "sample": 1e-3}
    setups = list(zip(shards, syncs, modes, masters, extras, strict=True))
    configs = (
        ["gensim"]
        + [
            f"{p} shards, {s} syncs"
            + (", hogwild" if m == "hogwild" else "")
            + (f", {ms}" if args.masters else "")
            + (f", {' '.join(ex)}" if ex else "")
            for p, s, m, ms, ex in setups
        ]
        + [f"MLlib, {n} partitions" for n in mllib]
    )
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in configs}
    for seed in seeds:
        out = work / f"gensim-{seed}.txt"
        cmd = [sys.executable, "-c", GENSIM_SCRIPT, args.tokens, str(out)] + [
            str(hyper[k]) for k in ("epochs", "vector_size", "window", "negative", "min_count", "sample")
        ] + [str(args.cores), str(seed)]  # fmt: skip
        if not args.no_gensim:
            wall, _ = run_timed(cmd, work / f"gensim-{seed}.log")
            runs["gensim"].append({"seed": seed, "seconds": wall, **evaluate(str(out))})
            report_line("gensim", runs["gensim"][-1])
        for n in mllib:
            out = work / f"mllib-{n}-{seed}.txt"
            cmd = [sys.executable, "-c", MLLIB_SCRIPT, args.tokens, str(out), str(args.epochs), "100", "5", "5",
                   str(args.cores), str(n), str(seed)]  # fmt: skip
            env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
            wall, _ = run_timed(cmd, work / f"mllib-{n}-{seed}.log", env=env)
            name = f"MLlib, {n} partitions"
            runs[name].append({"seed": seed, "seconds": wall, **evaluate(str(out))})
            report_line(name, runs[name][-1])
        for (p_, s_, m_, master, ex), name in zip(setups, configs[1 : 1 + len(setups)], strict=True):
            tag = f"p{p_}-s{s_}" + ("-hogwild" if m_ == "hogwild" else "") + f"-{master}" + "".join(ex)
            out_dir = work / f"ours-{tag}-{seed}"
            cmd = [exe, "train", "--input", args.tokens, "--output", str(out_dir), "--overwrite",
                   "--master", master, "--partitions", str(p_), "--syncs-per-epoch", str(s_),
                   "--seed", str(seed)] + [
                f"--{k.replace('_', '-')}={v}" for k, v in hyper.items()
            ] + (["--hogwild"] if m_ == "hogwild" else []) + ex  # fmt: skip
            wall, _ = run_timed(cmd, work / f"ours-{tag}-{seed}.log")
            runs[name].append({"seed": seed, "seconds": wall, **evaluate(str(out_dir / "vectors.txt"))})
            report_line(name, runs[name][-1])
    med = {
        c: {k: statistics.median(r[k] for r in rs) for k in ("analogy_accuracy", "wordsim_spearman", "seconds")}
        for c, rs in runs.items()
        if rs
    }
    print("\nmedians over seeds " + ",".join(map(str, seeds)))
    for c, m in med.items():
        print(f"  {c:31s} analogy {100 * m['analogy_accuracy']:5.2f}%  WordSim-353 {m['wordsim_spearman']:.3f}  "
              f"{m['seconds']:.1f} s")  # fmt: skip
    few = med[configs[1]]
    checks: dict[str, float] = {}
    limits: dict[str, float] = {}  # negative: the value must be at least this; positive: at most
    for c in configs[2:]:
        many = med[c]
        label = f"{configs[1]} -> {c}: lose <= 0.5 analogy points"
        checks[label], limits[label] = 100 * (few["analogy_accuracy"] - many["analogy_accuracy"]), 0.5
        label = f"{configs[1]} -> {c}: lose <= 0.01 WordSim-353"
        checks[label], limits[label] = few["wordsim_spearman"] - many["wordsim_spearman"], 0.01
    for label, value in checks.items():
        limit = limits[label]
        ok = value >= limit if limit < 0 else value <= limit
        print(f"  {label}: {value:+.2f} ({'met' if ok else 'NOT met'})")
    if args.json:
        report = {"date": time.strftime("%Y-%m-%d"), "tokens": args.tokens, "params": hyper, "runs": runs,
                  "medians": med, "checks": checks}  # fmt: skip
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


def report_line(name: str, r: dict[str, Any]) -> None:
    print(f"{name:31s} seed {r['seed']}: analogy {100 * r['analogy_accuracy']:5.2f}%  "
          f"WordSim-353 {r['wordsim_spearman']:.3f}  {r['seconds']:.1f} s", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
