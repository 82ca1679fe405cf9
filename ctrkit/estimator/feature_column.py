"""`tf.feature_column`-style constructors that build ctrkit feature columns.

`tf.feature_column` is deprecated (and gone from some TensorFlow builds).
These functions keep its signatures for the four columns DeepCTR's estimator
examples use and return ctrkit's `SparseFeat`/`DenseFeat`, so an example
migrates by replacing `tf.feature_column.` with this module:

    from ctrkit.estimator import feature_column as fc
    fc.embedding_column(fc.categorical_column_with_identity("C1", 1000), 4)

The estimators also accept `tf.feature_column` objects where TensorFlow
still has them, and ctrkit's own columns; `to_ctrkit_columns` converts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import keras

from ..feature_column import DenseFeat, SparseFeat, VarLenSparseFeat


def _dtype_name(dtype) -> str:
    name = getattr(dtype, "name", dtype)
    return "string" if name in ("string", "str", str) else str(name)


def _default_initializer(dimension: int, seed: int | None = None):
    """`tf.feature_column.embedding_column`'s default: truncated normal with
    standard deviation 1/sqrt(dimension)."""
    return keras.initializers.TruncatedNormal(mean=0.0, stddev=1.0 / math.sqrt(dimension), seed=seed)


def numeric_column(
    key: str,
    shape: Sequence[int] | int = (1,),
    default_value=None,
    dtype="float32",
    normalizer_fn: Callable | None = None,
) -> DenseFeat:
    """A dense feature of `prod(shape)` values; `normalizer_fn` runs inside
    the model (as `DenseFeat.transform_fn`). `default_value` is accepted for
    compatibility: ctrkit pipelines fill missing numbers with 0."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if not shape or any(int(s) < 1 for s in shape):
        raise ValueError(f"numeric_column {key!r}: shape must hold positive sizes, got {shape!r}")
    if not _dtype_name(dtype).startswith("float"):
        raise ValueError(f"numeric_column {key!r}: dtype must be a float type, got {dtype!r}")
    return DenseFeat(key, math.prod(int(s) for s in shape), "float32", normalizer_fn)


def categorical_column_with_identity(key: str, num_buckets: int, default_value: int | None = None) -> SparseFeat:
    """Integer ids in `[0, num_buckets)` used as they are (int64 input).
    `default_value` (a replacement for out-of-range ids) is not supported:
    pass None and keep ids in range."""
    if default_value is not None:
        raise ValueError(
            f"categorical_column_with_identity {key!r}: default_value is not supported; keep ids in [0, num_buckets)"
        )
    return SparseFeat(key, int(num_buckets), dtype="int64")


def categorical_column_with_hash_bucket(key: str, hash_bucket_size: int, dtype="string") -> SparseFeat:
    """Values (strings, or integers hashed as their decimal text) hashed into
    `hash_bucket_size` buckets inside the model."""
    dtype = _dtype_name(dtype)
    if dtype not in ("string", "int32", "int64"):
        raise ValueError(f"categorical_column_with_hash_bucket {key!r}: dtype must be string or integer, got {dtype!r}")
    return SparseFeat(key, int(hash_bucket_size), use_hash=True, dtype=dtype)


def embedding_column(
    categorical_column: SparseFeat,
    dimension: int,
    combiner: str = "mean",
    initializer=None,
    ckpt_to_load_from: str | None = None,
    tensor_name_in_ckpt: str | None = None,
    max_norm: float | None = None,
    trainable: bool = True,
    use_safe_embedding_lookup: bool = True,
) -> SparseFeat | VarLenSparseFeat:
    """The categorical column embedded in `dimension` values. `initializer`
    is a Keras initializer (default: truncated normal, stddev
    1/sqrt(dimension), as TensorFlow's). `combiner` pools a varlen column.
    Warm starting from a checkpoint and `max_norm` are not supported."""
    if ckpt_to_load_from is not None or tensor_name_in_ckpt is not None:
        raise ValueError("embedding_column: ckpt_to_load_from/tensor_name_in_ckpt are not supported")
    if max_norm is not None:
        raise ValueError("embedding_column: max_norm is not supported")
    dimension = int(dimension)
    if dimension < 1:
        raise ValueError(f"embedding_column: dimension must be >= 1, got {dimension}")
    initializer = initializer if initializer is not None else _default_initializer(dimension)
    if isinstance(categorical_column, VarLenSparseFeat):
        sparse = categorical_column.sparsefeat._replace(
            embedding_dim=dimension, embeddings_initializer=initializer, trainable=trainable
        )
        return categorical_column._replace(sparsefeat=sparse, combiner=combiner)
    if not isinstance(categorical_column, SparseFeat):
        raise TypeError(f"embedding_column needs a categorical column, got {categorical_column!r}")
    return categorical_column._replace(embedding_dim=dimension, embeddings_initializer=initializer, trainable=trainable)


def _keras_initializer(initializer, dimension: int):
    """A Keras initializer for a `tf.feature_column` initializer object."""
    if initializer is None or isinstance(initializer, keras.initializers.Initializer):
        return initializer or _default_initializer(dimension)
    kind = type(initializer).__name__
    mean = float(getattr(initializer, "mean", 0.0))
    stddev = getattr(initializer, "stddev", None)
    if stddev is None:
        return _default_initializer(dimension)
    seed = getattr(initializer, "seed", None)
    if "Truncated" in kind:
        return keras.initializers.TruncatedNormal(mean=mean, stddev=float(stddev), seed=seed)
    return keras.initializers.RandomNormal(mean=mean, stddev=float(stddev), seed=seed)


def _from_tf_column(column):
    kind = type(column).__name__
    if kind == "NumericColumn":
        return numeric_column(column.key, column.shape, column.default_value, column.dtype, column.normalizer_fn)
    if kind == "IdentityCategoricalColumn":
        return categorical_column_with_identity(column.key, column.number_buckets, column.default_value)
    if kind == "HashedCategoricalColumn":
        return categorical_column_with_hash_bucket(column.key, column.hash_bucket_size, column.dtype)
    if kind == "EmbeddingColumn":
        if column.ckpt_to_load_from is not None or column.max_norm is not None:
            raise ValueError(f"embedding_column of {column.categorical_column.key!r}: warm start and max_norm are not supported")
        return embedding_column(
            _from_tf_column(column.categorical_column),
            column.dimension,
            column.combiner,
            _keras_initializer(column.initializer, column.dimension),
            trainable=column.trainable,
        )
    raise TypeError(
        f"unsupported feature column {kind}: use numeric_column, categorical_column_with_identity, "
        "categorical_column_with_hash_bucket, embedding_column or ctrkit's SparseFeat/DenseFeat/VarLenSparseFeat"
    )


def to_ctrkit_columns(columns: Iterable) -> list:
    """ctrkit columns for a list mixing ctrkit columns and `tf.feature_column` objects."""
    out = []
    for column in columns:
        if isinstance(column, (SparseFeat, DenseFeat, VarLenSparseFeat)):
            out.append(column)
        else:
            out.append(_from_tf_column(column))
    return out
