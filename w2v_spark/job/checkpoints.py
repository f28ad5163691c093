"""Checkpoints after every epoch, written in place and validated before use.

A run works in ``DIR.inprogress`` beside its output directory ``DIR`` (``outputs.py`` says who
owns it and how it is published). When checkpoints are kept, the last averaging round of epoch
N writes its model blocks straight into ``checkpoints/epoch=N/`` (``blocks.py``: E and Θ as
.npy, no pickle); then ``state.json`` is written there, last: the epoch records so far, the
block layout, each block file's size and CRC-32, the settings that decide the vectors, and what
identifies the input and the vocabulary. A checkpoint without a readable ``state.json``, or
whose blocks do not match it, is damaged: ``latest`` skips it and takes the one before, which
``--keep-checkpoints 2`` keeps for that reason. Nothing here renames a directory, so the same
steps work on object stores, which cannot (docs/guarantees.md#by-storage).
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import re
import zlib
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs

from w2v_spark.config import RUN_OPTIONS, TrainConfig
from w2v_spark.runtime import storage

log = logging.getLogger("w2v_spark")

# Settings that do not change the vectors: a checkpoint stays valid when only these differ.
NOT_FINGERPRINTED = RUN_OPTIONS
STATE = "state.json"
_EPOCH_DIR = re.compile(r"^epoch=(\d+)$")


def checkpoint_dir(staging: str) -> str:
    return storage.join(staging, "checkpoints")


def epoch_dir(staging: str, epoch: int) -> str:
    """Where epoch ``epoch``'s last round writes its model when checkpoints are kept."""
    return storage.join(checkpoint_dir(staging), f"epoch={epoch}")


def fingerprint(cfg: TrainConfig) -> dict[str, Any]:
    """The settings that decide the vectors (with ``partitions`` as resolved, if it is)."""
    return {k: v for k, v in cfg.to_dict().items() if k not in NOT_FINGERPRINTED}


def input_identity(paths: tuple[str, ...]) -> dict[str, Any] | None:
    """What identifies the input files: how many, their bytes, and a digest of each file's path,
    size and modification time; None when they cannot be listed here (Spark reads them)."""
    listing: list[tuple[str, int, int]] = []
    for pattern in paths:
        found = _list_files(pattern)
        if found is None:
            return None
        listing.extend(found)
    listing.sort()
    digest = hashlib.sha256("\n".join(f"{p}\t{s}\t{m}" for p, s, m in listing).encode()).hexdigest()
    return {"files": len(listing), "bytes": sum(s for _, s, _ in listing), "sha256": digest}


def _list_files(pattern: str) -> list[tuple[str, int, int]] | None:
    """(path, size, mtime ns) of the files Spark reads for one --input (hidden and _ files skipped)."""
    if storage.is_uri(pattern) and not pattern.startswith("file://"):
        try:
            fs, inner = storage.filesystem(pattern)
            infos = fs.get_file_info(pafs.FileSelector(inner, recursive=True, allow_not_found=True))
            infos = infos or [fs.get_file_info(inner)]
        except (OSError, ValueError, pafs.ArrowException):
            return None
        files = [i for i in infos if i.type == pafs.FileType.File and not _hidden(i.path)]
        return [(i.path, int(i.size or 0), int(i.mtime_ns or 0)) for i in files]
    local = pattern.removeprefix("file://")
    found: list[tuple[str, int, int]] = []
    for top in glob.glob(local) if glob.has_magic(local) else [local]:
        walked = [top] if os.path.isfile(top) else _walk(top)
        for path in walked:
            st = os.stat(path)
            found.append((os.path.realpath(path), st.st_size, st.st_mtime_ns))
    return found


def _walk(top: str) -> list[str]:
    files: list[str] = []
    for root, dirs, names in os.walk(top):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        files.extend(os.path.join(root, n) for n in names if not n.startswith((".", "_")))
    return files


def _hidden(path: str) -> bool:
    return any(part.startswith((".", "_")) for part in path.split("/")[1:])


@dataclass(frozen=True)
class Checkpoint:
    epoch: int
    path: str  # the directory of the epoch's model blocks and its state.json
    state: dict[str, Any]


class Damaged(Exception):
    """A checkpoint that cannot be used: says why."""


def list_checkpoints(staging: str) -> list[tuple[int, str]]:
    """(epoch, path) of every ``epoch=N`` directory, complete or not, oldest first."""
    fs, root = storage.filesystem(checkpoint_dir(staging))
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        return []
    found = []
    for info in fs.get_file_info(pafs.FileSelector(root)):
        m = _EPOCH_DIR.match(info.base_name)
        if m and info.type == pafs.FileType.Directory:
            found.append((int(m.group(1)), storage.join(checkpoint_dir(staging), info.base_name)))
    return sorted(found)


def read(path: str, epoch: int, verify_data: bool = True) -> Checkpoint:
    """The checkpoint in ``path``, checked: its state.json parses and names this epoch, every
    block file has the size it records and (``verify_data``) the same CRC-32. Raises Damaged."""
    fs, p = storage.filesystem(storage.join(path, STATE))
    try:
        with fs.open_input_stream(p) as fh:
            state = json.loads(fh.read().decode("utf-8"))
    except FileNotFoundError:
        raise Damaged("it has no state.json (the run stopped while writing it)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Damaged(f"its state.json cannot be read ({e})") from None
    if not isinstance(state, dict) or state.get("epoch") != epoch or not isinstance(state.get("blocks"), list):
        raise Damaged("its state.json is not a checkpoint's of this epoch")
    for block in state["blocks"]:
        _check_block(storage.join(path, block["file"]), block, verify_data)
    return Checkpoint(epoch, path, state)


def _check_block(path: str, block: dict[str, Any], verify_data: bool) -> None:
    fs, p = storage.filesystem(path)
    info = fs.get_file_info(p)
    if info.type != pafs.FileType.File or info.size != block["bytes"]:
        found = "missing" if info.type == pafs.FileType.NotFound else f"{info.size} bytes"
        raise Damaged(f"{block['file']} is {found}, its state.json says {block['bytes']} bytes")
    if verify_data and file_crc32(path) != block["crc32"]:
        raise Damaged(f"{block['file']} does not have the checksum its state.json records")


def file_crc32(path: str) -> int:
    fs, p = storage.filesystem(path)
    crc = 0
    with fs.open_input_stream(p) as fh:
        while chunk := fh.read(16 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def latest(staging: str, verify_data: bool = True) -> Checkpoint | None:
    """The newest usable checkpoint of the run staged in ``staging``, or None; a damaged newer
    one is skipped (the older one is then used), with a warning that says why from the full
    check (``verify_data``), which is the one that decides."""
    for epoch, path in reversed(list_checkpoints(staging)):
        try:
            return read(path, epoch, verify_data)
        except Damaged as why:
            log.log(
                logging.WARNING if verify_data else logging.DEBUG, "checkpoint %s is damaged and skipped: %s", path, why
            )
    return None


def mismatch(checkpoint: Checkpoint, cfg: TrainConfig) -> str | None:
    """Why ``checkpoint`` cannot be continued with these settings and input (one line), or None."""
    saved: dict[str, Any] = checkpoint.state.get("fingerprint", {})
    now = fingerprint(cfg)
    differ = sorted(
        k for k in set(saved) | set(now) if saved.get(k) != now.get(k) and not (k == "partitions" and not now.get(k))
    )
    where = f"epoch {checkpoint.epoch} of {checkpoint.path}"
    if differ:
        detail = ", ".join(f"{k}: {saved.get(k)!r} then, {now.get(k)!r} now" for k in differ)
        return f"cannot resume {where}: settings differ ({detail})"
    if cfg.input:
        then, current = checkpoint.state.get("input"), input_identity(cfg.input)
        if then is None:
            return f"cannot resume {where}: it does not record its input"
        if current is not None and then != current:
            return (
                f"cannot resume {where}: the input differs ({then['files']} files of {then['bytes']:,} bytes then, "
                f"{current['files']} of {current['bytes']:,} now, or the files changed)"
            )
    return None


def vocabulary_mismatch(checkpoint: Checkpoint, digest: str, size: int) -> str | None:
    """Why the checkpoint's rows belong to another vocabulary than this run's (one line), or None."""
    then = checkpoint.state.get("vocabulary") or {}
    if then.get("sha256") == digest:
        return None
    return (
        f"cannot resume epoch {checkpoint.epoch} of {checkpoint.path}: it was trained on another vocabulary "
        f"({then.get('size', '?')} words then, {size} now)"
    )


def save(staging: str, epoch: int, state: dict[str, Any], checksums: list[int], keep: int) -> Checkpoint:
    """Complete checkpoint ``epoch``, whose blocks the epoch's last round wrote to
    :func:`epoch_dir`: flush them to disk, write ``state.json`` last, delete all but the
    ``keep`` newest checkpoints."""
    path = epoch_dir(staging, epoch)
    files = [f"block-{b:05d}.npy" for b in range(len(checksums))]
    fs, _ = storage.filesystem(path)
    infos = fs.get_file_info([storage.filesystem(storage.join(path, f))[1] for f in files])
    storage.sync_files([storage.join(path, f) for f in files])
    blocks = [
        {"file": f, "bytes": int(i.size or 0), "crc32": c} for f, i, c in zip(files, infos, checksums, strict=True)
    ]
    state = {**state, "epoch": epoch, "blocks": blocks}
    storage.write_text(storage.join(path, STATE), json.dumps(state, indent=1) + "\n", durable=True)
    for _, older in list_checkpoints(staging)[:-keep]:
        storage.delete_dir(older)
    return Checkpoint(epoch, path, state)


def discard(staging: str) -> None:
    """Delete the run's checkpoints (a fresh start in a staging directory that had some)."""
    storage.delete_dir(checkpoint_dir(staging))
