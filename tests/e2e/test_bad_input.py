"""Input that must be refused in one line, input that must be accepted, outputs that cannot be
written, and tasks that keep failing: each through the command line, as users meet them."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.helpers import SAMPLE, w2v

# One successful run first, so these runs start as users' do: with the JVM class archive it
# publishes (w2v_spark/jvmcache.py). A failed run never publishes one, and without it each starts
# about twice as slowly.
pytestmark = pytest.mark.usefixtures("reference")


def _one_line_error(r: subprocess.CompletedProcess[str], code: int, message: str) -> None:
    assert r.returncode == code, (r.returncode, r.stderr[-2000:])
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("w2v-spark: error: ") and message in last, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "\tat " not in r.stderr, "no Python or JVM stack traces"


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (b"", [], "the input is empty"),
        (b"!!! ... ,,,\r\n   \n--- ???\n", [], "the input has no tokens: no text in"),
        (b"alpha beta gamma\ndelta alpha\n", ["--min-count", "5"],
         "the input has 4 distinct words and the most frequent occurs 2 times; lower --min-count (to 2 or less)"),
        ((" ".join(f"w{i}" for i in range(15)) + "\n").encode() * 3, ["--min-count", "1"],
         "too few for negative sampling with window=5 (--objective batch_negative_sampling needs at least 22); "
         "add text, lower --min-count or lower --window, or use --objective negative_sampling (needs 12)"),
    ],
)  # fmt: skip
def test_unusable_input_is_refused_in_one_line(tmp_path, content, extra, message):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(content)
    out = tmp_path / "out"
    r = w2v("train", "--input", str(corpus), "--output", str(out), *extra, timeout=300)
    _one_line_error(r, 1, message)
    assert not out.exists() and not Path(str(out) + ".inprogress").exists()  # nothing left to trip over


def test_a_diverging_run_fails_in_one_line_and_leaves_nothing(tmp_path):
    """A learning rate far too large blows the loss up in the first epoch: the job stops there,
    names the cause and the fix, and marks nothing complete (no vectors of noise)."""
    out = tmp_path / "out"
    r = w2v("train", "--input", str(SAMPLE), "--output", str(out), "--epochs", "2", "--alpha", "20", timeout=300)
    _one_line_error(r, 1, "training diverged in epoch 1 (mean loss")
    assert "lower --alpha or train fewer shards (--partitions)" in r.stderr
    assert not out.exists() and not Path(str(out) + ".inprogress").exists()


def test_tokens_with_whitespace_are_refused_before_training(tmp_path):
    """A --token-pattern that matches spaces makes words word2vec files cannot hold (their fields
    are separated by whitespace, so every later word would read back shifted): refused, naming
    one, as soon as the vocabulary is counted."""
    rng = np.random.default_rng(0)
    phrases = [f"city {i}" for i in range(30)]
    corpus = tmp_path / "phrases.csv"
    corpus.write_text("".join(",".join(rng.choice(phrases, 10)) + "\n" for _ in range(300)))
    out = tmp_path / "out"
    r = w2v("train", "--input", str(corpus), "--output", str(out), "--token-pattern", "[^,]+", "--min-count", "1",
            "--epochs", "1", timeout=300)  # fmt: skip
    _one_line_error(r, 1, "holds whitespace, which separates the fields of word2vec text and binary files")
    assert "the word 'city " in r.stderr and "change --token-pattern so that it matches no whitespace" in r.stderr
    assert "EPOCH" not in r.stderr  # refused before training
    assert not out.exists() and not Path(str(out) + ".inprogress").exists()


def test_awkward_but_valid_input_trains(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    words = [f"word{i}" for i in range(20)]
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(words, 12)) for _ in range(400)]
    (d / "crlf.txt").write_bytes("\r\n".join(lines[:100]).encode() + b"\r\n")  # Windows line endings
    (d / "invalid.txt").write_bytes(b"\n".join(line.encode() + b" \xff\xfe\xc3" for line in lines[100:200]))
    with gzip.open(d / "packed.txt.gz", "wt") as fh:  # gzip inside a directory
        fh.write("\n".join(lines[200:300]) + "\n")
    # one line of several megabytes without a newline, and an absurdly long token in it
    giant = " ".join(lines[300:400] * 800) + " " + "x" * 2_000_000
    (d / "one-line.txt").write_text(giant)
    assert len(giant) > 4_000_000
    out = tmp_path / "out"
    # 21 words: the per-pair objective's negatives need at least 12 here (the batched one's 22)
    train = ("train", "--input", str(d), "--output", str(out), "--min-count", "1", "--epochs", "1")
    r = w2v(*train, "--objective", "negative_sampling", timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    vocab = pq.read_table(out / "vocab").to_pydict()
    got = set(vocab["word"])
    assert set(words) <= got
    assert not any("\r" in w for w in got)  # no carriage return survives tokenizing
    assert "x" * 100 in got and max(len(w) for w in got) == 100  # the long token is cut, like word2vec.c
    assert sum(vocab["count"]) > 800 * 1200  # the giant line was read in full


def test_output_that_cannot_be_written_is_refused_before_spark(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    r = w2v("train", "--input", str(SAMPLE), "--output", str(blocker / "out"), timeout=60)
    _one_line_error(r, 2, "cannot write the output beside")


def _tmpfs(path: Path, options: str) -> bool:
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, check=False)
    return r.returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    if not _tmpfs(mount, "size=6m"):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_disk_full_fails_in_one_line_after_task_retries_and_leaves_nothing(small_disk, tmp_path):
    """6 MB fills while writing the shards and tuples: the tasks fail, are retried (local[2,2]),
    keep failing, and the job reports the task's error in one line, with no _SUCCESS."""
    out = small_disk / "run"
    r = w2v("train", "--input", str(SAMPLE), "--output", str(out), "--master", "local[2,2]", timeout=600)
    _one_line_error(r, 1, "No space left on device; free space where --output points, or choose another --output")
    assert not (out / "_SUCCESS").exists()
    assert list(small_disk.iterdir()) == []  # the staging directory was removed, space given back


def test_read_only_file_system_is_refused(tmp_path):
    mount = tmp_path / "ro"
    if not _tmpfs(mount, "size=1m,ro"):
        pytest.skip("cannot mount a read-only tmpfs here (needs root)")
    try:
        r = w2v("train", "--input", str(SAMPLE), "--output", str(mount / "out"), timeout=60)
        _one_line_error(r, 2, "cannot write the output beside")
        assert "Read-only file system" in r.stderr
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_model_too_big_for_memory_is_refused_before_training(tmp_path):
    # 20 million dimensions: E and Theta for the sample's vocabulary need hundreds of GiB per copy.
    out = tmp_path / "out"
    r = w2v("train", "--input", str(SAMPLE), "--output", str(out), "--master", "local[2]", "--partitions", "2",
            "--vector-size", "20000000", timeout=300)  # fmt: skip
    _one_line_error(r, 1, "per copy, one copy for each of 2 shards training at once) but only")
    assert "lower --max-vocab-size or --vector-size" in r.stderr
    assert not out.exists() and not Path(str(out) + ".inprogress").exists()


def test_an_unreadable_input_is_refused_before_spark_starts_naming_it(unprivileged):
    corpus = unprivileged.home / "corpus"
    corpus.mkdir(mode=0o755)
    (corpus / "a.txt").write_text("some readable text\n" * 100)
    secret = corpus / "b.txt"
    secret.write_text("text this user may not read\n" * 100)
    unprivileged.unreadable(secret)
    for given in (secret, corpus):  # the file itself, or the directory holding it
        r = unprivileged.w2v("train", "--input", str(given), "--output", str(unprivileged.home / "out"), timeout=120)
        _one_line_error(r, 2, f"cannot read the input {str(secret)!r} (permission denied for this user); make it "
                              "readable or leave it out of --input")  # fmt: skip
        assert "--output" not in r.stderr and "Spark" not in r.stderr  # refused before Spark started
    assert not (unprivileged.home / "out").exists() and not (unprivileged.home / "out.inprogress").exists()


def test_an_unreadable_vectors_file_gets_a_hint_naming_it_not_the_output(unprivileged):
    vectors = unprivileged.home / "vectors.txt"
    vectors.write_text("1 2\nword 0.5 0.25\n")
    unprivileged.unreadable(vectors)
    r = unprivileged.w2v("export", "--vectors", str(vectors), "--format", "binary", "--output",
                         str(unprivileged.home / "out.bin"), timeout=120)  # fmt: skip
    _one_line_error(r, 1, f"Permission denied: '{vectors}'; check that --vectors {vectors} can be read by the user")
    assert "--output" not in r.stderr
