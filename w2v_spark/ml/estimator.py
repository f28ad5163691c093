"""``Word2Vec``: a ``pyspark.ml`` Estimator that trains skip-gram with negative sampling.

A drop-in for ``pyspark.ml.feature.Word2Vec``: the same parameter names and ``inputCol`` of
``array<string>`` tokens, ``fit`` returns a :class:`~w2v_spark.ml.model.Word2VecModel` with MLlib's
methods. ``fit`` runs the CLI's core (``job.run.run``) on the caller's session, classic or
Connect, with its working files in a temporary directory that is removed when it returns
(docs/python-api.md#temp-dir).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

from pyspark import keyword_only
from pyspark.ml import Estimator
from pyspark.sql import DataFrame, SparkSession

from w2v_spark.config import TrainConfig
from w2v_spark.errors import W2VError
from w2v_spark.io import formats
from w2v_spark.job import outputs
from w2v_spark.job.run import run
from w2v_spark.ml.model import Word2VecModel, Word2VecSummary
from w2v_spark.ml.params import Word2VecParams, check_input, for_params
from w2v_spark.ml.persistence import ReadWrite
from w2v_spark.runtime import storage, tasks
from w2v_spark.runtime.master import Master
from w2v_spark.text.tokens import sentences


class Word2Vec(Estimator[Word2VecModel], Word2VecParams, ReadWrite):
    """Word2Vec trains word vectors with skip-gram and negative sampling (SGNS), on Spark.

    >>> from w2v_spark import Tokenizer, Word2Vec
    >>> model = Pipeline(stages=[Tokenizer(), Word2Vec(vectorSize=100)]).fit(spark.read.text("corpus.txt"))

    Defaults are this trainer's (``explainParams()`` lists them); where they differ from MLlib's,
    the param's doc says so. Vectors are reproducible: the same rows, in the same partitions,
    with the same seed and ``numPartitions`` give the same vectors.
    """

    _input_kwargs: dict[str, Any]  # set by @keyword_only

    def __init__(self, **params: Any) -> None:
        """Takes the keyword arguments of :meth:`setParams`, whose signature shows the defaults."""
        super().__init__()
        self.setParams(**params)

    @keyword_only
    def setParams(
        self,
        *,
        vectorSize: int = 100,
        minCount: int = 5,
        numPartitions: int | None = None,
        stepSize: float = 0.025,
        maxIter: int = 5,
        seed: int = 1,
        inputCol: str = "tokens",
        outputCol: str | None = None,
        windowSize: int = 5,
        maxSentenceLength: int = 1000,
        negative: int = 5,
        sample: float = 1e-3,
        minStepSize: float = 1e-4,
        nsExponent: float = 0.75,
        maxVocabSize: int = 0,
        objective: str = "batch_negative_sampling",
        syncsPerEpoch: int = 1,
        hotWords: int = 1024,
        hotSyncsPerEpoch: int | None = None,
        hogwild: bool = False,
        scaleEpochs: bool = True,
        reportDelay: float = 10.0,
        tempDir: str = "",
    ) -> Word2Vec:
        """Sets the given params (the others keep their values)."""
        return self._set(**self._input_kwargs)

    def set_(self, name: str, value: Any) -> Word2Vec:
        """Sets one param by name: ``set_("vectorSize", 300)`` (the setX methods call this)."""
        return self._set(**{name: value})

    def setVectorSize(self, value: int) -> Word2Vec:
        return self.set_("vectorSize", value)

    def setMinCount(self, value: int) -> Word2Vec:
        return self.set_("minCount", value)

    def setNumPartitions(self, value: int) -> Word2Vec:
        return self.set_("numPartitions", value)

    def setStepSize(self, value: float) -> Word2Vec:
        return self.set_("stepSize", value)

    def setMaxIter(self, value: int) -> Word2Vec:
        return self.set_("maxIter", value)

    def setSeed(self, value: int) -> Word2Vec:
        return self.set_("seed", value)

    def setWindowSize(self, value: int) -> Word2Vec:
        return self.set_("windowSize", value)

    def setMaxSentenceLength(self, value: int) -> Word2Vec:
        return self.set_("maxSentenceLength", value)

    def setInputCol(self, value: str) -> Word2Vec:
        return self.set_("inputCol", value)

    def setOutputCol(self, value: str) -> Word2Vec:
        return self.set_("outputCol", value)

    def setNegative(self, value: int) -> Word2Vec:
        return self.set_("negative", value)

    def setSample(self, value: float) -> Word2Vec:
        return self.set_("sample", value)

    def setMinStepSize(self, value: float) -> Word2Vec:
        return self.set_("minStepSize", value)

    def setNsExponent(self, value: float) -> Word2Vec:
        return self.set_("nsExponent", value)

    def setMaxVocabSize(self, value: int) -> Word2Vec:
        return self.set_("maxVocabSize", value)

    def setObjective(self, value: str) -> Word2Vec:
        return self.set_("objective", value)

    def setSyncsPerEpoch(self, value: int) -> Word2Vec:
        return self.set_("syncsPerEpoch", value)

    def setHotWords(self, value: int) -> Word2Vec:
        return self.set_("hotWords", value)

    def setHotSyncsPerEpoch(self, value: int) -> Word2Vec:
        return self.set_("hotSyncsPerEpoch", value)

    def setHogwild(self, value: bool) -> Word2Vec:
        return self.set_("hogwild", value)

    def setScaleEpochs(self, value: bool) -> Word2Vec:
        return self.set_("scaleEpochs", value)

    def setReportDelay(self, value: float) -> Word2Vec:
        return self.set_("reportDelay", value)

    def setTempDir(self, value: str) -> Word2Vec:
        return self.set_("tempDir", value)

    def _fit(self, dataset: DataFrame) -> Word2VecModel:
        check_input(dataset, self.getInputCol())
        spark = dataset.sparkSession
        with _working_dir(spark, self.getTempDir()) as output:
            cfg = self.train_config(output)
            tokens = sentences(dataset, self.getInputCol(), cfg.max_sentence_length)
            try:
                metrics = run(cfg, spark, tokens, word2vec_files=False)
            except W2VError as e:
                raise type(e)(for_params(str(e))) from None
            words, vectors = formats.load_vectors(output)
        model = Word2VecModel(words, vectors, Word2VecSummary.from_metrics(metrics))
        model._resetUid(self.uid)  # as MLlib's models do: the model shares its estimator's uid
        return self._copyValues(model)

    def train_config(self, output: str) -> TrainConfig:
        """The CLI's configuration for these params, validated (a bad value names its param)."""
        try:
            return TrainConfig(output=output, keep_checkpoints=0, **self.config_values())
        except W2VError as e:
            raise type(e)(for_params(str(e))) from None


@contextlib.contextmanager
def _working_dir(spark: SparkSession, temp_dir: str) -> Iterator[str]:
    """A fresh output directory for one fit, under tempDir; removed with its staging directory
    whatever happens, so a failed fit leaves nothing behind.

    On a local filesystem both go in a directory of their own that only this user may enter
    (``tempfile.mkdtemp``, 0700): they hold the caller's vocabulary and encoded corpus, and the
    system's temporary directory is every local user's.
    """
    if temp_dir:
        parent = temp_dir
    else:
        master = tasks.spark_setting(spark, "spark.master") or ""
        if not Master.parse(master).local:
            raise ValueError(
                f"tempDir is unset and Spark runs on {master!r}: set tempDir to a directory the driver and every "
                "executor can reach (hdfs://..., s3a://..., a shared mount)"
            )
        parent = tempfile.gettempdir()
    if "://" in parent and not parent.startswith("file://"):
        output = storage.join(parent, f"w2v-spark-fit-{uuid.uuid4().hex}")
        try:
            yield output
        finally:
            for path in (output, outputs.staging_dir(output)):
                storage.delete_dir(path)
        return
    os.makedirs(parent.removeprefix("file://"), exist_ok=True)
    private = tempfile.mkdtemp(prefix="w2v-spark-fit-", dir=parent.removeprefix("file://"))
    try:
        yield os.path.join(private, "output")
    finally:
        shutil.rmtree(private, ignore_errors=True)
