"""Pieces every model shares: the logit projection, the prediction head, argument checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import keras

from ..layers.core import PredictionLayer
from ..layers.utils import add_func
from .ctr_model import CTRModel


def dense_logit(x, seed: int, name: str | None = None):
    """Project a hidden representation to one logit, without bias."""
    return keras.layers.Dense(
        1, use_bias=False, kernel_initializer=keras.initializers.GlorotNormal(seed), name=name
    )(x)


def binary_or_regression_model(
    features: Mapping[str, keras.KerasTensor],
    logits: Iterable,
    task: str,
    name: str,
) -> keras.Model:
    """Sum the logits that exist, apply the task's head, wrap as a Keras model."""
    present = [logit for logit in logits if logit is not None]
    if not present:
        raise ValueError(f"{name} has nothing to predict from: give it feature columns")
    output = PredictionLayer(task)(add_func(present))
    return CTRModel(inputs=list(features.values()), outputs=output, name=name)


def check_cross_num(cross_num: int, dnn_hidden_units: Sequence[int]) -> None:
    """DCN-style models need a cross network, a DNN or both."""
    if isinstance(cross_num, bool) or not isinstance(cross_num, int) or cross_num < 0:
        raise ValueError(f"`cross_num` must be an integer >= 0, got {cross_num!r}.")
    if cross_num == 0 and not dnn_hidden_units:
        raise ValueError("either `dnn_hidden_units` must be non-empty or `cross_num` must be > 0.")
