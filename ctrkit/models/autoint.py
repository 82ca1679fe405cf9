"""AutoInt: stacked multi-head self-attention between the field embeddings,
optionally beside a DNN.

Reference: Song W, Shi C, Xiao Z, et al. AutoInt: automatic feature interaction
learning via self-attentive neural networks. CIKM 2019.
https://arxiv.org/abs/1810.11921
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ..feature_column import build_input_features, get_linear_logit, input_from_feature_columns
from ..layers.dnn import DNN
from ..layers.interaction.interacting_layer import InteractingLayer
from ..layers.utils import combined_dnn_input, concat_func
from .base import binary_or_regression_model, dense_logit


def AutoInt(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    att_layer_num: int = 3,
    att_embedding_size: int = 8,
    att_head_num: int = 2,
    att_res: bool = True,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    dnn_activation: str = "relu",
    l2_reg_linear: float = 1e-5,
    l2_reg_embedding: float = 1e-5,
    l2_reg_dnn: float = 0,
    dnn_use_bn: bool = False,
    dnn_dropout: float = 0,
    seed: int = 1024,
    task: str = "binary",
):
    """Instantiate the AutoInt architecture.

    The flattened output of the interacting layers and the DNN output are
    concatenated into one logit. With `att_layer_num=0` the model is DNN
    only, with empty `dnn_hidden_units` attention only.

    Arguments:
        linear_feature_columns: the features of the linear part.
        dnn_feature_columns: the features of the attention part (the sparse
            ones) and the deep part.
        att_layer_num: number of `InteractingLayer`s (>= 0).
        att_embedding_size: size of each attention head.
        att_head_num: number of attention heads.
        att_res: residual connections in the interacting layers.
        dnn_hidden_units: units of each DNN layer (may be empty).
        dnn_activation: DNN activation.
        l2_reg_linear, l2_reg_embedding, l2_reg_dnn: L2 strengths.
        dnn_use_bn: batch normalisation before each DNN activation.
        dnn_dropout: dropout probability in the DNN.
        seed: random seed.
        task: "binary" (sigmoid output) or "regression".

    Returns:
        A Keras model.
    """
    if isinstance(att_layer_num, bool) or not isinstance(att_layer_num, int) or att_layer_num < 0:
        raise ValueError(f"`att_layer_num` must be an integer >= 0, got {att_layer_num!r}.")
    if att_layer_num == 0 and not dnn_hidden_units:
        raise ValueError("either `dnn_hidden_units` must be non-empty or `att_layer_num` must be > 0.")
    features = build_input_features(list(linear_feature_columns) + list(dnn_feature_columns))
    linear_logit = get_linear_logit(features, linear_feature_columns, seed=seed, prefix="linear", l2_reg=l2_reg_linear)
    sparse_embedding_list, dense_value_list = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed
    )
    outputs = []
    if att_layer_num > 0:
        if not sparse_embedding_list:
            raise ValueError("the attention part needs sparse features in `dnn_feature_columns` (or att_layer_num=0).")
        att = concat_func(sparse_embedding_list, axis=1)
        for i in range(att_layer_num):
            # each layer seeds its four weights with seed .. seed + 3
            att = InteractingLayer(att_embedding_size, att_head_num, att_res, seed=seed + 4 * i)(att)
        outputs.append(keras.layers.Flatten()(att))
    if dnn_hidden_units:
        dnn_input = combined_dnn_input(sparse_embedding_list, dense_value_list)
        outputs.append(DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn, seed=seed)(dnn_input))
    stack_out = keras.layers.Concatenate()(outputs) if len(outputs) > 1 else outputs[0]
    return binary_or_regression_model(features, [linear_logit, dense_logit(stack_out, seed)], task, "AutoInt")
