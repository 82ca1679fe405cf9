"""PNN: a DNN over the field embeddings and their pairwise products.

Reference: Qu Y, Cai H, Ren K, et al. Product-based neural networks for user
response prediction. ICDM 2016. https://arxiv.org/pdf/1611.00144.pdf
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ..feature_column import build_input_features, input_from_feature_columns
from ..layers.dnn import DNN
from ..layers.interaction.inner_product_layer import InnerProductLayer
from ..layers.interaction.outter_product_layer import OutterProductLayer
from ..layers.utils import combined_dnn_input, concat_func
from .base import binary_or_regression_model, dense_logit

_KERNEL_TYPES = ("mat", "vec", "num")


def PNN(
    dnn_feature_columns: Sequence,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    l2_reg_embedding: float = 1e-5,
    l2_reg_dnn: float = 0,
    seed: int = 1024,
    dnn_dropout: float = 0,
    dnn_activation: str = "relu",
    use_inner: bool = True,
    use_outter: bool = False,
    kernel_type: str = "mat",
    task: str = "binary",
):
    """Instantiate the Product-based Neural Network architecture.

    The DNN sees the concatenated embeddings (the paper's linear signal
    ``l_z``), plus the inner products of every pair of fields (IPNN,
    ``use_inner``) and/or their kernel outer products (OPNN, ``use_outter``),
    plus the dense values.

    Arguments:
        dnn_feature_columns: the features of the model.
        dnn_hidden_units: units of each DNN layer (may be empty).
        l2_reg_embedding, l2_reg_dnn: L2 strengths.
        seed: random seed.
        dnn_dropout: dropout probability in the DNN.
        dnn_activation: DNN activation.
        use_inner: whether to use the inner products.
        use_outter: whether to use the outer products.
        kernel_type: kernel of the outer products: "mat", "vec" or "num".
        task: "binary" (sigmoid output) or "regression".

    Returns:
        A Keras model.
    """
    if kernel_type not in _KERNEL_TYPES:
        raise ValueError(f"`kernel_type` must be one of {_KERNEL_TYPES}, got {kernel_type!r}.")
    features = build_input_features(dnn_feature_columns)
    sparse_embedding_list, dense_value_list = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed
    )
    if not sparse_embedding_list:
        raise ValueError("PNN needs sparse features in `dnn_feature_columns`.")
    signals = [keras.layers.Flatten()(concat_func(sparse_embedding_list))]
    if use_inner:
        signals.append(keras.layers.Flatten()(InnerProductLayer()(sparse_embedding_list)))
    if use_outter:
        signals.append(OutterProductLayer(kernel_type, seed=seed)(sparse_embedding_list))
    deep_input = concat_func(signals)
    dnn_input = combined_dnn_input([deep_input], dense_value_list)
    dnn_output = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, False, seed=seed)(dnn_input)
    dnn_logit = dense_logit(dnn_output, seed)
    return binary_or_regression_model(features, [dnn_logit], task, "PNN")
