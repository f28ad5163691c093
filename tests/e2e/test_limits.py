"""Runs inside limits: a CPU affinity or cgroup quota, a cgroup memory limit, a small /dev/shm.

The job must size itself by what this process may use, not by what the host has, and refuse in
one line what does not fit. The cgroup parsers are tested on directory trees written here; the
CPU, memory and shared-memory limits for real, in subprocesses, where the machine allows it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ENV, SMALL, in_small_shm, max_diff, small_shm, w2v
from w2v_spark.runtime import limits

TWO_CPUS = hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) >= 2


def _one_cpu() -> None:
    """In a child before exec: run on one of this process's CPUs only, as ``taskset -c`` does."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


@pytest.mark.skipif(not TWO_CPUS, reason="needs two CPUs to pin a process to one")
def test_local_star_counts_the_cpus_this_process_may_use_not_the_machines():
    code = (
        "from w2v_spark.runtime.master import Master; from w2v_spark.runtime.session import effective_master; "
        "print(*(Master.parse(u).slots for u in ('local[*]', 'local', 'local[3]')), effective_master('', ''), "
        "effective_master('local[*,4]', ''))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, preexec_fn=_one_cpu, check=True
    )
    # bare "local" is one thread in Spark, whatever the CPUs
    assert r.stdout.split() == ["1", "1", "3", "local[1]", "local[1,4]"]


def _read_metrics(out: Path) -> dict[str, Any]:
    metrics: dict[str, Any] = json.loads((out / "metrics.json").read_text())
    return metrics


@pytest.mark.skipif(not TWO_CPUS, reason="needs two CPUs to pin a run to one")
def test_a_run_pinned_to_one_cpu_trains_on_one_and_finishes(small_corpus, tmp_path):
    """``taskset -c 0 w2v-spark train``: sized by the machine's two CPUs, the job asked for a
    barrier stage of two tasks from a JVM running one, and waited ten minutes for it."""
    out = tmp_path / "run"
    exe = [str(Path(sys.executable).parent / "w2v-spark"), "train", "--input", str(small_corpus), "--output", str(out)]
    args = ["--vector-size", "32", "--epochs", "1", "--min-count", "3"]
    r = subprocess.run(
        exe + args, capture_output=True, text=True, env=ENV, preexec_fn=_one_cpu, timeout=420, check=False
    )
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = _read_metrics(out)
    assert metrics["spark"]["master"] == "local[1]" and metrics["config"]["partitions"] == 1


def test_a_round_with_meetings_fits_the_tasks_spark_runs_at_once(small_corpus, reference, tmp_path):
    """local[2] with spark.task.cpus=2 runs one task at a time: a barrier stage of two tasks
    would never be admitted. The round runs as one task training both shards: the same vectors."""
    out = tmp_path / "run"
    r = w2v(
        "train", "--input", str(small_corpus), "--output", str(out), "--master", "local[2]", *SMALL,
        "--conf", "spark.task.cpus=2", timeout=420,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert "in 1 task(s)" in r.stderr
    assert max_diff(reference, out) == 0.0


@contextmanager
def _child_cgroup(controller: str, settings: dict[str, str]) -> Iterator[Path]:
    """A cgroup of this test's own, below this process's cgroup of ``controller``, with
    ``settings`` written; its processes are ended and it is removed afterwards. Skips where the
    controller is not mounted or this user may not create cgroups."""
    groups = limits.own_cgroups()
    if controller not in groups:
        pytest.skip(f"no cgroup {controller or 'v2'} hierarchy mounted here")
    path = Path(groups[controller].path) / f"w2v-spark-test-{os.getpid()}"
    try:
        path.mkdir()
    except OSError as e:
        pytest.skip(f"cannot create a cgroup in {path.parent}: {e.strerror}")
    try:
        for name, value in settings.items():
            try:
                (path / name).write_text(value)
            except OSError as e:
                pytest.skip(f"cannot set {name} in {path}: {e.strerror}")
        yield path
    finally:
        for _ in range(50):  # the run's processes (this test's) must be gone before the cgroup can go
            procs = (path / "cgroup.procs").read_text().split()
            for pid in procs:
                with suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            with suppress(OSError):
                path.rmdir()
                break
            time.sleep(0.2)


def _join(cgroup: Path) -> Callable[[], None]:
    """For a child before exec: move into ``cgroup`` (so everything it starts is in it too)."""

    def join() -> None:
        (cgroup / "cgroup.procs").write_text(str(os.getpid()))

    return join


def test_a_model_beyond_the_containers_memory_limit_is_refused_in_one_line(small_corpus, tmp_path):
    """In a cgroup with a 2 GiB limit on a machine with much more available, two copies of a
    1.2 GB model are refused as soon as the vocabulary is known, as they would be on a machine
    that small, instead of the kernel killing the run mid-training."""
    v2 = limits.UNIFIED in limits.own_cgroups() and "memory" not in limits.own_cgroups()
    controller, setting = (limits.UNIFIED, "memory.max") if v2 else ("memory", "memory.limit_in_bytes")
    out = tmp_path / "run"
    with _child_cgroup(controller, {setting: str(2 << 30)}) as cgroup:
        args = ["--master", "local[2]", "--partitions", "2", "--min-count", "3", "--vector-size", "50000"]
        exe = str(Path(sys.executable).parent / "w2v-spark")
        r = subprocess.run(
            [exe, "train", "--input", str(small_corpus), "--output", str(out), *args],
            capture_output=True, text=True, env=ENV, preexec_fn=_join(cgroup), timeout=600, check=False,
        )  # fmt: skip
    errors = [line for line in r.stderr.splitlines() if line.startswith("w2v-spark: error")]
    assert r.returncode == 1, r.stderr[-3000:]
    assert len(errors) == 1 and "is available" in errors[0] and "--vector-size" in errors[0], r.stderr[-3000:]
    assert not out.exists() and not (tmp_path / "run.inprogress").exists()


WAIT_FOR_BOARD = "until ls -d /dev/shm/w2v-spark-*/ >/dev/null 2>&1; do sleep 0.05; done"


FILL = {
    # /dev/shm itself fills up: the driver sees it before the round and sends it to files
    "before the round": f"{WAIT_FOR_BOARD}; head -c 5242880 /dev/zero >/dev/shm/x",
    # the board's own directory fills up (a tmpfs of 1 MiB mounted on it), which the driver's
    # look at /dev/shm cannot see: the tasks find it as they reserve the board
    "as the tasks start": f"{WAIT_FOR_BOARD}; mount -t tmpfs -o size=1m,mode=0700 tmpfs /dev/shm/w2v-spark-*/",
}


@small_shm
@pytest.mark.parametrize("when", list(FILL))
def test_a_run_whose_shared_memory_fills_up_meets_through_files_with_the_same_vectors(
    small_corpus, reference, tmp_path, when
):
    """/dev/shm has room for the board when the run chooses it, and is filled by something else
    before the first round starts: the rounds meet through files instead, with the same vectors
    (the old code's tasks died of SIGBUS)."""
    out = tmp_path / "run"
    exe = str(Path(sys.executable).parent / "w2v-spark")
    args = ["train", "--input", str(small_corpus), "--output", str(out), "--master", "local[2]", *SMALL]
    r = in_small_shm("6m", f'({FILL[when]}) & exec "$0" "$@"', exe, *args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "meet on a board in shared memory" in r.stderr and "meets through files instead" in r.stderr
    assert ("BoardFullError" in r.stderr) == (when == "as the tasks start")
    assert max_diff(reference, out) == 0.0
