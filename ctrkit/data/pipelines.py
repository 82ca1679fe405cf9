"""Streaming `tf.data` input pipelines from CSV, Parquet and TFRecord files.

Each pipeline reads files matching a glob (or a list of globs), line by line,
record by record or row group by row group, so no file is ever held in
memory whole (`array_dataset` batches arrays already in memory). It yields
`(features, label)` batches whose features match a list of ctrkit feature
columns, ready for a ctrkit model, `ctrkit.estimator` or `ctrkit train`:

* sparse features: `(batch,)` strings or integers (the column's dtype);
* dense features: `(batch,)` float32, or `(batch, dimension)` when wider;
* varlen features: `(batch, maxlen)`, split on a separator when stored as
  text, truncated to `maxlen` and padded with `""` or 0; a `length_name`
  input is the number of kept elements, a `weight_name` input is read like a
  varlen float column and padded with 0;
* the label: `(batch,)` float32 (a tuple of them for several labels).

Missing values are filled as `ctrkit.data.frame_inputs.model_input` fills them:
`""` for strings, 0 for ids and numbers.

Sharding: pass the `tf.distribute.InputContext` that
`strategy.distribute_datasets_from_function` hands to its function (the
pipeline takes `input_pipeline_id` of `num_input_pipelines` and treats
`batch_size` as the global batch size), or `num_shards`/`index` yourself.
Files are dealt out to shards when there are at least as many files as
shards; otherwise every shard reads all files and keeps every n-th row
(Parquet deals out row groups). Shards never overlap.

Example:
    >>> from ctrkit.feature_column import SparseFeat, DenseFeat
    >>> columns = [SparseFeat("C1", 1000, use_hash=True, dtype="string"), DenseFeat("I1")]
    >>> ds = csv_dataset("train-*.csv", columns, label="label", batch_size=1024,
    ...                  shuffle_buffer=100_000)                  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..feature_column import DenseFeat, SparseFeat, VarLenSparseFeat
from .frame_inputs import model_input

FORMATS = ("csv", "parquet", "tfrecord")
DEFAULT_SEPARATOR = "|"


def _tf():
    import tensorflow as tf

    return tf


@dataclass(frozen=True)
class Field:
    """One tensor a pipeline produces.

    `kind` is sparse, dense, varlen, length, weight or label; `width` is 1 for
    scalars, the dimension of a wide dense feature, or `maxlen`; `source` is
    the varlen feature a length input counts.
    """

    name: str
    kind: str
    dtype: str
    width: int = 1
    separator: str = DEFAULT_SEPARATOR
    source: str | None = None

    @property
    def is_list(self) -> bool:
        return self.kind in ("varlen", "weight") or (self.kind == "dense" and self.width > 1)

    @property
    def pad(self):
        return "" if self.dtype == "string" else 0


def input_fields(
    feature_columns: Sequence,
    label: str | Sequence[str] | None = "label",
    separators: Mapping[str, str] | None = None,
) -> list[Field]:
    """The tensors a pipeline yields for these columns, labels last."""
    separators = dict(separators or {})
    fields: dict[str, Field] = {}

    def add(field: Field) -> None:
        fields.setdefault(field.name, field)

    for fc in feature_columns:
        if isinstance(fc, SparseFeat):
            add(Field(fc.name, "sparse", fc.dtype))
        elif isinstance(fc, DenseFeat):
            add(Field(fc.name, "dense", "float32", fc.dimension, separators.get(fc.name, DEFAULT_SEPARATOR)))
        elif isinstance(fc, VarLenSparseFeat):
            separator = separators.get(fc.name, DEFAULT_SEPARATOR)
            add(Field(fc.name, "varlen", fc.dtype, fc.maxlen, separator))
            if fc.weight_name is not None:
                add(Field(fc.weight_name, "weight", "float32", fc.maxlen, separators.get(fc.weight_name, separator)))
            if fc.length_name is not None:
                add(Field(fc.length_name, "length", "int32", source=fc.name))
        else:
            raise TypeError(f"not a ctrkit feature column: {fc!r}")
    for name in _label_names(label):
        if name in fields:
            raise ValueError(f"label {name!r} is also a feature")
        fields[name] = Field(name, "label", "float32")
    return list(fields.values())


def _label_names(label) -> list[str]:
    if label is None:
        return []
    return [label] if isinstance(label, str) else list(label)


def list_files(file_pattern: str | Sequence[str]) -> list[str]:
    """Files matching a glob or a list of globs, sorted, without duplicates.
    Works with every filesystem `tf.io.gfile` knows (local, gs://, ...)."""
    tf = _tf()
    patterns = [file_pattern] if isinstance(file_pattern, (str, bytes)) else list(file_pattern)
    files = sorted({f for p in patterns for f in tf.io.gfile.glob(p)})
    if not files:
        raise FileNotFoundError(f"no file matches {file_pattern!r}")
    return files


def _shard_arguments(input_context, num_shards: int | None, index: int | None, batch_size: int) -> tuple[int, int, int]:
    if input_context is not None:
        if num_shards is not None or index is not None:
            raise ValueError("pass either input_context or num_shards/index, not both")
        return (
            input_context.num_input_pipelines,
            input_context.input_pipeline_id,
            input_context.get_per_replica_batch_size(batch_size),
        )
    if (num_shards is None) != (index is None):
        raise ValueError("num_shards and index go together")
    num_shards = 1 if num_shards is None else int(num_shards)
    index = 0 if index is None else int(index)
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    if not 0 <= index < num_shards:
        raise ValueError(f"index must be in [0, {num_shards}), got {index}")
    return num_shards, index, batch_size


def _check_common(batch_size: int, num_epochs: int | None, shuffle_buffer: int) -> None:
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if num_epochs is not None and int(num_epochs) < 1:
        raise ValueError(f"num_epochs must be >= 1 or None (repeat forever), got {num_epochs}")
    if int(shuffle_buffer) < 0:
        raise ValueError(f"shuffle_buffer must be >= 0, got {shuffle_buffer}")


def _finish(ds, *, shuffle_buffer, seed, num_epochs, batch_size, drop_remainder, convert, prefetch, sharded):
    """Row stream -> shuffled, repeated, batched, converted, prefetched batches."""
    tf = _tf()
    if shuffle_buffer:
        ds = ds.shuffle(int(shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
    if num_epochs != 1:
        ds = ds.repeat(None if num_epochs is None else int(num_epochs))
    ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    ds = ds.map(convert, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle_buffer)
    return _prefetch_and_options(ds, prefetch, sharded)


def _split_features(fields: Sequence[Field], values: Mapping[str, Any]):
    tf = _tf()
    features = {f.name: values[f.name] for f in fields if f.kind != "label"}
    labels = [tf.cast(values[f.name], tf.float32) for f in fields if f.kind == "label"]
    if not labels:
        return features
    return features, labels[0] if len(labels) == 1 else tuple(labels)


def _shard_rows(num_shards: int, index: int, files: list[str], read_one: Callable, shuffle_buffer: int, seed):
    """The rows of `files`, dealt out to shards by file when there are enough
    files, by row otherwise. Without shuffling, rows come in file order; with
    it, files are read interleaved (in a random order unless sharding by
    row, which needs the same row order on every worker)."""
    tf = _tf()
    by_file = num_shards > 1 and len(files) >= num_shards
    by_row = num_shards > 1 and not by_file
    if by_file:
        files = files[index::num_shards]
    ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle_buffer and len(files) > 1:
        if not by_row:
            ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        ds = ds.interleave(
            read_one, cycle_length=min(len(files), 4), num_parallel_calls=tf.data.AUTOTUNE, deterministic=by_row
        )
    else:
        ds = ds.flat_map(read_one)
    if by_row:
        ds = ds.shard(num_shards, index)
    return ds


# --------------------------------------------------------------------------- text values


def _to_float(text, dtype):
    """Strings to numbers: empty and NaN become 0."""
    tf = _tf()
    text = tf.strings.strip(text)
    number = tf.strings.to_number(tf.where(text == "", "0", text), tf.float64)
    number = tf.where(tf.math.is_finite(number), number, tf.zeros_like(number))
    return tf.cast(number, dtype)


def _split_tokens(text, separator: str, maxlen: int):
    """A batch of separated strings -> ragged tokens, empties dropped, at most maxlen."""
    tf = _tf()
    tokens = tf.strings.split(text, sep=separator)
    tokens = tf.ragged.boolean_mask(tokens, tf.strings.length(tokens) > 0)
    return tokens[:, :maxlen]


def _text_converter(fields: Sequence[Field]) -> Callable:
    """Converts a dict of `(batch,)` string tensors to the fields' tensors."""
    tf = _tf()

    def convert(raw):
        out = {}
        ragged = {}
        for f in fields:
            if f.kind == "length":
                continue
            text = raw[f.name]
            if f.kind in ("sparse", "label") or (f.kind == "dense" and f.width == 1):
                out[f.name] = text if f.dtype == "string" else _to_float(text, tf.as_dtype(f.dtype))
                continue
            tokens = _split_tokens(text, f.separator, f.width)
            ragged[f.name] = tokens
            if f.dtype != "string":
                tokens = tf.ragged.map_flat_values(_to_float, tokens, tf.as_dtype(f.dtype))
            out[f.name] = tokens.to_tensor(default_value=f.pad, shape=[None, f.width])
        for f in fields:
            if f.kind == "length":
                out[f.name] = tf.cast(ragged[f.source].row_lengths(), tf.int32)
        return _split_features(fields, out)

    return convert


# --------------------------------------------------------------------------- CSV


def _csv_header(path: str, field_delim: str, compression_type: str | None) -> list[str]:
    import csv

    tf = _tf()
    for line in tf.data.TextLineDataset(path, compression_type=compression_type).take(1):
        return next(csv.reader([line.numpy().decode()], delimiter=field_delim))
    raise ValueError(f"{path} is empty: no header line")


def csv_dataset(
    file_pattern: str | Sequence[str],
    feature_columns: Sequence,
    label: str | Sequence[str] | None = "label",
    *,
    batch_size: int = 256,
    num_epochs: int | None = 1,
    shuffle_buffer: int = 0,
    seed: int | None = None,
    input_context=None,
    num_shards: int | None = None,
    index: int | None = None,
    separators: Mapping[str, str] | None = None,
    field_delim: str = ",",
    header: bool = True,
    column_names: Sequence[str] | None = None,
    compression_type: str | None = None,
    drop_remainder: bool = False,
    prefetch: bool | int = True,
):
    """Batches from delimited text files, one record per line.

    Lines are shuffled as whole strings and split into fields a batch at a
    time (`tf.io.decode_csv`, which understands quoted fields), so the cost
    per row stays small however many columns there are.

    Arguments:
        file_pattern: a glob or a list of globs.
        feature_columns: the ctrkit columns the model takes.
        label: the label column(s), or None for features only.
        batch_size: rows per batch (the global batch with `input_context`).
        num_epochs: passes over the data; None repeats forever.
        shuffle_buffer: rows in the shuffle buffer (0: keep file order).
        seed: shuffle seed.
        input_context, num_shards, index: sharding (see the module docstring).
        separators: element separator per varlen (or wide dense) column,
            default `"|"`.
        field_delim: the field delimiter (`"\\t"` for raw Criteo files).
        header: whether each file starts with a header line.
        column_names: the files' column names, required without a header.
        compression_type: `None`, `"GZIP"` or `"ZLIB"`.
        drop_remainder: drop a last partial batch.
        prefetch: prefetch batches (True: autotuned; an int: that many).

    Returns:
        A `tf.data.Dataset` of `(features, label)` (features only without a label).
    """
    tf = _tf()
    _check_common(batch_size, num_epochs, shuffle_buffer)
    num_shards, index, batch_size = _shard_arguments(input_context, num_shards, index, batch_size)
    files = list_files(file_pattern)
    fields = input_fields(feature_columns, label, separators)
    if column_names is None:
        if not header:
            raise ValueError("column_names is required for files without a header")
        column_names = _csv_header(files[0], field_delim, compression_type)
    column_names = list(column_names)
    read = [f for f in fields if f.kind != "length"]
    missing = [f.name for f in read if f.name not in column_names]
    if missing:
        raise ValueError(f"columns {missing} are not in the CSV files (columns: {column_names})")
    positions = sorted(column_names.index(f.name) for f in read)
    names = [column_names[i] for i in positions]
    text = _text_converter(fields)

    def read_one(path):
        lines = tf.data.TextLineDataset(path, compression_type=compression_type)
        return lines.skip(1) if header else lines

    def convert(lines):
        values = tf.io.decode_csv(
            lines, [tf.constant("", tf.string)] * len(positions), field_delim=field_delim, select_cols=positions
        )
        return text(dict(zip(names, values)))

    ds = _shard_rows(num_shards, index, files, read_one, shuffle_buffer, seed)
    ds = ds.filter(lambda line: tf.strings.length(line) > 0)
    return _finish(
        ds, shuffle_buffer=shuffle_buffer, seed=seed, num_epochs=num_epochs, batch_size=batch_size,
        drop_remainder=drop_remainder, convert=convert, prefetch=prefetch, sharded=num_shards > 1,
    )


# --------------------------------------------------------------------------- TFRecord


def tfrecord_feature_spec(fields: Sequence[Field], label_dtype: str = "float32") -> dict:
    """`tf.io.parse_example` spec for the fields: fixed-length scalars (with
    defaults for missing values) and ragged lists."""
    tf = _tf()
    spec = {}
    for f in fields:
        if f.kind == "length":
            continue
        if f.kind == "label":
            dtype = tf.as_dtype(label_dtype)
            spec[f.name] = tf.io.FixedLenFeature([], tf.float32 if dtype.is_floating else tf.int64, default_value=0)
        elif f.is_list and not (f.kind == "dense"):
            spec[f.name] = tf.io.RaggedFeature(_record_dtype(f.dtype), row_splits_dtype=tf.int64)
        elif f.kind == "dense" and f.width > 1:
            spec[f.name] = tf.io.FixedLenFeature([f.width], tf.float32, default_value=[0.0] * f.width)
        else:
            spec[f.name] = tf.io.FixedLenFeature([], _record_dtype(f.dtype), default_value=f.pad)
    return spec


def _record_dtype(dtype: str):
    tf = _tf()
    if dtype == "string":
        return tf.string
    return tf.float32 if dtype.startswith("float") else tf.int64


def tfrecord_dataset(
    file_pattern: str | Sequence[str],
    feature_columns: Sequence,
    label: str | Sequence[str] | None = "label",
    *,
    batch_size: int = 256,
    num_epochs: int | None = 1,
    shuffle_buffer: int = 0,
    seed: int | None = None,
    input_context=None,
    num_shards: int | None = None,
    index: int | None = None,
    compression_type: str | None = None,
    label_dtype: str = "float32",
    drop_remainder: bool = False,
    prefetch: bool | int = True,
):
    """Batches from files of `tf.train.Example` records.

    Each example holds one feature per input: strings as `bytes_list`,
    ids as `int64_list`, numbers as `float_list`; varlen (and weight)
    features as lists of any length (truncated to `maxlen`). A missing
    scalar takes `""` or 0. `write_tfrecord` writes such files. Records are
    parsed a batch at a time. `label_dtype` is how the label is stored
    (`float32` or `int64`); it is yielded as float32. Other arguments as in
    `csv_dataset`; `compression_type` is `""`, `"GZIP"` or `"ZLIB"`.
    """
    tf = _tf()
    _check_common(batch_size, num_epochs, shuffle_buffer)
    num_shards, index, batch_size = _shard_arguments(input_context, num_shards, index, batch_size)
    files = list_files(file_pattern)
    fields = input_fields(feature_columns, label, None)
    spec = tfrecord_feature_spec(fields, label_dtype)

    def read_one(path):
        return tf.data.TFRecordDataset(path, compression_type=compression_type)

    def convert(serialized):
        parsed = tf.io.parse_example(serialized, spec)
        out = {}
        ragged = {}
        for f in fields:
            if f.kind == "length":
                continue
            value = parsed[f.name]
            if isinstance(value, tf.RaggedTensor):
                value = ragged[f.name] = value[:, : f.width]
                value = value.to_tensor(default_value=tf.cast(f.pad, value.dtype), shape=[None, f.width])
            out[f.name] = tf.cast(value, tf.as_dtype(f.dtype))
        for f in fields:
            if f.kind == "length":
                out[f.name] = tf.cast(ragged[f.source].row_lengths(), tf.int32)
        return _split_features(fields, out)

    ds = _shard_rows(num_shards, index, files, read_one, shuffle_buffer, seed)
    return _finish(
        ds, shuffle_buffer=shuffle_buffer, seed=seed, num_epochs=num_epochs, batch_size=batch_size,
        drop_remainder=drop_remainder, convert=convert, prefetch=prefetch, sharded=num_shards > 1,
    )


def _example(row: Mapping[str, Any], fields: Sequence[Field]):
    tf = _tf()
    feature = {}
    for f in fields:
        if f.kind == "length":
            continue
        value = row[f.name]
        values = list(value) if f.is_list else [value]
        if f.dtype == "string":
            feature[f.name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(v).encode() for v in values]))
        elif f.dtype.startswith("float"):
            feature[f.name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))
        else:
            feature[f.name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def _lists_from_frame(values, f: Field) -> list[list]:
    """List cells (separated text, lists or missing) -> lists of at most
    `width` elements, empty strings dropped."""
    rows = []
    for value in values:
        if isinstance(value, str):
            value = value.split(f.separator)
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            value = []
        items = [v for v in value if not (isinstance(v, str) and v.strip() == "")]
        if f.dtype != "string":
            items = [float(v) if f.dtype.startswith("float") else int(float(v)) for v in items]
        rows.append(items[: f.width])
    return rows


def write_tfrecord(
    frame,
    path: str,
    feature_columns: Sequence,
    label: str | Sequence[str] | None = "label",
    *,
    separators: Mapping[str, str] | None = None,
    compression_type: str | None = None,
) -> int:
    """Write a DataFrame's rows as `tf.train.Example` records that
    `tfrecord_dataset` reads. Scalars are filled like
    `ctrkit.data.frame_inputs.model_input` fills them; varlen, weight and wide dense
    cells (separated text or lists) are written as unpadded lists. Returns
    the number of rows written."""
    import pandas as pd

    tf = _tf()
    fields = input_fields(feature_columns, label, separators)
    lists = {f.name for f in fields if f.is_list}
    scalar_columns = [fc for fc in feature_columns if fc.name not in lists]
    columns: dict[str, Any] = model_input(frame, scalar_columns)
    for f in fields:
        if f.kind == "label":
            columns[f.name] = pd.to_numeric(frame[f.name]).fillna(0).to_numpy("float32")
        elif f.is_list:
            columns[f.name] = _lists_from_frame(frame[f.name], f)
    options = tf.io.TFRecordOptions(compression_type=compression_type)
    with tf.io.TFRecordWriter(path, options) as writer:
        for i in range(len(frame)):
            writer.write(_example({name: values[i] for name, values in columns.items()}, fields).SerializeToString())
    return len(frame)


# --------------------------------------------------------------------------- Parquet


def _arrow_scalar(column, f: Field) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if f.dtype == "string":
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            column = pc.cast(column, pa.string())
        return np.asarray(pc.fill_null(column, "").to_numpy(zero_copy_only=False), dtype=object)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        text = pc.fill_null(column, "").to_numpy(zero_copy_only=False).astype(str)
        text = np.where(np.char.strip(text) == "", "0", text)
        values = text.astype(np.float64)
    else:
        values = pc.fill_null(pc.cast(column, pa.float64()), 0.0).to_numpy(zero_copy_only=False)
    values = np.where(np.isfinite(values), values, 0.0)
    return values.astype(f.dtype)


def _arrow_list(column, f: Field) -> tuple[np.ndarray, np.ndarray]:
    """A list (or separated text) column -> padded `(rows, width)` values and row lengths."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        column = pc.split_pattern(pc.fill_null(column, ""), f.separator)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    column = column.fill_null([]) if column.null_count else column
    offsets = column.offsets.to_numpy().astype(np.int64)
    offsets = offsets - offsets[0]
    flat = column.flatten()
    if f.dtype == "string":
        flat = pc.fill_null(pc.cast(flat, pa.string()) if not pa.types.is_string(flat.type) else flat, "")
        values = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=object)
        keep = values != ""
    else:
        if pa.types.is_string(flat.type) or pa.types.is_large_string(flat.type):
            text = pc.fill_null(flat, "").to_numpy(zero_copy_only=False).astype(str)
            keep = np.char.strip(text) != ""
            values = np.where(keep, text, "0").astype(np.float64)
        else:
            values = pc.fill_null(pc.cast(flat, pa.float64()), 0.0).to_numpy(zero_copy_only=False)
            keep = np.ones(len(values), dtype=bool)
        values = np.where(np.isfinite(values), values, 0.0).astype(f.dtype)
    kept = np.concatenate([[0], np.cumsum(keep)])
    starts = kept[offsets[:-1]]
    lengths = np.minimum(kept[offsets[1:]] - starts, f.width)
    values = values[keep]
    out = np.full((len(lengths), f.width), f.pad, dtype=object if f.dtype == "string" else f.dtype)
    positions = np.arange(f.width)
    mask = positions[None, :] < lengths[:, None]
    out[mask] = values[(starts[:, None] + positions[None, :])[mask]]
    return out, lengths.astype(np.int32)


def _arrow_batch_to_numpy(batch, fields: Sequence[Field]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    lengths: dict[str, np.ndarray] = {}
    for f in fields:
        if f.kind == "length":
            continue
        column = batch.column(batch.schema.get_field_index(f.name))
        if f.is_list:
            out[f.name], lengths[f.name] = _arrow_list(column, f)
        else:
            out[f.name] = _arrow_scalar(column, f)
    for f in fields:
        if f.kind == "length":
            out[f.name] = lengths[f.source]
    return out


def _parquet_units(files: Sequence[str]) -> list[tuple[str, int]]:
    import pyarrow.parquet as pq

    units = []
    for path in files:
        with pq.ParquetFile(path) as parquet:
            units.extend((path, g) for g in range(parquet.metadata.num_row_groups))
    return units


def parquet_dataset(
    file_pattern: str | Sequence[str],
    feature_columns: Sequence,
    label: str | Sequence[str] | None = "label",
    *,
    batch_size: int = 256,
    num_epochs: int | None = 1,
    shuffle_buffer: int = 0,
    seed: int | None = None,
    input_context=None,
    num_shards: int | None = None,
    index: int | None = None,
    separators: Mapping[str, str] | None = None,
    read_rows: int = 65_536,
    drop_remainder: bool = False,
    prefetch: bool | int = True,
):
    """Batches from Parquet files, read a row group at a time with pyarrow.

    Row groups (not files) are the unit of sharding and of the read-order
    shuffle, so a few large files still spread over many workers. At most
    `read_rows` rows of one row group are converted at once; rows are
    shuffled in NumPy within a window of `shuffle_buffer` rows and batched
    there, so TensorFlow sees whole batches. Varlen features may be stored as
    list columns or as separated text. Other arguments as in `csv_dataset`.
    """
    import pyarrow.parquet as pq

    tf = _tf()
    _check_common(batch_size, num_epochs, shuffle_buffer)
    num_shards, index, batch_size = _shard_arguments(input_context, num_shards, index, batch_size)
    fields = input_fields(feature_columns, label, separators)
    read_columns = [f.name for f in fields if f.kind != "length"]
    units = _parquet_units(list_files(file_pattern))[index::num_shards]
    rng = np.random.default_rng(seed)

    def chunks() -> Iterator[dict[str, np.ndarray]]:
        for _ in _epochs(num_epochs):
            for i in rng.permutation(len(units)) if shuffle_buffer else range(len(units)):
                path, group = units[i]
                with pq.ParquetFile(path) as parquet:
                    missing = [c for c in read_columns if c not in parquet.schema_arrow.names]
                    if missing:
                        raise ValueError(f"{path}: columns {missing} are not in the file")
                    for batch in parquet.iter_batches(batch_size=int(read_rows), row_groups=[group], columns=read_columns):
                        yield _arrow_batch_to_numpy(batch, fields)

    def batches():
        return numpy_batches(chunks(), int(batch_size), int(shuffle_buffer), rng, drop_remainder)

    signature = {f.name: tf.TensorSpec(_field_shape(f), _tensor_dtype(f)) for f in fields}
    ds = tf.data.Dataset.from_generator(batches, output_signature=signature)
    ds = ds.map(lambda values: _split_features(fields, values))
    return _prefetch_and_options(ds, prefetch, sharded=num_shards > 1)


def _epochs(num_epochs: int | None) -> Iterable[int]:
    return itertools.count() if num_epochs is None else range(int(num_epochs))


def _take(columns: Mapping[str, np.ndarray], rows) -> dict[str, np.ndarray]:
    return {name: values[rows] for name, values in columns.items()}


def numpy_batches(
    chunks: Iterable[Mapping[str, np.ndarray]],
    batch_size: int,
    shuffle_buffer: int = 0,
    rng: np.random.Generator | None = None,
    drop_remainder: bool = False,
) -> Iterator[dict[str, np.ndarray]]:
    """Batches of `batch_size` rows from a stream of column chunks (dicts of
    equally long arrays). With `shuffle_buffer`, rows are shuffled within a
    window: whenever more than `shuffle_buffer + batch_size` rows wait, they
    are permuted and all but `shuffle_buffer` of them leave as batches."""
    rng = rng if rng is not None else np.random.default_rng()
    pending: dict[str, np.ndarray] | None = None
    for chunk in chunks:
        pending = dict(chunk) if pending is None else {k: np.concatenate([pending[k], chunk[k]]) for k in chunk}
        rows = len(next(iter(pending.values())))
        if rows < shuffle_buffer + batch_size:
            continue
        if shuffle_buffer:
            pending = _take(pending, rng.permutation(rows))
        ready = (rows - shuffle_buffer) // batch_size * batch_size
        for start in range(0, ready, batch_size):
            yield _take(pending, slice(start, start + batch_size))
        pending = _take(pending, slice(ready, rows))
    if pending is None:
        return
    rows = len(next(iter(pending.values())))
    if shuffle_buffer:
        pending = _take(pending, rng.permutation(rows))
    end = rows - rows % batch_size if drop_remainder else rows
    for start in range(0, end, batch_size):
        yield _take(pending, slice(start, min(start + batch_size, end)))


def array_dataset(
    features: Mapping[str, Any],
    labels=None,
    *,
    batch_size: int = 256,
    num_epochs: int | None = 1,
    shuffle: bool = False,
    seed: int | None = None,
    input_context=None,
    num_shards: int | None = None,
    index: int | None = None,
    drop_remainder: bool = False,
    prefetch: bool | int = True,
):
    """Batches from in-memory arrays: `features` maps names to NumPy arrays
    (strings as object or unicode arrays), `labels` is an array, a list of
    arrays or None. With `shuffle`, each pass visits the rows in a new random
    order. Batches are cut in NumPy, so TensorFlow sees whole batches.
    Sharding and `batch_size` as in `csv_dataset`."""
    tf = _tf()
    _check_common(batch_size, num_epochs, 0)
    num_shards, index, batch_size = _shard_arguments(input_context, num_shards, index, batch_size)
    columns = {name: np.asarray(values) for name, values in features.items()}
    if labels is None:
        label_list = []
    elif isinstance(labels, (list, tuple)):
        label_list = list(labels)
    else:
        label_list = [labels]
    label_names = [f"__label_{i}" for i in range(len(label_list))]
    columns.update({name: np.asarray(y, dtype=np.float32) for name, y in zip(label_names, label_list)})
    sizes = {len(values) for values in columns.values()}
    if len(sizes) != 1:
        raise ValueError(f"features and labels must have the same number of rows, got {sorted(sizes)}")
    rows = np.arange(sizes.pop())[index::num_shards]
    rng = np.random.default_rng(seed)

    def chunks():
        for _ in _epochs(num_epochs):
            yield _take(columns, rng.permutation(rows) if shuffle else rows)

    def batches():
        return numpy_batches(chunks(), int(batch_size), drop_remainder=drop_remainder)

    def spec(values: np.ndarray):
        dtype = tf.string if values.dtype.kind in "OUS" else tf.as_dtype(values.dtype)
        return tf.TensorSpec([None, *values.shape[1:]], dtype)

    ds = tf.data.Dataset.from_generator(batches, output_signature={k: spec(v) for k, v in columns.items()})

    def split(values):
        x = {name: values[name] for name in features}
        if not label_names:
            return x
        ys = tuple(values[name] for name in label_names)
        return x, ys[0] if len(ys) == 1 else ys

    return _prefetch_and_options(ds.map(split), prefetch, sharded=num_shards > 1)


def _prefetch_and_options(ds, prefetch, sharded: bool):
    tf = _tf()
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE if prefetch is True else int(prefetch))
    if sharded:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        ds = ds.with_options(options)
    return ds


def _field_shape(f: Field) -> list:
    return [None, f.width] if f.is_list else [None]


def _tensor_dtype(f: Field):
    return _tf().as_dtype(f.dtype)


# --------------------------------------------------------------------------- dispatch and samples


def make_dataset(format: str, file_pattern: str | Sequence[str], feature_columns: Sequence, label="label", **kwargs):
    """`csv_dataset`, `parquet_dataset` or `tfrecord_dataset` by format name."""
    readers = {"csv": csv_dataset, "parquet": parquet_dataset, "tfrecord": tfrecord_dataset}
    if format not in readers:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    return readers[format](file_pattern, feature_columns, label, **kwargs)


def read_sample(format: str, file_pattern: str | Sequence[str], rows: int = 10_000, **kwargs):
    """The first `rows` rows of the first matching file as a DataFrame, read
    without loading the file whole: column names and statistics for feature
    columns (minmax, standardize transforms). TFRecord list features longer
    than one value come back as lists."""
    import pandas as pd

    path = list_files(file_pattern)[0]
    if format == "csv":
        return pd.read_csv(path, nrows=rows, sep=kwargs.get("field_delim", ","))
    if format == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetFile(path) as parquet:
            batch = next(parquet.iter_batches(batch_size=rows), None)
        return batch.to_pandas() if batch is not None else pd.DataFrame()
    if format == "tfrecord":
        tf = _tf()
        records = []
        for raw in tf.data.TFRecordDataset(path, compression_type=kwargs.get("compression_type")).take(rows):
            example = tf.train.Example.FromString(raw.numpy())
            row = {}
            for name, feature in example.features.feature.items():
                kind = feature.WhichOneof("kind")
                values = list(getattr(feature, kind).value) if kind else []
                if kind == "bytes_list":
                    values = [v.decode() for v in values]
                row[name] = values[0] if len(values) == 1 else values
            records.append(row)
        return pd.DataFrame.from_records(records)
    raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
