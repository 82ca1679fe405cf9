"""Squeeze-and-Excitation re-weighting of field embeddings (FiBiNET)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ctrkit.layers.checks import check_int


@keras.saving.register_keras_serializable(package="ctrkit")
class SENETLayer(keras.layers.Layer):
    """Squeeze-and-Excitation network over fields, as used in FiBiNET.

    Squeeze: ``z_f = mean(v_f)`` over the embedding axis for each of the ``F``
    fields. Excitation: ``a = relu(relu(z @ W_1) @ W_2)`` with ``W_1`` of shape
    ``(F, max(1, F // reduction_ratio))`` and ``W_2`` mapping back to ``F``.
    Re-weight: field ``f`` is returned as ``a_f * v_f``.

    Input shape:
        A list of ``F >= 2`` 3D tensors ``(batch_size, 1, embedding_size)``.

    Output shape:
        A list of ``F`` 3D tensors ``(batch_size, 1, embedding_size)``.

    Args:
        reduction_ratio: positive integer; the hidden excitation size is
            ``max(1, F // reduction_ratio)``.
        seed: seed of the weight initializers.

    Example:
        >>> import numpy as np
        >>> layer = SENETLayer(reduction_ratio=2)
        >>> outputs = layer([np.ones((2, 1, 4), "float32")] * 3)
        >>> len(outputs), tuple(outputs[0].shape)
        (3, (2, 1, 4))

    Reference:
        Huang et al., FiBiNET: Combining Feature Importance and Bilinear feature
        Interaction for Click-Through Rate Prediction, https://arxiv.org/pdf/1905.09433.pdf
    """

    def __init__(self, reduction_ratio: int = 3, seed: int = 1024, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reduction_ratio = check_int("reduction_ratio", reduction_ratio, 1)
        self.seed = check_int("seed", seed)

    def build(self, input_shape: list[tuple[int | None, ...]]) -> None:
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2 or not all(
            isinstance(s, (list, tuple)) for s in input_shape
        ):
            raise ValueError("SENETLayer should be called on a list of at least 2 inputs.")
        for shape in input_shape:
            if len(shape) != 3:
                raise ValueError(
                    "SENETLayer expects 3D inputs (batch_size, 1, embedding_size), "
                    f"got shape {tuple(shape)}."
                )
        self.field_size = len(input_shape)
        reduction_size = max(1, self.field_size // self.reduction_ratio)
        self.W_1 = self.add_weight(
            name="W_1",
            shape=(self.field_size, reduction_size),
            initializer=keras.initializers.GlorotNormal(seed=self.seed),
        )
        self.W_2 = self.add_weight(
            name="W_2",
            shape=(reduction_size, self.field_size),
            initializer=keras.initializers.GlorotNormal(seed=self.seed + 1),
        )

    def call(self, inputs):
        embeddings = ops.concatenate(list(inputs), axis=1)  # (batch, F, emb)
        squeezed = ops.mean(embeddings, axis=-1)
        excitation = ops.relu(ops.matmul(ops.relu(ops.matmul(squeezed, self.W_1)), self.W_2))
        reweighted = embeddings * ops.expand_dims(excitation, axis=2)
        return ops.split(reweighted, self.field_size, axis=1)

    def compute_mask(self, inputs, mask=None):
        return [None] * len(inputs)

    def compute_output_shape(
        self, input_shape: list[tuple[int | None, ...]]
    ) -> list[tuple[int | None, ...]]:
        return [tuple(shape) for shape in input_shape]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"reduction_ratio": self.reduction_ratio, "seed": self.seed})
        return config
