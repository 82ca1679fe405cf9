"""FiBiNET: SENET re-weighting of the field embeddings and bilinear
interactions of both the original and the re-weighted embeddings, into a DNN.

Reference: Huang T, Zhang Z, Zhang J. FiBiNET: combining feature importance and
bilinear feature interaction for click-through rate prediction. RecSys 2019.
https://arxiv.org/abs/1905.09433
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ..feature_column import build_input_features, get_linear_logit, input_from_feature_columns
from ..layers.dnn import DNN
from ..layers.interaction.bilinear_interaction import BilinearInteraction
from ..layers.interaction.senet_layer import SENETLayer
from ..layers.utils import combined_dnn_input, concat_func
from .base import binary_or_regression_model, dense_logit


def FiBiNET(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    bilinear_type: str = "interaction",
    reduction_ratio: int = 3,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    l2_reg_linear: float = 1e-5,
    l2_reg_embedding: float = 1e-5,
    l2_reg_dnn: float = 0,
    seed: int = 1024,
    dnn_dropout: float = 0,
    dnn_activation: str = "relu",
    task: str = "binary",
):
    """Instantiate the Feature Importance and Bilinear feature Interaction
    network architecture.

    Arguments:
        linear_feature_columns: the features of the linear part.
        dnn_feature_columns: the features of the model; the sparse ones (at
            least 2, of one embedding size) interact.
        bilinear_type: "all", "each" or "interaction" (see `BilinearInteraction`).
        reduction_ratio: reduction ratio of the SENET layer (>= 1).
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
    senet_embedding_list = SENETLayer(reduction_ratio, seed)(sparse_embedding_list)
    senet_bilinear_out = BilinearInteraction(bilinear_type=bilinear_type, seed=seed)(senet_embedding_list)
    bilinear_out = BilinearInteraction(bilinear_type=bilinear_type, seed=seed)(sparse_embedding_list)
    bilinear_input = keras.layers.Flatten()(concat_func([senet_bilinear_out, bilinear_out]))
    dnn_input = combined_dnn_input([bilinear_input], dense_value_list)
    dnn_output = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, False, seed=seed)(dnn_input)
    return binary_or_regression_model(features, [linear_logit, dense_logit(dnn_output, seed)], task, "FiBiNET")
