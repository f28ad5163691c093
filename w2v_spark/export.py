"""Stage 5: the files people load: vectors/ (Parquet), vectors.txt (word2vec text), metrics.json.

``_SUCCESS`` is written last by the pipeline, so its presence means every output is complete.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from w2v_spark import storage
from w2v_spark.schemas import VECTORS_ARROW_SCHEMA

SUCCESS_MARKER = "_SUCCESS"


def vectors_table(words: pa.StringArray, vectors: np.ndarray) -> pa.Table:
    """``word, vector`` rows in id order (most frequent word first)."""
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    flat = pa.array(v.ravel())
    offsets = pa.array(np.arange(0, v.size + 1, v.shape[1], dtype=np.int32))
    return pa.Table.from_arrays(
        [words.cast(pa.string()), pa.ListArray.from_arrays(offsets, flat)], schema=VECTORS_ARROW_SCHEMA
    )


def write_vectors_parquet(words: pa.StringArray, vectors: np.ndarray, path: str) -> None:
    """vectors/ as Parquet (``word string, vector array<float>``), readable by Spark, pandas, DuckDB."""
    storage.write_table(vectors_table(words, vectors), path)


def write_word2vec_text(path: str, words: pa.StringArray, vectors: np.ndarray) -> None:
    """The word2vec text format: a ``V d`` header, then ``word v1 ... vd`` per line.

    Values use 9 significant digits, enough to round-trip float32 exactly.
    """
    v = np.asarray(vectors, dtype=np.float32)
    row_format = " ".join(["%.9g"] * v.shape[1]) + "\n"
    with storage.atomic_output(path) as fh:
        fh.write(f"{v.shape[0]} {v.shape[1]}\n".encode())
        names = words.to_pylist()
        for start in range(0, v.shape[0], 10_000):  # chunks keep memory flat for big vocabularies
            rows = v[start : start + 10_000].tolist()
            lines = [w + " " + row_format % tuple(r) for w, r in zip(names[start : start + 10_000], rows, strict=True)]
            fh.write("".join(lines).encode("utf-8"))


def write_metrics(path: str, metrics: dict[str, Any]) -> None:
    storage.write_text(path, json.dumps(metrics, indent=2, sort_keys=False) + "\n")


def mark_success(output_dir: str) -> None:
    storage.write_text(storage.join(output_dir, SUCCESS_MARKER), "")
