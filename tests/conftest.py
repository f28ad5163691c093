"""Shared fixtures: one local SparkSession for the whole test session (as chispa recommends)."""

from __future__ import annotations

import gzip
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from tests.helpers import SAMPLE, SMALL, Unprivileged, w2v

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# Python workers (SQL ones included) run this interpreter, whether or not the venv is activated.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


TIERS = ("unit", "spark", "e2e")  # tests/<tier>/: no JVM; the shared session; commands, clusters, Connect


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier, the folder it is in: ``pytest -m unit`` runs as ``pytest tests/unit``."""
    for item in items:
        tier = next((t for t in TIERS if f"/tests/{t}/" in str(item.path)), None)
        if tier:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = (
        SparkSession.builder.master("local[2]")
        .appName("w2v-spark-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.pyspark.python", sys.executable)
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    """The first 12,000 lines of the shipped sample (about 80,000 words), as plain text."""
    path: Path = tmp_path_factory.mktemp("corpus") / "small.txt"
    with open(path, "w") as fh, gzip.open(SAMPLE, "rt", encoding="utf-8") as src:
        fh.writelines(line for _, line in zip(range(12_000), src, strict=False))
    return path


@pytest.fixture(scope="session")
def reference(small_corpus, tmp_path_factory) -> Path:
    """One uninterrupted SMALL run on local[2] that other runs are compared with."""
    out: Path = tmp_path_factory.mktemp("ref") / "run"
    r = w2v("train", "--input", str(small_corpus), "--output", str(out), "--master", "local[2]", *SMALL)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def other_seed(small_corpus, tmp_path_factory) -> Path:
    """The reference run with seed 2: the same job, other vectors."""
    out: Path = tmp_path_factory.mktemp("seed2") / "run"
    r = w2v("train", "--input", str(small_corpus), "--output", str(out), "--master", "local[2]", *SMALL, "--seed", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.fixture
def unprivileged() -> Iterator[Unprivileged]:
    home = Path(tempfile.mkdtemp(prefix="w2v-spark-unprivileged-"))  # not under pytest's root-only directory
    try:
        prefix: list[str] = []
        if os.geteuid() == 0:
            if not shutil.which("setpriv"):
                pytest.skip("needs setpriv to run a command as an unprivileged user")
            os.chown(home, 65534, 65534)
            prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        yield Unprivileged(home, prefix)
    finally:
        shutil.rmtree(home, ignore_errors=True)
