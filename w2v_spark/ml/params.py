"""The ``pyspark.ml`` parameters of :class:`~w2v_spark.ml.estimator.Word2Vec` and its model.

Names, types and meanings follow MLlib's ``pyspark.ml.feature.Word2Vec`` where MLlib has the
parameter (``vectorSize``, ``minCount``, ``numPartitions``, ``stepSize``, ``maxIter``, ``seed``,
``windowSize``, ``maxSentenceLength``); the rest are this trainer's settings in camelCase. Each
Param maps to one :class:`~w2v_spark.config.TrainConfig` field and takes its documentation and
default from there, so the CLI and the Python API cannot drift apart (docs/python-api.md#params).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol
from pyspark.sql import DataFrame
from pyspark.sql.types import ArrayType, StringType

from w2v_spark.config import DEFAULTS, FIELDS, flag

# Param name -> TrainConfig field. Order is the order explainParams() lists them in.
PARAM_FIELDS: dict[str, str] = {
    "vectorSize": "vector_size",
    "minCount": "min_count",
    "numPartitions": "partitions",
    "stepSize": "alpha",
    "maxIter": "epochs",
    "scaleEpochs": "scale_epochs",
    "seed": "seed",
    "windowSize": "window",
    "maxSentenceLength": "max_sentence_length",
    "negative": "negative",
    "sample": "sample",
    "minStepSize": "min_alpha",
    "nsExponent": "ns_exponent",
    "maxVocabSize": "max_vocab_size",
    "objective": "objective",
    "syncsPerEpoch": "syncs_per_epoch",
    "hotWords": "hot_words",
    "hotSyncsPerEpoch": "hot_syncs_per_epoch",
    "hogwild": "hogwild",
    "reportDelay": "report_delay",
}

# Where a default differs from MLlib's, the docs say so (MLlib: maxIter 1, numPartitions 1,
# seed a hash of the class name, hierarchical softmax instead of negative sampling).
_MLLIB_NOTES = {
    "maxIter": " (MLlib's default is 1)",
    "numPartitions": " Unset means one shard per task slot (MLlib's default is 1).",
    "seed": " (MLlib's default is a hash of the class name)",
}


def _param(name: str, converter: Callable[[Any], Any]) -> Param[Any]:
    doc = FIELDS[PARAM_FIELDS[name]].metadata["doc"] + _MLLIB_NOTES.get(name, "")
    return Param(Params._dummy(), name, doc, typeConverter=converter)


def for_params(message: str) -> str:
    """A CLI-worded error message in the Python API's words: flags and field names become Params."""
    for name, field in sorted(PARAM_FIELDS.items(), key=lambda kv: -len(kv[1])):
        message = message.replace(f"set {flag(field)} or {field} in the config file", f"set the param {name}")
        message = message.replace(flag(field), name)
        message = re.sub(rf"\b{field}(=| must)", rf"{name}\1", message)
    return message


class Word2VecParams(HasInputCol, HasOutputCol):
    """Params shared by the estimator and the model (the model carries the estimator's values)."""

    vectorSize: Param[int] = _param("vectorSize", TypeConverters.toInt)
    minCount: Param[int] = _param("minCount", TypeConverters.toInt)
    numPartitions: Param[int] = _param("numPartitions", TypeConverters.toInt)
    stepSize: Param[float] = _param("stepSize", TypeConverters.toFloat)
    maxIter: Param[int] = _param("maxIter", TypeConverters.toInt)
    seed: Param[int] = _param("seed", TypeConverters.toInt)
    windowSize: Param[int] = _param("windowSize", TypeConverters.toInt)
    maxSentenceLength: Param[int] = _param("maxSentenceLength", TypeConverters.toInt)
    negative: Param[int] = _param("negative", TypeConverters.toInt)
    sample: Param[float] = _param("sample", TypeConverters.toFloat)
    minStepSize: Param[float] = _param("minStepSize", TypeConverters.toFloat)
    nsExponent: Param[float] = _param("nsExponent", TypeConverters.toFloat)
    maxVocabSize: Param[int] = _param("maxVocabSize", TypeConverters.toInt)
    objective: Param[str] = _param("objective", TypeConverters.toString)
    syncsPerEpoch: Param[int] = _param("syncsPerEpoch", TypeConverters.toInt)
    hotWords: Param[int] = _param("hotWords", TypeConverters.toInt)
    hotSyncsPerEpoch: Param[int] = _param("hotSyncsPerEpoch", TypeConverters.toInt)
    hogwild: Param[bool] = _param("hogwild", TypeConverters.toBoolean)
    scaleEpochs: Param[bool] = _param("scaleEpochs", TypeConverters.toBoolean)
    reportDelay: Param[float] = _param("reportDelay", TypeConverters.toFloat)
    tempDir: Param[str] = Param(
        Params._dummy(),
        "tempDir",
        "Directory for fit()'s working files (corpus shards, tuples, model blocks), removed when fit returns. "
        "Empty means the system's temporary directory, which only local masters can use: on a cluster, give a "
        "directory the driver and every executor reach (hdfs://..., s3a://..., a shared mount).",
        typeConverter=TypeConverters.toString,
    )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        defaults = {name: DEFAULTS[field] for name, field in PARAM_FIELDS.items() if DEFAULTS[field] is not None}
        self._setDefault(inputCol="tokens", tempDir="", **defaults)

    def config_values(self) -> dict[str, Any]:
        """The TrainConfig fields these Params set (unset numPartitions and hotSyncsPerEpoch stay unset)."""
        return {field: self.getOrDefault(name) for name, field in PARAM_FIELDS.items() if self.isDefined(name)}

    def getVectorSize(self) -> int:
        return self.getOrDefault(self.vectorSize)

    def getMinCount(self) -> int:
        return self.getOrDefault(self.minCount)

    def getNumPartitions(self) -> int | None:
        """The number of shards, or None when unset (one per task slot)."""
        return self.getOrDefault(self.numPartitions) if self.isDefined(self.numPartitions) else None

    def getStepSize(self) -> float:
        return self.getOrDefault(self.stepSize)

    def getMaxIter(self) -> int:
        return self.getOrDefault(self.maxIter)

    def getSeed(self) -> int:
        return self.getOrDefault(self.seed)

    def getWindowSize(self) -> int:
        return self.getOrDefault(self.windowSize)

    def getMaxSentenceLength(self) -> int:
        return self.getOrDefault(self.maxSentenceLength)

    def getNegative(self) -> int:
        return self.getOrDefault(self.negative)

    def getSample(self) -> float:
        return self.getOrDefault(self.sample)

    def getMinStepSize(self) -> float:
        return self.getOrDefault(self.minStepSize)

    def getNsExponent(self) -> float:
        return self.getOrDefault(self.nsExponent)

    def getMaxVocabSize(self) -> int:
        return self.getOrDefault(self.maxVocabSize)

    def getObjective(self) -> str:
        return self.getOrDefault(self.objective)

    def getSyncsPerEpoch(self) -> int:
        return self.getOrDefault(self.syncsPerEpoch)

    def getHotWords(self) -> int:
        return self.getOrDefault(self.hotWords)

    def getHotSyncsPerEpoch(self) -> int | None:
        """Hot-row meetings per epoch, or None when unset (16 per 1.6 million tokens of the corpus)."""
        return self.getOrDefault(self.hotSyncsPerEpoch) if self.isDefined(self.hotSyncsPerEpoch) else None

    def getHogwild(self) -> bool:
        return self.getOrDefault(self.hogwild)

    def getScaleEpochs(self) -> bool:
        return self.getOrDefault(self.scaleEpochs)

    def getReportDelay(self) -> float:
        return self.getOrDefault(self.reportDelay)

    def getTempDir(self) -> str:
        return self.getOrDefault(self.tempDir)


def check_input(dataset: DataFrame, column: str) -> None:
    """Refuse a missing or wrongly typed input column before any training."""
    fields = {f.name: f.dataType for f in dataset.schema.fields}
    if column not in fields:
        raise ValueError(
            f"inputCol {column!r} is not a column of the DataFrame (its columns: {', '.join(fields) or 'none'}); "
            "set inputCol to the column of tokens"
        )
    kind = fields[column]
    if not (isinstance(kind, ArrayType) and isinstance(kind.elementType, StringType)):
        raise ValueError(
            f"inputCol {column!r} has type {kind.simpleString()}, but Word2Vec needs array<string> tokens; "
            "tokenize it first (w2v_spark.Tokenizer or pyspark.ml.feature.RegexTokenizer)"
        )
