"""Progress within a stage: tasks publish counters as small files, the driver polls and logs them.

Spark Connect has no status tracker, and a training epoch over 100M tokens takes minutes, so
every task of a long stage writes how far it is (one number in ``DIR/part-NNNNN``, rewritten
at most once a second) and a driver thread sums them every ``report_delay`` seconds into a
line in gensim's manner: ``EPOCH 2 - PROGRESS: at 40.0% of windows, 310,000 words/s, ETA 1m40s``.
The files are tiny and live in the run's working directory, which the driver and every
executor see.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow.fs as pafs

from w2v_spark.runtime import storage
from w2v_spark.runtime.tasks import is_connect

log = logging.getLogger("w2v_spark")


class Counter:
    """A task's counter: ``add`` often, the file is rewritten at most every ``every`` seconds."""

    def __init__(self, directory: str, task: int, every: float = 1.0) -> None:
        self.path = storage.join(directory, f"part-{task:05d}")
        self.every = every
        self.done = 0
        self._written = time.monotonic()

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._written >= self.every:
            self.flush()
            self._written = now

    def flush(self) -> None:
        storage.write_text(self.path, str(self.done))


def read_total(directory: str) -> tuple[int, int]:
    """The sum of every task's counter in ``directory`` (0 before any task wrote one), and the
    bytes read to get it."""
    fs, root = storage.filesystem(directory)
    if fs.get_file_info(root).type != pafs.FileType.Directory:
        return 0, 0
    total = nbytes = 0
    for info in fs.get_file_info(pafs.FileSelector(root)):
        if info.base_name.startswith("part-") and ".tmp-" not in info.base_name:
            try:
                with fs.open_input_stream(info.path) as fh:
                    data = fh.read()
            except OSError:  # replaced while we listed it: counted at the next poll
                continue
            nbytes += len(data)
            total += int(data.decode() or 0)
    return total, nbytes


def eta(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def line(label: str, unit: str, done: int, total: int, words: int, elapsed: float) -> str:
    """One progress line; ``words`` is the stage's words, for a rate comparable with gensim's."""
    fraction = min(1.0, done / total) if total else 0.0
    rate = words * fraction / elapsed if elapsed > 0 else 0.0
    left = elapsed * (1 - fraction) / fraction if fraction > 0 else float("nan")
    when = eta(left) if fraction > 0 else "unknown"
    return f"{label} - PROGRESS: at {100 * fraction:.1f}% of {unit}, {rate:,.0f} words/s, ETA {when}"


class Poll:
    """What a report's polling cost: the bytes the driver read (small files, no model bytes)."""

    def __init__(self) -> None:
        self.bytes_read = 0


@contextmanager
def report(
    directory: str,
    label: str,
    unit: str,
    total: int,
    words: int,
    every: float,
    offset: int = 0,
    started: float | None = None,
) -> Iterator[Poll]:
    """Log a progress line every ``every`` seconds while the body runs (no lines when ``every`` <= 0).

    ``offset`` units were done before this body (earlier rounds of the epoch), since ``started``
    (a ``time.monotonic()`` value; now by default).
    """
    poll = Poll()
    if every <= 0:
        yield poll
        return
    stop = threading.Event()
    since = time.monotonic() if started is None else started

    def run() -> None:
        while not stop.wait(every):
            try:
                done, nbytes = read_total(directory)
            except Exception as e:  # progress must never fail a run
                log.debug("progress: cannot read %s: %s", directory, e)
                continue
            poll.bytes_read += nbytes
            log.info("%s", line(label, unit, offset + done, total, words, time.monotonic() - since))

    thread = threading.Thread(target=run, name=f"progress {label}", daemon=True)
    thread.start()
    try:
        yield poll
    finally:
        stop.set()
        thread.join()


@contextmanager
def spark_stages(spark: Any, label: str, every: float) -> Iterator[None]:
    """Spark's own stage progress, for stages that run no Python (tokenizing, counting).

    On a Spark Connect session, the session's progress handler (public API) feeds a line every
    ``every`` seconds. A classic session offers stage progress only through SparkContext, which
    this job does not use: there the lines are absent and Spark's UI shows the stages.
    """
    register = getattr(spark, "registerProgressHandler", None)
    if every <= 0 or not is_connect(spark) or register is None:
        yield
        return
    started = last = time.monotonic()

    def handler(stages: Any, inflight_tasks: int, operation_id: Any, done: bool) -> None:
        nonlocal last
        now = time.monotonic()
        if done or now - last < every:
            return
        last = now
        known = list(stages or [])
        total, finished = sum(s.num_tasks for s in known), sum(s.num_completed_tasks for s in known)
        log.info(
            "%s - PROGRESS: %d of %d tasks done in %d Spark stages, %d running, %.0f s",
            label,
            finished,
            total,
            len(known),
            inflight_tasks,
            now - started,
        )

    register(handler)
    try:
        yield
    finally:
        spark.removeProgressHandler(handler)
