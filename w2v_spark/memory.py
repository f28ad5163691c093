"""Peak memory of the processes a run uses, for metrics.json (Linux and macOS; None if unknown)."""

from __future__ import annotations

import os
import resource
import sys
from collections.abc import Mapping


def peak_rss_mb() -> float:
    """This process's peak resident set size, in MiB."""
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


def merge_peaks(into: dict[int, float], more: Mapping[int, float]) -> None:
    """Fold per-process peaks (pid -> MiB) into ``into``, keeping each process's maximum."""
    for pid, peak in more.items():
        into[pid] = max(peak, into.get(pid, 0.0))
