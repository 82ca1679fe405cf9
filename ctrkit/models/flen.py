"""FLEN: field-leveraged embedding network.

Reference: Chen W, Zhan L, Ci Y, Lin C. FLEN: leveraging field for scalable
CTR prediction. arXiv 2019. https://arxiv.org/pdf/1911.04690
"""

from __future__ import annotations

from collections.abc import Sequence

from ..feature_column import (
    SparseFeat,
    VarLenSparseFeat,
    build_input_features,
    get_linear_logit,
    input_from_feature_columns,
)
from ..layers.dnn import DNN
from ..layers.interaction.field_wise_bi_interaction import FieldWiseBiInteraction
from ..layers.utils import combined_dnn_input, concat_func
from .base import binary_or_regression_model, dense_logit


def FLEN(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    l2_reg_linear: float = 1e-5,
    l2_reg_embedding: float = 1e-5,
    l2_reg_dnn: float = 0,
    seed: int = 1024,
    dnn_dropout: float = 0.0,
    dnn_activation: str = "relu",
    dnn_use_bn: bool = False,
    task: str = "binary",
):
    """Instantiate the FLEN architecture.

    The sparse features are split into field groups by their `group_name`
    (`SparseFeat(..., group_name="user")`, say user, item and context).
    `FieldWiseBiInteraction` crosses the groups with each other (MF part) and
    the features within each group (FM part) into one vector, which is
    concatenated with the output of a DNN over all embeddings and dense
    values; one logit of that is added to the linear logit.

    Arguments:
        linear_feature_columns: the features of the linear part.
        dnn_feature_columns: the features of the deep part; its sparse and
            varlen features must have one embedding_dim and span at least
            two field groups.
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
    sparse_columns = [fc for fc in dnn_feature_columns if isinstance(fc, (SparseFeat, VarLenSparseFeat))]
    groups = list(dict.fromkeys(fc.group_name for fc in sparse_columns))
    if len(groups) < 2:
        raise ValueError(
            "FLEN needs the sparse features of dnn_feature_columns in at least 2 field groups "
            f"(SparseFeat group_name), got {groups}"
        )
    dims = {fc.embedding_dim for fc in sparse_columns}
    if len(dims) > 1:
        raise ValueError(
            f"FLEN needs the same embedding_dim for every sparse feature of dnn_feature_columns, got {sorted(dims)}"
        )

    features = build_input_features(list(linear_feature_columns) + list(dnn_feature_columns))
    group_embedding_dict, dense_value_list = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed, support_group=True
    )
    linear_logit = get_linear_logit(features, linear_feature_columns, seed=seed, prefix="linear", l2_reg=l2_reg_linear)

    fm_mf_out = FieldWiseBiInteraction(seed=seed)([concat_func(v, axis=1) for v in group_embedding_dict.values()])
    all_embeddings = [emb for group in group_embedding_dict.values() for emb in group]
    dnn_input = combined_dnn_input(all_embeddings, dense_value_list)
    dnn_output = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn, seed=seed)(dnn_input)
    dnn_logit = dense_logit(concat_func([fm_mf_out, dnn_output]), seed)
    return binary_or_regression_model(features, [linear_logit, dnn_logit], task, "FLEN")
