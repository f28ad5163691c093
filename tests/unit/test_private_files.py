"""Files in places other local users share (/tmp, /dev/shm, caches) are this user's alone, and a
run trusts, uses or deletes only what is: docs/guarantees.md#shared."""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from pathlib import Path

import pytest

from w2v_spark import kernels
from w2v_spark.private import private_dir
from w2v_spark.train import hot_rows

ROOT = os.getuid() == 0


OTHER_UID = 65534  # "nobody"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_private_directory_is_made_0700_and_an_existing_one_trusted_only_if_no_one_else_may_write(tmp_path):
    made = tmp_path / "parent" / "made"
    assert private_dir(str(made)) and _mode(made) == 0o700
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    mine.chmod(0o755)  # others may read, not write: fine
    assert private_dir(str(mine))
    open_to_all = tmp_path / "open"
    open_to_all.mkdir()
    open_to_all.chmod(0o777)
    assert not private_dir(str(open_to_all))
    group = tmp_path / "group"
    group.mkdir()
    group.chmod(0o770)
    assert not private_dir(str(group))
    link = tmp_path / "link"
    link.symlink_to(made)
    assert not private_dir(str(link))
    (tmp_path / "file").write_text("")
    assert not private_dir(str(tmp_path / "file"))


@pytest.mark.skipif(not ROOT, reason="making a directory another user's takes root")
def test_a_directory_another_user_owns_is_not_trusted(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, OTHER_UID, OTHER_UID)
    assert not private_dir(str(theirs))


def test_the_kernels_cache_skips_a_directory_others_may_write(tmp_path):
    """Another user who made the fallback directory first (world-writable) could plant the
    pickled index numba loads: that directory is passed over."""
    planted = tmp_path / "w2v-spark-numba"
    planted.mkdir()
    planted.chmod(0o777)
    fallback = tmp_path / "home-cache" / "w2v-spark"
    assert kernels.numba_cache_dir([str(planted), str(fallback)]) == str(fallback)
    assert _mode(fallback) == 0o700
    assert kernels.numba_cache_dir([str(planted)]) is None


SHM = Path("/dev/shm")


needs_shm = pytest.mark.skipif(not SHM.is_dir(), reason="no /dev/shm")


@needs_shm
def test_the_meeting_directory_is_private_and_locked_while_the_run_holds_it():
    run = uuid.uuid4().hex
    root = hot_rows.shared_memory_root(run, 1 << 10)
    try:
        assert root == f"/dev/shm/w2v-spark-{run}"
        assert _mode(Path(root)) == 0o700 and _mode(Path(root + ".lock")) == 0o600
        hot_rows.remove_abandoned()  # its own run's, alive: kept
        assert os.path.isdir(root)
    finally:
        hot_rows.release(root)
    assert not os.path.exists(root) and not os.path.exists(root + ".lock")


@needs_shm
def test_a_name_in_dev_shm_with_a_huge_pid_breaks_no_run():
    """Any local user could make every run with meetings fail: os.kill on a PID too large for
    a C int raised OverflowError."""
    odd = SHM / f"w2v-spark-99999999999-{uuid.uuid4().hex}"
    odd.mkdir()
    try:
        root = hot_rows.shared_memory_root(uuid.uuid4().hex, 1 << 10)
        hot_rows.release(root)
        assert root and odd.is_dir()  # not a lock file's name: not this cleanup's to judge
    finally:
        odd.rmdir()


@needs_shm
@pytest.mark.skipif(not ROOT, reason="making files another user's takes root")
def test_another_users_abandoned_board_is_left_alone():
    root = SHM / f"w2v-spark-{uuid.uuid4().hex}"
    lock = Path(f"{root}.lock")
    root.mkdir(mode=0o700)
    lock.write_text("")
    try:
        for path in (root, lock):
            os.chown(path, OTHER_UID, OTHER_UID)
        hot_rows.remove_abandoned()
        assert root.is_dir() and lock.exists()
    finally:
        shutil.rmtree(root, ignore_errors=True)
        lock.unlink(missing_ok=True)
