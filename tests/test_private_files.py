"""Files in places other local users share (/tmp, /dev/shm, caches) are this user's alone, and a
run trusts, uses or deletes only what is: README, "Runs you can rely on"."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark import SparkContext

from tests.helpers import ENV, REPO
from w2v_spark import jvmcache, kernels
from w2v_spark.private import private_dir

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


def _read_only_package() -> bool:
    r = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False) if shutil.which("unshare") else None
    return r is not None and r.returncode == 0


@pytest.mark.skipif(not ROOT or not _read_only_package(), reason="needs root and unshare to make the package read-only")
def test_where_the_package_is_read_only_the_kernels_cache_falls_back_only_to_a_directory_of_this_users(tmp_path):
    """As on a cluster node: site-packages read-only, no writable home. The fallback under the
    temporary directory, made first by another user, is refused and the kernels run uncached;
    absent, it is made 0700 and used."""
    shared_tmp = tmp_path / "tmp"
    shared_tmp.mkdir()
    shared_tmp.chmod(0o1777)
    fallback = shared_tmp / f"w2v-spark-numba-{os.getuid()}"
    package = REPO / "w2v_spark"
    code = "import numba, w2v_spark.kernels; print(numba.config.CACHE_DIR or '-')"
    script = f'mount --bind "{package}" "{package}" && mount -o remount,ro,bind "{package}" && exec "$0" -c "$1"'
    env = {**ENV, "TMPDIR": str(shared_tmp), "XDG_CACHE_HOME": "/proc/no-cache-here", "NUMBA_CACHE_DIR": ""}

    def chosen() -> str:
        r = subprocess.run(
            ["unshare", "-m", "sh", "-c", script, sys.executable, code],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout.strip()

    fallback.mkdir(mode=0o700)
    os.chown(fallback, OTHER_UID, OTHER_UID)
    assert chosen() == "-"
    fallback.rmdir()
    assert chosen() == str(fallback) and _mode(fallback) == 0o700


@pytest.fixture
def no_jvm(monkeypatch):
    """jvmcache.plan() as in a fresh CLI process: no JVM running yet."""
    monkeypatch.setattr(SparkContext, "_gateway", None)


def test_the_jvm_class_archive_is_not_used_from_a_directory_others_may_write(no_jvm, monkeypatch, tmp_path):
    """The JVM runs the classes an archive holds: W2V_SPARK_JVM_CACHE (or the default cache)
    in a directory someone else may write, or owns, is not used."""
    cache = tmp_path / "jvm"
    cache.mkdir()
    monkeypatch.setenv("W2V_SPARK_JVM_CACHE", str(cache))
    cache.chmod(0o777)
    assert jvmcache.plan("local[2]", "", {}) is None
    cache.chmod(0o700)
    assert jvmcache.plan("local[2]", "", {}) is not None
    if ROOT:
        os.chown(cache, OTHER_UID, OTHER_UID)
        assert jvmcache.plan("local[2]", "", {}) is None
    monkeypatch.delenv("W2V_SPARK_JVM_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    made = jvmcache.plan("local[2]", "", {})
    assert made is not None and _mode(tmp_path / "xdg" / "w2v-spark") == 0o700


def test_an_unfinished_archive_named_with_a_number_no_process_has_is_removed(no_jvm, monkeypatch, tmp_path):
    monkeypatch.setenv("W2V_SPARK_JVM_CACHE", str(tmp_path / "jvm"))
    first = jvmcache.plan("local[2]", "", {})
    assert first is not None and first.dumping is not None
    odd = f"{first.dumping.rsplit('.', 2)[0]}.99999999999999999999.tmp"  # os.kill raised OverflowError
    open(odd, "wb").close()
    assert jvmcache.plan("local[2]", "", {}) is not None and not os.path.exists(odd)
