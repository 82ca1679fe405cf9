"""DCN: a cross network (explicit bounded-degree feature crosses) beside a DNN.

References:
    Wang R, Fu B, Fu G, et al. Deep & cross network for ad click predictions.
    ADKDD 2017. https://arxiv.org/abs/1708.05123

    Wang R, Shivanna R, Cheng D Z, et al. DCN V2: improved deep & cross network
    and practical lessons for web-scale learning to rank systems. WWW 2021.
    https://arxiv.org/abs/2008.13535
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ..feature_column import build_input_features, get_linear_logit, input_from_feature_columns
from ..layers.dnn import DNN
from ..layers.interaction.cross_net import CrossNet
from ..layers.utils import combined_dnn_input
from .base import binary_or_regression_model, check_cross_num, dense_logit


def DCN(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    cross_num: int = 2,
    cross_parameterization: str = "vector",
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    l2_reg_linear: float = 1e-5,
    l2_reg_embedding: float = 1e-5,
    l2_reg_cross: float = 1e-5,
    l2_reg_dnn: float = 0,
    seed: int = 1024,
    dnn_dropout: float = 0,
    dnn_use_bn: bool = False,
    dnn_activation: str = "relu",
    task: str = "binary",
):
    """Instantiate the Deep & Cross Network architecture.

    The cross network and the DNN read the same input (flattened embeddings
    and dense values); their outputs are concatenated into one logit. With
    `cross_num=0` the model is DNN only, with empty `dnn_hidden_units` cross
    network only.

    Arguments:
        linear_feature_columns: the features of the linear part.
        dnn_feature_columns: the features of the cross and deep parts.
        cross_num: number of cross layers (>= 0).
        cross_parameterization: "vector" (DCN) or "matrix" (DCN-M).
        dnn_hidden_units: units of each DNN layer (may be empty).
        l2_reg_linear, l2_reg_embedding, l2_reg_cross, l2_reg_dnn: L2 strengths.
        seed: random seed.
        dnn_dropout: dropout probability in the DNN.
        dnn_use_bn: batch normalisation before each DNN activation.
        dnn_activation: DNN activation.
        task: "binary" (sigmoid output) or "regression".

    Returns:
        A Keras model.
    """
    check_cross_num(cross_num, dnn_hidden_units)
    features = build_input_features(list(linear_feature_columns) + list(dnn_feature_columns))
    linear_logit = get_linear_logit(features, linear_feature_columns, seed=seed, prefix="linear", l2_reg=l2_reg_linear)
    sparse_embedding_list, dense_value_list = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed
    )
    dnn_input = combined_dnn_input(sparse_embedding_list, dense_value_list)
    outputs = []
    if cross_num > 0:
        outputs.append(CrossNet(cross_num, cross_parameterization, l2_reg_cross, seed=seed)(dnn_input))
    if dnn_hidden_units:
        outputs.append(DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn, seed=seed)(dnn_input))
    stack_out = keras.layers.Concatenate()(outputs) if len(outputs) > 1 else outputs[0]
    return binary_or_regression_model(features, [linear_logit, dense_logit(stack_out, seed)], task, "DCN")
