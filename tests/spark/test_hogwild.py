"""--hogwild: the tasks of one executor train one shared copy; only executors' copies are averaged."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from tests.helpers import planted_run, topic_purity
from w2v_spark.errors import TrainingError
from w2v_spark.runtime import tasks


def test_eight_shards_on_one_executor_are_one_model_and_keep_the_planted_structure(spark, tmp_path: Path):
    metrics, words, vectors = planted_run(spark, tmp_path, partitions=8, hogwild=True, syncs_per_epoch=2)
    assert [e["models_averaged"] for e in metrics["epochs"]] == [1] * 4
    assert topic_purity(words, vectors) >= 0.9

    # the copies are gone from the executor's local directory once the run is over (nested, so
    # Spark ships the function itself rather than a reference to this test module)
    def copies_left(_: int) -> dict[str, list[str]]:
        import glob
        import os

        return {"left": glob.glob(os.path.join(os.environ["SPARK_LOCAL_DIRS"].split(",")[0], "w2v-spark-*", "*"))}

    assert tasks.run_tasks(spark, 1, copies_left) == [{"left": []}]


def _copy_dirs(spark: SparkSession) -> list[str]:
    """The hogwild copies' directories in the executor's Spark local directory (the session's
    executor: in local mode the driver's JVM, whose local directory lives as long as the session)."""

    def listing(_: int) -> dict[str, list[str]]:  # nested, so Spark ships the function itself
        import glob
        import os

        return {"dirs": sorted(glob.glob(os.path.join(os.environ["SPARK_LOCAL_DIRS"].split(",")[0], "w2v-spark-*")))}

    return list(tasks.run_tasks(spark, 1, listing)[0]["dirs"])


def test_a_hogwild_run_that_fails_mid_training_removes_its_copies_too(spark, tmp_path: Path):
    """A learning rate far too large diverges, and the loss check stops the run after epoch 1,
    when the executor's shared copy exists: the copy goes with the run, as after a success (a
    long-lived session, fit() in a notebook or a Connect server, keeps its local directories)."""
    before = _copy_dirs(spark)
    with pytest.raises(TrainingError, match=r"^training diverged in epoch 1 .*; lower --alpha"):
        planted_run(spark, tmp_path, partitions=4, hogwild=True, alpha=1000.0, min_alpha=0.0)
    assert _copy_dirs(spark) == before
