"""Readers and writers for the sample formats of DeepCTR's examples.

Every reader returns a `pandas.DataFrame` with the column names DeepCTR's
examples use, numbers parsed, text columns in pandas' text dtype and missing
values as NaN. Every writer produces a file its reader reads back to an equal
frame.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ._common import STRING_DTYPE
from .census import (
    CENSUS_COLUMNS,
    CENSUS_HIGH_INCOME,
    CENSUS_NEVER_MARRIED,
    CENSUS_STRING_COLUMNS,
)
from .avazu import AVAZU_COLUMNS
from .criteo import CRITEO_COLUMNS, CRITEO_SPARSE_FEATURES
from .movielens import MOVIELENS_COLUMNS

PathLike = str | os.PathLike

AVAZU_STRING_COLUMNS = (
    "site_id", "site_domain", "site_category", "app_id", "app_domain", "app_category",
    "device_id", "device_ip", "device_model",
)
MOVIELENS_STRING_COLUMNS = ("title", "genres", "gender", "zip")

SAMPLE_DATA_ENV = "CTRKIT_SAMPLE_DATA"


def sample_data_dir() -> Path | None:
    """Where DeepCTR's sample files are: `$CTRKIT_SAMPLE_DATA`, else
    `../shared/data` beside the repository root; None when neither exists."""
    override = os.environ.get(SAMPLE_DATA_ENV)
    candidates = [Path(override)] if override else []
    candidates.append(Path(__file__).resolve().parents[3] / "shared" / "data")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


def sample_file(name: str) -> Path | None:
    """DeepCTR's sample file `name` from `sample_data_dir()`, or None when it
    is not there (the examples then make synthetic rows).

        >>> sample_file("no_such_sample.txt") is None
        True
    """
    folder = sample_data_dir()
    if folder is None or not (folder / name).is_file():
        return None
    return folder / name


def sample_or_synthetic(
    sample: str,
    data: Path | None,
    synthetic: int | None,
    read: Callable[[Path], pd.DataFrame],
    make: Callable[[int], pd.DataFrame],
    default_rows: int,
) -> pd.DataFrame:
    """The rows an example trains on: `make(synthetic)` when `--synthetic N`
    was given, else `read(data)` for `--data PATH`, else `read` of DeepCTR's
    sample file `sample` where it is (`sample_file`), else `make(default_rows)`
    after one line saying so. A `--data` file that does not exist ends the
    program with a message naming it.

        >>> sample_or_synthetic("no_such_sample.txt", None, 3, pd.read_csv,
        ...                     lambda n: pd.DataFrame({"x": range(n)}), 10).shape
        (3, 1)
    """
    if synthetic is not None:
        return make(synthetic)
    path = data or sample_file(sample)
    if path is None:
        print(f"no {sample} in ${SAMPLE_DATA_ENV} or ../shared/data: using {default_rows:,} synthetic rows")
        return make(default_rows)
    if not path.is_file():
        raise SystemExit(f"{path} not found: pass --data PATH, or --synthetic N for synthetic rows")
    return read(path)


def _first_line(path: PathLike) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.readline().rstrip("\r\n")


def _text_dtypes(columns) -> dict:
    return {c: STRING_DTYPE for c in columns}


def _check_columns(frame: pd.DataFrame, expected, path) -> None:
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")


def read_criteo(path: PathLike) -> pd.DataFrame:
    """Read Criteo rows: `label, I1..I13, C1..C26`.

    Accepts the comma-separated sample with a header (`criteo_sample.txt`)
    and the raw tab-separated Criteo logs without one (`train.txt`).
    Counts are float64 (int64 for a column without gaps), categorical
    columns text, empty fields NaN.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from ctrkit.data import make_criteo, write_criteo
        >>> path = Path(tempfile.mkdtemp()) / "criteo_sample.txt"
        >>> write_criteo(make_criteo(200).frame, path)
        >>> read_criteo(path).shape
        (200, 40)
    """
    first = _first_line(path)
    dtypes = _text_dtypes(CRITEO_SPARSE_FEATURES)
    if first.split(",")[0].split("\t")[0] == "label":
        sep = "\t" if "\t" in first else ","
        frame = pd.read_csv(path, sep=sep, dtype=dtypes)
    else:
        frame = pd.read_csv(path, sep="\t", header=None, names=list(CRITEO_COLUMNS), dtype=dtypes)
    _check_columns(frame, CRITEO_COLUMNS, path)
    return frame


def write_criteo(frame: pd.DataFrame, path: PathLike, *, raw: bool = False) -> None:
    """Write Criteo rows as `criteo_sample.txt` is written (comma separated,
    header, empty fields for missing values), or with `raw=True` as the
    original tab-separated logs without header. `read_criteo` reads both."""
    _check_columns(frame, CRITEO_COLUMNS, path)
    frame = frame.loc[:, list(CRITEO_COLUMNS)]
    if raw:
        frame.to_csv(path, sep="\t", header=False, index=False)
    else:
        frame.to_csv(path, index=False)


def read_avazu(path: PathLike) -> pd.DataFrame:
    """Read Avazu rows (`avazu_sample.txt`, or the competition's `train`
    file): `id` as uint64, the hashed columns as text, the rest int64."""
    frame = pd.read_csv(path, dtype={"id": np.uint64, **_text_dtypes(AVAZU_STRING_COLUMNS)})
    _check_columns(frame, [c for c in AVAZU_COLUMNS if c != "click"], path)
    return frame


def write_avazu(frame: pd.DataFrame, path: PathLike) -> None:
    """Write Avazu rows in the sample's format (comma separated, header)."""
    _check_columns(frame, AVAZU_COLUMNS, path)
    frame.loc[:, list(AVAZU_COLUMNS)].to_csv(path, index=False)


def read_movielens(path: PathLike) -> pd.DataFrame:
    """Read `movielens_sample.txt` rows: `user_id, movie_id, rating, timestamp,
    title, genres, gender, age, occupation, zip`. `genres` stays a
    '|'-separated string; `zip` stays text (it has leading zeros and
    `12345-6789` forms)."""
    frame = pd.read_csv(path, dtype=_text_dtypes(MOVIELENS_STRING_COLUMNS))
    _check_columns(frame, MOVIELENS_COLUMNS, path)
    return frame


def write_movielens(frame: pd.DataFrame, path: PathLike) -> None:
    """Write MovieLens rows in the sample's format (comma separated, header,
    titles with commas quoted)."""
    _check_columns(frame, MOVIELENS_COLUMNS, path)
    frame.loc[:, list(MOVIELENS_COLUMNS)].to_csv(path, index=False)


def read_census(path: PathLike, *, add_labels: bool = True) -> pd.DataFrame:
    """Read census-income rows (`census-income.sample`, no header).

    The columns get the names of DeepCTR's MMOE example; the leading record
    id becomes the index (as `pd.read_csv(..., names=...)` makes it there).
    The blank after each comma is dropped, so values read `Private`,
    `Never married`, `- 50000.`; `?` is kept as the data's own "unknown".
    With `add_labels`, the two binary targets of the example are added:
    `label_income` (income over 50k) and `label_marital` (never married).
    """
    fields = len(_first_line(path).split(","))
    if fields != len(CENSUS_COLUMNS) + 1:
        raise ValueError(
            f"{path}: expected a record id and {len(CENSUS_COLUMNS)} fields per line, got {fields} fields"
        )
    frame = pd.read_csv(
        path,
        header=None,
        names=list(CENSUS_COLUMNS),
        skipinitialspace=True,
        dtype=_text_dtypes(CENSUS_STRING_COLUMNS),
    )
    if add_labels:
        frame = census_labels(frame)
    return frame


def census_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with `label_income` and `label_marital` (0/1 int64)
    derived from `income_50k` and `marital_stat`."""
    out = frame.copy()
    out["label_income"] = (out["income_50k"].str.strip() == CENSUS_HIGH_INCOME).astype(np.int64)
    out["label_marital"] = (out["marital_stat"].str.strip() == CENSUS_NEVER_MARRIED).astype(np.int64)
    return out


def write_census(frame: pd.DataFrame, path: PathLike) -> None:
    """Write census rows as `census-income.sample` is written: no header, the
    index as leading record id, a blank before each text value. Label columns
    other than `income_50k` and `marital_stat` are not written."""
    _check_columns(frame, CENSUS_COLUMNS, path)
    out = frame.loc[:, list(CENSUS_COLUMNS)].copy()
    for column in CENSUS_STRING_COLUMNS:
        # The survey writes its own "NA" category, which pandas reads as missing.
        out[column] = " " + out[column].astype(object).fillna("NA").astype(str)
    out.to_csv(path, header=False, index=True, quoting=csv.QUOTE_NONE, escapechar="\\")


def read_vocabulary(path: PathLike) -> dict[str, int]:
    """Read a DeepCTR vocabulary file (`movielens_age_vocabulary.csv`): one
    `value,key` line per entry, the id first. Returns `{key: id}` with the
    keys as strings, the way a string lookup table sees them. Id 0 is left
    for keys not in the file."""
    vocabulary: dict[str, int] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row:
                continue
            if len(row) != 2:
                raise ValueError(f"{path}:{number}: expected 'value,key', got {row!r}")
            value, key = row[0].strip(), row[1].strip()
            try:
                index = int(value)
            except ValueError:
                raise ValueError(f"{path}:{number}: the value {value!r} is not an integer") from None
            if index < 1:
                raise ValueError(f"{path}:{number}: ids start at 1 (0 is for unknown keys), got {index}")
            if key in vocabulary:
                raise ValueError(f"{path}:{number}: key {key!r} appears twice")
            vocabulary[key] = index
    return vocabulary


def write_vocabulary(vocabulary: Mapping[object, int], path: PathLike) -> None:
    """Write `{key: id}` as `id,key` lines, the format `read_vocabulary` and
    `SparseFeat(vocabulary_path=...)` read."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        for key, index in sorted(vocabulary.items(), key=lambda item: item[1]):
            writer.writerow([int(index), key])


def read_tfrecords(path: PathLike) -> pd.DataFrame:
    """Read a file of `tf.train.Example`s with one value per feature (as
    `criteo_sample.tr.tfrecords`) into a frame: int64 features as int64
    columns, floats as float32, bytes as text. Columns are sorted by name
    as the records do not keep an order."""
    import tensorflow as tf

    columns: dict[str, list] = {}
    kinds: dict[str, str] = {}
    for number, record in enumerate(tf.data.TFRecordDataset(str(path)).as_numpy_iterator()):
        example = tf.train.Example.FromString(record)
        features = example.features.feature
        if number == 0:
            columns = {name: [] for name in sorted(features)}
        elif set(features) != set(columns):
            raise ValueError(f"{path}: record {number} has different features")
        for name, feature in features.items():
            kind = feature.WhichOneof("kind")
            values = getattr(feature, kind).value
            if len(values) != 1:
                raise ValueError(f"{path}: feature {name!r} of record {number} has {len(values)} values")
            kinds[name] = kind
            columns[name].append(values[0])
    frame = {}
    for name, values in columns.items():
        if kinds[name] == "int64_list":
            frame[name] = np.asarray(values, dtype=np.int64)
        elif kinds[name] == "float_list":
            frame[name] = np.asarray(values, dtype=np.float32)
        else:
            frame[name] = pd.Series([v.decode() for v in values], dtype=STRING_DTYPE)
    return pd.DataFrame(frame)


def write_tfrecords(frame: pd.DataFrame, path: PathLike) -> None:
    """Write each row as a `tf.train.Example` with one value per column:
    integer columns as int64, float columns as float, text as bytes (the
    layout of `criteo_sample.tr.tfrecords`, read by `tf.io.parse_example`
    with `FixedLenFeature(shape=1)`). Missing values are refused."""
    import tensorflow as tf

    builders = []
    for name in frame.columns:
        column = frame[name]
        if column.isna().any():
            raise ValueError(f"column {name!r} has missing values; fill them before writing TFRecords")
        kind = column.dtype.kind
        if kind in "iub":
            builders.append((name, column.to_numpy(np.int64), lambda v: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v)]))))
        elif kind == "f":
            builders.append((name, column.to_numpy(np.float64), lambda v: tf.train.Feature(float_list=tf.train.FloatList(value=[float(v)]))))
        else:
            values = column.astype(str).to_numpy(object)
            builders.append((name, values, lambda v: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode()]))))
    with tf.io.TFRecordWriter(str(path)) as writer:
        for row in range(len(frame)):
            feature = {name: make(values[row]) for name, values, make in builders}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
