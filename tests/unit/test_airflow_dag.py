"""The Airflow DAG loads in Airflow's DagBag and renders the arguments the job expects.

Airflow is heavy, so it lives in its own virtual environment: .ci/run creates one and runs
this file there with --noconftest (see docs/deploy.md#airflow). In the project's environment,
without Airflow, this test is skipped.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Before Airflow is imported: it creates its home (config, SQLite file) on import.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="w2v-airflow-home-"))
pytest.importorskip("airflow")
pytest.importorskip("airflow.providers.apache.spark")

DAGS = Path(__file__).resolve().parents[2] / "jobs" / "dags"


@pytest.fixture(scope="module")
def dag():
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # older Airflow 3 releases
        from airflow.models.dagbag import DagBag

    try:
        bag = DagBag(dag_folder=str(DAGS), include_examples=False)
    except TypeError:  # Airflow 3.3 dropped include_examples (examples are never loaded from a folder)
        bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}, bag.import_errors
    assert "w2v_spark_daily" in bag.dag_ids
    return bag.dags["w2v_spark_daily"]  # get_dag() would consult the metadata database


def test_one_daily_spark_submit_task_that_retries(dag):
    assert [t.task_id for t in dag.tasks] == ["train"]
    task = dag.get_task("train")
    assert type(task).__name__ == "SparkSubmitOperator"
    assert task.retries == 3 and dag.max_active_runs == 1
    assert {"application", "application_args", "py_files", "name"} <= set(task.template_fields)


def test_arguments_render_to_a_run_date_output_that_resumes(dag):
    from w2v_spark.cli.main import build_parser

    task = dag.get_task("train")
    variables = {"w2v_input": "hdfs:///corpora/news/*.txt.gz", "w2v_output": "hdfs:///w2v/news",
                 "w2v_package": "/opt/w2v-spark/package"}  # fmt: skip
    context = {"ds": "2026-11-25", "var": {"value": variables}}
    args = task.render_template(task.application_args, context)
    ns = build_parser().parse_args(["train", *args])
    assert ns.input == ["hdfs:///corpora/news/*.txt.gz"]
    assert ns.output == "hdfs:///w2v/news/run_date=2026-11-25"
    assert ns.resume is True and ns.overwrite is True  # a retry resumes; a cleared day is retrained
    assert ns.config == ""  # no w2v_config Variable: no settings file
    with_config = task.render_template(task.application_args, {**context, "var": {"value": {
        **variables, "w2v_config": "/etc/w2v/cluster.toml"}}})  # fmt: skip
    assert build_parser().parse_args(["train", *with_config]).config == "/etc/w2v/cluster.toml"
    assert task.render_template(task.application, context) == "/opt/w2v-spark/package/train.py"
    from w2v_spark import __version__

    # the zip that `w2v-spark package` writes for this version
    assert task.render_template(task.py_files, context) == f"/opt/w2v-spark/package/w2v_spark-{__version__}.zip"
    assert task.render_template(task.name, context) == "w2v-spark-2026-11-25"
