"""Driver-side pieces of training: initialisation, learning-rate schedule, shard averaging."""

import os
import shutil

import numpy as np
import pyarrow as pa
import pytest

from tests.helpers import tuples_file, write_model
from w2v_spark.runtime import storage, tasks
from w2v_spark.text.corpus import part_name
from w2v_spark.train import blocks, exchange, hot_rows, rounds
from w2v_spark.train.blocks import ModelShape


def _epoch(spark, tmp_path, shape, tuples_dir, name, exchange_name="average", syncs=2, hot=None, **placement):
    """One epoch of two shards; ``placement`` may give EpochPlan's ``tasks`` and ``meet_root``."""
    work = str(tmp_path / name)
    rounds.init_model(spark, storage.join(work, "model-init"), shape, seed=3)
    rows = tuple(storage.num_rows(str(tuples_dir / part_name(p))) for p in (0, 1))
    plan = rounds.EpochPlan(work, str(tuples_dir), shape, 1, syncs, "run", rows, 2, 100, 0, hot, **placement)
    schedule = rounds.Schedule(0.05, 0.001, 1, lr_scale=rounds.shard_lr_scale(2))
    strategy = exchange.get(exchange_name) if isinstance(exchange_name, str) else exchange_name
    return rounds.train_epoch(spark, strategy, plan, storage.join(work, "model-init"), schedule)


def _two_random_shards(tmp_path, seed, rows):
    """Tuples files for shards 0 and 1 over a 20-word vocabulary; returns their directory."""
    rng = np.random.default_rng(seed)
    tuples_dir = tmp_path / "tuples"
    tuples_dir.mkdir()
    for p in (0, 1):
        ids = [rng.integers(0, 20, rows) for _ in range(3)]
        tuples_file(tuples_dir / part_name(p), *ids)
    return tuples_dir


def test_an_epoch_on_spark_gives_the_same_model_whatever_the_block_size(spark, tmp_path):
    """Training and averaging run as Spark jobs over the model's blocks: 1 block or 6, the same bits."""
    tuples_dir = _two_random_shards(tmp_path, seed=2, rows=500)
    one = _epoch(spark, tmp_path, ModelShape(20, 8), tuples_dir, "one")
    six = _epoch(spark, tmp_path, ModelShape(20, 8, block_rows=4), tuples_dir, "six")
    assert one.examples == six.examples == 1000 and one.models == 2
    assert one.io["rounds"] == 2 and one.io["driver_read"] == 0 and one.io["tasks_written"] > 0
    e1, t1 = blocks.read_model(one.model_dir, ModelShape(20, 8))
    e6, t6 = blocks.read_model(six.model_dir, ModelShape(20, 8, block_rows=4))
    assert np.array_equal(e1, e6) and np.array_equal(t1, t6) and np.abs(t1).max() > 0
    # the working copies of earlier rounds are gone: only the epoch's last model is left
    assert sorted(p.name for p in (tmp_path / "six").iterdir()) == ["model-epoch=1-sync=1"]


def test_vectors_are_exported_block_by_block_in_id_order(spark, tmp_path):
    from w2v_spark.io.formats import read_vectors
    from w2v_spark.job.layout import layout
    from w2v_spark.job.run import export_vectors
    from w2v_spark.text.vocabulary import Vocabulary

    shape = ModelShape(11, 3, block_rows=4)
    emb = np.arange(33, dtype=np.float32).reshape(11, 3) / 7
    write_model(tmp_path / "model", shape, emb, np.zeros_like(emb))
    vocab = Vocabulary(pa.array([f"w{i}" for i in range(11)]), np.arange(11, 0, -1))
    paths = layout(str(tmp_path / "out"))
    storage.write_table(vocab.to_arrow(), paths.vocab)
    export_vectors(spark, paths, vocab, str(tmp_path / "model"), shape)
    assert sorted(p.name for p in (tmp_path / "out" / "vectors").iterdir()) == [
        "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"
    ]  # fmt: skip
    for path in (tmp_path / "out", tmp_path / "out" / "vectors.txt", tmp_path / "out" / "vectors.bin"):
        words, vectors = read_vectors(str(path))
        assert words == [f"w{i}" for i in range(11)] and np.array_equal(vectors, emb), path


def test_a_hot_row_meeting_gives_every_copy_the_mean_of_the_hot_rows(spark, tmp_path):
    """Three shards in a barrier stage of two tasks (task 0 holds shards 0 and 2): after the
    meeting every copy's first rows are the mean over the three, bit for bit; the rest are untouched."""
    rows, shards = 3, 3

    def copy(shard):
        rng = np.random.default_rng(shard)
        return rng.random((5, 4), dtype=np.float32), rng.random((5, 4), dtype=np.float32)

    def work(task):
        copies = {s: copy(s) for s in range(task, shards, 2)}
        hot_rows.average_hot_rows(str(tmp_path / "round"), shards, rows, 1, copies)
        return {str(s): [e.tolist(), t.tolist()] for s, (e, t) in copies.items()}

    results = tasks.run_tasks(spark, 2, work, barrier=True)
    got = {int(s): [np.array(m, np.float32) for m in v] for r in results for s, v in r.items()}
    assert sorted(got) == [0, 1, 2]
    for index in (0, 1):
        expected = sum(copy(s)[index][:rows] for s in range(shards)) * np.float32(1 / shards)
        for s in range(shards):
            np.testing.assert_allclose(got[s][index][:rows], expected, rtol=1e-6)
            assert np.array_equal(got[s][index][:rows], got[0][index][:rows])  # the same bits everywhere
            assert np.array_equal(got[s][index][rows:], copy(s)[index][rows:])


def test_a_meeting_deletes_the_previous_meetings_files_once_all_have_written_their_parts(spark, tmp_path):
    """Two tasks meet three times: after each meeting only its own files are left, so a round
    holds at most two meetings' files whatever its length."""
    meet_dir = str(tmp_path / "meet")

    def work(task):
        copies = {task: (np.full((4, 2), task, np.float32), np.full((4, 2), task, np.float32))}
        own_after = []
        for meeting, previous in ((1, 0), (2, 1), (5, 2)):
            hot_rows.average_hot_rows(meet_dir, 2, 2, meeting, copies, previous)
            own_after.append(sorted(n[:9] for n in os.listdir(meet_dir) if n.endswith(f"-{task:05d}.bin")))
        return {"own": own_after, "emb": copies[task][0].tolist()}

    results = tasks.run_tasks(spark, 2, work, barrier=True)
    for r in results:
        assert r["own"] == [["meet-0001"] * 2, ["meet-0002"] * 2, ["meet-0005"] * 2]  # its part and mean slice
        assert np.array_equal(r["emb"], [[0.5, 0.5]] * 2 + [[r["emb"][3][0]] * 2] * 2)
    assert sorted(os.listdir(meet_dir)) == [f"meet-0005-{k}-{s:05d}.bin" for k in ("mean", "part") for s in (0, 1)]


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm")
def test_meetings_on_a_shared_memory_board_give_the_bits_of_meetings_through_files(spark, tmp_path):
    """Three shards in a barrier stage of two tasks meet four times, with 2, 4, 2 and 5 (all) rows:
    on the board in /dev/shm and through files every copy ends with the same bits, the mean of
    the three copies' rows, and the rows no meeting covered untouched."""
    shards, hot = 3, hot_rows.HotSync(rows=2, per_epoch=5)
    points = hot.points(0, 1)
    board_dir = f"/dev/shm/w2v-spark-{os.getpid()}-test-{tmp_path.name}"

    def copy(shard):
        rng = np.random.default_rng(shard)
        return rng.random((6, 4), dtype=np.float32), rng.random((6, 4), dtype=np.float32)

    def work(meet_dir):
        def task(t):
            copies = {s: copy(s) for s in range(t, shards, 2)}
            with hot_rows.open_meetings(meet_dir, shards, hot, points, 5, 4) as meets:
                kind = type(meets).__name__
                for j in points:
                    meets.meet(j, copies)
            return {"kind": kind, "copies": {str(s): [e.tolist(), th.tolist()] for s, (e, th) in copies.items()}}

        results = tasks.run_tasks(spark, 2, task, barrier=True)
        got = {int(s): [np.array(m, np.float32) for m in v] for r in results for s, v in r["copies"].items()}
        return {r["kind"] for r in results}, got

    try:
        board_kind, board = work(board_dir)
        assert sorted(n for n in os.listdir(board_dir) if n.startswith("meet-0004")) == [
            f"meet-0004-{k}-{s:05d}.done" for k in ("mean", "part") for s in range(shards)
        ]  # only the last meeting's markers are left
    finally:
        shutil.rmtree(board_dir, ignore_errors=True)
    file_kind, files = work(str(tmp_path / "meet"))
    assert (board_kind, file_kind) == ({"SharedBoard"}, {"FileMeetings"})
    for index in (0, 1):
        expected = sum(copy(s)[index][:5] for s in range(shards)) / shards
        for s in range(shards):
            assert np.array_equal(board[s][index], files[s][index])  # the same bits either way
            assert np.array_equal(board[s][index][:5], board[0][index][:5])
            np.testing.assert_allclose(board[s][index][:5], expected, rtol=1e-5)
            assert np.array_equal(board[s][index][5:], copy(s)[index][5:])


def test_a_round_with_meetings_whose_task_failed_runs_again_with_the_same_result(spark, tmp_path):
    """Spark does not retry a failed barrier stage that returns results: the driver runs the
    round again, in a fresh meeting directory, and the model is the one of a run without faults."""
    tuples_dir = _two_random_shards(tmp_path, seed=5, rows=400)
    shape, hot = ModelShape(20, 8), hot_rows.HotSync(rows=5, per_epoch=8)
    failed = str(tmp_path / "failed-once")

    class FailsOnce(exchange.Averaged):
        def meetings(self, rnd, task):
            meets = super().meetings(rnd, task)
            if task == 1 and storage.claim(failed):  # the first run of the first round only
                raise RuntimeError("task 1 failed")
            return meets

    once = _epoch(spark, tmp_path, shape, tuples_dir, "once", FailsOnce(), hot=hot, tasks=2, restarts=1)
    clean = _epoch(spark, tmp_path, shape, tuples_dir, "clean", hot=hot, tasks=2)
    assert os.path.exists(failed) and once.examples == clean.examples == 800
    assert np.array_equal(blocks.read_model(once.model_dir, shape)[0], blocks.read_model(clean.model_dir, shape)[0])
    for name, meetings_or_not in (("none", hot), ("plain", None)):  # no restarts, or no barrier stage
        storage.remove_files([failed])
        with pytest.raises(Exception, match="task 1 failed"):  # the job's own error, at once
            _epoch(
                spark,
                tmp_path,
                shape,
                tuples_dir,
                name,
                FailsOnce(),
                hot=meetings_or_not,
                tasks=2,
                restarts=3 if meetings_or_not is None else 0,
            )


def test_a_failed_round_with_meetings_runs_again_as_often_as_spark_retries_a_task(spark):
    from w2v_spark.job.plan import round_restarts
    from w2v_spark.runtime.master import Master

    def restarts(url: str) -> int:
        return round_restarts(spark, Master.parse(url))

    assert restarts("local[2]") == restarts("local") == 0  # as Spark: no retries
    assert restarts("local[4,3]") == 2
    assert restarts("spark://h:7077") == restarts("local-cluster[2,1,1024]") == 3


def test_an_epoch_with_hot_row_meetings_is_the_same_in_one_task_or_two(spark, tmp_path):
    """The shards meet inside a barrier stage; how they are split over its tasks changes nothing,
    nor where the meetings' files go (which is emptied after each round), and the meetings do
    change the model (so they ran)."""
    tuples_dir = _two_random_shards(tmp_path, seed=4, rows=800)
    shape = ModelShape(20, 8)
    hot = hot_rows.HotSync(rows=5, per_epoch=8)
    two = _epoch(spark, tmp_path, shape, tuples_dir, "two", syncs=1, hot=hot, tasks=2)
    one = _epoch(spark, tmp_path, shape, tuples_dir, "one", syncs=1, hot=hot, tasks=1)
    elsewhere = _epoch(
        spark, tmp_path, shape, tuples_dir, "meet", syncs=2, hot=hot, tasks=2, meet_root=str(tmp_path / "m")
    )
    inside = _epoch(spark, tmp_path, shape, tuples_dir, "inside", syncs=2, hot=hot, tasks=2)
    plain = _epoch(spark, tmp_path, shape, tuples_dir, "plain", syncs=1)
    e2, t2 = blocks.read_model(two.model_dir, shape)
    e1, t1 = blocks.read_model(one.model_dir, shape)
    e0, _ = blocks.read_model(plain.model_dir, shape)
    assert two.examples == one.examples == 1600
    assert np.array_equal(e1, e2) and np.array_equal(t1, t2)
    assert not np.array_equal(e0, e2)
    assert np.array_equal(
        blocks.read_model(elsewhere.model_dir, shape)[0], blocks.read_model(inside.model_dir, shape)[0]
    )
    assert (tmp_path / "m").is_dir() and not [p for p in (tmp_path / "m").rglob("*") if p.is_file()]
