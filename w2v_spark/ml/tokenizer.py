"""``Tokenizer``: the CLI's tokenizer as a ``pyspark.ml`` Transformer.

``Pipeline([Tokenizer(), Word2Vec()])`` on ``spark.read.text(paths)`` trains what
``w2v-spark train --input paths`` trains, with the same defaults (tokenize.py says how).
"""

from __future__ import annotations

from typing import Any

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from w2v_spark.config import DEFAULT_TOKEN_PATTERN, FIELDS
from w2v_spark.ml.persistence import ReadWrite
from w2v_spark.text.tokens import check_token_pattern, token_array


def _param(name: str, field: str, converter: Any) -> Param[Any]:
    return Param(Params._dummy(), name, FIELDS[field].metadata["doc"], typeConverter=converter)


class Tokenizer(Transformer, HasInputCol, HasOutputCol, ReadWrite):
    """Lines of text (``inputCol``, default ``value`` as ``spark.read.text`` names it) to an
    ``array<string>`` of tokens (``outputCol``, default ``tokens``): Unicode words with inner
    apostrophes, lower-cased, cut to ``maxTokenLength`` characters. A line without tokens gets an
    empty array (Word2Vec skips it); other columns are kept."""

    _input_kwargs: dict[str, Any]  # set by @keyword_only

    pattern: Param[str] = _param("pattern", "token_pattern", TypeConverters.toString)
    toLowercase: Param[bool] = _param("toLowercase", "lowercase", TypeConverters.toBoolean)
    maxTokenLength: Param[int] = _param("maxTokenLength", "max_token_length", TypeConverters.toInt)

    @keyword_only
    def __init__(
        self,
        *,
        inputCol: str = "value",
        outputCol: str = "tokens",
        pattern: str = DEFAULT_TOKEN_PATTERN,
        toLowercase: bool = True,
        maxTokenLength: int = 100,
    ) -> None:
        super().__init__()
        self._setDefault(
            inputCol="value",
            outputCol="tokens",
            pattern=DEFAULT_TOKEN_PATTERN,
            toLowercase=True,
            maxTokenLength=FIELDS["max_token_length"].default,
        )
        self._set(**self._input_kwargs)

    def setInputCol(self, value: str) -> Tokenizer:
        return self._set(inputCol=value)

    def setOutputCol(self, value: str) -> Tokenizer:
        return self._set(outputCol=value)

    def setPattern(self, value: str) -> Tokenizer:
        return self._set(pattern=value)

    def getPattern(self) -> str:
        return self.getOrDefault(self.pattern)

    def setToLowercase(self, value: bool) -> Tokenizer:
        return self._set(toLowercase=value)

    def getToLowercase(self) -> bool:
        return self.getOrDefault(self.toLowercase)

    def setMaxTokenLength(self, value: int) -> Tokenizer:
        return self._set(maxTokenLength=value)

    def getMaxTokenLength(self) -> int:
        return self.getOrDefault(self.maxTokenLength)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        column = self.getInputCol()
        kind = {f.name: f.dataType for f in dataset.schema.fields}.get(column)
        if not isinstance(kind, StringType):
            found = "no such column" if kind is None else f"type {kind.simpleString()}"
            raise ValueError(f"Tokenizer's inputCol {column!r} must be a string column ({found}); set inputCol")
        if self.getMaxTokenLength() < 1:
            raise ValueError(f"maxTokenLength must be a positive integer (got {self.getMaxTokenLength()})")
        error = check_token_pattern(dataset.sparkSession, self.getPattern())
        if error:
            raise ValueError(f"pattern is not a valid Java regular expression ({error}); fix the param pattern")
        tokens = token_array(F.col(column), self.getPattern(), self.getToLowercase(), self.getMaxTokenLength())
        return dataset.withColumn(self.getOutputCol(), tokens)
