"""Checks before Spark starts: the arguments, what is at the output, and how the run starts
(afresh, from a checkpoint, or publishing a finished run). They change nothing
(docs/guarantees.md#files)."""

from __future__ import annotations

import glob
import logging
import os
import tempfile
from dataclasses import dataclass

from w2v_spark.config import TrainConfig
from w2v_spark.errors import ConfigError, DataError
from w2v_spark.job import checkpoints, outputs
from w2v_spark.runtime import storage

log = logging.getLogger("w2v_spark")


def check_arguments(cfg: TrainConfig) -> None:
    """Checks of the arguments alone, before the output's lease is taken: the inputs exist and
    the output is apart from them."""
    _check_inputs(cfg)
    outputs.check_apart(cfg.output, cfg.input)


def preflight(cfg: TrainConfig) -> Start:
    """Checks that need no Spark: the arguments, then that the output may be written, and how the
    run starts (afresh, from a checkpoint, or publishing a finished run). The caller holds the
    output's lease (``outputs.lease``).

    Never changes anything: a refused run leaves the output and the staging directory as they were.
    """
    check_arguments(cfg)
    return check_output(cfg, verify_data=False)


def _check_inputs(cfg: TrainConfig) -> None:
    """Every input path or pattern names at least one file, and local inputs are not all empty."""
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
    denied = _unreadable(local_inputs)
    if denied:
        raise ConfigError(
            f"cannot read the input {denied!r} (permission denied for this user); make it readable or leave it "
            "out of --input"
        )
    found = checkpoints.input_identity(cfg.input)  # None when an input is remote: Spark will tell
    if found is not None and found["bytes"] == 0:
        raise DataError(f"the input is empty ({', '.join(cfg.input)}); check --input")


@dataclass(frozen=True)
class Start:
    """How a run begins, from what is at its output: "fresh", "resume" (from ``checkpoint``) or
    "publish" (a finished run sealed in the staging directory, not yet published)."""

    action: str
    checkpoint: checkpoints.Checkpoint | None = None
    why: str = ""  # why a fresh start discards what the staging directory held (logged)


def check_output(cfg: TrainConfig, verify_data: bool = True) -> Start:
    """The output may be written (docs/guarantees.md#files): apart from the inputs, holding nothing
    w2v-spark did not write, empty or a finished run unless --overwrite; then how to start."""
    if not storage.is_uri(cfg.output) or cfg.output.startswith("file://"):
        _check_writable_beside(cfg.output.removeprefix("file://"))
    outputs.check_apart(cfg.output, cfg.input)
    found = outputs.inspect(cfg.output)
    staging = outputs.staging_dir(cfg.output)
    if found.staging == "foreign":
        raise ConfigError(
            f"{staging} exists and holds {found.example!r}, which w2v-spark did not write; "
            "move it away or choose another --output"
        )
    if found.output == "foreign":
        raise ConfigError(
            f"output directory {cfg.output!r} holds {found.example!r}, which w2v-spark did not write; "
            "choose another --output or move its files away"
        )
    if found.output == "finished" and not cfg.overwrite:
        raise ConfigError(
            f"output directory {cfg.output!r} already holds a finished run; pass --overwrite to replace it "
            "or choose another --output"
        )
    if found.staging == "absent":
        return Start("fresh")
    return _check_staging(cfg, found, staging, verify_data)


def _check_staging(cfg: TrainConfig, found: outputs.Found, staging: str, verify_data: bool) -> Start:
    """How to go on from a staging directory of this tool's: continue, publish, or start over."""
    if found.output == "partial" and not cfg.resume:  # starting over would strand the files already moved
        raise ConfigError(
            f"{staging} holds a finished run whose publish to {cfg.output!r} was interrupted; pass --resume to "
            "finish it (then --overwrite to train again)"
        )
    if not cfg.resume:
        if not cfg.overwrite:
            what = "a finished run not yet published" if found.staging == "sealed" else "an unfinished run"
            raise ConfigError(f"{staging} holds {what}; pass --resume to continue it or --overwrite to start over")
        return Start("fresh", why="--overwrite without --resume")
    if found.staging == "sealed":
        return Start("publish")
    checkpoint = checkpoints.latest(staging, verify_data)
    if checkpoint is None:
        return Start("fresh", why="it holds no usable checkpoint")
    problem = checkpoints.mismatch(checkpoint, cfg)
    if problem is None:
        return Start("resume", checkpoint)
    if cfg.overwrite:
        return Start("fresh", why=problem)
    raise ConfigError(f"{problem}; rerun with the same settings and input, or pass --overwrite to start over")


def _unreadable(paths: list[str]) -> str | None:
    """The first file or directory Spark would read from ``paths`` that this user cannot read,
    else None: Spark's own error would come only after it starts."""
    for pattern in paths:
        for path in glob.glob(pattern) if glob.has_magic(pattern) else [pattern]:
            if os.path.isdir(path):
                found = _unreadable_under(path)
                if found:
                    return found
            elif os.path.isfile(path) and not os.access(path, os.R_OK):
                return path
    return None


def _unreadable_under(directory: str) -> str | None:
    """``directory`` or the first directory or file under it this user cannot read (hidden and
    _-prefixed names skipped, as Spark does), else None."""
    if not os.access(directory, os.R_OK | os.X_OK):
        return directory
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        for d in dirs:
            if not os.access(os.path.join(root, d), os.R_OK | os.X_OK):
                return os.path.join(root, d)
        for f in files:
            if not f.startswith((".", "_")) and not os.access(os.path.join(root, f), os.R_OK):
                return os.path.join(root, f)
    return None


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
