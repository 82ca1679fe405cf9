"""Field-Embedded Factorization Machine interaction (FEFM)."""

from __future__ import annotations

import itertools
from typing import Any

import keras
import numpy as np
from keras import ops

from ctrkit.layers.checks import check_number


@keras.saving.register_keras_serializable(package="ctrkit")
class FEFMLayer(keras.layers.Layer):
    """Field-Embedded Factorization Machine: one symmetric matrix per field pair.

    For every field pair ``i < j`` (in ``itertools.combinations`` order) computes
    ``v_i^T W_ij v_j`` where ``W_ij = K_ij + K_ij^T`` is the symmetric field-pair
    matrix embedding built from a learned ``(embedding_size, embedding_size)``
    kernel ``K_ij``. The pair scores are returned side by side, as DeepFEFM feeds
    them to its DNN; their sum is the FEFM logit.

    Input shape:
        3D tensor ``(batch_size, num_fields, embedding_size)``, ``num_fields >= 2``.

    Output shape:
        2D tensor ``(batch_size, num_fields * (num_fields - 1) / 2)``.

    Args:
        regularizer: L2 regularizer weight for the field pair matrix embeddings.

    Example:
        >>> import numpy as np
        >>> layer = FEFMLayer(regularizer=1e-6)
        >>> tuple(layer(np.ones((2, 4, 3), "float32")).shape)
        (2, 6)

    Reference:
        Pande, Field-Embedded Factorization Machines for Click-through Rate
        Prediction, https://arxiv.org/pdf/2009.09931.pdf
    """

    def __init__(self, regularizer: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.regularizer = check_number("regularizer", regularizer, 0)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 3:
            raise ValueError(
                f"FEFMLayer expects a 3D input (batch_size, num_fields, embedding_size), "
                f"got shape {tuple(input_shape)}."
            )
        num_fields, embedding_size = input_shape[1], input_shape[2]
        if num_fields is None or num_fields < 2 or embedding_size is None:
            raise ValueError(
                f"FEFMLayer needs a known num_fields >= 2 and embedding_size, "
                f"got shape {tuple(input_shape)}."
            )
        rows, cols = zip(*itertools.combinations(range(num_fields), 2))
        self._rows = np.asarray(rows, dtype="int32")
        self._cols = np.asarray(cols, dtype="int32")
        self.field_embeddings = self.add_weight(
            name="field_embeddings",
            shape=(len(rows), embedding_size, embedding_size),
            initializer=keras.initializers.TruncatedNormal(),
            regularizer=keras.regularizers.L2(self.regularizer),
        )

    def call(self, inputs):
        left = ops.take(inputs, self._rows, axis=1)  # (batch, pairs, emb)
        right = ops.take(inputs, self._cols, axis=1)
        symmetric = self.field_embeddings + ops.transpose(self.field_embeddings, (0, 2, 1))
        projected = ops.einsum("bpe,pef->bpf", left, symmetric)
        return ops.sum(projected * right, axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, int]:
        num_fields = input_shape[1]
        return (input_shape[0], num_fields * (num_fields - 1) // 2)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"regularizer": self.regularizer})
        return config
