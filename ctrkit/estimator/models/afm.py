"""AFMEstimator: the Attentional Factorization Machine as an estimator.

Reference: Xiao J, Ye H, He X, et al. Attentional factorization machines: learning the weight of feature interactions via attention networks. IJCAI 2017. https://arxiv.org/abs/1708.04617
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..estimator import CTREstimator, RunConfig, build_estimator


def AFMEstimator(
    linear_feature_columns: Sequence,
    dnn_feature_columns: Sequence,
    use_attention: bool = True,
    attention_factor: int = 8,
    l2_reg_linear: float = 1e-05,
    l2_reg_embedding: float = 1e-05,
    l2_reg_att: float = 1e-05,
    afm_dropout: float = 0,
    seed: int = 1024,
    task: str = "binary",
    model_dir: str | os.PathLike | None = None,
    config: RunConfig | None = None,
    linear_optimizer: Any = "Ftrl",
    dnn_optimizer: Any = "Adagrad",
    training_chief_hooks: Sequence | None = None,
) -> CTREstimator:
    """Instantiate the Attentional Factorization Machine as an estimator.

    The network is `ctrkit.models.AFM` with the same arguments (see its
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
        "AFM",
        linear_feature_columns,
        dnn_feature_columns,
        dict(
            use_attention=use_attention,
            attention_factor=attention_factor,
            l2_reg_linear=l2_reg_linear,
            l2_reg_embedding=l2_reg_embedding,
            l2_reg_att=l2_reg_att,
            afm_dropout=afm_dropout,
            seed=seed,
            task=task,
        ),
        model_dir=model_dir,
        config=config,
        linear_optimizer=linear_optimizer,
        dnn_optimizer=dnn_optimizer,
        training_chief_hooks=training_chief_hooks,
    )
