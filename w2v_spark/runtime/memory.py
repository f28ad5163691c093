"""Memory: peaks of the processes a run uses (for metrics.json) and what a model will need.

A run holds one copy of the model (E and Theta, 2 x V x d x 4 bytes) in every Python worker
while it trains a shard, and none in the driver, which only names the model's block files;
nothing else grows with the vocabulary beyond a few bytes per word. docs/scaling.md has the
whole account.
"""

from __future__ import annotations

import os
import resource
import sys
from collections.abc import Mapping

from w2v_spark.runtime import limits
from w2v_spark.runtime.master import Master


def peak_rss_mb() -> float:
    """This process's peak resident set size, in MiB: its VmHWM where /proc has one.

    Not getrusage's ru_maxrss there: Linux carries into it the peak of the image a process was
    exec'ed from, so a command started by a large process (a test runner, a scheduler's worker)
    would report its parent's size as its own.
    """
    own = process_peak_mb(os.getpid())
    if own is not None:
        return own
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def process_peak_mb(pid: int) -> float | None:
    """Peak resident set size of another process from /proc (its VmHWM), in MiB."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def worker_sample() -> tuple[int, float]:
    """(pid, peak MiB) of the calling Python worker, returned with each task's results."""
    return os.getpid(), peak_rss_mb()


def jvm_sample() -> tuple[int, float] | None:
    """(pid, peak MiB) of the JVM that started the calling Python worker, or None if not found.

    A Python worker's ancestors are PySpark's worker daemon and then the executor's JVM (in
    local mode, the driver's JVM); a task reports it, so no driver-side handle on the JVM is
    needed (Spark Connect has none).
    """
    pid = os.getppid()
    for _ in range(4):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)
            with open(f"/proc/{pid}/comm") as fh:
                name = fh.read().strip()
        except OSError:
            return None
        if name == "java":
            peak = process_peak_mb(pid)
            return None if peak is None else (pid, peak)
        pid = int(fields[1].split()[1])  # the parent's pid, after the state field
        if pid <= 1:
            return None
    return None


def merge_peaks(into: dict[int, float], more: Mapping[int, float]) -> None:
    """Fold per-process peaks (pid -> MiB) into ``into``, keeping each process's maximum."""
    for pid, peak in more.items():
        into[pid] = max(peak, into.get(pid, 0.0))


def model_bytes(vocab_size: int, vector_size: int) -> int:
    """Bytes of one copy of the model: E and Theta, V x d float32 each."""
    return 2 * vocab_size * vector_size * 4


def available_bytes() -> int | None:
    """Memory this process can still allocate without swapping or being killed, or None if unknown:
    the machine's (Linux MemAvailable), or less where its cgroup sets a limit (a container's
    ``--memory``, a Kubernetes pod's limit, a systemd slice), which the kernel enforces by killing."""
    room = limits.memory_room()
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    machine = int(line.split()[1]) * 1024
                    return machine if room is None else min(machine, room)
    except OSError:
        pass
    return room


def parse_size(text: str) -> int:
    """A JVM-style size ('512m', '4g', '1024k', '2048' bytes) in bytes, as Spark reads its settings."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.strip().lower().removesuffix("b")
    if t and t[-1] in units:
        return int(float(t[:-1]) * units[t[-1]])
    return int(t)


def gib(n: float) -> str:
    """A size for messages: GiB with one decimal, or MiB below 1 GiB."""
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.1f} MiB"


# What a Python worker holds besides the model (interpreter, numpy, pyarrow, numba, a row
# group of tuples): the peaks of workers training small models stay below this (docs/scaling.md).
WORKER_BASE = 512 << 20


def check_model_fits(
    model: int, master: Master, conf: Mapping[str, str], tasks: int, available: int | None
) -> str | None:
    """Why the model cannot fit with these settings (a one-line message with the fix), or None.

    ``model`` is one copy's bytes, ``tasks`` the shards that train at once, ``available`` what
    the driver's process may still allocate (``available_bytes``: its cgroup's limit counts).
    The driver holds no copy (it only names the model's block files). On one machine (local
    modes) every running task holds a copy side by side; on a cluster each executor holds one
    per core; Spark caps a Python worker only through
    ``spark.executor.pyspark.memory``, and on YARN and Kubernetes the container's non-heap room
    (``memoryOverhead``) must hold them.
    """
    fix = "lower --max-vocab-size or --vector-size, or raise --min-count"
    if master.local:
        need = tasks * model
        if available is not None and need > available:
            return (
                f"the model needs {gib(need)} here (E and Theta, {gib(model)} per copy, one copy for each of "
                f"{tasks} shards training at once) but only {gib(available)} is available; "
                f"{fix}, or train fewer shards at once (fewer --partitions)"
            )
        return None
    cores = int(conf.get("spark.executor.cores", "1"))
    pyspark_memory = conf.get("spark.executor.pyspark.memory")
    per_worker = model + WORKER_BASE
    if pyspark_memory is not None and parse_size(pyspark_memory) < cores * per_worker:
        return (
            f"spark.executor.pyspark.memory={pyspark_memory} gives each of {cores} Python workers less than the "
            f"{gib(per_worker)} a training task needs; set it to at least {gib(cores * per_worker)} or {fix}"
        )
    if master.container_managed and pyspark_memory is None:
        heap = parse_size(conf.get("spark.executor.memory", "1g"))
        overhead = conf.get("spark.executor.memoryOverhead")
        factor = float(conf.get("spark.executor.memoryOverheadFactor", "0.1"))
        room = parse_size(overhead) if overhead else max(384 << 20, int(factor * heap))
        if room < cores * per_worker:
            return (
                f"executors leave {gib(room)} outside the JVM heap (spark.executor.memoryOverhead) for {cores} "
                f"Python workers needing {gib(per_worker)} each; set spark.executor.pyspark.memory to "
                f"{gib(cores * per_worker)} or more, or {fix}"
            )
    return None
