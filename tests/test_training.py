"""Driver-side pieces of training: initialisation, learning-rate schedule, shard averaging."""

import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from w2v_spark.errors import ConfigError
from w2v_spark.job import checkpoints
from w2v_spark.runtime import storage, tasks
from w2v_spark.text.corpus import part_name
from w2v_spark.train import blocks, exchange, hot_rows, rounds
from w2v_spark.train.blocks import ModelShape
from w2v_spark.train.objectives import get as get_objective


def _write_model(model_dir, shape, emb, theta):
    for b in range(shape.blocks):
        start, stop = shape.bounds(b)
        blocks.write_block(str(model_dir), b, emb[start:stop], theta[start:stop])


def _init(shape, seed):
    parts = [blocks.init_block(shape, seed, b) for b in range(shape.blocks)]
    return np.concatenate([e for e, _ in parts]), np.concatenate([t for _, t in parts])


def test_init_follows_word2vec_and_the_seed_whatever_the_blocks():
    emb, theta = _init(ModelShape(500, 40), seed=7)
    assert emb.dtype == np.float32 and emb.shape == (500, 40)
    assert np.all(np.abs(emb) < 0.5 / 40) and emb.std() > 0.2 / 40  # uniform in (-0.5/d, 0.5/d)
    assert not theta.any()
    # blocks of 7 rows skip ahead in the one stream of draws: the same model as one block
    again, _ = _init(ModelShape(500, 40, block_rows=7), seed=7)
    other, _ = _init(ModelShape(500, 40), seed=8)
    assert np.array_equal(emb, again) and not np.array_equal(emb, other)


def test_learning_rate_decays_linearly_over_the_run():
    assert rounds.learning_rate(0.025, 0.0001, 0.0) == 0.025
    assert rounds.learning_rate(0.025, 0.0001, 1.0) == pytest.approx(0.0001)
    assert rounds.learning_rate(0.025, 0.0001, 0.5) == pytest.approx((0.025 + 0.0001) / 2)


def test_average_is_the_plain_mean_over_all_shards_block_by_block(tmp_path):
    shape = ModelShape(3, 2, block_rows=2)  # two blocks: rows 0-1 and row 2
    start = np.ones((3, 2), np.float32)
    _write_model(tmp_path / "model", shape, start, start)
    # shard 0 moved row 0 by +2 and row 1 by +4; shard 1 moved row 0 by -2; a third shard made no file
    files = []
    for name, d_emb, d_theta in [("a", [[2, 2], [4, 0], [0, 0]], np.zeros((3, 2))),
                                 ("b", [[-2, -2], [0, 0], [0, 0]], [[0, 0], [0, 0], [3, 3]])]:  # fmt: skip
        path = str(tmp_path / f"{name}.npy")
        storage.write_arrays(path, np.asarray(d_emb, np.float32), np.asarray(d_theta, np.float32))
        files.append(path)
    files.append(files[0])  # stands for a third shard with shard 0's deltas: 3 models averaged
    for b in range(shape.blocks):
        read, written, crc = blocks.average_block(str(tmp_path / "model"), str(tmp_path / "next"), b, files, shape)
        assert written == 2 * 4 * 2 * (2 if b == 0 else 1) and read == written * 4  # base + 3 deltas
        assert crc == checkpoints.file_crc32(blocks.block_file(str(tmp_path / "next"), b))  # what a checkpoint records
    emb, theta = blocks.read_model(str(tmp_path / "next"), shape)
    np.testing.assert_allclose(emb, np.array([[1 + 2 / 3, 1 + 2 / 3], [1 + 8 / 3, 1], [1, 1]]), rtol=1e-6)
    np.testing.assert_allclose(theta, [[1, 1], [1, 1], [2, 2]], rtol=1e-6)


def test_deltas_are_written_block_by_block_and_read_back_by_row_range(tmp_path):
    shape = ModelShape(10, 3, block_rows=4)
    rng = np.random.default_rng(1)
    base_e, base_t = rng.random((10, 3), np.float32), rng.random((10, 3), np.float32)
    _write_model(tmp_path / "m", shape, base_e, base_t)
    trained_e, trained_t = base_e + 1, base_t - 2
    trained_t[5] = base_t[5]  # a row the shard did not touch
    read, touched = blocks.write_delta(str(tmp_path / "d.npy"), trained_e, trained_t, str(tmp_path / "m"), shape)
    assert read == shape.nbytes and touched == 19  # the base model, read once; 19 of 20 rows changed
    np.testing.assert_allclose(storage.read_rows(str(tmp_path / "d.npy"), 0, 3, 9), np.ones((6, 3)), rtol=1e-6)
    np.testing.assert_allclose(storage.read_rows(str(tmp_path / "d.npy"), 1, 8, 99), np.full((2, 3), -2), rtol=1e-6)
    assert not storage.read_rows(str(tmp_path / "d.npy"), 1, 5, 6).any()


def _tuples_file(path, centers, targets, negatives):
    table = pa.table(
        {"center": pa.array(centers, pa.int32()), "target": pa.array(targets, pa.int32()),
         "negative_1": pa.array(negatives, pa.int32())},
        schema=get_objective("negative_sampling").arrow_schema(0, 1),
    )  # fmt: skip
    pq.write_table(table, path, row_group_size=3)
    return str(path)


def test_train_shard_uses_global_progress_for_the_learning_rate(tmp_path):
    """Epoch 2 of 2 starts at half the run: its first row's rate is the midpoint of the schedule."""
    path = _tuples_file(tmp_path / "part-00000.parquet", [0, 0], [1, 1], [2, 2])
    emb = np.ones((3, 1), np.float32)
    out = np.zeros((3, 1), np.float32)
    schedule = rounds.Schedule(alpha=1.0, min_alpha=0.0, epochs=2)
    stats = rounds.train_shard(path, emb, out, epoch=2, schedule=schedule)  # trains (emb, out) in place
    # Row 1 at progress (2 - 1 + 0/2) / 2 = 0.5: lr = 0.5, x = 0, so out[1] += (1 - 0.5) * 0.5 * emb[0] = 0.25.
    # Row 2 at progress 0.75: lr = 0.25, x = 0.25, so out[1] += (1 - sigmoid(0.25)) * 0.25.
    expected_out1 = 0.25 + (1 - 1 / (1 + np.exp(-0.25))) * 0.25
    assert out[1, 0] == pytest.approx(expected_out1, rel=1e-5)
    assert stats.examples == 2 and stats.loss > 0
    # lr_scale multiplies every step: the first update doubles
    doubled = np.zeros((3, 1), np.float32)
    rounds.train_shard(path, np.ones((3, 1), np.float32), doubled, 2, rounds.Schedule(1.0, 0.0, 2, lr_scale=2.0))
    assert doubled[1, 0] > 1.5 * out[1, 0]


def test_rounds_split_a_shard_into_consecutive_row_ranges(tmp_path):
    rng = np.random.default_rng(0)
    n = 10
    path = _tuples_file(tmp_path / "t.parquet", rng.integers(0, 4, n), rng.integers(4, 8, n), rng.integers(8, 12, n))
    emb = ((rng.random((12, 3)) - 0.5) / 3).astype(np.float32)
    out = np.zeros((12, 3), np.float32)
    schedule = rounds.Schedule(0.1, 0.01, 1)
    whole_emb, whole_out = emb.copy(), out.copy()
    rounds.train_shard(path, whole_emb, whole_out, 1, schedule)
    # the same rows in three rounds, each starting where the last ended, give the same parameters
    e, o = emb.copy(), out.copy()
    sizes = []
    for sync in range(3):
        sizes.append(rounds.train_shard(path, e, o, 1, schedule, sync=sync, syncs=3).examples)
    assert sizes == [3, 3, 4]
    np.testing.assert_allclose(e, whole_emb, atol=1e-6)
    np.testing.assert_allclose(o, whole_out, atol=1e-6)
    assert not np.allclose(e, emb)


def test_block_rows_bound_the_memory_of_streamed_matrices():
    assert storage.block_rows(100) == (16 << 20) // 400
    assert storage.block_rows(10**9) == 1


def test_shard_learning_rate_multiple():
    assert rounds.shard_lr_scale(1) == 1.0  # one shard trains exactly as one machine
    assert rounds.shard_lr_scale(8) == pytest.approx(8 ** (5 / 6))  # between the mean's 1 and the sum's 8
    assert 1.7 < rounds.shard_lr_scale(2) < 1.8
    # beyond 16 models a copy's step stops growing (larger multiples diverged)
    assert rounds.shard_lr_scale(32) == rounds.shard_lr_scale(16) == pytest.approx(16 ** (5 / 6))


def test_averaged_shards_train_more_passes_up_to_one_models_movement():
    """P averaged copies move a row P^(-1/6) as far per pass as one model: the passes make up
    for it, rounded down, and stop growing beyond 4 models."""
    assert [rounds.passes(5, p) for p in (1, 2, 4, 8, 16, 32)] == [5, 5, 6, 6, 6, 6]
    assert [rounds.passes(e, 16) for e in (1, 4, 6, 10)] == [1, 5, 7, 12]
    for p in (2, 4, 8, 16):  # never more than one model's total movement
        assert rounds.passes(5, p) * p ** (-1 / 6) <= 5


def test_passes_follow_the_models_known_before_training():
    from w2v_spark.config import TrainConfig
    from w2v_spark.job.plan import run_passes

    base = TrainConfig(input=("x",), output="o", partitions=16)
    assert run_passes(base) == 6
    assert run_passes(TrainConfig(input=("x",), output="o", partitions=16, scale_epochs=False)) == 5
    # hogwild averages one copy per executor, known only as tasks run: passes stay epochs
    assert run_passes(TrainConfig(input=("x",), output="o", partitions=16, hogwild=True)) == 5


def _add_to_shared_copy(local: str, model: str, row: int, value: float) -> None:
    emb, theta, counter, _ = exchange.open_shared_copy(local, "1-0", model, SHAPE)
    emb[row] += value
    theta[row] -= value
    clock = exchange.SharedClock(counter, local, start=0, total=100, models=1)
    clock.advance(10)


SHAPE = ModelShape(4, 3, block_rows=3)


def test_tasks_of_one_executor_train_one_shared_copy(tmp_path):
    """Hogwild: separate processes (as Spark's Python workers are) open the same copy and see
    each other's updates; a new round's copy starts from its model and replaces the old one."""
    import multiprocessing

    model = str(tmp_path / "model")
    _write_model(model, SHAPE, np.ones((4, 3), np.float32), np.zeros((4, 3), np.float32))
    local = str(tmp_path / "executor")
    (tmp_path / "executor").mkdir()
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_add_to_shared_copy, args=(local, model, row, 2.0)) for row in (0, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    emb, theta, counter, read = exchange.open_shared_copy(local, "1-0", model, SHAPE)
    assert emb[:, 0].tolist() == [3.0, 1.0, 3.0, 1.0] and theta[:, 0].tolist() == [-2.0, 0.0, -2.0, 0.0]
    assert counter.tolist() == [20] and read == 0  # both processes' rows on the one clock; nothing re-read
    # the next round starts from its own model; the previous round's copy is removed
    _write_model(model, SHAPE, np.full((4, 3), 5, np.float32), np.zeros((4, 3), np.float32))
    emb, _, counter, read = exchange.open_shared_copy(local, "1-1", model, SHAPE)
    assert np.all(emb == 5.0) and counter.tolist() == [0] and read == SHAPE.nbytes
    left = sorted(p.name for p in (tmp_path / "executor").glob("*.npy"))
    assert left == ["1-1-emb.npy", "1-1-rows.npy", "1-1-theta.npy"]


def test_an_unknown_exchange_strategy_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown exchange strategy 'gossip'; known: average, hogwild"):
        exchange.get("gossip")
    assert exchange.get("average").reproducible and not exchange.get("hogwild").reproducible


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
        _tuples_file(tuples_dir / part_name(p), *ids)
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
    _write_model(tmp_path / "model", shape, emb, np.zeros_like(emb))
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


def test_hot_row_meetings_fall_strictly_inside_rounds_and_each_once():
    hot = hot_rows.HotSync(rows=10, per_epoch=16)
    for syncs in (1, 2, 3, 5, 16, 20):
        points = [hot.points(sync, syncs) for sync in range(syncs)]
        met = [j for r in points for j in r]
        assert met == sorted(set(met))  # in order, none twice
        # every meeting that does not coincide with a round's end (where all rows are averaged anyway)
        assert set(met) == {j for j in range(1, 16) if (j * syncs) % 16}
    assert rounds.shard_cuts(100, 0, 1, hot)[:3] == [0, 6, 12] and rounds.shard_cuts(100, 0, 1, hot)[-1] == 100
    assert rounds.shard_cuts(7, 1, 2, None) == [3, 7]


def test_unset_meetings_per_epoch_grow_with_the_corpus_in_steps_of_16():
    # The two corpora the rule was measured on (1.44M and 4.60M in-vocabulary tokens) and the extremes.
    assert hot_rows.meetings_per_epoch(0) == hot_rows.meetings_per_epoch(1_441_634) == 16
    assert hot_rows.meetings_per_epoch(4_601_023) == 48
    counts = [hot_rows.meetings_per_epoch(t) for t in range(0, 100_000_000, 250_000)]
    assert counts == sorted(counts) and all(m % 16 == 0 and m >= 16 for m in counts)
    assert 900 <= hot_rows.meetings_per_epoch(100_000_000) <= 1100  # about one per 100,000 tokens


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


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm")
def test_an_error_at_a_meeting_on_the_board_is_raised_as_itself(tmp_path):
    """Closing the board while the error's traceback still holds views of it must not replace
    the error with the map's own complaint."""
    board_dir = f"/dev/shm/w2v-spark-{os.getpid()}-test-{tmp_path.name}"
    hot = hot_rows.HotSync(rows=2, per_epoch=2)
    wrong = np.zeros((2, 3), np.float32)  # rows of width 3 where the board holds width 4
    try:
        with pytest.raises(ValueError), hot_rows.open_meetings(board_dir, 1, hot, [1], 5, 4) as meets:
            meets.meet(1, {0: (wrong, wrong)})
    finally:
        shutil.rmtree(board_dir, ignore_errors=True)


def test_a_retried_round_refuses_the_meeting_directory_of_an_earlier_attempt(tmp_path):
    """Should Spark ever retry a round's barrier stage, the attempt fails at the first task that
    finds an earlier attempt's mark (the driver reruns rounds in fresh directories)."""
    meet_dir = str(tmp_path / "meet")
    hot_rows.claim(meet_dir, 0)
    hot_rows.claim(meet_dir, 1)
    with pytest.raises(hot_rows.RoundRetried, match="earlier attempt"):
        hot_rows.claim(meet_dir, 1)


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


def test_meeting_files_go_to_shared_memory_only_with_room_for_them():
    hot = hot_rows.HotSync(rows=1024, per_epoch=48)
    # the largest meeting of 16 shards of a 35,477 x 100 model: 32,768 rows of E and Θ, 17 times
    need = hot.meeting_bytes(16, 35_477, 100)
    assert need == 17 * 32_768 * 2 * 100 * 4
    assert hot.meeting_bytes(16, 5_000, 100) == 17 * 5_000 * 2 * 100 * 4  # at most the whole vocabulary
    run = f"r{os.getpid()}"
    assert hot_rows.shared_memory_root(run, 1 << 60) == ""  # more than any machine has
    small = hot_rows.shared_memory_root(run, 1 << 10)
    hot_rows.release(small)
    assert small == (f"/dev/shm/w2v-spark-{run}" if os.path.isdir("/dev/shm") else "")


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm")
def test_a_killed_runs_meeting_files_are_deleted_by_the_next_run():
    """A run's lock goes with its process (tests/test_private_files.py has a live one's kept)."""
    import subprocess
    import sys

    code = f"from w2v_spark.train import hot_rows; print(hot_rows.shared_memory_root('x{os.getpid()}', 1 << 10))"
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    dead = killed.stdout.strip()
    os.makedirs(os.path.join(dead, "epoch=1-sync=0"), exist_ok=True)
    try:
        alive = hot_rows.shared_memory_root(f"y{os.getpid()}", 1 << 10)
        assert not os.path.exists(dead) and os.path.isdir(alive)
        hot_rows.release(alive)
    finally:
        shutil.rmtree(dead, ignore_errors=True)
