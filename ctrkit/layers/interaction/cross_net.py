"""The cross network of Deep & Cross Network (DCN and DCN-M)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ctrkit.layers.checks import check_choice, check_int, check_number

_PARAMETERIZATIONS = ("vector", "matrix")


@keras.saving.register_keras_serializable(package="ctrkit")
class CrossNet(keras.layers.Layer):
    """The cross network of DCN: ``layer_num`` cross layers that each raise
    the degree of the feature crosses by one, at the cost of a few weights.

    With ``x_0`` the input and ``x_l`` the output of layer ``l``:

    * ``parameterization="vector"`` (DCN): ``x_{l+1} = x_0 * (x_l . w_l) + b_l + x_l``,
      ``w_l`` of shape ``(units, 1)``;
    * ``"matrix"`` (DCN-M): ``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l``,
      ``W_l`` of shape ``(units, units)``.

    ``*`` is the element-wise product. The weights are ``kernels[l]`` and
    ``bias[l]``.

    Input shape:
        2D tensor ``(batch_size, units)``.

    Output shape:
        2D tensor ``(batch_size, units)``.

    Args:
        layer_num: Integer >= 0, the number of cross layers; 0 makes the
            layer the identity (DCN then has no cross part).
        parameterization: ``"vector"`` or ``"matrix"``, how the cross
            network is parameterised.
        l2_reg: Float >= 0, L2 regularisation strength of the kernels.
        seed: Integer seed of the kernel initializers.

    Example:
        >>> import numpy as np
        >>> tuple(CrossNet(layer_num=3)(np.ones((2, 8), "float32")).shape)
        (2, 8)

    References:
        Wang R, Fu B, Fu G, et al. Deep & Cross Network for Ad Click
        Predictions. ADKDD 2017. https://arxiv.org/abs/1708.05123

        Wang R, Shivanna R, Cheng D Z, et al. DCN V2: Improved Deep & Cross
        Network and Practical Lessons for Web-scale Learning to Rank Systems.
        WWW 2021. https://arxiv.org/abs/2008.13535
    """

    def __init__(
        self,
        layer_num: int = 2,
        parameterization: str = "vector",
        l2_reg: float = 0,
        seed: int = 1024,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.layer_num = check_int("layer_num", layer_num, 0)
        self.parameterization = check_choice("parameterization", parameterization, _PARAMETERIZATIONS)
        self.l2_reg = check_number("l2_reg", l2_reg, 0)
        self.seed = check_int("seed", seed)

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                f"CrossNet expects a 2D input (batch_size, units) with known units, got shape {tuple(input_shape)}."
            )
        units = int(input_shape[-1])
        kernel_shape = (units, 1) if self.parameterization == "vector" else (units, units)
        regularizer = keras.regularizers.L2(self.l2_reg) if self.l2_reg > 0 else None
        self.kernels = [
            self.add_weight(
                name=f"kernel{i}",
                shape=kernel_shape,
                initializer=keras.initializers.GlorotNormal(seed=self.seed + i),
                regularizer=regularizer,
            )
            for i in range(self.layer_num)
        ]
        self.bias = [
            self.add_weight(name=f"bias{i}", shape=(units,), initializer="zeros") for i in range(self.layer_num)
        ]

    def call(self, inputs):
        x_0 = inputs
        x_l = x_0
        for kernel, bias in zip(self.kernels, self.bias):
            if self.parameterization == "vector":
                x_l = x_0 * ops.matmul(x_l, kernel) + bias + x_l
            else:
                x_l = x_0 * (ops.matmul(x_l, ops.transpose(kernel)) + bias) + x_l
        return x_l

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "layer_num": self.layer_num,
                "parameterization": self.parameterization,
                "l2_reg": self.l2_reg,
                "seed": self.seed,
            }
        )
        return config
