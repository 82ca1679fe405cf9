"""FwFM: a factorization machine with a learned strength per pair of fields,
beside a linear part and an optional DNN.

Reference: Pan J, Xu J, Ruiz A L, et al. Field-weighted factorization machines
for click-through rate prediction in display advertising. WWW 2018.
https://arxiv.org/pdf/1806.03514.pdf
"""

from __future__ import annotations

from collections.abc import Sequence

from ..feature_column import DEFAULT_GROUP_NAME, build_input_features, get_linear_logit, input_from_feature_columns
from ..layers.dnn import DNN
from ..layers.interaction.fwfm_layer import FwFMLayer
from ..layers.utils import add_func, combined_dnn_input, concat_func
from .base import binary_or_regression_model, dense_logit


def FwFM(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    fm_group: Sequence[str] = (DEFAULT_GROUP_NAME,),
    dnn_hidden_units: Sequence[int] = (128, 128),
    l2_reg_linear: float = 1e-5,
    l2_reg_embedding: float = 1e-5,
    l2_reg_field_strength: float = 1e-5,
    l2_reg_dnn: float = 0,
    seed: int = 1024,
    dnn_dropout: float = 0,
    dnn_activation: str = "relu",
    dnn_use_bn: bool = False,
    task: str = "binary",
):
    """Instantiate the Field-weighted Factorization Machine architecture.

    Arguments:
        linear_feature_columns: the features of the linear part.
        dnn_feature_columns: the features of the FwFM and deep parts.
        fm_group: group names of the features that interact; each group
            interacts within itself and needs at least 2 features.
        dnn_hidden_units: units of each DNN layer; empty for no DNN part.
        l2_reg_linear, l2_reg_embedding, l2_reg_dnn: L2 strengths.
        l2_reg_field_strength: L2 strength of the field pair strengths.
        seed: random seed.
        dnn_dropout: dropout probability in the DNN.
        dnn_activation: DNN activation.
        dnn_use_bn: batch normalisation before each DNN activation.
        task: "binary" (sigmoid output) or "regression".

    Returns:
        A Keras model.
    """
    fm_group = (fm_group,) if isinstance(fm_group, str) else tuple(fm_group)
    features = build_input_features(list(linear_feature_columns) + list(dnn_feature_columns))
    linear_logit = get_linear_logit(features, linear_feature_columns, seed=seed, prefix="linear", l2_reg=l2_reg_linear)
    group_embedding_dict, dense_value_list = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed, support_group=True
    )
    groups = [v for k, v in group_embedding_dict.items() if k in fm_group]
    if not groups:
        raise ValueError(
            f"`fm_group` {list(fm_group)} names no group of `dnn_feature_columns` "
            f"(groups: {list(group_embedding_dict)})."
        )
    fwfm_logit = add_func(
        [FwFMLayer(num_fields=len(v), regularizer=l2_reg_field_strength)(concat_func(v, axis=1)) for v in groups]
    )
    logits = [linear_logit, fwfm_logit]
    if dnn_hidden_units:
        all_embeddings = [emb for group in group_embedding_dict.values() for emb in group]
        dnn_input = combined_dnn_input(all_embeddings, dense_value_list)
        dnn_output = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn, seed=seed)(dnn_input)
        logits.append(dense_logit(dnn_output, seed))
    return binary_or_regression_model(features, logits, task, "FwFM")
