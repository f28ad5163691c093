"""What a run may do at --output: nothing w2v-spark did not write is replaced or deleted, an
input is never an output, two runs never share one, and half-written files never count.
Each case runs the command line, as users meet it (docs/guarantees.md#files)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.helpers import (
    ENV,
    SAMPLE,
    SMALL,
    assert_same_vectors,
    kill_when,
    lease_held_elsewhere,
    one_line_error,
    start_run,
    vectors_md5,
    w2v,
)


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_resume_never_replaces_a_directory_it_did_not_write(tmp_path):
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "notes.txt").write_text("precious")
    r = w2v("train", "--input", str(SAMPLE), "--output", str(keep), "--resume", "--epochs", "1", timeout=60)
    one_line_error(r, 2, "holds 'notes.txt', which w2v-spark did not write")
    assert _tree(keep) == {"notes.txt": b"precious"} and sorted(p.name for p in tmp_path.iterdir()) == ["keep"]


@pytest.mark.parametrize(
    ("output", "flags", "message"),
    [
        ("in.txt", ["--overwrite"], "is the input"),
        ("in.txt", ["--resume"], "is the input"),
        (".", ["--overwrite"], "holds the input"),
        ("texts/out", ["--overwrite", "--resume"], "lies inside the input directory"),
    ],
)
def test_an_output_that_is_holds_or_lies_in_an_input_is_refused(tmp_path, output, flags, message):
    text = b"alpha beta gamma delta\n" * 50
    (tmp_path / "in.txt").write_bytes(text)
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_bytes(text)
    before = _tree(tmp_path)
    inputs = [str(tmp_path / "in.txt")] if output != "texts/out" else [str(tmp_path / "texts")]
    r = w2v("train", "--input", *inputs, "--output", str(tmp_path / output), *flags, timeout=60)
    one_line_error(r, 2, message)
    assert _tree(tmp_path) == before


def test_a_staging_directory_it_did_not_write_is_never_touched(tmp_path):
    out = tmp_path / "out"
    staging = tmp_path / "out.inprogress"
    staging.mkdir()
    (staging / "mine.csv").write_text("a,b\n")
    for flags in (["--overwrite"], ["--resume"], ["--resume", "--overwrite"]):
        r = w2v("train", "--input", str(SAMPLE), "--output", str(out), *flags, timeout=60)
        one_line_error(r, 2, "holds 'mine.csv', which w2v-spark did not write")
        assert _tree(staging) == {"mine.csv": b"a,b\n"} and not out.exists()


def test_overwrite_replaces_a_finished_run_only_if_nothing_else_is_in_it(reference, tmp_path):
    from w2v_spark.job import outputs

    out = tmp_path / "out"
    shutil.copytree(reference, out)
    assert outputs.inspect(str(out)).output == "finished"
    (out / "vectors" / "my-notes.md").write_text("mine")
    r = w2v("train", "--input", str(SAMPLE), "--output", str(out), "--overwrite", timeout=60)
    one_line_error(r, 2, "holds 'vectors/my-notes.md', which w2v-spark did not write")
    assert (out / "vectors" / "my-notes.md").read_text() == "mine"
    assert vectors_md5(out) == vectors_md5(reference)  # vectors/ now holds a file of the user's too
    # An earlier version's output (an empty _SUCCESS, no manifest) is recognised by its names.
    (out / "vectors" / "my-notes.md").unlink()
    (out / "_SUCCESS").write_text("")
    (out / "loss.png").write_bytes(b"png")  # w2v-spark plot writes here by default
    assert outputs.inspect(str(out)).output == "finished"
    (out / "notes.txt").write_text("mine")
    assert outputs.inspect(str(out)) == outputs.Found("foreign", "absent", "notes.txt")


def test_the_manifest_lists_every_published_file(reference):
    manifest = json.loads((reference / "_SUCCESS").read_text())
    assert manifest["writer"] == "w2v-spark" and manifest["run"]
    files = {str(p.relative_to(reference)): p.stat().st_size for p in reference.rglob("*") if p.is_file()}
    assert manifest["files"] == {k: v for k, v in files.items() if k != "_SUCCESS"}
    assert not (reference.parent / "run.lock").exists()  # the lease goes with the run


def test_a_second_run_on_a_live_runs_output_is_refused(small_corpus, reference, tmp_path):
    out = tmp_path / "run"
    first = start_run(small_corpus, out)
    staging = Path(str(out) + ".inprogress")
    deadline = time.monotonic() + 120
    while not (staging / "vocab").exists():
        assert first.poll() is None and time.monotonic() < deadline, "the first run never started"
        time.sleep(0.02)
    for flags in (["--overwrite"], ["--resume"], ["--resume", "--overwrite"]):
        second = w2v("train", "--input", str(small_corpus), "--output", str(out), *SMALL, *flags, timeout=60)
        one_line_error(second, 2, f"is in use by another run (process {first.pid} on ")
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr[-3000:]
    assert_same_vectors(out, reference)  # the first run went on undisturbed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_killed_runs_lock_does_not_block_the_next_run(small_corpus, reference, tmp_path):
    out = tmp_path / "run"
    proc = start_run(small_corpus, out)
    assert kill_when(proc, Path(str(out) + ".inprogress") / "vocab")
    assert Path(str(out) + ".lock").exists()  # left behind by SIGKILL, but no longer locked
    r = w2v("train", "--input", str(small_corpus), "--output", str(out), "--master", "local[2]", *SMALL, "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    assert_same_vectors(out, reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_temporary_files_are_hidden_from_readers_and_never_published(reference, tmp_path, spark):
    """A writer killed mid-write leaves its temporary file: Spark, pyarrow and the vector readers
    skip it, and sealing a run removes it instead of listing it."""
    from w2v_spark.io import formats
    from w2v_spark.job import outputs
    from w2v_spark.runtime import storage

    run = tmp_path / "run"
    shutil.copytree(reference, run)
    target = run / "vectors" / "part-00001.parquet"
    code = (
        "import os, sys\nfrom w2v_spark.runtime import storage\n"
        f"with storage.atomic_output({str(target)!r}) as fh:\n"
        "    fh.write(b'PAR1 half a file'); fh.flush(); os._exit(9)\n"
    )
    assert subprocess.run([sys.executable, "-c", code], env=ENV, check=False).returncode == 9
    (left,) = [p for p in (run / "vectors").iterdir() if p.name != "part-00000.parquet"]
    assert left.name.startswith(".part-00001.parquet.tmp-") and storage.is_temporary(left.name)
    words, vectors = formats.load_vectors(str(run))
    assert len(words) == len(vectors) == pq.read_table(reference / "vectors").num_rows
    assert spark.read.parquet(str(run / "vectors")).count() == len(words)
    manifest = outputs.seal(str(run), "test", [str(run / "vectors")])
    assert not left.exists() and list(manifest["files"]) == ["vectors/part-00000.parquet"]


def test_the_lock_of_a_live_holder_is_refused_and_freed_when_it_dies(tmp_path):
    """The flock underneath: held by another process, refused naming it; free once it is killed."""
    from w2v_spark.errors import ConfigError
    from w2v_spark.job import outputs

    out = tmp_path / "out"
    with lease_held_elsewhere(str(out), ENV) as pid:  # noqa: SIM117 - the refusal names its pid
        with pytest.raises(ConfigError, match=f"in use by another run \\(process {pid} on "), outputs.lease(str(out)):
            pass
    with outputs.lease(str(out)) as held:
        assert held.holder["pid"] == os.getpid() and json.loads(Path(held.path).read_text())["pid"] == os.getpid()
        with outputs.lease(str(out)) as again:  # re-entrant in one process
            assert again is held
    assert not Path(str(out) + ".lock").exists()


def test_secrets_in_settings_are_never_published_or_logged(small_corpus, tmp_path):
    out = tmp_path / "run"
    r = w2v("train", "--input", str(small_corpus), "--output", str(out), "--master", "local[2]", "--epochs", "1",
            "--vector-size", "8", "--conf", "spark.hadoop.fs.s3a.secret.key=TOPSECRET",
            "--conf", "spark.hadoop.fs.s3a.access.key=AKIAEXAMPLE", "--conf", "spark.my.setting=visible")  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    written = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert b"TOPSECRET" not in written and b"AKIAEXAMPLE" not in written
    assert "TOPSECRET" not in r.stderr + r.stdout and "AKIAEXAMPLE" not in r.stderr + r.stdout
    conf = json.loads((out / "metrics.json").read_text())["config"]["spark_conf"]
    assert conf == {
        "spark.hadoop.fs.s3a.secret.key": "*********(redacted)",
        "spark.hadoop.fs.s3a.access.key": "*********(redacted)",
        "spark.my.setting": "visible",
    }
