"""Feature columns: how each raw input enters a model.

`SparseFeat`, `DenseFeat` and `VarLenSparseFeat` keep DeepCTR's signatures,
so DeepCTR code migrates by changing its import.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterable, Sequence

import keras

from .layers.utils import Linear, concat_func

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


def get_feature_names(feature_columns: Iterable[FeatureColumn]) -> list[str]:
    """Names of every model input the columns need, in input order."""
    return list(build_input_features(feature_columns).keys())


def build_input_features(feature_columns: Iterable[FeatureColumn], prefix: str = "") -> OrderedDict:
    """One `keras.Input` per feature (and per length/weight input), by name."""
    input_features: OrderedDict = OrderedDict()
    for fc in feature_columns:
        if fc.name in input_features:
            continue
        if isinstance(fc, SparseFeat):
            input_features[fc.name] = keras.Input(shape=(1,), name=prefix + fc.name, dtype=fc.dtype)
        elif isinstance(fc, DenseFeat):
            input_features[fc.name] = keras.Input(shape=(fc.dimension,), name=prefix + fc.name, dtype=fc.dtype)
        elif isinstance(fc, VarLenSparseFeat):
            input_features[fc.name] = keras.Input(shape=(fc.maxlen,), name=prefix + fc.name, dtype=fc.dtype)
            if fc.weight_name is not None:
                input_features[fc.weight_name] = keras.Input(
                    shape=(fc.maxlen, 1), name=prefix + fc.weight_name, dtype="float32"
                )
            if fc.length_name is not None:
                input_features[fc.length_name] = keras.Input(shape=(1,), name=prefix + fc.length_name, dtype="int32")
        else:
            raise TypeError(f"Invalid feature column type, got {type(fc).__name__}: {fc!r}")
    return input_features


def _split(feature_columns: Sequence[FeatureColumn]):
    sparse = [fc for fc in feature_columns if isinstance(fc, SparseFeat)]
    dense = [fc for fc in feature_columns if isinstance(fc, DenseFeat)]
    varlen = [fc for fc in feature_columns if isinstance(fc, VarLenSparseFeat)]
    return sparse, dense, varlen


def get_linear_logit(
    features: dict,
    feature_columns: Sequence[FeatureColumn],
    units: int = 1,
    use_bias: bool = False,
    seed: int = 1024,
    prefix: str = "linear",
    l2_reg: float = 0.0,
    sparse_feat_refine_weight=None,
):
    """The logit of the linear part: a 1-d embedding per sparse feature, a
    kernel over the dense values. Returns a `(batch, units)` tensor, or None
    when there are no linear feature columns."""
    linear_columns = []
    for fc in feature_columns:
        if isinstance(fc, SparseFeat):
            fc = fc._replace(
                embedding_dim=1, embeddings_initializer=keras.initializers.Zeros()
            )
        elif isinstance(fc, VarLenSparseFeat):
            fc = fc._replace(
                sparsefeat=fc.sparsefeat._replace(
                    embedding_dim=1, embeddings_initializer=keras.initializers.Zeros()
                )
            )
        linear_columns.append(fc)

    logits = []
    for i in range(units):
        sparse_list, dense_list = input_from_feature_columns(
            features, linear_columns, l2_reg, seed, prefix=f"{prefix}{i}"
        )
        sparse_input = concat_func(sparse_list, axis=-1) if sparse_list else None
        if sparse_input is not None and sparse_feat_refine_weight is not None:
            sparse_input = keras.ops.multiply(
                sparse_input, keras.ops.expand_dims(sparse_feat_refine_weight, axis=1)
            )
        dense_input = concat_func(dense_list) if dense_list else None
        if sparse_input is not None and dense_input is not None:
            logit = Linear(l2_reg, mode=2, use_bias=use_bias, seed=seed)([sparse_input, dense_input])
        elif sparse_input is not None:
            logit = Linear(l2_reg, mode=0, use_bias=use_bias, seed=seed)(sparse_input)
        elif dense_input is not None:
            logit = Linear(l2_reg, mode=1, use_bias=use_bias, seed=seed)(dense_input)
        else:
            return None
        logits.append(logit)
    return concat_func(logits)


def input_from_feature_columns(
    features: dict,
    feature_columns: Sequence[FeatureColumn],
    l2_reg: float,
    seed: int,
    prefix: str = "",
    seq_mask_zero: bool = True,
    support_dense: bool = True,
    support_group: bool = False,
):
    """Embed the sparse and varlen features and collect the dense values.

    Returns `(sparse_embedding_list, dense_value_list)`, each embedding of
    shape `(batch, 1, dim)`; with `support_group=True` the first item is a
    dict `group_name -> list of embeddings`.
    """
    from .inputs import (
        create_embedding_matrix,
        embedding_lookup,
        get_dense_input,
        get_varlen_pooling_list,
        mergeDict,
        varlen_embedding_lookup,
    )

    sparse_columns, dense_columns, varlen_columns = _split(feature_columns)
    if dense_columns and not support_dense:
        raise ValueError("DenseFeat is not supported in dnn_feature_columns of this model")
    embedding_matrix_dict = create_embedding_matrix(
        feature_columns, l2_reg, seed, prefix=prefix, seq_mask_zero=seq_mask_zero
    )
    group_sparse_embedding_dict = embedding_lookup(embedding_matrix_dict, features, sparse_columns)
    dense_value_list = get_dense_input(features, dense_columns)
    sequence_embed_dict = varlen_embedding_lookup(embedding_matrix_dict, features, varlen_columns)
    group_varlen_sparse_embedding_dict = get_varlen_pooling_list(
        sequence_embed_dict, features, varlen_columns
    )
    group_embedding_dict = mergeDict(group_sparse_embedding_dict, group_varlen_sparse_embedding_dict)
    if support_group:
        return group_embedding_dict, dense_value_list
    return [emb for group in group_embedding_dict.values() for emb in group], dense_value_list
