"""What this process may use of the machine: CPUs and memory as its CPU affinity and its
control groups allow (``taskset``, Docker ``--cpus``/``--memory``, Kubernetes limits, systemd
slices), not what the host has.

``os.cpu_count()`` and ``/proc/meminfo`` describe the host. A process pinned to one CPU, or in
a container with a CPU quota or a memory limit, gets less: sizing the shards and barrier
stages by the host's CPUs made a stage wait for task slots that never came, and a memory check
against the host's free memory passed until the kernel killed the run (docs/guarantees.md#limits).
Both cgroup versions are read: v2's unified hierarchy and v1's per-controller ones.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

PROC_CGROUP = "/proc/self/cgroup"
MOUNTINFO = "/proc/self/mountinfo"
UNIFIED = ""  # the controller key of the cgroup v2 hierarchy (its /proc/self/cgroup line names none)
N = TypeVar("N", int, float)  # a limit: bytes of memory, or CPUs
NO_LIMIT = 1 << 62  # cgroup v1 writes "no limit" as a number near 2**63


@dataclass(frozen=True)
class Cgroup:
    """One hierarchy's cgroup of this process: its directory and the hierarchy's mount point."""

    path: str
    top: str

    def lineage(self) -> list[str]:
        """This cgroup's directory and its ancestors' up to the mount point: a limit set on any
        of them applies (the ones above the mount point are not visible from here)."""
        found, path = [self.path], self.path
        while path != self.top and path.startswith(self.top.rstrip("/") + "/"):
            path = os.path.dirname(path)
            found.append(path)
        return found


def _unescape(field: str) -> str:
    """A mountinfo path field: space, tab, newline and backslash come octal-escaped."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _mounts(mountinfo: str) -> dict[str, tuple[str, str]]:
    """controller -> (root within the hierarchy, mount point), from /proc/self/mountinfo's text."""
    mounts: dict[str, tuple[str, str]] = {}
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if not sep or len(fields) < 5 or len(rest) < 3:
            continue
        where = (_unescape(fields[3]), _unescape(fields[4]))
        if rest[0] == "cgroup2":
            mounts.setdefault(UNIFIED, where)
        elif rest[0] == "cgroup":  # v1: the controllers are among the super options
            for option in rest[2].split(","):
                mounts.setdefault(option, where)
    return mounts


def cgroups(proc_cgroup: str, mountinfo: str) -> dict[str, Cgroup]:
    """This process's cgroup per controller ("memory", "cpu", ...; ``UNIFIED`` for v2), from the
    texts of /proc/self/cgroup and /proc/self/mountinfo; only hierarchies mounted here."""
    mounts = _mounts(mountinfo)
    found: dict[str, Cgroup] = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [UNIFIED]:
            if controller not in mounts:
                continue
            root, top = mounts[controller]
            path = parts[2]
            # a cgroup outside the mounted subtree (another namespace's) shows as the mount itself
            inside = path == root or path.startswith(root.rstrip("/") + "/")
            rel = os.path.relpath(path, root) if inside else "."
            found[controller] = Cgroup(os.path.normpath(os.path.join(top, rel)), top)
    return found


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def own_cgroups() -> dict[str, Cgroup]:
    """This process's cgroups, or none where /proc says nothing (not Linux)."""
    return cgroups(_read(PROC_CGROUP) or "", _read(MOUNTINFO) or "")


def _stat_value(text: str | None, *keys: str) -> int:
    """The first of ``keys`` found in a memory.stat text, else 0."""
    values = dict(line.split(None, 1) for line in (text or "").splitlines() if " " in line)
    for key in keys:
        if key in values and values[key].strip().isdigit():
            return int(values[key])
    return 0


def _room(directory: str, v2: bool) -> int | None:
    """What one memory cgroup still lets its processes allocate: limit − (usage − inactive file
    cache), as the kernel reclaims that cache before it kills (Docker and Kubernetes count it so)."""
    names = ("memory.max", "memory.current") if v2 else ("memory.limit_in_bytes", "memory.usage_in_bytes")
    limit, usage = (_read(os.path.join(directory, n)) for n in names)
    if not limit or not usage or not limit.isdigit() or not usage.isdigit() or int(limit) >= NO_LIMIT:
        return None  # v2 writes "max" for no limit
    stat = _read(os.path.join(directory, "memory.stat"))
    cache = _stat_value(stat, "inactive_file") if v2 else _stat_value(stat, "total_inactive_file", "inactive_file")
    return max(0, int(limit) - max(0, int(usage) - cache))


def memory_room(groups: dict[str, Cgroup] | None = None) -> int | None:
    """Bytes this process's memory cgroups let it still allocate (the least over its cgroup and
    their ancestors, v2 or v1), or None where none sets a limit."""
    return _least(own_cgroups() if groups is None else groups, "memory", _room)


def _quota(directory: str, v2: bool) -> float | None:
    """One cgroup's CPU quota in CPUs (quota / period), or None if it has none."""
    if v2:
        fields = (_read(os.path.join(directory, "cpu.max")) or "").split()
        quota, period = [*fields, "", ""][:2]
    else:
        quota, period = (_read(os.path.join(directory, f"cpu.cfs_{n}_us")) or "" for n in ("quota", "period"))
    if not quota.isdigit() or not period.isdigit() or int(period) == 0:
        return None  # "max" (v2) or -1 (v1): no quota
    return int(quota) / int(period)


def cpu_quota(groups: dict[str, Cgroup] | None = None) -> float | None:
    """The CPUs this process's cgroups let it use at once (the least quota over its cgroup and
    their ancestors, v2 or v1), or None where none sets a quota."""
    return _least(own_cgroups() if groups is None else groups, "cpu", _quota)


def _least(groups: dict[str, Cgroup], v1_controller: str, read: Callable[[str, bool], N | None]) -> N | None:
    """The least of ``read(directory, v2)`` over this process's cgroups of a controller (the
    unified one, or ``v1_controller``) and their ancestors: the tightest limit binds."""
    found: list[N] = []
    for controller, v2 in ((UNIFIED, True), (v1_controller, False)):
        if controller in groups:
            found += [v for d in groups[controller].lineage() if (v := read(d, v2)) is not None]
    return min(found, default=None)


def usable_cpus() -> int:
    """The CPUs this process may run on at once: those of its affinity (``taskset``, cpusets),
    at most its cgroup quota rounded up, as the JVM counts them for ``local[*]``; at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity on this platform
        cpus = os.cpu_count() or 1
    quota = cpu_quota()
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)
