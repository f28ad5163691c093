"""How shard models are combined: the exchange strategies, and the averaging job they share.

A round of training runs one task per shard. Each task asks the round's strategy for the model
it trains (``Exchange.open``) and, when done, writes that model's difference from the round's
model to the delta file the strategy named. Then ``average`` runs as a Spark job of one task
per row block: task b reads block b of the round's model and rows of block b of every delta
file, and writes block b of the next round's model. The driver only lists file names.

Two strategies are registered:

- ``average`` (the default, reproducible): every shard trains its own copy, read from the
  round's blocks; one delta per shard. Same seed and shards, same vectors, bit for bit. With
  ``HotSync`` the round is a barrier stage of min(shards, task slots) tasks, each training its
  share of the shards side by side, and the shards meet ``HotSync.per_epoch`` times per epoch,
  at fixed row counts, to average the rows of the most frequent words, which every copy moves
  and which drift apart fastest (hot_rows.py; docs/design/averaging.md#meetings).
- ``hogwild``: the tasks of one executor train one shared copy in place, memory-mapped from
  the executor's local directory, without locks (as word2vec's and gensim's threads share one
  model); one delta per executor. On one machine that is one model whatever the shards; the
  price is that concurrent updates make results depend on timing.

A new strategy is a subclass registered in ``EXCHANGES``; nothing else needs to branch on it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from pyspark.sql import SparkSession

from w2v_spark.errors import ConfigError
from w2v_spark.runtime import storage, tasks
from w2v_spark.train import blocks
from w2v_spark.train.blocks import ModelShape
from w2v_spark.train.hot_rows import HotSync, Meetings, claim, open_meetings


@dataclass(frozen=True)
class Round:
    """What every training task of one round knows (shipped to the tasks with the task function)."""

    model_dir: str  # the round's model, as blocks
    round_dir: str  # where the round's deltas and progress counters go
    tuples_dir: str  # this epoch's tuples, one file per shard
    shape: ModelShape
    epoch: int
    sync: int
    syncs: int
    run: str  # unique per run: names executor-local files
    shard_rows: tuple[int, ...]  # tuples of each shard this epoch
    models: int  # models trained side by side (each about 1/models of the round)
    hot: HotSync | None = None  # set when the round's tasks meet mid-round (a barrier stage)
    tasks: int = 0  # tasks of the round; task t trains shards t, t + tasks, ... (one each without hot)
    meet_dir: str = ""  # with hot: where the meetings' files go, fresh for every run of the round (meetings.py)


@dataclass(frozen=True)
class SharedClock:
    """With hogwild, the rows an executor's tasks have trained so far in a round, shared by them.

    The learning rate follows it, as word2vec's threads follow a shared word count: tasks that
    train one copy one after another would otherwise each restart the round's decay.
    """

    counter: np.ndarray  # int64[1], memory-mapped beside the executor's copy
    lock_dir: str  # the executor's directory, whose lock guards the counter
    start: int  # rows of the epoch, all shards, before this round
    total: int  # rows of the epoch, all shards
    models: int  # executors training copies side by side, each about 1/models of the round

    def advance(self, rows: int) -> int:
        """Count ``rows`` more; returns the count before them."""
        with locked(self.lock_dir):
            before = int(self.counter[0])
            self.counter[0] = before + rows
        return before


@dataclass
class ShardModel:
    """The model one task trains, and where its deltas go."""

    emb: np.ndarray
    theta: np.ndarray
    delta: str
    read_bytes: int  # model bytes this task read to get it
    clock: SharedClock | None = None
    writing: AbstractContextManager[Any] = field(default_factory=nullcontext)  # held while the delta file is written


class Exchange(ABC):
    """One way of giving shard tasks their model and combining what they trained."""

    name: ClassVar[str]
    reproducible: ClassVar[bool]

    @abstractmethod
    def models(self, shards: int, executors: int) -> int:
        """How many models a round averages (this sets every shard's learning-rate multiple)."""

    @abstractmethod
    def open(self, rnd: Round, shard: int) -> ShardModel:
        """In the task: the model shard ``shard`` trains this round."""

    def planned_models(self, shards: int) -> int:
        """How many models every round will average, as far as known before training (this sets
        the passes over the corpus, ``training.passes``)."""
        return self.models(shards, shards)

    def barrier(self, rnd: Round) -> bool:
        """Whether the round's tasks run as one barrier stage (to meet mid-round)."""
        return False

    def meetings(self, rnd: Round, task: int) -> Meetings | None:
        """In the task, before anything else: how its shards meet mid-round (None: they do not)."""
        return None

    def finish(self, spark: SparkSession, run: str, shards: int) -> None:  # noqa: B027 - optional hook
        """When training ends, finished or failed: remove whatever the strategy left on executors."""


class Averaged(Exchange):
    name = "average"
    reproducible = True

    def models(self, shards: int, executors: int) -> int:
        return shards

    def open(self, rnd: Round, shard: int) -> ShardModel:
        emb, theta = blocks.read_model(rnd.model_dir, rnd.shape)
        delta = storage.join(rnd.round_dir, f"delta-part-{shard:05d}.npy")
        return ShardModel(emb, theta, delta, rnd.shape.nbytes)

    def barrier(self, rnd: Round) -> bool:
        return rnd.hot is not None

    def meetings(self, rnd: Round, task: int) -> Meetings | None:
        if rnd.hot is None:
            return None
        claim(rnd.meet_dir, task)  # a retried attempt of the stage stops here (meetings.py)
        points = rnd.hot.points(rnd.sync, rnd.syncs)
        shape = rnd.shape
        return open_meetings(rnd.meet_dir, len(rnd.shard_rows), rnd.hot, points, shape.vocab_size, shape.vector_size)


class Hogwild(Exchange):
    name = "hogwild"
    reproducible = False

    def models(self, shards: int, executors: int) -> int:
        return max(1, min(shards, executors))

    def planned_models(self, shards: int) -> int:
        return 1  # one per executor, and executors are known only as tasks run: passes are not scaled

    def open(self, rnd: Round, shard: int) -> ShardModel:
        local = executor_dir(rnd.run)
        emb, theta, counter, read = open_shared_copy(local, f"{rnd.epoch}-{rnd.sync}", rnd.model_dir, rnd.shape)
        start = sum(n * rnd.sync // rnd.syncs for n in rnd.shard_rows)
        clock = SharedClock(counter, local, start, sum(rnd.shard_rows), rnd.models)
        # Written under the lock, so the file last written holds the training of every task that
        # ran here (the last to finish writes after all the others have finished).
        delta = storage.join(rnd.round_dir, f"delta-executor-{tasks.executor_id()}.npy")
        return ShardModel(emb, theta, delta, read, clock, locked(local))

    def finish(self, spark: SparkSession, run: str, shards: int) -> None:
        """Delete the run's shared copies: one task per shard, each removing its executor's directory.

        Best effort: Spark does not promise every executor a task (one that gets none keeps its
        last copy until the application ends and Spark deletes its local directory).
        """

        def remove(_: int) -> dict[str, Any]:
            shutil.rmtree(executor_dir(run), ignore_errors=True)
            return {}

        tasks.run_tasks(spark, shards, remove)


EXCHANGES: dict[str, type[Exchange]] = {cls.name: cls for cls in (Averaged, Hogwild)}


def get(name: str) -> Exchange:
    """The registered strategy called ``name``; an unknown name is refused with the known ones."""
    if name not in EXCHANGES:
        raise ConfigError(f"unknown exchange strategy {name!r}; known: {', '.join(sorted(EXCHANGES))}")
    return EXCHANGES[name]()


def average(
    spark: SparkSession, model_dir: str, deltas: list[str], next_dir: str, shape: ModelShape
) -> tuple[int, int, list[int]]:
    """The next model = this model + the mean of the deltas, as a Spark job of one task per block.

    ``deltas`` are added in the order given (the caller sorts them), so the result does not
    depend on which task or executor averages which block. Returns the bytes the tasks read and
    wrote, and each block file's CRC-32 (a checkpoint records them).
    """

    def work(block: int) -> dict[str, Any]:
        read, written, crc = blocks.average_block(model_dir, next_dir, block, deltas, shape)
        return {"read": read, "written": written, "crc32": crc}

    results = tasks.run_tasks(spark, shape.blocks, work)
    return sum(r["read"] for r in results), sum(r["written"] for r in results), [r["crc32"] for r in results]


def executor_dir(run: str) -> str:
    """This executor's directory for the run's shared copies: under Spark's local directory for
    the executor (deleted when the application ends), which its tasks share and no other
    executor does."""
    path = os.path.join(tasks.local_dir(), f"w2v-spark-{run}")
    os.makedirs(path, exist_ok=True)
    return path


@contextmanager
def locked(directory: str) -> Iterator[None]:
    with open(os.path.join(directory, "lock"), "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def open_shared_copy(
    local: str, name: str, model_dir: str, shape: ModelShape
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The executor's copy of a round's model and its row counter (for ``SharedClock``),
    memory-mapped for writing, and the model bytes this call read. The first task of the round
    on this executor makes them from the round's blocks (and removes older rounds')."""
    emb_path, theta_path, count_path = (os.path.join(local, f"{name}-{m}.npy") for m in ("emb", "theta", "rows"))
    read = 0
    with locked(local):
        if not os.path.exists(count_path):
            for f in os.listdir(local):
                if f.endswith(".npy"):
                    os.remove(os.path.join(local, f))
            dims = (shape.vocab_size, shape.vector_size)
            emb = np.lib.format.open_memmap(emb_path + ".tmp.npy", mode="w+", dtype=np.float32, shape=dims)
            theta = np.lib.format.open_memmap(theta_path + ".tmp.npy", mode="w+", dtype=np.float32, shape=dims)
            blocks.fill_model(model_dir, shape, emb, theta)
            read = shape.nbytes
            emb.flush()
            theta.flush()
            del emb, theta
            np.save(count_path + ".tmp.npy", np.zeros(1, np.int64))
            for path in (emb_path, theta_path, count_path):
                os.replace(path + ".tmp.npy", path)
    emb, theta, counter = (np.load(p, mmap_mode="r+").view(np.ndarray) for p in (emb_path, theta_path, count_path))
    return emb, theta, counter, read
