"""The multi layer perceptron every model ends its deep part with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from ctrkit.layers.activation import activation_layer, serialize_activation
from ctrkit.layers.checks import check_bool, check_int, check_int_list, check_number


@keras.saving.register_keras_serializable(package="ctrkit")
class DNN(keras.layers.Layer):
    """The multi layer perceptron.

    Each hidden layer computes ``x @ W + b``, then batch normalisation (if
    ``use_bn``), the activation and dropout. An empty ``hidden_units`` makes
    the layer the identity.

    Input shape:
        nD tensor ``(batch_size, ..., input_dim)``, most commonly
        ``(batch_size, input_dim)``.

    Output shape:
        nD tensor ``(batch_size, ..., hidden_units[-1])``.

    Args:
        hidden_units: List of positive integers, the number of layers and the
            units of each.
        activation: Activation of every hidden layer: a Keras activation name,
            ``"dice"`` (see :class:`ctrkit.layers.activation.Dice`) or a
            ``keras.layers.Layer`` subclass.
        l2_reg: Float >= 0, L2 regularisation strength of the kernels.
        dropout_rate: Float in [0, 1), fraction of the units to drop.
        use_bn: Whether to apply batch normalisation before the activation.
        output_activation: Activation of the last layer; if None, the same as
            ``activation``.
        seed: Integer seed of the kernel initialisers and dropout.

    Example:
        >>> import numpy as np
        >>> tuple(DNN((32, 8))(np.ones((4, 16), "float32")).shape)
        (4, 8)
    """

    def __init__(
        self,
        hidden_units: Sequence[int],
        activation: str | type = "relu",
        l2_reg: float = 0,
        dropout_rate: float = 0,
        use_bn: bool = False,
        output_activation: str | type | None = None,
        seed: int = 1024,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.hidden_units = check_int_list("hidden_units", hidden_units)
        self.activation = activation
        self.l2_reg = check_number("l2_reg", l2_reg, 0)
        self.dropout_rate = check_number("dropout_rate", dropout_rate, 0, 1)
        self.use_bn = check_bool("use_bn", use_bn)
        self.output_activation = output_activation
        self.seed = check_int("seed", seed)

        n = len(self.hidden_units)
        self.activation_layers = [activation_layer(activation) for _ in range(n)]
        if output_activation is not None:
            last = activation_layer(output_activation)
            if n > 0:
                self.activation_layers[-1] = last
        self.bn_layers = [keras.layers.BatchNormalization() for _ in range(n)] if use_bn else []
        self.dropout_layers = (
            [keras.layers.Dropout(self.dropout_rate, seed=self.seed + i) for i in range(n)]
            if self.dropout_rate > 0
            else []
        )

    def build(self, input_shape: tuple) -> None:
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(f"DNN needs a known last input dimension, got input shape {input_shape}.")
        sizes = [int(input_dim)] + self.hidden_units
        regularizer = keras.regularizers.L2(self.l2_reg) if self.l2_reg > 0 else None
        self.kernels = []
        self.biases = []
        for i, units in enumerate(self.hidden_units):
            self.kernels.append(
                self.add_weight(
                    name=f"kernel{i}",
                    shape=(sizes[i], units),
                    initializer=keras.initializers.GlorotNormal(seed=self.seed),
                    regularizer=regularizer,
                )
            )
            self.biases.append(self.add_weight(name=f"bias{i}", shape=(units,), initializer="zeros"))
            layer_shape = tuple(input_shape[:-1]) + (units,)
            if self.use_bn:
                self.bn_layers[i].build(layer_shape)
            self.activation_layers[i].build(layer_shape)

    def call(self, inputs, training=None):
        if not self.hidden_units:
            return inputs
        return self.call_from_first_layer(ops.matmul(inputs, self.kernels[0]) + self.biases[0], training)

    def call_from_first_layer(self, first, training=None):
        """The network's output given `first`, the first layer's
        pre-activation ``inputs @ kernels[0] + biases[0]``, for callers that
        compute it in a cheaper way from the structure of their input."""
        x = first
        for i in range(len(self.hidden_units)):
            if i > 0:
                x = ops.matmul(x, self.kernels[i]) + self.biases[i]
            if self.use_bn:
                x = self.bn_layers[i](x, training=training)
            x = self.activation_layers[i](x, training=training)
            if self.dropout_layers:
                x = self.dropout_layers[i](x, training=training)
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if self.hidden_units:
            return tuple(input_shape[:-1]) + (self.hidden_units[-1],)
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "hidden_units": list(self.hidden_units),
                "activation": serialize_activation(self.activation),
                "l2_reg": self.l2_reg,
                "dropout_rate": self.dropout_rate,
                "use_bn": self.use_bn,
                "output_activation": (
                    None if self.output_activation is None else serialize_activation(self.output_activation)
                ),
                "seed": self.seed,
            }
        )
        return config
