"""Production runs: reproducible vectors, resume after SIGKILL, outputs that appear all at once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.helpers import SAMPLE, SMALL, assert_same_vectors, kill_when, max_diff, start_run, w2v


def test_same_seed_gives_the_same_vectors_on_one_core_or_two(small_corpus, reference, other_seed, tmp_path):
    out = tmp_path / "one-core"
    r = w2v("train", "--input", str(small_corpus), "--output", str(out), "--master", "local[1]", *SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    assert_same_vectors(reference, out)
    assert max_diff(reference, other_seed) > 1e-3  # the seed does matter


def test_killed_after_the_second_checkpoint_and_resumed_gives_the_same_vectors(small_corpus, reference, tmp_path):
    out = tmp_path / "run"
    staging = Path(str(out) + ".inprogress")
    proc = start_run(small_corpus, out)
    assert kill_when(proc, staging / "checkpoints" / "epoch=2" / "state.json")
    assert not (out / "_SUCCESS").exists() and not out.exists()  # nothing that looks finished

    again = w2v("train", "--input", str(small_corpus), "--output", str(out), "--master", "local[2]", *SMALL)
    assert again.returncode == 2 and "holds an unfinished run; pass --resume" in again.stderr

    r = w2v("train", "--input", str(small_corpus), "--output", str(out), "--master", "local[2]", *SMALL, "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming after epoch 2" in r.stderr or "resuming after epoch 3" in r.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_from_epoch"] in (2, 3) and [e["epoch"] for e in metrics["epochs"]] == [1, 2, 3, 4]
    assert_same_vectors(reference, out)
    assert not staging.exists() and not (out / "checkpoints").exists()


def test_resume_with_different_settings_is_refused(small_corpus, tmp_path):
    out = tmp_path / "run"
    staging = Path(str(out) + ".inprogress")
    proc = start_run(small_corpus, out)
    assert kill_when(proc, staging / "checkpoints" / "epoch=1" / "state.json")
    r = w2v("train", "--input", str(small_corpus), "--output", str(out), "--master", "local[2]", *SMALL,
            "--window", "3", "--resume", timeout=60)  # fmt: skip
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert "settings differ (window: 5 then, 3 now)" in r.stderr, r.stderr
    assert (staging / "checkpoints" / "epoch=1" / "block-00000.npy").exists()  # refusing changed nothing


def test_overwrite_keeps_the_old_run_until_the_new_one_is_complete(small_corpus, reference, other_seed, tmp_path):
    base = tmp_path / "runs"
    day1, day2 = base / "run_date=2026-11-24", base / "run_date=2026-11-25"
    shutil.copytree(other_seed, day1)  # yesterday's runs of the same job (seed 2), as a scheduler leaves them
    shutil.copytree(day1, day2)
    before = {p: p.stat().st_mtime_ns for p in day1.rglob("*")}

    # a rerun of day 2 killed half-way: day 2's old output is still whole and complete
    proc = start_run(small_corpus, day2, "--overwrite")
    assert kill_when(proc, Path(str(day2) + ".inprogress") / "checkpoints" / "epoch=1" / "state.json")
    assert (day2 / "_SUCCESS").exists()
    assert_same_vectors(day2, day1)

    # the rerun that finishes replaces day 2, with seed 1 now, and nothing else
    r = w2v("train", "--input", str(small_corpus), "--output", str(day2), "--master", "local[2]", *SMALL, "--overwrite")
    assert r.returncode == 0, r.stderr[-3000:]
    assert_same_vectors(day2, reference)
    assert {p: p.stat().st_mtime_ns for p in day1.rglob("*")} == before
    assert sorted(p.name for p in base.iterdir()) == [day1.name, day2.name]


def test_resume_of_a_finished_run_is_refused_and_leaves_it(reference):
    r = w2v("train", "--input", str(SAMPLE), "--output", str(reference), "--resume", timeout=60)
    assert r.returncode == 2 and "already holds a finished run; pass --overwrite" in r.stderr
    assert (reference / "_SUCCESS").exists()
