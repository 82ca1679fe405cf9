"""FNN: a DNN over the field embeddings.

Reference: Zhang W, Du T, Wang J. Deep learning over multi-field categorical
data. ECIR 2016. https://arxiv.org/pdf/1601.02376.pdf
"""

from __future__ import annotations

from collections.abc import Sequence

from ..feature_column import build_input_features, input_from_feature_columns
from ..layers.dnn import DNN
from ..layers.utils import combined_dnn_input
from .base import binary_or_regression_model, dense_logit


def FNN(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    l2_reg_embedding: float = 1e-5,
    l2_reg_linear: float = 1e-5,
    l2_reg_dnn: float = 0,
    seed: int = 1024,
    dnn_dropout: float = 0,
    dnn_activation: str = "relu",
    task: str = "binary",
):
    """Instantiate the Factorization-supported Neural Network architecture.

    As in the paper (and DeepCTR since 2026), the logit is the DNN's alone:
    FNN has no wide linear part. `linear_feature_columns` is accepted for
    DeepCTR's signature and only adds its features to the model's inputs;
    `l2_reg_linear` has nothing to regularise.

    Arguments:
        linear_feature_columns: features that become model inputs too.
        dnn_feature_columns: the features of the deep part.
        dnn_hidden_units: units of each DNN layer (may be empty).
        l2_reg_embedding, l2_reg_dnn: L2 strengths; l2_reg_linear is unused.
        seed: random seed.
        dnn_dropout: dropout probability in the DNN.
        dnn_activation: DNN activation.
        task: "binary" (sigmoid output) or "regression".

    Returns:
        A Keras model.
    """
    features = build_input_features(list(linear_feature_columns) + list(dnn_feature_columns))
    sparse_embedding_list, dense_value_list = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed
    )
    dnn_input = combined_dnn_input(sparse_embedding_list, dense_value_list)
    dnn_output = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, False, seed=seed)(dnn_input)
    dnn_logit = dense_logit(dnn_output, seed)
    return binary_or_regression_model(features, [dnn_logit], task, "FNN")
