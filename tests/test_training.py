"""Driver-side pieces of training: initialisation, learning-rate schedule, shard averaging."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from w2v_spark import storage, training
from w2v_spark.schemas import tuple_arrow_schema


def test_init_params_follow_word2vec_and_the_seed():
    emb, out = training.init_params(500, 40, seed=7)
    assert emb.dtype == np.float32 and emb.shape == (500, 40)
    assert np.all(np.abs(emb) < 0.5 / 40) and emb.std() > 0.2 / 40  # uniform in (-0.5/d, 0.5/d)
    assert not out.any()
    again, _ = training.init_params(500, 40, seed=7)
    other, _ = training.init_params(500, 40, seed=8)
    assert np.array_equal(emb, again) and not np.array_equal(emb, other)


def test_learning_rate_decays_linearly_over_the_run():
    assert training.learning_rate(0.025, 0.0001, 0.0) == 0.025
    assert training.learning_rate(0.025, 0.0001, 1.0) == pytest.approx(0.0001)
    assert training.learning_rate(0.025, 0.0001, 0.5) == pytest.approx((0.025 + 0.0001) / 2)


def _write_deltas(path, emb_delta, out_delta):
    storage.write_arrays(str(path), np.asarray(emb_delta, np.float32), np.asarray(out_delta, np.float32))
    return str(path)


def test_average_is_the_plain_mean_over_all_shards(tmp_path):
    start = np.ones((3, 2), np.float32)
    # shard 0 moved row 0 by +2 and row 1 by +4; shard 1 moved row 0 by -2; a third shard made no file
    files = [
        _write_deltas(tmp_path / "a.npy", [[2, 2], [4, 0], [0, 0]], np.zeros((3, 2))),
        _write_deltas(tmp_path / "b.npy", [[-2, -2], [0, 0], [0, 0]], [[0, 0], [0, 0], [3, 3]]),
    ]
    emb, out = training.average(start.copy(), start.copy(), files, shards=3)
    # every shard trained at 3x the rate, so a row only one shard moved keeps a third of that move
    np.testing.assert_allclose(emb, np.array([[1, 1], [1 + 4 / 3, 1], [1, 1]]), rtol=1e-6)
    np.testing.assert_allclose(out, [[1, 1], [1, 1], [2, 2]], rtol=1e-6)


def _tuples_file(path, centers, targets, negatives):
    table = pa.table(
        {"center": pa.array(centers, pa.int32()), "target": pa.array(targets, pa.int32()),
         "negative_1": pa.array(negatives, pa.int32())},
        schema=tuple_arrow_schema(1),
    )  # fmt: skip
    pq.write_table(table, path, row_group_size=3)
    return str(path)


def test_train_shard_uses_global_progress_for_the_learning_rate(tmp_path):
    """Epoch 2 of 2 starts at half the run: its first row's rate is the midpoint of the schedule."""
    path = _tuples_file(tmp_path / "part-00000.parquet", [0, 0], [1, 1], [2, 2])
    emb = np.ones((3, 1), np.float32)
    out = np.zeros((3, 1), np.float32)
    schedule = training.Schedule(alpha=1.0, min_alpha=0.0, epochs=2)
    stats = training.train_shard(path, emb, out, epoch=2, schedule=schedule)  # trains (emb, out) in place
    # Row 1 at progress (2 - 1 + 0/2) / 2 = 0.5: lr = 0.5, x = 0, so out[1] += (1 - 0.5) * 0.5 * emb[0] = 0.25.
    # Row 2 at progress 0.75: lr = 0.25, x = 0.25, so out[1] += (1 - sigmoid(0.25)) * 0.25.
    expected_out1 = 0.25 + (1 - 1 / (1 + np.exp(-0.25))) * 0.25
    assert out[1, 0] == pytest.approx(expected_out1, rel=1e-5)
    assert stats.examples == 2 and stats.loss > 0
    # lr_scale multiplies every step: the first update doubles
    doubled = np.zeros((3, 1), np.float32)
    training.train_shard(path, np.ones((3, 1), np.float32), doubled, 2, training.Schedule(1.0, 0.0, 2, lr_scale=2.0))
    assert doubled[1, 0] > 1.5 * out[1, 0]


def test_rounds_split_a_shard_into_consecutive_row_ranges(tmp_path):
    rng = np.random.default_rng(0)
    n = 10
    path = _tuples_file(tmp_path / "t.parquet", rng.integers(0, 4, n), rng.integers(4, 8, n), rng.integers(8, 12, n))
    emb = ((rng.random((12, 3)) - 0.5) / 3).astype(np.float32)
    out = np.zeros((12, 3), np.float32)
    schedule = training.Schedule(0.1, 0.01, 1)
    whole_emb, whole_out = emb.copy(), out.copy()
    training.train_shard(path, whole_emb, whole_out, 1, schedule)
    # the same rows in three rounds, each starting where the last ended, give the same parameters
    e, o = emb.copy(), out.copy()
    sizes = []
    for sync in range(3):
        sizes.append(training.train_shard(path, e, o, 1, schedule, sync=sync, syncs=3).examples)
    assert sizes == [3, 3, 4]
    np.testing.assert_allclose(e, whole_emb, atol=1e-6)
    np.testing.assert_allclose(o, whole_out, atol=1e-6)
    assert not np.allclose(e, emb)


def test_block_rows_bound_the_memory_of_streamed_matrices():
    assert storage.block_rows(100) == (16 << 20) // 400
    assert storage.block_rows(10**9) == 1


def test_shard_learning_rate_multiple():
    assert training.shard_lr_scale(1) == 1.0  # one shard trains exactly as one machine
    assert training.shard_lr_scale(8) == pytest.approx(8 ** (5 / 6))  # between the mean's 1 and the sum's 8
    assert 1.7 < training.shard_lr_scale(2) < 1.8


def _add_to_shared_copy(local: str, model: str, row: int, value: float) -> None:
    emb, out, counter = training.open_shared_copy(local, "1-0", model)
    emb[row] += value
    out[row] -= value
    clock = training.SharedClock(counter, local, start=0, total=100, models=1)
    clock.advance(10)


def test_tasks_of_one_executor_train_one_shared_copy(tmp_path):
    """Hogwild: separate processes (as Spark's Python workers are) open the same copy and see
    each other's updates; a new round's copy starts from its model and replaces the old one."""
    import multiprocessing

    model = str(tmp_path / "model.npy")
    storage.write_arrays(model, np.ones((4, 3), np.float32), np.zeros((4, 3), np.float32))
    local = str(tmp_path / "executor")
    (tmp_path / "executor").mkdir()
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_add_to_shared_copy, args=(local, model, row, 2.0)) for row in (0, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    emb, out, counter = training.open_shared_copy(local, "1-0", model)
    assert emb[:, 0].tolist() == [3.0, 1.0, 3.0, 1.0] and out[:, 0].tolist() == [-2.0, 0.0, -2.0, 0.0]
    assert counter.tolist() == [20]  # both processes' rows on the one clock
    # the next round starts from its own model file; the previous round's copy is removed
    storage.write_arrays(model, np.full((4, 3), 5, np.float32), np.zeros((4, 3), np.float32))
    emb, _, counter = training.open_shared_copy(local, "1-1", model)
    assert np.all(emb == 5.0) and counter.tolist() == [0]
    left = sorted(p.name for p in (tmp_path / "executor").glob("*.npy"))
    assert left == ["1-1-emb.npy", "1-1-out.npy", "1-1-rows.npy"]
