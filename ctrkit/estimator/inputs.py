"""DeepCTR's estimator input functions, returning `tf.data` pipelines.

Both return an input function `input_fn(input_context=None)` that builds a
`tf.data.Dataset` of `(features, label)` batches (features only without a
label). The estimators call it with the `tf.distribute.InputContext` of each
worker when training on several; the rows are then sharded by worker and, as
with `tf.estimator`, `batch_size` is each worker's batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np


def _tf():
    import tensorflow as tf

    return tf


def input_fn_pandas(
    df,
    features: Sequence[str],
    label: str | None = None,
    batch_size: int = 256,
    num_epochs: int = 1,
    shuffle: bool = False,
    queue_capacity_factor: int = 10,
    num_threads: int = 1,
) -> Callable:
    """An input function over DataFrame columns.

    Arguments:
        df: the `pandas.DataFrame`.
        features: the feature column names.
        label: the label column, or None (for `predict`).
        batch_size: rows per batch.
        num_epochs: passes over the rows; None repeats forever.
        shuffle: visit the rows in a new random order each pass.
        queue_capacity_factor: this many batches (DeepCTR's queue of
            `batch_size * queue_capacity_factor` rows) are prefetched; the
            shuffle always permutes all rows.
        num_threads: accepted for compatibility (batches are cut in NumPy).

    Returns:
        `input_fn(input_context=None)` returning a `tf.data.Dataset`. String
        (object) columns become string tensors with missing values as `""`;
        other columns keep their numeric dtype.
    """
    from ..data.pipelines import array_dataset

    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    missing = [c for c in list(features) + ([label] if label is not None else []) if c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in the DataFrame")
    columns = {name: _column_array(df[name]) for name in features}
    labels = None if label is None else df[label].to_numpy(dtype=np.float32)
    prefetch = max(1, int(queue_capacity_factor))

    def input_fn(input_context=None):
        shards = {}
        if input_context is not None and input_context.num_input_pipelines > 1:
            shards = {"num_shards": input_context.num_input_pipelines, "index": input_context.input_pipeline_id}
        return array_dataset(
            columns, labels, batch_size=batch_size, num_epochs=num_epochs, shuffle=shuffle, prefetch=prefetch, **shards
        )

    return input_fn


def _column_array(series) -> np.ndarray:
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy()
    return series.astype(object).where(series.notna(), "").astype(str).to_numpy(dtype=object)


def input_fn_tfrecord(
    filenames,
    feature_description: Mapping,
    label: str | None = None,
    batch_size: int = 256,
    num_epochs: int = 1,
    num_parallel_calls: int = 8,
    shuffle_factor: int = 10,
    prefetch_factor: int = 1,
) -> Callable:
    """An input function over TFRecord files of `tf.train.Example`s.

    Arguments:
        filenames: a file name, a glob, or a list of them.
        feature_description: `{name: tf.io.FixedLenFeature | VarLenFeature | ...}`
            as for `tf.io.parse_example`, the label included.
        label: the label's name in `feature_description`, or None.
        batch_size: rows per batch.
        num_epochs: passes over the records; None repeats forever.
        num_parallel_calls: parallel parsing calls.
        shuffle_factor: shuffle in a buffer of `batch_size * shuffle_factor`
            records (0: no shuffle).
        prefetch_factor: prefetch `prefetch_factor` batches (0: none).

    Returns:
        `input_fn(input_context=None)` returning a `tf.data.Dataset` of
        `(features, label)`, each tensor as parsed (`(batch, 1)` for
        `FixedLenFeature(shape=1)`).
    """
    from ..data.pipelines import list_files

    tf = _tf()
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if label is not None and label not in feature_description:
        raise ValueError(f"label {label!r} is not in feature_description")
    description = dict(feature_description)

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, description)
        if label is None:
            return parsed
        y = parsed.pop(label)
        return parsed, y

    def input_fn(input_context=None):
        ds = tf.data.TFRecordDataset(list_files(filenames))
        if input_context is not None and input_context.num_input_pipelines > 1:
            ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        if shuffle_factor > 0:
            ds = ds.shuffle(int(batch_size) * int(shuffle_factor), reshuffle_each_iteration=True)
        if num_epochs != 1:
            ds = ds.repeat(num_epochs)
        ds = ds.batch(int(batch_size)).map(parse, num_parallel_calls=int(num_parallel_calls) or None)
        if prefetch_factor > 0:
            ds = ds.prefetch(int(prefetch_factor))
        return ds

    return input_fn
