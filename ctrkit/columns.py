"""The feature column types: `SparseFeat`, `VarLenSparseFeat`, `DenseFeat`.

They keep DeepCTR's signatures; `ctrkit.feature_column` re-exports them with
the helpers that turn them into model inputs, which is where DeepCTR code
imports them from. This module imports nothing else of ctrkit, so the
embedding code in `ctrkit.inputs` and `ctrkit.feature_column` can both use it.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable

import keras

DEFAULT_GROUP_NAME = "default_group"

_INTEGER_DTYPES = ("int32", "int64")
_SPARSE_DTYPES = _INTEGER_DTYPES + ("string",)
_COMBINERS = ("sum", "mean", "max")


def _dtype_name(dtype) -> str:
    name = getattr(dtype, "name", dtype)
    name = str(name)
    return "string" if name in ("str", "string", "object") else name


class SparseFeat(
    namedtuple(
        "SparseFeat",
        [
            "name",
            "vocabulary_size",
            "embedding_dim",
            "use_hash",
            "vocabulary_path",
            "dtype",
            "embeddings_initializer",
            "embedding_name",
            "group_name",
            "trainable",
        ],
    )
):
    """A categorical feature, embedded.

    Arguments:
        name: feature name (the model input of the same name).
        vocabulary_size: number of distinct ids, or the hash space with `use_hash`.
        embedding_dim: embedding size, or `"auto"` for `6 * vocabulary_size ** 0.25`.
        use_hash: hash the raw value (string or int) into `vocabulary_size` buckets in the graph.
        vocabulary_path: a `value,key` CSV file; raw keys are looked up in the graph,
            unknown keys map to 0.
        dtype: `"int32"`, `"int64"` or `"string"`.
        embeddings_initializer: Keras initializer; default normal(0, 1e-4).
        embedding_name: name of the embedding table; features with the same one share it.
        group_name: feature group (FLEN, AFM's `fm_group`, ...).
        trainable: whether the embedding table is trained.
    """

    __slots__ = ()

    def __new__(
        cls,
        name: str,
        vocabulary_size: int,
        embedding_dim: int | str = 4,
        use_hash: bool = False,
        vocabulary_path: str | None = None,
        dtype: str = "int32",
        embeddings_initializer=None,
        embedding_name: str | None = None,
        group_name: str = DEFAULT_GROUP_NAME,
        trainable: bool = True,
    ):
        if not name or not isinstance(name, str):
            raise ValueError(f"SparseFeat name must be a non-empty string, got {name!r}")
        vocabulary_size = int(vocabulary_size)
        if vocabulary_size < 1:
            raise ValueError(f"SparseFeat {name!r}: vocabulary_size must be >= 1, got {vocabulary_size}")
        if embedding_dim == "auto":
            embedding_dim = 6 * int(pow(vocabulary_size, 0.25))
        if not isinstance(embedding_dim, int) or embedding_dim < 1:
            raise ValueError(
                f"SparseFeat {name!r}: embedding_dim must be a positive int or 'auto', got {embedding_dim!r}"
            )
        dtype = _dtype_name(dtype)
        if dtype not in _SPARSE_DTYPES:
            raise ValueError(f"SparseFeat {name!r}: dtype must be one of {_SPARSE_DTYPES}, got {dtype!r}")
        if embeddings_initializer is None:
            embeddings_initializer = keras.initializers.RandomNormal(mean=0.0, stddev=1e-4, seed=2020)
        if embedding_name is None:
            embedding_name = name
        return super().__new__(
            cls,
            name,
            vocabulary_size,
            embedding_dim,
            use_hash,
            vocabulary_path,
            dtype,
            embeddings_initializer,
            embedding_name,
            group_name,
            trainable,
        )

    def __hash__(self):
        return self.name.__hash__()


class VarLenSparseFeat(
    namedtuple("VarLenSparseFeat", ["sparsefeat", "maxlen", "combiner", "length_name", "weight_name", "weight_norm"])
):
    """A multi-valued categorical feature (a list of ids per row), pooled.

    Arguments:
        sparsefeat: the `SparseFeat` describing each element.
        maxlen: longest list; inputs are padded to it.
        combiner: `"sum"`, `"mean"` or `"max"` pooling.
        length_name: name of an int input holding each row's list length; when
            None, id 0 (or `""`/`"0"` for hashed strings) is padding.
        weight_name: name of a float input of per-element weights.
        weight_norm: softmax-normalise the weights over the valid elements.
    """

    __slots__ = ()

    def __new__(
        cls,
        sparsefeat: SparseFeat,
        maxlen: int,
        combiner: str = "mean",
        length_name: str | None = None,
        weight_name: str | None = None,
        weight_norm: bool = True,
    ):
        if not isinstance(sparsefeat, SparseFeat):
            raise ValueError(f"VarLenSparseFeat needs a SparseFeat, got {type(sparsefeat).__name__}")
        if int(maxlen) < 1:
            raise ValueError(f"VarLenSparseFeat {sparsefeat.name!r}: maxlen must be >= 1, got {maxlen}")
        if combiner not in _COMBINERS:
            raise ValueError(
                f"VarLenSparseFeat {sparsefeat.name!r}: combiner must be one of {_COMBINERS}, got {combiner!r}"
            )
        return super().__new__(cls, sparsefeat, int(maxlen), combiner, length_name, weight_name, weight_norm)

    @property
    def name(self):
        return self.sparsefeat.name

    @property
    def vocabulary_size(self):
        return self.sparsefeat.vocabulary_size

    @property
    def embedding_dim(self):
        return self.sparsefeat.embedding_dim

    @property
    def use_hash(self):
        return self.sparsefeat.use_hash

    @property
    def vocabulary_path(self):
        return self.sparsefeat.vocabulary_path

    @property
    def dtype(self):
        return self.sparsefeat.dtype

    @property
    def embeddings_initializer(self):
        return self.sparsefeat.embeddings_initializer

    @property
    def embedding_name(self):
        return self.sparsefeat.embedding_name

    @property
    def group_name(self):
        return self.sparsefeat.group_name

    @property
    def trainable(self):
        return self.sparsefeat.trainable

    def __hash__(self):
        return self.name.__hash__()


class DenseFeat(namedtuple("DenseFeat", ["name", "dimension", "dtype", "transform_fn"])):
    """A numeric feature of `dimension` values per row.

    Arguments:
        name: feature name.
        dimension: number of values per row (a dense vector when > 1).
        dtype: `"float32"` (default) or another float dtype.
        transform_fn: optional function applied to the input tensor inside the
            model (e.g. `lambda x: (x - 3.0) / 4.2`), so serving applies it too.
            It must be built from `keras.ops` to survive `.keras` save/reload;
            a Python lambda is kept by SavedModel export but not by `.keras`.
    """

    __slots__ = ()

    def __new__(cls, name: str, dimension: int = 1, dtype: str = "float32", transform_fn: Callable | None = None):
        if not name or not isinstance(name, str):
            raise ValueError(f"DenseFeat name must be a non-empty string, got {name!r}")
        if int(dimension) < 1:
            raise ValueError(f"DenseFeat {name!r}: dimension must be >= 1, got {dimension}")
        return super().__new__(cls, name, int(dimension), _dtype_name(dtype), transform_fn)

    def __hash__(self):
        return self.name.__hash__()


FeatureColumn = SparseFeat | DenseFeat | VarLenSparseFeat
