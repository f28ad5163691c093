"""The command line, run as users run it: the console script and spark-submit, in subprocesses."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.helpers import ENV, REPO, SAMPLE, check_outputs, w2v


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """The shipped sample trained once, 3 epochs on 2 shards, for every test that needs a run."""
    out = tmp_path_factory.mktemp("sample") / "run"
    r = w2v("train", "--input", str(SAMPLE), "--output", str(out), "--master", "local[2]",
            "--partitions", "2", "--epochs", "3", "--keep-tuples")  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return out, r


def test_train_on_the_shipped_sample(sample_run):
    out, r = sample_run
    check_outputs(out, epochs=3, keep_tuples=True)
    # One summary per epoch; progress lines ("EPOCH 1 - TUPLES - PROGRESS") appear too on a loaded machine.
    epoch_lines = [line for line in r.stderr.splitlines() if re.search(r"EPOCH \d+/\d+:", line)]
    assert len(epoch_lines) == 3 and "loss" in epoch_lines[0] and "words/s" in epoch_lines[0], epoch_lines

    gensim = pytest.importorskip("gensim")
    kv = gensim.models.KeyedVectors.load_word2vec_format(str(out / "vectors.txt"))
    assert len(kv) == pq.read_table(out / "vocab").num_rows and kv.vector_size == 100
    # 300k words of kernel docs, three epochs: related words come out near each other.
    near = {w for w, _ in kv.most_similar("memory", topn=10)}
    assert len({"page", "pages", "physical", "virtual", "space", "region", "regions", "mapped"} & near) >= 2, near
    # the binary format loads in gensim with the same words and values
    kb = gensim.models.KeyedVectors.load_word2vec_format(str(out / "vectors.bin"), binary=True)
    assert kb.index_to_key == kv.index_to_key
    np.testing.assert_array_equal(kb.vectors, kv.vectors)


def test_local_meetings_happen_in_shared_memory_and_leave_nothing_there(sample_run):
    """On a local master the shards meet on a board under /dev/shm, not on disk, and the run
    removes it (docs/design/averaging.md#board)."""
    _, r = sample_run
    found = re.findall(r"the shards meet on a board in shared memory, (\S+) ", r.stderr)
    if not os.path.isdir("/dev/shm"):
        assert not found, found
        return
    assert len(found) == 1 and found[0].startswith("/dev/shm/w2v-spark-"), r.stderr[-2000:]
    assert not os.path.exists(found[0])


def test_evaluate_agrees_with_gensim_on_a_trained_run(sample_run):
    gensim = pytest.importorskip("gensim")
    from gensim.test.utils import datapath

    out, _ = sample_run
    analogies, pairs = datapath("questions-words.txt"), datapath("wordsim353.tsv")
    r = w2v("evaluate", "--vectors", str(out), "--analogies", analogies, "--pairs", pairs, "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    kv = gensim.models.KeyedVectors.load_word2vec_format(str(out / "vectors.txt"))
    score, sections = kv.evaluate_word_analogies(analogies, restrict_vocab=300_000, case_insensitive=True)
    total = next(s for s in sections if s["section"] == "Total accuracy")
    (pearson, _), (spearman, _), oov = kv.evaluate_word_pairs(pairs, case_insensitive=True)
    a, p = report["analogies"], report["pairs"]
    assert a["total"] == len(total["correct"]) + len(total["incorrect"]) > 0
    assert a["accuracy"] == pytest.approx(score, abs=0.005)
    assert a["correct"] == round(a["accuracy"] * a["total"]) and set(a["sections"]) >= {"capital-common-countries"}
    assert p["spearman"] == pytest.approx(spearman, abs=0.005)
    assert p["pearson"] == pytest.approx(pearson, abs=0.005)
    assert p["oov_ratio"] == pytest.approx(oov, abs=1e-6)
    # the same through a word2vec file, and as a table
    text = w2v("evaluate", "--vectors", str(out / "vectors.bin"), "--pairs", pairs, timeout=120)
    assert text.returncode == 0 and f"Spearman {p['spearman']:.4f}" in text.stdout, text.stdout


def test_neighbors_and_unknown_words(sample_run):
    out, _ = sample_run
    r = w2v("neighbors", "--vectors", str(out), "memory", "-k", "5", timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "memory:" and len(lines) == 6
    sims = [float(line.split("\t")[1]) for line in lines[1:]]
    assert sims == sorted(sims, reverse=True) and all(-1 <= x <= 1 for x in sims)
    bad = w2v("neighbors", "--vectors", str(out), "memory", "qqqzzzunknown", timeout=120)
    assert bad.returncode == 1 and "memory:" in bad.stdout
    assert bad.stderr.strip() == "w2v-spark: error: not in the vocabulary (5,745 words): qqqzzzunknown" or (
        "not in the vocabulary" in bad.stderr and bad.stderr.strip().count("\n") == 0
    )


def test_export_projector_and_round_trips(sample_run, tmp_path):
    out, _ = sample_run
    words = pq.read_table(out / "vocab").column("word").to_pylist()
    r = w2v("export", "--vectors", str(out), "--format", "projector", "--output", str(tmp_path / "proj"), timeout=120)
    assert r.returncode == 0, r.stderr
    meta = (tmp_path / "proj" / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    rows = (tmp_path / "proj" / "vectors.tsv").read_text().splitlines()
    assert meta == words and len(rows) == len(words) and len(rows[0].split("\t")) == 100
    matrix = np.stack(pq.read_table(out / "vectors").column("vector").to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(np.array(rows[3].split("\t"), dtype=np.float32), matrix[3], rtol=1e-5)
    # text -> binary -> text keeps every value
    r = w2v("export", "--vectors", str(out / "vectors.txt"), "--format", "binary", "--output", str(tmp_path / "v.bin"))
    assert r.returncode == 0, r.stderr
    r = w2v("export", "--vectors", str(tmp_path / "v.bin"), "--format", "text", "--output", str(tmp_path / "v.txt"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "v.txt").read_bytes() == (out / "vectors.txt").read_bytes()


def test_evaluate_and_neighbors_refuse_bad_input_in_one_line(sample_run, tmp_path):
    out, _ = sample_run
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("memory\tpage\t7.5\n")
    cases = [
        (["evaluate", "--vectors", "/nonexistent", "--pairs", str(pairs)], "path '/nonexistent' does not exist"),
        (["evaluate", "--vectors", str(out), "--analogies", "/nonexistent.txt"], "'/nonexistent.txt' does not exist"),
        (["evaluate", "--vectors", str(out)], "nothing to evaluate; pass --analogies FILE and/or --pairs FILE"),
        (["evaluate", "--vectors", str(pairs), "--pairs", str(pairs)], "does not start with a 'V d' word2vec header"),
        (["neighbors", "--vectors", str(out), "memory", "-k", "0"], "-k must be a positive integer"),
    ]
    for argv, message in cases:
        r = w2v(*argv, timeout=120)
        assert r.returncode in (1, 2) and message in r.stderr, (argv, r.stderr)
        assert r.stderr.strip().count("\n") == 0, r.stderr


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
        (["--input", str(SAMPLE), "--window", "five"], "argument --window: invalid int value: 'five'"),
        (["--input", str(SAMPLE), "--alpha", "fast"], "argument --alpha: invalid float value: 'fast'"),
        (["--input", str(SAMPLE), "--epochs", "0"], "epochs must be a positive integer"),
        (["--input", str(SAMPLE), "--negative", "-3"], "negative must be a non-negative integer"),
        (["--input", str(SAMPLE), "--sample", "-1e-3"], "sample must be 0 (off) or a positive threshold"),
        (["--input", str(SAMPLE), "--partitions", "-1"], "partitions must be a positive integer"),
        (["--input", str(SAMPLE), "--partitions", "0"], "partitions must be a positive integer"),
        (["--input", str(SAMPLE), "--alpha", "0"], "alpha must be positive"),
        (["--input", str(SAMPLE), "--window", "0"], "window must be a positive integer"),
        (["--input", str(SAMPLE), "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
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
    for flags in ([], ["--overwrite"], ["--resume"], ["--resume", "--overwrite"]):
        r = w2v("train", "--input", str(SAMPLE), "--output", str(out), *flags, timeout=60)
        assert r.returncode == 2 and "holds 'precious.txt', which w2v-spark did not write" in r.stderr, flags
        assert r.stderr.strip().count("\n") == 0
        assert [p.name for p in tmp_path.iterdir()] == ["out"] and [p.name for p in out.iterdir()] == ["precious.txt"]


def test_bad_token_pattern_is_reported_after_spark_starts(tmp_path):
    r = w2v("train", "--input", str(SAMPLE), "--output", str(tmp_path / "o"), "--token-pattern", "([a-z]", timeout=300)
    assert r.returncode == 2 and "token_pattern is not a valid Java regular expression" in r.stderr
    assert not (tmp_path / "o" / "_SUCCESS").exists()


def test_plot_draws_the_loss_curve_and_a_word_map(sample_run, tmp_path):
    pytest.importorskip("matplotlib")
    out, _ = sample_run
    r = w2v("plot", "--run", str(out), "--output", str(tmp_path / "png"), "--words", "memory", "page", "kernel", "cpu")
    assert r.returncode == 0, r.stderr
    for name in ("loss.png", "words.png"):
        data = (tmp_path / "png" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    bad = w2v("plot", "--run", str(out), "--output", str(tmp_path / "x"), "--words", "memory", "qqqzzz")
    assert bad.returncode == 2 and "not in the vocabulary: qqqzzz" in bad.stderr
    assert not (tmp_path / "x" / "words.png").exists()


def test_the_venv_command_works_without_activating_the_venv(tmp_path):
    # As cron, Airflow or `.venv/bin/w2v-spark` call it: no venv on PATH, no PYSPARK_PYTHON.
    # Spark's Python workers must still run this interpreter (pyarrow, numba), not PATH's python3.
    exe = Path(sys.executable).parent / "w2v-spark"
    bindir = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != bindir)
    env = {k: v for k, v in ENV.items() if k not in ("PYSPARK_PYTHON", "VIRTUAL_ENV")} | {"PATH": path}
    out = tmp_path / "out"
    r = subprocess.run(
        [str(exe), "train", "--input", str(SAMPLE), "--output", str(out), "--master", "local[2]", "--epochs", "1"],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "_SUCCESS").exists()
