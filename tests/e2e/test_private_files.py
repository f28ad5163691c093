"""Files in places other local users share (/tmp, /dev/shm, caches) are this user's alone, and a
run trusts, uses or deletes only what is: docs/guarantees.md#shared."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import uuid
from contextlib import suppress
from pathlib import Path

import pytest
from pyspark import SparkContext

from tests.helpers import ENV, REPO
from w2v_spark.runtime import jvmcache
from w2v_spark.train import hot_rows

ROOT = os.getuid() == 0


OTHER_UID = 65534  # "nobody"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


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


SHM = Path("/dev/shm")


needs_shm = pytest.mark.skipif(not SHM.is_dir(), reason="no /dev/shm")


HOLDER = """
import sys
from w2v_spark.train import hot_rows
print(hot_rows.shared_memory_root(sys.argv[1], 1 << 10), flush=True)
sys.stdin.read()
import os; os._exit(0)  # ends like a killed driver: no release, the directory left behind
"""


def _holder_command(run: str) -> list[str]:
    """The holder, in a PID namespace of its own where unshare allows, numbered there as a PID
    that no process has here: a container sharing /dev/shm but not PIDs."""
    plain = [sys.executable, "-c", HOLDER, run]
    if not ROOT or subprocess.run(["unshare", "-p", "-f", "true"], capture_output=True, check=False).returncode:
        return plain
    free = next(p for p in range(3, 1000) if not os.path.exists(f"/proc/{p}"))
    before = "; ".join(["/bin/true"] * (free - 2))  # take PIDs 2 .. free-1 there, sh being 1
    return ["unshare", "-p", "-f", "--kill-child", "sh", "-c", f'{before}; "$0" "$@"', *plain]


@needs_shm
def test_a_live_runs_board_is_kept_whatever_its_pid_namespace_and_an_ended_ones_removed():
    run = uuid.uuid4().hex
    holder = subprocess.Popen(_holder_command(run), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV)
    assert holder.stdout is not None and holder.stdin is not None
    root = holder.stdout.readline().strip()
    try:
        assert root.startswith("/dev/shm/w2v-spark-") and run in root
        os.makedirs(os.path.join(root, "epoch=1-sync=0"), exist_ok=True)  # a round's files
        hot_rows.remove_abandoned()
        assert os.path.isdir(root)
        holder.stdin.close()
        assert holder.wait(timeout=60) == 0
        hot_rows.remove_abandoned()
        assert not os.path.exists(root) and not os.path.exists(root + ".lock")
    finally:
        holder.kill()
        shutil.rmtree(root, ignore_errors=True)
        with suppress(FileNotFoundError):
            os.remove(root + ".lock")
