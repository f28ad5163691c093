"""Hot-row meetings: how often the shards of a round meet, which rows they average, and how.

At a meeting every shard's copy gets, for the rows of the most frequent words, the mean over
all shards' copies (docs/design/averaging.md#meetings). The tasks of the round (one
Spark barrier stage) meet through small files, a reduce-scatter (``average_hot_rows``), in a
directory of the round's own; a task deletes its files of a meeting once every task has
written its part for the next one, so a round keeps at most two meetings' files however many
it holds.

That deletion is safe only among the tasks of one attempt: a file left by an earlier attempt
would let a task run ahead and delete what a slower task of this attempt still reads. Spark
does not retry a failed barrier stage that returns results; the driver reruns such a round
itself, in a fresh directory (``training.run_round``), and a task refuses a directory an
earlier attempt used all the same (``claim``), in case a Spark version ever does.

Where the tasks meet (``open_meetings``): in the round's directory, through files
(``FileMeetings``), on any filesystem the tasks share; or, when every task runs on the driver's
machine (a local master in a classic session) and its shared memory has room, on one
memory-mapped board under ``/dev/shm`` (``SharedBoard``), where a meeting copies rows instead of
opening files (docs/design/averaging.md#board; docs/design/experiment-log.md#board-and-six-passes).
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import re
import shutil
import stat
import time
from abc import ABC, abstractmethod
from contextlib import suppress
from dataclasses import dataclass
from types import TracebackType

import numpy as np

from w2v_spark.private import private_dir
from w2v_spark.runtime import memory, storage

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
    not for 4.6 million, where 48 did (docs/design/experiment-log.md#meetings-by-corpus-size).
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
        """The bytes of the epoch's largest meeting (each shard's hot rows of E and Θ, and their
        mean): the size of a round's board in shared memory (``SharedBoard``); through files a
        round holds at most two meetings' files at once."""
        return (shards + 1) * self.largest_rows(vocab_size) * 2 * vector_size * 4

    def largest_rows(self, vocab_size: int, points: list[int] | None = None) -> int:
        """The most rows any of ``points`` (default: every meeting of the epoch) averages."""
        meetings = range(1, self.per_epoch) if points is None else points
        return max((min(vocab_size, self.rows_at(j)) for j in meetings), default=0)


def shared_memory_root(run: str, need: int) -> str:
    """In the driver, for tasks on its own machine: a directory under /dev/shm for the run's
    meeting files, if it has room for ``need`` bytes twice over and the machine's available
    memory (``memory.available_bytes``) four times over; else "" (they go to the round's directory).

    The directory is this user's alone (0700), and until ``release`` the driver holds a lock on
    a file beside it: a later run deletes what a killed one left (``remove_abandoned``) by that
    lock, which the kernel drops when the driver's process ends, wherever it ran.
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
    root = os.path.join(SHARED_MEMORY, f"w2v-spark-{run}")
    if not _hold(root):
        return ""
    if not private_dir(root):
        release(root)
        return ""
    return root


LOCK_SUFFIX = ".lock"  # the lock file beside a run's meeting directory
_LOCK_NAME = re.compile(r"w2v-spark-(\w+)\.lock")
_HELD: dict[str, int] = {}  # this process's meeting directories -> the descriptor of their locked file


def _hold(root: str) -> bool:
    """Create the lock file of ``root`` and lock it for as long as this process runs or until
    ``release``. It is locked under another name and then renamed, so no other run ever finds it
    unlocked and takes the directory for abandoned."""
    lock, temp = root + LOCK_SUFFIX, root + LOCK_SUFFIX + ".new"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(temp, lock)
    except OSError:
        os.close(fd)
        with suppress(OSError):
            os.remove(temp)
        return False
    _HELD[root] = fd
    return True


def release(root: str) -> None:
    """In the driver, after the run's last round: delete the meeting directory ``root``, then its
    lock file, and let the lock go."""
    shutil.rmtree(root, ignore_errors=True)
    fd = _HELD.pop(root, None)
    if fd is not None:
        with suppress(FileNotFoundError):
            os.remove(root + LOCK_SUFFIX)
        os.close(fd)


def remove_abandoned() -> None:
    """Delete this user's meeting directories under /dev/shm whose run has ended without deleting
    them (a killed driver leaves up to two meetings' files, which hold memory until deleted).

    A run is over when no process holds the lock on the file beside its directory. Not a PID:
    one is meaningful in one PID namespace only, and containers that share /dev/shm but not
    PIDs (one Kubernetes pod's, Docker's ``--ipc=host``) would take each other's live runs for
    dead. Names that are not a lock file's, and other users' files, are left alone.
    """
    try:
        names = os.listdir(SHARED_MEMORY)
    except OSError:
        return
    for name in names:
        if _LOCK_NAME.fullmatch(name):
            _remove_if_abandoned(os.path.join(SHARED_MEMORY, name))


def _remove_if_abandoned(lock: str) -> None:
    try:  # not a symbolic link; O_NONBLOCK: opening a FIFO someone named so must not wait
        fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: the run is alive
            return
        root = lock.removesuffix(LOCK_SUFFIX)
        with suppress(OSError):
            found = os.lstat(root)
            if stat.S_ISDIR(found.st_mode) and found.st_uid == os.getuid():
                shutil.rmtree(root, ignore_errors=True)
        with suppress(FileNotFoundError):
            os.remove(lock)
    finally:
        os.close(fd)


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
    more than the read (docs/design/experiment-log.md#meetings-by-corpus-size).
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


Copies = dict[int, tuple[np.ndarray, np.ndarray]]  # a task's shard copies {shard: (emb, theta)}


class Meetings(ABC):
    """One task's side of a round's hot-row meetings; every task of the round holds one, from
    ``open_meetings``, and meets at the same points in the same order."""

    def __init__(self, meet_dir: str, shards: int, hot: HotSync, points: list[int], vocab_size: int) -> None:
        self.meet_dir, self.shards, self.hot, self.points, self.vocab_size = meet_dir, shards, hot, points, vocab_size

    def meet(self, meeting: int, copies: Copies) -> None:
        """Meeting ``meeting`` (one of the round's points): the hot rows of ``copies`` become
        their mean over all the round's shards."""
        index = self.points.index(meeting)
        previous = self.points[index - 1] if index else 0
        self.average(meeting, min(self.vocab_size, self.hot.rows_at(meeting)), copies, previous)

    @abstractmethod
    def average(self, meeting: int, rows: int, copies: Copies, previous: int) -> None:
        """Rows 0..rows-1 of every copy become their mean over all shards, summed in shard order
        by one task per slice (so every copy gets the same bits, whichever task holds it)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the task holds for the meetings (the directory is the driver's to delete)."""

    def __enter__(self) -> Meetings:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class FileMeetings(Meetings):
    """Meetings through files in a directory all the round's tasks can reach, wherever they run
    (``average_hot_rows``)."""

    def average(self, meeting: int, rows: int, copies: Copies, previous: int) -> None:
        average_hot_rows(self.meet_dir, self.shards, rows, meeting, copies, previous)


class SharedBoard(Meetings):
    """Meetings of tasks on one machine through one memory-mapped file under /dev/shm: a region
    per shard for its hot rows and one for their mean, reused by every meeting of the round.

    The same reduce-scatter as ``average_hot_rows``, summing in the same order (so the same
    bits), but a meeting copies rows in and out of shared pages instead of writing, opening and
    deleting 2 + 2 x shards files per task; only empty marker files remain, one per part and per
    slice, which tell the others a region is written. One board is enough: a task writes its
    next part only after every task has written its slice of this mean (so all have read this
    meeting's parts), and its next slice only after every task has written its next part (so
    all have copied out this mean).
    """

    def __init__(
        self, meet_dir: str, shards: int, hot: HotSync, points: list[int], vocab_size: int, width: int
    ) -> None:
        super().__init__(meet_dir, shards, hot, points, vocab_size)
        self.width = width
        self.stride = hot.largest_rows(vocab_size, points) * 2 * width  # floats of a region: rows of E, then Θ
        size = board_bytes(shards, hot, points, vocab_size, width)
        os.makedirs(meet_dir, exist_ok=True)
        fd = os.open(os.path.join(meet_dir, "board.bin"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            reserve(fd, size, meet_dir)
            self._map: mmap.mmap | None = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self.board = np.frombuffer(self._map, np.float32)

    def region(self, index: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Views of region ``index`` (a shard's part, or the mean at ``shards``) as E and Θ rows."""
        base, n = index * self.stride, rows * self.width
        e = self.board[base : base + n].reshape(rows, self.width)
        return e, self.board[base + n : base + 2 * n].reshape(rows, self.width)

    def average(self, meeting: int, rows: int, copies: Copies, previous: int) -> None:
        for shard, (emb, theta) in copies.items():
            e, t = self.region(shard, rows)
            e[...], t[...] = emb[:rows], theta[:rows]
            mark(self.marker(meeting, "part", shard))
        wait_for_files([self.marker(meeting, "part", p) for p in range(self.shards)])
        if previous:
            storage.remove_files([self.marker(previous, kind, s) for s in copies for kind in ("part", "mean")])
        parts = [self.region(p, rows) for p in range(self.shards)]
        mean_e, mean_t = self.region(self.shards, rows)
        inv = np.float32(1.0 / self.shards)
        for k in copies:
            start, stop = rows * k // self.shards, rows * (k + 1) // self.shards
            total_e, total_t = parts[0][0][start:stop].copy(), parts[0][1][start:stop].copy()
            for e, t in parts[1:]:
                total_e += e[start:stop]
                total_t += t[start:stop]
            mean_e[start:stop], mean_t[start:stop] = total_e * inv, total_t * inv
            mark(self.marker(meeting, "mean", k))
        wait_for_files([self.marker(meeting, "mean", k) for k in range(self.shards)])
        for emb, theta in copies.values():
            emb[:rows], theta[:rows] = mean_e, mean_t

    def marker(self, meeting: int, kind: str, shard: int) -> str:
        return os.path.join(self.meet_dir, f"meet-{meeting:04d}-{kind}-{shard:05d}.done")

    def close(self) -> None:
        if self._map is not None:
            del self.board  # the views must go before the map can close
            with suppress(BufferError):  # a view still held (by an error in flight): it unmaps when it goes
                self._map.close()
            self._map = None


def board_bytes(shards: int, hot: HotSync, points: list[int], vocab_size: int, width: int) -> int:
    """The bytes of a round's board (``SharedBoard``): a region per shard and one for the mean,
    each the rows of E and Θ of the round's largest meeting."""
    return max(1, (shards + 1) * hot.largest_rows(vocab_size, points) * 2 * width * 4)


def board_fits(size: int) -> bool:
    """In the driver, before a round: whether shared memory has room for a board of ``size``
    bytes now (the tasks' ``reserve`` settles it; this spares a round that would fail at once)."""
    try:
        fs = os.statvfs(SHARED_MEMORY)
    except OSError:
        return False
    return fs.f_bavail * fs.f_frsize >= size


class BoardFullError(RuntimeError):
    """Shared memory has no room left for a round's board (raised in a task, as it starts)."""


def reserve(fd: int, size: int, where: str) -> None:
    """Give the board file ``fd`` all of its ``size`` bytes now, or raise ``BoardFullError``.

    A board only grown to its size (``ftruncate``) holds no pages: a task gets each as it first
    writes there, and one that finds a full tmpfs is killed by SIGBUS, mid-round, with no word of
    why. Every task reserves the whole board alike; reserving pages already there changes nothing.
    """
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.ENOMEM, errno.EFBIG):
            raise
        free = ""
        with suppress(OSError):
            fs = os.statvfs(where)
            free = f", {fs.f_bavail * fs.f_frsize / 2**20:.1f} MiB free"
        raise BoardFullError(
            f"no room in {SHARED_MEMORY} for the hot-row meetings' board ({size / 2**20:.1f} MiB{free}); "
            f"free space there (df -h {SHARED_MEMORY})"
        ) from None


def open_meetings(meet_dir: str, shards: int, hot: HotSync, points: list[int], vocab_size: int, width: int) -> Meetings:
    """A task's meetings for one run of a round: on a board in shared memory when the round's
    directory is there (the driver puts it there only when every task runs on its machine,
    ``shared_memory_root``), else through files."""
    if meet_dir.startswith(SHARED_MEMORY + "/"):
        return SharedBoard(meet_dir, shards, hot, points, vocab_size, width)
    return FileMeetings(meet_dir, shards, hot, points, vocab_size)


def mark(path: str) -> None:
    """Create the empty file ``path``: a region of the board is written (the system call orders
    the writes to shared memory before it, as seen by a task that then finds the file)."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


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
