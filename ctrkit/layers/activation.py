"""Activation layers: the data adaptive `Dice` of DIN and `activation_layer`,
which turns an activation argument (name, ``"dice"`` or layer class) into a
Keras layer."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ctrkit.layers.checks import check_int, check_number



@keras.saving.register_keras_serializable(package="ctrkit")
class Dice(keras.layers.Layer):
    """Data adaptive activation function of DIN.

    A generalisation of PReLU whose rectification point follows the data
    distribution: the input is batch-normalised (without learned scale or
    offset) along ``axis``, squashed by a sigmoid into a gate ``p``, and the
    output is ``p * x + alpha * (1 - p) * x`` with ``alpha`` learned per unit
    (initialised to zero). In training mode the batch statistics are used, at
    inference the moving averages.

    Input shape:
        Arbitrary, at least 2D.

    Output shape:
        Same as the input.

    Args:
        axis: Integer, the axis along which the data distribution is computed
            (typically the features axis).
        epsilon: Small float added to the variance to avoid dividing by zero.

    Example:
        >>> import numpy as np
        >>> tuple(Dice()(np.ones((4, 8), "float32")).shape)
        (4, 8)

    Reference:
        Zhou G, Zhu X, Song C, et al. Deep interest network for click-through
        rate prediction. KDD 2018. https://arxiv.org/pdf/1706.06978.pdf
    """

    def __init__(self, axis: int = -1, epsilon: float = 1e-9, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = check_int("axis", axis)
        self.epsilon = check_number("epsilon", epsilon, 0)
        self.supports_masking = True
        self.bn = keras.layers.BatchNormalization(
            axis=axis, epsilon=epsilon, center=False, scale=False, name="bn"
        )

    def build(self, input_shape: tuple) -> None:
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(f"`axis`={self.axis} is out of range for an input of rank {rank}.")
        axis = self.axis % rank
        units = input_shape[axis]
        if units is None:
            raise ValueError(f"Dice needs a known size on `axis`={self.axis}, got input shape {input_shape}.")
        self.bn.build(input_shape)
        self.alphas = self.add_weight(
            name="dice_alpha", shape=(units,), initializer="zeros", trainable=True
        )
        self._alpha_shape = tuple(units if i == axis else 1 for i in range(rank))

    def call(self, inputs, training=None):
        gate = ops.sigmoid(self.bn(inputs, training=training))
        alphas = ops.reshape(self.alphas, self._alpha_shape)
        # alphas * (1 - gate) * x + gate * x, in fewer passes over x
        return inputs * (alphas + (1.0 - alphas) * gate)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"axis": self.axis, "epsilon": self.epsilon})
        return config


def _resolve_layer_class(name: str) -> type | None:
    """A layer class registered under `name` (``"ctrkit>Dice"``) or a Keras
    layer class name (``"PReLU"``), else None."""
    obj = keras.saving.get_registered_object(name, module_objects=vars(keras.layers))
    if isinstance(obj, type) and issubclass(obj, keras.layers.Layer):
        return obj
    return None


def activation_layer(activation: str | type) -> keras.layers.Layer:
    """Build a fresh activation layer from an activation argument.

    Args:
        activation: One of
            * ``"dice"`` or ``"Dice"``: a :class:`Dice` layer;
            * the name of a Keras activation function (``"relu"``,
              ``"sigmoid"``, ...): a ``keras.layers.Activation``;
            * a ``keras.layers.Layer`` subclass taking no required argument
              (``keras.layers.PReLU``, :class:`Dice`): an instance of it;
            * the registered name of such a class (``"PReLU"``,
              ``"ctrkit>Dice"``), which is how layers store a class argument in
              their config.

    Returns:
        A new, unbuilt Keras layer.

    Raises:
        ValueError: if `activation` is none of the above.

    Example:
        >>> activation_layer("relu").__class__.__name__
        'Activation'
        >>> activation_layer("dice").__class__.__name__
        'Dice'
    """
    if isinstance(activation, str):
        if activation in ("dice", "Dice"):
            return Dice()
        layer_class = _resolve_layer_class(activation)
        if layer_class is not None:
            return layer_class()
        try:
            keras.activations.get(activation)
        except ValueError:
            raise ValueError(f"Invalid `activation`: unknown activation name {activation!r}.") from None
        return keras.layers.Activation(activation)
    if isinstance(activation, type) and issubclass(activation, keras.layers.Layer):
        return activation()
    raise ValueError(
        f"Invalid `activation`: {activation!r}. Use an activation name, 'dice' "
        "or a keras.layers.Layer subclass."
    )


def serialize_activation(activation: str | type) -> str:
    """The config form of an activation argument: names are kept, layer
    classes become their registered name, which :func:`activation_layer`
    resolves again."""
    if isinstance(activation, type):
        return keras.saving.get_registered_name(activation)
    return activation
