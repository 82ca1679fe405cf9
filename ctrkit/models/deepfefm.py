"""DeepFEFM: field-embedded factorization machine with a DNN.

Reference: Pande H. Field-embedded factorization machines for click-through
rate prediction. arXiv 2020. https://arxiv.org/pdf/2009.09931.pdf
"""

from __future__ import annotations

from collections.abc import Sequence

from ..feature_column import (
    DEFAULT_GROUP_NAME,
    SparseFeat,
    VarLenSparseFeat,
    build_input_features,
    get_linear_logit,
    input_from_feature_columns,
)
from ..layers.dnn import DNN
from ..layers.interaction.fefm_layer import FEFMLayer
from ..layers.utils import ReduceSum, combined_dnn_input, concat_func
from .base import binary_or_regression_model, dense_logit


def DeepFEFM(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    use_fefm: bool = True,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    l2_reg_linear: float = 1e-5,
    l2_reg_embedding_feat: float = 1e-5,
    l2_reg_embedding_field: float = 1e-5,
    l2_reg_dnn: float = 0,
    seed: int = 1024,
    dnn_dropout: float = 0.0,
    exclude_feature_embed_in_dnn: bool = False,
    use_linear: bool = True,
    use_fefm_embed_in_dnn: bool = True,
    dnn_activation: str = "relu",
    dnn_use_bn: bool = False,
    task: str = "binary",
):
    """Instantiate the DeepFEFM architecture, or the shallow FEFM (and the
    paper's ablations).

    `FEFMLayer` scores every pair of sparse features of the default group with
    a symmetric matrix embedding of their field pair. The sum of the scores is
    the FEFM logit; the scores also join the DNN input. The model adds the
    logits of the parts that are on: linear (`use_linear`), FEFM
    (`use_fefm`) and DNN (a non-empty `dnn_hidden_units`).

    Arguments:
        linear_feature_columns: the features of the linear part.
        dnn_feature_columns: the features of the FEFM and deep parts; at least
            two sparse features of group "default_group", of one
            embedding_dim, enter the FEFM.
        use_fefm: add the FEFM logit (the DNN still sees the FEFM scores).
        dnn_hidden_units: units of each DNN layer; empty means no DNN.
        l2_reg_linear: L2 strength of the linear part.
        l2_reg_embedding_feat: L2 strength of the feature embeddings.
        l2_reg_embedding_field: L2 strength of the field pair matrices.
        l2_reg_dnn: L2 strength of the DNN.
        seed: random seed.
        dnn_dropout: dropout probability in the DNN.
        exclude_feature_embed_in_dnn: feed the DNN the FEFM scores only
            (ablation; needs `use_fefm_embed_in_dnn`).
        use_linear: add the linear logit.
        use_fefm_embed_in_dnn: feed the FEFM scores to the DNN.
        dnn_activation: DNN activation.
        dnn_use_bn: batch normalisation before each activation.
        task: "binary" (sigmoid output) or "regression".

    Returns:
        A Keras model.
    """
    use_dnn = len(dnn_hidden_units) > 0
    if not (use_linear or use_fefm or use_dnn):
        raise ValueError(
            "DeepFEFM has nothing to predict from: use_linear and use_fefm are False and dnn_hidden_units is empty"
        )
    fefm_columns = [
        fc
        for fc in dnn_feature_columns
        if isinstance(fc, (SparseFeat, VarLenSparseFeat)) and fc.group_name == DEFAULT_GROUP_NAME
    ]
    if len(fefm_columns) < 2:
        raise ValueError(
            f"DeepFEFM needs at least 2 sparse features of group {DEFAULT_GROUP_NAME!r} in dnn_feature_columns, "
            f"got {len(fefm_columns)}"
        )
    dims = {fc.embedding_dim for fc in fefm_columns}
    if len(dims) > 1:
        raise ValueError(
            f"DeepFEFM needs the same embedding_dim for every sparse feature of group {DEFAULT_GROUP_NAME!r}, "
            f"got {sorted(dims)}"
        )

    features = build_input_features(list(linear_feature_columns) + list(dnn_feature_columns))
    group_embedding_dict, dense_value_list = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding_feat, seed, support_group=True
    )
    fefm_interaction_embedding = FEFMLayer(regularizer=l2_reg_embedding_field)(
        concat_func(group_embedding_dict[DEFAULT_GROUP_NAME], axis=1)
    )

    logits = []
    if use_linear:
        logits.append(
            get_linear_logit(features, linear_feature_columns, seed=seed, prefix="linear", l2_reg=l2_reg_linear)
        )
    if use_fefm:
        logits.append(ReduceSum(axis=1, keepdims=True)(fefm_interaction_embedding))
    if use_dnn:
        all_embeddings = [emb for group in group_embedding_dict.values() for emb in group]
        dnn_input = combined_dnn_input(all_embeddings, dense_value_list)
        if use_fefm_embed_in_dnn:
            if exclude_feature_embed_in_dnn:
                dnn_input = fefm_interaction_embedding
            else:
                dnn_input = concat_func([dnn_input, fefm_interaction_embedding], axis=1)
        dnn_output = DNN(dnn_hidden_units, dnn_activation, l2_reg_dnn, dnn_dropout, dnn_use_bn, seed=seed)(dnn_input)
        logits.append(dense_logit(dnn_output, seed))
    return binary_or_regression_model(features, logits, task, "DeepFEFM")
