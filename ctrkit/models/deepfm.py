"""DeepFM: a factorization machine and a DNN sharing the embeddings.

Reference: Guo H, Tang R, Ye Y, et al. DeepFM: a factorization-machine based
neural network for CTR prediction. IJCAI 2017. https://arxiv.org/abs/1703.04247
"""

from __future__ import annotations

from collections.abc import Sequence

from ..feature_column import build_input_features, get_linear_logit, input_from_feature_columns
from ..layers.dnn import DNN
from ..layers.interaction.fm import FM
from ..layers.utils import add_func, combined_dnn_input, concat_func
from .base import binary_or_regression_model, dense_logit


def DeepFM(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    fm_group: Sequence[str] = ("default_group",),
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
    """Instantiate the DeepFM architecture.

    Arguments:
        linear_feature_columns: the features of the linear part.
        dnn_feature_columns: the features of the FM and deep parts.
        fm_group: group names of the features that interact in the FM.
        dnn_hidden_units: units of each DNN layer (may be empty).
        l2_reg_linear, l2_reg_embedding, l2_reg_dnn: L2 strengths.
        seed: random seed.
        dnn_dropout: dropout probability in the DNN.
        dnn_activation: DNN activation.
        dnn_use_bn: batch normalisation before each activation.
        task: "binary" (sigmoid output) or "regression".

    Returns:
        A Keras model.
    """
    features = build_input_features(list(linear_feature_columns) + list(dnn_feature_columns))
    linear_logit = get_linear_logit(features, linear_feature_columns, seed=seed, prefix="linear", l2_reg=l2_reg_linear)
    group_embedding_dict, dense_value_list = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed, support_group=True
    )
    fm_inputs = [concat_func(v, axis=1) for k, v in group_embedding_dict.items() if k in fm_group]
    fm_logit = add_func([FM()(x) for x in fm_inputs]) if fm_inputs else None
    all_embeddings = [emb for group in group_embedding_dict.values() for emb in group]
    dnn_input = combined_dnn_input(all_embeddings, dense_value_list)
    dnn_output = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn, seed=seed)(dnn_input)
    dnn_logit = dense_logit(dnn_output, seed)
    return binary_or_regression_model(features, [linear_logit, fm_logit, dnn_logit], task, "DeepFM")
