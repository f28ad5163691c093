"""``Word2VecModel``: the trained vectors, with MLlib's methods, persistence and a training summary.

The model holds its vectors in the driver, as MLlib's does: ``findSynonyms`` is a matrix-vector
product there, and ``transform`` ships the vectors with its tasks inside a Python UDF (so no
broadcast, which Connect lacks; docs/python-api.md#transform-size).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.ml import Model
from pyspark.ml.functions import array_to_vector
from pyspark.ml.linalg import Vector
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType

from w2v_spark.io import formats
from w2v_spark.ml.params import Word2VecParams, check_input
from w2v_spark.ml.persistence import ReadWrite


@dataclass(frozen=True)
class EpochSummary:
    """One epoch of training: its mean loss per example, examples trained and wall seconds."""

    epoch: int
    loss: float
    examples: int
    seconds: float


@dataclass(frozen=True)
class Word2VecSummary:
    """What fit() did, from the run's metrics (metrics.json in the CLI's output)."""

    epochs: tuple[EpochSummary, ...]
    vocabSize: int
    totalSeconds: float

    @property
    def lossHistory(self) -> list[float]:
        """Mean loss per example after each epoch (MLlib's summaries call theirs objectiveHistory)."""
        return [e.loss for e in self.epochs]

    @classmethod
    def from_metrics(cls, metrics: dict[str, Any]) -> Word2VecSummary:
        epochs = tuple(EpochSummary(e["epoch"], e["loss"], e["examples"], e["seconds"]) for e in metrics["epochs"])
        return cls(epochs, metrics["vocab_size"], metrics["total_seconds"])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Word2VecSummary:
        return cls(tuple(EpochSummary(**e) for e in d["epochs"]), d["vocabSize"], d["totalSeconds"])


class Word2VecModel(Model, Word2VecParams, ReadWrite):
    """Word vectors trained by :class:`~w2v_spark.ml.estimator.Word2Vec`, most frequent word first."""

    def __init__(
        self, words: Sequence[str] = (), vectors: np.ndarray | None = None, summary: Word2VecSummary | None = None
    ) -> None:
        super().__init__()
        self._set_vectors(list(words), np.zeros((0, 0), np.float32) if vectors is None else vectors)
        self._summary = summary

    def _set_vectors(self, words: list[str], vectors: np.ndarray) -> None:
        self._words = words
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._index = {w: i for i, w in enumerate(words)}

    def setInputCol(self, value: str) -> Word2VecModel:
        return self._set(inputCol=value)

    def setOutputCol(self, value: str) -> Word2VecModel:
        return self._set(outputCol=value)

    @property
    def hasSummary(self) -> bool:
        return self._summary is not None

    @property
    def summary(self) -> Word2VecSummary:
        """Per-epoch loss, examples and seconds of the fit (kept through save and load)."""
        if self._summary is None:
            raise RuntimeError("this Word2VecModel has no training summary (it was not made by fit)")
        return self._summary

    @property
    def words(self) -> list[str]:
        """The vocabulary, most frequent word first (row i of ``vectors`` is ``words[i]``'s)."""
        return list(self._words)

    @property
    def vectors(self) -> np.ndarray:
        """The vectors as a float32 matrix, one row per word of ``words``."""
        return self._vectors

    def getVectors(self) -> DataFrame:
        """A DataFrame ``word string, vector vector`` (MLlib's), most frequent word first."""
        table = formats.vectors_table(pa.array(self._words, pa.string()), self._vectors)
        df = SparkSession.active().createDataFrame(table)
        return df.select("word", array_to_vector(F.col("vector")).alias("vector"))

    def findSynonyms(self, word: str | Vector | Sequence[float], num: int) -> DataFrame:
        """The ``num`` words most cosine-similar to a word (itself excluded) or to a vector, as a
        DataFrame ``word string, similarity double``, most similar first."""
        rows = self.findSynonymsArray(word, num)
        return SparkSession.active().createDataFrame(rows, "word string, similarity double")

    def findSynonymsArray(self, word: str | Vector | Sequence[float], num: int) -> list[tuple[str, float]]:
        """As :meth:`findSynonyms`, as a list of ``(word, similarity)``."""
        query = self._query(word)
        norms = np.linalg.norm(self._vectors, axis=1) * max(float(np.linalg.norm(query)), 1e-30)
        sims = (self._vectors @ query) / np.maximum(norms, 1e-30)
        if isinstance(word, str):
            sims[self._index[word]] = -np.inf
        top = np.argsort(-sims, kind="stable")[: max(0, min(num, len(self._words) - isinstance(word, str)))]
        return [(self._words[i], float(sims[i])) for i in top]

    def _query(self, word: str | Vector | Sequence[float]) -> np.ndarray:
        if isinstance(word, str):
            if word not in self._index:
                raise ValueError(
                    f"{word!r} is not in the model's vocabulary of {len(self._words):,} words "
                    "(rarer than minCount, or not in the training data); query a known word (model.words)"
                )
            row: np.ndarray = self._vectors[self._index[word]].astype(np.float64)
            return row
        query: np.ndarray = np.asarray(word.toArray() if isinstance(word, Vector) else word, dtype=np.float64)
        if query.shape != (self._vectors.shape[1],):
            dim = self._vectors.shape[1]
            raise ValueError(f"the query vector has {query.size} values, the model's vectors {dim}; pass one of {dim}")
        return query

    def _transform(self, dataset: DataFrame) -> DataFrame:
        """Adds outputCol: each row's mean vector, MLlib's way (the sum of its known words' vectors
        divided by its number of tokens; zeros for an empty or null row)."""
        check_input(dataset, self.getInputCol())
        index, matrix = self._index, self._vectors  # float32 in the UDF: half the bytes shipped
        dim = matrix.shape[1]

        def mean_vector(tokens: list[str] | None) -> list[float]:
            if not tokens:
                return [0.0] * dim
            ids = [index[t] for t in tokens if t in index]
            return (matrix[ids].sum(axis=0, dtype=np.float64) / len(tokens)).tolist() if ids else [0.0] * dim

        # a lambda: pyspark reads a function's type hints as a pandas UDF's and warns
        udf = F.udf(lambda tokens: mean_vector(tokens), ArrayType(DoubleType(), containsNull=False))  # noqa: PLW0108
        return dataset.withColumn(self.getOutputCol(), array_to_vector(udf(F.col(self.getInputCol()))))

    def saveWord2VecFormat(self, path: str, binary: bool = False) -> None:
        """Write the vectors in word2vec's text format (or its binary one), which gensim's
        ``KeyedVectors.load_word2vec_format`` and word2vec.c read; local path or URI."""
        words = pa.array(self._words, pa.string())
        write = formats.write_word2vec_binary if binary else formats.write_word2vec_text
        write(path, formats.matrix_blocks(words, self._vectors), len(self._words), self._vectors.shape[1])

    def _extra_metadata(self) -> dict[str, Any]:
        return {"summary": None if self._summary is None else self._summary.to_dict()}

    def _save_data(self, spark: SparkSession, path: str) -> None:
        table = formats.vectors_table(pa.array(self._words, pa.string()), self._vectors)
        table = table.append_column("id", pa.array(np.arange(len(self._words), dtype=np.int64)))
        spark.createDataFrame(table).coalesce(1).write.parquet(path)

    def _load_data(self, spark: SparkSession, path: str, metadata: dict[str, Any]) -> None:
        table = spark.read.parquet(path).toArrow().sort_by("id")
        flat = table.column("vector").combine_chunks()
        dim = len(flat[0]) if len(flat) else 0
        self._set_vectors(table.column("word").to_pylist(), flat.flatten().to_numpy().reshape(len(flat), dim))
        summary = metadata.get("summary")
        self._summary = None if summary is None else Word2VecSummary.from_dict(summary)
