"""Starting Spark: the one place that decides master, Connect and settings (kept at the edge)."""

from __future__ import annotations

import os
import re
import sys
import warnings

from pyspark.sql import SparkSession

from w2v_spark.errors import ConfigError
from w2v_spark.runtime import limits
from w2v_spark.runtime.jvmcache import ClassArchive
from w2v_spark.runtime.master import Master

# Settings that suit this job everywhere; user settings ([spark] table, --conf) override them.
DEFAULT_SPARK_CONF: dict[str, str] = {
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "65536",
    # Every job of the run is a SQL job (mapInArrow), so Python workers are pooled per
    # environment once and reused by the next stage, modules and compiled kernels already loaded.
    # Off, failed SQL tasks give longer Python tracebacks, which the CLI cuts to one line anyway.
    "spark.sql.execution.pyspark.udf.simplifiedTraceback.enabled": "false",
    # How text files are split into input partitions decides each sentence's position, hence
    # its shard and its place in the shard's shuffled order. Spark sizes splits by the number of
    # cores by default; a fixed count makes the split (and the vectors) the same on 1 core or 100.
    "spark.sql.files.minPartitionNum": "16",
}

# Local mode only, where this process launches the JVM that does all the work. The throughput
# collector suits a batch job on few cores better than the default G1 (it measured faster for
# Spark start-up plus the vocabulary pass on 2 cores). Under
# spark-submit the JVM is already running; cluster settings belong in the submit command.
LOCAL_SPARK_CONF: dict[str, str] = {
    "spark.driver.extraJavaOptions": "-XX:+UseParallelGC",
    # The one aggregation (the vocabulary count) shuffles words already counted per input split;
    # Spark's default of 200 partitions, sized for clusters, makes every split write 200 tiny
    # shuffle blocks for a few cores to read. 16 = the input splits (minPartitionNum above).
    "spark.sql.shuffle.partitions": "16",
}


def check_connect_client() -> None:
    """--remote needs PySpark's Spark Connect client packages: say so before anything starts."""
    import importlib.util

    missing = [
        m for m in ("grpc", "grpc_status", "google.protobuf") if importlib.util.find_spec(m.split(".")[0]) is None
    ]
    if missing:
        raise ConfigError(
            f"--remote needs the Spark Connect client ({', '.join(missing)} not installed); "
            "pip install 'w2v-spark[connect]' or drop --remote"
        )


def under_spark_submit() -> bool:
    """True when this Python process was launched by spark-submit (which owns the master)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def effective_master(master: str, remote: str) -> str:
    """The master a classic session gets: ``master``, else spark-submit's (""), else local mode
    on the CPUs this process may use (``pin_local``)."""
    return pin_local(master or ("" if under_spark_submit() or remote else "local[*]"))


def pin_local(master: str) -> str:
    """``local[*]`` (and ``local[*,F]``) as ``local[N]``, N the CPUs this process may use
    (``limits.usable_cpus``): the job sizes its shards and barrier stages by that N, and the JVM
    then runs exactly as many tasks at once. Any other master as it is."""
    return re.sub(r"^local\[\*", f"local[{limits.usable_cpus()}", master)


def start_session(
    master: str = "",
    spark_conf: tuple[tuple[str, str], ...] = (),
    remote: str = "",
    log_level: str = "FATAL",
    classes: ClassArchive | None = None,
) -> SparkSession:
    """A SparkSession for the job: classic, or Spark Connect when ``remote`` is given.

    ``master`` wins if given. Otherwise spark-submit's master is used, and outside spark-submit
    Spark runs in local mode on the CPUs this process may use (``effective_master``). ``remote``
    (``sc://host:port``, or ``local[N]`` for a Connect server started here, as ``pyspark
    --remote`` does) gives a Connect session. When this process starts Spark itself, its Python
    workers run this same interpreter (so they find numba and friends) unless PYSPARK_PYTHON
    says otherwise, and Spark logs at ``log_level``.
    ``classes`` adds its class-data-sharing options to a local JVM's (jvmcache.py).
    """
    effective, remote = effective_master(master, remote), pin_local(remote)
    conf = dict(DEFAULT_SPARK_CONF)
    starts_spark = Master.parse(effective).local or Master.parse(remote).local
    if not remote.startswith("sc://"):  # a remote server's logging is its own
        conf["spark.log.level"] = log_level
    if starts_spark:
        conf.update(LOCAL_SPARK_CONF)
        if classes is not None:
            key = "spark.driver.extraJavaOptions"
            conf[key] = f"{conf[key]} {classes.java_options()}"
        # PySpark starts Python workers with $PYSPARK_PYTHON, read when the context starts
        # (default "python3" from PATH; the spark.pyspark.python setting only reaches
        # spark-submit). Without this, the venv's w2v-spark run without activating the venv
        # starts workers in a Python that lacks pyarrow and numba.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf.update(dict(spark_conf))
    builder = SparkSession.builder.appName("w2v-spark")
    builder = builder.remote(remote) if remote else builder.master(effective) if effective else builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    with warnings.catch_warnings():
        # A Connect client also tries the settings as session settings after the server started
        # with them; the static ones are refused with a warning that says nothing useful here.
        warnings.filterwarnings("ignore", message="Failed to set", category=UserWarning)
        spark = builder.getOrCreate()
    if classes is not None:
        classes.started(spark)
    return spark
