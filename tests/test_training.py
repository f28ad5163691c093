"""Driver-side pieces of training: initialisation, learning-rate schedule, shard averaging."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from w2v_spark import training
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


def test_combine_averages_rows_weighted_by_updates():
    start = np.zeros((3, 2), np.float32)
    # shard A moved row 0 by +1 (4 updates) and row 1 by +2 (1 update); shard B moved row 0 by -1 (4 updates)
    delta_sum = np.array([[4 * 1 + 4 * -1, 0], [1 * 2, 0], [0, 0]], np.float32)
    updates = np.array([8.0, 1.0, 0.0])
    combined = training.combine(start, delta_sum, updates)
    assert combined.tolist() == [[0, 0], [2, 0], [0, 0]]  # row 1 keeps its only shard's update in full


def test_train_shard_uses_global_progress_for_the_learning_rate(tmp_path):
    """Epoch 2 of 2 starts at half the run: its first row's rate is the midpoint of the schedule."""
    path = tmp_path / "part-00000.parquet"
    table = pa.table(
        {"center": pa.array([0, 0], pa.int32()), "target": pa.array([1, 1], pa.int32()),
         "negative_1": pa.array([2, 2], pa.int32())},
        schema=tuple_arrow_schema(1),
    )  # fmt: skip
    pq.write_table(table, path)
    emb = np.ones((3, 1), np.float32)
    out = np.zeros((3, 1), np.float32)
    schedule = training.Schedule(alpha=1.0, min_alpha=0.0, epochs=2)
    res = training.train_shard(str(path), emb, out, epoch=2, schedule=schedule)
    # Row 1 at progress (2 - 1 + 0/2) / 2 = 0.5: lr = 0.5, x = 0, so out[1] += (1 - 0.5) * 0.5 * emb[0] = 0.25.
    # Row 2 at progress 0.75: lr = 0.25, x = 0.25, so out[1] += (1 - sigmoid(0.25)) * 0.25.
    expected_out1 = 0.25 + (1 - 1 / (1 + np.exp(-0.25))) * 0.25
    assert res.out_updates.tolist() == [0, 2, 2]
    assert res.out_delta[1, 0] / res.out_updates[1] == pytest.approx(expected_out1, rel=1e-5)
    assert res.examples == 2 and np.array_equal(emb, np.ones((3, 1), np.float32))  # inputs untouched
