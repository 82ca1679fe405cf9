"""ESMM: the Entire Space Multi-task Model.

Reference: Ma X, Zhao L, Huang G, et al. Entire space multi-task model: an
effective approach for estimating post-click conversion rate. SIGIR 2018.
https://arxiv.org/abs/1804.07931
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ...feature_column import build_input_features, input_from_feature_columns
from ...layers.core import PredictionLayer
from ...layers.dnn import DNN
from ...layers.utils import combined_dnn_input
from ..base import dense_logit
from ._common import SeedSequence, check_tasks, multitask_model


def ESMM(
    dnn_feature_columns: Sequence,
    tower_dnn_hidden_units: Sequence[int] = (256, 128, 64),
    l2_reg_embedding: float = 1e-5,
    l2_reg_dnn: float = 0,
    seed: int = 1024,
    dnn_dropout: float = 0,
    dnn_activation: str = "relu",
    dnn_use_bn: bool = False,
    task_types: Sequence[str] = ("binary", "binary"),
    task_names: Sequence[str] = ("ctr", "ctcvr"),
):
    """Instantiate the Entire Space Multi-Task Model architecture.

    Two towers share the embeddings: one predicts the click-through rate
    p(click), the other the post-click conversion rate p(conversion | click).
    The model outputs p(click) and their product p(click and conversion), both
    learnt over all impressions, so the conversion tower is trained on the
    entire space rather than on clicked impressions only.

    Outputs: `task_names[0]` (pCTR, a `PredictionLayer`) and `task_names[1]`
    (pCTCVR = pCTR * pCVR), each `(batch, 1)`; pCVR is the layer named
    `task_names[1] + "_cvr"`. Train it with the click label
    and the click-and-conversion label.

    Arguments:
        dnn_feature_columns: the features of the model.
        tower_dnn_hidden_units: units of each layer of the two towers (may be empty).
        l2_reg_embedding, l2_reg_dnn: L2 strengths.
        seed: random seed.
        dnn_dropout: dropout probability in the DNNs, in [0, 1).
        dnn_activation: DNN activation.
        dnn_use_bn: batch normalisation before each activation.
        task_types: must be `("binary", "binary")`.
        task_names: names of the CTR and CTCVR outputs.

    Returns:
        A Keras model with two outputs.

    Example:
        >>> from ctrkit.feature_column import SparseFeat, DenseFeat
        >>> model = ESMM([SparseFeat("user", 100, 4), DenseFeat("price", 1)], (8,))
        >>> model.output_names
        ['ctr', 'ctcvr']
    """
    task_types, task_names = check_tasks(task_types, task_names)
    if len(task_names) != 2:
        raise ValueError(f"ESMM has exactly 2 tasks (CTR and CTCVR), got task_names={task_names!r}")
    if task_types != ["binary", "binary"]:
        raise ValueError(f"ESMM's tasks must both be 'binary', got task_types={task_types!r}")
    features = build_input_features(dnn_feature_columns)
    sparse_embedding_list, dense_value_list = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed
    )
    dnn_input = combined_dnn_input(sparse_embedding_list, dense_value_list)
    dnn_kwargs = dict(activation=dnn_activation, l2_reg=l2_reg_dnn, dropout_rate=dnn_dropout, use_bn=dnn_use_bn)
    seeds = SeedSequence(seed)
    ctr_tower = DNN(tower_dnn_hidden_units, seed=seeds(), name="tower_ctr", **dnn_kwargs)(dnn_input)
    cvr_tower = DNN(tower_dnn_hidden_units, seed=seeds(), name="tower_cvr", **dnn_kwargs)(dnn_input)
    ctr_pred = PredictionLayer("binary", name=task_names[0])(dense_logit(ctr_tower, seeds(), name="logit_ctr"))
    cvr_pred = PredictionLayer("binary", name=f"{task_names[1]}_cvr")(dense_logit(cvr_tower, seeds(), name="logit_cvr"))
    ctcvr_pred = keras.layers.Multiply(name=task_names[1])([ctr_pred, cvr_pred])
    return multitask_model(features, [ctr_pred, ctcvr_pred], "ESMM")
