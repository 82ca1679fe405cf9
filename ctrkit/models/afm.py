"""AFM: a factorization machine whose pairwise interactions are weighted by
an attention network.

Reference: Xiao J, Ye H, He X, et al. Attentional factorization machines:
learning the weight of feature interactions via attention networks. IJCAI
2017. https://arxiv.org/abs/1708.04617
"""

from __future__ import annotations

from collections.abc import Sequence

from ..feature_column import DEFAULT_GROUP_NAME, build_input_features, get_linear_logit, input_from_feature_columns
from ..layers.interaction.afm_layer import AFMLayer
from ..layers.interaction.fm import FM
from ..layers.utils import add_func, concat_func
from .base import binary_or_regression_model


def AFM(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    fm_group: str | Sequence[str] = DEFAULT_GROUP_NAME,
    use_attention: bool = True,
    attention_factor: int = 8,
    l2_reg_linear: float = 1e-5,
    l2_reg_embedding: float = 1e-5,
    l2_reg_att: float = 1e-5,
    afm_dropout: float = 0,
    seed: int = 1024,
    task: str = "binary",
):
    """Instantiate the Attentional Factorization Machine architecture.

    As in DeepCTR, `dnn_feature_columns` takes sparse (and varlen) features
    only: a `DenseFeat` there raises a ValueError. Dense features may go in
    `linear_feature_columns`.

    Arguments:
        linear_feature_columns: the features of the linear part.
        dnn_feature_columns: the sparse features whose embeddings interact.
        fm_group: group name, or list of group names, of the features that
            interact; each group interacts within itself.
        use_attention: weight the interactions by attention; when False the
            model is a plain factorization machine.
        attention_factor: units of the attention network.
        l2_reg_linear, l2_reg_embedding: L2 strengths.
        l2_reg_att: L2 strength of the attention network.
        afm_dropout: dropout probability on the attention output.
        seed: random seed.
        task: "binary" (sigmoid output) or "regression".

    Returns:
        A Keras model.
    """
    fm_group = (fm_group,) if isinstance(fm_group, str) else tuple(fm_group)
    features = build_input_features(list(linear_feature_columns) + list(dnn_feature_columns))
    group_embedding_dict, _ = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed, support_dense=False, support_group=True
    )
    groups = [v for k, v in group_embedding_dict.items() if k in fm_group]
    if not groups:
        raise ValueError(
            f"`fm_group` {list(fm_group)} names no group of `dnn_feature_columns` "
            f"(groups: {list(group_embedding_dict)})."
        )
    linear_logit = get_linear_logit(features, linear_feature_columns, seed=seed, prefix="linear", l2_reg=l2_reg_linear)
    if use_attention:
        fm_logit = add_func([AFMLayer(attention_factor, l2_reg_att, afm_dropout, seed)(list(v)) for v in groups])
    else:
        fm_logit = add_func([FM()(concat_func(v, axis=1)) for v in groups])
    return binary_or_regression_model(features, [linear_logit, fm_logit], task, "AFM")
