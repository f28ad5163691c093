"""On real Spark clusters: a standalone master and workers on loopback, and local-cluster mode.

The standalone cluster is started from the installed pyspark (sbin/spark-daemon.sh), the job
is submitted as users submit it (``w2v-spark package`` + spark-submit --py-files), and the
cluster is stopped afterwards whatever happens.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyspark
import pytest

from tests.helpers import ENV, SMALL, assert_same_vectors, check_outputs, w2v

SPARK_HOME = Path(pyspark.__file__).parent


MASTER = "org.apache.spark.deploy.master.Master"


WORKER = "org.apache.spark.deploy.worker.Worker"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Standalone:
    """A master and ``workers`` one-core workers on 127.0.0.1, each its own daemon process."""

    def __init__(self, base: Path, workers: int) -> None:
        self.base = base
        self.workers = workers
        self.port = _free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        self.env = {
            **ENV, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOG_DIR": str(base / "logs"),
            "SPARK_PID_DIR": str(base / "pids"), "SPARK_WORKER_DIR": str(base / "work"),
            "PYSPARK_PYTHON": sys.executable,
        }  # fmt: skip

    def daemon(self, action: str, cls: str, instance: int, *args: str) -> None:
        cmd = [str(SPARK_HOME / "sbin" / "spark-daemon.sh"), action, cls, str(instance), *args]
        subprocess.run(cmd, env=self.env, check=True, capture_output=True, timeout=60)

    def _wait_for(self, pattern: str, glob: str, count: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            logs = [p.read_text(errors="replace") for p in (self.base / "logs").glob(glob)]
            if sum(pattern in text for text in logs) >= count:
                return
            time.sleep(0.2)
        raise AssertionError(f"standalone cluster: {pattern!r} not seen in {glob} logs")

    def start(self) -> None:
        self.daemon("start", MASTER, 1, "--host", "127.0.0.1", "--port", str(self.port),
                    "--webui-port", str(_free_port()))  # fmt: skip
        self._wait_for("Starting Spark master at", "*Master*.out", 1)
        for i in range(1, self.workers + 1):
            self.daemon("start", WORKER, i, "--host", "127.0.0.1", "--cores", "1", "--memory", "1536m",
                        "--webui-port", str(_free_port()), self.url)  # fmt: skip
        self._wait_for("Successfully registered with master", "*Worker*.out", self.workers)

    def stop(self) -> None:
        for i in range(1, self.workers + 1):
            subprocess.run([str(SPARK_HOME / "sbin" / "spark-daemon.sh"), "stop", WORKER, str(i)],
                           env=self.env, capture_output=True, timeout=60, check=False)  # fmt: skip
        subprocess.run([str(SPARK_HOME / "sbin" / "spark-daemon.sh"), "stop", MASTER, "1"],
                       env=self.env, capture_output=True, timeout=60, check=False)  # fmt: skip

    def executors(self) -> list[int]:
        """The executor processes this cluster's workers run now: those working in its work directory
        (a worker starts each executor in WORK/app-id/executor-id), not other clusters' on the machine."""
        work = (self.base / "work").resolve()
        found = []
        for proc in Path("/proc").iterdir():
            try:
                command = (proc / "cmdline").read_bytes().split(b"\0")
                cwd = (proc / "cwd").resolve()
            except OSError:  # gone meanwhile, or not ours to look at
                continue
            if b"org.apache.spark.executor.CoarseGrainedExecutorBackend" in command and cwd.is_relative_to(work):
                found.append(int(proc.name))
        return sorted(found)

    def submit(self, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
        cmd = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", self.url, *args]
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def standalone(tmp_path_factory) -> Iterator[Standalone]:
    cluster = Standalone(tmp_path_factory.mktemp("standalone"), workers=2)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("package")
    r = w2v("package", "--output", str(out), timeout=60)
    assert r.returncode == 0, r.stderr
    (archive,) = out.glob("w2v_spark-*.zip")
    return archive, out / "train.py"


def test_package_zip_trains_on_a_standalone_cluster(standalone, package, small_corpus, reference, tmp_path):
    archive, entry = package
    out = tmp_path / "run"
    r = standalone.submit("--py-files", str(archive), "--conf", "spark.executor.memory=1g", str(entry),
                          "--input", str(small_corpus), "--output", str(out), *SMALL)  # fmt: skip
    assert r.returncode == 0, r.stderr[-4000:]
    check_outputs(out, epochs=4, keep_tuples=False, min_count=3, vector_size=32)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["spark"]["master"] == standalone.url
    # the executors ran the shipped zip, not an installed copy
    paths = metrics["executor_package_paths"]
    assert paths and all(p.endswith(archive.name) for p in paths), paths
    # two single-core executors in separate processes train the same vectors as local mode
    assert_same_vectors(out, reference)


def test_local_cluster_gives_the_same_vectors_as_local_mode(small_corpus, reference, tmp_path):
    """Separate executor processes: training tasks and block averaging spread over two JVMs and
    their Python workers, and the vectors are those of local[2]."""
    out = tmp_path / "cluster"
    r = w2v("train", "--input", str(small_corpus), "--output", str(out), "--master", "local-cluster[2,1,2048]",
            *SMALL)  # fmt: skip
    assert r.returncode == 0, r.stderr[-4000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["spark"]["master"] == "local-cluster[2,1,2048]" and metrics["config"]["partitions"] == 2
    assert metrics["executors_seen"] >= 2 and len(metrics["memory"]["jvms_mb"]) >= 2  # tasks saw several JVMs
    assert metrics["memory"]["driver_jvm_mb"] is None  # the driver's JVM runs no task here: not known
    assert_same_vectors(out, reference)


def test_an_executor_killed_mid_training_changes_nothing(standalone, package, small_corpus, reference, tmp_path):
    """SIGKILL one of the two executors while the job trains: Spark reruns the lost tasks on a new
    executor, and the vectors equal those of the same job run without faults."""
    archive, entry = package
    out = tmp_path / "run"
    cmd = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", standalone.url, "--py-files", str(archive),
           "--conf", "spark.executor.memory=1g", str(entry), "--input", str(small_corpus), "--output", str(out),
           *SMALL, "--log-level", "DEBUG"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=standalone.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    staging = Path(str(out) + ".inprogress")
    deadline = time.monotonic() + 600  # generous: a loaded 2-core machine took over 300 s here
    while not (staging / "checkpoints" / "epoch=2").exists():
        assert proc.poll() is None, "the job ended before epoch 2"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pids = standalone.executors()
    assert len(pids) == 2, pids
    os.kill(pids[0], signal.SIGKILL)
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-4000:]
    assert "Lost executor" in stderr or "ExecutorLostFailure" in stderr  # Spark saw the loss
    check_outputs(out, epochs=4, keep_tuples=False, min_count=3, vector_size=32)
    assert_same_vectors(out, reference)


def test_hogwild_averages_one_copy_per_executor(small_corpus, tmp_path):
    """local-cluster: two executor processes, each with its own shared copy; 4 shards, 2 models."""
    out = tmp_path / "run"
    r = w2v("train", "--input", str(small_corpus), "--output", str(out), "--master", "local-cluster[2,1,1024]",
            *SMALL, "--partitions", "4", "--hogwild")  # fmt: skip
    assert r.returncode == 0, r.stderr[-4000:]
    check_outputs(out, epochs=4, keep_tuples=False, min_count=3, vector_size=32)
    metrics = json.loads((out / "metrics.json").read_text())
    assert [e["models_averaged"] for e in metrics["epochs"]] == [2] * 4
