"""Shared fixtures: one local SparkSession for the whole test session (as chispa recommends)."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import SparkSession

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample" / "linuxdoc-sample.txt.gz"

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# Python workers (SQL ones included) run this interpreter, whether or not the venv is activated.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


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


# --- running the command line as users do, in subprocesses ---------------------------------

ENV = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
# A small, quick configuration for runs that are compared with each other.
SMALL = ["--partitions", "2", "--vector-size", "32", "--epochs", "4", "--min-count", "3"]


def w2v(*args: str, timeout: int = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("w2v-spark") or pytest.fail("w2v-spark is not installed (pip install -e .)")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, env=env or ENV, check=False)


def max_diff(a: Path, b: Path) -> float:
    """Largest absolute difference between the vectors of two runs (same words required)."""
    from w2v_spark.export import read_vectors

    wa, va = read_vectors(str(a))
    wb, vb = read_vectors(str(b))
    assert wa == wb
    return float(np.abs(va - vb).max())


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
