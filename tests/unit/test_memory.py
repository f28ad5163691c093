"""The memory rule that decides, before training, whether a model fits the run's settings."""

from __future__ import annotations

import pytest

from w2v_spark.runtime.master import Master
from w2v_spark.runtime.memory import WORKER_BASE, check_model_fits, model_bytes, parse_size

GIB = 1 << 30


def test_model_bytes_is_two_float32_matrices():
    assert model_bytes(1_000_000, 300) == 2_400_000_000


@pytest.mark.parametrize(
    ("text", "value"), [("512m", 512 << 20), ("4g", 4 * GIB), ("2048", 2048), ("1.5g", 3 * GIB // 2)]
)
def test_parse_size_reads_spark_sizes(text, value):
    assert parse_size(text) == value


def test_local_mode_counts_every_shard_training_at_once_and_not_the_driver():
    model = 2 * GIB
    assert check_model_fits(model, Master.parse("local[2]"), {}, tasks=2, available=5 * GIB) is None  # 2 copies = 4 GiB
    problem = check_model_fits(model, Master.parse("local[2]"), {}, tasks=2, available=3 * GIB)
    assert problem and "needs 4.0 GiB" in problem and "2 shards" in problem and "fewer --partitions" in problem
    assert check_model_fits(model, Master.parse("local[4]"), {}, tasks=4, available=None) is None  # unknown: no refusal


def test_cluster_checks_the_driver_and_the_python_worker_limits():
    model = 2 * GIB
    assert check_model_fits(model, Master.parse("spark://m:7077"), {}, 4, GIB) is None  # the driver holds no model
    conf = {"spark.executor.cores": "4", "spark.executor.pyspark.memory": "8g"}
    problem = check_model_fits(model, Master.parse("spark://m:7077"), conf, 4, 64 * GIB)
    assert problem and "spark.executor.pyspark.memory=8g" in problem
    conf["spark.executor.pyspark.memory"] = str(4 * (model + WORKER_BASE))
    assert check_model_fits(model, Master.parse("spark://m:7077"), conf, 4, 64 * GIB) is None


def test_yarn_and_kubernetes_need_room_outside_the_heap():
    model = GIB
    conf = {"spark.executor.cores": "2", "spark.executor.memory": "8g"}  # overhead 10% = 0.8 GiB
    problem = check_model_fits(model, Master.parse("yarn"), conf, 2, 64 * GIB)
    assert problem and "memoryOverhead" in problem and "spark.executor.pyspark.memory" in problem
    conf["spark.executor.memoryOverhead"] = "4g"
    assert check_model_fits(model, Master.parse("k8s://https://api:6443"), conf, 2, 64 * GIB) is None
    assert check_model_fits(model, Master.parse("spark://m:7077"), {"spark.executor.cores": "2"}, 2, 64 * GIB) is None
