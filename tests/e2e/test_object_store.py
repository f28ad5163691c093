"""Outputs on an object store, against a real S3-protocol server on loopback (moto's), through
pyarrow's S3 filesystem as the job itself writes them. Spark's own s3a connector needs jars that
cannot be installed here: the input is read from a local disk, everything the job writes
(shards, tuples, model blocks, checkpoints, vectors, the manifest, the lease) goes to S3.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import ENV, SMALL, lease_held_elsewhere, start_run, vectors_md5, w2v

BUCKET = "w2v"


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    """An S3 server on 127.0.0.1 with one bucket; the environment that points clients at it
    (also set in this process, for the pyarrow calls the tests make themselves)."""
    moto_server = pytest.importorskip("moto.server")
    import boto3

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"]).create_bucket(Bucket=BUCKET)
    try:
        yield {**ENV, **env}
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


def _fs() -> Any:
    import pyarrow.fs as pafs

    return pafs.FileSystem.from_uri(f"s3://{BUCKET}/")[0]


def _objects(prefix: str) -> dict[str, int]:
    import pyarrow.fs as pafs

    infos = _fs().get_file_info(pafs.FileSelector(f"{BUCKET}/{prefix}", recursive=True, allow_not_found=True))
    return {i.path[len(BUCKET) + 1 :]: i.size for i in infos if i.type == pafs.FileType.File}


def _get(key: str) -> bytes:
    with _fs().open_input_stream(f"{BUCKET}/{key}") as fh:
        return bytes(fh.read())


def _put(key: str, data: bytes) -> None:
    with _fs().open_output_stream(f"{BUCKET}/{key}") as fh:
        fh.write(data)


def test_a_run_on_an_object_store_gives_the_same_vectors(s3, small_corpus, reference):
    r = w2v("train", "--input", str(small_corpus), "--output", f"s3://{BUCKET}/run", "--master", "local[2]",
            *SMALL, env=s3)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert hashlib.md5(_get("run/vectors.bin")).hexdigest() == vectors_md5(reference)
    import json

    manifest = json.loads(_get("run/_SUCCESS"))
    assert {k: v for k, v in _objects("run").items() if k != "run/_SUCCESS"} == {
        f"run/{name}": size for name, size in manifest["files"].items()
    }
    assert not _objects("run.inprogress") and not _objects("run.lock")  # nothing of the run is left


def test_killed_on_an_object_store_and_resumed_gives_the_same_vectors(s3, small_corpus, reference):
    out = f"s3://{BUCKET}/killed"
    proc = start_run(small_corpus, out, env=s3)
    state = "killed.inprogress/checkpoints/epoch=2/state.json"
    deadline = time.monotonic() + 300
    while state not in _objects("killed.inprogress/checkpoints"):
        assert proc.poll() is None and time.monotonic() < deadline, "the run never reached its second checkpoint"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert "killed/_SUCCESS" not in _objects("killed")
    # The dead run's lease object stands until it expires (no process can be probed on another
    # machine); an operator who knows the run is dead deletes it.
    refused = w2v("train", "--input", str(small_corpus), "--output", out, *SMALL, "--resume", env=s3, timeout=120)
    assert refused.returncode == 2 and "is in use by another run" in refused.stderr and "expires in" in refused.stderr
    _fs().delete_file(f"{BUCKET}/killed.lock")
    r = w2v("train", "--input", str(small_corpus), "--output", out, "--master", "local[2]", *SMALL, "--resume", env=s3)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming after epoch 2" in r.stderr or "resuming after epoch 3" in r.stderr
    assert hashlib.md5(_get("killed/vectors.bin")).hexdigest() == vectors_md5(reference)


def _seal(staging: str, files: dict[str, bytes]) -> str:
    """A staging directory holding ``files``, sealed with their manifest; returns its URI."""
    from w2v_spark.job import outputs

    for name, data in files.items():
        _put(f"{staging}/{name}", data)
    tops = sorted({f"s3://{BUCKET}/{staging}/{name.split('/')[0]}" for name in files})
    outputs.seal(f"s3://{BUCKET}/{staging}", "test", tops)
    return f"s3://{BUCKET}/{staging}"


def test_publishing_file_by_file_replaces_an_old_run_and_finishes_after_a_failure(s3, tmp_path):
    """No directory is renamed: the old run's _SUCCESS goes first, then its files; the new files
    move one by one, _SUCCESS last. A publish that fails half-way is finished by --resume (and
    only by it: starting over would strand the files already moved)."""
    from w2v_spark.config import TrainConfig
    from w2v_spark.errors import ConfigError, TrainingError
    from w2v_spark.job import outputs
    from w2v_spark.job.preflight import preflight

    out = f"s3://{BUCKET}/pub"
    old = {"vectors/part-00000.parquet": b"old0", "vectors/part-00001.parquet": b"old1", "metrics.json": b"{}"}
    outputs.publish(_seal("old.inprogress", old), out)
    staging = _seal("pub.inprogress", {"vectors/part-00000.parquet": b"new0", "metrics.json": b"{1}"})
    assert outputs.inspect(out) == outputs.Found("finished", "sealed")
    part = "vectors/part-00000.parquet"
    _fs().delete_file(f"{BUCKET}/pub.inprogress/{part}")  # a file of the manifest gone missing: the publish stops
    with pytest.raises(TrainingError, match=f"{part} is in neither"):
        outputs.publish(staging, out)
    assert set(_objects("pub")) == {"pub/metrics.json"}  # the old run gone, the new one half-way
    assert outputs.inspect(out).output == "partial"  # the run's own files, mid-publish
    text = tmp_path / "in.txt"
    text.write_text("a b c\n")
    with pytest.raises(ConfigError, match="was interrupted; pass --resume to finish it"):
        preflight(TrainConfig(input=(str(text),), output=out, overwrite=True))
    assert preflight(TrainConfig(input=(str(text),), output=out, resume=True)).action == "publish"
    _put(f"pub.inprogress/{part}", b"new0")
    outputs.publish(staging, out)
    assert set(_objects("pub")) == {"pub/_SUCCESS", "pub/metrics.json", "pub/vectors/part-00000.parquet"}
    assert _get("pub/vectors/part-00000.parquet") == b"new0" and not _objects("pub.inprogress")


def test_checkpoints_on_an_object_store_are_checked_and_fall_back(s3):
    import numpy as np

    from w2v_spark.job import checkpoints
    from w2v_spark.train import blocks

    staging = f"s3://{BUCKET}/ckpt.inprogress"
    for epoch in (1, 2):
        crc = [blocks.write_block(checkpoints.epoch_dir(staging, epoch), 0, np.full((3, 2), epoch, np.float32),
                                  np.zeros((3, 2), np.float32))[1]]  # fmt: skip
        checkpoints.save(staging, epoch, {"epochs": []}, crc, keep=2)
    assert checkpoints.latest(staging).epoch == 2  # type: ignore[union-attr]
    block = "ckpt.inprogress/checkpoints/epoch=2/block-00000.npy"
    data = bytearray(_get(block))
    data[-1] ^= 1
    _put(block, bytes(data))
    assert checkpoints.latest(staging, verify_data=False).epoch == 2  # type: ignore[union-attr]  # same size
    assert checkpoints.latest(staging).epoch == 1  # type: ignore[union-attr]  # the checksum tells


def test_the_lease_object_refuses_a_live_run_and_expires(s3, monkeypatch):
    from w2v_spark.errors import ConfigError
    from w2v_spark.job import outputs

    monkeypatch.setattr(outputs, "SETTLE_SECONDS", 0.1)
    out = f"s3://{BUCKET}/leased"
    with lease_held_elsewhere(out, s3, "outputs.LEASE_SECONDS, outputs.SETTLE_SECONDS = 3.0, 0.1") as pid:  # noqa: SIM117
        with pytest.raises(ConfigError, match=f"in use by another run \\(process {pid} on "), outputs.lease(out):
            pass
    time.sleep(3.5)  # the dead holder's lease expires
    with outputs.lease(out) as held:
        assert held.holder["pid"] == os.getpid()
    assert "leased.lock" not in _objects("leased.lock")


def test_fit_with_a_temp_dir_on_an_object_store_leaves_nothing_there(s3, tmp_path):
    script = tmp_path / "fit.py"
    script.write_text(
        "import sys\nfrom pyspark.sql import SparkSession\nfrom w2v_spark import Word2Vec\n"
        "spark = SparkSession.builder.master('local[2]').getOrCreate()\n"
        "df = spark.createDataFrame([(('a b c d e f g h i j k l m n o p q r s t u v w x y z ' * 3).split(),)] * 40,"
        " 'tokens array<string>')\n"
        "w2v = Word2Vec(vectorSize=8, minCount=1, maxIter=2, numPartitions=2, seed=5)\n"
        f"remote = w2v.copy().setTempDir('s3://{BUCKET}/fits').fit(df)\n"
        f"local = w2v.copy().setTempDir({str(tmp_path / 'local')!r}).fit(df)\n"
        "assert (remote.vectors == local.vectors).all(), 'the same vectors wherever the working files are'\n"
        "print('ok', remote.vectors.shape)\n"
    )
    r = subprocess.run([sys.executable, str(script)], env=s3, capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0 and "ok (26, 8)" in r.stdout, r.stderr[-3000:]
    assert not _objects("fits") and list((tmp_path / "local").iterdir()) == []
