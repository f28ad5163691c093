"""Stage 5: the files people load, and reading them back.

vectors/ (Parquet), vectors.txt (word2vec text), vectors.bin (word2vec binary, as gensim's
``save_word2vec_format(binary=True)``), projector/ (``vectors.tsv`` + ``metadata.tsv`` for the
TensorBoard embedding projector) and metrics.json. ``_SUCCESS``, the manifest of all of them,
is written last (``outputs.seal``), so its presence means every output is complete.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from w2v_spark.errors import DataError
from w2v_spark.runtime import storage
from w2v_spark.text.schemas import VECTORS_ARROW_SCHEMA


def vectors_table(words: pa.StringArray, vectors: np.ndarray) -> pa.Table:
    """``word, vector`` rows in id order (most frequent word first)."""
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    flat = pa.array(v.ravel())
    offsets = pa.array(np.arange(0, v.size + 1, v.shape[1], dtype=np.int32))
    return pa.Table.from_arrays(
        [words.cast(pa.string()), pa.ListArray.from_arrays(offsets, flat)], schema=VECTORS_ARROW_SCHEMA
    )


Blocks = Iterable[tuple[pa.StringArray, np.ndarray]]  # (words, their vectors), in id order


def matrix_blocks(words: pa.StringArray, vectors: np.ndarray, rows: int = 10_000) -> Blocks:
    """A matrix already in memory, as the (words, vectors) blocks the writers take."""
    return ((words[s : s + rows], vectors[s : s + rows]) for s in range(0, len(vectors), rows))


def write_vectors_part(path: str, words: pa.StringArray, vectors: np.ndarray) -> int:
    """One Parquet file of vectors/ (``word string, vector array<float>``); returns its rows.

    vectors/ is one such file per model block, ``part-BBBBB.parquet`` in id order, written by
    the block's Spark task, readable by Spark, pandas, DuckDB and pyarrow as one table.
    """
    table = vectors_table(words, vectors)
    with storage.atomic_output(path) as fh:
        pq.write_table(table, fh, compression="snappy")
    return len(words)


# Values formatted at once when writing word2vec files: bounds the driver's memory at a few tens
# of MiB whatever the vocabulary or the dimensions (docs/scaling.md#memory).
CHUNK_VALUES = 100_000


# What word2vec files separate a line's fields and lines with: gensim splits on " " and "\n",
# word2vec.c on ASCII whitespace. A word holding one reads back as several, shifting what follows.
SEPARATORS = r"[ \t\n\r\x0b\f]"


def word_with_whitespace(words: pa.Array) -> str | None:
    """The first of ``words`` that the word2vec formats cannot hold (one with whitespace), or None."""
    hits = pc.match_substring_regex(words, SEPARATORS)
    found = pc.index(hits, True).as_py()
    return None if found < 0 else str(words[found].as_py())


def check_words(words: pa.Array, fix: str) -> None:
    """Refuse, naming one, words a word2vec text or binary file would misalign; ``fix`` says what to do."""
    word = word_with_whitespace(words)
    if word is not None:
        raise DataError(
            f"the word {word!r} holds whitespace, which separates the fields of word2vec text and binary files "
            f"(every word after it would read back shifted); {fix}"
        )


WRITER_FIX = "keep such words in Parquet (a run's vectors/, Word2VecModel.getVectors()) or tokenize without whitespace"


def _chunks(blocks: Blocks, dim: int) -> Iterator[tuple[pa.StringArray, np.ndarray]]:
    rows = max(1, CHUNK_VALUES // max(1, dim))
    for names, v in blocks:
        check_words(names, WRITER_FIX)
        for start in range(0, len(v), rows):
            yield names[start : start + rows], np.ascontiguousarray(v[start : start + rows])


def _write_values(fh: Any, lines: pa.Array) -> None:
    """Write the concatenated values of a string/binary array as they lie in its buffer (no copies)."""
    _, offsets, data = lines.buffers()[:3]
    bounds = np.frombuffer(offsets, dtype=np.int32, count=len(lines) + 1, offset=4 * lines.offset)
    fh.write(data[int(bounds[0]) : int(bounds[-1])])


def write_word2vec_text(path: str, blocks: Blocks, count: int, dim: int) -> None:
    """The word2vec text format: a ``V d`` header, then ``word v1 ... vd`` per line, streamed
    from ``blocks`` (memory stays at one chunk whatever the vocabulary).

    Each value is the shortest decimal that reads back as the same float32 (Arrow's cast,
    compiled: about twice as fast as Python's ``%.9g`` formatting on a million-word model); lines
    are joined in Arrow and written from its buffer, never as Python strings.
    """
    with storage.atomic_output(path) as fh:
        fh.write(f"{count} {dim}\n".encode())
        for names, block in _chunks(blocks, dim):
            values = pc.cast(pa.array(block.astype(np.float32, copy=False).ravel()), pa.string())
            offsets = pa.array(np.arange(0, block.size + 1, dim, dtype=np.int32))
            rows = pc.binary_join(pa.ListArray.from_arrays(offsets, values), " ")
            lines = pc.binary_join_element_wise(names.cast(pa.string()), rows, " ")
            _write_values(fh, pc.binary_join_element_wise(lines, "\n", ""))


def write_word2vec_binary(path: str, blocks: Blocks, count: int, dim: int) -> None:
    """The word2vec binary format: a ``V d`` header line, then per word ``word `` and d float32
    (little-endian) and a newline, which is what word2vec.c and gensim write and read."""
    width = 4 * dim
    with storage.atomic_output(path) as fh:
        fh.write(f"{count} {dim}\n".encode())
        for names, block in _chunks(blocks, dim):
            data = pa.py_buffer(np.ascontiguousarray(block, dtype="<f4"))
            vectors = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(names), [None, data])
            records = pc.binary_join_element_wise(names.cast(pa.binary()), vectors.cast(pa.binary()), b" ")
            _write_values(fh, pc.binary_join_element_wise(records, b"\n", b""))


def write_projector(directory: str, words: pa.StringArray, vectors: np.ndarray) -> None:
    """``vectors.tsv`` (tab-separated values, no header) and ``metadata.tsv`` (one word per line)
    for the TensorBoard embedding projector (https://projector.tensorflow.org, "Load")."""
    v = np.asarray(vectors, dtype=np.float32)
    row_format = "\t".join(["%.6g"] * v.shape[1]) + "\n"
    with storage.atomic_output(storage.join(directory, "vectors.tsv")) as fh:
        for start in range(0, v.shape[0], 10_000):
            fh.write("".join(row_format % tuple(r) for r in v[start : start + 10_000].tolist()).encode())
    # A word with a tab or newline would shift the projector's rows (a custom token pattern or fit()'s
    # own tokens can make one): it is written with spaces there, as the labels are only shown.
    names = (w.replace("\t", " ").replace("\n", " ") for w in words.to_pylist())
    storage.write_text(storage.join(directory, "metadata.tsv"), "".join(n + "\n" for n in names))


def load_vectors(output_dir: str) -> tuple[list[str], np.ndarray]:
    """Words and vectors (float32, in id order) from a run's vectors/, on any filesystem storage reaches."""
    fs, inner = storage.filesystem(storage.join(output_dir, "vectors"))
    parts = sorted(i.path for i in fs.get_file_info(pafs.FileSelector(inner)) if i.base_name.startswith("part-"))
    table = pa.concat_tables([pq.read_table(f, filesystem=fs) for f in parts])
    flat = table.column("vector").combine_chunks()
    dim = len(flat[0]) if len(flat) else 0
    return table.column("word").to_pylist(), flat.flatten().to_numpy().astype(np.float32).reshape(len(flat), dim)


def read_vectors(path: str) -> tuple[list[str], np.ndarray]:
    """Words and vectors (float32, rows in file order) from a run's output directory or a file.

    A directory is read from its vectors/ Parquet table; a file in word2vec format, binary when
    it ends in ``.bin``, else text (``V d`` header, then ``word v1 ... vd``). Raises DataError
    with the fix when the path is not one of these.
    """
    p = Path(path)
    if p.is_dir():
        if (p / "vectors").is_dir():
            parts = sorted((p / "vectors").glob("part-*.parquet"))  # one per block, in id order
            table = pa.concat_tables([pq.read_table(f) for f in parts]) if parts else pq.read_table(p / "vectors")
            flat = table.column("vector").combine_chunks()
            words = table.column("word").to_pylist()
            dim = len(flat[0]) if len(flat) else 0
            values = flat.flatten().to_numpy().astype(np.float32)
            return words, values.reshape(len(words), dim)
        if (p / "vectors.txt").is_file():
            return read_vectors(str(p / "vectors.txt"))
        raise DataError(f"{path} has no vectors/ or vectors.txt; pass a run's output directory or a word2vec file")
    if not p.is_file():
        raise DataError(f"vectors path {path!r} does not exist; pass a run's output directory or a word2vec file")
    with p.open("rb") as fh:
        header = fh.readline().split()
        try:
            count, dim = int(header[0]), int(header[1])
        except (IndexError, ValueError):
            raise DataError(f"{path} does not start with a 'V d' word2vec header; is it a word2vec file?") from None
        return _read_binary(fh, count, dim, path) if p.suffix == ".bin" else _read_text(fh, count, dim, path)


def _read_text(fh: Any, count: int, dim: int, path: str) -> tuple[list[str], np.ndarray]:
    words: list[str] = []
    vectors = np.empty((count, dim), dtype=np.float32)
    for i, raw in enumerate(fh):
        if i >= count:
            break
        parts = raw.decode("utf-8", errors="replace").rstrip("\n").rstrip(" ").split(" ")
        if len(parts) != dim + 1:
            raise DataError(f"{path}: line {i + 2} has {len(parts) - 1} values, the header says {dim}")
        words.append(parts[0])
        vectors[i] = np.asarray(parts[1:], dtype=np.float32)
    if len(words) != count:
        raise DataError(f"{path}: the header says {count} words but the file has {len(words)}; is it truncated?")
    return words, vectors


def _read_binary(fh: Any, count: int, dim: int, path: str) -> tuple[list[str], np.ndarray]:
    words: list[str] = []
    vectors = np.empty((count, dim), dtype=np.float32)
    width = 4 * dim
    for i in range(count):
        name = bytearray()
        while (ch := fh.read(1)) != b" ":
            if not ch:
                raise DataError(f"{path}: ends after {i} of {count} words; is it truncated?")
            if ch != b"\n":  # word2vec.c puts a newline after each vector; some writers do not
                name += ch
        data = fh.read(width)
        if len(data) != width:
            raise DataError(f"{path}: ends inside the vector of word {i + 1}; is it truncated?")
        words.append(name.decode("utf-8", errors="replace"))
        vectors[i] = np.frombuffer(data, dtype="<f4")
    return words, vectors


def write_metrics(path: str, metrics: dict[str, Any]) -> None:
    storage.write_text(path, json.dumps(metrics, indent=2, sort_keys=False) + "\n")
