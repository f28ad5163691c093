"""Checkpoints after every epoch, and the staging directory that makes outputs appear at once.

A run works in ``DIR.inprogress`` beside its output directory ``DIR``: corpus shards, tuples,
exchanged parameters, and after each epoch ``checkpoints/epoch=N/``: the epoch's model block
files (``blocks.py``: E and Theta as .npy, no pickle), moved there from the working directory
rather than copied, plus ``state.json`` (the epoch records so far, the block layout and the
settings that decide the vectors). A checkpoint is assembled under a temporary name and
renamed when complete, so the newest ``epoch=N`` directory is always whole. When training
ends, the outputs are written into the staging directory, ``_SUCCESS`` last, and the
staging directory is renamed to ``DIR`` (an older ``DIR`` is moved aside first and deleted
after): a reader sees the old run or the new one, never a mix, and a killed run never leaves ``DIR`` looking complete.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import time
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs

from w2v_spark import storage
from w2v_spark.config import RUN_OPTIONS, TrainConfig
from w2v_spark.errors import ConfigError

# Settings that do not change the vectors: a checkpoint stays valid when only these differ.
NOT_FINGERPRINTED = RUN_OPTIONS
_EPOCH_DIR = re.compile(r"^epoch=(\d+)$")


def staging_dir(output: str) -> str:
    """``DIR.inprogress``, beside ``DIR`` (same filesystem, so the final move is a rename)."""
    return storage.normalize(output) + ".inprogress"


def fingerprint(cfg: TrainConfig) -> dict[str, Any]:
    """The settings that decide the vectors (with ``partitions`` as resolved, if it is)."""
    return {k: v for k, v in cfg.to_dict().items() if k not in NOT_FINGERPRINTED}


@dataclass(frozen=True)
class Checkpoint:
    epoch: int
    path: str
    state: dict[str, Any]  # its path is also the directory of the epoch's model blocks


def checkpoint_dir(staging: str) -> str:
    return storage.join(staging, "checkpoints")


def list_checkpoints(staging: str) -> list[tuple[int, str]]:
    """(epoch, path) of the complete checkpoints, oldest first (temporary names are ignored)."""
    fs, root = storage.filesystem(checkpoint_dir(staging))
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        return []
    found = []
    for info in fs.get_file_info(pafs.FileSelector(root)):
        m = _EPOCH_DIR.match(info.base_name)
        if m and info.type == pafs.FileType.Directory:
            found.append((int(m.group(1)), storage.join(checkpoint_dir(staging), info.base_name)))
    return sorted(found)


def latest(staging: str) -> Checkpoint | None:
    """The newest complete checkpoint of the run staged in ``staging``, or None."""
    found = list_checkpoints(staging)
    if not found:
        return None
    epoch, path = found[-1]
    fs, p = storage.filesystem(storage.join(path, "state.json"))
    with fs.open_input_stream(p) as fh:
        state = json.loads(fh.read().decode("utf-8"))
    return Checkpoint(epoch, path, state)


def check_compatible(checkpoint: Checkpoint, cfg: TrainConfig) -> None:
    """Refuse to resume with settings that would give different vectors; name what differs."""
    saved: dict[str, Any] = checkpoint.state["fingerprint"]
    now = fingerprint(cfg)
    differ = sorted(
        k for k in set(saved) | set(now) if saved.get(k) != now.get(k) and not (k == "partitions" and not now.get(k))
    )
    if differ:
        detail = ", ".join(f"{k}: {saved.get(k)!r} then, {now.get(k)!r} now" for k in differ)
        raise ConfigError(
            f"cannot resume epoch {checkpoint.epoch} of {checkpoint.path}: settings differ ({detail}); "
            "rerun with the same settings, or pass --overwrite without --resume to start over"
        )


def save(staging: str, epoch: int, model_dir: str, state: dict[str, Any], keep: int) -> str:
    """Make the model in ``model_dir`` the checkpoint ``checkpoints/epoch=N/`` (a rename, not a
    copy), with ``state.json``, atomically; delete all but the ``keep`` newest. Returns the
    checkpoint's path, where the model now is."""
    final = storage.join(checkpoint_dir(staging), f"epoch={epoch}")
    tmp = f"{final}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
    fs, _ = storage.filesystem(final)
    storage.make_dirs(checkpoint_dir(staging))
    fs.move(storage.filesystem(model_dir)[1], storage.filesystem(tmp)[1])
    storage.write_text(storage.join(tmp, "state.json"), json.dumps({**state, "epoch": epoch}, indent=1) + "\n")
    storage.delete_dir(final)
    fs.move(storage.filesystem(tmp)[1], storage.filesystem(final)[1])
    for _, path in list_checkpoints(staging)[:-keep]:
        storage.delete_dir(path)
    return final


def publish(staging: str, output: str) -> None:
    """Move the finished staging directory to ``output`` in one rename, replacing an older run."""
    fs, dst = storage.filesystem(output)
    _, src = storage.filesystem(staging)
    old = None
    kind = fs.get_file_info(dst).type
    if kind == pafs.FileType.File:
        fs.delete_file(dst)
    elif kind != pafs.FileType.NotFound:
        old = f"{dst}.replaced-{int(time.time())}-{os.urandom(3).hex()}"
        fs.move(dst, old)
    fs.create_dir(posixpath.dirname(dst), recursive=True)
    fs.move(src, dst)
    if old is not None:
        fs.delete_dir(old)
