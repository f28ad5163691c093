"""A class-data-sharing archive for the JVM a local CLI run starts: seconds off every start-up.

Every run's JVM loads and verifies the same tens of thousands of Spark classes before the first
job, and runs them cold. Java's class-data sharing (CDS) keeps those classes parsed and verified
in an archive that later JVMs map from disk. Java 17 has no self-maintaining archive, so the
first local run dumps one as its JVM exits (``-XX:ArchiveClassesAtExit``), and later runs map it
(``-XX:SharedArchiveFile``). docs/deploy.md#start-up.

Why the care: a JVM that maps a truncated archive crashes (SIGBUS), so an archive is published
(renamed into place, atomically) only after the JVM that wrote it exited cleanly and a second
JVM mapped it with ``-Xshare:on``. Concurrent runs dump to their own files; the last to publish
wins, and a reader sees a whole archive or none. An archive that no longer matches (another
Java, another Spark, the same Spark reinstalled) is ignored by the JVM without a word, so the
name of an archive moves on with all three: it has where Spark and Java are, and a stamp of
the jars' sizes and modification times; publishing an archive removes the ones it supersedes.

Only the CLI's own local JVM takes part: under spark-submit or Spark Connect the JVM is not
ours to start, and a user's own ``spark.driver.extraJavaOptions`` replaces these options.
``W2V_SPARK_JVM_CACHE`` names another directory, or ``off``.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass

from pyspark.sql import SparkSession

from w2v_spark.private import private_dir
from w2v_spark.runtime.master import Master

log = logging.getLogger(__name__)

# The JVM's own CDS warnings (classes it cannot archive, a stale archive) go to stdout; whether
# an archive is used changes nothing but start-up time, so they are not shown.
QUIET = "-Xlog:cds*=off"


def cache_dir() -> str | None:
    """Where archives live: $W2V_SPARK_JVM_CACHE, else $XDG_CACHE_HOME/w2v-spark or ~/.cache/w2v-spark;
    None when the variable says ``off``."""
    chosen = os.environ.get("W2V_SPARK_JVM_CACHE", "")
    if chosen.lower() == "off":
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return chosen or os.path.join(base, "w2v-spark")


def _java() -> str:
    """The java spark-submit will run: $JAVA_HOME/bin/java, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    found = os.path.join(home, "bin", "java") if home else shutil.which("java") or "java"
    return os.path.realpath(found)


def _key(extra_class_path: str) -> tuple[str, str]:
    """What the archive depends on, in two parts: where this Spark, this Java and the extra
    classpath are, and a stamp of the jar files there (the JVM refuses an archive made with
    other jars, silently, down to their modification times: a reinstalled pyspark at the same
    path has the same version and path but new jars)."""
    import pyspark

    spark_home = os.environ.get("SPARK_HOME", "")
    parts = (pyspark.__version__, os.path.dirname(pyspark.__file__), spark_home, _java(), extra_class_path)
    where = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    jars = os.path.join(spark_home or os.path.dirname(pyspark.__file__), "jars")
    files = [os.path.join(jars, name) for name in _listing(jars)] + extra_class_path.split(os.pathsep)
    stamp = hashlib.sha256("\0".join(_stat(f) for f in files).encode()).hexdigest()[:16]
    return where, stamp


def _listing(directory: str) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []


def _stat(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return f"{path}:-"
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # PermissionError: alive, another user's
    except (ProcessLookupError, OverflowError):  # OverflowError: a number no process has
        return False
    except PermissionError:
        pass
    return True


@dataclass
class ClassArchive:
    """This run's part: map ``path``, or (when it does not exist yet) dump to ``dumping``."""

    path: str
    dumping: str | None
    class_path: str = ""  # the JVM's, to check a dumped archive with
    java_home: str = ""

    def java_options(self) -> str:
        if self.dumping:
            return f"-XX:ArchiveClassesAtExit={self.dumping} {QUIET}"
        return f"-XX:SharedArchiveFile={self.path} {QUIET}"

    def started(self, spark: SparkSession) -> None:
        """Note the running JVM's classpath and Java, which the check of a dumped archive needs."""
        if self.dumping:
            jvm = spark.sparkContext._jvm  # classic local mode only (see plan)
            assert jvm is not None
            self.class_path = str(jvm.System.getProperty("java.class.path"))
            self.java_home = str(jvm.System.getProperty("java.home"))

    def finish(self, succeeded: bool) -> None:
        """After ``spark.stop()``: when dumping, end the JVM (it writes the archive as it exits),
        check the archive and publish it; a failed run's JVM is killed instead, without a dump."""
        if not self.dumping:
            return
        from pyspark import SparkContext

        gateway = SparkContext._gateway
        proc = getattr(gateway, "proc", None)
        if gateway is None or proc is None:
            return
        if succeeded:
            log.info(
                "saving the JVM's classes to %s, so later local runs start faster (docs/deploy.md#start-up)", self.path
            )
        gateway.shutdown()
        SparkContext._gateway = SparkContext._jvm = None
        if succeeded:
            proc.stdin.close()  # PySpark's JVM exits when its stdin closes
            code = proc.wait(timeout=600)
        else:
            proc.kill()
            code = proc.wait(timeout=60)
        try:
            if code == 0 and os.path.exists(self.dumping) and self._maps(self.dumping):
                os.replace(self.dumping, self.path)
                self._remove_superseded()
            elif succeeded:
                log.warning("the JVM's class archive was not usable (JVM exit %s); the next run makes another", code)
        finally:
            _remove(self.dumping)

    def _remove_superseded(self) -> None:
        """Archives of the same Spark and Java at the same place made with other jars (a
        reinstall), and those named before names had a jar stamp: no run maps them again, and
        each is as large as this one."""
        directory = os.path.dirname(self.path)
        older = glob.glob(os.path.join(directory, "jvm-classes-" + "[0-9a-f]" * 16 + ".jsa"))
        for other in glob.glob(self.path.rsplit("-", 1)[0] + "-*.jsa") + older:
            if other != self.path:
                _remove(other)

    def _maps(self, archive: str) -> bool:
        java = os.path.join(self.java_home, "bin", "java")
        # A bad archive crashes this JVM: no hs_err file or core dump in the user's directory.
        quiet_crash = [f"-XX:ErrorFile={os.devnull}", "-XX:-CreateCoredumpOnCrash"]
        command = [java, f"-XX:SharedArchiveFile={archive}", "-Xshare:on", *quiet_crash, "-cp", self.class_path]
        command.append("-version")
        return subprocess.run(command, capture_output=True, timeout=120, check=False).returncode == 0


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def plan(master: str, remote: str, spark_conf: dict[str, str]) -> ClassArchive | None:
    """The archive this run uses or makes, or None: not a local classic run, a JVM already
    running in this process, the user's own driver Java options, the cache off, not writable, or
    not this user's alone (``private.private_dir``: the JVM runs the classes an archive holds)."""
    from pyspark import SparkContext

    directory = cache_dir()
    if remote or not Master.parse(master).local or "spark.driver.extraJavaOptions" in spark_conf or not directory:
        return None
    if SparkContext._gateway is not None:  # this process already runs a JVM: not ours to end
        return None
    if not private_dir(directory):  # the JVM would run classes from an archive others could replace
        return None
    where, stamp = _key(spark_conf.get("spark.driver.extraClassPath", ""))
    base = os.path.join(directory, f"jvm-classes-{where}-{stamp}")
    path = base + ".jsa"
    if os.path.exists(path):
        return ClassArchive(path, None)
    for stale in glob.glob(base + ".*.tmp"):  # left by a run that was killed before publishing
        pid = stale.rsplit(".", 2)[-2]
        if pid.isdigit() and not _alive(int(pid)):
            _remove(stale)
    return ClassArchive(path, f"{base}.{os.getpid()}.tmp")
