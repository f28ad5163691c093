"""Input that must be refused in one line, input that must be accepted, outputs that cannot be
written, and tasks that keep failing: each through the command line, as users meet them."""

from __future__ import annotations

import sys


def test_sparks_permission_error_names_the_input_it_could_not_read(unprivileged):
    """When Spark itself cannot read an input (one the preflight cannot check, such as a remote
    one, or one whose permissions changed since), its error is named with the input's flag; a
    permission error on another path keeps the hint about --output."""
    corpus = unprivileged.home / "corpus.txt"
    corpus.write_text("some text\n" * 100)
    unprivileged.unreadable(corpus)
    script = (
        "import sys\n"
        "from pyspark.sql import SparkSession\n"
        "from w2v_spark.cli.main import describe_failure\n"
        "spark = SparkSession.builder.master('local[1]').config('spark.ui.enabled', 'false').getOrCreate()\n"
        "spark.sparkContext.setLogLevel('FATAL')\n"
        "inputs = [('--input', sys.argv[1])]\n"
        "try:\n"
        "    spark.read.text(sys.argv[1]).count()\n"
        "except Exception as e:\n"
        "    print(describe_failure(e, inputs))\n"
        "try:\n"
        "    open(sys.argv[2] + '/metrics.json', 'w')\n"
        "except OSError as e:\n"
        "    print(describe_failure(e, inputs))\n"
        "spark.stop()\n"
    )
    locked = unprivileged.unwritable(unprivileged.home / "locked")
    r = unprivileged.run(sys.executable, "-c", script, str(corpus), str(locked), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    spark_line, other_line = r.stdout.strip().splitlines()[-2:]
    assert "Permission denied" in spark_line and str(corpus) in spark_line, spark_line
    assert spark_line.endswith(f"; check that --input {corpus} can be read by the user running the job"), spark_line
    assert other_line == (
        f"PermissionError: [Errno 13] Permission denied: '{locked}/metrics.json'; "
        "check that --output (and the directory beside it) can be written"
    )
