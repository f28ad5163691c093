"""Training objectives, one registered entry each: the layout of its tuples, how they are
generated and shuffled, and the kernel that trains on them (docs/design/kernels.md#objectives).

``--objective NAME`` picks one; tuples.py and rounds.py call the entry and never branch on
the name. A new objective is a subclass and a :func:`register` call. The kernels themselves
live in w2v_spark/kernels (no Spark); only :meth:`Objective.pairs`, for inspecting tuples, uses
Spark. Both load on first use, so that checking a setting's value (config.py) stays instant.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from types import ModuleType
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pyarrow as pa

from w2v_spark.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

Tables = tuple[np.ndarray, np.ndarray, np.ndarray]  # keep_prob, noise_prob, noise_alias
Generated = tuple[int, int, int, int]  # sentences consumed, rows written, pairs in them, words kept


def _kernels() -> ModuleType:
    """The numba kernels, imported on first use (numba takes a noticeable part of a second)."""
    from w2v_spark import kernels

    return kernels


def negative_columns(negative: int) -> list[str]:
    """Names of the k negative columns: negative_1 .. negative_k."""
    return [f"negative_{j}" for j in range(1, negative + 1)]


class Objective(ABC):
    """One way to train: tuple columns (flat int32), generator, shuffle and SGD kernel."""

    name: ClassVar[str]
    doc: ClassVar[str]
    uses_negatives: ClassVar[bool] = True
    max_vocab: ClassVar[int | None] = None  # refused above this vocabulary (docs/design/kernels.md#softmax)
    unit: ClassVar[str] = "pairs"  # what a tuples row is, for progress lines

    @abstractmethod
    def columns(self, window: int, negative: int) -> list[str]:
        """The tuples files' column names, in order."""

    def arrow_schema(self, window: int, negative: int) -> pa.Schema:
        return pa.schema([pa.field(c, pa.int32(), nullable=False) for c in self.columns(window, negative)])

    def ddl(self, window: int, negative: int) -> str:
        return ", ".join(f"{c} int" for c in self.columns(window, negative))

    def rejection_span(self, window: int) -> int:
        """At most how many words a negative's draw rejects (those around its pair's context)."""
        return 2 * window + 1

    def untrained_loss(self, negative: int, vocab_size: int) -> float:
        """Loss per example of a model whose scores are all 0 (Θ starts at 0): k + 1 sigmoids of 0."""
        return (negative + 1) * math.log(2)

    @abstractmethod
    def rows_needed(self, longest: int, window: int) -> int:
        """Rows one sentence of ``longest`` words can make (a buffer must hold them)."""

    @abstractmethod
    def buffers(self, capacity: int, window: int, negative: int) -> list[np.ndarray]:
        """Empty generation buffers of ``capacity`` rows."""

    @abstractmethod
    def generate(
        self,
        ids: np.ndarray,
        offsets: np.ndarray,
        first: int,
        tables: Tables,
        window: int,
        negative: int,
        state: np.ndarray,
        bufs: list[np.ndarray],
    ) -> Generated:
        """Fill ``bufs`` from sentences ``first`` onwards (_kernels().generate_tuples' contract)."""

    @abstractmethod
    def shuffle(self, bufs: list[np.ndarray], n: int, state: np.ndarray) -> None:
        """Shuffle the first ``n`` rows in place, rows kept whole."""

    @abstractmethod
    def rows(self, bufs: list[np.ndarray], n: int) -> list[np.ndarray]:
        """The first ``n`` rows as one array per column, in :meth:`columns` order (views)."""

    @abstractmethod
    def train(self, batch: pa.Table, emb: np.ndarray, theta: np.ndarray, lr0: float, step: float) -> tuple[float, int]:
        """SGD over a batch of tuples rows, the rate falling by ``step`` a row: (summed loss, pairs)."""

    @abstractmethod
    def pairs(self, tuples: DataFrame) -> DataFrame:
        """Literal ``(center, target, label)`` id rows of tuples (tuples.explode_triples names them)."""


class NegativeSampling(Objective):
    name = "negative_sampling"
    doc = "SGNS as word2vec trains it: each pair (c, t) with its own k negatives, one row per pair."

    def columns(self, window: int, negative: int) -> list[str]:
        return ["center", "target", *negative_columns(negative)]

    def rows_needed(self, longest: int, window: int) -> int:
        return longest * 2 * window

    def buffers(self, capacity: int, window: int, negative: int) -> list[np.ndarray]:
        return [np.empty(capacity, np.int32), np.empty(capacity, np.int32), np.empty((negative, capacity), np.int32)]

    def generate(
        self,
        ids: np.ndarray,
        offsets: np.ndarray,
        first: int,
        tables: Tables,
        window: int,
        negative: int,
        state: np.ndarray,
        bufs: list[np.ndarray],
    ) -> Generated:
        used, n, kept = _kernels().generate_tuples(ids, offsets, first, *tables, window, negative, state, *bufs)
        return used, n, n, kept

    def shuffle(self, bufs: list[np.ndarray], n: int, state: np.ndarray) -> None:
        _kernels().shuffle_pairs(bufs[0], bufs[1], bufs[2], n, state)

    def rows(self, bufs: list[np.ndarray], n: int) -> list[np.ndarray]:
        return [bufs[0][:n], bufs[1][:n], *bufs[2][:, :n]]

    def train(self, batch: pa.Table, emb: np.ndarray, theta: np.ndarray, lr0: float, step: float) -> tuple[float, int]:
        columns = [batch.column(j).to_numpy() for j in range(batch.num_columns)]
        # (k, n), the kernel's layout: stacking the k columns is one small copy per row group
        negatives = np.stack(columns[2:]) if len(columns) > 2 else np.empty((0, len(batch)), np.int32)
        return float(_kernels().sgd_step(emb, theta, columns[0], columns[1], negatives, lr0, step)), len(batch)

    def pairs(self, tuples: DataFrame) -> DataFrame:
        from pyspark.sql import functions as F

        positives = tuples.select("center", "target", F.lit(1).alias("label"))
        noise = _negatives_array(tuples)
        negatives = tuples.select("center", F.explode(noise).alias("target"), F.lit(0).alias("label"))
        return positives.unionByName(negatives)


class Softmax(NegativeSampling):
    name = "softmax"
    doc = "The full softmax over the vocabulary, O(V d) per pair: a baseline for small vocabularies."
    uses_negatives = False
    # Measured in bench/objectives.py: hundreds of times slower than negative sampling at 10,000 words.
    max_vocab = 20_000

    def untrained_loss(self, negative: int, vocab_size: int) -> float:
        return math.log(max(vocab_size, 2))  # a uniform distribution over the vocabulary

    def train(self, batch: pa.Table, emb: np.ndarray, theta: np.ndarray, lr0: float, step: float) -> tuple[float, int]:
        centers, targets = batch.column(0).to_numpy(), batch.column(1).to_numpy()
        return float(_kernels().softmax_step(emb, theta, centers, targets, lr0, step)), len(batch)


class BatchNegativeSampling(Objective):
    name = "batch_negative_sampling"
    doc = (
        "SGNS with the pairs of one window sharing their k negatives (pWord2Vec's HogBatch): one row per "
        "target word with its contexts, the k+1 output rows read once per window."
    )
    unit = "windows"

    def columns(self, window: int, negative: int) -> list[str]:
        return ["target", *(f"context_{j}" for j in range(1, 2 * window + 1)), *negative_columns(negative)]

    def rows_needed(self, longest: int, window: int) -> int:
        return longest

    def rejection_span(self, window: int) -> int:
        return 4 * window + 1  # the windows of all contexts within `window` of the target

    def buffers(self, capacity: int, window: int, negative: int) -> list[np.ndarray]:
        return [
            np.empty(capacity, np.int32),
            np.empty((2 * window, capacity), np.int32),
            np.empty((negative, capacity), np.int32),
        ]

    def generate(
        self,
        ids: np.ndarray,
        offsets: np.ndarray,
        first: int,
        tables: Tables,
        window: int,
        negative: int,
        state: np.ndarray,
        bufs: list[np.ndarray],
    ) -> Generated:
        used, rows, pairs, kept = _kernels().generate_windows(
            ids, offsets, first, *tables, window, negative, state, *bufs
        )
        return used, rows, pairs, kept

    def shuffle(self, bufs: list[np.ndarray], n: int, state: np.ndarray) -> None:
        _kernels().shuffle_windows(bufs[0], bufs[1], bufs[2], n, state)

    def rows(self, bufs: list[np.ndarray], n: int) -> list[np.ndarray]:
        return [bufs[0][:n], *bufs[1][:, :n], *bufs[2][:, :n]]

    def train(self, batch: pa.Table, emb: np.ndarray, theta: np.ndarray, lr0: float, step: float) -> tuple[float, int]:
        names = batch.column_names
        contexts = np.stack([batch.column(c).to_numpy() for c in names if c.startswith("context_")])
        negatives = np.stack([batch.column(c).to_numpy() for c in names if c.startswith("negative_")])
        loss, pairs = _kernels().sgd_window_step(emb, theta, batch.column(0).to_numpy(), contexts, negatives, lr0, step)
        return float(loss), int(pairs)

    def pairs(self, tuples: DataFrame) -> DataFrame:
        from pyspark.sql import functions as F

        window = F.array(*(c for c in tuples.columns if c.startswith("context_")))
        rows = tuples.select(
            "target",
            F.explode(F.filter(window, lambda c: c >= 0)).alias("center"),
            _negatives_array(tuples).alias("noise"),
        )
        positives = rows.select("center", "target", F.lit(1).alias("label"))
        negatives = rows.select("center", F.explode("noise").alias("target"), F.lit(0).alias("label"))
        return positives.unionByName(negatives)


def _negatives_array(tuples: DataFrame) -> Column:
    from pyspark.sql import functions as F

    k = sum(1 for c in tuples.columns if c.startswith("negative_"))
    return F.array(*negative_columns(k)) if k else F.array().cast("array<int>")


REGISTRY: dict[str, Objective] = {}


def register(objective: Objective) -> Objective:
    REGISTRY[objective.name] = objective
    return objective


for _objective in (BatchNegativeSampling(), NegativeSampling(), Softmax()):
    register(_objective)


def get(name: str) -> Objective:
    """The registered objective ``name``; an unknown name is refused with the known ones listed."""
    if name not in REGISTRY:
        raise ConfigError(f"objective must be one of {', '.join(REGISTRY)} (got {name!r}); set --objective")
    return REGISTRY[name]


def warm_up(name: str) -> None:
    """Run objective ``name``'s generator, shuffle and kernel once on a few made-up words.

    The first call of a compiled kernel in a process loads it from numba's cache and resolves
    its types, a noticeable part of a second per kernel; workers do it while the corpus is
    encoded (corpus.encode) instead of in the first epoch's tasks.
    """
    objective, window, negative = get(name), 2, 2
    words = 16
    ids = np.arange(2 * words, dtype=np.int32) % words
    ids.setflags(write=False)  # as the corpus's ids come from Arrow: numba types read-only arrays apart
    tables = (np.ones(words), *_kernels().build_alias_table(np.ones(words)))
    state = _kernels().derive_seed(0)
    bufs = objective.buffers(objective.rows_needed(len(ids), window), window, negative)
    _, n, _, _ = objective.generate(ids, np.array([0, len(ids)], np.int64), 0, tables, window, negative, state, bufs)
    objective.shuffle(bufs, n, state)
    columns = [pa.array(c) for c in objective.rows(bufs, n)]
    batch = pa.Table.from_arrays(columns, schema=objective.arrow_schema(window, negative))
    emb, theta = np.zeros((words, 8), np.float32), np.zeros((words, 8), np.float32)
    objective.train(batch, emb, theta, 0.025, 0.0)


def for_columns(columns: list[str]) -> Objective:
    """The objective whose tuples have these columns (pairs files start with ``center``)."""
    return REGISTRY["negative_sampling"] if "center" in columns else REGISTRY["batch_negative_sampling"]


__all__ = ["REGISTRY", "Objective", "for_columns", "get", "negative_columns", "register", "warm_up"]
