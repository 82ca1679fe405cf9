"""Field-weighted Factorization Machine interaction (FwFM)."""

from __future__ import annotations

import itertools
from typing import Any

import keras
import numpy as np
from keras import ops

from ctrkit.layers.checks import check_int, check_number


@keras.saving.register_keras_serializable(package="ctrkit")
class FwFMLayer(keras.layers.Layer):
    """Field-weighted Factorization Machine: pairwise interactions weighted per field pair.

    Computes ``sum_{i<j} r_ij * <v_i, v_j>`` where ``v_i`` is the embedding of
    field ``i`` and ``r_ij`` a learned strength for the field pair ``(i, j)``.
    Linear terms and bias are not part of this layer.

    Input shape:
        3D tensor ``(batch_size, field_size, embedding_size)`` with
        ``field_size == num_fields``.

    Output shape:
        2D tensor ``(batch_size, 1)``.

    Args:
        num_fields: number of fields (at least 2).
        regularizer: L2 regularizer weight for the field strength parameters.

    Example:
        >>> import numpy as np
        >>> layer = FwFMLayer(num_fields=3)
        >>> tuple(layer(np.ones((2, 3, 4), "float32")).shape)
        (2, 1)

    Reference:
        Pan et al., Field-weighted Factorization Machines for Click-Through Rate
        Prediction in Display Advertising, https://arxiv.org/pdf/1806.03514.pdf
    """

    def __init__(self, num_fields: int = 4, regularizer: float = 1e-6, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_fields = check_int("num_fields", num_fields, 2)
        self.regularizer = check_number("regularizer", regularizer, 0)
        rows, cols = zip(*itertools.combinations(range(num_fields), 2))
        self._rows = np.asarray(rows, dtype="int32")
        self._cols = np.asarray(cols, dtype="int32")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 3:
            raise ValueError(
                f"FwFMLayer expects a 3D input (batch_size, field_size, embedding_size), "
                f"got shape {tuple(input_shape)}."
            )
        if input_shape[1] is not None and input_shape[1] != self.num_fields:
            raise ValueError(
                f"`num_fields`={self.num_fields} does not match the field_size "
                f"{input_shape[1]} of the input."
            )
        self.field_strengths = self.add_weight(
            name="field_pair_strengths",
            shape=(self.num_fields, self.num_fields),
            initializer=keras.initializers.TruncatedNormal(),
            regularizer=keras.regularizers.L2(self.regularizer),
        )

    def call(self, inputs):
        left = ops.take(inputs, self._rows, axis=1)
        right = ops.take(inputs, self._cols, axis=1)
        inner = ops.sum(left * right, axis=-1)  # (batch, pairs)
        strengths = ops.take(
            ops.reshape(self.field_strengths, (-1,)), self._rows * self.num_fields + self._cols
        )
        return ops.sum(inner * strengths, axis=1, keepdims=True)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, int]:
        return (input_shape[0], 1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"num_fields": self.num_fields, "regularizer": self.regularizer})
        return config
