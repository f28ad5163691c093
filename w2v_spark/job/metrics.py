"""The run's record, written as metrics.json (docs/output-format.md#metrics).

Typed records, so each field is declared once with its meaning; ``to_dict`` gives the JSON
object (field order is the file's key order). Checkpoints keep the epoch records too, so a
resumed run's metrics.json lists every epoch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from w2v_spark.runtime import memory
from w2v_spark.runtime.master import Master
from w2v_spark.train.hot_rows import HotSync
from w2v_spark.train.rounds import EpochResult
from w2v_spark.train.tuples import TupleStats

__all__ = ["EpochRecord", "Peaks", "RunMetrics"]


@dataclass
class Peaks:
    """What the tasks reported about the processes they ran in, gathered over the run."""

    workers: dict[int, float] = field(default_factory=dict)  # Python worker pid -> peak MiB
    jvms: dict[int, float] = field(default_factory=dict)  # executor JVM pid -> peak MiB
    packages: set[str] = field(default_factory=set)
    executors: set[str] = field(default_factory=set)

    def add_tuples(self, stats: list[TupleStats]) -> None:
        memory.merge_peaks(self.workers, {s.pid: s.peak_rss_mb for s in stats})
        memory.merge_peaks(self.jvms, dict(s.jvm for s in stats if s.jvm))
        self.packages.update(s.package for s in stats)
        self.executors.update(s.executor for s in stats)

    def add_epoch(self, result: EpochResult) -> None:
        memory.merge_peaks(self.workers, result.worker_peaks)
        memory.merge_peaks(self.jvms, result.jvm_peaks)

    def report(self, master: Master) -> dict[str, Any]:
        """Peak resident memory of the driver's Python, the executors' JVMs (in local mode the
        driver's JVM, which runs the tasks) and the Python workers, as the tasks saw them."""
        jvm = max(self.jvms.values(), default=None)
        return {
            "driver_python_mb": memory.peak_rss_mb(),
            "driver_jvm_mb": jvm if master.one_jvm else None,
            "jvm_max_mb": jvm,
            "jvms_mb": {str(pid): peak for pid, peak in sorted(self.jvms.items())},
            "python_worker_max_mb": max(self.workers.values(), default=0.0),
            "python_workers_mb": {str(pid): peak for pid, peak in sorted(self.workers.items())},
        }


@dataclass
class EpochRecord:
    """One epoch's entry in metrics.json and in the checkpoints."""

    epoch: int
    loss: float  # mean per training pair
    examples: int  # training pairs
    words: int  # corpus words (before subsampling)
    seconds: float  # wall time: tuples and training
    words_per_sec: float
    tuple_seconds: float
    models_averaged: int  # in the epoch's last round
    lr_multiple: float  # the shards' learning-rate multiple (training.shard_lr_scale)
    train_seconds: float
    kept_words: int  # words left after subsampling
    # summed over tasks: compare with the wall times above to see Spark's overhead
    tuple_task_seconds: float
    tuple_kernel_seconds: float
    train_task_seconds: float
    train_kernel_seconds: float
    rounds: int
    # model bytes moved by the epoch's rounds: the driver's are only progress counters and tables
    io_bytes: dict[str, int]
    # rows the deltas changed, of all rows written: what sparse deltas would save (docs/scaling.md)
    delta_rows_touched: float
    hot_sync: dict[str, int] | None = None  # the hot-row meetings' settings, if the shards met

    @classmethod
    def of(
        cls,
        epoch: int,
        seconds: float,
        tuple_seconds: float,
        stats: list[TupleStats],
        result: EpochResult,
        words: int,
        lr_multiple: float,
    ) -> EpochRecord:
        """The record of an epoch whose tuple tasks reported ``stats`` and whose training gave ``result``."""
        io = {key: result.io.get(key, 0) for key in ("tasks_read", "tasks_written", "driver_read")}
        return cls(
            epoch=epoch,
            loss=result.loss / max(1, result.examples),
            examples=result.examples,
            words=words,
            seconds=seconds,
            words_per_sec=words / seconds,
            tuple_seconds=tuple_seconds,
            models_averaged=result.models,
            lr_multiple=lr_multiple,
            train_seconds=seconds - tuple_seconds,
            kept_words=sum(s.kept for s in stats),
            tuple_task_seconds=sum(s.seconds for s in stats),
            tuple_kernel_seconds=sum(s.kernel_seconds for s in stats),
            train_task_seconds=result.task_seconds,
            train_kernel_seconds=result.kernel_seconds,
            rounds=result.io.get("rounds", 0),
            io_bytes={**io, "driver_written": 0},
            delta_rows_touched=result.io.get("touched_rows", 0) / max(1, result.io.get("delta_rows", 0)),
        )

    def with_hot_sync(self, hot: HotSync | None, driver_written: int) -> EpochRecord:
        """This record with the meetings' settings and the bytes the driver wrote for the epoch."""
        io = {**self.io_bytes, "driver_written": self.io_bytes["driver_written"] + driver_written}
        return dataclasses.replace(self, io_bytes=io, hot_sync=dataclasses.asdict(hot) if hot else None)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class RunMetrics:
    """metrics.json: the settings, what Spark ran on, the sizes, the stages' times, every epoch."""

    version: str
    config: dict[str, Any]
    spark: dict[str, Any]  # version, master, connect
    # where the executors' Python workers found w2v_spark: a --py-files zip, or an install
    executor_package_paths: list[str]
    executors_seen: int
    vocab_size: int
    model: dict[str, int]
    corpus: dict[str, Any]  # sentences, words, and each shard's
    stages: dict[str, float]  # seconds: startup, vocabulary, corpus, training, export
    epochs: list[EpochRecord]
    resumed_from_epoch: int | None
    memory: dict[str, Any]  # Peaks.report
    total_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
