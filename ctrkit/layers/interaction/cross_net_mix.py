"""The mixture-of-experts low-rank cross network of DCN-Mix."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ctrkit.layers.checks import check_int, check_number


def _stacked_glorot_normal(num_matrices: int, seed: int) -> keras.initializers.Initializer:
    """Glorot-normal for each matrix of a ``(num_matrices, rows, cols)``
    weight: Keras counts the leading axis into fan-in and fan-out, the scale
    compensates."""
    return keras.initializers.VarianceScaling(
        scale=float(num_matrices), mode="fan_avg", distribution="truncated_normal", seed=seed
    )


@keras.saving.register_keras_serializable(package="ctrkit")
class CrossNetMix(keras.layers.Layer):
    """The cross network of DCN-Mix, which improves DCN-M by (1) a mixture of
    low-rank experts that learn feature crosses in different subspaces and
    (2) non-linear transformations in the low-rank space.

    With ``x_0`` the input and ``x_l`` the output of cross layer ``l``, each of
    the ``K = num_experts`` experts computes
    ``E_k(x_l) = x_0 * (U_k tanh(C_k tanh(V_k^T x_l)) + b_l)``
    (``U_k``, ``V_k``: ``(units, low_rank)``, ``C_k``: ``(low_rank, low_rank)``)
    and a softmax gate ``g(x_l) = softmax(x_l G)`` (``G``: ``(units, K)``,
    shared by all cross layers, as in DeepCTR) mixes them:
    ``x_{l+1} = sum_k g_k(x_l) E_k(x_l) + x_l``.

    The weights are ``U_list[l]``, ``V_list[l]``, ``C_list[l]`` (each
    stacking the experts on the first axis), ``bias[l]`` and ``gating``.

    Input shape:
        2D tensor ``(batch_size, units)``.

    Output shape:
        2D tensor ``(batch_size, units)``.

    Args:
        low_rank: Positive integer, dimensionality of the low-rank space.
        num_experts: Positive integer, number of experts.
        layer_num: Positive integer, the number of cross layers.
        l2_reg: Float >= 0, L2 regularisation strength of ``U``, ``V`` and
            ``C``.
        seed: Integer seed of the weight initializers.

    Example:
        >>> import numpy as np
        >>> tuple(CrossNetMix(low_rank=4, num_experts=2)(np.ones((2, 8), "float32")).shape)
        (2, 8)

    Reference:
        Wang R, Shivanna R, Cheng D Z, et al. DCN V2: Improved Deep & Cross
        Network and Practical Lessons for Web-scale Learning to Rank Systems.
        WWW 2021. https://arxiv.org/abs/2008.13535
    """

    def __init__(
        self,
        low_rank: int = 32,
        num_experts: int = 4,
        layer_num: int = 2,
        l2_reg: float = 0,
        seed: int = 1024,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.low_rank = check_int("low_rank", low_rank, 1)
        self.num_experts = check_int("num_experts", num_experts, 1)
        self.layer_num = check_int("layer_num", layer_num, 1)
        self.l2_reg = check_number("l2_reg", l2_reg, 0)
        self.seed = check_int("seed", seed)

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                "CrossNetMix expects a 2D input (batch_size, units) with known units, "
                f"got shape {tuple(input_shape)}."
            )
        units = int(input_shape[-1])
        experts, rank = self.num_experts, self.low_rank
        regularizer = keras.regularizers.L2(self.l2_reg) if self.l2_reg > 0 else None

        def stacked(name: str, shape: tuple, seed: int):
            return self.add_weight(
                name=name,
                shape=shape,
                initializer=_stacked_glorot_normal(experts, seed),
                regularizer=regularizer,
            )

        seed = self.seed
        self.U_list = [stacked(f"U_list{i}", (experts, units, rank), seed + 3 * i) for i in range(self.layer_num)]
        self.V_list = [stacked(f"V_list{i}", (experts, units, rank), seed + 3 * i + 1) for i in range(self.layer_num)]
        self.C_list = [stacked(f"C_list{i}", (experts, rank, rank), seed + 3 * i + 2) for i in range(self.layer_num)]
        self.bias = [
            self.add_weight(name=f"bias{i}", shape=(units,), initializer="zeros") for i in range(self.layer_num)
        ]
        self.gating = self.add_weight(
            name="gating",
            shape=(units, experts),
            initializer=keras.initializers.GlorotUniform(seed=seed + 3 * self.layer_num),
        )

    def call(self, inputs):
        x_0 = inputs
        x_l = x_0
        for U, V, C, bias in zip(self.U_list, self.V_list, self.C_list, self.bias):
            low = ops.tanh(ops.einsum("bd,kdr->bkr", x_l, V))
            low = ops.tanh(ops.einsum("bkr,ksr->bks", low, C))
            experts = ops.expand_dims(x_0, 1) * (ops.einsum("bkr,kdr->bkd", low, U) + bias)
            gates = ops.softmax(ops.matmul(x_l, self.gating), axis=-1)
            x_l = ops.einsum("bkd,bk->bd", experts, gates) + x_l
        return x_l

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "low_rank": self.low_rank,
                "num_experts": self.num_experts,
                "layer_num": self.layer_num,
                "l2_reg": self.l2_reg,
                "seed": self.seed,
            }
        )
        return config
