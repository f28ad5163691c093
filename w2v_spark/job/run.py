"""The training job end to end: tokenize -> vocabulary -> corpus shards -> per-epoch tuples and
training -> export. Spark comes in ready-made; every stage lives in its own module.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from w2v_spark import __version__, kernels
from w2v_spark.config import TrainConfig, redact_url
from w2v_spark.errors import ConfigError, DataError
from w2v_spark.io import formats
from w2v_spark.job import checkpoints, outputs
from w2v_spark.job.layout import Layout, layout
from w2v_spark.job.metrics import EpochRecord, Peaks, RunMetrics
from w2v_spark.job.plan import (
    check_converging,
    check_memory,
    check_vocabulary,
    empty_vocabulary,
    exchange_strategy,
    hot_sync,
    round_restarts,
    run_passes,
)
from w2v_spark.job.preflight import Start, check_output
from w2v_spark.runtime import progress, storage, tasks
from w2v_spark.runtime.master import Master
from w2v_spark.text.corpus import ShardStats, encode, shard, write_corpus
from w2v_spark.text.tokens import check_token_pattern, read_lines, tokenize
from w2v_spark.text.vocabulary import Vocabulary, build_vocabulary, keep_probabilities, noise_distribution, read_words
from w2v_spark.train import blocks, hot_rows, objectives, rounds, tuples
from w2v_spark.train.blocks import ModelShape
from w2v_spark.train.exchange import Exchange
from w2v_spark.train.hot_rows import HotSync, shared_memory_root
from w2v_spark.train.rounds import init_model

log = logging.getLogger("w2v_spark")


def read_corpus(spark: SparkSession, cfg: TrainConfig) -> DataFrame:
    """The CLI's corpus: the files of ``cfg.input``, tokenized as ``Tokenizer`` does, cut into
    sentences as ``Word2Vec.fit`` does (tokenize.py). Checks the token pattern first."""
    error = check_token_pattern(spark, cfg.token_pattern)
    if error:
        raise ConfigError(f"token_pattern is not a valid Java regular expression ({error}); fix --token-pattern")
    lines = read_lines(spark, cfg.input)
    return tokenize(
        lines, cfg.token_pattern, cfg.lowercase, cfg.max_sentence_length, max_token_length=cfg.max_token_length
    )


def run(
    cfg: TrainConfig, spark: SparkSession, tokens: DataFrame, started: float | None = None, word2vec_files: bool = True
) -> dict[str, Any]:
    """Train on ``tokens`` (sentences as ``tokens array<string>``) and write every output; returns
    the metrics also written to metrics.json. The one core of both interfaces: the CLI passes
    :func:`read_corpus`, ``Word2Vec.fit`` its DataFrame (and no word2vec text or binary files).

    Holds the output's lease throughout, and checks the output again under it. On failure the
    staging directory is removed unless it holds a checkpoint to resume from or a finished run
    to publish, so a failed run leaves nothing behind that a rerun would trip over and loses
    nothing a rerun could use.
    """
    with outputs.lease(cfg.output) as held:
        start = check_output(cfg)
        job = _start_job(cfg, spark, started, start, held, word2vec_files)
        try:
            if start.action == "publish":
                return _publish_sealed(job)
            corpus = _prepare_corpus(job, tokens)
            model_dir, epochs = _train(job, corpus)
            return _finish(job, corpus, model_dir, epochs).to_dict()
        except BaseException:
            _after_failure(job.staging)
            raise


def _after_failure(staging: str) -> None:
    """Keep a staging directory that a rerun with --resume can use; remove any other."""
    try:
        if outputs.read_manifest(staging):
            log.error("%s holds the finished run: rerun with --resume to publish it", staging)
        elif (found := checkpoints.latest(staging, verify_data=False)) is not None:
            log.error("%s keeps the checkpoint of epoch %d: rerun with --resume to continue", staging, found.epoch)
        else:
            storage.delete_dir(staging)
    except Exception as cleanup:  # never hide the original error behind a cleanup problem
        log.warning("could not clean up %s: %s", staging, cleanup)


@dataclass
class Job:
    """A run's fixed surroundings, handed to each of its steps."""

    spark: SparkSession
    cfg: TrainConfig  # with partitions resolved
    master: Master  # the session's, parsed once
    run: str  # this run's id: in the manifest, and naming its executor-local files
    staging: str  # DIR.inprogress: everything is written here, then published (outputs.py)
    paths: Layout  # under staging
    resume_from: checkpoints.Checkpoint | None
    lease: outputs.Lease
    started: float  # time.perf_counter() at process start (or at run() for the Python API)
    word2vec_files: bool  # write vectors.txt and vectors.bin (the CLI), or only vectors/ (fit)
    inputs: dict[str, Any] | None = None  # what identifies the input files (checkpoints.input_identity)
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage, for metrics.json
    peaks: Peaks = field(default_factory=Peaks)


@dataclass
class Corpus:
    """What the corpus stages leave for training: the vocabulary and the shards' files."""

    vocab: Vocabulary
    shards: list[ShardStats]
    words: int
    sentences: int


def _start_job(
    cfg: TrainConfig,
    spark: SparkSession,
    started: float | None,
    start: Start,
    held: outputs.Lease,
    word2vec_files: bool,
) -> Job:
    """Resolve the shards, then either continue the staging directory's checkpoint (--resume),
    or start a fresh staging directory (what was there was checked to be this tool's)."""
    t_start = time.perf_counter() if started is None else started
    startup = time.perf_counter() - t_start
    master = Master.parse(tasks.spark_setting(spark, "spark.master") or "")
    cfg = dataclasses.replace(cfg, partitions=cfg.partitions or master.slots or tasks.task_slots(spark))
    _warn_local_output(cfg.output, master)
    staging = outputs.staging_dir(cfg.output)
    if start.checkpoint is not None and (problem := checkpoints.mismatch(start.checkpoint, cfg)):  # with partitions
        if not cfg.overwrite:
            raise ConfigError(f"{problem}; rerun with the same settings and input, or pass --overwrite to start over")
        start = Start("fresh", why=problem)
    job = Job(
        spark, cfg, master, uuid.uuid4().hex, staging, layout(staging), start.checkpoint, held, t_start, word2vec_files
    )
    if start.action == "fresh":
        if start.why:
            log.warning("starting over in %s: %s", staging, start.why)
        outputs.start_staging(staging, job.run)
    job.inputs = checkpoints.input_identity(cfg.input)
    job.stages["startup"] = startup
    return job


def _finish(job: Job, corpus: Corpus, model_dir: str, epochs: list[EpochRecord]) -> RunMetrics:
    """Stage 5 and the publish: vectors and metrics.json, sealed by _SUCCESS (the manifest);
    then the working files go, and the sealed directory is published."""
    cfg, shape = job.cfg, ModelShape(corpus.vocab.size, job.cfg.vector_size)
    t = time.perf_counter()
    export_vectors(job.spark, job.paths, corpus.vocab, model_dir, shape, job.word2vec_files)
    job.stages["export"] = time.perf_counter() - t
    metrics = _metrics(job, corpus, shape, epochs)
    metrics.total_seconds = time.perf_counter() - job.started
    formats.write_metrics(job.paths.metrics, metrics.to_dict())
    outputs.seal(job.staging, job.run, _published_paths(job.paths, cfg.keep_tuples, job.word2vec_files))
    _remove_working_files(job.staging, job.paths)
    job.lease.check()
    outputs.publish(job.staging, cfg.output)
    log.info(
        "wrote %s (%s words x %d) in %.1f s",
        cfg.output,
        f"{shape.vocab_size:,}",
        shape.vector_size,
        metrics.total_seconds,
    )
    mem = metrics.memory
    log.info(
        "peak memory: driver Python %.0f MiB, JVM %s MiB, Python workers up to %.0f MiB (%d processes)",
        mem["driver_python_mb"],
        "?" if mem["jvm_max_mb"] is None else f"{mem['jvm_max_mb']:.0f}",
        mem["python_worker_max_mb"],
        len(mem["python_workers_mb"]),
    )
    return metrics


def _published_paths(paths: Layout, keep_tuples: bool, word2vec_files: bool) -> list[str]:
    """The staging directory's outputs, as the manifest lists them (docs/output-format.md#layout)."""
    published = [paths.vocab, paths.vectors, paths.metrics]
    published += [paths.text, paths.binary] if word2vec_files else []
    return published + ([paths.corpus, paths.tuples] if keep_tuples else [])


def _publish_sealed(job: Job) -> dict[str, Any]:
    """--resume of a run that finished but was not published (the publish failed or was killed)."""
    log.info("publishing the finished run sealed in %s", job.staging)
    _remove_working_files(job.staging, job.paths)
    job.lease.check()
    outputs.publish(job.staging, job.cfg.output)
    fs, p = storage.filesystem(storage.join(job.cfg.output, "metrics.json"))
    with fs.open_input_stream(p) as fh:
        metrics: dict[str, Any] = json.loads(fh.read().decode("utf-8"))
    log.info("wrote %s", job.cfg.output)
    return metrics


def _metrics(job: Job, corpus: Corpus, shape: ModelShape, epochs: list[EpochRecord]) -> RunMetrics:
    """The run's record, written as metrics.json (metrics.py)."""
    return RunMetrics(
        version=__version__,
        config=job.cfg.to_public_dict(),
        spark={
            "version": job.spark.version,
            "master": redact_url(job.master.url),
            "connect": tasks.is_connect(job.spark),
        },
        executor_package_paths=sorted(job.peaks.packages),
        executors_seen=len(job.peaks.executors),
        vocab_size=corpus.vocab.size,
        model={**shape.to_dict(), "blocks": shape.blocks, "bytes": shape.nbytes},
        corpus={
            "sentences": corpus.sentences,
            "words": corpus.words,
            "shards": [dataclasses.asdict(s) for s in corpus.shards],
        },
        stages=job.stages,
        epochs=epochs,
        resumed_from_epoch=None if job.resume_from is None else job.resume_from.epoch,
        memory=job.peaks.report(job.master),
    )


def _warn_local_output(output: str, master: Master) -> None:
    if master.url and not master.local and "://" not in output:
        log.warning(
            "output %s is a local path but Spark runs on %s: executors write corpus/, tuples/ and the model "
            "blocks there, so every executor must see the same directory; otherwise use a shared URI "
            "(hdfs://, s3a://)",
            output,
            master.url,
        )


def _prepare_corpus(job: Job, tokens: DataFrame) -> Corpus:
    """Stages 1-3a: tokens, the vocabulary (checked, written to vocab/), the id-encoded shards."""
    cfg, spark = job.cfg, job.spark
    t = time.perf_counter()
    # Kept for the encoding pass so the text is read and tokenized once; spills to disk rather
    # than failing when memory is short.
    tokens = tokens.persist(StorageLevel.MEMORY_AND_DISK)
    with progress.spark_stages(spark, "VOCABULARY", cfg.report_delay):
        vocab = build_vocabulary(tokens, cfg.min_count, cfg.max_vocab_size)
    if vocab.size == 0:
        raise empty_vocabulary(spark, tokens, cfg)
    check_vocabulary(vocab.size, cfg)
    if job.word2vec_files:  # refused now rather than after training, when the files are written
        formats.check_words(vocab.words, "change --token-pattern so that it matches no whitespace")
    _check_resumable(job, vocab)
    check_memory(spark, vocab.size, cfg, job.master)
    storage.write_table(vocab.to_arrow(), job.paths.vocab)
    job.stages["vocabulary"] = time.perf_counter() - t
    log.info(
        "vocabulary: %s words (min_count=%d), %s occurrences", f"{vocab.size:,}", cfg.min_count, f"{vocab.total:,}"
    )
    t = time.perf_counter()
    encoded = encode(tokens, job.paths.vocab_file, cfg.objective)
    with progress.spark_stages(spark, "CORPUS", cfg.report_delay):
        shards = write_corpus(shard(encoded, cfg.shards, cfg.seed), job.paths.corpus)
    tokens.unpersist()
    corpus = Corpus(vocab, shards, sum(s.words for s in shards), sum(s.sentences for s in shards))
    job.stages["corpus"] = time.perf_counter() - t
    log.info("corpus: %s sentences, %s words in %d shards", f"{corpus.sentences:,}", f"{corpus.words:,}", cfg.shards)
    return corpus


def _check_resumable(job: Job, vocab: Vocabulary) -> None:
    """A resumed checkpoint's rows must be this vocabulary's words, id for id: refuse another
    input's, or with --overwrite start over (the input may change between a scheduler's retries)."""
    if job.resume_from is None:
        return
    problem = checkpoints.vocabulary_mismatch(job.resume_from, vocab.digest(), vocab.size)
    if problem is None:
        return
    if not job.cfg.overwrite:
        raise ConfigError(f"{problem}; rerun on the same input, or pass --overwrite to start over")
    log.warning("starting over in %s: %s", job.staging, problem)
    checkpoints.discard(job.staging)
    job.resume_from = None


def _start_model(job: Job, shape: ModelShape) -> tuple[str, list[EpochRecord]]:
    """The model training starts from (a fresh one, or the checkpoint's) and the epochs already done."""
    resume_from = job.resume_from
    storage.delete_dir(job.paths.work)  # a killed run's rounds: nothing there is needed any more
    if resume_from is None:
        model_dir = storage.join(job.paths.work, "model-init")
        init_model(job.spark, model_dir, shape, job.cfg.seed)
        return model_dir, []
    # Everything before is recomputed identically from the input; training goes on from the
    # checkpoint's blocks, and every later epoch draws from (seed, epoch, shard) as it would have.
    if resume_from.state.get("model") != shape.to_dict():  # the layout follows from the settings checked
        raise DataError(
            f"the checkpoint in {resume_from.path} holds a model of another shape ({resume_from.state.get('model')}) "
            f"than this run's ({shape.to_dict()}); pass --overwrite without --resume to start over"
        )
    log.info("resuming after epoch %d from %s", resume_from.epoch, resume_from.path)
    return resume_from.path, [EpochRecord(**e) for e in resume_from.state["epochs"]]


def _train(job: Job, corpus: Corpus) -> tuple[str, list[EpochRecord]]:
    """Stages 3b-4 for the epochs still to do; returns the final model's directory and every
    epoch's record (a resumed run's earlier ones included)."""
    shape = ModelShape(corpus.vocab.size, job.cfg.vector_size)
    model_dir, epochs = _start_model(job, shape)
    done = len(epochs)
    model_dir = _train_epochs(job, corpus, shape, model_dir, epochs)
    job.stages["training"] = sum(e.seconds for e in epochs[done:])
    return model_dir, epochs


@dataclass(frozen=True)
class _EpochSetup:
    """What every epoch of a run trains with."""

    exchange: Exchange
    hot: HotSync | None
    round_tasks: int
    params: tuples.TupleParams
    tables_bytes: int  # the count tables' file, written by the driver before epoch 1
    schedule: rounds.Schedule
    run_id: str  # names this run's executor-local files (hogwild's shared copies)
    meet_root: str = ""  # where the meetings' files go if not in the round directories (hot_rows.py)


def _train_epochs(job: Job, corpus: Corpus, shape: ModelShape, model_dir: str, epochs: list[EpochRecord]) -> str:
    """Fresh tuples every epoch, then training on them; a checkpoint after each.

    Appends each epoch's record to ``epochs``; returns the directory of the final model.
    """
    cfg = job.cfg
    exchange = exchange_strategy(cfg)
    hot, round_tasks = hot_sync(job.spark, cfg, exchange, int(corpus.vocab.counts.sum()))
    params, tables_bytes = _tuple_params(cfg, corpus.vocab, job.paths)
    schedule = rounds.Schedule(cfg.alpha, cfg.min_alpha, run_passes(cfg), objective=cfg.objective)
    run_id = uuid.uuid4().hex
    setup = _EpochSetup(
        exchange, hot, round_tasks, params, tables_bytes, schedule, run_id, meeting_root(job, hot, shape, run_id)
    )
    if schedule.epochs != cfg.epochs:
        log.info(
            "training: %d passes over the corpus for --epochs %d, as %d averaged models move each row less per pass "
            "than one model (docs/design/averaging.md#passes); --no-scale-epochs trains %d",
            schedule.epochs,
            cfg.epochs,
            cfg.shards,
            cfg.epochs,
        )
    try:
        for epoch in range(len(epochs) + 1, schedule.epochs + 1):
            record, result = _train_epoch(job, corpus, shape, setup, epoch, model_dir)
            check_converging(record, cfg, shape.vocab_size)
            epochs.append(record)
            model_dir = result.model_dir
            job.lease.check()
            if cfg.keep_checkpoints:
                _save_checkpoint(job, corpus.vocab, shape, epochs, result.checksums)
    finally:
        if setup.meet_root:
            hot_rows.release(setup.meet_root)
        _finish_exchange(job, exchange, setup.run_id)
    return model_dir


def _finish_exchange(job: Job, exchange: Exchange, run_id: str) -> None:
    """Remove what the exchange left on executors (hogwild's copies), after success or failure:
    a long-lived session (``fit`` in a notebook, a Connect server) keeps its local directories."""
    try:
        exchange.finish(job.spark, run_id, job.cfg.shards)
    except Exception as e:  # never hide the run's own error behind a cleanup problem
        log.warning("could not remove the run's files on the executors: %s", e)


def _save_checkpoint(
    job: Job, vocab: Vocabulary, shape: ModelShape, epochs: list[EpochRecord], checksums: list[int]
) -> None:
    """Complete the checkpoint of the epoch just trained (its blocks are in place), with what a
    resume checks: the settings, the input, the vocabulary (checkpoints.py)."""
    state = {
        "fingerprint": checkpoints.fingerprint(job.cfg),
        "input": job.inputs,
        "vocabulary": {"size": vocab.size, "sha256": vocab.digest()},
        "epochs": [e.to_dict() for e in epochs],
        "model": shape.to_dict(),
    }
    checkpoints.save(job.staging, len(epochs), state, checksums, keep=job.cfg.keep_checkpoints)


def _train_epoch(
    job: Job, corpus: Corpus, shape: ModelShape, setup: _EpochSetup, epoch: int, model_dir: str
) -> tuple[EpochRecord, rounds.EpochResult]:
    """One epoch: its tuples (stage 3b), then its rounds of training (stage 4); logs its line.
    With checkpoints, the last round writes the model where the epoch's checkpoint goes."""
    cfg, shards = job.cfg, job.cfg.shards
    t = time.perf_counter()
    tstats = tuples.generate_epoch(
        job.spark, job.paths.corpus, job.paths.tuples, setup.params, epoch, corpus.shards, shards, cfg.report_delay
    )
    t_tuples = time.perf_counter() - t
    job.peaks.add_tuples(tstats)
    # The rate multiple follows the number of models that will be averaged: one per shard, or
    # with hogwild one per executor (those the tuple tasks ran on, as executors come and go).
    models = setup.exchange.models(shards, len({s.executor for s in tstats}))
    plan = rounds.EpochPlan(
        job.paths.work,
        tuples.epoch_dir(job.paths.tuples, epoch),
        shape,
        epoch,
        cfg.syncs_per_epoch,
        setup.run_id,
        tuple(s.rows for s in tstats),
        models,
        corpus.words,
        cfg.report_delay,
        setup.hot,
        setup.round_tasks,
        setup.meet_root,
        round_restarts(job.spark, job.master),
        final_dir=checkpoints.epoch_dir(job.staging, epoch) if cfg.keep_checkpoints else "",
    )
    if plan.final_dir:
        storage.delete_dir(plan.final_dir)  # an incomplete or damaged checkpoint of a killed run
    multiple = rounds.shard_lr_scale(models)
    schedule = dataclasses.replace(setup.schedule, lr_scale=multiple)
    result = rounds.train_epoch(job.spark, setup.exchange, plan, model_dir, schedule)
    if result.examples == 0:
        raise DataError(
            "the corpus produced no training pairs (every sentence has fewer than two vocabulary words); "
            "add text or lower --min-count"
        )
    if not cfg.keep_tuples:
        storage.delete_dir(plan.tuples_dir)
    job.peaks.add_epoch(result)
    record = EpochRecord.of(epoch, time.perf_counter() - t, t_tuples, tstats, result, corpus.words, multiple)
    record = record.with_hot_sync(setup.hot, setup.tables_bytes if epoch == 1 else 0)
    log.info(
        "EPOCH %d/%d: loss %.4f, %s examples, %s words/s, %.1f s (tuples %.1f s, training %.1f s)",
        epoch,
        setup.schedule.epochs,
        record.loss,
        f"{record.examples:,}",
        f"{record.words_per_sec:,.0f}",
        record.seconds,
        t_tuples,
        record.train_seconds,
    )
    return record, result


def meeting_root(job: Job, hot: HotSync | None, shape: ModelShape, run: str) -> str:
    """Where the hot-row meetings happen: on a board in shared memory when every task runs on
    this machine (a local master in a classic session) and it has room for it, else "" (files
    in the round directories, wherever the output is). Logged when it is shared memory."""
    if hot is None or not job.master.local or tasks.is_connect(job.spark):
        return ""
    need = hot.meeting_bytes(job.cfg.shards, shape.vocab_size, shape.vector_size)  # the board of a round
    root = shared_memory_root(run, need)
    if root:
        log.info("training: the shards meet on a board in shared memory, %s (%.0f MiB)", root, need / 2**20)
    return root


def _tuple_params(cfg: TrainConfig, vocab: Vocabulary, paths: Layout) -> tuple[tuples.TupleParams, int]:
    """What tuple tasks need: the settings, and the subsampling and noise tables as a file (the
    tasks read it: no broadcast, which Connect lacks). Returns them and the file's bytes."""
    noise_prob, noise_alias = kernels.build_alias_table(noise_distribution(vocab.counts, cfg.ns_exponent))
    tables = storage.join(paths.work, "tables.npy")
    size = tuples.write_tables(tables, keep_probabilities(vocab.counts, cfg.sample), noise_prob, noise_alias)
    negative = cfg.negative if objectives.get(cfg.objective).uses_negatives else 0
    return tuples.TupleParams(cfg.window, negative, cfg.seed, tables, cfg.objective), size


def export_vectors(
    spark: SparkSession,
    paths: Layout,
    vocab: Vocabulary,
    model_dir: str,
    shape: ModelShape,
    word2vec_files: bool = True,
) -> None:
    """Stage 5: vectors/ written by one Spark task per block; word2vec text and binary streamed
    here a block at a time (the driver holds one block of E, never the model)."""
    vocab_file = paths.vocab_file
    vectors_dir = paths.vectors

    def work(block: int) -> dict[str, Any]:
        start, stop = shape.bounds(block)
        names = read_words(vocab_file)[start:stop]
        emb = blocks.read_matrix_block(model_dir, block, 0)
        return {"rows": formats.write_vectors_part(storage.join(vectors_dir, f"part-{block:05d}.parquet"), names, emb)}

    tasks.run_tasks(spark, shape.blocks, work)
    if not word2vec_files:
        return

    def stream() -> Iterator[tuple[pa.StringArray, np.ndarray]]:
        for block in range(shape.blocks):
            start, stop = shape.bounds(block)
            yield vocab.words[start:stop], blocks.read_matrix_block(model_dir, block, 0)

    formats.write_word2vec_text(paths.text, stream(), shape.vocab_size, shape.vector_size)
    formats.write_word2vec_binary(paths.binary, stream(), shape.vocab_size, shape.vector_size)


def _remove_working_files(staging: str, paths: Layout) -> None:
    """What is not published: the rounds' files, the checkpoints, and corpus/ and tuples/ unless
    the manifest lists them (--keep-tuples)."""
    storage.delete_dir(paths.work)
    checkpoints.discard(staging)
    listed = (outputs.read_manifest(staging) or {}).get("files", {})
    for directory, name in ((paths.tuples, "tuples/"), (paths.corpus, "corpus/")):
        if not any(f.startswith(name) for f in listed):
            storage.delete_dir(directory)
