"""AutoIntEstimator: the AutoInt network as an estimator.

Reference: Song W, Shi C, Xiao Z, et al. AutoInt: automatic feature interaction learning via self-attentive neural networks. CIKM 2019. https://arxiv.org/abs/1810.11921
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..estimator import CTREstimator, RunConfig, build_estimator


def AutoIntEstimator(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    att_layer_num: int = 3,
    att_embedding_size: int = 8,
    att_head_num: int = 2,
    att_res: bool = True,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    dnn_activation: str = "relu",
    l2_reg_linear: float = 1e-05,
    l2_reg_embedding: float = 1e-05,
    l2_reg_dnn: float = 0,
    dnn_use_bn: bool = False,
    dnn_dropout: float = 0,
    seed: int = 1024,
    task: str = "binary",
    model_dir: str | os.PathLike | None = None,
    config: RunConfig | None = None,
    linear_optimizer: Any = "Ftrl",
    dnn_optimizer: Any = "Adagrad",
    training_chief_hooks: Sequence | None = None,
) -> CTREstimator:
    """Instantiate the AutoInt network as an estimator.

    The network is `ctrkit.models.AutoInt` with the same arguments (see its
    documentation); the rest configures training as DeepCTR's estimator does.

    Arguments:
        model_dir: checkpoint directory; training resumes from it.
        config: a `ctrkit.estimator.RunConfig`.
        linear_optimizer: optimizer of the linear part: a name (FTRL with
            learning rate 0.005 by default), a Keras optimizer or a factory.
        dnn_optimizer: optimizer of everything else (Adagrad, 0.01).
        training_chief_hooks: Keras callbacks run on the chief while training.

    Returns:
        A `ctrkit.estimator.CTREstimator`.
    """
    return build_estimator(
        "AutoInt",
        linear_feature_columns,
        dnn_feature_columns,
        dict(
            att_layer_num=att_layer_num,
            att_embedding_size=att_embedding_size,
            att_head_num=att_head_num,
            att_res=att_res,
            dnn_hidden_units=dnn_hidden_units,
            dnn_activation=dnn_activation,
            l2_reg_linear=l2_reg_linear,
            l2_reg_embedding=l2_reg_embedding,
            l2_reg_dnn=l2_reg_dnn,
            dnn_use_bn=dnn_use_bn,
            dnn_dropout=dnn_dropout,
            seed=seed,
            task=task,
        ),
        model_dir=model_dir,
        config=config,
        linear_optimizer=linear_optimizer,
        dnn_optimizer=dnn_optimizer,
        training_chief_hooks=training_chief_hooks,
    )
