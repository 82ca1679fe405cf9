"""Bridge between the cross and deep towers of EDCN."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops

from ctrkit.layers.checks import check_choice

BRIDGE_TYPES = ("pointwise_addition", "hadamard_product", "concatenation", "attention_pooling")


@keras.saving.register_keras_serializable(package="ctrkit")
class BridgeModule(keras.layers.Layer):
    """Bridge module of EDCN: fuses the cross-network and deep-network hidden states.

    For inputs ``x`` (cross) and ``h`` (deep) of the same width ``d``:

    * ``"pointwise_addition"``: ``x + h``;
    * ``"hadamard_product"``: ``x * h``;
    * ``"concatenation"``: ``Dense(d, activation)([x, h])``;
    * ``"attention_pooling"``: ``a_x * x + a_h * h`` where each ``a`` is a two-layer
      network ``Dense(d, activation) -> Dense(d, softmax)`` of its own input.

    Input shape:
        A list ``[x, h]`` of two 2D tensors ``(batch_size, units)``.

    Output shape:
        2D tensor ``(batch_size, units)``.

    Args:
        bridge_type: one of ``"pointwise_addition"``, ``"hadamard_product"``,
            ``"concatenation"``, ``"attention_pooling"``.
        activation: activation of the hidden dense layers (``"concatenation"`` and
            ``"attention_pooling"`` only).

    Example:
        >>> import numpy as np
        >>> layer = BridgeModule(bridge_type="concatenation")
        >>> tuple(layer([np.ones((2, 8), "float32"), np.ones((2, 8), "float32")]).shape)
        (2, 8)

    Reference:
        Chen et al., Enhancing Explicit and Implicit Feature Interactions via
        Information Sharing for Parallel Deep CTR Models (EDCN), CIKM 2021,
        pages 3757-3766.
    """

    def __init__(
        self,
        bridge_type: str = "hadamard_product",
        activation: str | Callable = "relu",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bridge_type = check_choice("bridge_type", bridge_type, BRIDGE_TYPES)
        try:
            self.activation = keras.activations.get(activation)
        except (ValueError, TypeError) as error:
            raise ValueError(f"`activation` {activation!r} is not a known activation.") from error

    def build(self, input_shape: list[tuple[int | None, ...]]) -> None:
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) != 2
            or not all(isinstance(s, (list, tuple)) for s in input_shape)
        ):
            raise ValueError("BridgeModule should be called on a list of 2 inputs [x_cross, x_deep].")
        if any(len(s) != 2 for s in input_shape) or input_shape[0][-1] != input_shape[1][-1]:
            raise ValueError(
                "BridgeModule expects two 2D inputs (batch_size, units) of the same known width, "
                f"got shapes {[tuple(s) for s in input_shape]}."
            )
        units = input_shape[0][-1]
        if units is None:
            raise ValueError("BridgeModule needs a known input width (units).")
        self.dnn_dim = units
        if self.bridge_type == "concatenation":
            self.dense = keras.layers.Dense(units, activation=self.activation)
            self.dense.build((None, 2 * units))
        elif self.bridge_type == "attention_pooling":
            self.dense_x = self._attention_network(units)
            self.dense_h = self._attention_network(units)

    def _attention_network(self, units: int) -> keras.Sequential:
        network = keras.Sequential(
            [
                keras.layers.Dense(units, activation=self.activation),
                keras.layers.Dense(units, activation="softmax"),
            ]
        )
        network.build((None, units))
        return network

    def call(self, inputs):
        x, h = inputs
        if self.bridge_type == "pointwise_addition":
            return x + h
        if self.bridge_type == "hadamard_product":
            return x * h
        if self.bridge_type == "concatenation":
            return self.dense(ops.concatenate([x, h], axis=-1))
        return self.dense_x(x) * x + self.dense_h(h) * h

    def compute_output_shape(
        self, input_shape: list[tuple[int | None, ...]]
    ) -> tuple[int | None, int | None]:
        return tuple(input_shape[0])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "bridge_type": self.bridge_type,
                "activation": keras.activations.serialize(self.activation),
            }
        )
        return config
