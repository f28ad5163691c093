"""The memory rule that decides, before training, whether a model fits the run's settings."""

from __future__ import annotations


def test_the_drivers_memory_does_not_grow_with_the_model(small_corpus, reference, tmp_path):
    """The driver only names block files: a model a thousand times larger (d=6000, several blocks)
    leaves the driver's Python peak within half a model of where it was (the export streams a
    block at a time), while the workers, which train it, grow by at least a copy."""
    import json

    from tests.helpers import w2v

    out = tmp_path / "wide"
    r = w2v("train", "--input", str(small_corpus), "--output", str(out), "--master", "local[2]", "--partitions", "2",
            "--min-count", "1", "--epochs", "1", "--vector-size", "6000")  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    wide, small = (json.loads((p / "metrics.json").read_text()) for p in (out, reference))
    model_mib = wide["model"]["bytes"] / (1 << 20)
    assert wide["model"]["blocks"] > 1 and model_mib > 200
    assert wide["memory"]["driver_python_mb"] - small["memory"]["driver_python_mb"] < model_mib / 2
    assert wide["memory"]["python_worker_max_mb"] - small["memory"]["python_worker_max_mb"] > model_mib


def test_a_process_peak_is_its_own_not_its_parents():
    """A command started by a large process (a test runner, a scheduler) reports its own peak:
    Linux's ru_maxrss would carry the parent's over the exec."""
    import subprocess
    import sys

    import numpy as np

    parent = np.ones(400 * (1 << 20), dtype=np.uint8)  # 400 MiB resident in this process
    child = "from w2v_spark.runtime import memory; print(memory.peak_rss_mb())"
    r = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
    assert parent.sum() > 0 and float(r.stdout) < 200, r.stdout
