"""Runs inside limits: a CPU affinity or cgroup quota, a cgroup memory limit, a small /dev/shm.

The job must size itself by what this process may use, not by what the host has, and refuse in
one line what does not fit. The cgroup parsers are tested on directory trees written here; the
CPU, memory and shared-memory limits for real, in subprocesses, where the machine allows it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.helpers import in_small_shm, small_shm
from w2v_spark.runtime import limits


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
    r = in_small_shm("1m", 'exec "$0" -c "$1"', sys.executable, BOARD)
    assert r.returncode == 3, (r.returncode, r.stderr[-2000:])
    assert r.stdout.startswith("no room in /dev/shm for the hot-row meetings' board (11.4 MiB")
