"""CCPM: convolutions and k-max pooling over the field embeddings.

Reference: Liu Q, Yu F, Wu S, et al. A convolutional click prediction model.
CIKM 2015: 1743-1746.
http://ir.ia.ac.cn/bitstream/173211/12337/1/A%20Convolutional%20Click%20Prediction%20Model.pdf
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ..feature_column import DenseFeat, build_input_features, get_linear_logit, input_from_feature_columns
from ..layers.dnn import DNN
from ..layers.sequence.kmax_pooling import KMaxPooling
from ..layers.utils import concat_func
from .base import binary_or_regression_model, dense_logit


def _positive_ints(name: str, values: Sequence[int]) -> list[int]:
    values = list(values)
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        raise ValueError(f"`{name}` must be a list of positive integers, got {values!r}")
    return values


def CCPM(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    conv_kernel_width: Sequence[int] = (6, 5),
    conv_filters: Sequence[int] = (4, 4),
    dnn_hidden_units: Sequence[int] = (128, 64),
    l2_reg_linear: float = 1e-5,
    l2_reg_embedding: float = 1e-5,
    l2_reg_dnn: float = 0,
    dnn_dropout: float = 0,
    seed: int = 1024,
    task: str = "binary",
):
    """Instantiate the Convolutional Click Prediction Model architecture.

    The field embeddings form a `(fields, embedding_dim)` image; each stage
    convolves it along the field axis (tanh) and keeps the `k` largest values
    per column (k-max pooling, `k` shrinking from stage to stage, 3 in the
    last). The pooled maps feed a DNN; its logit is added to the linear logit.

    Arguments:
        linear_feature_columns: the features of the linear part.
        dnn_feature_columns: the features of the convolutional part: sparse
            and varlen features of one embedding_dim (no DenseFeat).
        conv_kernel_width: filter height (over fields) of each conv layer.
        conv_filters: number of filters of each conv layer (same length as
            `conv_kernel_width`; both may be empty).
        dnn_hidden_units: units of each DNN layer (may be empty).
        l2_reg_linear, l2_reg_embedding, l2_reg_dnn: L2 strengths.
        dnn_dropout: dropout probability in the DNN.
        seed: random seed.
        task: "binary" (sigmoid output) or "regression".

    Returns:
        A Keras model.
    """
    conv_kernel_width = _positive_ints("conv_kernel_width", conv_kernel_width)
    conv_filters = _positive_ints("conv_filters", conv_filters)
    if len(conv_kernel_width) != len(conv_filters):
        raise ValueError(
            "conv_kernel_width must have the same length as conv_filters, "
            f"got {len(conv_kernel_width)} and {len(conv_filters)}"
        )
    dense = [fc.name for fc in dnn_feature_columns if isinstance(fc, DenseFeat)]
    if dense:
        raise ValueError(f"CCPM does not support DenseFeat in dnn_feature_columns, got {dense}")
    dims = {fc.embedding_dim for fc in dnn_feature_columns}
    if not dims:
        raise ValueError("CCPM needs at least one sparse feature in dnn_feature_columns")
    if len(dims) > 1:
        raise ValueError(
            f"CCPM needs the same embedding_dim for every feature of dnn_feature_columns, got {sorted(dims)}"
        )

    features = build_input_features(list(linear_feature_columns) + list(dnn_feature_columns))
    linear_logit = get_linear_logit(features, linear_feature_columns, seed=seed, prefix="linear", l2_reg=l2_reg_linear)
    sparse_embedding_list, _ = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed, support_dense=False
    )

    n = len(sparse_embedding_list)
    stages = len(conv_filters)
    conv_input = concat_func(sparse_embedding_list, axis=1)
    pooled = keras.layers.Reshape((n, dims.pop(), 1))(conv_input)
    for i, (filters, width) in enumerate(zip(conv_filters, conv_kernel_width), start=1):
        # the paper's schedule: k_i = (1 - (i / l) ** (l - i)) * n, and 3 for the last stage
        k = max(1, int((1 - pow(i / stages, stages - i)) * n)) if i < stages else 3
        conv = keras.layers.Conv2D(
            filters,
            (width, 1),
            padding="same",
            activation="tanh",
            kernel_initializer=keras.initializers.GlorotUniform(seed),
        )(pooled)
        pooled = KMaxPooling(k=min(k, int(conv.shape[1])), axis=1)(conv)

    dnn_output = DNN(dnn_hidden_units, l2_reg=l2_reg_dnn, dropout_rate=dnn_dropout, seed=seed)(
        keras.layers.Flatten()(pooled)
    )
    dnn_logit = dense_logit(dnn_output, seed)
    return binary_or_regression_model(features, [linear_logit, dnn_logit], task, "CCPM")
