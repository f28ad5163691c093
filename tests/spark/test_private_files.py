"""Files in places other local users share (/tmp, /dev/shm, caches) are this user's alone, and a
run trusts, uses or deletes only what is: docs/guarantees.md#shared."""

from __future__ import annotations

import stat
import tempfile
import threading
import time
from contextlib import suppress
from pathlib import Path

from w2v_spark import Word2Vec


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _watch(directory: Path, seen: dict[str, int], stop: threading.Event) -> None:
    """Record the mode of every entry that appears in ``directory`` until ``stop``."""
    while not stop.is_set():
        with suppress(OSError):
            for entry in directory.iterdir():
                with suppress(OSError):
                    seen.setdefault(entry.name, _mode(entry))
        time.sleep(0.01)


def test_fit_stages_the_vocabulary_and_corpus_where_only_this_user_may_look(spark, monkeypatch, tmp_path):
    """fit() without tempDir stages in the system's temporary directory, every local user's:
    what it makes there is 0700, and gone when fit returns."""
    system_tmp = tmp_path / "tmp"
    system_tmp.mkdir()
    system_tmp.chmod(0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    docs = spark.createDataFrame(
        [(f"w{i % 7} w{i % 5} w{i % 3} w{i % 11} w{i % 13}".split(),) for i in range(400)], ["tokens"]
    )
    seen: dict[str, int] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(system_tmp, seen, stop), daemon=True)
    watcher.start()
    try:
        model = Word2Vec(vectorSize=8, minCount=1, maxIter=1, numPartitions=2, windowSize=2).fit(docs)
    finally:
        stop.set()
        watcher.join()
    assert len(model.words) == 13
    assert seen and all(mode == 0o700 for mode in seen.values()), seen
    assert list(system_tmp.iterdir()) == []
