"""The command line, run as users run it: the console script and spark-submit, in subprocesses."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO, SAMPLE

ENV = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}


def w2v(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("w2v-spark") or pytest.fail("w2v-spark is not installed (pip install -e .)")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, env=ENV, check=False)


def check_outputs(out: Path, epochs: int, keep_tuples: bool) -> None:
    assert (out / "_SUCCESS").exists()
    newest_other = max(p.stat().st_mtime_ns for p in out.rglob("*") if p.name != "_SUCCESS")
    assert (out / "_SUCCESS").stat().st_mtime_ns >= newest_other, "_SUCCESS must be written last"

    vocab = pq.read_table(out / "vocab")
    assert vocab.schema.names == ["word", "count", "id"]
    assert str(vocab.schema.field("count").type) == "int64" and str(vocab.schema.field("id").type) == "int32"
    ids, counts = vocab.column("id").to_numpy(), vocab.column("count").to_numpy()
    V = vocab.num_rows
    assert ids.tolist() == list(range(V))
    assert np.all(np.diff(counts) <= 0) and counts.min() >= 5

    vectors = pq.read_table(out / "vectors")
    assert vectors.schema.names == ["word", "vector"] and vectors.num_rows == V
    assert vectors.column("word").to_pylist() == vocab.column("word").to_pylist()
    matrix = np.stack(vectors.column("vector").to_numpy(zero_copy_only=False))
    assert matrix.shape == (V, 100) and np.all(np.isfinite(matrix))

    lines = (out / "vectors.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"{V} 100" and len(lines) == V + 1
    first = lines[1].split(" ")
    assert first[0] == vocab.column("word")[0].as_py() and len(first) == 101
    np.testing.assert_allclose(np.array(first[1:], dtype=np.float32), matrix[0])

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["epochs"] == epochs and metrics["vocab_size"] == V
    assert [e["epoch"] for e in metrics["epochs"]] == list(range(1, epochs + 1))
    for e in metrics["epochs"]:
        assert set(e) >= {"epoch", "loss", "examples", "words", "seconds", "words_per_sec"}
    assert metrics["epochs"][-1]["loss"] < metrics["epochs"][0]["loss"]
    memory = metrics["memory"]
    assert memory["driver_python_mb"] > 10 and memory["python_worker_max_mb"] > 10
    assert len(memory["python_workers_mb"]) >= 1

    tuple_dirs = sorted(p.name for p in (out / "tuples").iterdir()) if (out / "tuples").exists() else []
    if keep_tuples:
        assert tuple_dirs == [f"epoch={e}" for e in range(1, epochs + 1)]
        t = pq.read_table(out / "tuples" / "epoch=1")
        assert t.schema.names[:3] == ["center", "target", "negative_1"]
        assert t.num_rows == metrics["epochs"][0]["examples"]
    else:
        assert tuple_dirs == []


def test_train_on_the_shipped_sample(tmp_path):
    out = tmp_path / "run"
    r = w2v("train", "--input", str(SAMPLE), "--output", str(out), "--master", "local[2]",
            "--partitions", "2", "--epochs", "3", "--keep-tuples")  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    check_outputs(out, epochs=3, keep_tuples=True)
    epoch_lines = [line for line in r.stderr.splitlines() if "EPOCH" in line]
    assert len(epoch_lines) == 3 and "loss" in epoch_lines[0] and "words/s" in epoch_lines[0]

    gensim = pytest.importorskip("gensim")
    kv = gensim.models.KeyedVectors.load_word2vec_format(str(out / "vectors.txt"))
    assert len(kv) == pq.read_table(out / "vocab").num_rows and kv.vector_size == 100
    # 300k words of kernel docs, three epochs: related words come out near each other.
    near = {w for w, _ in kv.most_similar("memory", topn=10)}
    assert len({"page", "pages", "physical", "virtual", "space", "region", "regions", "mapped"} & near) >= 2, near


def test_spark_submit_takes_the_same_flags(tmp_path):
    import pyspark

    corpus = tmp_path / "small.txt"
    with open(corpus, "w") as fh, gzip.open(SAMPLE, "rt", encoding="utf-8") as src:
        fh.writelines(line for _, line in zip(range(8000), src, strict=False))
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    out = tmp_path / "run"
    r = subprocess.run(
        [str(submit), "--master", "local[2]", str(REPO / "jobs" / "train.py"), "--input", str(corpus),
         "--output", str(out), "--partitions", "2", "--epochs", "2", "--vector-size", "100"],
        capture_output=True, text=True, timeout=600, env=ENV, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    check_outputs(out, epochs=2, keep_tuples=False)
    assert json.loads((out / "metrics.json").read_text())["spark"]["master"] == "local[2]"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "/nonexistent/corpus.txt"], "input path '/nonexistent/corpus.txt' does not exist; check --input"),
        (["--input", "/nonexistent/*.txt"], "matches no file"),
        (["--input", str(SAMPLE), "--vector-size", "0"], "vector_size must be a positive integer"),
        (["--input", str(SAMPLE), "--min-alpha", "0.5"], "min_alpha must be between 0 and alpha"),
        (["--input", str(SAMPLE), "--config", "/nonexistent.toml"], "config file '/nonexistent.toml' does not exist"),
    ],
)
def test_bad_input_fails_fast_with_one_line(tmp_path, args, message):
    r = w2v("train", "--output", str(tmp_path / "out"), *args, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and message in r.stderr, r.stderr
    assert not (tmp_path / "out").exists()


def test_non_empty_output_is_refused_and_left_untouched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    r = w2v("train", "--input", str(SAMPLE), "--output", str(out), timeout=60)
    assert r.returncode == 2 and "is not empty; pass --overwrite" in r.stderr
    assert [p.name for p in out.iterdir()] == ["precious.txt"]


def test_bad_token_pattern_is_reported_after_spark_starts(tmp_path):
    r = w2v("train", "--input", str(SAMPLE), "--output", str(tmp_path / "o"), "--token-pattern", "([a-z]", timeout=300)
    assert r.returncode == 2 and "token_pattern is not a valid Java regular expression" in r.stderr
    assert not (tmp_path / "o" / "_SUCCESS").exists()
