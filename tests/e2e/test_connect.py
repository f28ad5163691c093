"""Spark Connect: the same job over a Connect session, and the flags that choose it."""

from __future__ import annotations

import json

from tests.helpers import ENV, SMALL, assert_same_vectors, w2v


def test_a_connect_session_trains_the_vectors_of_a_classic_one(small_corpus, reference, tmp_path):
    """--remote local[2] starts a local Spark Connect server (as pyspark --remote does); the job
    runs through the DataFrame API only, so it gives the classic run's vectors."""
    out = tmp_path / "connect"
    r = w2v("train", "--input", str(small_corpus), "--output", str(out), "--remote", "local[2]", *SMALL,
            "--report-delay", "0.05")  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    # progress lines come from the tasks' counter files there too: a line is due every 0.05 s, and an
    # epoch's training over Connect lasts 0.8 to 1.4 s here (7 to 9 lines)
    for epoch in range(1, 5):
        assert f"EPOCH {epoch} - PROGRESS: at " in r.stderr, (epoch, r.stderr[-2000:])
    assert metrics["spark"]["connect"] is True and metrics["spark"]["master"] == "local[2]"
    assert metrics["memory"]["jvm_max_mb"] and metrics["memory"]["python_worker_max_mb"] > 10
    assert_same_vectors(out, reference)
    classic = json.loads((reference / "metrics.json").read_text())
    assert classic["spark"]["connect"] is False


def test_master_with_remote_is_refused_in_one_line(small_corpus, tmp_path):
    for args, env in (
        (["--master", "local[2]", "--remote", "local[2]"], {}),
        (["--master", "local[2]"], {"SPARK_REMOTE": "sc://localhost:15002"}),  # SPARK_REMOTE is honoured
    ):
        r = w2v("train", "--input", str(small_corpus), "--output", str(tmp_path / "x"), *args, env={**ENV, **env})
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert "remote must be unset when --master is given" in r.stderr and "SPARK_REMOTE" in r.stderr
    assert not (tmp_path / "x").exists()


def test_bad_input_over_connect_is_one_line_and_leaves_nothing(small_corpus, tmp_path):
    out = tmp_path / "bad"
    r = w2v("train", "--input", str(small_corpus), "--output", str(out), "--remote", "local[2]",
            "--token-pattern", "[a-z")  # fmt: skip
    assert r.returncode == 2, r.stderr[-2000:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("w2v-spark: error:")]
    assert errors == [
        "w2v-spark: error: token_pattern is not a valid Java regular expression "
        "(Unclosed character class near index 3); fix --token-pattern"
    ]
    assert not out.exists() and not (tmp_path / "bad.inprogress").exists()
