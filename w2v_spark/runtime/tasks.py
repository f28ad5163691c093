"""Per-task Spark jobs through the DataFrame API only, so they run on classic and Connect sessions.

Every stage that works shard by shard (tuples, training, averaging, initialisation, export)
is one job of ``n`` tasks: ``spark.range(n, numPartitions=n)`` gives partition i exactly the
id i, and ``mapInArrow`` runs the stage's function on it in a Python worker. What a task
reports (its statistics, its executor, its memory) comes back as one JSON row, so the driver
receives a few hundred bytes per task and never a model. No RDD, SparkContext or broadcast is
involved: Spark Connect has none of them.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

RESULT_SCHEMA = "task long, result string"


def run_tasks(
    spark: SparkSession, count: int, work: Callable[[int], dict[str, Any]], barrier: bool = False
) -> list[dict[str, Any]]:
    """Run ``work(i)`` for i in 0..count-1, one Spark task each; returns the results in task order.

    ``work`` runs in a Python worker and must return a JSON-serialisable dict (kept small).
    ``barrier`` runs the tasks as one barrier stage: all at once (so ``count`` must not exceed
    the task slots), able to meet with ``BarrierTaskContext.get().barrier()``, and retried together.
    """
    if count < 1:
        return []

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            ids = batch.column(0).to_pylist()
            results = [json.dumps(work(int(i))) for i in ids]
            yield pa.RecordBatch.from_pydict({"task": pa.array(ids, pa.int64()), "result": pa.array(results)})

    rows = spark.range(count, numPartitions=count).mapInArrow(run, RESULT_SCHEMA, barrier=barrier).collect()
    return [json.loads(r["result"]) for r in sorted(rows, key=lambda r: r["task"])]


_PRELOADING: set[str] = set()


def preload(*modules: str, then: str = "", args: tuple[Any, ...] = ()) -> None:
    """In a Python worker: import ``modules`` in a background thread, once per process, then
    call ``then`` ("module:function", given by name so that the task itself imports nothing) with ``args``.

    Spark reuses a worker's process for later stages' tasks. A stage whose tasks leave the
    worker's Python mostly idle (Arrow and the JVM do the work) can so load what a later stage's
    first task would import, or load its compiled kernels, while that stage's other tasks wait
    (docs/architecture.md#corpus).
    """
    missing = [m for m in modules if m not in _PRELOADING]
    if missing:
        _PRELOADING.update(missing)
        threading.Thread(target=_import_all, args=(missing, then, args), name="preload", daemon=True).start()


def _import_all(modules: list[str], then: str, args: tuple[Any, ...]) -> None:
    for name in modules:
        importlib.import_module(name)
    if then:
        module, _, function = then.partition(":")
        getattr(importlib.import_module(module), function)(*args)


def is_connect(spark: SparkSession) -> bool:
    """True for a Spark Connect session (which has no SparkContext)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def task_slots(spark: SparkSession) -> int:
    """Spark's default parallelism (the tasks that run at once), read from a query, not SparkContext.

    ``spark.range`` without a partition count is split into the default parallelism; the partition
    of its last row tells how many that is (one small job, a fraction of a second).
    """
    last = spark.range(1 << 16).select("id", F.spark_partition_id().alias("p")).orderBy(F.desc("id")).limit(1).collect()
    return int(last[0]["p"]) + 1 if last else 1


def concurrent_tasks(spark: SparkSession, cores: int) -> int:
    """The tasks Spark runs at once on ``cores`` task slots' worth of cores: each task takes
    ``spark.task.cpus`` of them. A barrier stage wider than that is never admitted (Spark
    retries for minutes, then fails), so rounds with meetings are sized by this."""
    setting = (spark_setting(spark, "spark.task.cpus") or "1").strip()
    return max(1, cores // max(1, int(setting) if setting.isdigit() else 1))


def spark_setting(spark: SparkSession, key: str) -> str | None:
    """A Spark setting as the session sees it, or None when unset or not readable (Connect)."""
    try:
        value = spark.conf.get(key, None)
    except Exception:  # a Connect server may refuse to show some settings
        return None
    return None if value is None else str(value)


def local_dir() -> str:
    """This executor's scratch directory (Spark's local directory, shared by its tasks only)."""
    return (os.environ.get("SPARK_LOCAL_DIRS") or tempfile.gettempdir()).split(",")[0]


def executor_id() -> str:
    """A name for the executor running this Python worker: its host and Spark local directory.

    Python tasks have no public executor id; two workers share this name exactly when they
    belong to the same executor (its local directory is its own).
    """
    return hashlib.sha1(f"{socket.gethostname()}:{local_dir()}".encode()).hexdigest()[:16]
