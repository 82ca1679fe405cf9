"""PNNEstimator: the Product-based Neural Network as an estimator.

Reference: Qu Y, Cai H, Ren K, et al. Product-based neural networks for user response prediction. ICDM 2016: 1149-1154. https://arxiv.org/abs/1611.00144
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..estimator import CTREstimator, RunConfig, build_estimator


def PNNEstimator(
    dnn_feature_columns: Sequence,
    dnn_hidden_units: Sequence[int] = (256, 128, 64),
    l2_reg_embedding: float = 1e-05,
    l2_reg_dnn: float = 0,
    seed: int = 1024,
    dnn_dropout: float = 0,
    dnn_activation: str = "relu",
    use_inner: bool = True,
    use_outter: bool = False,
    kernel_type: str = "mat",
    task: str = "binary",
    model_dir: str | os.PathLike | None = None,
    config: RunConfig | None = None,
    linear_optimizer: Any = "Ftrl",
    dnn_optimizer: Any = "Adagrad",
    training_chief_hooks: Sequence | None = None,
) -> CTREstimator:
    """Instantiate the Product-based Neural Network as an estimator.

    The network is `ctrkit.models.PNN` with the same arguments (see its
    documentation); the rest configures training as DeepCTR's estimator does.

    PNN has no linear part, so `linear_optimizer` trains nothing.

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
        "PNN",
        None,
        dnn_feature_columns,
        dict(
            dnn_hidden_units=dnn_hidden_units,
            l2_reg_embedding=l2_reg_embedding,
            l2_reg_dnn=l2_reg_dnn,
            seed=seed,
            dnn_dropout=dnn_dropout,
            dnn_activation=dnn_activation,
            use_inner=use_inner,
            use_outter=use_outter,
            kernel_type=kernel_type,
            task=task,
        ),
        model_dir=model_dir,
        config=config,
        linear_optimizer=linear_optimizer,
        dnn_optimizer=dnn_optimizer,
        training_chief_hooks=training_chief_hooks,
    )
