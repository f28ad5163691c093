"""What a run may do at ``--output``: its lease, what is there already, and the publish.

A run stages everything in ``DIR.inprogress`` beside ``DIR``, marked as this tool's by a
``_RUN`` file written first. When the outputs are complete it seals the staging directory
with ``_SUCCESS``: a JSON manifest of every output file and its size (as Spark's S3A
committers write theirs), written last. Then it publishes: on a local disk or HDFS by renaming
the directory (the old run, if replaced, stays whole until then); on an object store, which
cannot rename directories, by moving the manifest's files one by one and writing ``_SUCCESS``
last, so that readers who wait for ``_SUCCESS`` never see a mix (docs/guarantees.md#publish).

Nothing here deletes what w2v-spark did not write: an existing ``DIR`` is replaced only when it
holds a finished run of this tool and nothing else, a staging directory is reused only when it
is this tool's, and an output that is, holds or lies in an input is refused. Two runs never
share an output: each holds a lease on ``DIR.lock``, an ``flock`` on a local disk, and on other
stores a lease object with an owner and an expiry that the live run renews.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import posixpath
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import pyarrow.fs as pafs

from w2v_spark import __version__
from w2v_spark.errors import ConfigError, TrainingError
from w2v_spark.runtime import storage

log = logging.getLogger("w2v_spark")

SUCCESS = "_SUCCESS"  # the manifest, written last: its presence means every output is complete
RUN_MARKER = "_RUN"  # written first into a staging directory: this tool made it
REPLACING = "_REPLACING"  # on object stores: the old run's files being replaced (publish_files)
WRITER = "w2v-spark"
# What a run leaves in its staging directory, and what `w2v-spark plot` adds to a finished one:
# directories of earlier versions, which had no manifest, are recognised by these names.
STAGED_NAMES = frozenset(
    {"vocab", "vectors", "vectors.txt", "vectors.bin", "metrics.json", SUCCESS, RUN_MARKER, REPLACING}
    | {"corpus", "tuples", "_training", "checkpoints"}
)
PLOT_NAMES = frozenset({"loss.png", "words.png"})


def staging_dir(output: str) -> str:
    """``DIR.inprogress``, beside ``DIR`` (same filesystem, so the final move is a rename)."""
    return storage.normalize(output) + ".inprogress"


def renames_directories(path: str) -> bool:
    """Whether the store under ``path`` renames a directory in one step (local disks, HDFS)."""
    fs, _ = storage.filesystem(path)
    return isinstance(fs, pafs.LocalFileSystem) or fs.type_name == "hdfs"


# --- what is at the output ---------------------------------------------------------------


def _files(path: str) -> dict[str, int] | None:
    """{relative path: size} of every file under ``path``; None if nothing is there; a file
    at ``path`` itself is listed under its own name."""
    fs, p = storage.filesystem(path)
    info = fs.get_file_info(p)
    if info.type == pafs.FileType.NotFound:
        return None
    if info.type == pafs.FileType.File:
        return {info.base_name: int(info.size or 0)}
    found = fs.get_file_info(pafs.FileSelector(p, recursive=True))
    return {i.path[len(p) + 1 :]: int(i.size or 0) for i in found if i.type == pafs.FileType.File}


def read_manifest(directory: str) -> dict[str, Any] | None:
    """The ``_SUCCESS`` manifest of a finished run in ``directory``; {} for an earlier version's
    empty ``_SUCCESS``; None when there is none or it is not this tool's."""
    fs, p = storage.filesystem(storage.join(directory, SUCCESS))
    try:
        with fs.open_input_stream(p) as fh:
            text = fh.read().decode("utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return None
    except OSError:
        return None
    if not text.strip():
        return {}
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError:
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("writer") == WRITER else None


def _foreign(files: dict[str, int], ours: set[str], top_names: frozenset[str]) -> str | None:
    """The first of ``files`` that is neither listed in ``ours`` nor under one of ``top_names``."""
    for name in sorted(files):
        if (
            name not in ours
            and name.split("/", 1)[0] not in top_names
            and not storage.is_temporary(posixpath.basename(name))
        ):
            return name
    return None


@dataclass(frozen=True)
class Found:
    """What is at ``DIR`` and ``DIR.inprogress`` before a run starts."""

    output: str  # "absent", "finished" (a run of this tool, nothing else), "partial" (an object-store
    # publish under way), "foreign" (anything else that is not empty)
    staging: str  # "absent", "ours", "sealed" (ours, finished, not yet published), "foreign"
    example: str = ""  # with "foreign": one file w2v-spark did not write


def inspect(output: str) -> Found:
    """Classify what is at ``output`` and its staging directory, reading only listings and
    small files (no Spark)."""
    staging = staging_dir(output)
    staged = _files(staging)
    staged_manifest = read_manifest(staging) if staged is not None else None
    if staged is None or not staged:
        kind = "absent"
    elif staged_manifest:
        kind = "sealed"
    elif RUN_MARKER in staged or _foreign(staged, set(), STAGED_NAMES) is None:
        kind = "ours"
    else:
        return Found("unchecked", "foreign", _foreign(staged, set(), STAGED_NAMES) or "")
    present = _files(output)
    if not present:
        return Found("absent", kind)
    manifest = read_manifest(output)
    if manifest is not None:
        listed = set(manifest.get("files", {})) | {SUCCESS}
        top = PLOT_NAMES if manifest else STAGED_NAMES | PLOT_NAMES  # an earlier version's: by name
        example = _foreign(present, listed, top)
        return Found("foreign", kind, example) if example else Found("finished", kind)
    if kind == "sealed" and staged_manifest is not None:  # a publish file by file, interrupted
        listed = set(staged_manifest["files"]) | set(_replacing(staging))
        example = _foreign(present, listed, frozenset())
        return Found("foreign", kind, example) if example else Found("partial", kind)
    return Found("foreign", kind, _foreign(present, set(), frozenset()) or next(iter(present)))


def _replacing(staging: str) -> dict[str, int]:
    fs, p = storage.filesystem(storage.join(staging, REPLACING))
    try:
        with fs.open_input_stream(p) as fh:
            files: dict[str, int] = json.loads(fh.read().decode("utf-8"))
            return files
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}


def check_apart(output: str, inputs: tuple[str, ...]) -> None:
    """Refuse an output (or its staging directory) that is an input, holds one, or lies inside
    an input directory: publishing or replacing it would delete the input, and a later run
    would read the vectors as text."""
    targets = [_comparable(output), _comparable(staging_dir(output))]
    for pattern in inputs:
        for path in _expand(pattern):
            for target in targets:
                if target == path or path.startswith(target + "/"):
                    verb = "is" if target == path else "holds"
                    raise ConfigError(
                        f"--output {output!r} {verb} the input {path!r}; choose an --output apart from the inputs"
                    )
                if target.startswith(path + "/"):
                    raise ConfigError(
                        f"--output {output!r} lies inside the input directory {path!r}; choose an --output "
                        "outside the inputs"
                    )


def _comparable(path: str) -> str:
    p = storage.normalize(path).removeprefix("file://")
    return p if storage.is_uri(p) else os.path.realpath(p)


def _expand(pattern: str) -> list[str]:
    import glob

    local = pattern.removeprefix("file://")
    if storage.is_uri(local) or not glob.has_magic(local):
        return [_comparable(pattern)]
    return [_comparable(p) for p in glob.glob(local)]


# --- the staging directory ---------------------------------------------------------------


def start_staging(staging: str, run: str) -> None:
    """A fresh staging directory, marked as this tool's before anything else is written
    (whatever was there was checked to be this tool's by :func:`inspect`)."""
    storage.delete_dir(staging)
    storage.make_dirs(staging)
    marker = {"writer": WRITER, "version": __version__, "run": run, "started": _now()}
    storage.write_text(storage.join(staging, RUN_MARKER), json.dumps(marker) + "\n", durable=True)


def seal(staging: str, run: str, paths: list[str]) -> dict[str, Any]:
    """Write ``_SUCCESS``, the manifest of the outputs under ``paths`` (directories or files of
    the staging directory), last, after flushing them to disk; temporary files a killed writer
    left there are removed first, so they are neither listed nor published."""
    root = storage.normalize(staging)
    files: dict[str, int] = {}
    for path in paths:
        found = _files(path) or {}
        whole = [path] if not _is_dir(path) else [storage.join(path, rel) for rel in found]
        for full, size in zip(whole, found.values(), strict=True):
            if storage.is_temporary(posixpath.basename(full)):
                storage.remove_files([full])
            else:
                files[full[len(root) + 1 :]] = size
    storage.sync_files([storage.join(root, name) for name in files])
    manifest = {
        "writer": WRITER,
        "version": __version__,
        "run": run,
        "sealed": _now(),
        "files": dict(sorted(files.items())),
    }
    storage.write_text(storage.join(staging, SUCCESS), json.dumps(manifest, indent=1) + "\n", durable=True)
    storage.remove_files([storage.join(staging, RUN_MARKER)])  # _SUCCESS says whose it is from now on
    return manifest


def _is_dir(path: str) -> bool:
    fs, p = storage.filesystem(path)
    return bool(fs.get_file_info(p).type == pafs.FileType.Directory)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# --- publishing ----------------------------------------------------------------------------


def publish(staging: str, output: str) -> None:
    """Make the sealed staging directory the output, replacing a finished run there."""
    if renames_directories(output):
        _publish_rename(staging, output)
    else:
        publish_files(staging, output)


def _publish_rename(staging: str, output: str) -> None:
    """One rename; an older run is moved aside first and deleted after, so a reader sees the old
    run or the new one, never a mix."""
    fs, dst = storage.filesystem(output)
    _, src = storage.filesystem(staging)
    old = None
    if fs.get_file_info(dst).type != pafs.FileType.NotFound:
        old = f"{dst}.replaced-{int(time.time())}-{os.urandom(3).hex()}"
        fs.move(dst, old)
    fs.create_dir(posixpath.dirname(dst), recursive=True)
    try:
        fs.move(src, dst)
    except BaseException:
        if old is not None:
            fs.move(old, dst)  # the old run back in place: the sealed staging directory stays to retry
        raise
    storage.sync_dir(posixpath.dirname(dst))
    if old is not None:
        _delete_path(fs, old)


def _delete_path(fs: pafs.FileSystem, path: str) -> None:
    if fs.get_file_info(path).type == pafs.FileType.Directory:
        fs.delete_dir(path)
    else:
        fs.delete_file(path)


def publish_files(staging: str, output: str) -> None:
    """The publish for stores that cannot rename a directory: the old run's ``_SUCCESS`` goes
    first (its file list kept in the staging directory until its files are gone too), then the
    new files move one by one, and the manifest is written last. Each step can run again after
    a failure: ``--resume`` finishes an interrupted publish."""
    manifest = read_manifest(staging) or {}
    old = read_manifest(output)
    if old is not None:
        replacing = old.get("files") or {n: 0 for n in _files(output) or {} if n != SUCCESS}
        storage.write_text(storage.join(staging, REPLACING), json.dumps(replacing) + "\n")
        storage.remove_files([storage.join(output, SUCCESS)])
    replaced = _replacing(staging)
    if replaced:
        storage.remove_files([storage.join(output, name) for name in replaced])
        storage.remove_files([storage.join(staging, REPLACING)])  # from here on, what is there is the new run's
    fs, _ = storage.filesystem(output)
    for name, size in manifest.get("files", {}).items():
        src, dst = storage.join(staging, name), storage.join(output, name)
        if storage.exists(src):
            fs.move(storage.filesystem(src)[1], storage.filesystem(dst)[1])
        elif (_files(dst) or {}).get(posixpath.basename(name)) != size:
            raise TrainingError(f"cannot publish {output}: {name} is in neither {staging} nor the output")
    storage.write_text(storage.join(output, SUCCESS), json.dumps(manifest, indent=1) + "\n")
    storage.delete_dir(staging)


# --- leases --------------------------------------------------------------------------------

LEASE_SECONDS = 120.0  # a lease object not renewed for this long belongs to a dead run
RENEW_SECONDS = 30.0
SETTLE_SECONDS = 1.0  # between writing a lease object and reading it back (two runs racing)


@dataclass
class Lease:
    """This process's hold on an output; ``check`` raises if another run took it over."""

    path: str
    holder: dict[str, Any]
    lost: str = ""
    _fd: int | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        if self.lost:
            raise TrainingError(f"another run took over {self.path} ({self.lost}); this run stops without publishing")


_HELD: dict[str, Lease] = {}


def lease_path(output: str) -> str:
    return storage.normalize(output) + ".lock"


@contextmanager
def lease(output: str) -> Iterator[Lease]:
    """Hold ``DIR.lock`` for the duration, or refuse in one line naming the run that holds it.
    Re-entrant within a process (the CLI holds it from before its checks to the end)."""
    path = lease_path(output)
    if path in _HELD:
        yield _HELD[path]
        return
    holder = {"host": socket.gethostname(), "pid": os.getpid(), "run": uuid.uuid4().hex, "since": _now()}
    local = not storage.is_uri(path) or path.startswith("file://")
    held = _lock_local(path.removeprefix("file://"), holder) if local else _lock_remote(path, holder)
    _HELD[path] = held
    try:
        yield held
    finally:
        del _HELD[path]
        _release(held)


def _describe(holder: dict[str, Any]) -> str:
    return f"process {holder.get('pid', '?')} on {holder.get('host', '?')}, since {holder.get('since', '?')}"


def _lock_local(path: str, holder: dict[str, Any]) -> Lease:
    """An flock on the lock file: the kernel releases it when the holder dies, however it dies."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o644))
    except OSError as e:
        raise ConfigError(
            f"cannot write the output beside {path.removesuffix('.lock')!r} ({e.strerror or e}); "
            "choose a writable --output"
        ) from None
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read_holder(fd)
            os.close(fd)
            raise ConfigError(
                f"output {path.removesuffix('.lock')!r} is in use by another run ({_describe(other)}); "
                "wait for it to finish or choose another --output"
            ) from None
        # The holder before may have deleted the file after we opened it: lock the one at the path.
        if _same_file(fd, path):
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, (json.dumps(holder) + "\n").encode())
    return Lease(path, holder, _fd=fd)


def _same_file(fd: int, path: str) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _read_holder(fd: int) -> dict[str, Any]:
    with suppress(OSError, ValueError):
        data = os.pread(fd, 4096, 0)
        found = json.loads(data.decode("utf-8"))
        if isinstance(found, dict):
            return found
    return {}


def _lock_remote(path: str, holder: dict[str, Any]) -> Lease:
    """A lease object: refused while another run's is unexpired; written, then read back after a
    moment so that of two runs racing only the last writer goes on; renewed by a thread."""
    other = _read_lease(path)
    if other and other.get("run") != holder["run"] and float(other.get("expires", 0)) > time.time():
        left = float(other["expires"]) - time.time()
        raise ConfigError(
            f"output {path.removesuffix('.lock')!r} is in use by another run ({_describe(other)}; its lease "
            f"expires in {left:.0f} s unless renewed); wait for it to finish or choose another --output"
        )
    if other:
        log.warning("taking over the expired lease of %s on %s", _describe(other), path)
    _write_lease(path, holder)
    time.sleep(SETTLE_SECONDS)
    now = _read_lease(path)
    if now.get("run") != holder["run"]:
        raise ConfigError(
            f"output {path.removesuffix('.lock')!r} was just taken by another run ({_describe(now)}); "
            "wait for it to finish or choose another --output"
        )
    held = Lease(path, holder)
    threading.Thread(target=_renew, args=(held,), name="lease", daemon=True).start()
    return held


def _read_lease(path: str) -> dict[str, Any]:
    fs, p = storage.filesystem(path)
    try:
        with fs.open_input_stream(p) as fh:
            found = json.loads(fh.read().decode("utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return found if isinstance(found, dict) else {}


def _write_lease(path: str, holder: dict[str, Any]) -> None:
    storage.write_text(path, json.dumps({**holder, "expires": time.time() + LEASE_SECONDS}) + "\n")


def _renew(held: Lease) -> None:
    while not held._stop.wait(RENEW_SECONDS):
        try:
            now = _read_lease(held.path)
            if now.get("run") != held.holder["run"]:
                held.lost = _describe(now)
                return
            _write_lease(held.path, held.holder)
        except OSError as e:  # a passing store error: the next renewal tries again
            log.warning("could not renew the lease on %s: %s", held.path, e)


def _release(held: Lease) -> None:
    held._stop.set()
    if held._fd is not None:
        with suppress(FileNotFoundError):
            os.remove(held.path)  # still locked: a run waiting on the old file retries on the path
        os.close(held._fd)
        return
    with suppress(OSError):
        if _read_lease(held.path).get("run") == held.holder["run"]:
            storage.remove_files([held.path])
