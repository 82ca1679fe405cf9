"""DIFM: dual input-aware factorization machine.

Reference: Lu W, Yu Y, Chang Y, et al. A dual input-aware factorization
machine for CTR prediction. IJCAI 2020: 3139-3145.
https://www.ijcai.org/Proceedings/2020/0434.pdf
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ..feature_column import build_input_features, input_from_feature_columns
from ..layers.dnn import DNN
from ..layers.interaction.interacting_layer import InteractingLayer
from ..layers.utils import add_func, combined_dnn_input, concat_func
from .base import binary_or_regression_model
from .ifm import check_input_aware_columns, input_aware_fm_logits


def DIFM(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    att_embedding_size: int = 8,
    att_head_num: int = 8,
    att_res: bool = True,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    l2_reg_linear: float = 1e-5,
    l2_reg_embedding: float = 1e-5,
    l2_reg_dnn: float = 0,
    seed: int = 1024,
    dnn_dropout: float = 0,
    dnn_activation: str = "relu",
    dnn_use_bn: bool = False,
    task: str = "binary",
):
    """Instantiate the DIFM architecture.

    Each sparse feature of the row gets an input-aware factor, the sum of a
    vector-wise one (multi-head self-attention over the embeddings, then a
    projection) and a bit-wise one (a DNN over the flattened embeddings, then
    a projection). Every feature's FM embedding and linear weight are
    multiplied by its factor before the FM and the linear part, whose logits
    are added.

    Arguments:
        linear_feature_columns: the features of the linear part; its sparse
            features must be those of `dnn_feature_columns`, in the same
            order (or none).
        dnn_feature_columns: the features of the FM and the factor networks;
            its sparse and varlen features share one embedding_dim. DenseFeat
            columns in it are ignored as in DeepCTR.
        att_embedding_size: size of each attention head.
        att_head_num: number of attention heads.
        att_res: add a residual connection in the attention.
        dnn_hidden_units: units of each DNN layer (not empty).
        l2_reg_linear, l2_reg_embedding, l2_reg_dnn: L2 strengths.
        seed: random seed.
        dnn_dropout: dropout probability in the DNN.
        dnn_activation: DNN activation.
        dnn_use_bn: batch normalisation before each activation.
        task: "binary" (sigmoid output) or "regression".

    Returns:
        A Keras model.
    """
    sparse_feat_num = check_input_aware_columns("DIFM", linear_feature_columns, dnn_feature_columns, dnn_hidden_units)
    features = build_input_features(list(linear_feature_columns) + list(dnn_feature_columns))
    sparse_embedding_list, _ = input_from_feature_columns(features, dnn_feature_columns, l2_reg_embedding, seed)

    def projection():
        return keras.layers.Dense(
            sparse_feat_num, use_bias=False, kernel_initializer=keras.initializers.GlorotNormal(seed)
        )

    att_out = InteractingLayer(att_embedding_size, att_head_num, att_res, scaling=True, seed=seed)(
        concat_func(sparse_embedding_list, axis=1)
    )
    m_vec = projection()(keras.layers.Flatten()(att_out))
    dnn_input = combined_dnn_input(sparse_embedding_list, [])
    dnn_output = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn, seed=seed)(dnn_input)
    m_bit = projection()(dnn_output)
    input_aware_factor = add_func([m_vec, m_bit])

    logits = input_aware_fm_logits(
        features, linear_feature_columns, sparse_embedding_list, input_aware_factor, l2_reg_linear, seed
    )
    return binary_or_regression_model(features, logits, task, "DIFM")
