"""Readers and writers of DeepCTR's sample formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ctrkit
from ctrkit.data import (
    AVAZU_COLUMNS,
    CENSUS_COLUMNS,
    CRITEO_COLUMNS,
    MOVIELENS_COLUMNS,
    make_avazu,
    make_census,
    make_criteo,
    make_movielens,
    read_avazu,
    read_census,
    read_criteo,
    read_movielens,
    read_tfrecords,
    read_vocabulary,
    sample_data_dir,
    write_avazu,
    write_census,
    write_criteo,
    write_movielens,
    write_tfrecords,
    write_vocabulary,
)

HEX8 = r"^[0-9a-f]{8}$"


@pytest.fixture(scope="module")
def samples():
    directory = sample_data_dir()
    if directory is None:
        pytest.skip(
            "DeepCTR sample data not found: set CTRKIT_SAMPLE_DATA or put the samples in ../shared/data"
        )
    return directory


def is_text(series: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(series.dtype) or series.dtype == object


# --- the real samples -------------------------------------------------------


def test_read_criteo_sample(samples):
    frame = read_criteo(samples / "criteo_sample.txt")
    assert frame.shape == (200, 40)
    assert tuple(frame.columns) == CRITEO_COLUMNS
    assert frame["label"].dtype == np.int64 and frame["label"].sum() == 49
    assert frame.loc[0, "I3"] == 260.0 and np.isnan(frame.loc[0, "I1"])
    for i in range(1, 14):
        assert frame[f"I{i}"].dtype.kind in "if"
    for i in range(1, 27):
        column = frame[f"C{i}"]
        assert is_text(column)
        assert column.dropna().str.match(HEX8).all()
    assert frame["C22"].isna().sum() > 100  # mostly empty in the sample
    assert frame.loc[0, "C1"] == "05db9164"


def test_read_avazu_sample(samples):
    frame = read_avazu(samples / "avazu_sample.txt")
    assert frame.shape == (100, 24)
    assert tuple(frame.columns) == AVAZU_COLUMNS
    assert frame["id"].dtype == np.uint64
    assert frame.loc[1, "id"] == np.uint64(10000169349117863715)  # beyond int64
    assert frame["click"].sum() == 20
    assert frame["hour"].eq(14102100).all()
    assert is_text(frame["site_id"]) and frame["site_id"].str.match(HEX8).all()
    assert frame["C20"].min() == -1


def test_read_movielens_sample(samples):
    frame = read_movielens(samples / "movielens_sample.txt")
    assert frame.shape == (200, 10)
    assert tuple(frame.columns) == MOVIELENS_COLUMNS
    assert frame.loc[2, "title"] == "Bridges of Madison County, The (1995)"
    assert frame.loc[2, "genres"] == "Drama|Romance"
    assert is_text(frame["zip"])
    assert "02136-1522" in set(frame["zip"])  # leading zero and extension kept
    assert frame["rating"].between(1, 5).all() and frame["rating"].dtype == np.int64


def test_read_census_sample(samples):
    frame = read_census(samples / "census-income.sample")
    assert frame.shape == (200, 44)
    assert tuple(frame.columns[:42]) == CENSUS_COLUMNS
    assert frame.index[0] == 138481  # the record id, as pandas makes it with 42 names
    first = frame.iloc[0]
    assert first["age"] == 62 and first["class_worker"] == "Private"
    assert first["instance_weight"] == pytest.approx(1819.08)
    assert first["income_50k"] == "50000+." and first["label_income"] == 1
    assert frame["label_income"].sum() == 12
    assert frame["label_marital"].sum() == (frame["marital_stat"] == "Never married").sum() == 84
    assert not frame["education"].str.startswith(" ").any()
    raw = read_census(samples / "census-income.sample", add_labels=False)
    assert "label_income" not in raw.columns


def test_read_vocabulary_sample(samples):
    vocabulary = read_vocabulary(samples / "movielens_age_vocabulary.csv")
    assert vocabulary == {"1": 1, "18": 2, "25": 3, "35": 4, "45": 5, "50": 6, "56": 7}


def test_read_tfrecords_sample(samples):
    frame = read_tfrecords(samples / "criteo_sample.tr.tfrecords")
    assert frame.shape == (160, 40)
    assert set(frame.columns) == set(CRITEO_COLUMNS)
    assert frame["C1"].dtype == np.int64 and frame["I1"].dtype == np.float32
    assert set(frame["label"].unique()) <= {0.0, 1.0}
    assert frame["I1"].between(0, 1).all()  # min-max scaled in the sample


@pytest.mark.parametrize(
    "name, reader, writer",
    [
        ("criteo_sample.txt", read_criteo, write_criteo),
        ("avazu_sample.txt", read_avazu, write_avazu),
        ("movielens_sample.txt", read_movielens, write_movielens),
        ("census-income.sample", read_census, write_census),
    ],
)
def test_writers_reproduce_the_sample_bytes(samples, tmp_path, name, reader, writer):
    writer(reader(samples / name), tmp_path / name)
    assert (tmp_path / name).read_bytes() == (samples / name).read_bytes()


@pytest.mark.parametrize(
    "name, reader, maker",
    [
        ("criteo_sample.txt", read_criteo, make_criteo),
        ("avazu_sample.txt", read_avazu, make_avazu),
        ("movielens_sample.txt", read_movielens, make_movielens),
        ("census-income.sample", read_census, make_census),
    ],
)
def test_generated_frames_have_the_sample_columns_and_dtypes(samples, name, reader, maker):
    real = reader(samples / name)
    generated = maker(2_000, seed=3).frame
    assert list(generated.columns) == list(real.columns)
    mismatched = {c: (real[c].dtype, generated[c].dtype) for c in real.columns if real[c].dtype != generated[c].dtype}
    assert not mismatched


def test_sample_dir_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("CTRKIT_SAMPLE_DATA", str(tmp_path))
    assert sample_data_dir() == tmp_path


# --- round trips of generated data -------------------------------------------


def test_criteo_round_trip(tmp_path):
    frame = make_criteo(500, seed=1).frame
    write_criteo(frame, tmp_path / "c.txt")
    pd.testing.assert_frame_equal(read_criteo(tmp_path / "c.txt"), frame)
    write_criteo(frame, tmp_path / "train.txt", raw=True)
    first_line = (tmp_path / "train.txt").read_text().splitlines()[0]
    assert "\t" in first_line and not first_line.startswith("label")
    pd.testing.assert_frame_equal(read_criteo(tmp_path / "train.txt"), frame)


def test_avazu_round_trip(tmp_path):
    frame = make_avazu(500, seed=1).frame
    write_avazu(frame, tmp_path / "a.txt")
    pd.testing.assert_frame_equal(read_avazu(tmp_path / "a.txt"), frame)


def test_movielens_round_trip(tmp_path):
    frame = make_movielens(500, seed=1).frame
    assert frame["title"].str.contains(",").any()  # exercises quoting
    write_movielens(frame, tmp_path / "m.txt")
    pd.testing.assert_frame_equal(read_movielens(tmp_path / "m.txt"), frame)


def test_census_round_trip(tmp_path):
    frame = make_census(500, seed=1).frame
    write_census(frame, tmp_path / "census.sample")
    text = (tmp_path / "census.sample").read_text().splitlines()[0]
    assert text.startswith("0,") and ", " in text  # record id, then the blank before text
    back = read_census(tmp_path / "census.sample")
    pd.testing.assert_frame_equal(back, frame, check_index_type=False)


def test_vocabulary_round_trip(tmp_path):
    vocabulary = {"a": 1, "b,c": 2, "18": 3}
    write_vocabulary(vocabulary, tmp_path / "v.csv")
    assert read_vocabulary(tmp_path / "v.csv") == vocabulary


def test_tfrecords_round_trip(tmp_path):
    frame = pd.DataFrame(
        {
            "label": np.array([0.0, 1.0, 0.0], dtype=np.float32),
            "C1": np.array([3, 0, 7], dtype=np.int64),
            "I1": np.array([0.5, 0.25, 1.0], dtype=np.float32),
            "tag": pd.Series(["x", "y", "z"], dtype=str),
        }
    )
    write_tfrecords(frame, tmp_path / "f.tfrecords")
    back = read_tfrecords(tmp_path / "f.tfrecords")
    pd.testing.assert_frame_equal(back, frame[sorted(frame.columns)], check_dtype=False)
    assert back["C1"].dtype == np.int64


# --- bad input ----------------------------------------------------------------


def test_readers_name_what_is_wrong(tmp_path):
    criteo = tmp_path / "c.txt"
    criteo.write_text("label,I1\n0,1\n")
    with pytest.raises(ValueError, match="missing column"):
        read_criteo(criteo)
    with pytest.raises(ValueError, match="record id and 42 fields"):
        read_census(criteo)
    vocabulary = tmp_path / "v.csv"
    vocabulary.write_text("1,a\nx,b\n")
    with pytest.raises(ValueError, match=r"v.csv:2"):
        read_vocabulary(vocabulary)
    vocabulary.write_text("0,a\n")
    with pytest.raises(ValueError, match="start at 1"):
        read_vocabulary(vocabulary)
    with pytest.raises(ValueError, match="missing values"):
        write_tfrecords(pd.DataFrame({"I1": [1.0, np.nan]}), tmp_path / "x.tfrecords")
    with pytest.raises(ValueError, match="missing column"):
        write_criteo(pd.DataFrame({"label": [1]}), tmp_path / "y.txt")


def test_sample_dir_falls_back_beside_the_repository(tmp_path, monkeypatch):
    monkeypatch.setenv("CTRKIT_SAMPLE_DATA", str(tmp_path / "absent"))
    beside_repo = Path(ctrkit.__file__).resolve().parents[2] / "shared" / "data"
    assert sample_data_dir() == (beside_repo if beside_repo.is_dir() else None)
