"""The Docker files, checked without a Docker engine: the image installs what CI installs and the
compose job passes flags the job accepts."""

from __future__ import annotations

import pytest

from tests.helpers import REPO
from w2v_spark.cli.main import build_parser

yaml = pytest.importorskip("yaml")


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
