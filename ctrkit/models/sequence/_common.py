"""Column bookkeeping shared by the behaviour-sequence models."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ...feature_column import DenseFeat, SparseFeat, VarLenSparseFeat
from ...inputs import embedding_lookup, get_varlen_pooling_list, varlen_embedding_lookup
from ...layers.dnn import DNN
from ...layers.utils import combined_dnn_input
from ..base import binary_or_regression_model, dense_logit


def split_columns(dnn_feature_columns: Sequence) -> tuple[list, list, list]:
    """`(sparse, dense, varlen)` columns, in their given order."""
    columns = list(dnn_feature_columns or [])
    if not columns:
        raise ValueError("dnn_feature_columns must not be empty")
    sparse = [fc for fc in columns if isinstance(fc, SparseFeat)]
    dense = [fc for fc in columns if isinstance(fc, DenseFeat)]
    varlen = [fc for fc in columns if isinstance(fc, VarLenSparseFeat)]
    return sparse, dense, varlen


def check_feature_list(name: str, values: Sequence[str]) -> list[str]:
    """A non-empty list of feature names (`history_feature_list`, `sess_feature_list`)."""
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise ValueError(f"{name} must be a non-empty list of feature names, got {values!r}")
    if not all(isinstance(v, str) for v in values):
        raise ValueError(f"{name} must contain feature names (str), got {values!r}")
    return list(values)


def pick(columns: Sequence, names: Sequence[str], what: str, argument: str) -> list:
    """The columns called `names`, in the order of `names`."""
    by_name = {fc.name: fc for fc in columns}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ValueError(
            f"{argument}: no {what} named {missing} in dnn_feature_columns "
            f"(found {sorted(by_name)})"
        )
    return [by_name[n] for n in names]


def check_pairs(queries: Sequence, keys: Sequence, argument: str) -> None:
    """Each behaviour column must embed like its candidate column."""
    for q, k in zip(queries, keys):
        if q.embedding_dim != k.embedding_dim:
            raise ValueError(
                f"{argument}: {k.name!r} has embedding_dim {k.embedding_dim} but {q.name!r} has "
                f"{q.embedding_dim}; they must match (and usually share embedding_name)"
            )


def history_columns(
    varlen: Sequence[VarLenSparseFeat], history_feature_list: Sequence[str], prefix: str
) -> tuple[list, list]:
    """`(behaviour columns named prefix + feature, the other varlen columns)`."""
    names = [prefix + f for f in history_feature_list]
    picked = pick(varlen, names, "VarLenSparseFeat", "history_feature_list")
    others = [fc for fc in varlen if fc.name not in names]
    return picked, others


def sequence_length_name(columns: Sequence[VarLenSparseFeat], model: str) -> str | None:
    """The one `length_name` the behaviour columns share (None when none has one)."""
    names = {fc.length_name for fc in columns}
    if len(names) > 1:
        raise ValueError(
            f"{model}: the behaviour columns must share one length_name, got "
            f"{ {fc.name: fc.length_name for fc in columns} }"
        )
    return names.pop()


def padded_lookup(embedding_dict: dict, features: dict, columns: Sequence) -> list:
    """Embeddings of `columns` in their order; hashed values keep padding
    (`""`, `"0"`) at id 0, so a candidate and its behaviours hash alike."""
    names = [fc.name for fc in columns]
    return embedding_lookup(embedding_dict, features, columns, mask_feat_list=names, to_list=True)


def context_embeddings(
    embedding_dict: dict, features: dict, sparse: Sequence, other_varlen: Sequence, behaviour_features: Sequence[str]
) -> list:
    """The DNN's embeddings: every sparse column (candidate features hashed
    as in `padded_lookup`) and every other varlen column pooled by its combiner."""
    embeddings = embedding_lookup(embedding_dict, features, sparse, mask_feat_list=behaviour_features, to_list=True)
    sequences = varlen_embedding_lookup(embedding_dict, features, other_varlen)
    return embeddings + get_varlen_pooling_list(sequences, features, other_varlen, to_list=True)


def dnn_head(
    features: dict,
    deep_input,
    dense_value_list: Sequence,
    dnn_hidden_units: Sequence[int],
    dnn_activation,
    l2_reg_dnn: float,
    dnn_dropout: float,
    dnn_use_bn: bool,
    seed: int,
    task: str,
    name: str,
) -> keras.Model:
    """Flattened embeddings and dense values -> DNN -> logit -> prediction."""
    dnn_input = combined_dnn_input([keras.layers.Flatten()(deep_input)], dense_value_list)
    output = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn, seed=seed)(dnn_input)
    return binary_or_regression_model(features, [dense_logit(output, seed)], task, name)
