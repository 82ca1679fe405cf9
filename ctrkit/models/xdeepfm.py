"""xDeepFM: a Compressed Interaction Network (explicit vector-wise
interactions), a DNN (implicit interactions) and a linear part.

Reference: Lian J, Zhou X, Zhang F, et al. xDeepFM: combining explicit and
implicit feature interactions for recommender systems. KDD 2018.
https://arxiv.org/pdf/1803.05170.pdf
"""

from __future__ import annotations

from collections.abc import Sequence

from ..feature_column import build_input_features, get_linear_logit, input_from_feature_columns
from ..layers.dnn import DNN
from ..layers.interaction.cin import CIN
from ..layers.utils import combined_dnn_input, concat_func
from .base import binary_or_regression_model, dense_logit


def xDeepFM(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    cin_layer_size: Sequence[int] = (128, 128),
    cin_split_half: bool = True,
    cin_activation: str = "relu",
    l2_reg_linear: float = 1e-5,
    l2_reg_embedding: float = 1e-5,
    l2_reg_dnn: float = 0,
    l2_reg_cin: float = 0,
    seed: int = 1024,
    dnn_dropout: float = 0,
    dnn_activation: str = "relu",
    dnn_use_bn: bool = False,
    task: str = "binary",
):
    """Instantiate the xDeepFM architecture.

    Arguments:
        linear_feature_columns: the features of the linear part.
        dnn_feature_columns: the features of the CIN and deep parts (the CIN
            sees the sparse ones).
        dnn_hidden_units: units of each DNN layer (may be empty).
        cin_layer_size: feature maps of each CIN layer; empty for no CIN.
        cin_split_half: half of each hidden CIN layer's maps go to the output.
        cin_activation: activation of the CIN feature maps.
        l2_reg_linear, l2_reg_embedding, l2_reg_dnn, l2_reg_cin: L2 strengths.
        seed: random seed.
        dnn_dropout: dropout probability in the DNN.
        dnn_activation: DNN activation.
        dnn_use_bn: batch normalisation before each DNN activation.
        task: "binary" (sigmoid output) or "regression".

    Returns:
        A Keras model.
    """
    features = build_input_features(list(linear_feature_columns) + list(dnn_feature_columns))
    linear_logit = get_linear_logit(features, linear_feature_columns, seed=seed, prefix="linear", l2_reg=l2_reg_linear)
    sparse_embedding_list, dense_value_list = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed
    )
    dnn_input = combined_dnn_input(sparse_embedding_list, dense_value_list)
    dnn_output = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn, seed=seed)(dnn_input)
    logits = [linear_logit, dense_logit(dnn_output, seed)]
    if cin_layer_size:
        if not sparse_embedding_list:
            raise ValueError("the CIN needs sparse features in `dnn_feature_columns` (or an empty `cin_layer_size`).")
        cin_input = concat_func(sparse_embedding_list, axis=1)
        cin_output = CIN(cin_layer_size, cin_activation, cin_split_half, l2_reg_cin, seed)(cin_input)
        logits.append(dense_logit(cin_output, seed))
    return binary_or_regression_model(features, logits, task, "xDeepFM")
