"""The JVM class-data archive of local CLI runs: made once, checked before use, never changes results."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pyspark import SparkContext

from tests.helpers import ENV, SMALL, assert_same_vectors, w2v
from w2v_spark.runtime import jvmcache


@pytest.fixture
def no_jvm(monkeypatch, tmp_path):
    """plan() as in a fresh CLI process: no JVM yet, the cache in a temporary directory."""
    monkeypatch.setattr(SparkContext, "_gateway", None)
    monkeypatch.setenv("W2V_SPARK_JVM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_only_a_local_jvm_this_process_starts_gets_an_archive(no_jvm, monkeypatch):
    assert jvmcache.plan("local[2]", "", {}) is not None
    assert jvmcache.plan("local-cluster[2,1,1024]", "", {}) is not None
    assert jvmcache.plan("spark://host:7077", "", {}) is None
    assert jvmcache.plan("", "", {}) is None  # spark-submit's JVM
    assert jvmcache.plan("local[*]", "local[2]", {}) is None  # a Connect server
    assert jvmcache.plan("local[2]", "", {"spark.driver.extraJavaOptions": "-Xss4m"}) is None  # the user's options
    monkeypatch.setenv("W2V_SPARK_JVM_CACHE", "off")
    assert jvmcache.plan("local[2]", "", {}) is None


def test_a_dead_runs_unfinished_archive_is_removed_and_a_live_ones_kept(no_jvm):
    first = jvmcache.plan("local[2]", "", {})
    assert first is not None and first.dumping is not None and not os.path.exists(first.path)
    base = first.dumping.rsplit(".", 2)[0]
    orphan, running = f"{base}.999999999.tmp", f"{base}.{os.getppid()}.tmp"  # above any pid_max; our parent
    for path in (orphan, running):
        open(path, "wb").close()
    jvmcache.plan("local[2]", "", {})
    assert not os.path.exists(orphan) and os.path.exists(running)


def test_an_archive_is_named_after_the_jars_so_a_reinstalled_spark_makes_a_new_one(no_jvm, monkeypatch, tmp_path):
    """The JVM ignores, without a word, an archive made with jars of other sizes or times (as
    a reinstall of the same pyspark at the same path leaves): such a run must make a new one."""
    jars = tmp_path / "spark" / "jars"
    jars.mkdir(parents=True)
    (jars / "spark-core.jar").write_bytes(b"classes")
    monkeypatch.setenv("SPARK_HOME", str(tmp_path / "spark"))
    before, again = jvmcache.plan("local[2]", "", {}), jvmcache.plan("local[2]", "", {})
    assert before is not None and again is not None and again.path == before.path  # stable while nothing changes
    st = (jars / "spark-core.jar").stat()
    os.utime(jars / "spark-core.jar", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same bytes, reinstalled later
    after = jvmcache.plan("local[2]", "", {})
    assert after is not None and after.path != before.path
    assert os.path.dirname(after.path) == os.path.dirname(before.path)
    extra = jvmcache.plan("local[2]", "", {"spark.driver.extraClassPath": str(jars / "spark-core.jar")})
    assert extra is not None and extra.path not in (before.path, after.path)


def test_publishing_an_archive_removes_the_ones_it_supersedes(no_jvm, tmp_path):
    """Archives of the same Spark, Java and place with other jars, and those named without a jar
    stamp (which no run looks for now): another install's stay."""
    no_jvm.mkdir()
    new = jvmcache.ClassArchive(str(no_jvm / "jvm-classes-aaaa-1111.jsa"), None)
    superseded, other_install = no_jvm / "jvm-classes-aaaa-0000.jsa", no_jvm / "jvm-classes-bbbb-0000.jsa"
    unstamped = no_jvm / "jvm-classes-a676956e7ecc2d37.jsa"
    for path in (Path(new.path), superseded, other_install, unstamped):
        path.write_bytes(b"archive")
    new._remove_superseded()
    assert sorted(p.name for p in no_jvm.iterdir()) == [Path(new.path).name, other_install.name]


def test_the_first_run_publishes_a_checked_archive_and_runs_with_it_match_runs_without(small_corpus, tmp_path, spark):
    cache = tmp_path / "cache"
    env = {**ENV, "W2V_SPARK_JVM_CACHE": str(cache)}
    for name in ("dumps", "maps"):  # the first run has no archive and makes one, the second maps it
        out = tmp_path / name
        r = w2v("train", "--input", str(small_corpus), "--output", str(out), "--master", "local[2]", *SMALL,
                "--epochs", "1", env=env)  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
        assert "cds" not in r.stdout.lower(), r.stdout[-2000:]  # the JVM's archive warnings stay quiet
        (archive,) = cache.iterdir()  # published, and nothing left half-written
        assert archive.suffix == ".jsa"
    assert_same_vectors(tmp_path / "dumps", tmp_path / "maps")  # class sharing never changes a result
    # The check that guards publishing: a whole archive maps, a truncated one (which crashes a
    # JVM that uses it) does not.
    jvm = spark.sparkContext._jvm  # started by PySpark as the CLI's is, so with the same classpath
    java_home, class_path = (str(jvm.System.getProperty(p)) for p in ("java.home", "java.class.path"))
    checker = jvmcache.ClassArchive(str(archive), None, class_path=class_path, java_home=java_home)
    assert checker._maps(str(archive))
    truncated = tmp_path / "truncated.jsa"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    crash_files = set(Path.cwd().glob("hs_err_pid*.log"))
    assert not checker._maps(str(truncated))
    assert set(Path.cwd().glob("hs_err_pid*.log")) == crash_files, "the crashed check left a JVM error file"
