import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from w2v_spark import storage


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


def test_paths_and_uris():
    assert storage.spark_uri("/data/x") == "file:///data/x"
    assert storage.spark_uri("hdfs://nn/x/") == "hdfs://nn/x"
    fs, inner = storage.filesystem("file:///tmp/x")
    assert inner == "/tmp/x" and fs.type_name == "local"
