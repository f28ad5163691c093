"""What a run will do, decided from its settings and its cluster, and whether it fits: the way
models are combined, the hot-row schedule, the passes, how often a failed round runs again, the
vocabulary's size and the model's memory. Each decision is logged with its reason."""

from __future__ import annotations

import logging
import math
from typing import Any

from pyspark.sql import SparkSession

from w2v_spark.config import TrainConfig
from w2v_spark.errors import DataError, TrainingError
from w2v_spark.job.metrics import EpochRecord
from w2v_spark.runtime import memory, tasks
from w2v_spark.runtime.master import Master
from w2v_spark.text.tokens import read_lines
from w2v_spark.train import objectives, rounds
from w2v_spark.train.exchange import Exchange
from w2v_spark.train.exchange import get as get_exchange
from w2v_spark.train.hot_rows import MEETING_STEP, TOKENS_PER_STEP, HotSync, meetings_per_epoch

log = logging.getLogger("w2v_spark")


def exchange_strategy(cfg: TrainConfig) -> Exchange:
    """The exchange strategy the settings ask for (exchange.py)."""
    return get_exchange("hogwild" if cfg.hogwild else "average")


def run_passes(cfg: TrainConfig) -> int:
    """Passes over the corpus this run trains: ``epochs``, or more for averaged shard models
    (``rounds.passes``; docs/design/averaging.md#passes)."""
    if not cfg.scale_epochs:
        return cfg.epochs
    return rounds.passes(cfg.epochs, exchange_strategy(cfg).planned_models(cfg.shards))


def check_converging(record: EpochRecord, cfg: TrainConfig, vocab_size: int) -> None:
    """Refuse a model whose loss blew up, before it is checkpointed or exported.

    A loss that is not finite or above ten times an untrained model's (``untrained_loss``)
    means SGD diverged and the vectors are noise: a learning rate too large for the corpus, or
    too many shards each stepping at the multiple (docs/design/averaging.md#rate-multiple).
    """
    untrained = objectives.get(cfg.objective).untrained_loss(cfg.negative, vocab_size)
    if math.isfinite(record.loss) and record.loss <= 10 * untrained:
        return
    raise TrainingError(
        f"training diverged in epoch {record.epoch} (mean loss {record.loss:.3g} per example, an untrained "
        f"model's is {untrained:.2f}) with {cfg.shards} shard(s) each at {record.lr_multiple:.2f} times "
        f"--alpha {cfg.alpha}; lower --alpha or train fewer shards (--partitions)"
    )


def hot_sync(spark: SparkSession, cfg: TrainConfig, exchange: Exchange, tokens: int) -> tuple[HotSync | None, int]:
    """Whether the shards meet mid-round to average the hottest rows, how often (unset: by the
    corpus's ``tokens``), and in how many tasks (logged).

    Meeting shards must run at once, so a round is a barrier stage of min(shards, task slots)
    tasks, each training its share of the shards side by side; the vectors do not depend on
    that split (docs/design/averaging.md#rounds). Only the reproducible exchange meets.
    """
    shards = cfg.shards
    if shards == 1 or not exchange.reproducible:
        return None, 0
    master = Master.parse(tasks.spark_setting(spark, "spark.master") or "")
    dynamic = (tasks.spark_setting(spark, "spark.dynamicAllocation.enabled") or "false").lower() == "true"
    why = "--hot-words is 0" if cfg.hot_words == 0 else ""
    if dynamic and not why:
        why = (
            "barrier stages cannot run with spark.dynamicAllocation.enabled (the vectors differ from a run without it)"
        )
    hint = (
        "averaging costs accuracy against one model (docs/design/averaging.md#shards-and-quality): --hogwild "
        "trains one model per executor instead, not bit-reproducible"
    )
    if why:
        log.info(
            "training: %d shard models averaged %d time(s) per epoch, no hot-row meetings (%s); %s",
            shards,
            cfg.syncs_per_epoch,
            why,
            hint,
        )
        return None, 0
    # A barrier stage wider than the tasks Spark runs at once is never admitted (Spark retries
    # for minutes, then fails); a narrower round gives the same vectors, so fit the round to them.
    slots = tasks.concurrent_tasks(spark, master.slots or tasks.task_slots(spark))
    hot = HotSync(cfg.hot_words, cfg.hot_syncs_per_epoch or meetings_per_epoch(tokens))
    per = f"{MEETING_STEP} per {TOKENS_PER_STEP / 1e6:g}M of the corpus's {tokens:,} tokens"
    how = "--hot-syncs-per-epoch" if cfg.hot_syncs_per_epoch else per
    round_tasks = min(shards, slots)
    log.info(
        "training: %d shard models averaged %d time(s) per epoch and their %d most frequent words' rows %d "
        "times (%s), in %d task(s), reproducibly; %s",
        shards,
        cfg.syncs_per_epoch,
        hot.rows,
        hot.per_epoch,
        how,
        round_tasks,
        hint,
    )
    return hot, round_tasks


def round_restarts(spark: SparkSession, master: Master) -> int:
    """Times a failed round with meetings runs again (``rounds.run_round``): as often as Spark
    retries a failed task, spark.task.maxFailures − 1 (3 by default), none on ``local[N]`` and
    F − 1 on ``local[N,F]``, where Spark itself ignores that setting."""
    if master.task_retries is not None:
        return master.task_retries
    setting = tasks.spark_setting(spark, "spark.task.maxFailures") or "4"
    return max(0, int(setting) - 1) if setting.strip().isdigit() else 3


MEMORY_SETTINGS = (
    "spark.executor.cores",
    "spark.executor.pyspark.memory",
    "spark.executor.memory",
    "spark.executor.memoryOverhead",
    "spark.executor.memoryOverheadFactor",
)


def check_memory(spark: SparkSession, vocab_size: int, cfg: TrainConfig, master: Master) -> None:
    """Fail before the corpus is encoded if the model cannot fit (see memory.check_model_fits)."""
    model = memory.model_bytes(vocab_size, cfg.vector_size)
    tasks_at_once = min(cfg.shards, master.slots or cfg.shards)
    if cfg.hot_words and not cfg.hogwild:
        tasks_at_once = cfg.shards  # meeting shards all train at once, several to a task if slots are few
    conf = {k: v for k in MEMORY_SETTINGS if (v := tasks.spark_setting(spark, k)) is not None}
    problem = memory.check_model_fits(model, master, conf, tasks_at_once, memory.available_bytes())
    if problem:
        raise DataError(problem)
    log.info(
        "model: %s words x %d dimensions = %s per copy (one per shard training, %d at once; none in the driver)",
        f"{vocab_size:,}",
        cfg.vector_size,
        memory.gib(model),
        tasks_at_once,
    )


def check_vocabulary(size: int, cfg: TrainConfig) -> None:
    objective = objectives.get(cfg.objective)
    limit = objective.max_vocab
    if limit is not None and size > limit:
        raise DataError(
            f"the {cfg.objective} objective is limited to {limit:,} words and the vocabulary has {size:,}; "
            f"set --max-vocab-size {limit}, raise --min-count, or use --objective negative_sampling"
        )
    # the negatives' draws reject the words around their pair: more words than that must exist
    need = objective.rejection_span(cfg.window) + 1
    if objective.uses_negatives and size < need:
        per_pair = objectives.get("negative_sampling").rejection_span(cfg.window) + 1
        other = f", or use --objective negative_sampling (needs {per_pair})" if size >= per_pair else ""
        raise DataError(
            f"the vocabulary has only {size} words, too few for negative sampling with window={cfg.window} "
            f"(--objective {cfg.objective} needs at least {need}); add text, lower --min-count or lower --window"
            f"{other}"
        )


def empty_vocabulary(spark: SparkSession, tokens: Any, cfg: TrainConfig) -> DataError:
    """Why the vocabulary is empty, in one line: no text, no tokens, or min_count too high."""
    from pyspark.sql import functions as F

    inputs = ", ".join(cfg.input) or "the DataFrame"
    counts = tokens.select(F.explode("tokens").alias("w")).groupBy("w").count()
    row = counts.agg(F.count("*").alias("distinct"), F.max("count").alias("top")).first()
    distinct, top = (row["distinct"], row["top"]) if row is not None else (0, None)
    if distinct == 0:
        if not cfg.input or read_lines(spark, cfg.input).limit(1).count() == 0:
            return DataError(f"the input is empty ({inputs}); check --input")
        return DataError(
            f"the input has no tokens: no text in {inputs} matches the token pattern; check --input or --token-pattern"
        )
    return DataError(
        f"no word occurs at least min_count={cfg.min_count} times: the input has {distinct:,} distinct words "
        f"and the most frequent occurs {top:,} times; lower --min-count (to {top} or less) or add text"
    )
