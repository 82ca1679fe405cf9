"""DeepFMEstimator: the DeepFM network as an estimator.

Reference: Guo H, Tang R, Ye Y, et al. DeepFM: a factorization-machine based neural network for CTR prediction. IJCAI 2017. https://arxiv.org/abs/1703.04247
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..estimator import CTREstimator, RunConfig, build_estimator


def DeepFMEstimator(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    l2_reg_linear: float = 1e-05,
    l2_reg_embedding: float = 1e-05,
    l2_reg_dnn: float = 0,
    seed: int = 1024,
    dnn_dropout: float = 0,
    dnn_activation: str = "relu",
    dnn_use_bn: bool = False,
    task: str = "binary",
    model_dir: str | os.PathLike | None = None,
    config: RunConfig | None = None,
    linear_optimizer: Any = "Ftrl",
    dnn_optimizer: Any = "Adagrad",
    training_chief_hooks: Sequence | None = None,
) -> CTREstimator:
    """Instantiate the DeepFM network as an estimator.

    The network is `ctrkit.models.DeepFM` with the same arguments (see its
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
        "DeepFM",
        linear_feature_columns,
        dnn_feature_columns,
        dict(
            dnn_hidden_units=dnn_hidden_units,
            l2_reg_linear=l2_reg_linear,
            l2_reg_embedding=l2_reg_embedding,
            l2_reg_dnn=l2_reg_dnn,
            seed=seed,
            dnn_dropout=dnn_dropout,
            dnn_activation=dnn_activation,
            dnn_use_bn=dnn_use_bn,
            task=task,
        ),
        model_dir=model_dir,
        config=config,
        linear_optimizer=linear_optimizer,
        dnn_optimizer=dnn_optimizer,
        training_chief_hooks=training_chief_hooks,
    )
