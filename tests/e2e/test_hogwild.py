"""--hogwild: the tasks of one executor train one shared copy; only executors' copies are averaged."""

from __future__ import annotations

import json

import numpy as np

from tests.helpers import w2v
from w2v_spark.io.formats import read_vectors
from w2v_spark.runtime import storage
from w2v_spark.text.corpus import part_name
from w2v_spark.train import blocks, exchange, rounds
from w2v_spark.train.blocks import ModelShape


def test_on_one_core_hogwild_is_one_model_trained_over_every_shard(small_corpus, tmp_path):
    """With one core there is no concurrency: the result must be exactly one model trained on
    the shards one after the other (in Spark's task order), not an average of shard models."""
    out = tmp_path / "run"
    args = ["--partitions", "2", "--vector-size", "16", "--epochs", "1", "--min-count", "3", "--seed", "5"]
    r = w2v("train", "--input", str(small_corpus), "--output", str(out), "--master", "local[1]", "--hogwild",
            "--keep-tuples", *args)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert "--hogwild trains one model per executor" not in r.stderr  # the hint is for averaged runs
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["hogwild"] is True and metrics["epochs"][0]["models_averaged"] == 1
    words, vectors = read_vectors(str(out))
    config = metrics["config"]
    schedule = rounds.Schedule(config["alpha"], config["min_alpha"], epochs=1, objective=config["objective"])
    tuples = [str(out / "tuples" / "epoch=1" / part_name(p)) for p in (0, 1)]
    total = sum(storage.num_rows(t) for t in tuples)
    diffs = []
    for order in ((0, 1), (1, 0)):
        emb, theta = blocks.init_block(ModelShape(len(words), 16), 5, 0)
        # one learning-rate decay over the epoch's rows of both shards, as one shard would have
        clock = exchange.SharedClock(np.zeros(1, np.int64), str(tmp_path), 0, total, 1)
        for p in order:
            rounds.train_shard(tuples[p], emb, theta, 1, schedule, shard=p, clock=clock)
        assert int(clock.counter[0]) == total
        diffs.append(float(np.max(np.abs(emb - vectors))))
    assert min(diffs) <= 1e-5, diffs
    # and the usual averaging of two shard models is something else
    averaged = tmp_path / "averaged"
    r = w2v("train", "--input", str(small_corpus), "--output", str(averaged), "--master", "local[1]", *args)
    assert r.returncode == 0, r.stderr[-3000:]
    # which says, once, what averaging costs and what to use instead
    assert r.stderr.count("2 shard models averaged 1 time(s) per epoch") == 1, r.stderr[-3000:]
    assert "--hogwild trains one model per executor" in r.stderr
    assert float(np.max(np.abs(read_vectors(str(averaged))[1] - vectors))) > 1e-3
