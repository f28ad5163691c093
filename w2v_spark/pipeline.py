"""The training job end to end: tokenize -> vocabulary -> corpus shards -> per-epoch tuples and
training -> export. Spark comes in ready-made; every stage lives in its own module.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
import tempfile
import time
import uuid
from typing import Any

from pyspark import SparkContext, StorageLevel
from pyspark.sql import SparkSession

from w2v_spark import __version__, checkpoints, export, kernels, memory, storage, training, tuples
from w2v_spark.config import SOFTMAX_MAX_VOCAB, TrainConfig
from w2v_spark.errors import ConfigError, DataError
from w2v_spark.tokenize import check_token_pattern, read_lines, tokenize
from w2v_spark.vocabulary import build_vocabulary, keep_probabilities, noise_distribution

log = logging.getLogger("w2v_spark")


def preflight(cfg: TrainConfig) -> None:
    """Checks that need no Spark: inputs exist, the output may be written, a resume is possible.

    Never changes anything: a refused run leaves the output and the staging directory as they were.
    """
    for path in cfg.input:
        if "://" in path and not path.startswith("file://"):
            continue  # remote: Spark will tell
        local = path.removeprefix("file://")
        if glob.has_magic(local):
            if not glob.glob(local):
                raise ConfigError(f"input pattern {path!r} matches no file; check --input")
        elif not storage.exists(local):
            raise ConfigError(f"input path {path!r} does not exist; check --input")
    local_inputs = [p.removeprefix("file://") for p in cfg.input if "://" not in p or p.startswith("file://")]
    if len(local_inputs) == len(cfg.input) and _total_size(local_inputs) == 0:
        raise DataError(f"the input is empty ({', '.join(cfg.input)}); check --input")
    if "://" not in cfg.output or cfg.output.startswith("file://"):
        _check_writable_beside(cfg.output.removeprefix("file://"))
    staging = checkpoints.staging_dir(cfg.output)
    complete = storage.exists(storage.join(cfg.output, export.SUCCESS_MARKER))
    if storage.is_nonempty_dir(cfg.output) and not cfg.overwrite:
        if cfg.resume and complete:
            raise ConfigError(
                f"output directory {cfg.output!r} already holds a finished run; pass --overwrite to train it again"
            )
        if not cfg.resume:
            raise ConfigError(
                f"output directory {cfg.output!r} is not empty; "
                "pass --overwrite to replace it or choose another --output"
            )
    if storage.exists(staging) and not (cfg.resume or cfg.overwrite):
        raise ConfigError(
            f"{staging} holds an unfinished run; pass --resume to continue it or --overwrite to start over"
        )
    if cfg.resume:
        found = checkpoints.latest(staging)
        if found is not None:
            checkpoints.check_compatible(found, cfg)


def _total_size(paths: list[str]) -> int:
    """Bytes in the files Spark would read (hidden and _-prefixed files skipped, as Spark does)."""
    total = 0
    for pattern in paths:
        for path in glob.glob(pattern) if glob.has_magic(pattern) else [pattern]:
            if os.path.isfile(path):
                total += os.path.getsize(path)
            for root, dirs, files in os.walk(path):
                dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
                total += sum(os.path.getsize(os.path.join(root, f)) for f in files if not f.startswith((".", "_")))
            if total:
                return total
    return total


def _check_writable_beside(output: str) -> None:
    """The run writes DIR.inprogress beside DIR: fail now, not after tokenizing, if it cannot."""
    parent = os.path.dirname(os.path.abspath(os.path.expanduser(output)))
    try:
        os.makedirs(parent, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".w2v-spark-probe-"):
            pass
    except OSError as e:
        raise ConfigError(
            f"cannot write the output beside {output!r} ({e.strerror or e}); choose a writable --output"
        ) from None


def layout(output: str) -> dict[str, str]:
    """Where everything goes under the output directory."""
    return {
        name: storage.join(output, rel)
        for name, rel in {
            "vocab": "vocab",
            "corpus": "corpus",
            "tuples": "tuples",
            "work": "_training",
            "vectors": "vectors",
            "text": "vectors.txt",
            "binary": "vectors.bin",
            "metrics": "metrics.json",
        }.items()
    }


def run(cfg: TrainConfig, spark: SparkSession, started: float | None = None) -> dict[str, Any]:
    """Train and write every output; returns the metrics also written to metrics.json.

    On failure the staging directory is removed unless it holds a checkpoint to resume from,
    so a failed run leaves nothing behind that a rerun would trip over.
    """
    staging = checkpoints.staging_dir(cfg.output)
    try:
        return _run(cfg, spark, started)
    except BaseException:
        try:
            found = checkpoints.list_checkpoints(staging)
            if found:
                log.error("%s keeps the checkpoint of epoch %d: rerun with --resume to continue", staging, found[-1][0])
            else:
                storage.delete_dir(staging)
        except Exception as cleanup:  # never hide the original error behind a cleanup problem
            log.warning("could not clean up %s: %s", staging, cleanup)
        raise


def _run(cfg: TrainConfig, spark: SparkSession, started: float | None) -> dict[str, Any]:
    t_start = time.perf_counter() if started is None else started
    sc = spark.sparkContext
    stages: dict[str, float] = {"startup": time.perf_counter() - t_start}
    error = check_token_pattern(spark, cfg.token_pattern)
    if error:
        raise ConfigError(f"token_pattern is not a valid Java regular expression ({error}); fix --token-pattern")
    partitions = cfg.partitions or sc.defaultParallelism
    if not (sc.master or "local").startswith("local") and "://" not in cfg.output:
        log.warning(
            "output %s is a local path but Spark runs on %s: executors write corpus/ and tuples/ there, "
            "so every executor must see the same directory; otherwise use a shared URI (hdfs://, s3a://)",
            cfg.output, sc.master,
        )  # fmt: skip
    cfg = dataclasses.replace(cfg, partitions=partitions)
    # Everything is written to the staging directory beside the output and moved into place at
    # the end (see checkpoints.py); the output directory itself is only touched by that move.
    staging = checkpoints.staging_dir(cfg.output)
    resume_from = checkpoints.latest(staging) if cfg.resume else None
    if resume_from is not None:
        checkpoints.check_compatible(resume_from, cfg)  # now with partitions resolved
    else:
        storage.delete_dir(staging)
    storage.make_dirs(staging)
    out = layout(staging)

    # Stages 1-2: tokens and vocabulary.
    t = time.perf_counter()
    tokens = tokenize(
        read_lines(spark, cfg.input), cfg.token_pattern, cfg.lowercase, cfg.max_sentence_length,
        max_token_length=cfg.max_token_length,
    )  # fmt: skip
    # Kept for the encoding pass so the text is read and tokenized once (measured: about 3 s of
    # 17 on 4.6M words); spills to disk rather than failing when memory is short.
    tokens = tokens.persist(StorageLevel.MEMORY_AND_DISK)
    vocab = build_vocabulary(tokens, cfg.min_count, cfg.max_vocab_size)
    if vocab.size == 0:
        raise _empty_vocabulary(spark, tokens, cfg)
    _check_vocabulary(vocab.size, cfg)
    _check_memory(sc, vocab.size, cfg, partitions)
    storage.write_table(vocab.to_arrow(), out["vocab"])
    stages["vocabulary"] = time.perf_counter() - t
    log.info(
        "vocabulary: %s words (min_count=%d), %s occurrences", f"{vocab.size:,}", cfg.min_count, f"{vocab.total:,}"
    )

    # Stage 3a: the id-encoded corpus, one file per training shard.
    t = time.perf_counter()
    words_bc = sc.broadcast(vocab.words)
    shards = tuples.write_corpus(tuples.shard(tuples.encode(tokens, words_bc), partitions, cfg.seed), out["corpus"])
    words_bc.destroy()
    tokens.unpersist()
    corpus_words = sum(s.words for s in shards)
    sentences = sum(s.sentences for s in shards)
    stages["corpus"] = time.perf_counter() - t
    log.info("corpus: %s sentences, %s words in %d shards", f"{sentences:,}", f"{corpus_words:,}", partitions)
    if partitions > 1 and not cfg.hogwild:
        # The one choice that moves quality most at a given shard count; say so where it is made.
        log.info(
            "training: %d shard models averaged %d time(s) per epoch (reproducible); averaging costs "
            "accuracy against one model (1.4 analogy points at 8 shards on the README's benchmark): "
            "--hogwild trains one model per executor instead, not bit-reproducible",
            partitions, cfg.syncs_per_epoch,
        )  # fmt: skip

    noise_prob, noise_alias = kernels.build_alias_table(noise_distribution(vocab.counts, cfg.ns_exponent))
    tables = sc.broadcast((keep_probabilities(vocab.counts, cfg.sample), noise_prob, noise_alias))
    softmax = cfg.objective == "softmax"
    negative = 0 if softmax else cfg.negative  # the softmax needs no negatives in its tuples
    params = tuples.TupleParams(window=cfg.window, negative=negative, seed=cfg.seed, tables=tables)
    schedule = training.Schedule(cfg.alpha, cfg.min_alpha, cfg.epochs, softmax=softmax)
    epochs: list[dict[str, Any]] = []
    if resume_from is None:
        emb, theta = training.init_params(vocab.size, cfg.vector_size, cfg.seed)
    else:
        # Everything above is recomputed identically from the input; training goes on from the
        # checkpoint, and every later epoch draws from (seed, epoch, shard) as it would have.
        emb, theta = resume_from.load()
        epochs = list(resume_from.state["epochs"])
        log.info("resuming after epoch %d from %s", resume_from.epoch, resume_from.path)
    fingerprint = checkpoints.fingerprint(cfg)

    # Stages 3b-4: fresh tuples every epoch, then training on them.
    worker_peaks: dict[int, float] = {}
    packages: set[str] = set()
    run_id = uuid.uuid4().hex  # names this run's shared copies with --hogwild
    for epoch in range(len(epochs) + 1, cfg.epochs + 1):
        t = time.perf_counter()
        tstats = tuples.generate_epoch(sc, out["corpus"], out["tuples"], params, epoch, shards, partitions)
        t_tuples = time.perf_counter() - t
        # The rate multiple follows the number of models that will be averaged: one per shard, or
        # with hogwild one per executor (counted afresh each epoch, as executors come and go).
        models = min(partitions, training.executor_count(sc)) if cfg.hogwild else partitions
        multiple = training.shard_lr_scale(models)
        result = training.train_epoch(
            sc, tuples.epoch_dir(out["tuples"], epoch), out["work"], emb, theta, epoch, partitions,
            dataclasses.replace(schedule, lr_scale=multiple), cfg.syncs_per_epoch,
            hogwild=cfg.hogwild, executors=models, run=run_id,
        )  # fmt: skip
        emb, theta = result.emb, result.out
        seconds = time.perf_counter() - t
        if result.examples == 0:
            raise DataError(
                "the corpus produced no training pairs (every sentence has fewer than two vocabulary words); "
                "add text or lower --min-count"
            )
        if not cfg.keep_tuples:
            storage.delete_dir(tuples.epoch_dir(out["tuples"], epoch))
        memory.merge_peaks(worker_peaks, {s.pid: s.peak_rss_mb for s in tstats})
        packages.update(s.package for s in tstats)
        memory.merge_peaks(worker_peaks, result.worker_peaks)
        record = {
            "epoch": epoch,
            "loss": result.loss / result.examples,
            "examples": result.examples,
            "words": corpus_words,
            "seconds": seconds,
            "words_per_sec": corpus_words / seconds,
            "tuple_seconds": t_tuples,
            "models_averaged": result.models,  # in the epoch's last round
            "lr_multiple": multiple,
            "train_seconds": seconds - t_tuples,
            "kept_words": sum(s.kept for s in tstats),
            # summed over tasks: compare with the wall times above to see Spark's overhead
            "tuple_task_seconds": sum(s.seconds for s in tstats),
            "tuple_kernel_seconds": sum(s.kernel_seconds for s in tstats),
            "train_task_seconds": result.task_seconds,
            "train_kernel_seconds": result.kernel_seconds,
        }
        epochs.append(record)
        log.info(
            "EPOCH %d/%d: loss %.4f, %s examples, %s words/s, %.1f s (tuples %.1f s, training %.1f s)",
            epoch, cfg.epochs, record["loss"], f"{result.examples:,}", f"{record['words_per_sec']:,.0f}",
            seconds, t_tuples, seconds - t_tuples,
        )  # fmt: skip
        if cfg.keep_checkpoints:
            state = {"fingerprint": fingerprint, "epochs": epochs}
            checkpoints.save(staging, epoch, emb, theta, state, keep=cfg.keep_checkpoints)
        del result  # it shares emb and theta; holding it would keep theta alive through the export

    if cfg.hogwild:
        training.remove_shared_copies(sc, run_id, partitions)
    del theta  # not exported: freeing it halves the driver's memory while writing the vectors
    trained = cfg.epochs - (0 if resume_from is None else resume_from.epoch)
    # Stage 5: outputs, _SUCCESS last, then the whole directory moves into place.
    t = time.perf_counter()
    export.write_vectors_parquet(vocab.words, emb, out["vectors"])
    export.write_word2vec_text(out["text"], vocab.words, emb)
    export.write_word2vec_binary(out["binary"], vocab.words, emb)
    storage.delete_dir(out["work"])
    storage.delete_dir(checkpoints.checkpoint_dir(staging))
    if not cfg.keep_tuples:
        storage.delete_dir(out["tuples"])
        storage.delete_dir(out["corpus"])
    tables.destroy()
    stages["export"] = time.perf_counter() - t
    stages["training"] = sum(e["seconds"] for e in epochs[len(epochs) - trained :])
    mem = _memory_report(spark, worker_peaks)
    metrics = {
        "version": __version__,
        "config": cfg.to_dict(),
        "spark": {"version": spark.version, "master": sc.master},
        # where the executors' Python workers found w2v_spark: a --py-files zip, or an install
        "executor_package_paths": sorted(packages),
        "vocab_size": vocab.size,
        "corpus": {"sentences": sentences, "words": corpus_words, "shards": [dataclasses.asdict(s) for s in shards]},
        "stages": stages,
        "epochs": epochs,
        "resumed_from_epoch": None if resume_from is None else resume_from.epoch,
        "memory": mem,
        "total_seconds": time.perf_counter() - t_start,
    }
    export.write_metrics(out["metrics"], metrics)
    export.mark_success(staging)
    checkpoints.publish(staging, cfg.output)
    log.info(
        "wrote %s (%s words x %d) in %.1f s", cfg.output, f"{vocab.size:,}", cfg.vector_size, metrics["total_seconds"]
    )
    log.info(
        "peak memory: driver Python %.0f MiB, driver JVM %s MiB, Python workers up to %.0f MiB (%d processes)",
        mem["driver_python_mb"], "?" if mem["driver_jvm_mb"] is None else f"{mem['driver_jvm_mb']:.0f}",
        mem["python_worker_max_mb"], len(mem["python_workers_mb"]),
    )  # fmt: skip
    return metrics


def _empty_vocabulary(spark: SparkSession, tokens: Any, cfg: TrainConfig) -> DataError:
    """Why the vocabulary is empty, in one line: no text, no tokens, or min_count too high."""
    from pyspark.sql import functions as F

    inputs = ", ".join(cfg.input)
    counts = tokens.select(F.explode("tokens").alias("w")).groupBy("w").count()
    row = counts.agg(F.count("*").alias("distinct"), F.max("count").alias("top")).first()
    distinct, top = (row["distinct"], row["top"]) if row is not None else (0, None)
    if distinct == 0:
        if read_lines(spark, cfg.input).limit(1).count() == 0:
            return DataError(f"the input is empty ({inputs}); check --input")
        return DataError(
            f"the input has no tokens: no text in {inputs} matches the token pattern; check --input or --token-pattern"
        )
    return DataError(
        f"no word occurs at least min_count={cfg.min_count} times: the input has {distinct:,} distinct words "
        f"and the most frequent occurs {top:,} times; lower --min-count (to {top} or less) or add text"
    )


def _check_memory(sc: SparkContext, vocab_size: int, cfg: TrainConfig, partitions: int) -> None:
    """Fail before the corpus is encoded if the model cannot fit (see memory.check_model_fits)."""
    model = memory.model_bytes(vocab_size, cfg.vector_size)
    tasks = min(partitions, sc.defaultParallelism)
    conf = dict(sc.getConf().getAll())
    problem = memory.check_model_fits(model, sc.master or "", conf, tasks, memory.available_bytes())
    if problem:
        raise DataError(problem)
    log.info(
        "model: %s words x %d dimensions = %s per copy (driver + %d tasks at once)",
        f"{vocab_size:,}", cfg.vector_size, memory.gib(model), tasks,
    )  # fmt: skip


def _check_vocabulary(size: int, cfg: TrainConfig) -> None:
    if cfg.objective == "softmax" and size > SOFTMAX_MAX_VOCAB:
        raise DataError(
            f"the full softmax is limited to {SOFTMAX_MAX_VOCAB:,} words and the vocabulary has {size:,}; "
            f"set --max-vocab-size {SOFTMAX_MAX_VOCAB}, raise --min-count, or use --objective negative_sampling"
        )
    need = 2 * cfg.window + 2
    if cfg.objective == "negative_sampling" and size < need:
        raise DataError(
            f"the vocabulary has only {size} words, too few for negative sampling with window={cfg.window} "
            f"(needs at least {need}); add text, lower --min-count or lower --window"
        )


def _memory_report(spark: SparkSession, worker_peaks: dict[int, float]) -> dict[str, Any]:
    """Peak resident memory of the driver (Python and, when it runs here, the JVM) and workers."""
    gateway = getattr(spark.sparkContext, "_gateway", None)
    proc = getattr(gateway, "proc", None)
    jvm = memory.process_peak_mb(proc.pid) if proc is not None else None
    return {
        "driver_python_mb": memory.peak_rss_mb(),
        "driver_jvm_mb": jvm,
        "python_worker_max_mb": max(worker_peaks.values(), default=0.0),
        "python_workers_mb": {str(pid): peak for pid, peak in sorted(worker_peaks.items())},
    }
