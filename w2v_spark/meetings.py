"""Hot-row meetings: how often the shards of a round meet, which rows they average, and how.

At a meeting every shard's copy gets, for the rows of the most frequent words, the mean over
all shards' copies (docs/averaging-experiments.md, "Decisions"). The tasks of the round (one
Spark barrier stage) meet through small files, a reduce-scatter (``average_hot_rows``), in a
directory of the round's own; a task deletes its files of a meeting once every task has
written its part for the next one, so a round keeps at most two meetings' files however many
it holds.

That deletion is safe only among the tasks of one attempt: a file left by an earlier attempt
would let a task run ahead and delete what a slower task of this attempt still reads. Spark
does not retry a failed barrier stage that returns results; the driver reruns such a round
itself, in a fresh directory (``training.run_round``), and a task refuses a directory an
earlier attempt used all the same (``claim``), in case a Spark version ever does.

Where the directories go: the round's directory, or, when every task runs on the driver's
machine (a local master in a classic session) and its shared memory has room, under
``/dev/shm``: the same files, kept in memory instead of being written to a disk (README,
"Shards and quality").
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass

import numpy as np

from w2v_spark import memory, storage

MEETING_STEP = 16  # meetings per epoch come in steps of this many (the smallest corpora get one step)
TOKENS_PER_STEP = 1_600_000  # corpus tokens per step: a meeting about every 100,000 tokens
SHARED_MEMORY = "/dev/shm"  # a memory-backed filesystem every Linux process of the machine shares


class RoundRetried(RuntimeError):
    """Raised in a task of a retried attempt of a round with meetings (see the module's docstring)."""


def meetings_per_epoch(tokens: int) -> int:
    """The hot-row meetings per epoch when ``--hot-syncs-per-epoch`` is unset, for a corpus of
    ``tokens`` in-vocabulary tokens: 16 per 1.6 million, rounded, at least 16.

    What the copies drift apart by between meetings grows with the windows trained between
    them, so a larger corpus meets more often per epoch: 16 sufficed for 1.4 million tokens and
    not for 4.6 million, where 48 did (docs/averaging-experiments.md, section 17).
    """
    return MEETING_STEP * max(1, int(tokens / TOKENS_PER_STEP + 0.5))


@dataclass(frozen=True)
class HotSync:
    """Mid-round averaging of the hottest rows (ids follow descending count, so rows 0..n-1).

    As in pWord2Vec's multi-node trainer, meeting j averages ``rows`` times the largest power of
    two dividing j: the most frequent words at every meeting, twice as many at every second one,
    four times as many at every fourth, so a word's rows meet about as often as its frequency
    asks for, at about log2(per_epoch) times the cost of the first tier.
    """

    rows: int
    per_epoch: int

    def rows_at(self, meeting: int) -> int:
        return self.rows * (meeting & -meeting)

    def points(self, sync: int, syncs: int) -> list[int]:
        """The meetings j (at fraction j / per_epoch of every shard's epoch) inside round ``sync``.

        Every task of the round gets the same list whatever its row count, so none waits forever.
        """
        return [j for j in range(1, self.per_epoch) if sync * self.per_epoch < j * syncs < (sync + 1) * self.per_epoch]

    def meeting_bytes(self, shards: int, vocab_size: int, vector_size: int) -> int:
        """The bytes of the files of the epoch's largest meeting (each shard's hot rows of E and
        Θ, and their mean): a round holds at most two meetings' files at once."""
        rows = max((min(vocab_size, self.rows_at(j)) for j in range(1, self.per_epoch)), default=0)
        return (shards + 1) * rows * 2 * vector_size * 4


def shared_memory_root(run: str, need: int) -> str:
    """In the driver, for tasks on its own machine: a directory under /dev/shm for the run's
    meeting files, if it has room for ``need`` bytes twice over and the machine's available
    memory (MemAvailable) four times over; else "" (they go to the round's directory).

    Named after the driver's process, so that a later run can delete what a killed one left.
    """
    available = memory.available_bytes()
    if available is None or not os.path.isdir(SHARED_MEMORY):
        return ""
    remove_abandoned()
    try:
        fs = os.statvfs(SHARED_MEMORY)
    except OSError:
        return ""
    if fs.f_bavail * fs.f_frsize < 2 * need or available < 4 * need:
        return ""
    return os.path.join(SHARED_MEMORY, f"w2v-spark-{os.getpid()}-{run}")


def remove_abandoned() -> None:
    """Delete the meeting directories under /dev/shm of drivers no longer running: a run killed
    mid-round leaves up to two meetings' files there, which hold memory until deleted."""
    for name in os.listdir(SHARED_MEMORY):
        parts = name.split("-", 3)
        if len(parts) < 4 or parts[:2] != ["w2v", "spark"] or not parts[2].isdigit():
            continue
        try:
            os.kill(int(parts[2]), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(SHARED_MEMORY, name), ignore_errors=True)
        except PermissionError:  # another user's process, alive
            continue


def claim(meet_dir: str, task: int) -> None:
    """In a task, first thing: mark ``meet_dir`` as used by this attempt's task ``task``, or
    raise ``RoundRetried`` if an earlier attempt's task did (see the module's docstring)."""
    if not storage.claim(storage.join(meet_dir, f"task-{task:05d}.started")):
        raise RoundRetried(f"{meet_dir} was used by an earlier attempt of this round; the driver reruns it")


def average_hot_rows(
    meet_dir: str,
    shards: int,
    rows: int,
    meeting: int,
    copies: dict[int, tuple[np.ndarray, np.ndarray]],
    previous: int = 0,
) -> None:
    """In a barrier task: replace rows 0..rows-1 of the task's copies {shard: (emb, theta)} by
    their mean over all ``shards`` copies.

    ``previous`` is the round's meeting before this one (0: none), whose files the task deletes
    once every task has written its part for this one.

    A reduce-scatter through files: every task writes its copies' hot rows; the task holding
    shard s averages slice s of those rows over all the files, in shard order, and writes it;
    every task then reads the slices back. Each task moves about three times the hot rows,
    whatever the shard count, and no task waits on another's whole sum. One task computes each
    slice, so every copy gets the same bits whichever task trains which shard, and the run stays
    reproducible. The files hold raw rows, not .npy records: parsing a header per read cost
    more than the read (docs/averaging-experiments.md, section 17).
    """
    width = next(iter(copies.values()))[0].shape[1]
    for shard, (emb, theta) in copies.items():
        storage.write_raw(meet_file(meet_dir, meeting, "part", shard), emb[:rows], theta[:rows])
    wait_for_files([meet_file(meet_dir, meeting, "part", p) for p in range(shards)])
    if previous:  # every task has read all of the previous meeting's files: it wrote its part after
        storage.remove_files([meet_file(meet_dir, previous, kind, s) for s in copies for kind in ("part", "mean")])
    inv = np.float32(1.0 / shards)
    for k in copies:
        start, stop = rows * k // shards, rows * (k + 1) // shards
        total_e, total_t = storage.read_raw_rows(meet_file(meet_dir, meeting, "part", 0), 2, rows, width, start, stop)
        for p in range(1, shards):
            e, t = storage.read_raw_rows(meet_file(meet_dir, meeting, "part", p), 2, rows, width, start, stop)
            total_e += e
            total_t += t
        storage.write_raw(meet_file(meet_dir, meeting, "mean", k), total_e * inv, total_t * inv)
    wait_for_files([meet_file(meet_dir, meeting, "mean", k) for k in range(shards)])
    for k in range(shards):
        start, stop = rows * k // shards, rows * (k + 1) // shards
        mean_e, mean_t = storage.read_raw_rows(
            meet_file(meet_dir, meeting, "mean", k), 2, stop - start, width, 0, stop - start
        )
        for emb, theta in copies.values():
            emb[start:stop] = mean_e
            theta[start:stop] = mean_t


def meet_file(meet_dir: str, meeting: int, kind: str, shard: int) -> str:
    return storage.join(meet_dir, f"meet-{meeting:04d}-{kind}-{shard:05d}.bin")


def wait_for_files(paths: list[str], timeout: float = 3600.0) -> None:
    """Wait until every one of ``paths`` exists (each written atomically).

    The round's tasks form a barrier stage, so Spark starts them all at once and a failed one
    fails them all (``training.run_round`` runs the round again); they meet through files rather
    than ``BarrierTaskContext.barrier()``, which takes about a second per call (it polls once a
    second) where a meeting takes milliseconds.
    """
    deadline = time.monotonic() + timeout
    pause = 0.0002
    present = storage.first_missing(paths)
    while present < len(paths):
        if time.monotonic() > deadline:
            raise TimeoutError(f"shards did not all reach {os.path.dirname(paths[0])} within {timeout:.0f} s")
        time.sleep(pause)
        pause = min(pause * 2, 0.002)
        present = storage.first_missing(paths, present)
