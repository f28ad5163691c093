"""Stage 4: shard-wise SGNS training, rounds of shard tasks and block-wise averaging.

Each epoch is split into ``syncs`` rounds. In a round, one Spark task per shard gets its model
from the exchange strategy (``exchange.py``: its own copy read from the round's model blocks,
or with hogwild its executor's shared copy), runs the compiled SGD kernel over its share of
the round's tuples (streamed from Parquet a row group at a time), and writes its deltas to a
file; then a second job of one task per row block averages the deltas into the next round's
model blocks. Parameters move through files in the run's working directory, never through
the driver: it only names them (docs/scaling.md#bytes-per-round).

Why every shard trains at a multiple of the learning rate and the deltas are plainly averaged
over all P shards: averaged at the plain rate, P shards move every row 1/P as far per epoch as
one machine would (each saw 1/P of the data), which is how Spark MLlib's Word2Vec loses quality
as shards grow. While a row's updates are small and add up linearly, P shards at P times
the rate, averaged, move it exactly as far as one machine over all the data, with the same SGD
noise; where a row saturates (a frequent word reaching its optimum within a shard), each shard
stops at the optimum and the average stays there instead of overshooting, as summing would.
But a shard at P times the rate also drifts further within a round, so the multiple is
P^(5/6), which measured best among the rules tried, and it stops growing at 16 models, where
a copy's steps become large enough to diverge (``shard_lr_scale``;
docs/design/experiment-log.md has the runs).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
import uuid
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyspark.sql import SparkSession

from w2v_spark.runtime import memory, progress, storage, tasks
from w2v_spark.text.corpus import part_name
from w2v_spark.train import blocks, objectives
from w2v_spark.train.blocks import ModelShape
from w2v_spark.train.exchange import Exchange, Round, ShardModel, SharedClock, average
from w2v_spark.train.hot_rows import BoardFullError, HotSync, board_bytes, board_fits

log = logging.getLogger("w2v_spark")


def init_model(spark: SparkSession, model_dir: str, shape: ModelShape, seed: int) -> None:
    """Write the initial model's blocks (``blocks.init_block``), one Spark task per block."""

    def work(block: int) -> dict[str, Any]:
        return {"written": blocks.write_block(model_dir, block, *blocks.init_block(shape, seed, block))[0]}

    tasks.run_tasks(spark, shape.blocks, work)


# Beyond this many models the multiple stops growing: a copy stepping at more than 16^(5/6)
# (about 10) times the rate diverged on the benchmark corpus, and a diverged run's vectors are
# noise (docs/design/experiment-log.md#rate-not-drift).
MAX_MULTIPLE_MODELS = 16


def shard_lr_scale(models: int) -> float:
    """The multiple of the learning rate every shard trains at: P^(5/6) for P models up to 16,
    16^(5/6) beyond; 1 for one shard."""
    return float(np.power(float(min(models, MAX_MULTIPLE_MODELS)), 5.0 / 6.0))


# Beyond this many models the passes stop growing: at 16 models, with the meetings in
# proportion to the corpus, 6 passes for 5 epochs kept one model's quality on both corpora
# measured, where the formula's 7 scored higher on one of them but cost a seventh more
# training, past the time allowed (docs/design/experiment-log.md#board-and-six-passes).
MAX_PASSES_MODELS = 4


def passes(epochs: int, models: int) -> int:
    """Passes over the corpus that give ``models`` averaged models about one model's training
    in ``epochs`` epochs: floor(epochs x min(P, 4)^(1/6)), never fewer than ``epochs``.

    Why: P copies at P^(5/6) times the rate, averaged, move every row P^(-1/6) as far per pair
    as one model (docs/design/experiment-log.md#rate-not-drift, #more-passes); the larger multiple that
    would make up for it diverges, more passes do not. Rounded down, so the averaged rows never
    travel further in all than one model's; beyond 4 models the passes stop growing, so the
    time does too (``MAX_PASSES_MODELS``).
    """
    capped = min(max(models, 1), MAX_PASSES_MODELS)
    return max(epochs, math.floor(epochs * capped / shard_lr_scale(capped) + 1e-9))  # the step's shortfall


def learning_rate(alpha: float, min_alpha: float, progress: float) -> float:
    """Linear decay from alpha at progress 0 to min_alpha at progress 1 (of the whole run)."""
    return alpha - (alpha - min_alpha) * progress


@dataclass(frozen=True)
class Schedule:
    alpha: float
    min_alpha: float
    epochs: int
    lr_scale: float = 1.0  # every shard's learning rate is multiplied by this (shard_lr_scale of the models averaged)
    # the registered objective that trains (objectives.py); the job passes --objective's
    objective: str = "negative_sampling"


@dataclass
class ShardResult:
    """What a training task reports besides its deltas (which it writes to a file)."""

    shard: int
    loss: float
    examples: int
    seconds: float = 0.0  # the task's time and its kernel time, for profiling
    kernel_seconds: float = 0.0

    def plus(self, other: ShardResult) -> ShardResult:
        """These statistics with another segment's of the same shard added."""
        return ShardResult(
            self.shard,
            self.loss + other.loss,
            self.examples + other.examples,
            self.seconds + other.seconds,
            self.kernel_seconds + other.kernel_seconds,
        )


@dataclass
class EpochResult:
    """An epoch's training, summed over its rounds and tasks."""

    model_dir: str  # the epoch's final model, as blocks
    loss: float = 0.0  # summed over examples
    examples: int = 0
    task_seconds: float = 0.0  # summed over tasks
    kernel_seconds: float = 0.0
    models: int = 0  # models averaged in the epoch's last round
    worker_peaks: dict[int, float] = field(default_factory=dict)  # pid -> peak RSS MiB
    jvm_peaks: dict[int, float] = field(default_factory=dict)
    io: dict[str, int] = field(default_factory=dict)  # bytes read and written, per side, over the rounds
    checksums: list[int] = field(default_factory=list)  # CRC-32 of each block file of model_dir

    def add_io(self, **counts: int) -> None:
        for key, value in counts.items():
            self.io[key] = self.io.get(key, 0) + value


def shard_cuts(n: int, sync: int, syncs: int, hot: HotSync | None) -> list[int]:
    """Row boundaries of a shard of ``n`` rows in round ``sync`` of ``syncs``: the round's first
    row, the rows of its hot-row meetings (``HotSync.points``) and its end."""
    first, stop = n * sync // syncs, n * (sync + 1) // syncs
    if hot is None:
        return [first, stop]
    return [first, *(n * j // hot.per_epoch for j in hot.points(sync, syncs)), stop]


class Segments:
    """Rows start..stop of a tuples file of ``rows`` rows, read once and handed out segment by segment.

    A round with meetings trains a shard in many short segments; reading the row groups afresh
    for each would decode every row group many times over.
    """

    def __init__(self, path: str, rows: int, start: int, stop: int) -> None:
        self.rows = rows
        self.position = start
        self._groups = storage.iter_row_range(path, start, stop)
        self._rest: Any = None

    def upto(self, stop: int) -> Iterator[Any]:
        """Tables of the rows from the current position up to ``stop``."""
        while self.position < stop:
            if self._rest is None:
                self._rest = next(self._groups)
            take = min(len(self._rest), stop - self.position)
            yield self._rest.slice(0, take)
            self._rest = self._rest.slice(take) if take < len(self._rest) else None
            self.position += take


def train_shard(  # noqa: PLR0913  (the keyword-only rest says where in a round; all optional)
    tuples_file: str,
    emb: np.ndarray,
    theta: np.ndarray,
    epoch: int,
    schedule: Schedule,
    *,
    sync: int = 0,
    syncs: int = 1,
    shard: int = 0,
    clock: SharedClock | None = None,
    counter: progress.Counter | None = None,
    rows: tuple[int, int] | None = None,
    segments: Segments | None = None,
) -> ShardResult:
    """SGD on (emb, theta), in place, over round ``sync`` of ``syncs`` of one tuples file (its rows
    n*sync/syncs up to n*(sync+1)/syncs), or over ``rows`` (start, stop) when given. Training in
    place keeps one copy of the model per task.

    ``epoch`` counts from 1. The learning rate follows global progress: a shard at row i of n
    in epoch e is at (e - 1 + i/n) / epochs of the run, because all shards of an epoch advance
    side by side. With a ``clock`` (hogwild) it is the executor's progress through the epoch instead.
    ``segments`` (with ``rows``) hands out the rows from a pass over the file already under way.
    """
    started = time.perf_counter()
    n = segments.rows if segments else storage.num_rows(tuples_file)
    first, stop = rows or (n * sync // syncs, n * (sync + 1) // syncs)
    rows_per_epoch = max(n, 1) if clock is None else max(clock.total, 1) / clock.models
    drop = schedule.lr_scale * (schedule.alpha - schedule.min_alpha) / rows_per_epoch / schedule.epochs
    loss = 0.0
    done = first
    examples = 0
    kernel_seconds = 0.0
    objective = objectives.get(schedule.objective)
    groups = segments.upto(stop) if segments else storage.iter_row_range(tuples_file, first, stop)
    for group in groups:
        batch = group.combine_chunks()
        if clock is None:
            progress_ = (epoch - 1 + done / max(n, 1)) / schedule.epochs
        else:
            trained = clock.start + clock.advance(len(batch)) * clock.models
            progress_ = (epoch - 1 + min(1.0, trained / max(clock.total, 1))) / schedule.epochs
        lr = learning_rate(schedule.alpha, schedule.min_alpha, progress_)
        t = time.perf_counter()
        # the rate is lr times the shard multiple, falling by drop a row
        batch_loss, pairs = objective.train(batch, emb, theta, schedule.lr_scale * lr, -drop)
        kernel_seconds += time.perf_counter() - t
        loss += batch_loss
        examples += pairs
        done += len(batch)
        if counter is not None:
            counter.add(len(batch))
    return ShardResult(shard, loss, examples, time.perf_counter() - started, kernel_seconds)


def train_task(exchange: Exchange, rnd: Round, schedule: Schedule, task: int) -> dict[str, Any]:
    """Task ``task``'s part of a round, in a Spark task: its shards (task, task + tasks, ...), each
    on the model the exchange gives, segment by segment between the hot-row meetings; then each
    shard's deltas written. Reports each shard's statistics (and where its deltas went)."""
    meets = exchange.meetings(rnd, task)
    own = list(range(task, len(rnd.shard_rows), rnd.tasks))
    models = {s: exchange.open(rnd, s) for s in own}
    files = {s: storage.join(rnd.tuples_dir, part_name(s)) for s in own}
    sizes = {s: storage.num_rows(files[s]) for s in own}
    cuts = {s: shard_cuts(sizes[s], rnd.sync, rnd.syncs, rnd.hot) for s in own}
    # one pass over each shard's row groups for the whole round, however many meetings cut it
    passes = {s: Segments(files[s], sizes[s], cuts[s][0], cuts[s][-1]) for s in own}
    counters = {s: progress.Counter(progress_dir(rnd.round_dir), s) for s in own}
    stats = {s: ShardResult(s, 0.0, 0) for s in own}
    points = rnd.hot.points(rnd.sync, rnd.syncs) if rnd.hot else []
    with meets or nullcontext():
        for i in range(len(points) + 1):
            for s in own:
                m = models[s]
                rows = (cuts[s][i], cuts[s][i + 1])
                seg = train_shard(
                    files[s],
                    m.emb,
                    m.theta,
                    rnd.epoch,
                    schedule,
                    shard=s,
                    clock=m.clock,
                    counter=counters[s],
                    rows=rows,
                    segments=passes[s],
                )
                stats[s] = stats[s].plus(seg)
            if i < len(points) and meets is not None:
                meets.meet(points[i], {s: (models[s].emb, models[s].theta) for s in own})
    return {"shards": [_finish_shard(rnd, s, models[s], stats[s], counters[s]) for s in own]}


def _finish_shard(
    rnd: Round, shard: int, model: ShardModel, stats: ShardResult, counter: progress.Counter
) -> dict[str, Any]:
    """Write one shard's deltas; its statistics as a small dict."""
    counter.flush()
    with model.writing:
        read, touched = blocks.write_delta(model.delta, model.emb, model.theta, rnd.model_dir, rnd.shape)
    pid, peak = memory.worker_sample()
    jvm = memory.jvm_sample()
    return {
        **stats.__dict__,
        "delta": model.delta,
        "read": model.read_bytes + read,
        "written": rnd.shape.nbytes,
        "touched_rows": touched,
        "executor": tasks.executor_id(),
        "worker": [pid, peak],
        "jvm": list(jvm) if jvm else None,
    }


def progress_dir(round_dir: str) -> str:
    return storage.join(round_dir, "progress")


@dataclass(frozen=True)
class EpochPlan:
    """Everything about an epoch's training that is fixed before it starts."""

    work_dir: str  # the run's working directory for models and deltas
    tuples_dir: str  # this epoch's tuples
    shape: ModelShape
    epoch: int
    syncs: int
    run: str
    shard_rows: tuple[int, ...]
    models: int
    words: int  # corpus words, for the progress lines' rates
    report_delay: float
    hot: HotSync | None = None  # mid-round averaging of the hottest rows
    tasks: int = 0  # tasks per round, each training shards task, task + tasks, ... (0: one per shard)
    meet_root: str = ""  # where the rounds' meeting files go (meetings.py), if not in their round directories
    restarts: int = 0  # times a failed round with meetings runs again (run_round)
    final_dir: str = ""  # where the epoch's last round writes its model (a checkpoint's), if not in work_dir


def train_epoch(
    spark: SparkSession, exchange: Exchange, plan: EpochPlan, model_dir: str, schedule: Schedule
) -> EpochResult:
    """One epoch over every shard in ``plan.syncs`` rounds, starting from the model in ``model_dir``.

    Each round writes its model to ``work_dir/model-epoch=E-sync=S/``, the last to ``final_dir``
    if set; the previous round's model is deleted when it is a working copy (a checkpoint is
    left to the checkpoint rules).
    """
    result = EpochResult(model_dir)
    started = time.monotonic()
    total = sum(plan.shard_rows)
    for sync in range(plan.syncs):
        name = f"epoch={plan.epoch}-sync={sync}"
        rnd = Round(
            model_dir,
            storage.join(plan.work_dir, name),
            plan.tuples_dir,
            plan.shape,
            plan.epoch,
            sync,
            plan.syncs,
            plan.run,
            plan.shard_rows,
            plan.models,
            plan.hot,
            plan.tasks or len(plan.shard_rows),
            storage.join(plan.meet_root, name) if plan.meet_root else "",
        )
        before = sum(n * sync // plan.syncs for n in plan.shard_rows)
        with progress.report(
            progress_dir(rnd.round_dir),
            f"EPOCH {plan.epoch}",
            objectives.get(schedule.objective).unit,
            total,
            plan.words,
            plan.report_delay,
            offset=before,
            started=started,
        ) as poll:
            results = run_round(spark, exchange, rnd, schedule, plan.restarts)
        stats = [s for r in results for s in r["shards"]]
        deltas = sorted({s["delta"] for s in stats})
        next_dir = storage.join(plan.work_dir, f"model-epoch={plan.epoch}-sync={sync}")
        if plan.final_dir and sync == plan.syncs - 1:
            next_dir = plan.final_dir
        read, written, result.checksums = average(spark, model_dir, deltas, next_dir, plan.shape)
        storage.delete_dir(rnd.round_dir)
        if model_dir.startswith(plan.work_dir + "/"):
            storage.delete_dir(model_dir)
        model_dir = result.model_dir = next_dir
        result.models = len(deltas)
        result.add_io(
            tasks_read=read + sum(s["read"] for s in stats),
            tasks_written=written + sum(s["written"] for s in stats),
            driver_read=poll.bytes_read,
            rounds=1,
            deltas=len(stats),
            delta_rows=2 * plan.shape.vocab_size * len(stats),
            touched_rows=sum(s["touched_rows"] for s in stats),
        )
        _add_stats(result, stats)
    return result


def run_round(spark: SparkSession, exchange: Exchange, rnd: Round, schedule: Schedule, restarts: int = 0) -> list[Any]:
    """The round's tasks as one Spark job; with meetings, in a fresh meeting directory each time,
    deleted after it: under ``rnd.meet_dir`` if set (shared memory), else the round's directory.

    Spark never retries a failed barrier stage that returns results ("Could not recover from a
    failed barrier ResultStage"), so a round with meetings whose task failed, or whose executor
    was lost, runs again here, up to ``restarts`` times (as Spark retries other tasks): the
    same seed gives the same vectors. A round whose board found shared memory full (its tasks
    stop before training, ``meetings.reserve``) runs again at once meeting through files, which
    give the same vectors; that does not count as a restart.
    """
    barrier = exchange.barrier(rnd)
    restarts = restarts if barrier else 0  # Spark retries the tasks of other stages itself
    rnd = _where_to_meet(rnd)
    failures = 0
    while True:
        base = rnd.meet_dir or storage.join(rnd.round_dir, "meetings")
        run = dataclasses.replace(rnd, meet_dir=storage.join(base, uuid.uuid4().hex)) if rnd.hot else rnd
        try:
            return tasks.run_tasks(spark, rnd.tasks, functools.partial(train_task, exchange, run, schedule), barrier)
        except Exception as e:
            full = [line.strip() for line in str(e).splitlines() if BoardFullError.__name__ in line]
            if rnd.meet_dir and full:
                log.warning("epoch %d: %s; the round meets through files instead", rnd.epoch, full[-1])
                rnd = dataclasses.replace(rnd, meet_dir="")
                continue
            if failures == restarts:
                raise
            failures += 1
            log.warning("epoch %d: a round of training failed (%s); running it again", rnd.epoch, _reason(e))
        finally:
            if run.meet_dir:
                storage.delete_dir(run.meet_dir)


def _where_to_meet(rnd: Round) -> Round:
    """The round as it will run: meeting through files if its board in shared memory has no room
    there now (something else filled /dev/shm since the run chose it)."""
    if not rnd.meet_dir or rnd.hot is None:
        return rnd
    points = rnd.hot.points(rnd.sync, rnd.syncs)
    size = board_bytes(len(rnd.shard_rows), rnd.hot, points, rnd.shape.vocab_size, rnd.shape.vector_size)
    if board_fits(size):
        return rnd
    log.warning(
        "epoch %d: no room in /dev/shm for the hot-row meetings' board (%.1f MiB); the round meets through "
        "files instead (free space there: df -h /dev/shm)",
        rnd.epoch,
        size / 2**20,
    )
    return dataclasses.replace(rnd, meet_dir="")


def _reason(error: BaseException) -> str:
    """The line of a failed job's error that says why (Spark's wraps it in a Java stack trace)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for word in ("Failure", "Error:", "Exception:"):
        for line in lines:
            if word in line and not line.startswith("An error occurred while calling"):
                return line[:300]
    return lines[0][:300] if lines else type(error).__name__


def _add_stats(result: EpochResult, stats: list[dict[str, Any]]) -> None:
    for s in stats:
        result.loss += s["loss"]
        result.examples += s["examples"]
        result.task_seconds += s["seconds"]
        result.kernel_seconds += s["kernel_seconds"]
        memory.merge_peaks(result.worker_peaks, {s["worker"][0]: s["worker"][1]})
        if s["jvm"]:
            memory.merge_peaks(result.jvm_peaks, {s["jvm"][0]: s["jvm"][1]})
