"""A/B of two versions of w2v-spark on the same corpus: interleaved pairs of runs, one machine.

    git archive OLD_COMMIT | tar -x -C /tmp/before      # the other version's source tree
    python bench/ab.py /tmp/w2v-bench/corpus.txt --before /tmp/before --pairs 3 --json ab.json

Each pair runs both versions one after the other, alternating which goes first, so drift of a
shared, noisy machine falls on both alike. Each run is ``python -m w2v_spark.cli train`` in its
own process with PYTHONPATH pointing at its source tree (Spark's Python workers inherit it),
timed from process start to ``_SUCCESS``. Prints every pair's after/before ratio, their median,
and the largest difference between the two versions' vectors.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent.parent


def run(source: Path, corpus: str, out: Path, train_args: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(source), "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    cmd = [sys.executable, "-m", "w2v_spark.cli.main", "train", "--input", corpus, "--output", str(out), "--overwrite",
           *train_args]  # fmt: skip
    launched = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if r.returncode != 0:
        raise SystemExit(f"{source}: train failed (exit {r.returncode}): {r.stderr[-2000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "wall_seconds": (out / "_SUCCESS").stat().st_mtime - launched,
        "process_seconds": time.time() - launched,
        "stages": metrics["stages"],
        "memory": metrics.get("memory"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus")
    ap.add_argument("--before", required=True, help="source tree of the version to compare against")
    ap.add_argument("--after", default=str(HERE), help="source tree of the new version (default: this one)")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--work", default="/tmp/w2v-ab")
    ap.add_argument("--json", help="write every figure here")
    ap.add_argument(
        "train_args", nargs="*", help="after --: flags for train (default: --master local[2] --partitions 2)"
    )
    args = ap.parse_args()
    train_args = args.train_args or ["--master", "local[2]", "--partitions", "2"]
    sys.path.insert(0, args.after)
    from w2v_spark.io.formats import read_vectors

    sources = {"before": Path(args.before), "after": Path(args.after)}
    work = Path(args.work)
    pairs: list[dict[str, Any]] = []
    for i in range(args.pairs):
        order = ("before", "after") if i % 2 == 0 else ("after", "before")
        pair: dict[str, Any] = {side: run(sources[side], args.corpus, work / side, train_args) for side in order}
        va, vb = read_vectors(str(work / "before"))[1], read_vectors(str(work / "after"))[1]
        pair["max_abs_diff"] = float(np.abs(va - vb).max()) if va.shape == vb.shape else None
        pair["ratio"] = pair["after"]["wall_seconds"] / pair["before"]["wall_seconds"]
        pairs.append(pair)
        print(f"pair {i + 1} ({order[0]} first): before {pair['before']['wall_seconds']:.1f} s, "
              f"after {pair['after']['wall_seconds']:.1f} s, ratio {pair['ratio']:.3f}, "
              f"vectors max |diff| {pair['max_abs_diff']}", flush=True)  # fmt: skip
    ratios: list[float] = [p["ratio"] for p in pairs]
    print(f"median after/before wall time over {len(pairs)} pairs: {statistics.median(ratios):.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"train_args": train_args, "pairs": pairs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
