"""IFM: input-aware factorization machine.

Reference: Yu Y, Wang Z, Yuan B. An input-aware factorization machine for
sparse prediction. IJCAI 2019: 1466-1472.
https://www.ijcai.org/Proceedings/2019/0203.pdf
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ..feature_column import (
    SparseFeat,
    VarLenSparseFeat,
    build_input_features,
    get_linear_logit,
    input_from_feature_columns,
)
from ..layers.dnn import DNN
from ..layers.interaction.fm import FM
from ..layers.utils import combined_dnn_input, concat_func
from .base import binary_or_regression_model


def _sparse_names(feature_columns: Sequence) -> list[str]:
    return [fc.name for fc in feature_columns if isinstance(fc, (SparseFeat, VarLenSparseFeat))]


def check_input_aware_columns(
    model: str, linear_feature_columns: Sequence, dnn_feature_columns: Sequence, dnn_hidden_units: Sequence[int]
) -> int:
    """Check the columns of an input-aware FM (IFM, DIFM); return the number of
    sparse features, i.e. of input-aware factors."""
    if len(dnn_hidden_units) == 0:
        raise ValueError(f"{model} needs a non-empty dnn_hidden_units")
    dnn_sparse = _sparse_names(dnn_feature_columns)
    if not dnn_sparse:
        raise ValueError(f"{model} needs at least one sparse feature in dnn_feature_columns")
    dims = {fc.embedding_dim for fc in dnn_feature_columns if isinstance(fc, (SparseFeat, VarLenSparseFeat))}
    if len(dims) > 1:
        raise ValueError(
            f"{model} needs the same embedding_dim for every sparse feature of dnn_feature_columns, got {sorted(dims)}"
        )
    linear_sparse = _sparse_names(linear_feature_columns)
    if linear_sparse and linear_sparse != dnn_sparse:
        raise ValueError(
            f"{model} reweights each sparse feature of the linear part by its input-aware factor, so the sparse "
            "features of linear_feature_columns must be those of dnn_feature_columns in the same order, "
            f"got {linear_sparse} and {dnn_sparse}"
        )
    return len(dnn_sparse)


def input_aware_fm_logits(
    features: dict,
    linear_feature_columns: Sequence,
    sparse_embedding_list: list,
    input_aware_factor,
    l2_reg_linear: float,
    seed: int,
) -> list:
    """The linear and FM logits with every sparse feature reweighted by its
    input-aware factor (`input_aware_factor`: `(batch, sparse features)`)."""
    linear_logit = get_linear_logit(
        features,
        linear_feature_columns,
        seed=seed,
        prefix="linear",
        l2_reg=l2_reg_linear,
        sparse_feat_refine_weight=input_aware_factor,
    )
    fm_input = concat_func(sparse_embedding_list, axis=1)
    factor = keras.layers.Reshape((-1, 1))(input_aware_factor)
    refined_fm_input = keras.layers.Multiply()([fm_input, factor])
    return [linear_logit, FM()(refined_fm_input)]


def IFM(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    l2_reg_linear: float = 1e-5,
    l2_reg_embedding: float = 1e-5,
    l2_reg_dnn: float = 0,
    seed: int = 1024,
    dnn_dropout: float = 0,
    dnn_activation: str = "relu",
    dnn_use_bn: bool = False,
    task: str = "binary",
):
    """Instantiate the IFM architecture.

    A DNN over the sparse embeddings gives each of the `n` sparse features of
    the row an input-aware factor, `n * softmax(...)`; every feature's FM
    embedding and linear weight are multiplied by its factor before the FM
    and the linear part, whose logits are added.

    Arguments:
        linear_feature_columns: the features of the linear part; its sparse
            features must be those of `dnn_feature_columns`, in the same
            order (or none).
        dnn_feature_columns: the features of the FM and the factor network;
            its sparse and varlen features share one embedding_dim. DenseFeat
            columns in it are ignored as in DeepCTR.
        dnn_hidden_units: units of each DNN layer (not empty).
        l2_reg_linear, l2_reg_embedding, l2_reg_dnn: L2 strengths.
        seed: random seed.
        dnn_dropout: dropout probability in the DNN.
        dnn_activation: DNN activation.
        dnn_use_bn: batch normalisation before each activation.
        task: "binary" (sigmoid output) or "regression".

    Returns:
        A Keras model.
    """
    sparse_feat_num = check_input_aware_columns("IFM", linear_feature_columns, dnn_feature_columns, dnn_hidden_units)
    features = build_input_features(list(linear_feature_columns) + list(dnn_feature_columns))
    sparse_embedding_list, _ = input_from_feature_columns(features, dnn_feature_columns, l2_reg_embedding, seed)

    dnn_input = combined_dnn_input(sparse_embedding_list, [])
    dnn_output = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn, seed=seed)(dnn_input)
    factor_logits = keras.layers.Dense(
        sparse_feat_num, use_bias=False, kernel_initializer=keras.initializers.GlorotNormal(seed)
    )(dnn_output)
    input_aware_factor = keras.layers.Rescaling(float(sparse_feat_num))(keras.layers.Softmax(axis=1)(factor_logits))

    logits = input_aware_fm_logits(
        features, linear_feature_columns, sparse_embedding_list, input_aware_factor, l2_reg_linear, seed
    )
    return binary_or_regression_model(features, logits, task, "IFM")
