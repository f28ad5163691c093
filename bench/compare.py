"""Side-by-side benchmark: w2v-spark vs gensim vs Spark MLlib Word2Vec, same tokens, same run.

    pip install -e ".[bench]"
    bench/build_corpus.sh /tmp/w2v-bench/corpus.txt          # 4.6M words of real text
    python bench/compare.py /tmp/w2v-bench/corpus.txt --repeat 3 --json out.json

A raw corpus is tokenized once with w2v-spark's own tokenizer (untimed), so all three systems
train on identical whitespace-separated tokens. Each system runs in its own process:

  ours    `w2v-spark train --master local[C] --partitions C`, timed from process start to exit
          (Spark start-up included; _SUCCESS is written just before exit)
  gensim  Word2Vec(sg=1, negative, corpus_file, workers=C), timed from vocabulary to vectors
  mllib   pyspark.ml.feature.Word2Vec on local[C] with C partitions (skip-gram, hierarchical
          softmax, no subsampling: MLlib has neither negative sampling nor `sample`), timed from
          process start to vectors (Spark start-up included)

Every result is scored with gensim's evaluators on the sets shipped in the gensim wheel:
analogy accuracy (questions-words.txt, 300,000 most frequent words, case-insensitive) and
WordSim-353 Spearman. `--scaling` also runs ours on local[1] (same shards) to measure how the
training stage scales with cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SYSTEMS = ("ours", "gensim", "mllib")


def eval_paths() -> tuple[str, str]:
    import gensim

    data = Path(gensim.__file__).parent / "test" / "test_data"
    return str(data / "questions-words.txt"), str(data / "wordsim353.tsv")


def evaluate(vectors_txt: str) -> dict[str, float]:
    from gensim.models import KeyedVectors

    analogies, pairs = eval_paths()
    kv = KeyedVectors.load_word2vec_format(vectors_txt)
    score, sections = kv.evaluate_word_analogies(analogies, restrict_vocab=300_000, case_insensitive=True)
    total = next(s for s in sections if s["section"] == "Total accuracy")
    (pearson, _), (spearman, _), oov = kv.evaluate_word_pairs(pairs, case_insensitive=True)
    return {
        "analogy_accuracy": float(score),
        "analogy_questions": len(total["correct"]) + len(total["incorrect"]),
        "wordsim_spearman": float(spearman),
        "wordsim_pearson": float(pearson),
        "wordsim_oov_percent": float(oov),
        "vocab_size": len(kv),
    }


def tokenize_corpus(raw: str, out: Path) -> None:
    """Raw text to one sentence of space-separated tokens per line, with our tokenizer."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from w2v_spark.config import DEFAULTS
    from w2v_spark.text.tokens import read_lines, tokenize

    spark = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    tmp = out.with_suffix(".parts")
    shutil.rmtree(tmp, ignore_errors=True)
    tokens = tokenize(read_lines(spark, [raw]), DEFAULTS["token_pattern"], True, DEFAULTS["max_sentence_length"])
    tokens.select(F.concat_ws(" ", "tokens")).coalesce(1).write.text(str(tmp))
    spark.stop()
    (part,) = tmp.glob("part-*")
    part.replace(out)
    shutil.rmtree(tmp)


def run_timed(
    cmd: list[str], log: Path, env: dict[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t
    log.write_text(r.stdout + "\n--- stderr ---\n" + r.stderr)
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed (exit {r.returncode}); see {log}")
    return wall, r


def run_ours(
    tokens: Path, work: Path, args: argparse.Namespace, cores: int | None = None, tag: str = "ours"
) -> dict[str, Any]:
    """Our job; a tag ``ours-OBJECTIVE`` (a system name) trains with ``--objective OBJECTIVE``."""
    out = work / tag
    cores = cores or args.cores
    # The command beside this interpreter first: a venv's python run without activating the venv.
    beside = Path(sys.executable).parent / "w2v-spark"
    exe = str(beside) if beside.exists() else shutil.which("w2v-spark") or sys.exit("w2v-spark is not installed")
    cmd = [
        exe, "train", "--input", str(tokens), "--output", str(out), "--overwrite",
        "--master", f"local[{cores}]", "--partitions", str(args.partitions or args.cores),
        "--epochs", str(args.epochs), "--vector-size", str(args.vector_size), "--window", str(args.window),
        "--negative", str(args.negative), "--min-count", str(args.min_count), "--sample", str(args.sample),
        "--seed", "1", "--syncs-per-epoch", str(args.syncs_per_epoch),
    ]  # fmt: skip
    if tag.startswith("ours-"):
        cmd += ["--objective", tag.removeprefix("ours-")]
    launched = time.time()
    process, _ = run_timed(cmd, work / f"{tag}.log")
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        # The targets' definition: process start to _SUCCESS (Spark start-up included). The
        # process then stops Spark and exits: that is in process_seconds.
        "wall_seconds": (out / "_SUCCESS").stat().st_mtime - launched,
        "process_seconds": process,
        "vectors": str(out / "vectors.txt"),
        "stages": metrics["stages"],
        "epochs": [
            {k: e[k] for k in ("epoch", "loss", "seconds", "tuple_seconds", "train_seconds")} for e in metrics["epochs"]
        ],
        "memory": metrics.get("memory"),
        "words": metrics["corpus"]["words"],
    }


GENSIM_SCRIPT = """
import json, sys, time
from gensim.models import Word2Vec
tokens, out, epochs, d, window, negative, min_count, sample, workers, seed = (sys.argv[1:] + ["1"])[:10]
t = time.perf_counter()
m = Word2Vec(corpus_file=tokens, sg=1, hs=0, negative=int(negative), vector_size=int(d), window=int(window),
             min_count=int(min_count), sample=float(sample), workers=int(workers), epochs=int(epochs), seed=int(seed))
seconds = time.perf_counter() - t
m.wv.save_word2vec_format(out)
print(json.dumps({"seconds": seconds, "words": m.corpus_total_words}))
"""

MLLIB_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
from pyspark.sql import SparkSession, functions as F
from pyspark.ml.feature import Word2Vec
tokens, out, epochs, d, window, min_count, cores, *rest = sys.argv[1:]
partitions, seed = (int(rest[0]), int(rest[1])) if rest else (int(cores), 1)
spark = (SparkSession.builder.master(f"local[{cores}]").config("spark.ui.enabled", "false")
         .config("spark.driver.memory", "4g").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
words = spark.read.text(tokens).select(F.split("value", " ").alias("words"))
model = Word2Vec(vectorSize=int(d), windowSize=int(window), minCount=int(min_count), numPartitions=partitions,
                 maxIter=int(epochs), seed=seed, stepSize=0.025, maxSentenceLength=1000,
                 inputCol="words", outputCol="v").fit(words)
vectors = model.getVectors().toArrow()
seconds = time.perf_counter() - t0
names = vectors.column("word").to_pylist()
vals = vectors.column("vector").to_pylist()
with open(out, "w") as fh:
    fh.write(f"{len(names)} {int(d)}\\n")
    for w, v in zip(names, vals):
        fh.write(w + " " + " ".join("%.6g" % x for x in v["values"]) + "\\n")
spark.stop()
print(json.dumps({"seconds": seconds}))
"""


def run_gensim(tokens: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    out = work / "gensim.txt"
    cmd = [sys.executable, "-c", GENSIM_SCRIPT, str(tokens), str(out), str(args.epochs), str(args.vector_size),
           str(args.window), str(args.negative), str(args.min_count), str(args.sample), str(args.cores)]  # fmt: skip
    wall, r = run_timed(cmd, work / "gensim.log")
    info = json.loads(r.stdout.strip().splitlines()[-1])
    return {"wall_seconds": info["seconds"], "process_seconds": wall, "vectors": str(out), "words": info["words"]}


def run_mllib(tokens: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    out = work / "mllib.txt"
    cmd = [sys.executable, "-c", MLLIB_SCRIPT, str(tokens), str(out), str(args.epochs), str(args.vector_size),
           str(args.window), str(args.min_count), str(args.cores)]  # fmt: skip
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    wall, r = run_timed(cmd, work / "mllib.log", env=env)
    info = json.loads(r.stdout.strip().splitlines()[-1])
    return {"wall_seconds": info["seconds"], "process_seconds": wall, "vectors": str(out)}


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the numeric results over repetitions; the details of the median-time run."""
    by_time = sorted(runs, key=lambda r: r["wall_seconds"])
    out = dict(by_time[len(by_time) // 2])
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = statistics.median(r[key] for r in runs)
    out["runs"] = [{k: v for k, v in r.items() if isinstance(v, (int, float))} for r in runs]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus", help="raw text, or whitespace-tokenized text with --tokenized")
    p.add_argument("--tokenized", action="store_true", help="the corpus is already one tokenized sentence per line")
    systems_help = "comma-separated subset of ours,gensim,mllib; ours-OBJECTIVE runs ours with --objective OBJECTIVE"
    p.add_argument("--systems", default=",".join(SYSTEMS), help=systems_help)
    p.add_argument("--scaling", action="store_true", help="also run ours on local[1] to measure training scaling")
    p.add_argument("--repeat", type=int, default=1, help="repetitions; the table shows medians")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--partitions", type=int, default=0, help="our shards (default: --cores)")
    p.add_argument("--syncs-per-epoch", type=int, default=1, help="our averaging rounds per epoch")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--vector-size", type=int, default=100)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--negative", type=int, default=5)
    p.add_argument("--min-count", type=int, default=5)
    p.add_argument("--sample", type=float, default=1e-3)
    p.add_argument("--workdir", default="/tmp/w2v-bench/work")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    systems = [s for s in args.systems.split(",") if s]
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    tokens = Path(args.corpus)
    if not args.tokenized:
        tokens = work / "tokens.txt"
        print(f"tokenizing {args.corpus} -> {tokens} (untimed)", flush=True)
        tokenize_corpus(args.corpus, tokens)
    words = sum(len(line.split()) for line in tokens.open(encoding="utf-8"))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in systems}
    local1: list[dict[str, Any]] = []
    for rep in range(args.repeat):  # interleaved, so drifting machine load hits every system alike
        for name in systems:
            print(f"[{rep + 1}/{args.repeat}] running {name} ...", flush=True)
            if name.startswith("ours"):
                run = run_ours(tokens, work, args, tag=name)
            else:
                run = {"gensim": run_gensim, "mllib": run_mllib}[name](tokens, work, args)
            run.update(evaluate(run["vectors"]))
            run["words_per_sec"] = words * args.epochs / run["wall_seconds"]
            runs[name].append(run)
        if args.scaling and "ours" in systems:
            print(f"[{rep + 1}/{args.repeat}] running ours on local[1] ...", flush=True)
            local1.append(run_ours(tokens, work, args, cores=1, tag="ours_local1"))
    results: dict[str, Any] = {name: median_run(r) for name, r in runs.items()}
    if local1:
        one = statistics.median(r["stages"]["training"] for r in local1)
        two = statistics.median(r["stages"]["training"] for r in runs["ours"])
        results["scaling"] = {"training_seconds_local1": one, "training_seconds_local2": two, "speedup": one / two}
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "corpus": {"path": str(args.corpus), "tokens": words},
        "params": {
            "partitions": args.partitions or args.cores,
            **{
                k: getattr(args, k)
                for k in (
                    "cores",
                    "syncs_per_epoch",
                    "epochs",
                    "vector_size",
                    "window",
                    "negative",
                    "min_count",
                    "sample",
                )
            },
        },
        "results": results,
    }
    print_table(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


def print_table(report: dict[str, Any]) -> None:
    res = report["results"]
    corpus = f"corpus: {report['corpus']['tokens']:,} tokens"
    print(f"\n{report['date']}  {report['machine']}  {corpus}  params: {report['params']}")
    print(f"{'system':8s} {'wall s':>8s} {'words/s':>10s} {'analogy':>8s} {'(n)':>6s} {'ws353':>7s} {'vocab':>7s}")
    for name in SYSTEMS:
        if name in res:
            r = res[name]
            print(f"{name:8s} {r['wall_seconds']:8.1f} {r['words_per_sec']:10,.0f} {100 * r['analogy_accuracy']:7.2f}% "
                  f"{r['analogy_questions']:6d} {r['wordsim_spearman']:7.3f} {r['vocab_size']:7,d}")  # fmt: skip
    if "ours" in res:
        o = res["ours"]
        for other in ("gensim", "mllib"):
            if other in res:
                print(f"ours / {other} wall time: {o['wall_seconds'] / res[other]['wall_seconds']:.2f}")
        stages = ", ".join(f"{k} {v:.1f}" for k, v in o["stages"].items())
        print(f"our stages (s): {stages}")
        print(
            "our epochs (s): "
            + ", ".join(f"{e['epoch']}: {e['seconds']:.1f} (tuples {e['tuple_seconds']:.1f})" for e in o["epochs"])
        )
        if o.get("memory"):
            m = o["memory"]
            jvm = "?" if m["driver_jvm_mb"] is None else f"{m['driver_jvm_mb']:.0f}"
            workers = ", ".join(f"{v:.0f}" for v in m["python_workers_mb"].values())
            print(
                f"our peak memory (MiB): driver Python {m['driver_python_mb']:.0f}, driver JVM {jvm}, workers {workers}"
            )
    if "scaling" in res:
        s = res["scaling"]
        one, two = s["training_seconds_local1"], s["training_seconds_local2"]
        print(f"training stage: local[1] {one:.1f} s, local[2] {two:.1f} s, speed-up {s['speedup']:.2f}x")


if __name__ == "__main__":
    main()
