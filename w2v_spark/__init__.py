"""w2v-spark: distributed word2vec (skip-gram with negative sampling) on Apache Spark.

The Python API is ``pyspark.ml``'s: ``Word2Vec`` (an Estimator), ``Word2VecModel`` and
``Tokenizer`` (a Transformer). They are imported on first use, so the executors' Python
workers, which import this package for the kernels, do not load pyspark.ml.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from w2v_spark.ml.estimator import Word2Vec
    from w2v_spark.ml.model import Word2VecModel, Word2VecSummary
    from w2v_spark.ml.tokenizer import Tokenizer

_API = {
    "Word2Vec": "w2v_spark.ml.estimator",
    "Word2VecModel": "w2v_spark.ml.model",
    "Word2VecSummary": "w2v_spark.ml.model",
    "Tokenizer": "w2v_spark.ml.tokenizer",
}
__all__ = ["Tokenizer", "Word2Vec", "Word2VecModel", "Word2VecSummary", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'w2v_spark' has no attribute {name!r}")
