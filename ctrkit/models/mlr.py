"""MLR: mixed logistic regression, a piece-wise linear model.

Reference: Gai K, Zhu X, Li H, et al. Learning piece-wise linear models from
large scale data for ad click prediction. arXiv 2017.
https://arxiv.org/abs/1704.05194
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ..feature_column import build_input_features, get_linear_logit
from ..layers.core import PredictionLayer
from ..layers.utils import concat_func
from .ctr_model import CTRModel


def _linear_logits(features: dict, feature_columns: Sequence, count: int, l2_reg: float, seed: int, prefix: str):
    return [
        get_linear_logit(features, feature_columns, seed=seed + i, prefix=f"{prefix}{i + 1}", l2_reg=l2_reg)
        for i in range(count)
    ]


def MLR(
    region_feature_columns: Sequence,
    base_feature_columns: Sequence | None = None,
    region_num: int = 4,
    l2_reg_linear: float = 1e-5,
    seed: int = 1024,
    task: str = "binary",
    bias_feature_columns: Sequence | None = None,
):
    """Instantiate the Mixed Logistic Regression (piece-wise linear) model.

    `region_num` linear models over `region_feature_columns` give, through a
    softmax, the weight of each region; `region_num` more over
    `base_feature_columns` each predict within their region (a sigmoid for
    "binary"). The output is the weighted sum of the regions' predictions,
    times the sigmoid of one more linear model over `bias_feature_columns`
    when those are given.

    Arguments:
        region_feature_columns: the features of the region (gating) part.
        base_feature_columns: the features of the per-region learners;
            None or empty means `region_feature_columns`.
        region_num: number of regions (pieces), an integer > 1.
        l2_reg_linear: L2 strength of every linear weight.
        seed: random seed.
        task: "binary" or "regression".
        bias_feature_columns: the features of the optional bias part.

    Returns:
        A Keras model.
    """
    if isinstance(region_num, bool) or not isinstance(region_num, int) or region_num <= 1:
        raise ValueError(f"region_num must be an integer > 1, got {region_num!r}")
    if task not in PredictionLayer.TASKS:
        raise ValueError(f"`task` must be one of {PredictionLayer.TASKS}, got {task!r}.")
    region_feature_columns = list(region_feature_columns)
    if not region_feature_columns:
        raise ValueError("MLR needs at least one column in region_feature_columns")
    base_feature_columns = list(base_feature_columns or region_feature_columns)
    bias_feature_columns = list(bias_feature_columns or [])

    features = build_input_features(region_feature_columns + base_feature_columns + bias_feature_columns)
    region_logits = _linear_logits(features, region_feature_columns, region_num, l2_reg_linear, seed, "region_")
    region_score = keras.layers.Softmax(axis=-1)(concat_func(region_logits))
    learner_logits = _linear_logits(features, base_feature_columns, region_num, l2_reg_linear, seed, "learner_")
    learner_score = concat_func([PredictionLayer(task, use_bias=False)(logit) for logit in learner_logits])
    output = keras.layers.Dot(axes=-1)([region_score, learner_score])

    if bias_feature_columns:
        bias_logit = _linear_logits(features, bias_feature_columns, 1, l2_reg_linear, seed, "bias_")[0]
        output = keras.layers.Multiply()([output, PredictionLayer("binary", use_bias=False)(bias_logit)])
    if task == "regression":
        # An identity that records the task on the output layer, where export reads it.
        output = PredictionLayer("regression", use_bias=False)(output)
    return CTRModel(inputs=list(features.values()), outputs=output, name="MLR")
