"""NFM: Bi-Interaction pooling of the field embeddings, then a DNN.

Reference: He X, Chua T S. Neural factorization machines for sparse predictive
analytics. SIGIR 2017. https://arxiv.org/abs/1708.05027
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ..feature_column import build_input_features, get_linear_logit, input_from_feature_columns
from ..layers.dnn import DNN
from ..layers.interaction.bi_interaction_pooling import BiInteractionPooling
from ..layers.utils import combined_dnn_input, concat_func
from .base import binary_or_regression_model, dense_logit


def NFM(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    l2_reg_embedding: float = 1e-5,
    l2_reg_linear: float = 1e-5,
    l2_reg_dnn: float = 0,
    seed: int = 1024,
    bi_dropout: float = 0,
    dnn_dropout: float = 0,
    dnn_activation: str = "relu",
    task: str = "binary",
):
    """Instantiate the Neural Factorization Machine architecture.

    Arguments:
        linear_feature_columns: the features of the linear part.
        dnn_feature_columns: the features of the Bi-Interaction and deep parts.
        dnn_hidden_units: units of each DNN layer (may be empty).
        l2_reg_embedding, l2_reg_linear, l2_reg_dnn: L2 strengths.
        seed: random seed.
        bi_dropout: dropout probability on the Bi-Interaction pooling output
            (0 for none).
        dnn_dropout: dropout probability in the DNN.
        dnn_activation: DNN activation.
        task: "binary" (sigmoid output) or "regression".

    Returns:
        A Keras model.
    """
    if isinstance(bi_dropout, bool) or not isinstance(bi_dropout, (int, float)) or not 0 <= bi_dropout < 1:
        raise ValueError(f"`bi_dropout` must be a number in [0, 1), got {bi_dropout!r}.")
    features = build_input_features(list(linear_feature_columns) + list(dnn_feature_columns))
    linear_logit = get_linear_logit(features, linear_feature_columns, seed=seed, prefix="linear", l2_reg=l2_reg_linear)
    sparse_embedding_list, dense_value_list = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed
    )
    if not sparse_embedding_list:
        raise ValueError("NFM needs at least one sparse feature in `dnn_feature_columns`.")
    bi_out = BiInteractionPooling()(concat_func(sparse_embedding_list, axis=1))
    if bi_dropout:
        bi_out = keras.layers.Dropout(bi_dropout, seed=seed)(bi_out)
    dnn_input = combined_dnn_input([bi_out], dense_value_list)
    dnn_output = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, False, seed=seed)(dnn_input)
    dnn_logit = dense_logit(dnn_output, seed)
    return binary_or_regression_model(features, [linear_logit, dnn_logit], task, "NFM")
