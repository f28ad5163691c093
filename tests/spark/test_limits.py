"""Runs inside limits: a CPU affinity or cgroup quota, a cgroup memory limit, a small /dev/shm.

The job must size itself by what this process may use, not by what the host has, and refuse in
one line what does not fit. The cgroup parsers are tested on directory trees written here; the
CPU, memory and shared-memory limits for real, in subprocesses, where the machine allows it.
"""

from __future__ import annotations

from w2v_spark.runtime import tasks


def test_tasks_at_once_count_the_cores_each_task_takes(spark):
    # spark.task.cpus is static: test_a_round_with_meetings_fits_the_tasks_spark_runs_at_once sets it to 2
    assert tasks.concurrent_tasks(spark, 2) == 2 and tasks.concurrent_tasks(spark, 7) == 7
