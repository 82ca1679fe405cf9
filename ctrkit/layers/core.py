"""Core layers: the multi layer perceptron `DNN`, the output `PredictionLayer`,
DIN's `LocalActivationUnit` and EDCN's `RegulationModule`."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import keras
from keras import ops

from ctrkit.layers.activation import activation_layer, serialize_activation


def _check_hidden_units(hidden_units: Sequence[int]) -> list[int]:
    if isinstance(hidden_units, (str, bytes)) or not isinstance(hidden_units, Iterable):
        raise ValueError(f"`hidden_units` must be a list of positive integers, got {hidden_units!r}.")
    units = list(hidden_units)
    for u in units:
        if isinstance(u, bool) or not isinstance(u, numbers.Integral) or u <= 0:
            raise ValueError(f"`hidden_units` must be a list of positive integers, got {hidden_units!r}.")
    return [int(u) for u in units]


def _check_number(name: str, value: Any, low: float, high: float | None = None) -> None:
    """`value` must be a real number in [low, high) (or [low, inf))."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real)
    if ok:
        ok = value >= low and (high is None or value < high)
    if not ok:
        bound = f"[{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"`{name}` must be a number {bound}, got {value!r}.")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be a bool, got {value!r}.")


def _check_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"`{name}` must be an integer, got {value!r}.")


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
        self.hidden_units = _check_hidden_units(hidden_units)
        _check_number("l2_reg", l2_reg, 0)
        _check_number("dropout_rate", dropout_rate, 0, 1)
        _check_bool("use_bn", use_bn)
        _check_int("seed", seed)
        self.activation = activation
        self.l2_reg = float(l2_reg)
        self.dropout_rate = float(dropout_rate)
        self.use_bn = use_bn
        self.output_activation = output_activation
        self.seed = int(seed)

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
        x = inputs
        for i in range(len(self.hidden_units)):
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


@keras.saving.register_keras_serializable(package="ctrkit")
class PredictionLayer(keras.layers.Layer):
    """Turns a logit into the model output.

    Adds a learned global bias (if ``use_bias``), applies a sigmoid for
    ``task="binary"`` (the identity for ``"regression"``) and reshapes the
    result to one column.

    Input shape:
        ``(batch_size, 1)`` (or ``(batch_size,)``).

    Output shape:
        ``(batch_size, 1)``.

    Args:
        task: ``"binary"`` for binary log loss or ``"regression"`` for
            regression loss.
        use_bias: Whether to add a learned bias term (initialised to zero).

    Example:
        >>> import numpy as np
        >>> float(PredictionLayer()(np.zeros((1, 1), "float32"))[0, 0])
        0.5
    """

    TASKS = ("binary", "regression")

    def __init__(self, task: str = "binary", use_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if task not in self.TASKS:
            raise ValueError(f"`task` must be one of {self.TASKS}, got {task!r}.")
        _check_bool("use_bias", use_bias)
        self.task = task
        self.use_bias = use_bias

    def build(self, input_shape: tuple) -> None:
        if self.use_bias:
            self.global_bias = self.add_weight(name="global_bias", shape=(1,), initializer="zeros")

    def call(self, inputs):
        x = inputs
        if self.use_bias:
            x = x + self.global_bias
        if self.task == "binary":
            x = ops.sigmoid(x)
        return ops.reshape(x, (-1, 1))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], 1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"task": self.task, "use_bias": self.use_bias})
        return config


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
        queries = ops.broadcast_to(query, ops.shape(keys))
        att_input = ops.concatenate([queries, keys, queries - keys, queries * keys], axis=-1)
        att_out = self.dnn(att_input, training=training)
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


@keras.saving.register_keras_serializable(package="ctrkit")
class RegulationModule(keras.layers.Layer):
    """EDCN's regulation module: a field-wise gate over the embeddings.

    A learned score ``g_f`` per field (initialised to one) goes through a
    softmax over the fields with temperature ``tau``; each field's embedding
    is multiplied by its gate, ``softmax(g / tau)_f * e_f``, and the fields are
    flattened.

    Input shape:
        3D tensor ``(batch_size, field_size, embedding_size)``.

    Output shape:
        2D tensor ``(batch_size, field_size * embedding_size)``.

    Args:
        tau: Positive float, the temperature of the field gate softmax (small
            values sharpen the gate distribution).

    Example:
        >>> import numpy as np
        >>> tuple(RegulationModule(tau=1.0)(np.ones((2, 3, 4), "float32")).shape)
        (2, 12)

    Reference:
        Chen B, Wang Y, Liu Z, et al. Enhancing explicit and implicit feature
        interactions via information sharing for parallel deep CTR models.
        CIKM 2021 (DLP-KDD 2021).
        https://dlp-kdd.github.io/assets/pdf/DLP-KDD_2021_paper_12.pdf
    """

    def __init__(self, tau: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(tau, bool) or not isinstance(tau, numbers.Real) or tau <= 0:
            raise ValueError(f"`tau` must be a positive number, got {tau!r}.")
        self.tau = float(tau)

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                "RegulationModule expects a 3D input (batch_size, field_size, embedding_size) with known "
                f"field and embedding sizes, got {input_shape}."
            )
        self.field_size = int(input_shape[1])
        self.embedding_size = int(input_shape[2])
        self.field_weight = self.add_weight(name="field_weight", shape=(1, self.field_size, 1), initializer="ones")

    def call(self, inputs):
        gate = ops.softmax(self.field_weight / self.tau, axis=1)
        return ops.reshape(inputs * gate, (-1, self.field_size * self.embedding_size))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], input_shape[1] * input_shape[2])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"tau": self.tau})
        return config
