"""Paths and files shared by the driver, Spark and Python tasks, through pyarrow.fs.

A plain path means the local filesystem (made absolute, and given to Spark as a ``file:``
URI so a cluster's default filesystem cannot reinterpret it). URIs such as ``hdfs://`` or
``s3://`` go to pyarrow as they are; Spark's ``s3a://`` is read by pyarrow as ``s3://``.
"""

from __future__ import annotations

import os
import posixpath
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq


def is_uri(path: str) -> bool:
    return "://" in path


def normalize(path: str) -> str:
    """A stable form of a user path: absolute local paths stay paths, URIs stay URIs."""
    if is_uri(path):
        return path.rstrip("/")
    return os.path.abspath(os.path.expanduser(path))


def spark_uri(path: str) -> str:
    """The form Spark's readers and writers should get."""
    p = normalize(path)
    return p if is_uri(p) else "file://" + p


def filesystem(path: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path inside it) for a normalized path or URI."""
    p = normalize(path)
    if not is_uri(p):
        return pafs.LocalFileSystem(), p
    if p.startswith("s3a://") or p.startswith("s3n://"):
        p = "s3://" + p.split("://", 1)[1]
    if p.startswith("file://"):
        return pafs.LocalFileSystem(), p[len("file://") :]
    fs, inner = pafs.FileSystem.from_uri(p)
    return fs, str(inner)


def join(base: str, *parts: str) -> str:
    return posixpath.join(normalize(base), *parts)


def exists(path: str) -> bool:
    fs, p = filesystem(path)
    return bool(fs.get_file_info(p).type != pafs.FileType.NotFound)


def is_nonempty_dir(path: str) -> bool:
    fs, p = filesystem(path)
    info = fs.get_file_info(p)
    if info.type == pafs.FileType.NotFound:
        return False
    if info.type != pafs.FileType.Directory:
        return True  # a file where a directory should go counts as occupied
    return bool(fs.get_file_info(pafs.FileSelector(p, recursive=False)))


def delete_dir(path: str) -> None:
    fs, p = filesystem(path)
    if fs.get_file_info(p).type != pafs.FileType.NotFound:
        fs.delete_dir(p)


def remove_files(paths: Sequence[str]) -> None:
    """Delete ``paths``; any already gone is skipped."""
    for path in paths:
        if not is_uri(path):
            with suppress(FileNotFoundError):
                os.remove(path)
            continue
        fs, p = filesystem(path)
        if fs.get_file_info(p).type != pafs.FileType.NotFound:
            fs.delete_file(p)


def claim(path: str) -> bool:
    """Create the empty file ``path``; False if it already existed. Exclusive on a local
    filesystem; on others a check then a write, enough to tell apart attempts seconds apart."""
    if not is_uri(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True
    if exists(path):
        return False
    write_text(path, "")
    return True


def make_dirs(path: str) -> None:
    fs, p = filesystem(path)
    fs.create_dir(p, recursive=True)


def temp_name(path: str) -> str:
    """A unique temporary sibling of ``path`` for writing it: hidden (a leading ``.``), so that
    Spark, pyarrow and the vector readers skip it if a killed writer leaves it behind."""
    head, tail = posixpath.split(path)
    return posixpath.join(head, f".{tail}.tmp-{os.getpid()}-{os.urandom(4).hex()}")


def is_temporary(name: str) -> bool:
    """A file name :func:`temp_name` makes."""
    return name.startswith(".") and ".tmp-" in name


@contextmanager
def atomic_output(path: str, durable: bool = False) -> Iterator[IO[bytes]]:
    """Write ``path`` through a temporary sibling renamed into place only on success.

    A task that dies half-way (or a retried task racing its first attempt) never leaves a
    truncated file under the final name. ``durable`` also flushes a local file to disk before
    the rename, and the rename after, so that a crash of the machine cannot leave the name
    pointing at missing data (checkpoints and published outputs; docs/guarantees.md#publish).
    """
    fs, p = filesystem(path)
    tmp = temp_name(p)
    local = isinstance(fs, pafs.LocalFileSystem)
    fs.create_dir(posixpath.dirname(p), recursive=True)
    try:
        # An object store's stream publishes what it holds when closed, even after an error:
        # only a whole temporary object is moved to the final name.
        with fs.open_output_stream(tmp) as raw:
            yield raw
        if durable and local:
            sync_files([tmp], directories=False)
        fs.move(tmp, p)
        if durable and local:
            sync_dir(posixpath.dirname(p))
    except BaseException:
        if fs.get_file_info(tmp).type != pafs.FileType.NotFound:
            fs.delete_file(tmp)
        raise


def sync_dir(directory: str) -> None:
    """Flush a local directory's entries (a rename into it) to disk; a no-op for a URI."""
    if is_uri(directory):
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_files(paths: Sequence[str], directories: bool = True) -> None:
    """Flush local files written by other processes (a checkpoint's blocks) to disk, then their
    directories; object stores and HDFS persist a file when it is closed, so URIs are skipped."""
    local = [p for p in paths if not is_uri(p)]
    for path in local:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for directory in sorted({os.path.dirname(p) for p in local}) if directories else []:
        sync_dir(directory)


def write_text(path: str, text: str, durable: bool = False) -> None:
    with atomic_output(path, durable) as fh:
        fh.write(text.encode("utf-8"))


def block_rows(vector_size: int, block_bytes: int = 16 << 20) -> int:
    """Rows of a float32 matrix in one block of about ``block_bytes`` (16 MiB)."""
    return max(1, block_bytes // (4 * vector_size))


class _Checksummed:
    """A writable stream that keeps the CRC-32 of what passes through it (checkpoints record it)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.crc32 = raw, 0

    def write(self, data: Any) -> int:
        self.crc32 = zlib.crc32(data, self.crc32)
        return self.raw.write(data)


def write_arrays(path: str, *arrays: np.ndarray) -> int:
    """Arrays as consecutive .npy records in one file (no pickle), written atomically; returns
    the file's CRC-32.

    numpy writes each array in 16 MiB chunks, so no copy of a large model is made.
    """
    with atomic_output(path) as fh:
        out = _Checksummed(fh)
        for a in arrays:
            np.lib.format.write_array(out, np.ascontiguousarray(a), allow_pickle=False)
    return out.crc32


def _read_npy_header(fh: IO[bytes]) -> tuple[tuple[int, ...], np.dtype[Any]]:
    version = np.lib.format.read_magic(fh)
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = reader(fh)
    if dtype.hasobject:
        raise ValueError("refusing an array of Python objects: it would need allow_pickle=True (unpickling)")
    if fortran:
        raise ValueError("expected a C-ordered array")
    return shape, dtype


def _fill(fh: IO[bytes], out: np.ndarray) -> None:
    """Read exactly out.nbytes into ``out`` in bounded chunks (no second copy)."""
    view = out.data.cast("B")  # out is C-contiguous (freshly allocated)
    done, chunk = 0, 64 << 20
    while done < len(view):
        data = fh.read(min(chunk, len(view) - done))
        if not data:
            raise ValueError(f"array file ends after {done} of {len(view)} bytes; is it truncated?")
        view[done : done + len(data)] = data
        done += len(data)


def read_arrays(path: str, count: int) -> list[np.ndarray]:
    """The first ``count`` arrays of a file written by :func:`write_arrays`, as fresh writable arrays.

    Never unpickles: object arrays are refused.
    """
    fs, p = filesystem(path)
    arrays = []
    with fs.open_input_stream(p) as fh:
        for _ in range(count):
            shape, dtype = _read_npy_header(fh)
            a = np.empty(shape, dtype=dtype)
            _fill(fh, a)
            arrays.append(a)
    return arrays


def read_rows(path: str, index: int, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of array ``index`` of a :func:`write_arrays` file, read with seeks:
    a block of a large model without reading the rest of the file."""
    fs, p = filesystem(path)
    with fs.open_input_file(p) as fh:
        offset = 0
        for j in range(index + 1):
            fh.seek(offset)
            shape, dtype = _read_npy_header(fh)
            row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
            offset = fh.tell() + shape[0] * row_bytes
            if j == index:
                stop = min(stop, shape[0])
                out = np.empty((max(0, stop - start), *shape[1:]), dtype=dtype)
                fh.seek(fh.tell() + start * row_bytes)
                _fill(fh, out)
                return out
    raise AssertionError("unreachable")


def write_raw(path: str, *arrays: np.ndarray) -> None:
    """Float32 arrays' bytes back to back, with no header, written atomically: for transient files
    whose readers know the shapes (the hot-row meetings', read by :func:`read_raw_rows`), where
    parsing .npy headers cost more than reading the rows. A local path is written with plain
    system calls, straight from the arrays' memory: meetings write thousands of these per epoch."""
    if is_uri(path):
        with atomic_output(path) as fh:
            for a in arrays:
                fh.write(np.ascontiguousarray(a).tobytes())
        return
    tmp = temp_name(path)
    if not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        with open(tmp, "wb", buffering=0) as raw:
            for a in arrays:
                if not a.size:  # a mean slice of no rows (fewer hot rows than shards): nothing to write
                    continue
                view = np.ascontiguousarray(a).data.cast("B")
                while view:  # a write may take only part of it
                    view = view[raw.write(view) :]
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_raw_rows(path: str, arrays: int, rows: int, width: int, start: int, stop: int) -> list[np.ndarray]:
    """Rows ``start:stop`` of each of the ``arrays`` float32 (rows x width) arrays of a
    :func:`write_raw` file, in one open, with seeks (plain system calls for a local path)."""
    local = not is_uri(path)
    out = []
    with open(path, "rb", buffering=0) if local else _open_remote(path) as fh:
        for k in range(arrays):
            a = np.empty((max(0, stop - start), width), np.float32)
            if a.size:  # a slice of no rows (fewer hot rows than shards) reads nothing
                fh.seek((k * rows + start) * width * 4)
                if local:
                    _read_into(fh, a)
                else:
                    _fill(fh, a)
            out.append(a)
    return out


def _open_remote(path: str) -> Any:
    fs, p = filesystem(path)
    return fs.open_input_file(p)


def _read_into(fh: Any, out: np.ndarray) -> None:
    """Read exactly out.nbytes from an unbuffered local file into ``out``."""
    view = out.data.cast("B")
    while view:
        got = fh.readinto(view)
        if not got:
            raise ValueError(f"{fh.name} ends early; is it truncated?")
        view = view[got:]


def first_missing(paths: Sequence[str], start: int = 0) -> int:
    """The index of the first of ``paths[start:]`` that does not exist (len(paths) if all do).

    A waiter that knows the first ``start`` exist so checks only the files still missing: one
    existence check per poll, where listing a directory stats every file in it.
    """
    present = os.path.exists if not paths or not is_uri(paths[0]) else exists
    while start < len(paths) and present(paths[start]):
        start += 1
    return start


def write_table(table: pa.Table, directory: str) -> None:
    """A small driver-side table as ``directory/part-00000.parquet``, readable by Spark and pyarrow.

    Used for vocab/: it already sits on the driver, and shipping it through ``createDataFrame``
    would embed the whole table in Spark tasks.
    """
    delete_dir(directory)
    with atomic_output(join(directory, "part-00000.parquet")) as fh:
        pq.write_table(table, fh, compression="snappy")


def iter_row_groups(path: str, columns: Sequence[str] | None = None) -> Iterator[pa.Table]:
    """A Parquet file one row group at a time, single-threaded.

    Memory stays at one row group whatever the file size. ``ParquetFile.iter_batches`` was
    measured to hold the whole file, several times this way's peak, and to run slower on a busy
    2-core executor when it decodes with threads.
    """
    fs, p = filesystem(path)
    with fs.open_input_file(p) as raw:
        reader = pq.ParquetFile(raw)
        for i in range(reader.num_row_groups):
            yield reader.read_row_group(i, columns=columns, use_threads=False)


def num_rows(path: str) -> int:
    """Rows of a Parquet file, from its footer."""
    fs, p = filesystem(path)
    with fs.open_input_file(p) as raw:
        return int(pq.ParquetFile(raw).metadata.num_rows)


def iter_row_range(path: str, start: int, stop: int, columns: Sequence[str] | None = None) -> Iterator[pa.Table]:
    """Rows ``start:stop`` of a Parquet file, read one row group at a time (see iter_row_groups)."""
    fs, p = filesystem(path)
    with fs.open_input_file(p) as raw:
        reader = pq.ParquetFile(raw)
        first = 0
        for i in range(reader.num_row_groups):
            size = reader.metadata.row_group(i).num_rows
            lo, hi = max(start, first), min(stop, first + size)
            if lo < hi:
                group = reader.read_row_group(i, columns=columns, use_threads=False)
                yield group.slice(lo - first, hi - lo)
            first += size
            if first >= stop:
                break
