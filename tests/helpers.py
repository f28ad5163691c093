"""Test helpers shared by several test modules: running the command line as users do, comparing
runs, checking a run's outputs, and a corpus with planted structure. Fixtures stay in conftest.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from w2v_spark.config import TrainConfig
from w2v_spark.job.run import read_corpus, run
from w2v_spark.ml.model import Word2VecModel
from w2v_spark.train import blocks
from w2v_spark.train.objectives import get as get_objective

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample" / "linuxdoc-sample.txt.gz"

# Running the command line as users do, in subprocesses.
ENV = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
# A small, quick configuration for runs that are compared with each other.
SMALL = ["--partitions", "2", "--vector-size", "32", "--epochs", "4", "--min-count", "3"]


def w2v(*args: str, timeout: int = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("w2v-spark") or pytest.fail("w2v-spark is not installed (pip install -e .)")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, env=env or ENV, check=False)


def max_diff(a: Path, b: Path) -> float:
    """Largest absolute difference between the vectors of two runs (same words required)."""
    from w2v_spark.io.formats import read_vectors

    wa, va = read_vectors(str(a))
    wb, vb = read_vectors(str(b))
    assert wa == wb
    return float(np.abs(va - vb).max())


def assert_same_vectors(a: Path, b: Path) -> None:
    """Two runs' vectors are the same bit for bit (docs/guarantees.md#reproducible): the same words, the
    same float32 bits in vectors/, and vectors.bin byte for byte where both runs wrote one."""
    from w2v_spark.io.formats import read_vectors

    wa, va = read_vectors(str(a))
    wb, vb = read_vectors(str(b))
    assert wa == wb
    assert va.tobytes() == vb.tobytes(), f"the vectors differ, by up to {float(np.abs(va - vb).max()):.3g}"
    if (a / "vectors.bin").exists() and (b / "vectors.bin").exists():
        assert (a / "vectors.bin").read_bytes() == (b / "vectors.bin").read_bytes()


def check_outputs(out: Path, epochs: int, keep_tuples: bool, min_count: int = 5, vector_size: int = 100) -> None:
    """A finished run's outputs, as docs/output-format.md#layout describes them."""
    assert (out / "_SUCCESS").exists()
    newest_other = max(p.stat().st_mtime_ns for p in out.rglob("*") if p.name != "_SUCCESS")
    assert (out / "_SUCCESS").stat().st_mtime_ns >= newest_other, "_SUCCESS must be written last"

    vocab = pq.read_table(out / "vocab")
    assert vocab.schema.names == ["word", "count", "id"]
    assert str(vocab.schema.field("count").type) == "int64" and str(vocab.schema.field("id").type) == "int32"
    ids, counts = vocab.column("id").to_numpy(), vocab.column("count").to_numpy()
    V = vocab.num_rows
    assert ids.tolist() == list(range(V))
    assert np.all(np.diff(counts) <= 0) and counts.min() >= min_count

    vectors = pq.read_table(out / "vectors")
    assert vectors.schema.names == ["word", "vector"] and vectors.num_rows == V
    assert vectors.column("word").to_pylist() == vocab.column("word").to_pylist()
    matrix = np.stack(vectors.column("vector").to_numpy(zero_copy_only=False))
    assert matrix.shape == (V, vector_size) and np.all(np.isfinite(matrix))

    lines = (out / "vectors.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"{V} {vector_size}" and len(lines) == V + 1
    first = lines[1].split(" ")
    assert first[0] == vocab.column("word")[0].as_py() and len(first) == vector_size + 1
    np.testing.assert_allclose(np.array(first[1:], dtype=np.float32), matrix[0])

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["epochs"] == epochs and metrics["vocab_size"] == V
    assert [e["epoch"] for e in metrics["epochs"]] == list(range(1, epochs + 1))
    for e in metrics["epochs"]:
        assert set(e) >= {"epoch", "loss", "examples", "words", "seconds", "words_per_sec"}
    assert metrics["epochs"][-1]["loss"] < metrics["epochs"][0]["loss"]
    memory = metrics["memory"]
    assert memory["driver_python_mb"] > 10 and memory["python_worker_max_mb"] > 10
    assert len(memory["python_workers_mb"]) >= 1

    tuple_dirs = sorted(p.name for p in (out / "tuples").iterdir()) if (out / "tuples").exists() else []
    if keep_tuples:
        assert tuple_dirs == [f"epoch={e}" for e in range(1, epochs + 1)]
        t = pq.read_table(out / "tuples" / "epoch=1")
        assert t.schema.names[:3] == ["target", "context_1", "context_2"]  # batch_negative_sampling's windows
        contexts = [t.column(c).to_numpy() for c in t.schema.names if c.startswith("context_")]
        assert sum(int((c >= 0).sum()) for c in contexts) == metrics["epochs"][0]["examples"]  # pairs
    else:
        assert tuple_dirs == []


TOPICS, WORDS_PER_TOPIC = 5, 20


def planted_corpus(path: Path, sentences: int = 4000, length: int = 10, seed: int = 0) -> None:
    """Sentences drawn from disjoint topic vocabularies: word tTwW belongs to topic T."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as fh:
        for _ in range(sentences):
            t = rng.integers(TOPICS)
            words = rng.integers(WORDS_PER_TOPIC, size=length)
            fh.write(" ".join(f"t{t}w{w}" for w in words) + "\n")


def topic_purity(words: list[str], vectors: np.ndarray, k: int = 5) -> float:
    """Mean fraction of each word's k nearest neighbours (cosine) that share its topic."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    topic = np.array([w.split("w")[0] for w in words])
    nearest = np.argsort(-sims, axis=1)[:, :k]
    return float((topic[nearest] == topic[:, None]).mean())


def planted_run(spark: SparkSession, base: Path, **overrides: Any) -> tuple[dict[str, Any], list[str], np.ndarray]:
    """Train on the planted corpus in ``base`` (written once) with the given settings changed."""
    corpus = base / "corpus.txt"
    if not corpus.exists():
        planted_corpus(corpus)
    settings = dict(
        input=(str(corpus),), output=str(base / "out"), partitions=2, vector_size=24, window=4,
        negative=5, min_count=1, sample=0.0, epochs=4, alpha=0.025, seed=3, overwrite=True,
    )  # fmt: skip
    settings.update(overrides)
    cfg = TrainConfig(**settings)  # type: ignore[arg-type]
    metrics = run(cfg, spark, read_corpus(spark, cfg))
    table = pq.read_table(base / "out" / "vectors")
    vectors = np.stack(table.column("vector").to_numpy(zero_copy_only=False)).astype(np.float64)
    return metrics, table.column("word").to_pylist(), vectors


def vectors_md5(out: Path) -> str:
    """The md5 of a run's vectors.bin: runs that promise the same vectors bit for bit compare it."""
    import hashlib

    return hashlib.md5((out / "vectors.bin").read_bytes()).hexdigest()


def one_line_error(r: subprocess.CompletedProcess[str], code: int, message: str) -> None:
    """A refusal as users must see it: exit ``code``, a last line naming ``message``, no traces."""
    assert r.returncode == code, (r.returncode, r.stderr[-2000:])
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("w2v-spark: error: ") and message in last, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "\tat " not in r.stderr, "no Python or JVM stack traces"


def start_run(corpus: Path, out: Path | str, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """A SMALL training run in the background, in a session of its own (so it can be killed whole)."""
    exe = str(Path(sys.executable).parent / "w2v-spark")
    return subprocess.Popen(
        [exe, "train", "--input", str(corpus), "--output", str(out), "--master", "local[2]", *SMALL, *extra],
        env=env or ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def kill_when(proc: subprocess.Popen[str], ready: Path, timeout: float = 300) -> bool:
    """SIGKILL the whole process group (driver, JVM, Python workers) as soon as ``ready`` exists;
    False if the run ended first (it finished before that point could be caught)."""
    import signal
    import time

    deadline = time.monotonic() + timeout
    while not ready.exists():
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, f"{ready} never appeared"
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


@contextmanager
def lease_held_elsewhere(output: str, env: dict[str, str], setup: str = "") -> Iterator[int]:
    """Another process holding the output's lease (``outputs.lease``) until the block ends, when
    it is killed; yields its pid. ``setup`` runs in it first (Python statements)."""
    code = (
        f"import time\nfrom w2v_spark.job import outputs\n{setup}\n"
        f"with outputs.lease({output!r}):\n    print('held', flush=True); time.sleep(600)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def can_mount_tmpfs() -> bool:
    if not hasattr(os, "getuid") or os.getuid() != 0 or not Path("/dev/shm").is_dir():
        return False
    mount = ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /dev/shm"]
    return subprocess.run(mount, capture_output=True, check=False).returncode == 0


small_shm = pytest.mark.skipif(not can_mount_tmpfs(), reason="needs root and unshare to mount a small /dev/shm")


def in_small_shm(size: str, command: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """``command`` (sh, with ``args`` as $0...) with a /dev/shm of ``size`` of its own (a mount
    namespace: the machine's /dev/shm is not touched)."""
    script = f"mount -t tmpfs -o size={size} tmpfs /dev/shm && {command}"
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=timeout,
        check=False,
    )


def write_model(model_dir, shape, emb, theta):
    for b in range(shape.blocks):
        start, stop = shape.bounds(b)
        blocks.write_block(str(model_dir), b, emb[start:stop], theta[start:stop])


def tuples_file(path, centers, targets, negatives):
    table = pa.table(
        {"center": pa.array(centers, pa.int32()), "target": pa.array(targets, pa.int32()),
         "negative_1": pa.array(negatives, pa.int32())},
        schema=get_objective("negative_sampling").arrow_schema(0, 1),
    )  # fmt: skip
    pq.write_table(table, path, row_group_size=3)
    return str(path)


@dataclass
class Unprivileged:
    """Commands run as a user who cannot read files made unreadable here: root ignores
    permission bits, so as root they run as nobody (setpriv), with a directory of their own."""

    home: Path
    prefix: list[str]

    def unreadable(self, path: Path) -> Path:
        path.chmod(0o600 if self.prefix else 0)  # as root the file stays root's, unreadable by nobody
        return path

    def unwritable(self, directory: Path) -> Path:
        directory.mkdir(mode=0o755 if self.prefix else 0o555)  # as root it is root's: nobody cannot write in it
        return directory

    def run(self, *cmd: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
        env = {**ENV, "HOME": str(self.home), "W2V_SPARK_JVM_CACHE": "off"}
        return subprocess.run([*self.prefix, *cmd], capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=self.home, check=False)  # fmt: skip

    def w2v(self, *args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
        return self.run(shutil.which("w2v-spark") or pytest.fail("w2v-spark is not installed"), *args, timeout=timeout)


def toy_model() -> Word2VecModel:
    """Four words in three dimensions: b is a's nearest, d its opposite."""
    vectors = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [-1, 0, 0]], dtype=np.float32)
    model = Word2VecModel(["a", "b", "c", "d"], vectors)
    return model.setInputCol("words").setOutputCol("vec")
