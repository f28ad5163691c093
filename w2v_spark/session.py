"""Starting Spark: the one place that decides master and settings (kept at the edge)."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

# Settings that suit this job everywhere; user settings ([spark] table, --conf) override them.
DEFAULT_SPARK_CONF: dict[str, str] = {
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "65536",
    # Python workers are pooled per environment, and this setting (on by default) gives SQL
    # UDFs such as mapInArrow an environment of their own. Off, the RDD jobs (tuples, training)
    # reuse the workers the corpus stage started, modules and compiled kernels already loaded:
    # measured, the first RDD job took 1.48 s with its own pool and 0.15 s sharing. The cost is
    # longer Python tracebacks from failed SQL tasks, which the CLI cuts to one line anyway.
    "spark.sql.execution.pyspark.udf.simplifiedTraceback.enabled": "false",
    # How text files are split into input partitions decides each sentence's position, hence
    # its shard and its place in the shard's shuffled order. Spark sizes splits by the number of
    # cores by default; a fixed count makes the split (and the vectors) the same on 1 core or 100.
    "spark.sql.files.minPartitionNum": "16",
}

# Local mode only, where this process launches the JVM that does all the work. The throughput
# collector suits a batch job on few cores better than the default G1 (measured on 2 cores:
# Spark start-up plus the vocabulary pass, median of 4, 16.9 s instead of 18.8 s). Under
# spark-submit the JVM is already running; cluster settings belong in the submit command.
LOCAL_SPARK_CONF: dict[str, str] = {
    "spark.driver.extraJavaOptions": "-XX:+UseParallelGC",
}


def under_spark_submit() -> bool:
    """True when this Python process was launched by spark-submit (which owns the master)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def start_session(master: str = "", spark_conf: tuple[tuple[str, str], ...] = ()) -> SparkSession:
    """A SparkSession for the job.

    ``master`` wins if given. Otherwise spark-submit's master is used, and outside spark-submit
    Spark runs in local mode on all cores. In local mode, executors' Python workers run this
    same interpreter (so they find numba and friends) unless PYSPARK_PYTHON says otherwise.
    """
    builder = SparkSession.builder.appName("w2v-spark")
    effective = master or ("" if under_spark_submit() else "local[*]")
    if effective:
        builder = builder.master(effective)
    conf = dict(DEFAULT_SPARK_CONF)
    if effective.startswith("local"):
        conf.update(LOCAL_SPARK_CONF)
        # PySpark starts Python workers with $PYSPARK_PYTHON, read when the context starts
        # (default "python3" from PATH; the spark.pyspark.python setting only reaches
        # spark-submit). Without this, the venv's w2v-spark run without activating the venv
        # starts workers in a Python that lacks pyarrow and numba.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf.update(dict(spark_conf))
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
