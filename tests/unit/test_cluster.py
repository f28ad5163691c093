"""On real Spark clusters: a standalone master and workers on loopback, and local-cluster mode.

The standalone cluster is started from the installed pyspark (sbin/spark-daemon.sh), the job
is submitted as users submit it (``w2v-spark package`` + spark-submit --py-files), and the
cluster is stopped afterwards whatever happens.
"""

from __future__ import annotations

from pathlib import Path


def test_the_entry_point_in_the_repository_is_the_packaged_one():
    from w2v_spark.cli.package import ENTRY_POINT

    assert (Path(__file__).resolve().parents[2] / "jobs" / "train.py").read_text() == ENTRY_POINT
