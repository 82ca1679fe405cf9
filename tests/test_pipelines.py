"""Streaming pipelines: every format reads the values `model_input` builds, shards never overlap."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from ctrkit.data import pipelines
from ctrkit.data.criteo import make_criteo
from ctrkit.data.frame_inputs import model_input
from ctrkit.feature_column import DenseFeat, SparseFeat, VarLenSparseFeat

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data"
N = 240


def _columns():
    return [
        SparseFeat("C1", 100, use_hash=True, dtype="string"),
        SparseFeat("C6", 100, use_hash=True, dtype="string"),
        SparseFeat("site", 50, dtype="int32"),
        DenseFeat("I1"),
        DenseFeat("I2"),
        DenseFeat("vec", 2),
        VarLenSparseFeat(SparseFeat("genres", 20, use_hash=True, dtype="string"), 3),
        VarLenSparseFeat(SparseFeat("items", 30, dtype="int64"), 4, length_name="items_len", weight_name="items_w"),
    ]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    df = make_criteo(N, seed=7).frame[["label", "C1", "C6", "I1", "I2"]].copy()  # C6 and I1 have missing values
    rng = np.random.default_rng(0)
    df["row"] = np.arange(N)
    df["site"] = rng.integers(0, 50, N)
    df["vec"] = [f"{a:.3f}|{b:.3f}" for a, b in rng.random((N, 2))]
    df["genres"] = [["", "a|b", "c||d|e|f", "g"][i % 4] for i in range(N)]
    df["genres"] = df["genres"].replace("", np.nan)
    df["items"] = ["|".join(str(v) for v in range(1, 1 + i % 6)) for i in range(N)]
    df["items_w"] = ["|".join(f"{0.5 * v:g}" for v in range(1, 1 + i % 6)) for i in range(N)]
    return df


def _expected(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """What every pipeline must yield: `model_input`'s values plus length and weight inputs."""
    columns = _columns()
    out = model_input(frame, [c for c in columns if c.name != "vec"])
    out["vec"] = np.array([[float(v) for v in s.split("|")] for s in frame["vec"]], dtype="float32")
    lengths = [min(i % 6, 4) for i in frame["row"]]
    out["items_len"] = np.array(lengths, dtype="int32")
    out["items_w"] = np.array([[0.5 * v for v in range(1, 1 + n)] + [0.0] * (4 - n) for n in lengths], dtype="float32")
    out["label"] = frame["label"].to_numpy("float32")
    out["row"] = frame["row"].to_numpy("float32")
    return out


def _write(frame: pd.DataFrame, directory: Path, fmt: str, shards: int) -> str:
    parts = np.array_split(np.arange(len(frame)), shards)
    for i, rows in enumerate(parts):
        part = frame.iloc[rows]
        path = directory / f"part-{i}.{fmt}"
        if fmt == "csv":
            part.to_csv(path, index=False)
        elif fmt == "parquet":
            part.to_parquet(path, row_group_size=50)
        else:
            pipelines.write_tfrecord(part, str(path), _columns() + [DenseFeat("row")], "label")
    return str(directory / f"part-*.{fmt}")


def _collect(ds) -> dict[str, np.ndarray]:
    out: dict[str, list] = {}
    for features, label in ds:
        for name, value in {**features, "label": label}.items():
            out.setdefault(name, []).append(value.numpy())
    return {name: np.concatenate(values) for name, values in out.items()}


@pytest.mark.parametrize("fmt", pipelines.FORMATS)
def test_each_format_reads_the_values_model_input_builds(frame, tmp_path, fmt):
    pattern = _write(frame, tmp_path, fmt, shards=2)
    ds = pipelines.make_dataset(fmt, pattern, _columns() + [DenseFeat("row")], "label", batch_size=64)
    got = _collect(ds)
    expected = _expected(frame)
    assert set(got) == set(expected)
    for name, want in expected.items():
        value = got[name]
        assert value.shape == want.shape, name
        if want.dtype == object:
            np.testing.assert_array_equal(value.astype(str), want.astype(str), err_msg=name)
        else:
            assert value.dtype == want.dtype, name
            np.testing.assert_allclose(value, want, rtol=1e-6, err_msg=name)
    # the missing values really were there, and were filled
    assert frame["C6"].isna().any() and (got["C6"] == b"").any()
    assert frame["I1"].isna().any() and not np.isnan(got["I1"]).any()
    assert (got["genres"][::4] == b"").all()


@pytest.mark.parametrize("fmt", pipelines.FORMATS)
@pytest.mark.parametrize("files,shards", [(4, 2), (1, 3)])
def test_shards_partition_the_rows(frame, tmp_path, fmt, files, shards):
    pattern = _write(frame, tmp_path, fmt, shards=files)
    columns = [DenseFeat("row"), SparseFeat("C1", 100, use_hash=True, dtype="string")]
    seen = []
    for index in range(shards):
        ds = pipelines.make_dataset(fmt, pattern, columns, "label", batch_size=32, num_shards=shards, index=index)
        seen.append(_collect(ds)["row"].astype(int))
    assert all(len(rows) > 0 for rows in seen)
    everything = np.concatenate(seen)
    assert len(everything) == N and set(everything) == set(range(N))


def test_input_context_shards_and_splits_the_global_batch(frame, tmp_path):
    pattern = _write(frame, tmp_path, "tfrecord", shards=2)
    columns = [DenseFeat("row")]
    rows = []
    for pipeline in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline, num_replicas_in_sync=2)
        batches = list(pipelines.tfrecord_dataset(pattern, columns, "label", batch_size=64, input_context=context))
        assert max(len(label) for _, label in batches) == 32  # the global batch of 64 over 2 replicas
        rows.append(np.concatenate([f["row"].numpy() for f, _ in batches]).astype(int))
    assert not set(rows[0]) & set(rows[1]) and len(rows[0]) + len(rows[1]) == N
    with pytest.raises(ValueError, match="either input_context or num_shards"):
        pipelines.tfrecord_dataset(pattern, columns, input_context=context, num_shards=2, index=0)


@pytest.mark.parametrize("fmt", pipelines.FORMATS)
def test_shuffle_and_epochs(frame, tmp_path, fmt):
    pattern = _write(frame, tmp_path, fmt, shards=3)
    columns = [DenseFeat("row")]
    plain = _collect(pipelines.make_dataset(fmt, pattern, columns, "label", batch_size=50))["row"]
    np.testing.assert_array_equal(plain, np.arange(N))  # no shuffle: file order
    shuffled = _collect(
        pipelines.make_dataset(fmt, pattern, columns, "label", batch_size=50, shuffle_buffer=100, seed=1, num_epochs=2)
    )["row"]
    assert len(shuffled) == 2 * N
    np.testing.assert_array_equal(np.sort(shuffled), np.repeat(np.arange(N), 2))
    assert not np.array_equal(shuffled[:N], plain)


def test_parquet_list_columns_and_small_reads(tmp_path):
    df = pd.DataFrame(
        {
            "label": [1, 0, 1, 0, 1],
            "tags": [["x", "y"], None, ["z"], ["a", "b", "c", "d"], []],
            "ids": [[3, 4, 5], [1], None, [], [9, 8]],
        }
    )
    df.to_parquet(tmp_path / "lists.parquet", row_group_size=2)
    columns = [
        VarLenSparseFeat(SparseFeat("tags", 10, use_hash=True, dtype="string"), 3),
        VarLenSparseFeat(SparseFeat("ids", 10, dtype="int32"), 2, length_name="n_ids"),
    ]
    got = _collect(pipelines.parquet_dataset(str(tmp_path / "*.parquet"), columns, "label", batch_size=2, read_rows=1))
    np.testing.assert_array_equal(
        got["tags"].astype(str), [["x", "y", ""], ["", "", ""], ["z", "", ""], ["a", "b", "c"], ["", "", ""]]
    )
    np.testing.assert_array_equal(got["ids"], [[3, 4], [1, 0], [0, 0], [0, 0], [9, 8]])
    np.testing.assert_array_equal(got["n_ids"], [2, 1, 0, 0, 2])
    np.testing.assert_array_equal(got["label"], [1, 0, 1, 0, 1])


def test_csv_without_header_and_tab_separated(tmp_path):
    (tmp_path / "raw.txt").write_text("1\t\t5\n0\tab\t\n")
    columns = [SparseFeat("C1", 10, use_hash=True, dtype="string"), DenseFeat("I1")]
    got = _collect(
        pipelines.csv_dataset(
            str(tmp_path / "raw.txt"), columns, "label", header=False, field_delim="\t", column_names=["label", "C1", "I1"]
        )
    )
    np.testing.assert_array_equal(got["C1"], [b"", b"ab"])
    np.testing.assert_array_equal(got["I1"], [5.0, 0.0])
    np.testing.assert_array_equal(got["label"], [1.0, 0.0])


@pytest.mark.skipif(not (SAMPLES / "criteo_sample.tr.tfrecords").is_file(), reason="sample data not present")
def test_reads_the_criteo_tfrecord_samples():
    columns = [SparseFeat(f"C{i}", 1000, 4, dtype="int64") for i in range(1, 27)]
    columns += [DenseFeat(f"I{i}") for i in range(1, 14)]
    for name, rows in (("criteo_sample.tr.tfrecords", 160), ("criteo_sample.te.tfrecords", 40)):
        path = str(SAMPLES / name)
        got = _collect(pipelines.tfrecord_dataset(path, columns, "label", batch_size=64))
        assert len(got["label"]) == rows and got["C1"].dtype == np.int64 and got["I1"].dtype == np.float32
        first = tf.train.Example.FromString(next(iter(tf.data.TFRecordDataset(path))).numpy()).features.feature
        assert got["C3"][0] == first["C3"].int64_list.value[0]
        assert got["I13"][0] == pytest.approx(first["I13"].float_list.value[0])
        assert got["label"][0] == first["label"].float_list.value[0]
    sample = pipelines.read_sample("tfrecord", str(SAMPLES / "criteo_sample.te.tfrecords"), rows=10)
    assert len(sample) == 10 and {"label", "C1", "I13"} <= set(sample.columns)


def test_read_sample_reads_only_the_first_rows(frame, tmp_path):
    for fmt in pipelines.FORMATS:
        pattern = _write(frame, tmp_path, fmt, shards=2)
        sample = pipelines.read_sample(fmt, pattern, rows=7)
        assert len(sample) == 7 and list(sample["row"]) == list(range(7)), fmt


def test_clear_errors(frame, tmp_path):
    pattern = _write(frame, tmp_path, "csv", shards=1)
    with pytest.raises(ValueError, match=r"columns \['nope'\] are not in the CSV"):
        pipelines.csv_dataset(pattern, [DenseFeat("nope")], "label")
    with pytest.raises(FileNotFoundError, match="no file matches"):
        pipelines.csv_dataset(str(tmp_path / "missing-*.csv"), [DenseFeat("I1")])
    with pytest.raises(ValueError, match="index must be in"):
        pipelines.csv_dataset(pattern, [DenseFeat("I1")], num_shards=2, index=2)
    with pytest.raises(ValueError, match="format must be one of"):
        pipelines.make_dataset("json", pattern, [DenseFeat("I1")])
    with pytest.raises(ValueError, match="label 'I1' is also a feature"):
        pipelines.csv_dataset(pattern, [DenseFeat("I1")], "I1")


def test_array_dataset_epochs_shuffle_shards_and_labels():
    x = {"s": np.array([f"v{i}" for i in range(10)], dtype=object), "n": np.arange(10, dtype="int64"), "d": np.ones((10, 2), "float32")}
    y = np.arange(10) % 2
    batches = list(pipelines.array_dataset(x, y, batch_size=4, num_epochs=2))
    assert [len(label) for _, label in batches] == [4, 4, 4, 4, 4]  # batches run across the epoch boundary
    np.testing.assert_array_equal(np.concatenate([f["n"].numpy() for f, _ in batches]), np.tile(np.arange(10), 2))
    first = batches[0][0]
    assert first["s"].dtype == tf.string and first["d"].shape == (4, 2) and batches[0][1].dtype == tf.float32

    shuffled = [np.concatenate([f["n"].numpy() for f, _ in pipelines.array_dataset(x, y, batch_size=3, shuffle=True, seed=s)]) for s in (1, 2)]
    assert sorted(shuffled[0]) == list(range(10)) and not np.array_equal(shuffled[0], shuffled[1])

    halves = [np.concatenate([f["n"].numpy() for f in pipelines.array_dataset(x, batch_size=8, num_shards=2, index=i)]) for i in range(2)]
    np.testing.assert_array_equal(np.sort(np.concatenate(halves)), np.arange(10))
    assert not set(halves[0]) & set(halves[1])

    _, labels = next(iter(pipelines.array_dataset(x, [y, 1 - y], batch_size=10)))
    np.testing.assert_array_equal(labels[1].numpy(), 1 - y)
    assert len(list(pipelines.array_dataset(x, y, batch_size=4, drop_remainder=True))) == 2
    with pytest.raises(ValueError, match="same number of rows"):
        pipelines.array_dataset(x, y[:5])


def test_numpy_batches_shuffle_within_a_window():
    chunks = [{"r": np.arange(start, start + 10)} for start in range(0, 100, 10)]
    batches = list(pipelines.numpy_batches(iter(chunks), 8, shuffle_buffer=20, rng=np.random.default_rng(0)))
    rows = np.concatenate([b["r"] for b in batches])
    assert [len(b["r"]) for b in batches][:-1] == [8] * (len(batches) - 1)
    assert sorted(rows) == list(range(100)) and not np.array_equal(rows, np.arange(100))
    # the window only ever holds rows that arrived: no row leaves before
    # the rows that came shuffle_buffer + batch + chunk rows ahead of it
    assert all(position >= row - (20 + 8 + 10) for position, row in enumerate(rows))
    plain = np.concatenate([b["r"] for b in pipelines.numpy_batches(iter(chunks), 8)])
    np.testing.assert_array_equal(plain, np.arange(100))


@pytest.mark.parametrize("fmt", ["csv", "tfrecord"])
def test_row_shards_stay_disjoint_when_shuffling(frame, tmp_path, fmt):
    pattern = _write(frame, tmp_path, fmt, shards=2)
    rows = [
        _collect(pipelines.make_dataset(fmt, pattern, [DenseFeat("row")], "label", batch_size=64, shuffle_buffer=50, num_shards=3, index=i))["row"]
        for i in range(3)
    ]
    assert sorted(np.concatenate(rows).astype(int)) == list(range(N))
