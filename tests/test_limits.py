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

from tests.helpers import ENV, SMALL, max_diff, w2v
from w2v_spark.runtime import limits, tasks

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


def _tree(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)


def _mountinfo(tmp_path: Path, *mounts: tuple[str, str, str]) -> str:
    """mountinfo lines for (root in the hierarchy, mount point under tmp_path, type and options)."""
    lines = []
    for i, (root, point, kind) in enumerate(mounts):
        fstype, options = kind.split(" ")
        lines.append(f"{30 + i} 23 0:{40 + i} {root} {tmp_path / point} rw,nosuid - {fstype} cgroup {options}")
    return "\n".join(["22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw", *lines]) + "\n"


def test_cgroup_v2_memory_and_cpu_limits_are_read_up_the_hierarchy(tmp_path):
    """A pod's limit sits on its parent cgroup and the container's on its own: the least applies,
    and reclaimable file cache counts as free, as the kernel and Kubernetes count it."""
    _tree(
        tmp_path,
        {
            "cg/kubepods/pod1/memory.max": "1073741824\n",  # 1 GiB for the pod
            "cg/kubepods/pod1/memory.current": "536870912\n",
            "cg/kubepods/pod1/memory.stat": "anon 1\ninactive_file 134217728\n",
            "cg/kubepods/pod1/cpu.max": "150000 100000\n",  # 1.5 CPUs
            "cg/kubepods/pod1/box/memory.max": "max\n",
            "cg/kubepods/pod1/box/memory.current": "268435456\n",
            "cg/kubepods/pod1/box/memory.stat": "inactive_file 0\n",
            "cg/kubepods/pod1/box/cpu.max": "max 100000\n",
        },
    )
    groups = limits.cgroups("0::/kubepods/pod1/box\n", _mountinfo(tmp_path, ("/", "cg", "cgroup2 rw")))
    assert groups[limits.UNIFIED].path == str(tmp_path / "cg/kubepods/pod1/box")
    assert limits.memory_room(groups) == (1 << 30) - ((512 << 20) - (128 << 20))
    assert limits.cpu_quota(groups) == 1.5
    # in a cgroup namespace the process sees its own cgroup as the root of the mount
    inside = limits.cgroups("0::/\n", _mountinfo(tmp_path, ("/kubepods/pod1", "cg/kubepods/pod1", "cgroup2 rw")))
    assert limits.memory_room(inside) == (1 << 30) - (384 << 20)
    assert limits.memory_room({}) is None and limits.cpu_quota({}) is None


def test_cgroup_v1_memory_and_cpu_limits_are_read_from_their_controllers(tmp_path):
    _tree(
        tmp_path,
        {
            "memory/docker/abc/memory.limit_in_bytes": f"{2 << 30}\n",
            "memory/docker/abc/memory.usage_in_bytes": f"{1 << 30}\n",
            "memory/docker/abc/memory.stat": "cache 5\ninactive_file 7\ntotal_inactive_file 268435456\n",
            "memory/docker/memory.limit_in_bytes": "9223372036854771712\n",  # v1's "no limit"
            "memory/docker/memory.usage_in_bytes": "1\n",
            "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "-1\n",
            "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
            "cpu,cpuacct/docker/cpu.cfs_quota_us": "50000\n",  # half a CPU for every container
            "cpu,cpuacct/docker/cpu.cfs_period_us": "100000\n",
        },
    )
    mountinfo = _mountinfo(tmp_path, ("/", "memory", "cgroup rw,memory"), ("/", "cpu,cpuacct", "cgroup rw,cpu,cpuacct"))
    groups = limits.cgroups("5:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n1:name=systemd:/x\n", mountinfo)
    assert set(groups) == {"memory", "cpu", "cpuacct"}
    assert limits.memory_room(groups) == (2 << 30) - ((1 << 30) - (256 << 20))
    assert limits.cpu_quota(groups) == 0.5


def test_tasks_at_once_count_the_cores_each_task_takes(spark):
    # spark.task.cpus is static: test_a_round_with_meetings_fits_the_tasks_spark_runs_at_once sets it to 2
    assert tasks.concurrent_tasks(spark, 2) == 2 and tasks.concurrent_tasks(spark, 7) == 7


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


def _can_mount_tmpfs() -> bool:
    if not hasattr(os, "getuid") or os.getuid() != 0 or not Path("/dev/shm").is_dir():
        return False
    mount = ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /dev/shm"]
    return subprocess.run(mount, capture_output=True, check=False).returncode == 0


small_shm = pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs root and unshare to mount a small /dev/shm")


def _in_small_shm(size: str, command: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
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


BOARD = """
from w2v_spark.train import hot_rows
hot = hot_rows.HotSync(rows=1024, per_epoch=16)
try:
    board = hot_rows.SharedBoard("/dev/shm/w2v-spark-t/round", 2, hot, list(range(1, 16)), 5000, 100)
except hot_rows.BoardFullError as e:
    print(e)
    raise SystemExit(3)
board.board[:] = 1.0  # every page of the board
"""


@small_shm
def test_a_board_that_does_not_fit_in_shared_memory_is_refused_as_it_is_made_not_killed_by_sigbus():
    """The board was a sparse file: a full tmpfs showed only when a task first wrote a page
    there, as SIGBUS, which kills the Python worker with no word of why."""
    r = _in_small_shm("1m", 'exec "$0" -c "$1"', sys.executable, BOARD)
    assert r.returncode == 3, (r.returncode, r.stderr[-2000:])
    assert r.stdout.startswith("no room in /dev/shm for the hot-row meetings' board (11.4 MiB")


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
    r = _in_small_shm("6m", f'({FILL[when]}) & exec "$0" "$@"', exe, *args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "meet on a board in shared memory" in r.stderr and "meets through files instead" in r.stderr
    assert ("BoardFullError" in r.stderr) == (when == "as the tasks start")
    assert max_diff(reference, out) == 0.0
