"""The fault matrix: each fault is made for real, and every run ends either with the vectors of
an uninterrupted run (bit for bit) or with a one-line refusal, and never loses a file outside
its own directories (docs/guarantees.md, "Faults"). Faults of the machine itself (CPU and
memory limits, a full /dev/shm) are in tests/e2e/test_limits.py."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import SMALL, assert_same_vectors, kill_when, one_line_error, start_run, w2v


def _neighbours(base: Path) -> dict[str, bytes]:
    """Files beside the output that no run may touch: a sibling run's and a user's."""
    (base / "run-other").mkdir(exist_ok=True)
    (base / "run-other" / "vectors.txt").write_text("1 1\nx 0.5\n")
    (base / "notes.txt").write_text("keep")
    return _snapshot(base)


def _snapshot(base: Path) -> dict[str, bytes]:
    keep = [p for p in base.rglob("*") if p.is_file() and p.parts[len(base.parts)] in ("run-other", "notes.txt")]
    return {str(p): p.read_bytes() for p in keep}


def _resume(corpus: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return w2v("train", "--input", str(corpus), "--output", str(out), "--master", "local[2]", *SMALL, *extra)


@pytest.mark.parametrize(
    ("stage", "ready"),
    [
        ("vocabulary", "vocab/part-00000.parquet"),
        ("training", "checkpoints/epoch=1/state.json"),
        ("export", "vectors"),
        ("publish", "_SUCCESS"),
    ],
)
def test_kill_9_at_each_stage_then_resume_gives_the_same_vectors(small_corpus, reference, tmp_path, stage, ready):
    before = _neighbours(tmp_path)
    out = tmp_path / "run"
    proc = start_run(small_corpus, out)
    killed = kill_when(proc, Path(str(out) + ".inprogress") / ready)
    assert not (out / "_SUCCESS").exists() or not killed or stage == "publish"  # nothing half-done looks finished
    r = _resume(small_corpus, out, "--resume")
    if (out / "_SUCCESS").exists() and r.returncode == 2:  # it had published before the kill landed
        assert "already holds a finished run" in r.stderr
    else:
        assert r.returncode == 0, r.stderr[-3000:]
    assert_same_vectors(out, reference)
    assert _snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "run", "run-other"]


def test_damaged_newest_checkpoints_fall_back_to_an_older_one(small_corpus, reference, tmp_path):
    """A truncated state.json (epoch 3) and a block with a flipped byte (epoch 2): both are
    skipped, with a warning each, and training goes on from epoch 1 to the same vectors."""
    out = tmp_path / "run"
    checkpoints = Path(str(out) + ".inprogress") / "checkpoints"
    assert kill_when(start_run(small_corpus, out, "--keep-checkpoints", "3"), checkpoints / "epoch=3" / "state.json")
    state = checkpoints / "epoch=3" / "state.json"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    block = checkpoints / "epoch=2" / "block-00000.npy"
    data = bytearray(block.read_bytes())
    data[-1] ^= 0x40
    block.write_bytes(bytes(data))
    r = _resume(small_corpus, out, "--resume", "--keep-checkpoints", "3")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr.count("is damaged and skipped") == 2 and "resuming after epoch 1" in r.stderr
    assert_same_vectors(out, reference)


def _caesar(text: bytes) -> bytes:
    """Every letter one further in the alphabet: other words, the same counts and file size."""
    table = bytes.maketrans(
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", b"bcdefghijklmnopqrstuvwxyzaBCDEFGHIJKLMNOPQRSTUVWXYZA"
    )
    return text.translate(table)


def test_resume_on_changed_input_is_refused_or_with_overwrite_starts_over(small_corpus, tmp_path):
    """The input changed between the killed run and its resume, same size and modification time:
    the vocabulary's digest tells. Refused; with --overwrite (as the Airflow DAG passes) the run
    starts over and gives the vectors of a fresh run on the new input."""
    corpus = tmp_path / "day.txt"
    corpus.write_bytes(small_corpus.read_bytes())
    out = tmp_path / "run"
    assert kill_when(start_run(corpus, out), Path(str(out) + ".inprogress") / "checkpoints" / "epoch=1" / "state.json")
    stat = corpus.stat()
    corpus.write_bytes(_caesar(corpus.read_bytes()))
    os.utime(corpus, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    refused = _resume(corpus, out, "--resume")
    one_line_error(refused, 2, "it was trained on another vocabulary")
    assert "pass --overwrite to start over" in refused.stderr
    again = _resume(corpus, out, "--resume", "--overwrite")
    assert again.returncode == 0, again.stderr[-3000:]
    assert (
        "starting over in" in again.stderr
        and json.loads((out / "metrics.json").read_text())["resumed_from_epoch"] is None
    )
    fresh = tmp_path / "fresh"
    assert _resume(corpus, fresh).returncode == 0
    assert_same_vectors(out, fresh)


def test_resume_on_other_input_files_is_refused_before_spark_starts(small_corpus, tmp_path):
    out = tmp_path / "run"
    assert kill_when(
        start_run(small_corpus, out), Path(str(out) + ".inprogress") / "checkpoints" / "epoch=1" / "state.json"
    )
    copy = tmp_path / "copy.txt"
    copy.write_bytes(small_corpus.read_bytes())
    r = w2v("train", "--input", str(copy), "--output", str(out), *SMALL, "--resume", timeout=60)
    one_line_error(r, 2, "the input differs (1 files of")
    assert (Path(str(out) + ".inprogress") / "checkpoints" / "epoch=1" / "state.json").exists()


def _mount(*args: str) -> None:
    if subprocess.run(["mount", *args], capture_output=True, check=False).returncode != 0:
        pytest.skip("needs mount (root): " + " ".join(args))


def test_a_failed_publish_keeps_the_finished_run_for_resume(small_corpus, reference, other_seed, tmp_path):
    """The old run's directory cannot be moved aside (it is a mount point: EBUSY), so publishing
    fails after training finished: the sealed run stays, and --resume publishes it."""
    out = tmp_path / "run"
    subprocess.run(["cp", "-a", str(other_seed), str(out)], check=True)
    _mount("--bind", str(out), str(out))
    try:
        r = _resume(small_corpus, out, "--overwrite")
        one_line_error(r, 1, "Device or resource busy")
        assert "holds the finished run: rerun with --resume to publish it" in r.stderr
        assert_same_vectors(out, other_seed)  # the old run is whole
        assert (Path(str(out) + ".inprogress") / "_SUCCESS").exists()
    finally:
        subprocess.run(["umount", str(out)], check=False)
    r = _resume(small_corpus, out, "--resume", "--overwrite")
    assert r.returncode == 0 and "publishing the finished run" in r.stderr, r.stderr[-3000:]
    assert "EPOCH" not in r.stderr  # nothing trained again
    assert_same_vectors(out, reference)
    assert not Path(str(out) + ".inprogress").exists()


def _fill(disk: Path) -> Path:
    """Write a file until the filesystem is full; returns it."""
    filler = disk / "filler"
    chunk = b"\0" * (1 << 20)
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(chunk)
        except OSError:
            pass
    return filler


def test_a_full_disk_at_export_is_refused_in_one_line_and_resumes(small_corpus, reference, tmp_path):
    """The disk fills as the last epoch's checkpoint is written: the export fails in one line,
    the checkpoint stays, and once there is room --resume ends with the same vectors."""
    disk = tmp_path / "disk"
    disk.mkdir()
    _mount("-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk))
    try:
        out = disk / "run"
        proc = start_run(small_corpus, out)
        ready = Path(str(out) + ".inprogress") / "checkpoints" / "epoch=4" / "state.json"
        deadline = time.monotonic() + 300
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the run never reached its last checkpoint"
            time.sleep(0.002)
        filler = _fill(disk)
        _, stderr = proc.communicate(timeout=300)
        failed = subprocess.CompletedProcess(proc.args, proc.returncode, "", stderr)
        one_line_error(failed, 1, "No space left on device; free space where --output points")
        assert not out.exists() and ready.exists()
        filler.unlink()
        r = _resume(small_corpus, out, "--resume")
        assert r.returncode == 0 and "resuming after epoch 4" in r.stderr, r.stderr[-3000:]
        assert_same_vectors(out, reference)
    finally:
        subprocess.run(["umount", str(disk)], check=False)
