"""EDCN: enhanced deep & cross network, a cross and a deep tower sharing
information layer by layer.

Reference: Chen B, Wang Y, Liu Z, et al. Enhancing explicit and implicit
feature interactions via information sharing for parallel deep CTR models.
CIKM 2021: 3757-3766. https://dlp-kdd.github.io/assets/pdf/DLP-KDD_2021_paper_12.pdf
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ..feature_column import DenseFeat, build_input_features, get_linear_logit, input_from_feature_columns
from ..layers.core import RegulationModule
from ..layers.dnn import DNN
from ..layers.interaction.bridge_module import BridgeModule
from ..layers.interaction.cross_net import CrossNet
from ..layers.utils import concat_func
from .base import binary_or_regression_model, dense_logit


def EDCN(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    cross_num: int = 2,
    cross_parameterization: str = "vector",
    bridge_type: str = "hadamard_product",
    tau: float = 1.0,
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
    """Instantiate the Enhanced Deep & Cross Network architecture.

    `cross_num` layers, each a cross layer and a deep layer of width
    `fields * embedding_dim` side by side. A `RegulationModule` (field-wise
    gate) prepares each tower's input, and a `BridgeModule` fuses the two
    outputs into the next layer's input. The last cross, deep and bridge
    outputs, concatenated, give one logit, added to the linear logit.

    Arguments:
        linear_feature_columns: the features of the linear part.
        dnn_feature_columns: the features of the towers: sparse and varlen
            features of one embedding_dim (no DenseFeat).
        cross_num: number of cross/deep layer pairs, a positive integer.
        cross_parameterization: "vector" or "matrix" cross layers.
        bridge_type: "pointwise_addition", "hadamard_product",
            "concatenation" or "attention_pooling".
        tau: temperature of the regulation gates, a positive float.
        l2_reg_linear, l2_reg_embedding, l2_reg_cross, l2_reg_dnn: L2 strengths.
        seed: random seed.
        dnn_dropout: dropout probability in the deep layers.
        dnn_use_bn: batch normalisation before each deep activation.
        dnn_activation: activation of the deep layers.
        task: "binary" (sigmoid output) or "regression".

    Returns:
        A Keras model.
    """
    if isinstance(cross_num, bool) or not isinstance(cross_num, int) or cross_num < 1:
        raise ValueError(f"cross_num must be a positive integer, got {cross_num!r}")
    dense = [fc.name for fc in dnn_feature_columns if isinstance(fc, DenseFeat)]
    if dense:
        raise ValueError(f"EDCN does not support DenseFeat in dnn_feature_columns, got {dense}")
    dims = {fc.embedding_dim for fc in dnn_feature_columns}
    if not dims:
        raise ValueError("EDCN needs at least one sparse feature in dnn_feature_columns")
    if len(dims) > 1:
        raise ValueError(
            f"EDCN needs the same embedding_dim for every feature of dnn_feature_columns, got {sorted(dims)}"
        )

    features = build_input_features(list(linear_feature_columns) + list(dnn_feature_columns))
    linear_logit = get_linear_logit(features, linear_feature_columns, seed=seed, prefix="linear", l2_reg=l2_reg_linear)
    sparse_embedding_list, _ = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed, support_dense=False
    )

    field_size = len(sparse_embedding_list)
    embedding_size = dims.pop()
    emb_input = concat_func(sparse_embedding_list, axis=1)
    deep_in = RegulationModule(tau)(emb_input)
    cross_in = RegulationModule(tau)(emb_input)
    for i in range(cross_num):
        cross_out = CrossNet(1, parameterization=cross_parameterization, l2_reg=l2_reg_cross, seed=seed)(cross_in)
        deep_out = DNN(
            [field_size * embedding_size], dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn, seed=seed
        )(deep_in)
        bridge_out = BridgeModule(bridge_type)([cross_out, deep_out])
        if i + 1 < cross_num:
            fields = keras.layers.Reshape((field_size, embedding_size))(bridge_out)
            deep_in = RegulationModule(tau)(fields)
            cross_in = RegulationModule(tau)(fields)

    stack_out = concat_func([cross_out, deep_out, bridge_out])
    return binary_or_regression_model(features, [dense_logit(stack_out, seed), linear_logit], task, "EDCN")
