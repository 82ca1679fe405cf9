"""Feature columns: how each raw input enters a model.

`SparseFeat`, `DenseFeat` and `VarLenSparseFeat` (defined in
`ctrkit.columns`) keep DeepCTR's signatures, so DeepCTR code migrates by
changing its import; the helpers here build a model's inputs, embeddings and
linear part from them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence

import keras

from .columns import DEFAULT_GROUP_NAME, DenseFeat, FeatureColumn, SparseFeat, VarLenSparseFeat
from .inputs import (
    create_embedding_matrix,
    embedding_lookup,
    get_dense_input,
    get_varlen_pooling_list,
    mergeDict,
    varlen_embedding_lookup,
)
from .layers.utils import Linear, concat_func

__all__ = [
    "DEFAULT_GROUP_NAME",
    "DenseFeat",
    "FeatureColumn",
    "SparseFeat",
    "VarLenSparseFeat",
    "build_input_features",
    "get_feature_names",
    "get_linear_logit",
    "input_from_feature_columns",
]


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
            weight = keras.layers.Reshape((1, -1))(sparse_feat_refine_weight)
            sparse_input = keras.layers.Multiply()([sparse_input, weight])
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
