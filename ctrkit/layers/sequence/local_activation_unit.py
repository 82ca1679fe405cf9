"""DIN's local activation unit: behaviours scored against the candidate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from ctrkit.layers.activation import serialize_activation
from ctrkit.layers.dnn import DNN


@keras.saving.register_keras_serializable(package="ctrkit")
class LocalActivationUnit(keras.layers.Layer):
    """DIN's local activation unit: scores each behaviour against the
    candidate item, so the user representation adapts to the candidate.

    For a query ``q`` and each key ``k_t`` the unit feeds
    ``[q, k_t, q - k_t, q * k_t]`` through a :class:`DNN` and a final linear
    unit, giving one unnormalised attention score per key.

    Input shape:
        A list of two 3D tensors: the query ``(batch_size, 1, embedding_size)``
        and the keys ``(batch_size, T, embedding_size)``.

    Output shape:
        ``(batch_size, T, 1)``. The keys' mask, if any, is passed on.

    Args:
        hidden_units: List of positive integers, the layers of the attention
            network.
        activation: Activation of the attention network (a name, ``"dice"``
            or a layer class).
        l2_reg: Float >= 0, L2 regularisation strength of the attention
            network's kernels.
        dropout_rate: Float in [0, 1), dropout in the attention network.
        use_bn: Whether the attention network uses batch normalisation
            before the activation.
        seed: Integer random seed.

    Example:
        >>> import numpy as np
        >>> q, k = np.ones((2, 1, 4), "float32"), np.ones((2, 5, 4), "float32")
        >>> tuple(LocalActivationUnit()([q, k]).shape)
        (2, 5, 1)

    Reference:
        Zhou G, Zhu X, Song C, et al. Deep interest network for click-through
        rate prediction. KDD 2018. https://arxiv.org/pdf/1706.06978.pdf
    """

    def __init__(
        self,
        hidden_units: Sequence[int] = (64, 32),
        activation: str | type = "sigmoid",
        l2_reg: float = 0,
        dropout_rate: float = 0,
        use_bn: bool = False,
        seed: int = 1024,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dnn = DNN(hidden_units, activation, l2_reg, dropout_rate, use_bn, seed=seed, name="dnn")
        self.hidden_units = self.dnn.hidden_units
        self.activation = activation
        self.l2_reg = float(l2_reg)
        self.dropout_rate = float(dropout_rate)
        self.use_bn = use_bn
        self.seed = int(seed)
        self.supports_masking = True

    def build(self, input_shape: list) -> None:
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError("LocalActivationUnit must be called on a list of 2 inputs: [query, keys].")
        query_shape, keys_shape = (tuple(s) for s in input_shape)
        if len(query_shape) != 3 or len(keys_shape) != 3:
            raise ValueError(
                f"LocalActivationUnit expects two 3D inputs, got ranks {len(query_shape)} and {len(keys_shape)}."
            )
        if query_shape[1] != 1 or query_shape[-1] is None or query_shape[-1] != keys_shape[-1]:
            raise ValueError(
                "LocalActivationUnit expects inputs of shape (batch_size, 1, embedding_size) and "
                f"(batch_size, T, embedding_size), got {query_shape} and {keys_shape}."
            )
        att_shape = keys_shape[:-1] + (4 * query_shape[-1],)
        self.dnn.build(att_shape)
        size = self.dnn.compute_output_shape(att_shape)[-1]
        self.kernel = self.add_weight(
            name="kernel", shape=(size, 1), initializer=keras.initializers.GlorotNormal(seed=self.seed)
        )
        self.bias = self.add_weight(name="bias", shape=(1,), initializer="zeros")

    def call(self, inputs, training=None):
        query, keys = inputs
        if not self.hidden_units:  # the output layer is the first layer
            return _first_layer(query, keys, self.kernel, self.bias)
        first = _first_layer(query, keys, self.dnn.kernels[0], self.dnn.biases[0])
        att_out = self.dnn.call_from_first_layer(first, training=training)
        return ops.matmul(att_out, self.kernel) + self.bias

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            return mask[1]
        return mask

    def compute_output_shape(self, input_shape: list) -> tuple:
        return tuple(input_shape[1][:2]) + (1,)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "hidden_units": list(self.hidden_units),
                "activation": serialize_activation(self.activation),
                "l2_reg": self.l2_reg,
                "dropout_rate": self.dropout_rate,
                "use_bn": self.use_bn,
                "seed": self.seed,
            }
        )
        return config


def _first_layer(query, keys, kernel, bias):
    """``[q, k, q - k, q * k] @ kernel + bias`` for every key. Split into its
    four blocks, the kernel gives ``q (W_q + W_d) + [k, q * k] [W_k - W_d; W_p]``:
    the query's part once per row instead of once per key, half the width
    per key, and no concatenation of four copies built."""
    w_q, w_k, w_d, w_p = ops.split(kernel, 4, axis=0)
    per_row = ops.matmul(query, w_q + w_d) + bias
    per_key = ops.matmul(ops.concatenate([keys, query * keys], axis=-1), ops.concatenate([w_k - w_d, w_p], axis=0))
    return per_row + per_key
