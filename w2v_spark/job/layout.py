"""Where a run's files go under its staging directory (docs/output-format.md)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from w2v_spark.runtime import storage

log = logging.getLogger("w2v_spark")


@dataclass(frozen=True)
class Layout:
    """Where a run's files go under its (staging) directory (docs/output-format.md#layout)."""

    vocab: str
    corpus: str  # the id-encoded shards (corpus.py)
    tuples: str  # tuples/epoch=E/ (tuples.py)
    work: str  # _training/: the model's blocks, the rounds' deltas, the count tables
    vectors: str
    text: str
    binary: str
    metrics: str

    @property
    def vocab_file(self) -> str:
        return storage.join(self.vocab, "part-00000.parquet")


def layout(output: str) -> Layout:
    """Where everything goes under the output directory."""
    names = {
        "vocab": "vocab",
        "corpus": "corpus",
        "tuples": "tuples",
        "work": "_training",
        "vectors": "vectors",
        "text": "vectors.txt",
        "binary": "vectors.bin",
        "metrics": "metrics.json",
    }
    return Layout(**{field_name: storage.join(output, rel) for field_name, rel in names.items()})
