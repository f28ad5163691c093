"""Driver-side pieces of training: initialisation, learning-rate schedule, shard averaging."""

import os
import shutil

import numpy as np
import pytest

from tests.helpers import tuples_file, write_model
from w2v_spark.errors import ConfigError
from w2v_spark.job import checkpoints
from w2v_spark.runtime import storage
from w2v_spark.train import blocks, exchange, hot_rows, rounds
from w2v_spark.train.blocks import ModelShape


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
    write_model(tmp_path / "model", shape, start, start)
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
    write_model(tmp_path / "m", shape, base_e, base_t)
    trained_e, trained_t = base_e + 1, base_t - 2
    trained_t[5] = base_t[5]  # a row the shard did not touch
    read, touched = blocks.write_delta(str(tmp_path / "d.npy"), trained_e, trained_t, str(tmp_path / "m"), shape)
    assert read == shape.nbytes and touched == 19  # the base model, read once; 19 of 20 rows changed
    np.testing.assert_allclose(storage.read_rows(str(tmp_path / "d.npy"), 0, 3, 9), np.ones((6, 3)), rtol=1e-6)
    np.testing.assert_allclose(storage.read_rows(str(tmp_path / "d.npy"), 1, 8, 99), np.full((2, 3), -2), rtol=1e-6)
    assert not storage.read_rows(str(tmp_path / "d.npy"), 1, 5, 6).any()


def test_train_shard_uses_global_progress_for_the_learning_rate(tmp_path):
    """Epoch 2 of 2 starts at half the run: its first row's rate is the midpoint of the schedule."""
    path = tuples_file(tmp_path / "part-00000.parquet", [0, 0], [1, 1], [2, 2])
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
    path = tuples_file(tmp_path / "t.parquet", rng.integers(0, 4, n), rng.integers(4, 8, n), rng.integers(8, 12, n))
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
    write_model(model, SHAPE, np.ones((4, 3), np.float32), np.zeros((4, 3), np.float32))
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
    write_model(model, SHAPE, np.full((4, 3), 5, np.float32), np.zeros((4, 3), np.float32))
    emb, _, counter, read = exchange.open_shared_copy(local, "1-1", model, SHAPE)
    assert np.all(emb == 5.0) and counter.tolist() == [0] and read == SHAPE.nbytes
    left = sorted(p.name for p in (tmp_path / "executor").glob("*.npy"))
    assert left == ["1-1-emb.npy", "1-1-rows.npy", "1-1-theta.npy"]


def test_an_unknown_exchange_strategy_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown exchange strategy 'gossip'; known: average, hogwild"):
        exchange.get("gossip")
    assert exchange.get("average").reproducible and not exchange.get("hogwild").reproducible


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
