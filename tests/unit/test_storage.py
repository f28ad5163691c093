import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from w2v_spark.runtime import storage


def test_iter_row_groups_yields_each_group_in_order(tmp_path):
    path = tmp_path / "t.parquet"
    with pq.ParquetWriter(path, pa.schema([("x", pa.int32())])) as writer:
        for start in (0, 100, 250):
            writer.write_table(pa.table({"x": pa.array(range(start, start + 50), pa.int32())}))
    groups = list(storage.iter_row_groups(str(path)))
    assert [g.num_rows for g in groups] == [50, 50, 50]
    assert groups[1].column("x").to_pylist() == list(range(100, 150))


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "d" / "f.bin"
    with pytest.raises(RuntimeError), storage.atomic_output(str(target)) as fh:
        fh.write(b"half")
        raise RuntimeError("task died")
    assert not target.exists() and list((tmp_path / "d").iterdir()) == []
    with storage.atomic_output(str(target)) as fh:
        fh.write(b"whole")
    assert target.read_bytes() == b"whole"


def test_files_being_written_have_hidden_names_and_durable_ones_reach_the_disk(tmp_path):
    target = tmp_path / "d" / "part-00000.parquet"
    with storage.atomic_output(str(target), durable=True) as fh:
        fh.write(b"whole")
        (pending,) = (tmp_path / "d").iterdir()  # readers skip names starting with "."
        assert pending.name.startswith(".part-00000.parquet.tmp-") and storage.is_temporary(pending.name)
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["part-00000.parquet"] and target.read_bytes() == b"whole"


def test_paths_and_uris():
    assert storage.spark_uri("/data/x") == "file:///data/x"
    assert storage.spark_uri("hdfs://nn/x/") == "hdfs://nn/x"
    fs, inner = storage.filesystem("file:///tmp/x")
    assert inner == "/tmp/x" and fs.type_name == "local"


@pytest.mark.parametrize("uri", [False, True], ids=["path", "file-uri"])
def test_raw_rows_read_back_any_slice_of_every_array(tmp_path, uri):
    import numpy as np

    rng = np.random.default_rng(0)
    emb, theta = rng.standard_normal((7, 3), dtype=np.float32), rng.standard_normal((7, 3), dtype=np.float32)
    path = ("file://" if uri else "") + str(tmp_path / "meet" / "part-00000.bin")
    storage.write_raw(path, emb, theta)
    for start, stop in ((0, 7), (2, 5), (6, 7), (4, 4)):
        got_e, got_t = storage.read_raw_rows(path, 2, 7, 3, start, stop)
        assert np.array_equal(got_e, emb[start:stop]) and np.array_equal(got_t, theta[start:stop])
    assert [p.name for p in (tmp_path / "meet").iterdir()] == ["part-00000.bin"]  # no temporary left
    empty = path.replace("part-00000", "mean-00000")  # a slice of no rows: fewer hot rows than shards
    storage.write_raw(empty, emb[:0], theta[:0])
    assert [a.shape for a in storage.read_raw_rows(empty, 2, 0, 3, 0, 0)] == [(0, 3), (0, 3)]


def test_first_missing_counts_on_from_what_a_waiter_already_saw(tmp_path):
    paths = [str(tmp_path / f"part-{k}.bin") for k in range(4)]
    for k in (0, 1, 3):
        storage.write_text(paths[k], "x")
    assert storage.first_missing(paths) == 2 and storage.first_missing(paths, 2) == 2
    storage.write_text(paths[2], "x")
    assert storage.first_missing(paths, 2) == 4 and storage.first_missing(["file://" + p for p in paths]) == 4
    assert storage.first_missing([]) == 0
