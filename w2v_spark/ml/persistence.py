"""Saving and loading the ``pyspark.ml`` stages (Word2Vec, Word2VecModel, Tokenizer).

The layout is MLlib's: ``metadata/`` (one JSON line: class, uid, params, defaults) plus, for the
model, ``data/`` (Parquet). Both are written and read through the DataFrame API, so
``save``/``load`` and ``PipelineModel`` persistence work on classic and Spark Connect sessions
alike. ``overwrite()`` deletes the old directory from the driver (storage.py), because MLlib's
overwrite goes through the JVM, which a Connect client does not have.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyspark.ml.param import Params
from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReadable, MLReader, MLWritable, MLWriter

from w2v_spark.runtime import storage


class ParamsWriter(MLWriter):
    """Writes ``metadata/`` and, if the instance has them, extra metadata and ``data/``."""

    def __init__(self, instance: Params) -> None:
        super().__init__()
        self.instance = instance

    def save(self, path: str) -> None:
        if self.shouldOverwrite:
            storage.delete_dir(path)
        elif storage.exists(path):
            raise FileExistsError(f"{path} already exists; use write().overwrite().save(path) to replace it")
        self.saveImpl(path)

    def saveImpl(self, path: str) -> None:
        extra: dict[str, Any] = getattr(self.instance, "_extra_metadata", dict)()
        DefaultParamsWriter.saveMetadata(self.instance, path, self.sparkSession, extraMetadata=extra or None)
        save_data: Callable[[Any, str], None] | None = getattr(self.instance, "_save_data", None)
        if save_data is not None:
            save_data(self.sparkSession, storage.join(path, "data"))


class ParamsReader(MLReader[Any]):
    """Reads what :class:`ParamsWriter` wrote back into an instance of ``cls``."""

    def __init__(self, cls: type[Params]) -> None:
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> Any:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        instance = self.cls()
        instance._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(instance, metadata)  # type: ignore[type-var]
        load_data: Callable[[Any, str, dict[str, Any]], None] | None = getattr(instance, "_load_data", None)
        if load_data is not None:
            load_data(self.sparkSession, storage.join(path, "data"), metadata)
        return instance


class ReadWrite(MLReadable[Any], MLWritable):
    """Mix-in: ``write()``, ``save()``, ``read()`` and ``load()`` through the two classes above."""

    def write(self) -> MLWriter:
        assert isinstance(self, Params)
        return ParamsWriter(self)

    @classmethod
    def read(cls) -> MLReader[Any]:
        assert issubclass(cls, Params)
        return ParamsReader(cls)
