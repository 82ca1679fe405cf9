"""Dense-feature transforms that run inside the model (`DenseFeat.transform_fn`).

Being layers, they serialise with the model and run in the exported graph,
so clients send raw values and training and serving transform them alike.
"""

from __future__ import annotations

import keras
from keras import ops

from ctrkit.layers.checks import check_number


@keras.saving.register_keras_serializable(package="ctrkit")
class Log1p(keras.layers.Layer):
    """`log(1 + max(x, 0))`: tames heavy-tailed counts; negatives count as 0.

    Example:
    >>> import numpy as np
    >>> np.asarray(Log1p()(np.array([[0.0], [9.0]])), dtype="float64").round(3).tolist()
    [[0.0], [2.303]]
    """

    def call(self, x):
        return ops.log1p(ops.maximum(ops.cast(x, "float32"), 0.0))

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="ctrkit")
class Rescale(keras.layers.Layer):
    """`(x - offset) / scale`, e.g. min-max scaling or standardisation with
    statistics measured on the training data."""

    def __init__(self, offset: float = 0.0, scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.offset = check_number("offset", offset)
        self.scale = check_number("scale", scale)
        if self.scale == 0:
            raise ValueError("`scale` must be non-zero.")

    def call(self, x):
        return (ops.cast(x, "float32") - self.offset) / self.scale

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(offset=self.offset, scale=self.scale)
        return config
