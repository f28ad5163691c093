"""Airflow 3 DAG: train word vectors every day into a run-date output directory.

Put this file in Airflow's dags folder. Settings come from Airflow Variables (Admin ->
Variables), read when the task runs, so changing them needs no new deployment:

  w2v_input    text to train on (files, globs, directories; HDFS/S3 URIs on a cluster)
  w2v_output   root of the outputs; each run writes <root>/run_date=YYYY-MM-DD
  w2v_package  directory written by ``w2v-spark package`` (w2v_spark-<version>.zip, train.py)
  w2v_config   optional TOML settings file (see conf/cluster.toml)

The Spark master comes from the ``spark_default`` connection. A retry resumes rather than
restarts: every attempt passes --resume, so a killed or failed attempt continues from its
newest checkpoint (or publishes a run that finished), and --overwrite, so clearing a finished
day trains it again and replaces only that day's directory, and a retry whose input or
settings changed since the checkpoint starts that day over instead of failing
(docs/guarantees.md#resume).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG

VERSION = "0.1.0"  # of the w2v_spark zip built by `w2v-spark package`

with DAG(
    dag_id="w2v_spark_daily",
    description="Daily word2vec training with w2v-spark",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 3, "retry_delay": timedelta(minutes=5), "retry_exponential_backoff": True},
    tags=["w2v-spark"],
) as dag:
    train = SparkSubmitOperator(
        task_id="train",
        conn_id="spark_default",
        name="w2v-spark-{{ ds }}",
        application="{{ var.value.w2v_package }}/train.py",
        py_files="{{ var.value.w2v_package }}/w2v_spark-" + VERSION + ".zip",
        application_args=[
            "--input",
            "{{ var.value.w2v_input }}",
            "--output",
            "{{ var.value.w2v_output }}/run_date={{ ds }}",
            "--config",
            "{{ var.value.get('w2v_config', '') }}",  # empty: no settings file
            "--resume",
            "--overwrite",
        ],
        execution_timeout=timedelta(hours=6),
    )
