"""The model (E and Theta) as row-block files, where it lives between rounds, epochs and runs.

A model is a directory of ``block-BBBBB.npy`` files; block b holds rows
``b * rows .. (b + 1) * rows`` of E and of Theta as two .npy records (no pickle), ``rows``
chosen so one matrix block is about 16 MiB. Blocks are what Spark tasks exchange: a training
task reads every block of the round's model, and averaging task b reads row block b of every
shard's delta file and writes block b of the next model. So the driver only names files and
never holds E or Theta (docs/scaling.md#bytes-per-round), and a checkpoint is the block
directory of an epoch's last round.

Everything here is plain numpy and pyarrow file I/O: it runs in tasks and never imports Spark.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from w2v_spark import kernels
from w2v_spark.runtime import storage

_GOLDEN = 0x9E3779B97F4A7C15  # SplitMix64's increment: the generator's state after n draws is s0 + n * this


@dataclass(frozen=True)
class ModelShape:
    """V x d, and how the rows are cut into blocks."""

    vocab_size: int
    vector_size: int
    block_rows: int = 0  # rows per block; 0 means about 16 MiB of one float32 matrix

    @property
    def rows(self) -> int:
        return self.block_rows or storage.block_rows(self.vector_size)

    @property
    def blocks(self) -> int:
        return max(1, -(-self.vocab_size // self.rows))

    @property
    def nbytes(self) -> int:
        """Bytes of one copy of the model (E and Theta)."""
        return 2 * self.vocab_size * self.vector_size * 4

    def bounds(self, block: int) -> tuple[int, int]:
        start = block * self.rows
        return start, min(self.vocab_size, start + self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "vector_size": self.vector_size, "block_rows": self.rows}


def block_file(model_dir: str, block: int) -> str:
    return storage.join(model_dir, f"block-{block:05d}.npy")


def write_block(model_dir: str, block: int, emb: np.ndarray, theta: np.ndarray) -> tuple[int, int]:
    """Write one block atomically; returns the bytes of the arrays and the file's CRC-32
    (which a checkpoint records)."""
    crc = storage.write_arrays(block_file(model_dir, block), emb, theta)
    return int(emb.nbytes + theta.nbytes), crc


def read_block(model_dir: str, block: int) -> tuple[np.ndarray, np.ndarray]:
    emb, theta = storage.read_arrays(block_file(model_dir, block), 2)
    return emb, theta


def read_matrix_block(model_dir: str, block: int, index: int) -> np.ndarray:
    """E (index 0) or Theta (index 1) rows of one block, without reading the other matrix."""
    return storage.read_rows(block_file(model_dir, block), index, 0, 1 << 62)


def read_model(model_dir: str, shape: ModelShape) -> tuple[np.ndarray, np.ndarray]:
    """The whole model, assembled from its blocks (what a training task holds)."""
    emb = np.empty((shape.vocab_size, shape.vector_size), np.float32)
    theta = np.empty_like(emb)
    fill_model(model_dir, shape, emb, theta)
    return emb, theta


def fill_model(model_dir: str, shape: ModelShape, emb: np.ndarray, theta: np.ndarray) -> None:
    """Copy the model's blocks into ``emb`` and ``theta`` (arrays or memory maps of V x d)."""
    for b in range(shape.blocks):
        start, stop = shape.bounds(b)
        emb[start:stop], theta[start:stop] = read_block(model_dir, b)


def init_block(shape: ModelShape, seed: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Block ``block`` of the initial model: E uniform in (-0.5/d, 0.5/d) as in word2vec, Theta zeros.

    E is one stream of draws from ``derive_seed(seed, -1)`` in row order; a block starts its
    part of the stream by skipping ahead (SplitMix64's state after n draws is s0 + n * golden),
    so any task can make any block and the model does not depend on the block size.
    """
    start, stop = shape.bounds(block)
    d = shape.vector_size
    state = kernels.derive_seed(seed, -1)
    state[0] = np.uint64((int(state[0]) + start * d * _GOLDEN) % (1 << 64))
    emb = ((kernels.uniform((stop - start) * d, state) - 0.5) / d).reshape(stop - start, d).astype(np.float32)
    return emb, np.zeros_like(emb)


def write_delta(path: str, emb: np.ndarray, theta: np.ndarray, model_dir: str, shape: ModelShape) -> tuple[int, int]:
    """Write ``(emb, theta)`` minus the model in ``model_dir`` as a two-array file, a block at a time.

    The trained model's deltas without a second copy of it in memory. Returns the bytes read
    (the base model, once) and the rows the deltas changed (of 2 x V): what a sparse delta
    file would hold instead of every row (docs/scaling.md#sparse-deltas).
    """
    read = touched = 0
    with storage.atomic_output(path) as fh:
        for index, trained in enumerate((emb, theta)):
            np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(trained))
            for b in range(shape.blocks):
                start, stop = shape.bounds(b)
                base = read_matrix_block(model_dir, b, index)
                read += base.nbytes
                np.subtract(trained[start:stop], base, out=base)
                touched += int(np.count_nonzero(base.any(axis=1)))
                fh.write(base.tobytes())
    return read, touched


def average_block(
    model_dir: str, next_dir: str, block: int, deltas: list[str], shape: ModelShape
) -> tuple[int, int, int]:
    """Block ``block`` of the next model: this model's block plus the mean of the deltas' rows.

    The deltas are added one file after another in the order given (sorted by the caller), so the
    result is the same bit for bit whichever task or executor does it. Returns (bytes read,
    written, the written file's CRC-32).
    """
    emb, theta = read_block(model_dir, block)
    read = emb.nbytes + theta.nbytes
    start, stop = shape.bounds(block)
    inv = np.float32(1.0 / max(1, len(deltas)))
    for path in deltas:
        for index, target in enumerate((emb, theta)):
            rows = storage.read_rows(path, index, start, stop)
            read += rows.nbytes
            np.add(target, inv * rows, out=target)  # in place, as += does
    written, crc = write_block(next_dir, block, emb, theta)
    return int(read), written, crc
