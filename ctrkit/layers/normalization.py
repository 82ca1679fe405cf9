"""Layer normalisation with DeepCTR's arguments and defaults."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ctrkit.layers.checks import check_bool, check_int, check_number



@keras.saving.register_keras_serializable(package="ctrkit")
class LayerNormalization(keras.layers.Layer):
    """Normalises each example over one axis, then scales and shifts.

    ``y = (x - mean) / sqrt(var + eps) * gamma + beta`` with the mean and
    (biased) variance taken over ``axis`` per example, ``gamma`` initialised
    to ones and ``beta`` to zeros, both of the size of ``axis``.

    Input shape:
        Arbitrary, at least 2D.

    Output shape:
        Same as the input. A mask is passed on unchanged.

    Args:
        axis: Integer, the axis to normalise over (usually the features axis).
        eps: Small float added to the variance to avoid dividing by zero.
        center: Whether to add the learned offset ``beta``.
        scale: Whether to multiply by the learned ``gamma``.

    Example:
        >>> import numpy as np
        >>> y = LayerNormalization()(np.array([[1.0, 2.0, 3.0]], "float32"))
        >>> np.round(np.asarray(y, "float64"), 3).tolist()
        [[-1.225, 0.0, 1.225]]

    Reference:
        Ba J L, Kiros J R, Hinton G E. Layer normalization. 2016.
        https://arxiv.org/abs/1607.06450
    """

    def __init__(
        self, axis: int = -1, eps: float = 1e-9, center: bool = True, scale: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.axis = check_int("axis", axis)
        self.eps = check_number("eps", eps, 0)
        self.center = check_bool("center", center)
        self.scale = check_bool("scale", scale)
        self.supports_masking = True

    def build(self, input_shape: tuple) -> None:
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(f"`axis`={self.axis} is out of range for an input of rank {rank}.")
        axis = self.axis % rank
        size = input_shape[axis]
        if size is None:
            raise ValueError(f"LayerNormalization needs a known size on `axis`={self.axis}, got {input_shape}.")
        self._param_shape = tuple(size if i == axis else 1 for i in range(rank))
        if self.scale:
            self.gamma = self.add_weight(name="gamma", shape=(size,), initializer="ones")
        if self.center:
            self.beta = self.add_weight(name="beta", shape=(size,), initializer="zeros")

    def call(self, inputs):
        mean = ops.mean(inputs, axis=self.axis, keepdims=True)
        variance = ops.mean(ops.square(inputs - mean), axis=self.axis, keepdims=True)
        outputs = (inputs - mean) / ops.sqrt(variance + self.eps)
        if self.scale:
            outputs = outputs * ops.reshape(self.gamma, self._param_shape)
        if self.center:
            outputs = outputs + ops.reshape(self.beta, self._param_shape)
        return outputs

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"axis": self.axis, "eps": self.eps, "center": self.center, "scale": self.scale})
        return config
