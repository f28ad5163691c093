"""The ``w2v-spark`` command (``main``) and what it adds around the job: plots and the package zip."""

from w2v_spark.cli.main import console, main

__all__ = ["console", "main"]
