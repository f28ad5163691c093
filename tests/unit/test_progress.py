"""Progress within an epoch: counters the tasks publish as files, polled by the driver."""

from __future__ import annotations

from w2v_spark.runtime import progress


def test_counters_are_summed_across_tasks(tmp_path):
    a, b = progress.Counter(str(tmp_path), 0, every=0), progress.Counter(str(tmp_path), 1, every=3600)
    a.add(5)
    b.add(7)  # not written yet: at most once per `every`
    assert progress.read_total(str(tmp_path))[0] == 5
    b.flush()
    assert progress.read_total(str(tmp_path)) == (12, 2)  # the total, and the bytes read for it
    assert progress.read_total(str(tmp_path / "none")) == (0, 0)


def test_a_progress_line_says_how_far_how_fast_and_how_long():
    assert progress.line("EPOCH 2", "pairs", 40, 100, 1_000_000, 4.0) == (
        "EPOCH 2 - PROGRESS: at 40.0% of pairs, 100,000 words/s, ETA 6s"
    )
    assert progress.eta(100) == "1m40s" and progress.eta(3725) == "1h02m"
    assert progress.line("EPOCH 1", "pairs", 0, 100, 10, 1.0).endswith("ETA unknown")
