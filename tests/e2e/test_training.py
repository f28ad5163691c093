"""Driver-side pieces of training: initialisation, learning-rate schedule, shard averaging."""

import os
import shutil

import pytest

from w2v_spark.train import hot_rows


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm")
def test_a_killed_runs_meeting_files_are_deleted_by_the_next_run():
    """A run's lock goes with its process (tests/unit/test_private_files.py has a live one's kept)."""
    import subprocess
    import sys

    code = f"from w2v_spark.train import hot_rows; print(hot_rows.shared_memory_root('x{os.getpid()}', 1 << 10))"
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    dead = killed.stdout.strip()
    os.makedirs(os.path.join(dead, "epoch=1-sync=0"), exist_ok=True)
    try:
        alive = hot_rows.shared_memory_root(f"y{os.getpid()}", 1 << 10)
        assert not os.path.exists(dead) and os.path.isdir(alive)
        hot_rows.release(alive)
    finally:
        shutil.rmtree(dead, ignore_errors=True)
