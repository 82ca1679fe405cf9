"""Wide & Deep: a linear (wide) part and a DNN (deep) part trained jointly.

Reference: Cheng H T, Koc L, Harmsen J, et al. Wide & deep learning for
recommender systems. DLRS 2016. https://arxiv.org/pdf/1606.07792.pdf
"""

from __future__ import annotations

from collections.abc import Sequence

from ..feature_column import build_input_features, get_linear_logit, input_from_feature_columns
from ..layers.dnn import DNN
from ..layers.utils import combined_dnn_input
from .base import binary_or_regression_model, dense_logit


def WDL(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    l2_reg_linear: float = 1e-5,
    l2_reg_embedding: float = 1e-5,
    l2_reg_dnn: float = 0,
    seed: int = 1024,
    dnn_dropout: float = 0,
    dnn_activation: str = "relu",
    task: str = "binary",
):
    """Instantiate the Wide & Deep Learning architecture.

    Arguments:
        linear_feature_columns: the features of the wide part.
        dnn_feature_columns: the features of the deep part.
        dnn_hidden_units: units of each DNN layer (may be empty).
        l2_reg_linear, l2_reg_embedding, l2_reg_dnn: L2 strengths.
        seed: random seed.
        dnn_dropout: dropout probability in the DNN.
        dnn_activation: DNN activation.
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
    dnn_output = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, False, seed=seed)(dnn_input)
    dnn_logit = dense_logit(dnn_output, seed)
    return binary_or_regression_model(features, [linear_logit, dnn_logit], task, "WDL")
