"""``python -m w2v_spark.cli``: the w2v-spark command."""

from w2v_spark.cli.main import console

console()
