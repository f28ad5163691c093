"""Progress within an epoch: counters the tasks publish as files, polled by the driver."""

from __future__ import annotations

import itertools
import json
import re
from datetime import datetime

from tests.helpers import SMALL, w2v

LINE = re.compile(
    r"^(\S+ \S+) INFO w2v_spark: EPOCH (\d+) - PROGRESS: at (\d+\.\d)% of (?:pairs|windows), [\d,]+ words/s, ETA \S+$"
)


def test_progress_lines_appear_within_every_epoch_at_the_interval(small_corpus, tmp_path):
    """Every epoch logs progress lines, at the interval. The epochs are made slow for real: 300
    dimensions, 15 negatives and a window of 10 give each epoch about 16 times the SGD work of
    the defaults (about 2 s of training per epoch here, 0.4 s on a machine five times as fast),
    while a line is due every 0.05 s, so a line is due in every epoch on any machine."""
    out = tmp_path / "run"
    every = 0.05
    r = w2v("train", "--input", str(small_corpus), "--output", str(out), "--master", "local[2]", *SMALL,
            "--epochs", "2", "--vector-size", "300", "--negative", "15", "--window", "10",
            "--report-delay", str(every))  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    found = [m for line in r.stderr.splitlines() if (m := LINE.match(line))]
    metrics = json.loads((out / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    for record in metrics["epochs"]:
        lines = [m for m in found if int(m.group(2)) == record["epoch"]]
        assert record["train_seconds"] > 4 * every, record  # slow enough that lines were due
        assert len(lines) >= 2, f"too few progress lines in epoch {record['epoch']}: {r.stderr[-2000:]}"
        percents = [float(m.group(3)) for m in lines]
        assert percents == sorted(percents) and all(0 <= p <= 100 for p in percents)
        times = [datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f") for m in lines]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        # at the interval, give or take a poll (and the load of the test file running beside this one)
        assert all(gap < every + 2.0 for gap in gaps), gaps
