"""DeepCTR's `layers.core` module: the output `PredictionLayer` and EDCN's
`RegulationModule`, with `DNN` (`ctrkit.layers.dnn`) and DIN's
`LocalActivationUnit` (`ctrkit.layers.sequence`) re-exported under the
names DeepCTR code imports them by."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ctrkit.layers.checks import check_bool, check_choice, check_number
from ctrkit.layers.dnn import DNN
from ctrkit.layers.sequence.local_activation_unit import LocalActivationUnit

__all__ = ["DNN", "LocalActivationUnit", "PredictionLayer", "RegulationModule"]


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
        self.task = check_choice("task", task, self.TASKS)
        self.use_bias = check_bool("use_bias", use_bias)

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
        self.tau = check_number("tau", tau, 0, low_open=True)

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
